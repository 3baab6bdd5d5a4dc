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

// checkFlags are zpipe check's flags.
type checkFlags struct {
	schemaRef string
	formatArg string
	verbose   bool
}

func (a *app) checkCmd() *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check -s SCHEMA.cue#Def FILE...|-",
		Short: "Check files against a CUE schema, record by record",
		Long: `Check validates every record of each file against a CUE definition, like
cue vet, but record by record: each invalid record is reported on its own
line with its file, line and column, the CUE path, the violated constraint
and the constraint's position in the schema. Nothing is written. A file
named - is standard input.

Exit status: 0 when every record is valid, 1 when any is not, 2 for a usage
or schema error.`,
		Example: `  zpipe check -s schemas/user.cue#User data/users/*.json
  zpipe check -s schemas/user.cue#User --format ndjson events.log
  zcat users.ndjson.gz | zpipe check -s schemas/user.cue#User -`,
		RunE: func(cmd *cobra.Command, args []string) error { return a.check(cmd.Context(), args, f) },
	}
	cmd.Flags().StringVarP(&f.schemaRef, "schema", "s", "", "the schema: file.cue#Definition, or file.cue for the whole file")
	cmd.Flags().StringVar(&f.formatArg, "format", "auto", "the files' format: auto, "+format.Names())
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "say whether the compiled fast path checks the records, or which construct keeps it off")
	return cmd
}

// check checks each file and says how many records were invalid.
func (a *app) check(ctx context.Context, args []string, f *checkFlags) error {
	if f.schemaRef == "" {
		return usageError{errors.New("check needs a schema: -s file.cue#Definition")}
	}
	if len(args) == 0 {
		return usageError{errors.New("check needs at least one file to check")}
	}
	var forced format.Format
	if f.formatArg != "" && f.formatArg != "auto" {
		ft, err := format.Parse(f.formatArg)
		if err != nil {
			return usageError{err}
		}
		forced = ft
	}
	spec, err := schema.ParseSpec(f.schemaRef)
	if err != nil {
		return usageError{err}
	}
	// CUE runs in a child process, so that Ctrl-C stops it.
	sch, err := schema.Load(spec, schema.Isolated())
	if err != nil {
		return usageError{err}
	}
	defer sch.Close()
	if f.verbose {
		if on, why := sch.FastPath(); on {
			a.log.Info("checking with the compiled fast path; invalid records are checked again by CUE for its message")
		} else {
			a.log.Info("checking with CUE's evaluator: the fast path does not cover " + why)
		}
	}
	// check has nothing to save: the first Ctrl-C stops it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var records, failed, files int
	for _, file := range args {
		n, bad, err := a.checkOne(ctx, sch, file, forced)
		records += n
		failed += bad
		if n > 0 || err == nil || errors.As(err, new(*format.Error)) {
			files++
		}
		if err != nil && ctx.Err() != nil {
			return exitError{130}
		}
		if err != nil && !errors.As(err, new(*format.Error)) {
			a.log.Error(err.Error())
			failed++
		}
	}
	a.log.Info(fmt.Sprintf("checked %d records in %d files: %d invalid", records, files, failed))
	if failed > 0 {
		return exitError{1}
	}
	return nil
}

// checkOne checks one file, or standard input for -, in format f or the
// one its name or content tells; invalid records go to stdout.
func (a *app) checkOne(ctx context.Context, sch *schema.Schema, file string, f format.Format) (records, failed int, err error) {
	report := func(e engine.RecordError) { fmt.Fprintln(a.stdout, e.Error()) }
	if file != pipeline.Stdin {
		if f == "" {
			if f, err = engine.DetectFile(file); err != nil {
				return 0, 0, fmt.Errorf("%s: %w", file, err)
			}
		}
		records, failed, err = engine.CheckFile(ctx, sch, file, filepath.Clean(file), f, format.DefaultLimits, report)
		if err != nil && !errors.As(err, new(*format.Error)) {
			err = fmt.Errorf("%s: %w", file, err)
		}
		return records, failed, err
	}
	in := bufio.NewReaderSize(a.stdin, 64<<10)
	if f == "" {
		head, _ := in.Peek(4096)
		var ok bool
		if f, ok = format.Detect("", head); !ok {
			return 0, 0, errors.New("standard input: cannot tell its format from its content; say it with --format")
		}
	}
	return engine.Check(ctx, sch, in, "<stdin>", f, format.DefaultLimits, report)
}
