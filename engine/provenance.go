package engine

import "time"

// ItemProvenance records what one item read and wrote, so that an auditor
// can check outputs against inputs without zpipe.
type ItemProvenance struct {
	ID     string `json:"id"`
	Source string `json:"source,omitempty"`
	// InputSHA256 is the hash of the bytes read.
	InputSHA256  string             `json:"input_sha256"`
	SourceFormat string             `json:"source_format"`
	Outputs      []OutputProvenance `json:"outputs,omitempty"`
	// Schema is shared by the items of a stage: read it, do not change it.
	Schema     *SchemaProvenance `json:"schema,omitempty"`
	Attempts   int               `json:"attempts"`
	DurationNS int64             `json:"duration_ns"`
	Time       time.Time         `json:"time"`
	Error      string            `json:"error,omitempty"`
	// UpToDate is set for an item this run did not redo: its outputs are
	// those of the run that made them.
	UpToDate bool `json:"up_to_date,omitempty"`
}

// OutputProvenance is one output of an item.
type OutputProvenance struct {
	Path   string `json:"path,omitempty"`
	Format string `json:"format"`
	SHA256 string `json:"sha256"`
}

// SchemaProvenance names the schema records were checked against.
type SchemaProvenance struct {
	Path       string `json:"path"`
	Definition string `json:"definition,omitempty"`
	SHA256     string `json:"sha256"`
}

// RunProvenance is the audit trail of one run: what went in, what came out,
// and with which schema. zpipe writes it to runs/<run-id>/provenance.json.gz
// in the state folder.
type RunProvenance struct {
	RunID     string               `json:"run_id"`
	Version   string               `json:"zpipe_version"`
	Host      string               `json:"host"`
	Start     time.Time            `json:"start"`
	End       time.Time            `json:"end"`
	Manifests []ManifestProvenance `json:"manifests"`
	Formats   []string             `json:"formats"`
	Stages    []StageProvenance    `json:"stages"`
	Items     []ItemProvenance     `json:"items"`
	Totals    map[string]int       `json:"totals"`
	Outputs   map[string]string    `json:"outputs"`
}

// ManifestProvenance names a manifest and its hash.
type ManifestProvenance struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// StageProvenance is one stage's totals.
type StageProvenance struct {
	Pipeline string `json:"pipeline,omitempty"`
	Name     string `json:"name"`
	Status   Status `json:"status"`
	Items    int    `json:"items"`
	// Successful counts the items that wrote every record; Failed those
	// that failed or rejected one.
	Successful   int   `json:"successful"`
	Failed       int   `json:"failed"`
	UpToDate     int   `json:"skipped_up_to_date"`
	Records      int   `json:"records"`
	Parallel     int   `json:"parallel"`
	ProcessingNS int64 `json:"processing_ns"`
}
