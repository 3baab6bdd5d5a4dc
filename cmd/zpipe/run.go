package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

func (a *app) runCmd() *cobra.Command {
	var (
		jsonOut  bool
		outRoot  string
		stateDir string
		progress string
		interval time.Duration
	)
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
			if len(args) == 0 {
				return usageError{fmt.Errorf("run takes one or more manifests; see zpipe run --help")}
			}
			var opts []pipeline.LoadOption
			if outRoot != "" {
				opts = append(opts, pipeline.OutRoot(outRoot))
			}
			var plans []*pipeline.Plan
			for _, file := range args {
				m, err := pipeline.Load(file, opts...)
				if err != nil {
					return err
				}
				plan, err := pipeline.Compile(m)
				if err != nil {
					return err
				}
				plans = append(plans, plan)
			}
			prog, err := newProgress(progress, a.stdout, a.stderr, interval)
			if err != nil {
				return err
			}
			sum, err := engine.RunAll(cmd.Context(), plans, engine.Options{
				StateDir:   stateDir,
				OutRoot:    outRoot,
				Stop:       a.stop,
				OnEvent:    a.logEvent,
				OnProgress: prog.handle,
			})
			prog.close()
			if err != nil {
				return err
			}
			switch {
			case prog.mode == "json" && jsonOut:
				line, _ := json.Marshal(struct {
					Type string `json:"type"`
					*engine.Summary
				}{"summary", sum})
				fmt.Fprintf(a.stdout, "%s\n", line)
			case prog.mode == "json":
			case jsonOut:
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return err
				}
			default:
				printSummary(a.stdout, sum)
			}
			if code := sum.ExitCode(); code != 0 {
				if sum.Interrupted {
					a.log.Warn("interrupted: outputs of unfinished stages were left as they were")
				}
				return exitError{code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the summary as JSON")
	cmd.Flags().StringVar(&outRoot, "out-root", "", "let outputs go anywhere under this folder (default: the manifest's folder)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "folder for zpipe's working files (default: .zpipe beside the manifest)")
	cmd.Flags().StringVar(&progress, "progress", "auto", "how to show progress: "+progressModes+" (auto: a bar on a terminal, else a line every --progress-interval)")
	cmd.Flags().DurationVar(&interval, "progress-interval", 5*time.Second, "how often --progress=lines prints")
	return cmd
}

func (a *app) logEvent(e engine.Event) {
	switch e.Kind {
	case engine.StageStarted:
		a.log.Debug(e.Msg)
	case engine.Warning, engine.ErrorsElided:
		a.log.Warn(e.Msg)
	case engine.RecordFailed:
		a.log.Error(e.Msg)
	case engine.StageFinished:
		if e.Summary.Error != "" {
			a.log.Error("stage " + e.Stage + ": " + e.Summary.Error)
		}
	}
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
	fmt.Fprintf(w, "total: %d records, %d ok, %d failed in %s\n", sum.Records, sum.OK, sum.Failed, round(sum.Duration))
	for _, s := range sum.Stages {
		if s.Rejects != "" && s.Failed > 0 {
			fmt.Fprintf(w, "rejects: %s (%d)\n", s.Rejects, s.Failed)
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
