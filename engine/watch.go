package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zpipe/zpipe/internal/atomicfile"
	"github.com/zpipe/zpipe/internal/journal"
	"github.com/zpipe/zpipe/internal/watch"
	"github.com/zpipe/zpipe/pipeline"
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Manifests are the manifests to run, as absolute paths.
	Manifests []string
	// Load loads and compiles one manifest.
	Load func(file string) (*pipeline.Plan, error)
	// Run configures every run. Its Stop is the session's own; its Force
	// applies to the first run only, since later ones redo what changed.
	Run Options
	// Debounce is how long a changed file must be quiet before a rerun;
	// Scan, how often every watched file is stat'ed to catch what the
	// system did not report (0: never).
	Debounce, Scan time.Duration
	// Stop, once closed, lets the current run finish what is in flight and
	// ends the session; cancelling Watch's context stops at once.
	Stop <-chan struct{}
	// Writes lists files that zpipe writes besides outputs, rejects and the
	// state folder, such as a provenance file: they never start a run.
	Writes []string
	// Progress, when set, gives each run its progress callback, and the
	// function to call once the run is over.
	Progress func() (handle func(Progress), done func())
	// Notify hears what the session does; Watch calls it from one
	// goroutine at a time.
	Notify func(WatchEvent)
}

// WatchKind names what a WatchEvent reports.
type WatchKind int

// What a watch session reports.
const (
	// WatchLoadFailed: a manifest does not load (Err); Kept says its last
	// good plan goes on running.
	WatchLoadFailed WatchKind = iota + 1
	// WatchWaiting: a manifest has never loaded; nothing runs until it does.
	WatchWaiting
	// WatchReloading: a manifest changed (Paths).
	WatchReloading
	// WatchChanged: inputs changed (Paths); WatchDeleted: one was deleted.
	WatchChanged
	WatchDeleted
	// WatchRestarting: inputs changed during a run (Paths), which stops
	// to start again.
	WatchRestarting
	// WatchBusy: another zpipe holds the state folder (Err); the run is
	// tried again after Wait.
	WatchBusy
	// WatchRunFailed: a run could not start (Err).
	WatchRunFailed
	// WatchRunDone: a run ended (Summary); Active names the stages that
	// had work, Ran counts the items that ran, and Restart is set when a
	// change stopped it.
	WatchRunDone
	// WatchError: the watcher itself failed to watch something (Err).
	WatchError
)

// WatchEvent is one thing a watch session did.
type WatchEvent struct {
	Kind WatchKind
	// Paths are absolute; Rel shows them.
	Paths   []string
	Err     error
	Kept    bool
	Wait    time.Duration
	Summary *Summary
	Active  map[string]bool
	Ran     int
	Restart bool
}

// ErrWatchForced is what Watch returns when its context was cancelled: it
// stopped at once.
var ErrWatchForced = errors.New("stopped at once")

// Watch runs the manifests once, then watches the manifests, every stage's
// schema and transform files, and the folders of the source globs (new
// subfolders too), and reruns once a change has been quiet for Debounce.
// Runs are incremental. A change during a run stops it gracefully and
// starts a new one. What zpipe writes itself never starts a run. A
// manifest that no longer loads keeps its last good plan until fixed. A run
// that finds the state folder busy is retried with backoff, so no change
// is lost. Watch returns nil once Stop closes, ErrWatchForced when ctx is
// cancelled, and an error when it cannot watch at all.
func Watch(ctx context.Context, opts WatchOptions) error {
	s := &session{opts: opts, plans: make([]*pipeline.Plan, len(opts.Manifests)), unfinished: true, stdin: &spool{r: opts.Run.Stdin}}
	if s.stdin.r == nil {
		s.stdin.r = os.Stdin
	}
	defer s.stdin.remove()
	for i := range opts.Manifests {
		if err := s.load(i); err != nil {
			if _, serr := os.Stat(opts.Manifests[i]); serr != nil {
				return err // a typo on the command line, not an edit to wait for
			}
			s.notify(WatchEvent{Kind: WatchLoadFailed, Paths: []string{opts.Manifests[i]}, Err: err})
		}
	}
	s.refilter()
	scan := opts.Scan
	if scan <= 0 {
		scan = -1
	}
	w, err := watch.New(watch.Options{
		Quiet:   opts.Debounce,
		Scan:    scan,
		Ignore:  func(p string) bool { return s.filter.Load().ignore(p) },
		OnError: func(err error) { s.notify(WatchEvent{Kind: WatchError, Err: err}) },
	})
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Watch(s.targets()...); err != nil {
		return err
	}
	return s.loop(ctx, w)
}

