package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/zpipe/zpipe/pipeline"
)

// BenchmarkCheckpointItem measures what saving one finished item costs: its
// part copied into its group's pack, synced, then its journal entry.
func BenchmarkCheckpointItem(b *testing.B) {
	dir := b.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	defer st.close("finished")
	tmp := filepath.Join(dir, "tmp")
	os.MkdirAll(tmp, 0o755)
	fp := &fingerprint{Input: hashString("in"), Schema: hashString("s"), Settings: hashString("x"), Version: "v0"}
	part := []byte(`{"id":1,"name":"user 1","email":"u1@example.com"}` + "\n")
	c := newCommitter(st, newTempParts())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := filepath.Join(tmp, strconv.Itoa(i))
		os.WriteFile(p, part, 0o644)
		name := hashString(strconv.Itoa(i))[:32] + "-0.part"
		c.add(&commitJob{moves: []string{p}, entry: &entry{Type: "item", Stage: "/p/pipeline.yaml#users", Key: "data/u" + strconv.Itoa(i) + ".json", Status: "done", FP: fp,
			Stat: &fileStat{Size: 312, Mtime: 1764424800000000000, Ino: 1234567}, Parts: []partRef{{File: name, SHA256: hashString("p"), Size: int64(len(part)), Records: 1}}, Records: 1, OK: 1, Attempts: 1},
			apply: func(err error) {
				if err != nil {
					b.Error(err)
				}
			}})
	}
	c.close()
	b.StopTimer()
	fi, _ := os.Stat(filepath.Join(dir, journalName))
	b.ReportMetric(float64(fi.Size())/float64(b.N), "journal-bytes/item")
}

// BenchmarkProvenance measures the audit trail's cost per item: gathering
// each item's record and writing runs/<id>/provenance.json.gz.
func BenchmarkProvenance(b *testing.B) {
	const items = 2000
	dir := b.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	defer st.close("finished")
	r := &runner{opts: Options{StateDir: dir}, state: st}
	n := &node{plan: &pipeline.Plan{Manifest: &pipeline.Manifest{File: "/p/pipeline.yaml", Dir: "/p", Name: "p"}},
		stage: &pipeline.Stage{Name: "users"}, sum: &StageSummary{Name: "users", Items: items}}
	ip := ItemProvenance{ID: "users:data/u00001.json", Source: "data/u00001.json", InputSHA256: hashString("in"), SourceFormat: "json",
		Outputs:  []OutputProvenance{{Path: "out/users.ndjson", Format: "ndjson", SHA256: hashString("out")}},
		Schema:   &SchemaProvenance{Path: "user.cue", Definition: "User", SHA256: hashString("s")},
		Attempts: 1, DurationNS: 180000}
	sum := &Summary{Stages: []*StageSummary{n.sum}}
	b.ResetTimer()
	var z *gzip.Writer
	var line, member []byte
	for i := 0; i < b.N; i++ {
		os.Remove(filepath.Join(dir, "trail"))
		n.trail = newItemTrail(filepath.Join(dir, "trail"))
		// As writeTrail adds them: a member of a core's share of a batch.
		for lo := 0; lo < items; lo += trailBatch / 2 {
			line = line[:0]
			for k := lo; k < min(items, lo+trailBatch/2); k++ {
				if k > lo {
					line = append(line, ',')
				}
				if line, err = appendItemLine(line, &ip); err != nil {
					b.Fatal(err)
				}
				line = line[:len(line)-1]
			}
			if z, member, err = gzipMember(z, member[:0], line); err != nil {
				b.Fatal(err)
			}
			n.trail.write(member, min(items-lo, trailBatch/2), nil)
		}
		p := r.provenance([]*node{n}, time.Now(), sum)
		_, err := r.writeProvenance(p, []*node{n})
		n.trail.done()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	fi, _ := os.Stat(filepath.Join(dir, "runs", st.runID, recordName))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
	b.ReportMetric(float64(fi.Size())/items, "bytes/item")
}

// BenchmarkOpenState measures reading the journal back, per item: what a
// no-op rerun of many files pays before it looks at a single one.
func BenchmarkOpenState(b *testing.B) {
	dir := b.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	const items = 20000
	fp := &fingerprint{Schema: hashString("s"), Settings: hashString("x"), Version: "v0"}
	var es []*entry
	for i := range items {
		f := *fp
		f.Input = hashString(strconv.Itoa(i))
		es = append(es, &entry{Type: "item", Stage: "/p/pipeline.yaml#users", Key: "data/u" + strconv.Itoa(i) + ".json", Status: "done", FP: &f,
			Stat:  &fileStat{Size: 312, Mtime: 1764424800000000000 + int64(i), Ctime: 1764424800000000000 + int64(i), Ino: 1234567 + uint64(i), Dev: 65024},
			Parts: []partRef{{File: "0123456789abcdef0123456789abcdef.pack", Offset: int64(i) * 95, SHA256: hashString("p" + strconv.Itoa(i)), Size: 95, Records: 1}}, Records: 1, OK: 1, Attempts: 1, Duration: 100000})
	}
	if err := st.appendAll(es...); err != nil {
		b.Fatal(err)
	}
	st.close("finished")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		st, err := openState(dir, false)
		if err != nil {
			b.Fatal(err)
		}
		st.j.Close()
		st.lock.Release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
}

// BenchmarkUpToDate measures telling an unchanged item up to date, per
// item: reading its record in place (quick) against building its entry
// and asking reason (slow), as decide did before.
func BenchmarkUpToDate(b *testing.B) {
	dir := b.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	defer st.close("finished")
	const items = 20000
	const stage = "/p/pipeline.yaml#users"
	pack := "0123456789abcdef0123456789abcdef" + packSuffix
	if err := os.WriteFile(filepath.Join(st.parts, pack), make([]byte, items*95), 0o644); err != nil {
		b.Fatal(err)
	}
	now := fingerprint{Schema: hashString("s"), Settings: hashString("x"), Version: "v0"}
	recorded := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	stats := make([]fileStat, items)
	keys := make([]string, items)
	var es []*entry
	for i := range items {
		fp := now
		fp.Input = hashString(strconv.Itoa(i))
		stats[i] = fileStat{Size: 312, Mtime: recorded.Add(-time.Hour).UnixNano() + int64(i), Ctime: 1, Ino: 1234567 + uint64(i), Dev: 65024}
		keys[i] = "data/u" + strconv.Itoa(i) + ".json"
		s := stats[i]
		es = append(es, &entry{Type: "item", Stage: stage, Key: keys[i], Status: "done", FP: &fp, Stat: &s, Time: recorded,
			Parts: []partRef{{File: pack, Offset: int64(i) * 95, SHA256: hashString("p" + strconv.Itoa(i)), Size: 95, Records: 1}}, Records: 1, OK: 1, Attempts: 1})
	}
	if err := st.appendAll(es...); err != nil {
		b.Fatal(err)
	}
	b.Run("quick", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			for i := range items {
				if _, ok := st.quickUpToDate(stage, keys[i], &stats[i], &now); !ok {
					b.Fatal("not up to date")
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
	})
	b.Run("slow", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			for i := range items {
				prev := st.item(stage, keys[i])
				fp := now
				fp.Input = prev.FP.Input
				if *prev.Stat != stats[i] || st.reason(prev, &fp) != "" {
					b.Fatal("not up to date")
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
	})
}
