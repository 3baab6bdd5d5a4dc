package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

// runFlags are the flags run and resume share.
type runFlags struct {
	jsonOut    bool
	report     string
	stages     []string
	force      bool
	outRoot    string
	stateDir   string
	progress   string
	interval   time.Duration
	provenance string
	keepRuns   int
	// watch and debounce are for zpipe watch and run --watch.
	watch    bool
	debounce time.Duration
	// dryRun makes run print the plan instead, as zpipe plan does.
	dryRun bool
	dist   distFlags
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.jsonOut, "json", false, "print the summary as JSON")
	cmd.Flags().StringVar(&f.report, "format", "text", "how to report invalid records: text (log lines) or github (also GitHub Actions annotations on their files and lines, on stdout)")
	cmd.Flags().BoolVar(&f.force, "force", false, "redo every item, ignoring what earlier runs finished")
	cmd.Flags().StringVar(&f.outRoot, "out-root", "", "let outputs go anywhere under this folder (default: the manifest's folder)")
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "folder for the journal, saved parts and run records (default: .zpipe beside the manifest)")
	cmd.Flags().StringVar(&f.progress, "progress", "auto", "how to show progress: "+progressModes+" (auto: a bar on a terminal, else a line every --progress-interval)")
	cmd.Flags().DurationVar(&f.interval, "progress-interval", 5*time.Second, "how often --progress=lines prints")
	cmd.Flags().StringVar(&f.provenance, "provenance", "", "also write the run's provenance to this file, or to stdout with -")
	cmd.Flags().IntVar(&f.keepRuns, "keep-runs", engine.DefaultKeepRuns, "run records (provenance) to keep in the state folder, the newest; -1 keeps all")
	cmd.Flags().DurationVar(&f.debounce, "debounce", 200*time.Millisecond, "with --watch: how long a changed file must be quiet before a rerun")
	f.dist.register(cmd)
}