// session is what Watch keeps between runs.
type session struct {
	opts WatchOptions
	// plans holds the last good plan of each manifest; nil until one loads.
	plans  []*pipeline.Plan
	filter atomic.Pointer[watchFilter] // read by the watcher's goroutine
	runs   int
	// unfinished is set until a run ends without being stopped, so that a
	// stopped run is redone even when the change that stopped it was a
	// manifest edit that does not load.
	unfinished bool
	notifying  sync.Mutex
	// stdin keeps standard input for every run of the session: it never
	// changes, and a second read of it would find only its end.
	stdin *spool
}

// notify tells Notify, one event at a time: the loop and the watcher's
// own goroutine both have things to say.
func (s *session) notify(e WatchEvent) {
	if s.opts.Notify != nil {
		s.notifying.Lock()
		defer s.notifying.Unlock()
		s.opts.Notify(e)
	}
}

// cycleResult is what one run returned.
type cycleResult struct {
	sum *Summary
	err error
	// active names the stages that had work: items to run, or outputs to
	// rebuild after a source was deleted.
	active map[string]bool
}

// loopState is where the session's loop is between events.
type loopState struct {
	stopRun  chan struct{} // the current run's Stop; nil when idle
	stopping bool          // stopRun is closed
	done     chan cycleResult
	changed  map[string]bool // since the last run started
	due      bool            // a run should start once idle
	quitting bool
	forced   bool
	retry    <-chan time.Time // a run that found the state folder busy
	wait     time.Duration    // before the next such retry
}

// halt asks the current run, if any, to stop gracefully.
func (l *loopState) halt() {
	if l.stopRun != nil && !l.stopping {
		close(l.stopRun)
		l.stopping = true
	}
}

func (s *session) loop(ctx context.Context, w *watch.Watcher) error {
	l := &loopState{changed: map[string]bool{}, due: true}
	stop, cancel, changes := s.opts.Stop, ctx.Done(), w.Changes()
	for {
		if l.stopRun == nil {
			switch {
			case l.forced:
				return ErrWatchForced
			case l.quitting:
				return nil
			case l.due:
				l.due = false
				if s.prepare(l.changed, w) {
					l.stopRun, l.stopping, l.done = make(chan struct{}), false, make(chan cycleResult, 1)
					go s.cycle(ctx, slices.Clone(s.plans), s.opts.Run.Force && s.runs == 0, slices.Collect(maps.Keys(l.changed)), l.stopRun, l.done)
				}
				clear(l.changed)
			}
		}
		select {
		case <-stop:
			stop, l.quitting = nil, true
			l.halt()
		case <-cancel:
			cancel, l.quitting, l.forced = nil, true, true
			l.halt()
		case batch, ok := <-changes:
			if !ok {
				// The watcher is gone: end as a stop does, after the
				// run going on.
				changes, l.quitting = nil, true
				l.halt()
				continue
			}
			s.changes(l, batch)
		case res := <-l.done:
			s.finished(l, res)
		case <-l.retry:
			l.retry, l.due = nil, true
		}
	}
}

// changes takes a batch of changed files in: those a run reads make one
// due, and stop the run going on.
func (s *session) changes(l *loopState, batch []string) {
	fresh := s.filter.Load().wanted(batch)
	if len(fresh) == 0 || l.quitting {
		return
	}
	for _, p := range fresh {
		l.changed[p] = true
	}
	l.due = true
	if l.stopRun != nil && !l.stopping {
		s.notify(WatchEvent{Kind: WatchRestarting, Paths: fresh})
		l.halt()
	}
}

