package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
)

// These tests drive a run through its seams: a Source that is not a glob
// and an Executor that is not the local pool, as a message-queue source or
// a distributed executor would be.

// memSource lists records held in memory, each item put in a file of its
// own.
type memSource struct {
	dir   string
	items map[string]string
	order []string
}

func (s *memSource) Items(context.Context) ([]Item, error) {
	var out []Item
	for _, name := range s.order {
		p := filepath.Join(s.dir, name)
		if err := os.WriteFile(p, []byte(s.items[name]), 0o644); err != nil {
			return nil, err
		}
		out = append(out, Item{Key: "mem:" + name, Name: name, Path: p, Format: format.NDJSON, Size: int64(len(s.items[name]))})
	}
	return out, nil
}

// countingExecutor runs items on the local pool and counts what the
// engine asked of it.
type countingExecutor struct {
	attempts, skipped atomic.Int64
	mu                sync.Mutex
	works             []*Work
	// before runs ahead of each attempt, as a remote executor's delays would.
	before func(i, n int)
}

func (e *countingExecutor) Execute(ctx context.Context, w *Work) {
	e.mu.Lock()
	e.works = append(e.works, w)
	e.mu.Unlock()
	attempt, skipped := w.Attempt, w.Skipped
	inner := *w
	inner.Attempt = func(ctx context.Context, i, n int) bool {
		e.attempts.Add(1)
		if e.before != nil {
			e.before(i, n)
		}
		return attempt(ctx, i, n)
	}
	inner.Skipped = func(i int) {
		e.skipped.Add(1)
		skipped(i)
	}
	LocalPool{}.Execute(ctx, &inner)
}

func seamProject(t *testing.T, settings string) (string, *pipeline.Plan) {
	t.Helper()
	dir := project(t, map[string]string{
		"user.cue":      userSchema,
		"pipeline.yaml": "version: 1\nstages:\n  users:\n" + settings + "    source: {paths: [\"unused/*.json\"]}\n    schema: user.cue#User\n    outputs: [{format: ndjson, path: out/all.ndjson}]\n    rejects: out/rejects.ndjson\n",
	})
	m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	return dir, plan
}

func memItems(dir string, n int) *memSource {
	s := &memSource{dir: dir, items: map[string]string{}}
	for i := range n {
		name := fmt.Sprintf("m%02d.ndjson", i)
		s.items[name] = fmt.Sprintf("{\"id\":%d,\"name\":\"u%d\"}\n", i+1, i)
		s.order = append(s.order, name)
	}
	return s
}

func TestSeamsRetryThroughTheExecutor(t *testing.T) {
	dir, plan := seamProject(t, "    retry: {max: 2, delay: 1ms}\n")
	src := memItems(t.TempDir(), 3)
	// Item 1's file goes away for its first two attempts, as a flaky
	// store would: a transient failure, tried again.
	p := filepath.Join(src.dir, "m01.ndjson")
	ex := &countingExecutor{before: func(i, n int) {
		switch {
		case i == 1 && n == 1:
			os.Rename(p, p+".away")
		case i == 1 && n == 3:
			os.Rename(p+".away", p)
		}
	}}
	opts := Options{Executor: ex, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }}
	sum, err := Run(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Stages[0]
	if st.FailedItems != 0 || st.Retries != 2 || ex.attempts.Load() != 5 {
		t.Errorf("failed items %d, retries %d, attempts %d; want 0, 2, 5", st.FailedItems, st.Retries, ex.attempts.Load())
	}
	if got := read(t, dir, "out/all.ndjson"); got != "{\"id\":1,\"name\":\"u0\",\"tier\":\"free\"}\n{\"id\":2,\"name\":\"u1\",\"tier\":\"free\"}\n{\"id\":3,\"name\":\"u2\",\"tier\":\"free\"}\n" {
		t.Errorf("output %q", got)
	}
	// The next run takes the same items by their keys: all up to date.
	ex.before = nil
	sum, _ = Run(context.Background(), plan, opts)
	if st := sum.Stages[0]; st.UpToDate != 3 {
		t.Errorf("second run: %+v", st)
	}
}

