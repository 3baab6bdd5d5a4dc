package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

// Options tune a run. The zero value is ready to use.
type Options struct {
	// StateDir holds zpipe's working files; the default is .zpipe beside
	// the manifest.
	StateDir string
	// OutRoot is the folder outputs must stay inside; the default is the
	// manifest's folder.
	OutRoot string
	// OnEvent receives progress and problems as they happen. It is called
	// from one goroutine at a time.
	OnEvent func(Event)
	// MaxShownErrors bounds the RecordFailed events per stage; the rejects
	// file has them all. The default is 20.
	MaxShownErrors int
	// ChunkSize is the size above which an ndjson file is split into
	// items worked on in parallel. The default is 8 MiB.
	ChunkSize int64
	// Limits bound what decoders accept.
	Limits format.Limits
}

// SetupError is a problem found before anything ran, such as a schema that
// does not compile.
type SetupError struct{ Err error }

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// ExitCode is 2: nothing ran.
func (e *SetupError) ExitCode() int { return 2 }

type runner struct {
	plan    *pipeline.Plan
	opts    Options
	tmp     string
	limiter *rate.Limiter
	schemas map[string]*schema.Schema // by stage name
	mu      sync.Mutex                // serialises OnEvent
}

// Run runs the plan's stages in order and returns what happened. The error
// is for problems that stop the run before it starts (a *SetupError);
// failed records and items are in the Summary. Cancelling ctx stops the run
// between records; no output is then half written.
func Run(ctx context.Context, plan *pipeline.Plan, opts Options) (*Summary, error) {
	start := time.Now()
	m := plan.Manifest
	if opts.StateDir == "" {
		opts.StateDir = filepath.Join(m.Dir, ".zpipe")
	}
	if opts.OutRoot == "" {
		opts.OutRoot = m.Dir
	}
	if opts.MaxShownErrors == 0 {
		opts.MaxShownErrors = 20
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = 8 << 20
	}
	if opts.Limits == (format.Limits{}) {
		opts.Limits = format.DefaultLimits
	}
	r := &runner{plan: plan, opts: opts, schemas: map[string]*schema.Schema{}}
	// Every schema compiles before any stage runs, so a typo in the last
	// stage's schema does not surface after an hour of work.
	for _, s := range plan.Stages {
		sopts := []schema.Option{schema.WithDisplayPath(m.Rel)}
		if s.Transform != nil {
			sopts = append(sopts, schema.WithTransform(*s.Transform))
		}
		sch, err := schema.Load(s.Schema, sopts...)
		if err != nil {
			return nil, &SetupError{fmt.Errorf("stage %s: %w", s.Name, err)}
		}
		r.schemas[s.Name] = sch
	}
	if lim := m.Limits; lim.Throttle > 0 || lim.Rate > 0 {
		every := rate.Every(lim.Throttle)
		if lim.Rate > 0 && (lim.Throttle == 0 || rate.Limit(lim.Rate) < every) {
			every = rate.Limit(lim.Rate)
		}
		r.limiter = rate.NewLimiter(every, 1)
	}
	if m.Limits.MaxMemory > 0 {
		old := debug.SetMemoryLimit(m.Limits.MaxMemory)
		defer debug.SetMemoryLimit(old)
	}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, &SetupError{err}
	}
	tmp, err := os.MkdirTemp(opts.StateDir, "run-")
	if err != nil {
		return nil, &SetupError{err}
	}
	r.tmp = tmp
	defer os.RemoveAll(tmp)

	sum := &Summary{}
	status := map[string]Status{}
	for _, s := range plan.Stages {
		st := &StageSummary{Name: s.Name, Outputs: []string{}}
		switch blocked := r.blockedBy(s, status); {
		case ctx.Err() != nil:
			st.Status = StatusInterrupted
		case blocked != "":
			st.Status = StatusSkipped
			st.Error = fmt.Sprintf("skipped: stage %s did not finish", blocked)
		default:
			r.emit(Event{Kind: StageStarted, Stage: s.Name, Msg: "stage " + s.Name + " started"})
			r.runStage(ctx, s, st)
		}
		status[s.Name] = st.Status
		sum.Stages = append(sum.Stages, st)
		sum.Records += st.Records
		sum.OK += st.OK
		sum.Failed += st.Failed
		sum.FailedItems += st.FailedItems
		if st.Status == StatusInterrupted {
			sum.Interrupted = true
		}
		r.emit(Event{Kind: StageFinished, Stage: s.Name, Summary: st})
	}
	sum.Duration = time.Since(start)
	return sum, nil
}

// blockedBy names a dependency that stopped, was skipped or was
// interrupted, so that s must not run on its missing outputs.
func (r *runner) blockedBy(s *pipeline.Stage, status map[string]Status) string {
	for _, d := range r.plan.Deps[s.Name] {
		switch status[d.Stage] {
		case StatusStopped, StatusSkipped, StatusInterrupted:
			return d.Stage
		}
	}
	return ""
}

func (r *runner) emit(e Event) {
	if r.opts.OnEvent == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.OnEvent(e)
}
