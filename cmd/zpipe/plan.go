package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

type planFlags struct {
	jsonOut  bool
	format   string
	outRoot  string
	stateDir string
	all      bool
	stages   []string
}

func (a *app) planCmd() *cobra.Command {
	f := &planFlags{}
	cmd := &cobra.Command{
		Use:   "plan MANIFEST...",
		Short: "Print what a run would do and why, writing nothing",
		Long: `Plan is a dry run: it prints the stages in the order a run would take them,
with their priority, limits, sources (files and bytes), formats, schema,
transform and outputs, and for each item whether it is up to date or would
run, and why. It sees through the DAG: a stage whose inputs an earlier stage
will rewrite is shown as one that would run. It writes nothing at all: no
state folder, no lock, no journal.

--format dot and --format mermaid draw the DAG, with stages coloured by
state: up to date, would run, blocked.`,
		Example: `  zpipe plan pipeline.yaml
  zpipe plan --json pipeline.yaml | jq '.stages[] | {name, state, to_run}'
  zpipe plan --format dot pipeline.yaml | dot -Tsvg > dag.svg`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.plan(cmd, args, f)
		},
	}
	cmd.Flags().BoolVar(&f.jsonOut, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&f.format, "format", "text", "text, json, dot or mermaid")
	cmd.Flags().StringVar(&f.outRoot, "out-root", "", "as for run")
	cmd.Flags().StringVar(&f.stateDir, "state-dir", "", "the state folder to read (default: .zpipe beside the manifest)")
	cmd.Flags().BoolVar(&f.all, "all", false, "list every item, not the first ten of each stage")
	stageFlag(cmd, &f.stages)
	manifestArgs(cmd)
	return cmd
}

func (a *app) plan(cmd *cobra.Command, args []string, f *planFlags) error {
	if len(args) == 0 {
		return usageError{fmt.Errorf("%s takes one or more manifests; see zpipe plan --help", cmd.Name())}
	}
	if f.jsonOut {
		f.format = "json"
	}
	if f.format == "" {
		f.format = "text"
	}
	switch f.format {
	case "text", "json", "dot", "mermaid":
	default:
		return usageError{fmt.Errorf("--format %q: use text, json, dot or mermaid", f.format)}
	}
	plans, err := loadPlans(args, f.outRoot)
	if err != nil {
		return err
	}
	if plans, err = narrow(plans, f.stages); err != nil {
		return err
	}
	// plan has nothing to save: the first Ctrl-C stops it.
	ctx, cancel := a.stopOnSignal(cmd.Context())
	defer cancel()
	// A stage whose schema does not compile is still planned, and the
	// error follows the plan, with run's exit status.
	done := a.slowCUE("the schemas of " + strings.Join(args, ", "))
	// Only JSON lists every item: of a million, the text shows ten, or
	// with --all those that would run.
	opts := engine.Options{StateDir: f.stateDir, PlanItems: shownItems}
	switch {
	case f.format == "json":
		opts.PlanItems = 0
	case f.all:
		opts.PlanItems = math.MaxInt
	}
	rep, blocked := engine.DryRun(ctx, plans, opts)
	done()
	if ctx.Err() != nil {
		return exitError{130}
	}
	if rep == nil {
		return blocked
	}
	for i := range rep.Manifests {
		rep.Manifests[i].File = plans[i].Manifest.DisplayName()
	}
	switch f.format {
	case "json":
		if err := writePlanJSON(a.stdout, rep); err != nil {
			return err
		}
	case "dot":
		writeDot(a.stdout, rep)
	case "mermaid":
		writeMermaid(a.stdout, rep)
	default:
		writePlan(a.stdout, rep, f.all)
	}
	return blocked
}

