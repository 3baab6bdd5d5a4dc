package engine

import (
	"io"

	"github.com/zpipe/zpipe/format"
)

// These are what crosses the Executor seam. They marshal to JSON, so that
// an executor can send an item to a worker on another machine, have it run
// there with ItemFunc, and hand the outcome back with Work.Record.

// StageRef names the stage a Work belongs to, with the sums that decide
// what its items write, so that a worker can tell it runs the same stage.
type StageRef struct {
	// Manifest is the manifest's absolute path; ManifestSHA256 its bytes.
	Manifest       string `json:"manifest"`
	ManifestSHA256 string `json:"manifest_sha256"`
	// Pipeline is the manifest's name; Priority, the stage's.
	Pipeline string `json:"pipeline,omitempty"`
	Stage    string `json:"stage"`
	Priority int    `json:"priority"`
	// SchemaSHA256 and TransformSHA256 are the sums of the schema and
	// transform definitions; SettingsSHA256, of the settings that shape
	// the output bytes.
	SchemaSHA256    string `json:"schema_sha256"`
	TransformSHA256 string `json:"transform_sha256,omitempty"`
	SettingsSHA256  string `json:"settings_sha256"`
}

// Job is one attempt at one item, as the item function needs it.
type Job struct {
	// Item is the item's index in the Work.
	Item int    `json:"item"`
	Key  string `json:"key"`
	// Name is how messages show the item's source.
	Name   string        `json:"name"`
	Format format.Format `json:"format"`
	// Chunk is set for a part of a line-oriented file; the input is then
	// the chunk's bytes alone, and positions count from its first line.
	Chunk   *format.Chunk `json:"chunk,omitempty"`
	Size    int64         `json:"size"`
	Attempt int           `json:"attempt"`
	// HashInput asks for the sha256 of the input, for the journal.
	HashInput bool `json:"hash_input,omitempty"`
}

// Report is what one attempt at an item did.
type Report struct {
	Records int `json:"records"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
	// Failure is set when the item failed as a whole; its parts are then
	// not used.
	Failure *Failure `json:"failure,omitempty"`
	// Errors are the rejected records' errors, in input order.
	Errors []RecordError `json:"errors,omitempty"`
	// InputSHA256 is the input's sum, when the Job asked for it.
	InputSHA256 string `json:"input_sha256,omitempty"`
	Parts       []Part `json:"parts,omitempty"`
}

// Failure says why an item failed as a whole.
type Failure struct {
	// At is where, as the user sees it; Text is the error as the journal
	// and the provenance keep it.
	At   RecordError `json:"at"`
	Text string      `json:"text"`
	// Transient: another attempt may mend it (an I/O error, a timeout).
	Transient bool `json:"transient,omitempty"`
	// CutOff: the attempt stopped before the input's end, so none of the
	// item's records is written and each goes to the rejects.
	CutOff bool `json:"cut_off,omitempty"`
	// Saving: the attempt could not write its parts (a full disk, say):
	// the fault is where the work is kept, not the input, so the stage
	// keeps its outputs rather than write them without the item.
	Saving bool `json:"saving,omitempty"`
}

func (f *Failure) Error() string { return f.Text }

// Part is one file an attempt wrote, for an output (Output is its index)
// or for the rejects (Output is -1).
type Part struct {
	Output int `json:"output"`
	// Name is the name the PartStore was given.
	Name    string `json:"name"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Records int    `json:"records"`
}

// PartStore keeps the parts an attempt writes: files in the run's working
// folder, or objects a worker sends back.
type PartStore interface {
	Create(name string) (io.WriteCloser, error)
}

// PartSource opens a part by the name it was stored under.
type PartSource func(name string) (io.ReadCloser, error)