func (a *app) runCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run MANIFEST...",
		Short: "Run a pipeline: check every record and write the outputs",
		Long: `Run reads every source of every stage, checks each record against the
stage's CUE schema, writes valid records (with the schema's defaults filled
in) to each output, and invalid ones to the rejects file with the reason.

Stages run in dependency order; stages that are ready together run by
priority, at most limits.max_concurrent_stages at a time. Several manifests
run as one schedule, ordered by each manifest's priority. Each output file is
replaced atomically once its stage has finished, so readers never see half a
file.

Ctrl-C (or SIGTERM) stops starting new work and lets work in flight finish
within --grace; a second Ctrl-C stops at once. Either way no output is half
written, and stages that did not finish keep their old outputs.

Exit status: 0 when every record was valid and written, 1 when some records
or files failed, 2 when the manifest or a schema is wrong (nothing ran), 130
when interrupted.`,
		Example: `  zpipe run pipeline.yaml
  zpipe run --json pipeline.yaml | jq .failed
  zpipe run --progress=json pipeline.yaml > events.ndjson
  zpipe run nightly.yaml adhoc.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.watch:
				return a.watch(cmd, args, f)
			case f.dryRun:
				return a.plan(cmd, args, &planFlags{outRoot: f.outRoot, stateDir: f.stateDir})
			}
			return a.run(cmd, args, f)
		},
	}
	f.register(cmd)
	stageFlag(cmd, &f.stages)
	manifestArgs(cmd)
	cmd.Flags().BoolVar(&f.watch, "watch", false, "after the run, watch the manifest, schemas and sources and rerun what a change affects (as zpipe watch)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print what would run and why, and write nothing (as zpipe plan)")
	return cmd
}

// loadPlans loads and compiles each manifest; the first that fails stops.
func loadPlans(files []string, outRoot string) ([]*pipeline.Plan, error) {
	var opts []pipeline.LoadOption
	if outRoot != "" {
		opts = append(opts, pipeline.OutRoot(outRoot))
	}
	var plans []*pipeline.Plan
	for _, file := range files {
		m, err := pipeline.Load(file, opts...)
		if err != nil {
			return nil, err
		}
		plan, err := pipeline.Compile(m)
		if err != nil {
			return nil, err
		}
		plans = append(plans, plan)
	}
	return plans, nil
}

// run loads, compiles and runs the manifests, then reports.
func (a *app) run(cmd *cobra.Command, args []string, f *runFlags) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("%s takes one or more manifests; see zpipe %s --help", cmd.Name(), cmd.Name())}
	}
	if f.keepRuns == 0 || f.keepRuns < -1 {
		return usageError{fmt.Errorf("--keep-runs %d: keep at least 1 run record, or -1 for all of them", f.keepRuns)}
	}
	onEvent, err := a.eventReporter(f.report)
	if err != nil {
		return err
	}
	plans, err := loadPlans(args, f.outRoot)
	if err != nil {
		return err
	}
	if plans, err = narrow(plans, f.stages); err != nil {
		return err
	}
	prog, err := newProgress(f.progress, a.stdout, a.stderr, f.interval)
	if err != nil {
		return err
	}
	ex, dist, err := a.executor(&f.dist, plans)
	if err != nil {
		return err
	}
	defer dist.close()
	if dist != nil {
		prog.workers = dist.workers
	}
	sum, err := engine.RunAll(cmd.Context(), plans, engine.Options{
		Executor:   ex,
		StateDir:   f.stateDir,
		KeepRuns:   f.keepRuns,
		Force:      f.force,
		Stdin:      a.stdin,
		Stop:       a.stop,
		OnEvent:    onEvent,
		OnProgress: prog.handle,
	})
	progErr := prog.close()
	var stopped *engine.InterruptedError
	if errors.As(err, &stopped) {
		a.log.Warn(stopped.Error())
		return exitError{130}
	}
	if err != nil {
		return err
	}
	if by := dist.workers(); by != "" {
		a.log.Info("items by worker: " + by)
	}
	if progErr != nil {
		a.log.Error("writing the progress events: " + progErr.Error())
	}
	// A run record that cannot be written is said after the summary,
	// as a progress stream that cannot be: the run's work is saved.
	var provErr error
	if f.provenance != "" {
		if provErr = a.writeProvenance(f.provenance, sum); provErr != nil {
			a.log.Error("writing the provenance: " + provErr.Error())
		}
	}
	switch {
	case prog.mode == "json" && f.jsonOut:
		line, _ := json.Marshal(struct {
			Type string `json:"type"`
			*engine.Summary
		}{"summary", sum})
		fmt.Fprintf(a.stdout, "%s\n", line)
	case prog.mode == "json" || f.provenance == "-":
	case f.jsonOut:
		enc := json.NewEncoder(a.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return err
		}
	default:
		printSummary(a.stdout, sum)
	}
	code := sum.ExitCode()
	if code == 0 && (progErr != nil || provErr != nil) {
		code = 1
	}
	if code != 0 {
		if sum.Interrupted {
			a.log.Warn("interrupted: finished items are saved; zpipe resume (or run) picks up where this run stopped")
		}
		return exitError{code}
	}
	return nil
}

func (a *app) logEvent(e engine.Event) {
	switch e.Kind {
	case engine.StageStarted:
		a.log.Debug(e.Msg)
	case engine.Warning, engine.ErrorsElided:
		a.log.Warn(e.Msg)
	case engine.StagePlanned, engine.Resuming:
		a.log.Info(e.Msg)
	case engine.RecordFailed:
		a.log.Error(e.Msg)
	case engine.StageFinished:
		if e.Summary.Error != "" {
			a.log.Error("stage " + e.Stage + ": " + e.Summary.Error)
		}
	}
}

// eventReporter is what hears a run's events: the log, and with
// --format github also annotations for the Actions runner, on the files
// of the records as the runner sees them, relative to where zpipe runs.
func (a *app) eventReporter(mode string) (func(engine.Event), error) {
	switch mode {
	case "text":
		return a.logEvent, nil
	case "github":
	default:
		return nil, usageError{fmt.Errorf("--format %q: use text or github", mode)}
	}
	gh, _ := newRecordFindings(a.stdout, "github")
	cwd, _ := os.Getwd()
	return func(e engine.Event) {
		a.logEvent(e)
		switch {
		case e.Kind == engine.RecordFailed && e.Err != nil:
			re := *e.Err
			if e.Manifest != "" && re.Source != "<stdin>" {
				if rel, err := filepath.Rel(cwd, filepath.Join(filepath.Dir(e.Manifest), re.Source)); err == nil {
					re.Source = filepath.ToSlash(rel)
				}
			}
			gh.report(re)
		case e.Kind == engine.StageFinished && e.Summary.Error != "":
			fmt.Fprintf(a.stdout, "::error title=zpipe::%s\n", ghEscape("stage "+e.Stage+": "+e.Summary.Error, false))
		}
	}, nil
}

func printSummary(w io.Writer, sum *engine.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tstatus\titems\trecords\tok\tfailed\ttime")
	for _, s := range sum.Stages {
		name := s.Name
		if s.Pipeline != "" {
			name = s.Pipeline + "/" + s.Name
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", name, s.Status, s.Items, s.Records, s.OK, s.Failed, round(s.Duration))
	}
	tw.Flush()
	fmt.Fprintf(w, "total: %s, %d ok, %d failed in %s\n", plural(sum.Records, "record"), sum.OK, sum.Failed, round(sum.Duration))
	for _, s := range sum.Stages {
		if s.Rejects != "" && s.Rejected > 0 {
			fmt.Fprintf(w, "rejects: %s (%d)\n", s.Rejects, s.Rejected)
		}
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
