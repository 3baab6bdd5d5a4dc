package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// checkFlags are zpipe check's flags.
type checkFlags struct {
	schemaRef string
	refs      map[string]string
	from      string
	report    string
	jsonOut   bool
	whole     bool
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
named - is standard input; gzip and zstd files are read through.

Exit status: 0 when every record is valid, 1 when any is not, 2 for a usage
or schema error.`,
		Example: `  zpipe check -s schemas/user.cue#User data/users/*.json
  zpipe check -s schemas/user.cue#User --from ndjson events.log
  zcat users.ndjson.gz | zpipe check -s schemas/user.cue#User -
  zpipe check -s schemas/user.cue#User --format github data/*.json   # in GitHub Actions`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("format") {
				if ft, err := format.Parse(f.report); err == nil && ft != format.JSON {
					// --format once named the input's format.
					return usageError{fmt.Errorf("--format %s: --format says how to print findings (%s); the input's format is --from %s", f.report, findingFormats, f.report)}
				}
				if f.jsonOut && f.report != "json" {
					return usageError{fmt.Errorf("--json and --format %s disagree", f.report)}
				}
			}
			if f.jsonOut {
				f.report = "json"
			}
			return a.check(cmd.Context(), args, f)
		},
	}
	cmd.Flags().StringVarP(&f.schemaRef, "schema", "s", "", "the schema: file.cue#Definition, file.cue for the whole file, or a JSON Schema file.json")
	schemaRefFlag(cmd, &f.refs)
	cmd.Flags().StringVar(&f.from, "from", "auto", "the files' format: auto (by name, then content), "+format.Names())
	cmd.Flags().StringVar(&f.report, "format", "text", "how to print findings: "+findingFormats+" (GitHub Actions annotations)")
	cmd.Flags().BoolVar(&f.jsonOut, "json", false, "print the findings as a JSON array (same as --format json)")
	cmd.Flags().BoolVar(&f.whole, "whole", false, "a json file whose top level is a list is one record, not one per element")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "say whether the compiled fast path checks the records, and which values, or constructs, it leaves to CUE")
	return cmd
}

// check checks each file and says how many records were invalid.
func (a *app) check(ctx context.Context, args []string, f *checkFlags) error {
	if f.schemaRef == "" {
		return usageError{errors.New("check needs a schema: -s file.cue#Definition")}
	}
	if len(args) == 0 {
		return usageError{errors.New("check needs at least one file to check, or - for standard input")}
	}
	forced, err := parseFrom(f.from)
	if err != nil {
		return err
	}
	findings, err := newRecordFindings(a.stdout, f.report)
	if err != nil {
		return err
	}
	// check has nothing to save: the first Ctrl-C stops it, loading the
	// schema too.
	ctx, cancel := a.stopOnSignal(ctx)
	defer cancel()
	sch, err := a.loadSchema(ctx, f.schemaRef, f.refs, f.verbose)
	if err != nil {
		if ctx.Err() != nil {
			return exitError{130}
		}
		return err
	}
	defer sch.Close()
	lim := format.DefaultLimits
	lim.Whole = f.whole
	var records, failed, files, unreadable int
	for _, file := range args {
		n, bad, err := a.checkOne(ctx, sch, file, forced, lim, findings.report)
		records += n
		failed += bad
		if n > 0 || err == nil || errors.As(err, new(*format.Error)) {
			files++
		}
		if err != nil && ctx.Err() != nil {
			findings.close()
			return exitError{130}
		}
		switch {
		case errors.As(err, new(unreadableError)):
			a.log.Error(err.Error())
			unreadable++
		case err != nil && !errors.As(err, new(*format.Error)):
			a.log.Error(err.Error())
			failed++
		}
	}
	findings.close()
	summary := fmt.Sprintf("checked %s in %s: %d invalid", plural(records, "record"), plural(files, "file"), failed)
	if unreadable > 0 {
		summary += fmt.Sprintf("; %s could not be read", plural(unreadable, "file"))
	}
	a.log.Info(summary)
	if failed > 0 || unreadable > 0 {
		return exitError{1}
	}
	return nil
}

// slowCUE warns when CUE has evaluated what (schemas) for
// engine.SlowSchema and is not done, as a run does: a command that seems
// to hang says why. The func ends the watch.
func (a *app) slowCUE(what string) (done func()) {
	t := time.AfterFunc(engine.SlowSchema, func() { a.log.Warn(engine.SlowSchemaWarning(what)) })
	return func() { t.Stop() }
}

// loadSchema loads -s's schema, with CUE in a child process so that
// Ctrl-C stops it, and with -v says how it checks.
func (a *app) loadSchema(ctx context.Context, ref string, refs map[string]string, verbose bool) (*schema.Schema, error) {
	spec, err := schema.ParseSpec(ref)
	if err != nil {
		return nil, usageError{err}
	}
	cwd, _ := os.Getwd()
	done := a.slowCUE("the schema " + ref)
	sch, err := schema.Load(spec, schema.Isolated(), schema.WithRefs(refs), schema.WithDisplayPath(schema.DisplayRel(cwd)), schema.WithContext(ctx))
	done()
	if err != nil {
		return nil, usageError{err}
	}
	if verbose {
		native := sch.NativeChecks()
		if len(native) > 0 && native[0].Whole {
			a.log.Info("checking with zpipe's JSON Schema validator alone: " + native[0].Why)
			return sch, nil
		}
		if on, why := sch.FastPath(); on {
			a.log.Info("checking with the compiled fast path; invalid records are checked again by CUE for its message")
			for _, f := range sch.Fallbacks() {
				apart := ""
				if f.Apart {
					apart = " in a process of its own, since the value recurses"
				}
				a.log.Info(fmt.Sprintf("CUE's evaluator checks %s%s: the fast path does not cover %s", f.Path, apart, f.Why))
			}
		} else {
			a.log.Info("checking with CUE's evaluator: the fast path does not cover " + why)
		}
		for _, n := range native {
			a.log.Info("zpipe's JSON Schema validator checks what CUE accepts against " + n.Why)
		}
	}
	return sch, nil
}

// schemaRefFlag registers --schema-ref, which maps the URLs a JSON
// Schema's $refs name to local files or folders, as a manifest's
// schema_refs does.
func schemaRefFlag(cmd *cobra.Command, refs *map[string]string) {
	cmd.Flags().StringToStringVar(refs, "schema-ref", nil, "for a JSON Schema: where a $ref's URL is on disk, URL-PREFIX=FILE or =FOLDER/ (repeatable); zpipe never fetches")
}

// stopOnSignal returns a context that the first Ctrl-C cancels, for a
// command with nothing to save.
func (a *app) stopOnSignal(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-a.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// checkOne checks one file, or standard input for -, in format f or the
// one its name or content tells.
func (a *app) checkOne(ctx context.Context, sch *schema.Schema, file string, f format.Format, lim format.Limits, report func(engine.RecordError)) (records, failed int, err error) {
	in, err := a.openInput(file, f)
	if err != nil {
		return 0, 0, err
	}
	defer in.close()
	records, failed, err = engine.Check(ctx, sch, in.r, in.name, in.format, lim, report)
	if err != nil && !errors.As(err, new(*format.Error)) {
		err = fmt.Errorf("%s: %w", in.name, err)
	}
	return records, failed, err
}
