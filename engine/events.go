package engine

// EventKind names what an Event reports.
type EventKind string

// The events a run reports through Options.OnEvent.
const (
	StageStarted  EventKind = "stage_started"
	StageFinished EventKind = "stage_finished"
	// StagePlanned: how many items are up to date and why the others run.
	StagePlanned EventKind = "stage_planned"
	// Resuming: the previous run did not finish, and this one takes over.
	Resuming EventKind = "resuming"
	// Warning: something the user should know that did not fail the run,
	// such as a glob that matched nothing.
	Warning EventKind = "warning"
	// RecordFailed: a record was rejected, or an item could not be read.
	RecordFailed EventKind = "record_failed"
	// ErrorsElided: more records failed than Options.MaxShownErrors.
	ErrorsElided EventKind = "errors_elided"
)

// Event is one thing that happened during a run.
type Event struct {
	Kind  EventKind
	Stage string
	// Msg is a sentence for a person to read.
	Msg string
	// Err is set for RecordFailed; its Source is relative to the folder
	// of Manifest, the stage's manifest file.
	Err      *RecordError
	Manifest string
	// Summary is set for StageFinished.
	Summary *StageSummary
	// UpToDate, ToRun and Rebuild are set for StagePlanned: items skipped,
	// items to run, and whether the outputs are rewritten even so.
	UpToDate, ToRun int
	Rebuild         bool
}

// Idle reports whether a StagePlanned event says the stage has nothing to
// do at all.
func (e Event) Idle() bool { return e.Kind == StagePlanned && e.ToRun == 0 && !e.Rebuild }
