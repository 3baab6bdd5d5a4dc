package pipeline

import (
	"math/rand/v2"
	"time"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// Manifest is a loaded, checked manifest with every default applied and
// every path made absolute.
type Manifest struct {
	// File is the manifest's absolute path; Dir is its folder, which
	// relative paths resolve against.
	File, Dir string
	// Root is the folder outputs must stay inside: Dir, or OutRoot's.
	Root string
	// Sum is the sha256 of the manifest bytes, as hex.
	Sum     string
	Version int
	Name    string
	// Priority orders this pipeline's stages against another's when
	// several manifests run together.
	Priority int
	Limits   Limits
	// Executor says where items run: "" or "local" on this machine,
	// "nats" on workers of an embedded NATS server, or nats://host:port,…
	// on workers of an existing cluster. The command line overrides it.
	Executor string
	// SchemaRefs maps URL prefixes that JSON Schemas $ref to local files
	// or folders (absolute; a folder keeps its trailing slash): zpipe
	// never fetches a schema.
	SchemaRefs map[string]string
	// Stages in the order the manifest lists them.
	Stages []*Stage

	src *source // for positions in messages; nil when Load did not make it
}

// Limits bound a whole run.
type Limits struct {
	MaxConcurrentStages int           `json:"max_concurrent_stages"`
	MaxMemory           int64         `json:"max_memory"`  // bytes; 0 means no limit
	Throttle            time.Duration `json:"throttle_ns"` // minimum gap between item starts
	Rate                float64       `json:"rate"`        // item starts per second; 0 means no limit
}

// Settings are the per-stage knobs that defaults may set for every stage.
type Settings struct {
	Parallel int `json:"parallel"`
	// ParallelSet says the manifest sets Parallel; otherwise it is this
	// machine's core count, and items run on other machines may run more
	// at once.
	ParallelSet bool          `json:"parallel_set"`
	OnError     OnError       `json:"on_error"`
	Retry       Retry         `json:"retry"`
	Timeout     time.Duration `json:"timeout_ns"` // per item; 0 means none
}

// OnError says what a stage does after a failed item.
type OnError string

// The on_error values.
const (
	Continue OnError = "continue"
	Stop     OnError = "stop"
)

// Retry configures retries of items that failed for a transient reason.
// It is zpipe's one retry policy: the local executor, the Batch API's
// Retry and any other executor wait as Wait says.
type Retry struct {
	Max      int           `json:"max"`
	Delay    time.Duration `json:"delay_ns"`
	Backoff  float64       `json:"backoff"`
	MaxDelay time.Duration `json:"max_delay_ns"`
}

// Wait returns the wait before attempt n+1: Delay·Backoff^(n-1), capped
// at MaxDelay, with ±20% jitter so that the retries of many items do not
// arrive together.
func (r Retry) Wait(n int) time.Duration {
	d := float64(r.Delay)
	for i := 1; i < n; i++ {
		d *= max(r.Backoff, 1)
	}
	if r.MaxDelay > 0 && d > float64(r.MaxDelay) {
		d = float64(r.MaxDelay)
	}
	return time.Duration(d * (0.8 + 0.4*rand.Float64()))
}

// Stage is one stage of a manifest.
type Stage struct {
	Name string
	Settings
	Priority int
	Needs    []string
	Source   Source
	Schema   schema.Spec
	// Transform is nil when the stage writes the checked records as they are.
	Transform *schema.Spec
	Outputs   []Output
	// Rejects is the absolute path of the rejects file, or empty.
	Rejects string

	pos string // file:line:col of the stage, for messages
}

// Source says where a stage's records come from.
type Source struct {
	// Paths and Exclude are globs relative to the manifest's folder; ** matches
	// any number of folders.
	Paths, Exclude []string
	// Format is empty for auto: by extension, then by content.
	Format format.Format
	// FollowSymlinks lets a glob follow symlinked folders that lead out of
	// the manifest's folder.
	FollowSymlinks bool
	// Whole reads a json file whose top level is a list as one record.
	Whole bool
}

// Output is one file, or one file per source, that a stage writes.
type Output struct {
	Format format.Format `json:"format"`
	// Path is the path template relative to the manifest's folder, as written.
	Path string `json:"path"`
	// Indent and Pretty shape json and yaml: the spaces a level takes (0:
	// the format's own), and false for a json record a line.
	Indent int   `json:"indent,omitempty"`
	Pretty *bool `json:"pretty,omitempty"`
}

// EncodeOptions are the encoder options the output asks for.
func (o Output) EncodeOptions() format.EncodeOptions {
	return format.EncodeOptions{Indent: o.Indent, Compact: o.Pretty != nil && !*o.Pretty}
}

// PerSource reports whether the output's path has a placeholder, so that
// each source gets a file of its own.
func (o Output) PerSource() bool { return hasPlaceholder(o.Path) }

// The named priority levels; a manifest or a Go caller may use any other
// integer too. A higher one runs first.
const (
	PriorityLow      = 1
	PriorityNormal   = 5
	PriorityHigh     = 10
	PriorityCritical = 20
)

// Priorities maps the priority names a manifest uses to their levels.
var Priorities = map[string]int{"critical": PriorityCritical, "high": PriorityHigh, "normal": PriorityNormal, "low": PriorityLow}