// writePlanJSON writes rep as a json.Encoder indenting by two spaces
// does, with each stage's items written one at a time: encoded whole, the
// items of a million files were 73 MB of JSON, held in memory beside the
// report, before a byte went out.
func writePlanJSON(w io.Writer, rep *engine.DryRunReport) error {
	bare := *rep
	bare.Stages = slices.Clone(rep.Stages)
	for i, s := range bare.Stages {
		if s == nil {
			continue
		}
		c := *s
		c.Items = nil
		bare.Stages[i] = &c
	}
	doc, err := json.MarshalIndent(&bare, "", "  ")
	if err != nil {
		return err
	}
	// A stage's fields are indented by six spaces; no other object at
	// that depth has items, and a newline in a string is escaped.
	const hole = "\n      \"items\": null"
	bw := bufio.NewWriter(w)
	for _, s := range rep.Stages {
		if s == nil {
			continue // null, with no hole
		}
		before, after, _ := bytes.Cut(doc, []byte(hole))
		bw.Write(before)
		doc = after
		if s.Items == nil {
			bw.WriteString(hole)
			continue
		}
		bw.WriteString("\n      \"items\": [")
		for i := range s.Items {
			b, err := json.MarshalIndent(&s.Items[i], "        ", "  ")
			if err != nil {
				return err
			}
			if i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n        ")
			bw.Write(b)
		}
		if len(s.Items) > 0 {
			bw.WriteString("\n      ")
		}
		bw.WriteString("]")
	}
	bw.Write(doc)
	bw.WriteString("\n")
	return bw.Flush()
}

// shownItems is how many items to run, and gone, the text lists for each
// stage without --all.
const shownItems = 10

func writePlan(w io.Writer, rep *engine.DryRunReport, all bool) {
	for _, m := range rep.Manifests {
		fmt.Fprintf(w, "pipeline %s (%s), priority %d", m.Name, m.File, m.Priority)
		if l := limitsText(m.Limits); l != "" {
			fmt.Fprintf(w, ", %s", l)
		}
		fmt.Fprintln(w)
	}
	for i, s := range rep.Stages {
		name := s.Name
		if len(rep.Manifests) > 1 {
			name = s.Pipeline + "/" + s.Name
		}
		writeStagePlan(w, i+1, name, s, all)
	}
	if len(rep.Removes) > 0 {
		fmt.Fprintln(w, "\nstages no manifest has now:")
		writeRemovals(w, rep.Removes)
	}
}

// writeStagePlan writes one stage of the plan: its state, settings,
// sources, schema and outputs, and the items that would run and why.
func writeStagePlan(w io.Writer, i int, name string, s *engine.StageDryRun, all bool) {
	fmt.Fprintf(w, "\n%d. %s: %s", i, name, s.State)
	if s.Reason != "" {
		fmt.Fprintf(w, " (%s)", s.Reason)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "   priority %d, parallel %d, on_error %s", s.Priority, s.Settings.Parallel, s.Settings.OnError)
	if r := s.Settings.Retry; r.Max > 0 {
		fmt.Fprintf(w, ", retry %d (delay %s, backoff %g, max %s)", r.Max, r.Delay, r.Backoff, r.MaxDelay)
	}
	if s.Settings.Timeout > 0 {
		fmt.Fprintf(w, ", timeout %s", s.Settings.Timeout)
	}
	fmt.Fprintln(w)
	if len(s.Deps) > 0 {
		var deps []string
		for _, d := range s.Deps {
			if d.Why == "needs" {
				deps = append(deps, d.Stage)
			} else {
				deps = append(deps, d.Stage+" (writes "+d.Why+")")
			}
		}
		fmt.Fprintf(w, "   after: %s\n", strings.Join(deps, ", "))
	}
	fmt.Fprintf(w, "   sources: %s, %s, format %s", plural(s.Sources.Files, "file"), bytesText(s.Sources.Bytes), s.Sources.Format)
	fmt.Fprintf(w, " (%s", strings.Join(s.Sources.Paths, ", "))
	if len(s.Sources.Exclude) > 0 {
		fmt.Fprintf(w, "; exclude %s", strings.Join(s.Sources.Exclude, ", "))
	}
	fmt.Fprintln(w, ")")
	fmt.Fprintf(w, "   schema: %s", s.Schema)
	if s.Transform != "" {
		fmt.Fprintf(w, ", transform: %s", s.Transform)
	}
	fmt.Fprintln(w)
	var outs []string
	for _, o := range s.Outputs {
		outs = append(outs, string(o.Format)+" "+o.Path)
	}
	if s.Rejects != "" {
		outs = append(outs, "rejects "+s.Rejects)
	}
	if len(outs) > 0 {
		fmt.Fprintf(w, "   outputs: %s\n", strings.Join(outs, ", "))
	}
	writeRemovals(w, s.Removes)
	if s.State == engine.StateBlocked {
		return
	}
	fmt.Fprintf(w, "   items: %d up to date, %d would run\n", s.UpToDate, s.ToRun)
	shown := 0
	for _, it := range s.Items {
		if it.Reason == "" {
			continue
		}
		if shown == shownItems && !all {
			break
		}
		fmt.Fprintf(w, "     %s: %s\n", it.Item, it.Reason)
		shown++
	}
	if shown < s.ToRun && !all {
		fmt.Fprintf(w, "     ... and %d more (--all lists them)\n", s.ToRun-shown)
	}
	for i, key := range s.Gone {
		if i == shownItems && !all {
			fmt.Fprintf(w, "     ... and %d more gone (--all lists them)\n", len(s.Gone)-i)
			break
		}
		fmt.Fprintf(w, "     %s: gone, so its records leave the outputs\n", key)
	}
}

