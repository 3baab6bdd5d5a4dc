package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/pipeline"
)

func (a *app) validateCmd() *cobra.Command {
	var (
		jsonOut   bool
		formatArg string
		strict    bool
		outRoot   string
	)
	cmd := &cobra.Command{
		Use:   "validate MANIFEST...",
		Short: "Check manifests without running them",
		Long: `Validate lints manifests: their shape, the schemas and transforms they name,
the stages' dependencies, and whether each output's format can hold what the
schema allows. Nothing runs and nothing is written, not even the state
folder. Each finding names the file, line and column of the manifest node it
is about.

A source glob that matches no file is a warning, unless another stage writes
a file it would match; so is a toml output of a field that allows null.

Exit status: 0 when there is no error (warnings are allowed unless
--strict), 1 when there is, 2 for a usage error.`,
		Example: `  zpipe validate pipeline.yaml
  zpipe validate --strict --format github pipelines/*.yaml
  zpipe validate --json pipeline.yaml | jq '.[].message'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("validate takes one or more manifests; see zpipe validate --help")}
			}
			if jsonOut {
				if cmd.Flags().Changed("format") && formatArg != "json" {
					return usageError{fmt.Errorf("--json and --format %s disagree; use one", formatArg)}
				}
				formatArg = "json"
			}
			write, ok := findingWriters[formatArg]
			if !ok {
				return usageError{fmt.Errorf("--format %q: use text, json or github", formatArg)}
			}
			var opts []pipeline.LoadOption
			if outRoot != "" {
				opts = append(opts, pipeline.OutRoot(outRoot))
			}
			// validate has nothing to save: the first Ctrl-C stops it.
			ctx, cancel := a.stopOnSignal(cmd.Context())
			defer cancel()
			var diags []pipeline.Diagnostic
			var loaded []*pipeline.Manifest
			for _, file := range args {
				a.log.Debug("validating " + file)
				done := a.slowCUE("the schemas of " + file)
				m, found := validate(ctx, file, opts)
				done()
				if ctx.Err() != nil {
					return exitError{130}
				}
				diags = append(diags, found...)
				if m != nil {
					loaded = append(loaded, m)
				}
			}
			diags = append(diags, across(loaded, diags)...)
			if err := write(a.stdout, diags); err != nil {
				return err
			}
			var errs, warns int
			for _, d := range diags {
				if d.Severity == pipeline.SeverityWarning {
					warns++
				} else {
					errs++
				}
			}
			a.log.Info(fmt.Sprintf("validated %s: %s, %s", plural(len(args), "manifest"), plural(errs, "error"), plural(warns, "warning")))
			if errs > 0 || strict && warns > 0 {
				return exitError{1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the findings as a JSON array (same as --format json)")
	cmd.Flags().StringVar(&formatArg, "format", "text", "how to print findings: text, json, or github (GitHub Actions annotations)")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too")
	cmd.Flags().StringVar(&outRoot, "out-root", "", "let outputs go anywhere under this folder (default: the manifest's folder)")
	manifestArgs(cmd)
	return cmd
}

// validate loads and lints one manifest. A manifest that does not load
// yields Load's findings, since linting needs a loaded manifest.
func validate(ctx context.Context, file string, opts []pipeline.LoadOption) (*pipeline.Manifest, []pipeline.Diagnostic) {
	m, err := pipeline.Load(file, opts...)
	var e *pipeline.Error
	switch {
	case errors.As(err, &e):
		// Load lists schema violations in CUE's order; show them top down,
		// as Lint does.
		diags := slices.Clone(e.Diags)
		slices.SortStableFunc(diags, func(a, b pipeline.Diagnostic) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
		})
		return nil, diags
	case err != nil:
		return nil, []pipeline.Diagnostic{{File: file, Msg: err.Error()}}
	}
	return m, pipeline.Lint(ctx, m)
}

// across checks the outputs of several manifests together, as a run of
// them all would, and returns what the manifests' own checks did not find:
// two manifests writing one file.
func across(ms []*pipeline.Manifest, found []pipeline.Diagnostic) []pipeline.Diagnostic {
	if len(ms) < 2 {
		return nil
	}
	var e *pipeline.Error
	if err := pipeline.NewGuard(ms, filepath.Join(ms[0].Dir, ".zpipe")).Check(); !errors.As(err, &e) {
		return nil
	}
	var out []pipeline.Diagnostic
	for _, d := range e.Diags {
		if !slices.Contains(found, d) {
			out = append(out, d)
		}
	}
	return out
}

var findingWriters = map[string]func(io.Writer, []pipeline.Diagnostic) error{
	"text":   writeText,
	"json":   writeJSON,
	"github": writeGitHub,
}

// writeText writes file:line:col: severity: path: message, one a line.
func writeText(w io.Writer, diags []pipeline.Diagnostic) error {
	for _, d := range diags {
		var b strings.Builder
		b.WriteString(d.File)
		if d.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", d.Line, d.Col)
		}
		fmt.Fprintf(&b, ": %s: ", d.Severity)
		if d.Path != "" {
			b.WriteString(d.Path + ": ")
		}
		b.WriteString(d.Msg)
		if _, err := fmt.Fprintln(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

type jsonFinding struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Severity string `json:"severity"`
	Path     string `json:"path"`
	Message  string `json:"message"`
}

// writeJSON writes an array, empty when all is well, so that a consumer
// never has to tell "no findings" from "no output".
func writeJSON(w io.Writer, diags []pipeline.Diagnostic) error {
	out := make([]jsonFinding, len(diags))
	for i, d := range diags {
		out[i] = jsonFinding{d.File, d.Line, d.Col, d.Severity.String(), d.Path, d.Msg}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeGitHub writes GitHub Actions workflow commands, which the Actions
// runner shows as annotations on the manifest's lines.
func writeGitHub(w io.Writer, diags []pipeline.Diagnostic) error {
	for _, d := range diags {
		props := "file=" + ghEscape(d.File, true)
		if d.Line > 0 {
			props += fmt.Sprintf(",line=%d,col=%d", d.Line, d.Col)
		}
		msg := d.Msg
		if d.Path != "" {
			msg = d.Path + ": " + msg
		}
		if _, err := fmt.Fprintf(w, "::%s %s::%s\n", d.Severity, props, ghEscape(msg, false)); err != nil {
			return err
		}
	}
	return nil
}

// ghEscape escapes what would end a workflow command's message early, and
// in a property also the separators of properties.
func ghEscape(s string, property bool) string {
	s = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
	if property {
		s = strings.NewReplacer(":", "%3A", ",", "%2C").Replace(s)
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
