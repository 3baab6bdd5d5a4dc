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
	)
	cmd := &cobra.Command{
		Use:   "run MANIFEST",
		Short: "Run a pipeline: check every record and write the outputs",
		Long: `Run reads every source of every stage, checks each record against the
stage's CUE schema, writes valid records (with the schema's defaults filled
in) to each output, and invalid ones to the rejects file with the reason.

Stages run in dependency order. Each output file is replaced atomically once
its stage has finished, so readers never see half a file.

Exit status: 0 when every record was valid and written, 1 when some records
or files failed, 2 when the manifest or a schema is wrong (nothing ran), 130
when interrupted.`,
		Example: `  zpipe run pipeline.yaml
  zpipe run --json pipeline.yaml | jq .failed`,
		Args: exactArgs(1, "a manifest"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []pipeline.LoadOption
			if outRoot != "" {
				opts = append(opts, pipeline.OutRoot(outRoot))
			}
			m, err := pipeline.Load(args[0], opts...)
			if err != nil {
				return err
			}
			plan, err := pipeline.Compile(m)
			if err != nil {
				return err
			}
			sum, err := engine.Run(cmd.Context(), plan, engine.Options{
				StateDir: stateDir,
				OutRoot:  outRoot,
				OnEvent:  a.logEvent,
			})
			if err != nil {
				return err
			}
			if jsonOut {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(sum); err != nil {
					return err
				}
			} else {
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
	return cmd
}

// exactArgs is cobra.ExactArgs with a message that names what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("%s takes %s, got %d arguments; see zpipe %s --help", cmd.CommandPath(), what, len(args), cmd.Name())}
		}
		return nil
	}
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
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.Status, s.Items, s.Records, s.OK, s.Failed, round(s.Duration))
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