func TestSeamsTimeoutIsAnItemFailureThatIsRetried(t *testing.T) {
	dir := project(t, map[string]string{
		"n.cue": "import \"list\"\n#In: {n: int}\n#Size: {in: #In, size: len(list.Range(0, in.n, 1))}\n",
		"pipeline.yaml": "version: 1\nstages:\n  sizes:\n    timeout: 300ms\n    retry: {max: 1, delay: 1ms}\n" +
			"    source: {paths: [\"unused/*.json\"]}\n    schema: n.cue#In\n    transform: n.cue#Size\n" +
			"    outputs: [{format: ndjson, path: out/sizes.ndjson}]\n    rejects: out/rejects.ndjson\n",
	})
	m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, _ := pipeline.Compile(m)
	src := &memSource{dir: t.TempDir(), order: []string{"a.ndjson", "b.ndjson"}, items: map[string]string{
		"a.ndjson": "{\"n\":2}\n",
		"b.ndjson": "{\"n\":3}\n{\"n\":500000000}\n{\"n\":4}\n",
	}}
	ex := &countingExecutor{}
	sum, err := Run(context.Background(), plan, Options{Executor: ex, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Stages[0]
	if st.FailedItems != 1 || st.Retries != 1 || st.Failed != 3 || ex.attempts.Load() != 3 {
		t.Errorf("failed items %d, retries %d, failed records %d, attempts %d; want 1, 1, 3, 3", st.FailedItems, st.Retries, st.Failed, ex.attempts.Load())
	}
	if got := read(t, dir, "out/sizes.ndjson"); got != "{\"size\":2}\n" {
		t.Errorf("output %q", got)
	}
	for i, line := range strings.Split(strings.TrimSpace(read(t, dir, "out/rejects.ndjson")), "\n") {
		if want := fmt.Sprintf(`{"source":"b.ndjson","record":%d,"line":%d,"errors":[{"line":%d,"column":1,"message":"not written: the item timed out after 300ms"`, i+1, i+1, i+1); !strings.HasPrefix(line, want) {
			t.Errorf("reject %d: %s\nwant it to start %s", i+1, line, want)
		}
	}
}

func TestSeamsMaxMemoryReachesTheExecutor(t *testing.T) {
	_, plan := seamProject(t, "")
	plan.Manifest.Limits.MaxMemory = 1 << 20
	src := memItems(t.TempDir(), 4)
	ex := &countingExecutor{}
	if _, err := Run(context.Background(), plan, Options{Executor: ex, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }}); err != nil {
		t.Fatal(err)
	}
	w := ex.works[0]
	if w.Gate == nil || w.Gate.budget != 1<<20 || w.Weight(0) != format.Weight(format.NDJSON, int64(len(src.items["m00.ndjson"]))) {
		t.Errorf("gate %+v, weight %d", w.Gate, w.Weight(0))
	}
}

func TestSeamsCancellationSkipsWhatHasNotStarted(t *testing.T) {
	_, plan := seamProject(t, "    parallel: 1\n")
	src := memItems(t.TempDir(), 5)
	ctx, cancel := context.WithCancel(context.Background())
	ex := &countingExecutor{before: func(i, n int) {
		if i == 1 {
			cancel()
		}
	}}
	sum, err := Run(ctx, plan, Options{Executor: ex, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }})
	if err != nil {
		t.Fatal(err)
	}
	st := sum.Stages[0]
	if st.Status != StatusInterrupted || ex.skipped.Load() != 3 || !sum.Interrupted {
		t.Errorf("status %s, skipped %d, interrupted %v", st.Status, ex.skipped.Load(), sum.Interrupted)
	}
}