// finished takes a run's end in. A run that found the state folder busy
// is tried again with backoff: the change is not lost, it waits for the
// folder to be free.
func (s *session) finished(l *loopState, res cycleResult) {
	wasStopped := l.stopping
	l.stopRun, l.done = nil, nil
	var busy *journal.BusyError
	if errors.As(res.err, &busy) && !l.quitting {
		l.wait = min(max(2*l.wait, 250*time.Millisecond), 5*time.Second)
		s.notify(WatchEvent{Kind: WatchBusy, Err: busy, Wait: l.wait})
		s.unfinished, l.retry = true, time.After(l.wait)
		return
	}
	l.wait = 0
	s.runs++
	s.unfinished = res.sum != nil && res.sum.Interrupted
	var stopped *InterruptedError
	if errors.As(res.err, &stopped) && l.stopping {
		// Stopped while its schemas loaded, to start again or to end:
		// nothing ran, and the restart, or the end, says so.
		s.unfinished = true
		return
	}
	if res.err != nil {
		s.notify(WatchEvent{Kind: WatchRunFailed, Err: res.err})
		return
	}
	s.notify(WatchEvent{Kind: WatchRunDone, Summary: res.sum, Active: res.active, Ran: res.sum.ran, Restart: wasStopped && !l.quitting})
}

// prepare reloads changed manifests, watches what they now name, and
// reports the changes. It says whether to run.
func (s *session) prepare(changed map[string]bool, w *watch.Watcher) bool {
	data, reloaded := false, false
	files := s.opts.Manifests
	for _, p := range slices.Sorted(maps.Keys(changed)) {
		i := slices.Index(files, p)
		if i < 0 {
			data = true
			continue
		}
		s.notify(WatchEvent{Kind: WatchReloading, Paths: []string{p}})
		if err := s.load(i); err != nil {
			s.notify(WatchEvent{Kind: WatchLoadFailed, Paths: []string{p}, Err: err, Kept: s.plans[i] != nil})
			continue
		}
		reloaded = true
	}
	if reloaded {
		s.refilter()
		if err := w.Watch(s.targets()...); err != nil {
			s.notify(WatchEvent{Kind: WatchError, Err: err})
		}
	}
	var edits []string
	for _, p := range slices.Sorted(maps.Keys(changed)) {
		if slices.Contains(files, p) {
			continue
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			s.notify(WatchEvent{Kind: WatchDeleted, Paths: []string{p}})
		} else {
			edits = append(edits, p)
		}
	}
	if len(edits) > 0 {
		s.notify(WatchEvent{Kind: WatchChanged, Paths: edits})
	}
	for i, p := range s.plans {
		if p == nil {
			s.notify(WatchEvent{Kind: WatchWaiting, Paths: []string{files[i]}})
			return false
		}
	}
	return s.unfinished || data || reloaded
}

// cycle runs the plans once, in its own goroutine.
func (s *session) cycle(ctx context.Context, plans []*pipeline.Plan, force bool, changed []string, stop chan struct{}, done chan<- cycleResult) {
	opts := s.opts.Run
	opts.Force, opts.Stop, opts.changed = force, stop, changed
	active := map[string]bool{}
	onEvent := opts.OnEvent
	opts.OnEvent = func(e Event) {
		// The engine serialises events, so the map needs no lock.
		if e.Kind == StagePlanned && !e.Idle() {
			active[e.Stage] = true
		}
		if onEvent != nil {
			onEvent(e)
		}
	}
	if readsStdin(plans) {
		f, err := s.stdin.open(ctx, os.TempDir())
		if err != nil {
			done <- cycleResult{err: fmt.Errorf("reading standard input: %w", err)}
			return
		}
		defer f.Close()
		opts.Stdin = f
	}
	var finish func()
	if s.opts.Progress != nil {
		opts.OnProgress, finish = s.opts.Progress()
	}
	sum, err := RunAll(ctx, plans, opts)
	if finish != nil {
		finish()
	}
	done <- cycleResult{sum, err, active}
}

