//go:build watchbench

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/charmbracelet/log"
)

// TestWatchSaveToRerun measures, on a 10,000-file pipeline, the time from
// saving one changed source to the end of the rerun it starts: debounce,
// event handling, the run itself (10,000 fingerprint checks, one item,
// the merged output rebuilt) and the summary. Run it with
//
//	go test -tags watchbench -run TestWatchSaveToRerun -v -timeout 30m ./cmd/zpipe
func TestWatchSaveToRerun(t *testing.T) {
	const files, saves = 10000, 10
	for _, debounce := range []time.Duration{200 * time.Millisecond, 50 * time.Millisecond} {
		t.Run("debounce="+debounce.String(), func(t *testing.T) {
			dir := t.TempDir()
			write := func(rel, content string) {
				p := filepath.Join(dir, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("pipeline.yaml", `version: 1
stages:
  users:
    source: {paths: ["data/**/*.json"]}
    schema: user.cue#User
    outputs: [{format: ndjson, path: out/users.ndjson}]
`)
			write("user.cue", "#User: {id: int, name: string, email?: string}\n")
			for i := range files {
				write(fmt.Sprintf("data/%02d/%d.json", i%100, i), fmt.Sprintf(`{"id": %d, "name": "user %d", "email": "u%d@example.com"}`, i, i, i))
			}

			finished := make(chan string, 100)
			out := &lineTap{ch: finished}
			errs := &syncBuffer{}
			a := &app{stdout: out, stderr: errs, stop: make(chan struct{}), log: log.NewWithOptions(errs, log.Options{})}
			root := a.rootCmd()
			root.SetArgs([]string{"watch", "--progress=none", "--debounce=" + debounce.String(), filepath.Join(dir, "pipeline.yaml")})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- root.ExecuteContext(ctx) }()
			defer func() {
				close(a.stop)
				<-done
				cancel()
			}()

			start := time.Now()
			first := wait(t, finished)
			t.Logf("first run of %d files: %s (%s)", files, time.Since(start).Round(time.Millisecond), first)

			var total, run []time.Duration
			runRE := regexp.MustCompile(`total 1 item in (\S+)`)
			for i := range saves {
				rel := fmt.Sprintf("data/%02d/%d.json", i, i*37)
				swp := rel + ".swp"
				write(swp, fmt.Sprintf(`{"id": %d, "name": "changed %d"}`, i*37, i))
				t0 := time.Now()
				if err := os.Rename(filepath.Join(dir, swp), filepath.Join(dir, rel)); err != nil {
					t.Fatal(err)
				}
				line := wait(t, finished)
				total = append(total, time.Since(t0))
				m := runRE.FindStringSubmatch(line)
				if m == nil {
					t.Fatalf("save %d: %q, want one item rerun\n%s", i, line, errs)
				}
				d, _ := time.ParseDuration(m[1])
				run = append(run, d)
				t.Logf("save %d: %s to the finished rerun, of which the run %s", i+1, total[i].Round(time.Millisecond), d)
			}
			t.Logf("save to finished rerun: median %s (min %s, max %s); the run itself: median %s",
				median(total), slices.Min(total).Round(time.Millisecond), slices.Max(total).Round(time.Millisecond), median(run))
		})
	}
}

// lineTap sends each summary's total line as it is written.
type lineTap struct {
	buf bytes.Buffer
	ch  chan string
}

func (l *lineTap) Write(p []byte) (int, error) {
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // partial; wait for the rest
			return len(p), nil
		}
		if cycleRE.MatchString(line) {
			l.ch <- line
		}
	}
}

func wait(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case line := <-ch:
		return line
	case <-time.After(5 * time.Minute):
		t.Fatal("no run finished")
		return ""
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return ((s[(len(s)-1)/2] + s[len(s)/2]) / 2).Round(100 * time.Microsecond)
}
