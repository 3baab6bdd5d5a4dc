package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkRerunManyFiles reruns a stage of 20,000 one-record files:
// with nothing changed, which settleUnchanged settles a window at a
// time, and with one file edited, which the full way runs, rebuilding
// the outputs from every item's saved parts. Compare files/s and
// allocs/op with benchstat.
func BenchmarkRerunManyFiles(b *testing.B) {
	const files = 20000
	for _, c := range []struct {
		name string
		edit bool
		ran  int // items that run each time
	}{{"no-op", false, 0}, {"one-edited", true, 1}} {
		b.Run(c.name, func(b *testing.B) {
			names := oneRecordFiles(files)
			dir := project(b, names)
			for name := range names {
				settle(b, dir, name)
			}
			plan := planOf(b, dir)
			run := func() *Summary {
				sum, err := Run(context.Background(), plan, Options{})
				if err != nil || sum.OK != files {
					b.Fatal(err, sum)
				}
				return sum
			}
			run()
			edited := filepath.Join(dir, "data", "500.json")
			body, err := os.ReadFile(edited)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c.edit {
					b.StopTimer()
					// Other white space each time: the file changed.
					if err := os.WriteFile(edited, append(body, strings.Repeat(" ", 1+i%2)...), 0o644); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				if st := run().Stages[0]; st.Items-st.UpToDate != c.ran {
					b.Fatalf("%d of %d items ran", st.Items-st.UpToDate, st.Items)
				}
			}
			b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}
