package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

func (a *app) checkCmd() *cobra.Command {
	var (
		schemaRef string
		formatArg string
		verbose   bool
	)
	cmd := &cobra.Command{
		Use:   "check -s SCHEMA.cue#Def FILE...",
		Short: "Check files against a CUE schema, record by record",
		Long: `Check validates every record of each file against a CUE definition, like
cue vet, but record by record: each invalid record is reported on its own
line with its file, line and column, the CUE path, the violated constraint
and the constraint's position in the schema. Nothing is written.

Exit status: 0 when every record is valid, 1 when any is not, 2 for a usage
or schema error.`,
		Example: `  zpipe check -s schemas/user.cue#User data/users/*.json
  zpipe check -s schemas/user.cue#User --format ndjson events.log`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if schemaRef == "" {
				return usageError{errors.New("check needs a schema: -s file.cue#Definition")}
			}
			if len(args) == 0 {
				return usageError{errors.New("check needs at least one file to check")}
			}
			var forced format.Format
			if formatArg != "" && formatArg != "auto" {
				f, err := format.Parse(formatArg)
				if err != nil {
					return usageError{err}
				}
				forced = f
			}
			spec, err := schema.ParseSpec(schemaRef)
			if err != nil {
				return usageError{err}
			}
			// CUE runs in a child process, so that Ctrl-C stops it.
			sch, err := schema.Load(spec, schema.Isolated())
			if err != nil {
				return usageError{err}
			}
			defer sch.Close()
			if verbose {
				if on, why := sch.FastPath(); on {
					a.log.Info("checking with the compiled fast path; invalid records are checked again by CUE for its message")
				} else {
					a.log.Info("checking with CUE's evaluator: the fast path does not cover " + why)
				}
			}
			// check has nothing to save: the first Ctrl-C stops it.
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() {
				select {
				case <-a.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			var records, failed, files int
			report := func(e engine.RecordError) { fmt.Fprintln(a.stdout, e.Error()) }
			for _, file := range args {
				f := forced
				var n, bad int
				var err error
				if file == pipeline.Stdin {
					in := bufio.NewReaderSize(a.stdin, 64<<10)
					if f == "" {
						head, _ := in.Peek(4096)
						var ok bool
						if f, ok = format.Detect("", head); !ok {
							a.log.Error("standard input: cannot tell its format from its content; say it with --format")
							failed++
							continue
						}
					}
					files++
					n, bad, err = engine.Check(ctx, sch, in, "<stdin>", f, format.DefaultLimits, report)
				} else {
					if f == "" {
						if f, err = engine.DetectFile(file); err != nil {
							a.log.Error(fmt.Sprintf("%s: %v", file, err))
							failed++
							continue
						}
					}
					files++
					n, bad, err = engine.CheckFile(ctx, sch, file, filepath.Clean(file), f, format.DefaultLimits, report)
				}
				records += n
				failed += bad
				if err != nil && ctx.Err() != nil {
					return exitError{130}
				}
				var fe *format.Error
				if err != nil && !errors.As(err, &fe) {
					a.log.Error(fmt.Sprintf("%s: %v", file, err))
					failed++
				}
			}
			a.log.Info(fmt.Sprintf("checked %d records in %d files: %d invalid", records, files, failed))
			if failed > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&schemaRef, "schema", "s", "", "the schema: file.cue#Definition, or file.cue for the whole file")
	cmd.Flags().StringVar(&formatArg, "format", "auto", "the files' format: auto, "+format.Names())
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "say whether the compiled fast path checks the records, or which construct keeps it off")
	return cmd
}
