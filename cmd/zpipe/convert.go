package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/internal/atomicfile"
	"github.com/zpipe/zpipe/pipeline"
)

// convertFlags are zpipe convert's flags.
type convertFlags struct {
	schemaRef, from, to, out, rejects string
	refs                              map[string]string
	whole, verbose                    bool
}

func (a *app) convertCmd() *cobra.Command {
	f := &convertFlags{}
	cmd := &cobra.Command{
		Use:   "convert [-s SCHEMA.cue#Def] [--to FORMAT] [-o OUT] FILE...|-",
		Short: "Convert files from one format to another, optionally checking them",
		Long: `Convert reads records from each file (or standard input for -), in the
format their names or contents say or --from says, and writes them all, in
order, to one output: standard output, or -o's file, in the format --to
or -o's extension names (ndjson by default). Files ending in .gz or .zst
are read and written through gzip or zstd.

With -s, every record is checked against the schema and written with its
defaults filled in; an invalid record is not written, and goes to stderr as
one positioned line, or with --rejects to that file as a rejects entry
(ndjson, as a stage's rejects file). Records stream through: a batch is all
convert holds, whatever the input's size. -o's file is replaced whole, or
not at all, even when convert is stopped.

Exit status: 0 when every record was written, 1 when any was invalid or an
input was malformed, 2 for a usage or schema error, 130 when interrupted.`,
		Example: `  zpipe convert users.yaml                             # ndjson on stdout
  zpipe convert --to csv -o users.csv data/*.json
  zpipe convert -s user.cue#User --rejects bad.ndjson -o users.ndjson.gz data/*.yaml
  zcat big.ndjson.gz | zpipe convert --from ndjson --to csv - > big.csv`,
		RunE: func(cmd *cobra.Command, args []string) error { return a.convert(cmd.Context(), args, f) },
	}
	cmd.Flags().StringVarP(&f.schemaRef, "schema", "s", "", "check each record against this schema (file.cue#Definition, or a JSON Schema file.json) and fill in its defaults")
	schemaRefFlag(cmd, &f.refs)
	cmd.Flags().StringVar(&f.from, "from", "auto", "the inputs' format: auto (by name, then content), "+format.Names())
	cmd.Flags().StringVar(&f.to, "to", "", "the output's format: "+format.Names()+" (default: -o's extension, else ndjson)")
	cmd.Flags().StringVarP(&f.out, "output", "o", "", "write to this file rather than standard output (- for standard output, with --to); .gz or .zst compresses it")
	cmd.Flags().StringVar(&f.rejects, "rejects", "", "write invalid records to this file (ndjson, with their errors) rather than to stderr; - is standard output")
	cmd.Flags().BoolVar(&f.whole, "whole", false, "a json file whose top level is a list is one record, not one per element")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "with -s, say whether the compiled fast path checks the records")
	return cmd
}

