package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/internal/journal"
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
	manifestArgs(cmd)
	cmd.Flags().Lookup("debounce").Usage = "how long a changed file must be quiet before a rerun"
	cmd.Flags().Lookup("json").Usage = "print each run's summary as one line of JSON"
	cmd.Flags().Duration("scan-interval", 2*time.Second, "how often to stat every watched file, to catch changes the OS did not report; 0 turns it off")
	return cmd
}

// watch runs the manifests, then reruns them on every quiet batch of
// changes until a.stop closes: engine.Watch does the work, and this prints
// what it reports.
func (a *app) watch(cmd *cobra.Command, args []string, f *runFlags) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("%s takes one or more manifests; see zpipe %s --help", cmd.Name(), cmd.Name())}
	}
	if _, err := newProgress(f.progress, a.stdout, a.stderr, 0); err != nil {
		return err
	}
	if f.report != "text" {
		return usageError{fmt.Errorf("--format %s is for run and resume; watch logs invalid records", f.report)}
	}
	p := &watchPrinter{a: a, f: f}
	for _, file := range args {
		abs, err := filepath.Abs(file)
		if err != nil {
			return err
		}
		p.files = append(p.files, abs)
	}
	scan := 2 * time.Second
	if fl := cmd.Flags().Lookup("scan-interval"); fl != nil {
		scan, _ = cmd.Flags().GetDuration("scan-interval")
	}
	var writes []string
	if f.provenance != "" && f.provenance != "-" {
		writes = append(writes, f.provenance)
	}
	plans, _ := loadPlans(args[:1], f.outRoot) // for the manifest's executor
	ex, dist, err := a.executor(&f.dist, plans)
	if err != nil {
		return err
	}
	defer dist.close()
	err = engine.Watch(cmd.Context(), engine.WatchOptions{
		Manifests: p.files,
		Load: func(file string) (*pipeline.Plan, error) {
			plans, err := loadPlans([]string{file}, f.outRoot)
			if err != nil {
				return nil, err
			}
			return plans[0], nil
		},
		Run:      engine.Options{Executor: ex, StateDir: f.stateDir, Force: f.force, Stdin: a.stdin, OnEvent: p.event},
		Debounce: f.debounce,
		Scan:     scan,
		Stop:     a.stop,
		Writes:   writes,
		Progress: func() (func(engine.Progress), func()) {
			prog, _ := newProgress(f.progress, a.stdout, a.stderr, f.interval)
			if dist != nil {
				prog.workers = dist.workers
			}
			return prog.handle, func() {
				if err := prog.close(); err != nil {
					a.log.Error("writing the progress events: " + err.Error())
				}
			}
		},
		Notify: p.notify,
	})
	if errors.Is(err, engine.ErrWatchForced) {
		return exitError{130}
	}
	return err
}

// watchPrinter says what a watch session does: a line with the time for
// each change and each run, warnings on stderr.
type watchPrinter struct {
	a     *app
	f     *runFlags
	files []string // the manifests, absolute
}

func (p *watchPrinter) notify(e engine.WatchEvent) {
	a := p.a
	switch e.Kind {
	case engine.WatchLoadFailed:
		a.printError(e.Err)
		if e.Kept {
			a.log.Warn("keeping the last good plan of " + p.rel(e.Paths[0]) + " until the manifest is fixed")
		}
	case engine.WatchWaiting:
		a.log.Warn("waiting for " + p.rel(e.Paths[0]) + " to be fixed")
	case engine.WatchReloading:
		p.say("%s changed; reloading", p.rel(e.Paths[0]))
	case engine.WatchChanged:
		p.say("%s", p.describe(e.Paths))
	case engine.WatchDeleted:
		p.say("%s was deleted", p.rel(e.Paths[0]))
	case engine.WatchRestarting:
		p.say("%s; stopping the run to start again", p.describe(e.Paths))
	case engine.WatchBusy:
		var busy *journal.BusyError
		errors.As(e.Err, &busy)
		a.log.Warn(fmt.Sprintf("state folder %s is in use by another zpipe (pid %s); trying again in %s", busy.Dir, busy.Owner, e.Wait))
	case engine.WatchRunFailed:
		a.printError(e.Err)
		a.log.Warn("waiting for a change")
	case engine.WatchRunDone:
		p.report(e)
	case engine.WatchError:
		a.log.Warn("watch: " + e.Err.Error())
	}
}

// event logs what a run reports, minus what every rerun would repeat.
func (p *watchPrinter) event(e engine.Event) {
	switch {
	case e.Kind == engine.Resuming, e.Idle():
		p.a.log.Debug(e.Msg)
	default:
		p.a.logEvent(e)
	}
}

// report prints one run's outcome: a line per stage that ran anything, and
// a total.
func (p *watchPrinter) report(e engine.WatchEvent) {
	sum, ran := e.Summary, e.Ran
	if p.f.provenance != "" {
		if err := p.a.writeProvenance(p.f.provenance, sum); err != nil {
			p.a.log.Error("provenance: " + err.Error())
		}
	}
	if sum.Interrupted {
		if e.Restart {
			p.say("stopped after %s; the next run redoes only the rest", howMany(ran, "item"))
		} else {
			p.say("stopped after %s; finished items are saved for the next run", howMany(ran, "item"))
		}
		return
	}
	if p.f.jsonOut {
		line, _ := json.Marshal(sum)
		fmt.Fprintf(p.a.stdout, "%s\n", line)
		return
	}
	var lines []string
	for _, st := range sum.Stages {
		n := st.Items - st.UpToDate
		if n == 0 && !e.Active[st.Name] && (st.Status == engine.StatusOK || st.Status == engine.StatusFailed) {
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
		p.say("%s in %s", lines[0], took)
		return
	}
	for _, l := range lines {
		p.say("%s", l)
	}
	p.say("total %s run, %d up to date in %s", howMany(ran, "item"), sum.UpToDate, took)
}

// say prints a line with the time, so that a scrolling terminal shows
// which run is which.
func (p *watchPrinter) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.f.jsonOut {
		// stdout is for the summaries, one JSON line per run.
		p.a.log.Info(msg)
		return
	}
	fmt.Fprintf(p.a.stdout, "[%s] %s\n", time.Now().Format("15:04:05"), msg)
}

// describe names changed files, a few at most.
func (p *watchPrinter) describe(paths []string) string {
	const most = 3
	var names []string
	for _, f := range paths[:min(len(paths), most)] {
		names = append(names, p.rel(f))
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
func (p *watchPrinter) rel(path string) string {
	for _, f := range p.files {
		if r, err := filepath.Rel(filepath.Dir(f), path); err == nil && !strings.HasPrefix(r, "..") {
			return filepath.ToSlash(r)
		}
	}
	return path
}

func howMany(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
