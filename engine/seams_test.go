package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
)

// These tests drive a run through its seams: a Source that is not a glob
// and an Executor that is not the local pool, as a message-queue source or
// a distributed executor would be.

// memSource lists records held in memory, as a message queue or an object
// store would: no file on disk, its own fingerprint, its own Open.
type memSource struct {
	dir   string
	items map[string]string
	order []string
	// away makes an item's Open fail while set, as a flaky store would.
	away sync.Map
}

func (s *memSource) Items(context.Context) ([]Item, error) {
	var out []Item
	for _, name := range s.order {
		body := s.items[name]
		f := format.NDJSON
		if filepath.Ext(name) == ".json" {
			f = format.JSON
		}
		out = append(out, Item{Key: "mem:" + name, Name: name, Path: filepath.Join(s.dir, name), Format: f, Size: int64(len(body)),
			Fingerprint: fmt.Sprintf("%x", sha256.Sum256([]byte(body))),
			Open: func() (io.ReadCloser, error) {
				if _, gone := s.away.Load(name); gone {
					return nil, &os.PathError{Op: "open", Path: name, Err: errors.New("the store is unavailable")}
				}
				return io.NopCloser(strings.NewReader(body)), nil
			}})
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

func (e *countingExecutor) Execute(ctx context.Context, w *Work) error {
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
	return LocalPool{}.Execute(ctx, &inner)
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
	// Item 1's store is away for its first two attempts: a transient
	// failure, tried again.
	ex := &countingExecutor{before: func(i, n int) {
		switch {
		case i == 1 && n == 1:
			src.away.Store("m01.ndjson", true)
		case i == 1 && n == 3:
			src.away.Delete("m01.ndjson")
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
	// A new fingerprint is a changed item: it alone runs again.
	src.items["m02.ndjson"] = "{\"id\":30,\"name\":\"u2\"}\n"
	sum, _ = Run(context.Background(), plan, opts)
	if st := sum.Stages[0]; st.UpToDate != 2 || st.OK != 3 {
		t.Errorf("third run: %+v", st)
	}
	if got := read(t, dir, "out/all.ndjson"); !strings.HasSuffix(got, "{\"id\":30,\"name\":\"u2\",\"tier\":\"free\"}\n") {
		t.Errorf("output after the change %q", got)
	}
}

func TestSeamsTimeoutIsAnItemFailureThatIsRetried(t *testing.T) {
	dir := project(t, map[string]string{
		"n.cue": "import \"list\"\n#In: {n: int}\n#Size: {in: #In, size: len(list.Range(0, in.n, 1))}\n",
		// The timeout leaves room for the evaluator to start on a loaded
		// machine, under -race; the slow record takes far longer.
		"pipeline.yaml": "version: 1\nstages:\n  sizes:\n    timeout: 3s\n    retry: {max: 1, delay: 1ms}\n" +
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
		if want := fmt.Sprintf(`{"source":"b.ndjson","record":%d,"line":%d,"errors":[{"line":%d,"column":1,"message":"not written: the item timed out after 3s"`, i+1, i+1, i+1); !strings.HasPrefix(line, want) {
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

// workerExecutor runs each item as a distributed executor would: the Job,
// the stage and the Report travel as JSON, the input and the parts as
// bytes, and a "worker" compiles the stage from the manifest on its own
// with NewItemFunc. It retries as the stage's policy says.
type workerExecutor struct{ t *testing.T }

// memParts is a PartStore that keeps parts in memory, as an object store.
type memParts struct {
	mu    sync.Mutex
	parts map[string]*bytes.Buffer
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func (p *memParts) Create(name string) (io.WriteCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := new(bytes.Buffer)
	p.parts[name] = b
	return nopCloser{b}, nil
}

func (p *memParts) open(name string) (io.ReadCloser, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.parts[name]
	if !ok {
		return nil, fmt.Errorf("no part %s", name)
	}
	return io.NopCloser(bytes.NewReader(b.Bytes())), nil
}

// roundTrip sends v through JSON, as a message would.
func roundTrip[T any](t *testing.T, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *workerExecutor) Execute(ctx context.Context, w *Work) error {
	ref := roundTrip(e.t, w.Stage)
	m, err := pipeline.Load(ref.Manifest)
	if err != nil {
		return err
	}
	plan, err := pipeline.Compile(m)
	if err != nil {
		return err
	}
	var fn *ItemFunc
	for _, s := range plan.Stages {
		if s.Name == ref.Stage {
			if fn, err = NewItemFunc(context.Background(), m, s, format.DefaultLimits); err != nil {
				return err
			}
		}
	}
	defer fn.Close()
	if got := fn.Ref(m); got != ref {
		return fmt.Errorf("the worker compiled %+v, not %+v", got, ref)
	}
	for _, i := range w.Items {
		in, err := w.Open(i)
		if err != nil {
			return err
		}
		input, err := io.ReadAll(in)
		in.Close()
		if err != nil {
			return err
		}
		for n := 1; ; n++ {
			parts := &memParts{parts: map[string]*bytes.Buffer{}}
			rep := fn.Run(ctx, roundTrip(e.t, w.Job(i, n)), bytes.NewReader(input), parts)
			again, err := w.Record(i, n, roundTrip(e.t, rep), parts.open)
			if err != nil {
				return err
			}
			if !again || n > w.Retry.Max {
				break
			}
			time.Sleep(w.Retry.Wait(n))
		}
		w.Done(i)
	}
	return nil
}

// A stage run item by item on a "worker", with everything that crosses the
// seam sent as JSON, writes the very bytes a local run does: outputs,
// rejects and the item that fails as a whole.
func TestSeamsAWorkerExecutorWritesWhatALocalRunDoes(t *testing.T) {
	run := func(ex Executor) (string, *Summary) {
		dir, plan := seamProject(t, "")
		src := &memSource{dir: t.TempDir(), order: []string{"a.ndjson", "b.json", "c.ndjson"}, items: map[string]string{
			"a.ndjson": "{\"id\":1,\"name\":\"a\"}\n{\"id\":\"two\",\"name\":\"b\"}\n",
			"b.json":   "[{\"id\":3,\"name\":\"c\"},\n {\"id\":4,\n",
			"c.ndjson": "{\"id\":5,\"name\":\"e\",\"tier\":\"pro\"}\n",
		}}
		sum, err := Run(context.Background(), plan, Options{Executor: ex, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }})
		if err != nil {
			t.Fatal(err)
		}
		return dir, sum
	}
	localDir, local := run(LocalPool{})
	remoteDir, remote := run(&workerExecutor{t: t})
	for _, f := range []string{"out/all.ndjson", "out/rejects.ndjson"} {
		if l, r := read(t, localDir, f), read(t, remoteDir, f); l != r || l == "" {
			t.Errorf("%s: worker wrote\n%s\nlocal wrote\n%s", f, r, l)
		}
	}
	ls, rs := local.Stages[0], remote.Stages[0]
	if ls.OK != rs.OK || ls.Failed != rs.Failed || ls.FailedItems != rs.FailedItems || rs.FailedItems != 1 {
		t.Errorf("worker %+v, local %+v", rs, ls)
	}
}

// lossyExecutor reports only the first item, as an executor that lost the
// others' messages would, or fails outright.
type lossyExecutor struct{ err error }

func (e lossyExecutor) Execute(ctx context.Context, w *Work) error {
	if e.err != nil {
		return e.err
	}
	w.Attempt(ctx, w.Items[0], 1)
	w.Done(w.Items[0])
	return nil
}

// Items an executor never reports did not run: the stage is interrupted,
// keeps what finished, and the next run does the rest. An executor that
// fails fails the stage, with its reason.
func TestSeamsAnExecutorThatLosesItems(t *testing.T) {
	dir, plan := seamProject(t, "")
	src := memItems(t.TempDir(), 3)
	source := func(*pipeline.Manifest, *pipeline.Stage) Source { return src }
	sum, err := Run(context.Background(), plan, Options{Executor: lossyExecutor{}, Source: source})
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.Stages[0]; st.Status != StatusInterrupted || st.OK != 1 {
		t.Errorf("lost items: %+v", st)
	}
	sum, _ = Run(context.Background(), plan, Options{Executor: lossyExecutor{err: errors.New("connection lost")}, Source: source})
	want := "the executor failed: connection lost; no output of this stage was replaced; finished items are saved for the next run"
	if st := sum.Stages[0]; st.Status != StatusFailed || st.Error != want {
		t.Errorf("failed executor: %s, %q", st.Status, st.Error)
	}
	sum, _ = Run(context.Background(), plan, Options{Source: source})
	if st := sum.Stages[0]; st.Status != StatusOK || st.UpToDate != 1 || st.OK != 3 {
		t.Errorf("the next run: %+v", st)
	}
	if got := strings.Count(read(t, dir, "out/all.ndjson"), "\n"); got != 3 {
		t.Errorf("%d records written, want 3", got)
	}
}

// An item whose commit fails keeps its input's sum in the run record: its
// entry, not journaled, still has it.
func TestFailedCommitKeepsTheInputSum(t *testing.T) {
	dir, plan := seamProject(t, "")
	src := memItems(t.TempDir(), 3)
	parts := filepath.Join(dir, ".zpipe", "parts")
	ex := &countingExecutor{before: func(i, n int) { // the committer's pack cannot be made
		if fi, err := os.Stat(parts); err == nil && fi.IsDir() {
			os.RemoveAll(parts)
			os.WriteFile(parts, []byte("not a folder"), 0o644)
		}
	}}
	sum, err := Run(context.Background(), plan, Options{Executor: ex, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for p, err := range sum.ProvenanceItems() {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if p.InputSHA256 == "" {
			t.Errorf("%s: no input_sha256 in the run record (error %q)", p.ID, p.Error)
		}
	}
	if n != 3 {
		t.Errorf("%d items in the run record", n)
	}
}

// doneOnly ends every item without running it.
type doneOnly struct{}

func (doneOnly) Execute(ctx context.Context, w *Work) error {
	for _, i := range w.Items {
		w.Done(i)
	}
	return nil
}

// An item an executor ends without running it fails, and runs next time:
// saved as done, it would be up to date with none of its records written.
func TestAnItemEndedWithoutRunningFails(t *testing.T) {
	_, plan := seamProject(t, "")
	src := memItems(t.TempDir(), 2)
	opts := Options{Executor: doneOnly{}, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }}
	sum, err := Run(context.Background(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.Stages[0]; st.FailedItems != 2 || sum.ExitCode() != 1 {
		t.Errorf("first run: %+v, exit %d", st, sum.ExitCode())
	}
	opts.Executor = nil
	sum, _ = Run(context.Background(), plan, opts)
	if st := sum.Stages[0]; st.UpToDate != 0 || st.OK != 2 {
		t.Errorf("second run: up to date %d, ok %d; the items never ran", st.UpToDate, st.OK)
	}
}

// reversingExecutor starts the items last first, reordering Work.Items in
// place, as an Executor may.
type reversingExecutor struct{}

func (reversingExecutor) Execute(ctx context.Context, w *Work) error {
	slices.Reverse(w.Items)
	return LocalPool{}.Execute(ctx, w)
}

// An Executor that starts the items in an order of its own still has each
// item's commit applied to that item: the output holds each record once,
// the item that failed is not saved as done, and the next run redoes it
// alone.
func TestSeamsAnExecutorsOrderIsItsOwn(t *testing.T) {
	dir, plan := seamProject(t, "")
	src := memItems(t.TempDir(), 6)
	src.items["m01.ndjson"] = "{\"id\":0,\"name\":\"u1\"}\n" // a record rejected: id >= 1
	src.away.Store("m04.ndjson", true)                       // the item fails
	source := func(*pipeline.Manifest, *pipeline.Stage) Source { return src }
	sum, err := Run(context.Background(), plan, Options{Executor: reversingExecutor{}, Source: source})
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.Stages[0]; st.OK != 4 || st.Failed != 1 || st.FailedItems != 1 {
		t.Errorf("first run: %+v", st)
	}
	var failed []string
	for it, err := range sum.ProvenanceItems() {
		if err != nil {
			t.Fatal(err)
		}
		if it.Error != "" {
			failed = append(failed, it.ID)
		}
	}
	if got := strings.Join(failed, " "); got != "users:mem:m04.ndjson" {
		t.Errorf("failed in the run record: %s", got)
	}
	want := ""
	for _, u := range []string{`{"id":1,"name":"u0"`, `{"id":3,"name":"u2"`, `{"id":4,"name":"u3"`, `{"id":6,"name":"u5"`} {
		want += u + `,"tier":"free"}` + "\n"
	}
	if got := read(t, dir, "out/all.ndjson"); got != want {
		t.Errorf("output:\n%s\nwant\n%s", got, want)
	}
	src.away.Delete("m04.ndjson")
	sum, err = Run(context.Background(), plan, Options{Source: source})
	if err != nil {
		t.Fatal(err)
	}
	if st := sum.Stages[0]; st.UpToDate != 5 || st.OK != 5 || st.FailedItems != 0 {
		t.Errorf("the next run: %+v", st)
	}
}

// Each item's errors are shown in input order, as items finish: those of
// items saved while an earlier one still runs wait for it, and are shown
// all the same.
func TestSeamsErrorsAreShownInInputOrder(t *testing.T) {
	_, plan := seamProject(t, "    parallel: 4\n")
	src := memItems(t.TempDir(), 4)
	for i, name := range src.order {
		src.items[name] = fmt.Sprintf("{\"id\":0,\"name\":\"u%d\"}\n", i)
	}
	ex := &countingExecutor{before: func(i, n int) {
		if i == 0 {
			time.Sleep(300 * time.Millisecond) // the others are saved by then
		}
	}}
	var mu sync.Mutex
	var shown []string
	opts := Options{Executor: ex, Source: func(*pipeline.Manifest, *pipeline.Stage) Source { return src }, OnEvent: func(e Event) {
		if e.Kind == RecordFailed {
			mu.Lock()
			shown = append(shown, e.Err.Source)
			mu.Unlock()
		}
	}}
	if _, err := Run(context.Background(), plan, opts); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(shown, " "), "m00.ndjson m01.ndjson m02.ndjson m03.ndjson"; got != want {
		t.Errorf("shown: %s\nwant:  %s", got, want)
	}
}
