package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/zpipe/zpipe/internal/atomicfile"
)

// itemProvenance describes what an item read and wrote, from its result;
// schema is the stage's, shared by its items.
func (sr *stageRun) itemProvenance(i int, schema *SchemaProvenance) ItemProvenance {
	it, res := &sr.items[i], &sr.results[i]
	p := ItemProvenance{ID: sr.s.Name + ":" + it.Key, Source: it.Name, SourceFormat: string(it.Format),
		Attempts: res.attempts, DurationNS: int64(res.duration), Time: time.Now().UTC(), UpToDate: res.upToDate, Schema: schema}
	if it.fp != nil {
		p.InputSHA256 = it.fp.Input
	}
	if e := sr.entryOf(i); e != nil {
		p.Time = e.Time
		for _, part := range e.Parts {
			o := sr.s.Outputs[part.Output]
			p.Outputs = append(p.Outputs, OutputProvenance{Path: o.Path, Format: string(o.Format), SHA256: part.SHA256})
		}
		if e.Rejects != nil {
			p.Outputs = append(p.Outputs, OutputProvenance{Path: sr.m.Rel(sr.s.Rejects), Format: "ndjson", SHA256: e.Rejects.SHA256})
		}
	}
	if res.err != nil {
		p.Error = res.err.Error()
	}
	return p
}

// provenance gathers the run's audit trail from its stages.
func (r *runner) provenance(nodes []*node, start time.Time, sum *Summary) *RunProvenance {
	host, _ := os.Hostname()
	p := &RunProvenance{RunID: r.state.runID, Version: Version(), Host: host, Start: start.UTC(), End: time.Now().UTC(),
		Totals: map[string]int{}, Outputs: map[string]string{}, Items: []ItemProvenance{}}
	formats := map[string]bool{}
	seen := map[string]bool{}
	total, with := 0, 0
	for _, n := range nodes {
		total += len(n.items)
		if len(n.items) > 0 {
			with++
		}
	}
	// The items of one stage are taken as they are: a copy of a million
	// records was a tenth of a rerun's peak memory.
	if with > 1 {
		p.Items = make([]ItemProvenance, 0, total)
	}
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
		for _, ip := range n.items {
			formats[ip.SourceFormat] = true
		}
		if with > 1 {
			p.Items = append(p.Items, n.items...)
			n.items = nil
		} else if len(n.items) > 0 {
			p.Items = n.items
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

// writeProvenance saves the audit trail as runs/<id>/provenance.json.
func (r *runner) writeProvenance(p *RunProvenance) error {
	// Compact: it is read by programs, and indenting a record of a
	// million items costs a quarter of a rerun that has nothing to do.
	// zpipe run --provenance writes it indented for people.
	return atomicfile.Write(filepath.Join(r.opts.StateDir, "runs", p.RunID, "provenance.json"), func(w io.Writer) error {
		return encodeProvenance(w, p)
	})
}

// encodeProvenance writes p as json.Encoder would, one item at a time:
// a million items encoded in one buffer cost a second of copying and
// hundreds of megabytes at the end of a run.
func encodeProvenance(w io.Writer, p *RunProvenance) error {
	if p.Items == nil {
		return json.NewEncoder(w).Encode(p)
	}
	head := *p
	head.Items = nil
	b, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	// Outside strings, whose quotes are escaped, this can only be the
	// items field.
	const hole = `,"items":null,`
	before, after, ok := bytes.Cut(b, []byte(hole))
	if !ok {
		return fmt.Errorf("provenance: no items field in %.40s", b)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(before)
	bw.WriteString(`,"items":[`)
	var item bytes.Buffer
	enc := json.NewEncoder(&item)
	for i := range p.Items {
		if i > 0 {
			bw.WriteByte(',')
		}
		item.Reset()
		if err := enc.Encode(&p.Items[i]); err != nil {
			return err
		}
		bw.Write(bytes.TrimSuffix(item.Bytes(), []byte{'\n'}))
	}
	bw.WriteString("],")
	bw.Write(after)
	bw.WriteByte('\n')
	return bw.Flush()
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