// convert writes every input's records into the one output.
func (a *app) convert(ctx context.Context, args []string, f *convertFlags) error {
	if len(args) == 0 {
		return usageError{errors.New("convert needs at least one file to read, or - for standard input")}
	}
	from, err := parseFrom(f.from)
	if err != nil {
		return err
	}
	to, err := outputFormat(f.to, f.out)
	if err != nil {
		return err
	}
	out := f.out
	if out == pipeline.Stdin {
		out = "" // -o - is standard output, as with cue export
	}
	rejects := f.rejects
	if rejects == pipeline.Stdin {
		if out == "" {
			return usageError{errors.New("-o and --rejects are both standard output; name a file for one of them")}
		}
		rejects = "" // --rejects - is standard output, as -o - is
	}
	if err := notAnInput(args, out, rejects); err != nil {
		return err
	}
	conv := &engine.Converter{To: to, Limits: format.DefaultLimits}
	conv.Limits.Whole = f.whole
	ctx, cancel := a.stopOnSignal(ctx)
	defer cancel()
	if f.schemaRef != "" {
		sch, err := a.loadSchema(ctx, f.schemaRef, f.refs, f.verbose)
		if err != nil {
			if ctx.Err() != nil {
				return exitError{130}
			}
			return err
		}
		defer sch.Close()
		conv.Schema = sch
	}
	if f.rejects == "" {
		conv.Report = func(e engine.RecordError) { fmt.Fprintln(a.stderr, e.Error()) }
	}
	inputs, unreadable := 0, 0
	convertAll := func() error {
		for _, file := range args {
			in, err := a.openInput(file, from)
			if err == nil {
				if err = conv.Convert(ctx, in.r, in.name, in.format); err != nil {
					err = fmt.Errorf("%s: %w", in.name, err)
				}
				in.close()
			}
			switch {
			case ctx.Err() != nil:
				return exitError{130}
			case errors.As(err, new(*engine.SinkError)):
				return err // the output failed; nothing after can be written
			case errors.As(err, new(unreadableError)):
				a.log.Error(err.Error())
				unreadable++
			case err != nil && !errors.As(err, new(*format.Error)):
				a.log.Error(err.Error())
				conv.Tally.Failed++
			default:
				inputs++
			}
		}
		return nil
	}
	err = a.writeOutput(out, to, conv, func() error {
		writeRejects := func(w io.Writer) error {
			conv.Rejects, _ = format.NewEncoder(format.NDJSON, w, format.EncodeOptions{})
			if err := convertAll(); err != nil {
				return err
			}
			return conv.Rejects.Close()
		}
		switch {
		case f.rejects == "":
			return convertAll()
		case rejects == "":
			return writeRejects(a.stdout)
		}
		return atomicfile.Write(rejects, writeRejects)
	})
	if err != nil {
		return err
	}
	t := conv.Tally
	summary := fmt.Sprintf("converted %s from %s: %d written, %d invalid", plural(t.Records, "record"), plural(inputs, "input"), t.OK, t.Failed)
	if unreadable > 0 {
		summary += fmt.Sprintf("; %s could not be read", plural(unreadable, "input"))
	}
	a.log.Info(summary)
	if t.Failed > 0 || unreadable > 0 {
		return exitError{1}
	}
	return nil
}

// writeOutput gives conv an encoder of format to that writes to out, or
// to stdout when out is "", and runs fill. A file is replaced only when
// fill returns nil.
func (a *app) writeOutput(out string, to format.Format, conv *engine.Converter, fill func() error) error {
	write := func(w io.Writer) error {
		cw, err := format.Compress(format.CompressionOf(out), w)
		if err != nil {
			return err
		}
		opts := format.EncodeOptions{}
		if conv.Schema != nil {
			opts.Columns = conv.Schema.Columns()
		}
		if conv.Out, err = format.NewEncoder(to, cw, opts); err != nil {
			return err
		}
		if err := fill(); err != nil {
			return err
		}
		if err := conv.Out.Close(); err != nil {
			return err
		}
		return cw.Close()
	}
	if out == "" {
		return write(a.stdout)
	}
	return atomicfile.Write(out, write)
}

// outputFormat is --to's format, or the one -o's extension names, or
// ndjson.
func outputFormat(to, out string) (format.Format, error) {
	if to != "" {
		f, err := format.Parse(to)
		if err != nil {
			return "", usageError{fmt.Errorf("--to %q: use %s", to, format.Names())}
		}
		return f, nil
	}
	if out == "" {
		return format.NDJSON, nil
	}
	if out == pipeline.Stdin {
		return "", usageError{errors.New("-o - writes to standard output, which has no extension to name a format; say which with --to")}
	}
	if f, ok := format.Detect(out, nil); ok {
		return f, nil
	}
	return "", usageError{fmt.Errorf("-o %s: its extension names no format; say which with --to", out)}
}

// notAnInput refuses an output that is one of the inputs, which convert
// would replace as it reads it, or a folder.
func notAnInput(inputs []string, outs ...string) error {
	for _, out := range outs {
		if out == "" {
			continue
		}
		oi, err := os.Stat(out)
		if err != nil {
			continue
		}
		if oi.IsDir() {
			return usageError{fmt.Errorf("%s is a folder; convert writes one file", out)}
		}
		for _, in := range inputs {
			if in == pipeline.Stdin {
				continue
			}
			if ii, err := os.Stat(in); err == nil && os.SameFile(oi, ii) {
				return usageError{fmt.Errorf("%s is both an input and an output; convert would replace what it reads", out)}
			}
		}
	}
	if len(outs) == 2 && outs[0] != "" && outs[1] != "" && samePath(outs[0], outs[1]) {
		return usageError{fmt.Errorf("-o and --rejects are both %s", outs[0])}
	}
	return nil
}

// samePath says whether two paths name one file: the same absolute path,
// or, when both exist, the same file (through a link, say).
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}
