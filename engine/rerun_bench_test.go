package engine

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"
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

// BenchmarkFirstRunManyFiles runs a stage of 20,000 one-record files
// from an empty state: all at once, and a window at a time
// (runWindowed). It reports files/s and the peak of the live heap,
// sampled every millisecond: what the windows save grows with the
// files, 600 MB of a million.
func BenchmarkFirstRunManyFiles(b *testing.B) {
	defer func(f int) { windowedFiles = f }(windowedFiles)
	const files = 20000
	for _, c := range []struct {
		name     string
		windowed int
	}{{"all-at-once", 1 << 30}, {"windowed", 1}} {
		b.Run(c.name, func(b *testing.B) {
			windowedFiles = c.windowed
			names := oneRecordFiles(files)
			dir := project(b, names)
			plan := planOf(b, dir)
			var peak uint64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for _, d := range []string{".zpipe", "out"} {
					if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				stop := sampleHeap(&peak)
				b.StartTimer()
				sum, err := Run(context.Background(), plan, Options{})
				b.StopTimer()
				stop()
				if err != nil || sum.OK != files {
					b.Fatal(err, sum)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(files*b.N)/b.Elapsed().Seconds(), "files/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// sampleHeap keeps in peak the largest live heap it sees, every
// millisecond, until stop is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			*peak = max(*peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
