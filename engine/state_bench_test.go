package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BenchmarkCheckpointItem measures what saving one finished item costs: its
// part synced (in groups) and renamed into the parts folder, then its
// journal entry.
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
	c := newCommitter(st)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := filepath.Join(tmp, strconv.Itoa(i))
		os.WriteFile(p, part, 0o644)
		name := hashString(strconv.Itoa(i))[:32] + "-0.part"
		c.add(&commitJob{moves: [][2]string{{p, name}}, entry: &entry{Type: "item", Stage: "/p/pipeline.yaml#users", Key: "data/u" + strconv.Itoa(i) + ".json", Status: "done", FP: fp,
			Stat: &fileStat{Size: 312, Mtime: 1764424800000000000, Ino: 1234567}, Parts: []partRef{{File: name, SHA256: hashString("p"), Records: 1}}, Records: 1, OK: 1, Attempts: 1},
			apply: func(err error) {
				if err != nil {
					b.Error(err)
				}
			}})
	}
	c.close()
	b.StopTimer()
	fi, _ := os.Stat(filepath.Join(dir, "journal.ndjson"))
	b.ReportMetric(float64(fi.Size())/float64(b.N), "journal-bytes/item")
}
