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
	Schema       *SchemaProvenance  `json:"schema,omitempty"`
	Attempts     int                `json:"attempts"`
	DurationNS   int64              `json:"duration_ns"`
	Time         time.Time          `json:"time"`
	Error        string             `json:"error,omitempty"`
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
