package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/internal/atomicfile"
	"github.com/zpipe/zpipe/internal/journal"
	"github.com/zpipe/zpipe/internal/watch"
	"github.com/zpipe/zpipe/pipeline"
)

func (a *app) watchCmd() *cobra.Command {
	f := &runFlags{watch: true}
	cmd := &cobra.Command{
		Use:   "watch MANIFEST...",
		Short: "Run a pipeline, then rerun what each change to its files affects",
		Long: `Watch runs the manifests once, as zpipe run does, then watches the
manifests, every stage's schema and transform files, and the folders of the
source globs (new subfolders included). Once a changed file has been quiet
for --debounce, it runs again; runs are incremental, so only the items whose
inputs, schema or settings changed are redone. A line per stage that ran
something, and a total, follow every run.

A change while a run is going stops that run gracefully (items in flight
finish and are kept) and starts a new one. What zpipe writes itself, the
state folder, outputs and rejects files, never starts a run. A manifest that
no longer loads is reported and the last good one keeps running until it is
fixed. A deleted source is reported, and its outputs go with the next run.

Changes the OS did not report (network filesystems, a full event queue) are
caught by a stat of every watched file each --scan-interval.

Ctrl-C lets the current run finish what is in flight, saves its state and
exits 0; a second Ctrl-C stops at once.`,
		Example: `  zpipe watch pipeline.yaml
  zpipe watch --debounce=500ms --progress=none pipeline.yaml
  zpipe run --watch nightly.yaml adhoc.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error { return a.watch(cmd, args, f) },
	}
	f.register(cmd)
	cmd.Flags().Lookup("debounce").Usage = "how long a changed file must be quiet before a rerun"
	cmd.Flags().Lookup("json").Usage = "print each run's summary as one line of JSON"
	cmd.Flags().Duration("scan-interval", 2*time.Second, "how often to stat every watched file, to catch changes the OS did not report; 0 turns it off")
	return cmd
}

// watch runs the manifests, then reruns them on every quiet batch of
// changes until a.stop closes.
func (a *app) watch(cmd *cobra.Command, args []string, f *runFlags) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("%s takes one or more manifests; see zpipe %s --help", cmd.Name(), cmd.Name())}
	}
	if _, err := newProgress(f.progress, a.stdout, a.stderr, 0); err != nil {
		return err
	}
	s := &session{a: a, f: f, plans: make([]*pipeline.Plan, len(args)), unfinished: true}
	for _, file := range args {
		abs, err := filepath.Abs(file)
		if err != nil {
			return err
		}
		s.files = append(s.files, abs)
	}
	for i, file := range args {
		if err := s.load(i); err != nil {
			if _, serr := os.Stat(file); serr != nil {
				return err // a typo on the command line, not an edit to wait for
			}
			a.printError(err)
		}
	}
	s.refilter()

	scan := 2 * time.Second
	if fl := cmd.Flags().Lookup("scan-interval"); fl != nil {
		scan, _ = cmd.Flags().GetDuration("scan-interval")
	}
	if scan <= 0 {
		scan = -1
	}
	w, err := watch.New(watch.Options{
		Quiet:   f.debounce,
		Scan:    scan,
		Ignore:  func(p string) bool { return s.filter.Load().ignore(p) },
		OnError: func(err error) { a.log.Warn("watch: " + err.Error()) },
	})
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Watch(s.targets()...); err != nil {
		return err
	}
	return s.loop(cmd.Context(), w)
}

// session is what zpipe watch keeps between runs.
type session struct {
	a     *app
	f     *runFlags
	files []string // the manifests, absolute
	// plans holds the last good plan of each manifest; nil until one loads.
	plans  []*pipeline.Plan
	filter atomic.Pointer[watchFilter] // read by the watcher's goroutine
	runs   int
	// unfinished is set until a run ends without being stopped, so that a
	// stopped run is redone even when the change that stopped it was a
	// manifest edit that does not load.
	unfinished bool
}

// cycleResult is what one run returned.
type cycleResult struct {
	sum *engine.Summary
	err error
	// active names the stages that had work: items to run, or outputs to
	// rebuild after a source was deleted.
	active map[string]bool
}

func (s *session) loop(ctx context.Context, w *watch.Watcher) error {
	var (
		stopRun  chan struct{} // the current run's Stop; nil when idle
		stopping bool          // stopRun is closed
		done     chan cycleResult
		changed  = map[string]bool{} // since the last run started
		due      = true              // a run should start once idle
		quitting bool
		forced   bool
		retry    <-chan time.Time // a run that found the state folder busy
		wait     time.Duration    // before the next such retry
		stop     = s.a.stop
		cancel   = ctx.Done()
	)
	halt := func() {
		if stopRun != nil && !stopping {
			close(stopRun)
			stopping = true
		}
	}
	for {
		if stopRun == nil {
			switch {
			case forced:
				return exitError{130}
			case quitting:
				return nil
			case due:
				due = false
				if s.prepare(changed, w) {
					stopRun, stopping, done = make(chan struct{}), false, make(chan cycleResult, 1)
					go s.cycle(ctx, slices.Clone(s.plans), s.f.force && s.runs == 0, stopRun, done)
				}
				clear(changed)
			}
		}
		select {
		case <-stop:
			stop, quitting = nil, true
			halt()
		case <-cancel:
			cancel, quitting, forced = nil, true, true
			halt()
		case batch, ok := <-w.Changes():
			if !ok {
				return nil
			}
			fresh := s.filter.Load().wanted(batch)
			if len(fresh) == 0 || quitting {
				continue
			}
			for _, p := range fresh {
				changed[p] = true
			}
			due = true
			if stopRun != nil && !stopping {
				s.say("%s; stopping the run to start again", s.describe(fresh))
				halt()
			}
		case res := <-done:
			wasStopped := stopping
			stopRun, done = nil, nil
			var busy *journal.BusyError
			if errors.As(res.err, &busy) && !quitting {
				// Another zpipe holds the state: the change is not lost,
				// it waits for the folder to be free.
				wait = min(max(2*wait, 250*time.Millisecond), 5*time.Second)
				s.a.log.Warn(fmt.Sprintf("state folder %s is in use by another zpipe (pid %s); trying again in %s", busy.Dir, busy.Owner, wait))
				s.unfinished, retry = true, time.After(wait)
				continue
			}
			wait = 0
			s.report(res, wasStopped && !quitting)
		case <-retry:
			retry, due = nil, true
		}
	}
}

// prepare reloads changed manifests, watches what they now name, and
// reports the changes. It says whether to run.
func (s *session) prepare(changed map[string]bool, w *watch.Watcher) bool {
	data := false
	reloaded := false
	for _, p := range slices.Sorted(maps.Keys(changed)) {
		i := slices.Index(s.files, p)
		if i < 0 {
			data = true
			continue
		}
		s.say("%s changed; reloading", s.rel(p))
		if err := s.load(i); err != nil {
			s.a.printError(err)
			if s.plans[i] != nil {
				s.a.log.Warn("keeping the last good plan of " + s.rel(p) + " until the manifest is fixed")
			}
			continue
		}
		reloaded = true
	}
	if reloaded {
		s.refilter()
		if err := w.Watch(s.targets()...); err != nil {
			s.a.log.Warn("watch: " + err.Error())
		}
	}
	var edits []string
	for _, p := range slices.Sorted(maps.Keys(changed)) {
		if slices.Contains(s.files, p) {
			continue
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			s.say("%s was deleted", s.rel(p))
		} else {
			edits = append(edits, p)
		}
	}
	if len(edits) > 0 {
		s.say("%s", s.describe(edits))
	}
	for i, p := range s.plans {
		if p == nil {
			s.a.log.Warn("waiting for " + s.rel(s.files[i]) + " to be fixed")
			return false
		}
	}
	return s.unfinished || data || reloaded
}

// cycle runs the plans once, in its own goroutine. force is for the first
// run only: later ones redo what changed.
func (s *session) cycle(ctx context.Context, plans []*pipeline.Plan, force bool, stop chan struct{}, done chan<- cycleResult) {
	prog, err := newProgress(s.f.progress, s.a.stdout, s.a.stderr, s.f.interval)
	if err != nil {
		done <- cycleResult{err: err}
		return
	}
	active := map[string]bool{}
	sum, err := engine.RunAll(ctx, plans, engine.Options{
		StateDir: s.f.stateDir,
		Force:    force,
		Stop:     stop,
		OnEvent: func(e engine.Event) {
			// The engine serialises events, so the map needs no lock.
			if e.Kind == engine.StagePlanned && !e.Idle() {
				active[e.Stage] = true
			}
			s.event(e)
		},
		OnProgress: prog.handle,
	})
	if perr := prog.close(); perr != nil {
		s.a.log.Error("writing the progress events: " + perr.Error())
	}
	done <- cycleResult{sum, err, active}
}

// event logs what a run reports, minus what every rerun would repeat.
func (s *session) event(e engine.Event) {
	switch {
	case e.Kind == engine.Resuming, e.Idle():
		s.a.log.Debug(e.Msg)
	default:
		s.a.logEvent(e)
	}
}

// report prints one run's outcome: a line per stage that ran anything, and
// a total.
func (s *session) report(res cycleResult, forChange bool) {
	s.runs++
	s.unfinished = res.sum != nil && res.sum.Interrupted
	if res.err != nil {
		s.a.printError(res.err)
		s.a.log.Warn("waiting for a change")
		return
	}
	sum := res.sum
	if s.f.provenance != "" {
		if err := s.a.writeProvenance(s.f.provenance, sum); err != nil {
			s.a.log.Error("provenance: " + err.Error())
		}
	}
	ran := 0
	if sum.Provenance != nil {
		for _, it := range sum.Provenance.Items {
			if !it.UpToDate {
				ran++
			}
		}
	}
	if sum.Interrupted {
		if forChange {
			s.say("stopped after %s; the next run redoes only the rest", howMany(ran, "item"))
		} else {
			s.say("stopped after %s; finished items are saved for the next run", howMany(ran, "item"))
		}
		return
	}
	if s.f.jsonOut {
		line, _ := json.Marshal(sum)
		fmt.Fprintf(s.a.stdout, "%s\n", line)
		return
	}
	var lines []string
	for _, st := range sum.Stages {
		n := st.Items - st.UpToDate
		if n == 0 && !res.active[st.Name] && (st.Status == engine.StatusOK || st.Status == engine.StatusFailed) {
			continue
		}
		name := st.Name
		if st.Pipeline != "" {
			name = st.Pipeline + "/" + st.Name
		}
		line := fmt.Sprintf("%s: %d ran, %d up to date, %d failed", name, n, st.UpToDate, st.FailedItems)
		if st.Failed > 0 {
			line += fmt.Sprintf(", %s rejected", howMany(st.Failed, "record"))
		}
		if st.Status != engine.StatusOK && st.Status != engine.StatusFailed {
			line += fmt.Sprintf(" (%s)", st.Status)
		}
		lines = append(lines, line)
	}
	took := round(sum.Duration)
	if len(lines) == 1 {
		s.say("%s in %s", lines[0], took)
		return
	}
	total := fmt.Sprintf("total %s run, %d up to date in %s", howMany(ran, "item"), sum.UpToDate, took)
	for _, l := range lines {
		s.say("%s", l)
	}
	s.say("%s", total)
}

// say prints a line with the time, so that a scrolling terminal shows
// which run is which.
func (s *session) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if s.f.jsonOut {
		// stdout is for the summaries, one JSON line per run.
		s.a.log.Info(msg)
		return
	}
	fmt.Fprintf(s.a.stdout, "[%s] %s\n", time.Now().Format("15:04:05"), msg)
}

// describe names changed files, a few at most.
func (s *session) describe(paths []string) string {
	const most = 3
	var names []string
	for _, p := range paths[:min(len(paths), most)] {
		names = append(names, s.rel(p))
	}
	list := strings.Join(names, ", ")
	if len(paths) > most {
		list += fmt.Sprintf(" and %d more", len(paths)-most)
	}
	if len(paths) == 1 {
		return list + " changed"
	}
	return fmt.Sprintf("%d files changed: %s", len(paths), list)
}

// rel shows p relative to the first manifest folder it lies in.
func (s *session) rel(p string) string {
	for _, f := range s.files {
		if r, err := filepath.Rel(filepath.Dir(f), p); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
	}
	return p
}

func (s *session) load(i int) error {
	var opts []pipeline.LoadOption
	if s.f.outRoot != "" {
		opts = append(opts, pipeline.OutRoot(s.f.outRoot))
	}
	m, err := pipeline.Load(s.files[i], opts...)
	if err != nil {
		return err
	}
	plan, err := pipeline.Compile(m)
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
	out := slices.Clone(s.files)
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
				if !filepath.IsAbs(pat) {
					pat = filepath.Join(m.Dir, pat)
				}
				out = append(out, staticPrefix(pat))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// staticPrefix is the part of a glob before its first wildcard, as a path.
func staticPrefix(pat string) string {
	parts := strings.Split(filepath.ToSlash(pat), "/")
	for i, p := range parts {
		if strings.ContainsAny(p, `*?[{\`) {
			return filepath.FromSlash(strings.Join(parts[:i], "/"))
		}
	}
	return pat
}

// refilter rebuilds the filter from the current plans.
func (s *session) refilter() {
	f := &watchFilter{files: map[string]bool{}, inputs: map[string]bool{}}
	if s.f.stateDir != "" {
		if abs, err := filepath.Abs(s.f.stateDir); err == nil {
			f.state = append(f.state, abs)
		}
	}
	if s.f.provenance != "" && s.f.provenance != "-" {
		if abs, err := filepath.Abs(s.f.provenance); err == nil {
			f.files[abs] = true
		}
	}
	for _, file := range s.files {
		f.inputs[file] = true
		f.state = append(f.state, filepath.Join(filepath.Dir(file), ".zpipe"))
	}
	for _, p := range s.plans {
		if p == nil {
			continue
		}
		m := p.Manifest
		mf := manifestFilter{dir: m.Dir}
		for _, st := range m.Stages {
			f.inputs[st.Schema.File] = true
			if st.Transform != nil {
				f.inputs[st.Transform.File] = true
			}
			if st.Rejects != "" {
				f.files[st.Rejects] = true
			}
			for _, o := range st.Outputs {
				mf.outputs = append(mf.outputs, outputGlob(o.Path))
			}
			mf.sources = append(mf.sources, st.Source)
		}
		f.manifests = append(f.manifests, mf)
	}
	s.filter.Store(f)
}

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// outputGlob turns an output template into a glob of the files it can
// name: {dir} may be several folders, the others one name part.
func outputGlob(template string) string {
	g := placeholder.ReplaceAllStringFunc(template, func(ph string) string {
		if ph == "{dir}" {
			return "**"
		}
		return "*"
	})
	return filepath.ToSlash(filepath.Clean(g))
}

// watchFilter decides which changes matter. It is immutable once stored,
// as the watcher's goroutine reads it while a reload builds the next.
type watchFilter struct {
	state     []string        // folders holding zpipe's working files
	files     map[string]bool // other files zpipe writes: rejects, provenance
	inputs    map[string]bool // manifests, schemas, transforms
	manifests []manifestFilter
}

type manifestFilter struct {
	dir     string
	outputs []string // globs relative to dir
	sources []pipeline.Source
}

// ignore reports what zpipe writes itself, so that a run never triggers
// the next.
func (f *watchFilter) ignore(p string) bool {
	base := filepath.Base(p)
	if strings.HasPrefix(base, atomicfile.TempPrefix) || base == ".git" || f.files[p] {
		return true
	}
	for _, d := range f.state {
		if p == d || strings.HasPrefix(p, d+string(filepath.Separator)) {
			return true
		}
	}
	for _, mf := range f.manifests {
		rel, ok := relSlash(mf.dir, p)
		if !ok {
			continue
		}
		for _, g := range mf.outputs {
			if match(g, rel) {
				return true
			}
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
		if f.inputs[p] || f.source(p) {
			out = append(out, p)
		}
	}
	return out
}

func (f *watchFilter) source(p string) bool {
	for _, mf := range f.manifests {
		rel, ok := relSlash(mf.dir, p)
		if !ok {
			continue
		}
		for _, src := range mf.sources {
			if slices.ContainsFunc(src.Paths, func(g string) bool { return globMatch(mf.dir, g, p, rel) }) &&
				!slices.ContainsFunc(src.Exclude, func(g string) bool { return match(g, rel) || match(g, filepath.Base(p)) }) {
				return true
			}
		}
	}
	return false
}

func globMatch(dir, glob, abs, rel string) bool {
	if filepath.IsAbs(glob) {
		return match(filepath.ToSlash(filepath.Clean(glob)), filepath.ToSlash(abs))
	}
	return match(filepath.ToSlash(filepath.Clean(glob)), rel)
}

func match(glob, name string) bool {
	ok, _ := doublestar.Match(glob, name)
	return ok
}

func relSlash(dir, p string) (string, bool) {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

func howMany(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
