package engine

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// itemProvenance sets p to what item i read and wrote, from its result,
// reusing p's Outputs; schema is the stage's, shared by its items.
func (sr *stageRun) itemProvenance(p *ItemProvenance, i int, schema *SchemaProvenance) {
	it, res := &sr.items[i], &sr.results[i]
	*p = ItemProvenance{ID: sr.s.Name + ":" + it.Key, Source: it.Name, SourceFormat: string(it.Format),
		Attempts: res.attempts, DurationNS: int64(res.duration), Time: time.Now().UTC(), UpToDate: res.upToDate, Schema: schema,
		Outputs: p.Outputs[:0]}
	if it.fp != nil {
		p.InputSHA256 = it.fp.Input
	}
	part := func(output int, sum string) {
		if output < 0 {
			p.Outputs = append(p.Outputs, OutputProvenance{Path: sr.m.Rel(sr.s.Rejects), Format: "ndjson", SHA256: sum})
			return
		}
		o := sr.s.Outputs[output]
		path := o.Path
		if o.PerSource() {
			path = sr.m.Rel(sr.m.PerSourceFile(o, it.Path))
		}
		p.Outputs = append(p.Outputs, OutputProvenance{Path: path, Format: string(o.Format), SHA256: sum})
	}
	switch {
	case res.itemOut != nil && res.entry != nil: // its commit failed
		e := res.entry
		if p.InputSHA256 == "" && e.FP != nil {
			p.InputSHA256 = e.FP.Input
		}
		p.Time = e.Time
		for _, pr := range e.Parts {
			part(pr.Output, pr.SHA256)
		}
		if e.Rejects != nil {
			part(-1, e.Rejects.SHA256)
		}
	case res.journaled:
		// As entryOf would find it, read in place. An up-to-date
		// item's input sum is its entry's: decide let its own go.
		sr.r.state.quickProvenance(sr.id(), it.Key, it.fp == nil, p, part)
	}
	if res.err != nil {
		p.Error = res.err.Error()
	}
}

// provenance gathers the run's audit trail from its stages, all but the
// items, which their trails hold.
func (r *runner) provenance(nodes []*node, start time.Time, sum *Summary) *RunProvenance {
	host, _ := os.Hostname()
	p := &RunProvenance{RunID: r.state.runID, Version: Version(), Host: host, Start: start.UTC(), End: time.Now().UTC(),
		Totals: map[string]int{}, Outputs: map[string]string{}}
	formats := map[string]bool{}
	seen := map[string]bool{}
	for _, n := range nodes {
		m := n.plan.Manifest
		if !seen[m.File] {
			seen[m.File] = true
			p.Manifests = append(p.Manifests, ManifestProvenance{Path: m.File, SHA256: m.Sum})
		}
		st := n.sum
		p.Stages = append(p.Stages, StageProvenance{Pipeline: st.Pipeline, Name: st.Name, Status: st.Status, Items: st.Items,
			Successful: st.Items - n.unclean, Failed: n.unclean, UpToDate: st.UpToDate, Records: st.Records,
			Parallel: n.stage.Parallel, ProcessingNS: int64(st.Duration)})
		for _, o := range n.stage.Outputs {
			formats[string(o.Format)] = true
		}
		for f := range n.formats {
			formats[f] = true
		}
		if e := r.state.stage(n.id); e != nil {
			for k, v := range e.Outputs {
				p.Outputs[k] = v
			}
		}
	}
	delete(formats, "")
	for f := range formats {
		p.Formats = append(p.Formats, f)
	}
	sort.Strings(p.Formats)
	p.Totals["records"], p.Totals["ok"], p.Totals["failed"] = sum.Records, sum.OK, sum.Failed
	p.Totals["failed_items"] = sum.FailedItems
	for _, st := range sum.Stages {
		p.Totals["items"] += st.Items
		p.Totals["up_to_date"] += st.UpToDate
	}
	return p
}

// runDirName is the name of a run record's folder: its run ID.
var runDirName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$`)

// pruneRuns removes the oldest run records in dir beyond the newest keep,
// never current's. Only folders named as run IDs go: not a file someone
// put there, nor a symbolic link, nor what it points to.
func pruneRuns(dir, current string, keep int) error {
	if keep == 0 {
		keep = DefaultKeepRuns
	}
	if keep < 0 {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var runs []string
	for _, e := range ents {
		if e.IsDir() && runDirName.MatchString(e.Name()) && e.Name() != current {
			runs = append(runs, e.Name())
		}
	}
	// Run IDs start with their time, so the oldest sort first; this run
	// is one of the keep.
	sort.Strings(runs)
	var first error
	for _, name := range runs[:max(len(runs)-(keep-1), 0)] {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil && first == nil {
			first = err
		}
	}
	return first
}
