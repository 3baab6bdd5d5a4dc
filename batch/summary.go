package batch

import (
	"time"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
)

// ItemResult is the outcome of one item.
type ItemResult struct {
	ID        string
	Operation Operation
	// From is the input format (Parse, Convert); To the output format
	// (Format, Convert).
	From, To format.Format
	// Records are the checked records of a Parse item, with the schema's
	// defaults filled in, as record values (*format.Object, ...).
	Records []any
	// Output is the whole file written by a Format or Convert item.
	Output []byte
	// Error is the first error, positioned as in RecordError.Error, or why
	// the item was skipped; empty when the item succeeded.
	Error string
	// Errors lists every error, with DetailedErrors.
	Errors []engine.RecordError
	// Skipped is set when the item did not run, or did not finish, because
	// the batch was cancelled or stopped at an earlier failure.
	Skipped  bool
	Duration time.Duration
	// Attempts counts the times the item ran, over Execute and Retry.
	Attempts int
}

// OK reports whether the item ran and succeeded.
func (r ItemResult) OK() bool { return r.Error == "" }

// BatchSummary is the outcome of Execute or Retry.
type BatchSummary struct {
	Total, Successful, Failed, Skipped int
	// TotalDuration is the wall time; AverageDuration the mean over the
	// items that ran.
	TotalDuration, AverageDuration time.Duration
	// Items are in the order they were added.
	Items []ItemResult
	// Provenance is set with IncludeProvenance.
	Provenance *BatchProvenance
}

// BatchProvenance records what a batch read and wrote, for audit.
type BatchProvenance struct {
	ID        string    `json:"id"`
	Version   string    `json:"zpipe_version"`
	Operation string    `json:"operation"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	// Parallel is the items the batch ran at once; Formats, those read
	// and written; ProcessingNS, the time its items took, summed.
	Parallel     int      `json:"parallel"`
	Formats      []string `json:"formats"`
	ProcessingNS int64    `json:"processing_ns"`
	Total        int      `json:"total"`
	Successful   int      `json:"successful"`
	Failed       int      `json:"failed"`
	Skipped      int      `json:"skipped"`
	// Items are in the order of BatchSummary.Items. A Format item's input
	// hash is that of its values written as ndjson.
	Items []engine.ItemProvenance `json:"items"`
}

// batchOutcome is an item's result with what the summary counts.
type batchOutcome struct {
	res     ItemResult
	prov    engine.ItemProvenance
	records int
	failed  int
}
