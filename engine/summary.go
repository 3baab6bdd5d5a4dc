package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Status says how a stage ended.
type Status string

// The stage statuses.
const (
	// StatusOK: every record was valid and written.
	StatusOK Status = "ok"
	// StatusFailed: some items or records failed; the rest were written.
	StatusFailed Status = "failed"
	// StatusStopped: a failure under on_error: stop; no output was replaced.
	StatusStopped Status = "stopped"
	// StatusSkipped: a stage it depends on stopped, so it did not run.
	StatusSkipped Status = "skipped"
	// StatusInterrupted: the run was cancelled before the stage finished.
	StatusInterrupted Status = "interrupted"
)

// Summary is the outcome of a run.
type Summary struct {
	RunID  string          `json:"run_id"`
	Stages []*StageSummary `json:"stages"`
	// Records counts records read; OK those written; Failed those rejected.
	Records     int `json:"records"`
	OK          int `json:"ok"`
	Failed      int `json:"failed"`
	FailedItems int `json:"failed_items"`
	// UpToDate counts items not run because nothing they depend on changed.
	UpToDate    int           `json:"up_to_date"`
	Duration    time.Duration `json:"duration_ns"`
	Interrupted bool          `json:"interrupted"`
	// OverMemory: the run stopped itself, as interrupted, for passing
	// max_memory. It failed: no one asked it to stop.
	OverMemory bool `json:"over_memory,omitempty"`
	// Provenance is the run's audit trail but its items, which a run of
	// many files has too many of to hold: ProvenanceItems reads them
	// back from RunRecord, and WriteProvenance writes the whole.
	Provenance *RunProvenance `json:"-"`
	// RunRecord is where the audit trail is saved in the state folder,
	// runs/<run-id>/provenance.json.gz; "" when it could not be written.
	RunRecord string `json:"-"`
	// ran counts the items run, not up to date, for watch.
	ran int
}

// StageSummary is the outcome of one stage.
type StageSummary struct {
	// Pipeline is the manifest's name when a run has several.
	Pipeline    string `json:"pipeline,omitempty"`
	Name        string `json:"name"`
	Status      Status `json:"status"`
	Items       int    `json:"items"`
	FailedItems int    `json:"failed_items"`
	// UpToDate counts items not run because nothing they depend on changed.
	UpToDate int `json:"up_to_date"`
	Records  int `json:"records"`
	OK       int `json:"ok"`
	Failed   int `json:"failed"`
	// Retries counts the extra attempts of items that failed transiently.
	Retries  int           `json:"retries"`
	Duration time.Duration `json:"duration_ns"`
	// Outputs lists the files written, relative to the manifest.
	Outputs []string `json:"outputs"`
	// Rejects is the rejects file, once written, and Rejected the entries
	// in it: one per rejected record, and one per item that failed whole.
	Rejects  string `json:"rejects,omitempty"`
	Rejected int    `json:"rejected,omitempty"`
	// Error says why the stage could not run or finish, when it could not.
	Error string `json:"error,omitempty"`
}

// ExitCode maps the summary to zpipe's exit codes: 0 when every record was
// valid and written, 1 when some failed or the run passed max_memory, 130
// when the run was interrupted.
func (s *Summary) ExitCode() int {
	switch {
	case s.OverMemory:
		return 1
	case s.Interrupted:
		return 130
	case s.Failed > 0 || s.FailedItems > 0:
		return 1
	}
	for _, st := range s.Stages {
		if st.Status != StatusOK {
			return 1
		}
	}
	return 0
}

// RecordError is one failed record, or one unreadable item, with its
// position.
type RecordError struct {
	// Source is the input file, relative to the manifest when inside it.
	Source string `json:"source"`
	// Record is the index of the record in the source, from 1; 0 when the
	// error is about the file as a whole.
	Record int `json:"record"`
	Line   int `json:"line"`
	Column int `json:"column"`
	// Path is the CUE path of the offending value.
	Path string `json:"path,omitempty"`
	// Message is the violated constraint or the syntax error.
	Message string `json:"message"`
	// Schema is the position of the constraint in the schema file.
	Schema string `json:"schema,omitempty"`
}

func (e RecordError) Error() string {
	var b strings.Builder
	b.WriteString(showPath(e.Source))
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Detail())
	return b.String()
}

// Detail is the error without its file and position: "record 3: age:
// invalid value 200 (out of bound <=150) (user.cue:7:21)", for a report
// that gives the position apart, as a GitHub annotation does.
func (e RecordError) Detail() string {
	var b strings.Builder
	if e.Record > 0 {
		fmt.Fprintf(&b, "record %d: ", e.Record)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Message)
	if e.Schema != "" {
		b.WriteString(" (" + e.Schema + ")")
	}
	return b.String()
}

// showPath quotes a file name that holds a control character, such as a
// newline, so that a message about it stays on one line.
func showPath(p string) string {
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return strconv.Quote(p)
	}
	return p
}