func readsStdin(plans []*pipeline.Plan) bool {
	for _, p := range plans {
		if p == nil {
			continue
		}
		for _, st := range p.Manifest.Stages {
			if slices.Contains(st.Source.Paths, pipeline.Stdin) {
				return true
			}
		}
	}
	return false
}

func (s *session) load(i int) error {
	plan, err := s.opts.Load(s.opts.Manifests[i])
	if err != nil {
		return err
	}
	s.plans[i] = plan
	return nil
}

// targets lists what to watch: the manifests, the schema and transform
// files, and the folder each source glob starts in (the glob itself when
// it has no wildcard).
func (s *session) targets() []string {
	out := slices.Clone(s.opts.Manifests)
	for _, p := range s.plans {
		if p == nil {
			continue
		}
		m := p.Manifest
		for _, st := range m.Stages {
			out = append(out, st.Schema.File)
			if st.Transform != nil {
				out = append(out, st.Transform.File)
			}
			for _, pat := range st.Source.Paths {
				if pat == pipeline.Stdin {
					continue
				}
				if !filepath.IsAbs(pat) {
					pat = filepath.Join(m.Dir, pat)
				}
				out = append(out, pipeline.StaticPrefix(pat))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// refilter rebuilds the filter from the current plans.
func (s *session) refilter() {
	f := &watchFilter{files: map[string]bool{}, inputs: map[string]bool{}}
	if d := s.opts.Run.StateDir; d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			f.state = append(f.state, abs)
		}
	}
	for _, p := range s.opts.Writes {
		if abs, err := filepath.Abs(p); err == nil {
			f.files[abs] = true
		}
	}
	for _, file := range s.opts.Manifests {
		f.inputs[file] = true
		f.state = append(f.state, filepath.Join(filepath.Dir(file), ".zpipe"))
	}
	for _, p := range s.plans {
		if p == nil {
			continue
		}
		m := p.Manifest
		for _, st := range m.Stages {
			f.inputs[st.Schema.File] = true
			if st.Transform != nil {
				f.inputs[st.Transform.File] = true
			}
			if st.Rejects != "" {
				f.files[st.Rejects] = true
			}
			f.stages = append(f.stages, stageFilter{m: m, s: st})
		}
	}
	s.filter.Store(f)
}

// watchFilter decides which changes matter. It is immutable once stored,
// as the watcher's goroutine reads it while a reload builds the next.
type watchFilter struct {
	state  []string        // folders holding zpipe's working files
	files  map[string]bool // other files zpipe writes: rejects, provenance
	inputs map[string]bool // manifests, schemas, transforms
	stages []stageFilter
}

type stageFilter struct {
	m *pipeline.Manifest
	s *pipeline.Stage
}

// ignore reports what zpipe writes itself, so that a run never triggers
// the next.
func (f *watchFilter) ignore(p string) bool {
	base := filepath.Base(p)
	if strings.HasPrefix(base, atomicfile.TempPrefix) || base == ".git" || f.files[p] {
		return true
	}
	for _, d := range f.state {
		if pipeline.Inside(d, p) {
			return true
		}
	}
	for _, sf := range f.stages {
		if sf.s.MayWrite(sf.m, p) {
			return true
		}
	}
	return false
}

// wanted keeps the paths a run reads: manifests, schemas, and files a
// source glob matches (or matched, when deleted). Editor swap and backup
// files are dropped here.
func (f *watchFilter) wanted(paths []string) []string {
	var out []string
	for _, p := range paths {
		if f.inputs[p] || slices.ContainsFunc(f.stages, func(sf stageFilter) bool { return sf.s.MayRead(sf.m, p) }) {
			out = append(out, p)
		}
	}
	return out
}