// writeRemovals lists the files a run would remove, or keep although no
// output writes them, because they were changed since zpipe wrote them.
func writeRemovals(w io.Writer, rms []engine.Removal) {
	for _, rm := range rms {
		if rm.Kept != "" {
			fmt.Fprintf(w, "   keeps %s, although %s: %s\n", rm.Path, rm.Why, rm.Kept)
		} else {
			fmt.Fprintf(w, "   removes %s: %s\n", rm.Path, rm.Why)
		}
	}
}

func limitsText(l pipeline.Limits) string {
	var parts []string
	if l.MaxConcurrentStages > 0 {
		parts = append(parts, fmt.Sprintf("max_concurrent_stages %d", l.MaxConcurrentStages))
	}
	if l.MaxMemory > 0 {
		parts = append(parts, "max_memory "+bytesText(l.MaxMemory))
	}
	if l.Throttle > 0 {
		parts = append(parts, "throttle "+l.Throttle.String())
	}
	if l.Rate > 0 {
		parts = append(parts, fmt.Sprintf("rate %g/s", l.Rate))
	}
	return strings.Join(parts, ", ")
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// stateColor is the fill of a stage in a drawing of the DAG.
var stateColor = map[string]string{engine.StateUpToDate: "#b7e4c7", engine.StateWouldRun: "#ffd166", engine.StateBlocked: "#ef8a80"}

func nodeID(s *engine.StageDryRun) string { return s.Pipeline + "/" + s.Name }

func writeDot(w io.Writer, rep *engine.DryRunReport) {
	fmt.Fprintln(w, "digraph zpipe {")
	fmt.Fprintln(w, "  rankdir=LR;")
	fmt.Fprintln(w, `  node [shape=box, style="rounded,filled", fontname="Helvetica"];`)
	for _, s := range rep.Stages {
		fmt.Fprintf(w, "  %q [label=%q, fillcolor=%q];\n", nodeID(s), s.String(), stateColor[s.State])
	}
	for _, s := range rep.Stages {
		for _, d := range s.Deps {
			label := ""
			if d.Why != "needs" {
				label = fmt.Sprintf(" [label=%q]", d.Why)
			}
			fmt.Fprintf(w, "  %q -> %q%s;\n", s.Pipeline+"/"+d.Stage, nodeID(s), label)
		}
	}
	fmt.Fprintln(w, "}")
}

func writeMermaid(w io.Writer, rep *engine.DryRunReport) {
	fmt.Fprintln(w, "flowchart LR")
	ids := map[string]string{}
	for i, s := range rep.Stages {
		ids[nodeID(s)] = fmt.Sprintf("s%d", i+1)
		class := map[string]string{engine.StateUpToDate: "uptodate", engine.StateWouldRun: "wouldrun", engine.StateBlocked: "blocked"}[s.State]
		fmt.Fprintf(w, "  %s[\"%s\"]:::%s\n", ids[nodeID(s)], strings.ReplaceAll(s.String(), `"`, "'"), class)
	}
	for _, s := range rep.Stages {
		for _, d := range s.Deps {
			fmt.Fprintf(w, "  %s --> %s\n", ids[s.Pipeline+"/"+d.Stage], ids[nodeID(s)])
		}
	}
	fmt.Fprintf(w, "  classDef uptodate fill:%s\n  classDef wouldrun fill:%s\n  classDef blocked fill:%s\n",
		stateColor[engine.StateUpToDate], stateColor[engine.StateWouldRun], stateColor[engine.StateBlocked])
}
