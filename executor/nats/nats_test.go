package nats

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/internal/cachetest"
	"github.com/zpipe/zpipe/pipeline"
)

func TestMain(m *testing.M) {
	if url := os.Getenv(workerEnv); url != "" {
		os.Exit(serveWorker(url))
	}
	remove := cachetest.Use()
	goleak.VerifyTestMain(m,
		goleak.Cleanup(func(int) { remove() }),
		// nats.go v1.55.0 starts this goroutine for async publishes (the
		// object store's) and, when the connection closes as it starts,
		// it reads a status channel already set to nil and waits on it
		// forever. It is the library's, one per connection, and holds
		// nothing of ours.
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

const userSchema = `#User: {
	id:   int & >0
	name: string & !=""
	tier: *"free" | "pro"
}
#Public: {
	in: #User
	id:    in.id
	label: "\(in.name) (\(in.tier))"
}
`

// project writes a pipeline with several items: small files, a large
// ndjson file split into chunks, a malformed json file and records that
// are rejected, through a transform, into several outputs.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var big strings.Builder
	for i := 1; i <= 3000; i++ {
		if i%500 == 0 {
			fmt.Fprintf(&big, "{\"id\":%d,\"name\":\"\"}\n", i)
			continue
		}
		fmt.Fprintf(&big, "{\"id\":%d,\"name\":\"user %d\",\"tier\":\"pro\"}\n", i, i)
	}
	files := map[string]string{
		"schemas/user.cue": userSchema,
		"data/big.ndjson":  big.String(),
		"data/a.json":      `[{"id": 1, "name": "ada"}, {"id": -2, "name": "bob"}]`,
		"data/b.yaml":      "id: 3\nname: cy\n",
		"data/c.json":      `[{"id": 4, "name": "dee"},`,
		"data/d.csv":       "id,name\n5,eve\n6,\n",
		"pipeline.yaml": `version: 1
name: nats-test
stages:
  users:
    source: {paths: ["data/*"]}
    schema: schemas/user.cue#User
    outputs:
      - {format: ndjson, path: out/users.ndjson}
      - {format: yaml, path: "out/by-source/{stem}.yaml"}
    rejects: out/rejects.ndjson
  public:
    needs: [users]
    priority: high
    source: {paths: ["out/users.ndjson"]}
    schema: schemas/user.cue#User
    transform: schemas/user.cue#Public
    outputs: [{format: csv, path: out/public.csv}]
`,
	}
	writeFiles(t, dir, files)
	return dir
}

// writeFiles writes files, by path under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func run(t *testing.T, dir string, opts engine.Options) *engine.Summary {
	t.Helper()
	return runCtx(context.Background(), t, dir, opts)
}

// runCtx runs dir/pipeline.yaml; the big file is cut in several chunks
// unless opts says how.
func runCtx(ctx context.Context, t *testing.T, dir string, opts engine.Options) *engine.Summary {
	t.Helper()
	m, err := pipeline.Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pipeline.Compile(m)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ChunkSize == 0 {
		opts.ChunkSize = 16 << 10
	}
	sum, err := engine.Run(ctx, plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// outputs reads every file under dir/out.
func outputs(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(dir, "out")
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			out[rel] = string(b)
		}
		return err
	})
	return out
}

// cluster is an embedded server with workers, all in this process.
type cluster struct {
	srv     *Server
	workers []*Worker
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	js      jetstream.JetStream
	conns   []interface{ Close() }
}

func startCluster(t *testing.T, workers int) *cluster {
	t.Helper()
	srv, err := StartServer(ServerOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{srv: srv}
	c.js = c.connect(t, "coordinator")
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	for i := range workers {
		wk := &Worker{JS: c.connect(t, fmt.Sprintf("w%d", i)), Name: fmt.Sprintf("w%d", i), Parallel: 2, Dir: t.TempDir()}
		c.workers = append(c.workers, wk)
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			if err := wk.Run(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	t.Cleanup(c.stop)
	return c
}

func (c *cluster) connect(t *testing.T, name string) jetstream.JetStream {
	t.Helper()
	nc, err := Connect(c.srv.URL(), ConnOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	c.conns = append(c.conns, nc)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func (c *cluster) stop() {
	c.cancel()
	c.wg.Wait()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.srv.Shutdown()
}

// A run on three workers writes the very bytes a local run does, and
// every worker takes a share.
func TestWorkersWriteWhatALocalRunDoes(t *testing.T) {
	local := project(t)
	lsum := run(t, local, engine.Options{})

	for _, shared := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared-fs=%v", shared), func(t *testing.T) {
			c := startCluster(t, 3)
			dir := project(t)
			var mu sync.Mutex
			by := map[string]int{}
			ex := &Executor{JS: c.js, SharedFS: shared, OnWorker: func(w string) {
				mu.Lock()
				by[w]++
				mu.Unlock()
			}}
			sum := run(t, dir, engine.Options{Executor: ex})
			want, got := outputs(t, local), outputs(t, dir)
			if len(want) < 5 {
				t.Fatalf("the local run wrote only %v", want)
			}
			for name, body := range want {
				if got[name] != body {
					t.Errorf("%s:\nworkers wrote\n%s\nlocal run wrote\n%s", name, got[name], body)
				}
			}
			for i, st := range sum.Stages {
				ls := lsum.Stages[i]
				if st.Status != ls.Status || st.OK != ls.OK || st.Failed != ls.Failed || st.FailedItems != ls.FailedItems {
					t.Errorf("stage %s: workers %+v, local %+v", st.Name, st, ls)
				}
			}
			if len(by) != 3 {
				t.Errorf("items by worker: %v", by)
			}
			// The next run is up to date but for the malformed file,
			// which a run always tries again, as a local one would.
			sum = run(t, dir, engine.Options{Executor: ex})
			if st := sum.Stages[0]; st.UpToDate != st.Items-1 || st.FailedItems != 1 {
				t.Errorf("second run: %+v", st)
			}
		})
	}
}

// A worker of another zpipe version refuses the work and says so in its
// answer, which the coordinator shows; the work waits for a worker that
// takes it.
func TestAWorkerOfAnotherVersionRefuses(t *testing.T) {
	c := startCluster(t, 0)
	if _, err := setup(context.Background(), c.js, Config{}); err != nil {
		t.Fatal(err)
	}
	wk := &Worker{JS: c.connect(t, "w"), Name: "w", Parallel: 1, Dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		wk.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	body := []byte(`{"version":"v0.0.1","exec":"e1","stage":{"stage":"users"},"job":{"item":0,"attempt":1}}`)
	if _, err := c.js.Publish(context.Background(), "zpipe.work.normal.x.users.e1", body); err != nil {
		t.Fatal(err)
	}
	cons, err := c.js.OrderedConsumer(context.Background(), resultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{resultSubject("e1")}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := `"refused":"it runs zpipe ` + engine.Version() + ` and the coordinator v0.0.1"`
	if !strings.Contains(string(m.Data()), want) {
		t.Errorf("answer %s\nwant it to hold %s", m.Data(), want)
	}
}

// A stage's parallel, when the manifest sets it, bounds the items in
// flight over all workers, as it bounds them in a local run; left to its
// default (this machine's cores) it does not, since the workers bring
// their own.
func TestParallelBoundsItemsInFlight(t *testing.T) {
	for _, tc := range []struct {
		parallel string
		most     func(int) bool
	}{
		// One item in flight, and at most one more whose worker's ack is
		// on its way: a worker answers, then acks, and the answer may
		// reach the coordinator, which sends the next item, first.
		{"    parallel: 1\n", func(n int) bool { return n >= 1 && n <= 2 }},
		{"", func(n int) bool { return n > 2 }},
	} {
		t.Run(fmt.Sprintf("parallel=%q", strings.TrimSpace(tc.parallel)), func(t *testing.T) {
			c := startCluster(t, 2)
			dir := slowProject(t, 8)
			p := filepath.Join(dir, "pipeline.yaml")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), "  sizes:\n", "  sizes:\n"+tc.parallel, 1)), 0o644)
			if _, err := setup(context.Background(), c.js, Config{}); err != nil {
				t.Fatal(err)
			}
			// Messages in the work stream are items sent and not yet
			// answered: the work queue drops each once it is acked.
			stream, err := c.js.Stream(context.Background(), workStream)
			if err != nil {
				t.Fatal(err)
			}
			most, done := 0, make(chan struct{})
			var watching sync.WaitGroup
			watching.Add(1)
			go func() {
				defer watching.Done()
				for {
					if info, err := stream.Info(context.Background()); err == nil {
						most = max(most, int(info.State.Msgs))
					}
					select {
					case <-done:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			}()
			sum := run(t, dir, engine.Options{Executor: &Executor{JS: c.js}})
			close(done)
			watching.Wait()
			if st := sum.Stages[0]; st.OK != 8 {
				t.Errorf("stage: %+v", st)
			}
			if !tc.most(most) {
				t.Errorf("at most %d items were in flight at once", most)
			}
		})
	}
}

// The run's throttle spaces the items sent however fast workers answer:
// an answer that wakes the coordinator early does not let the next item
// go before its turn. Each item's answer lands in the results stream, so
// the gaps between them are at least the throttle's (a lower bound, which
// a slow machine only widens).
func TestThrottleSpacesSends(t *testing.T) {
	c := startCluster(t, 2)
	dir := t.TempDir()
	files := map[string]string{
		"s.cue":         "#S: {id: int}\n",
		"pipeline.yaml": "version: 1\nlimits: {throttle: 150ms}\nstages:\n  s:\n    source: {paths: [\"data/*.json\"]}\n    schema: s.cue#S\n    outputs: [{format: ndjson, path: out/s.ndjson}]\n",
	}
	for i := range 6 {
		files[fmt.Sprintf("data/%d.json", i)] = fmt.Sprintf(`{"id": %d}`, i)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
	sum := run(t, dir, engine.Options{Executor: &Executor{JS: c.js}})
	if st := sum.Stages[0]; st.OK != 6 {
		t.Fatalf("stage: %+v", st)
	}
	stream, err := c.js.Stream(context.Background(), resultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, m.Time)
	}
	if len(times) != 6 {
		t.Fatalf("%d answers", len(times))
	}
	// The first answer of each worker waits for it to compile the
	// stage, so the span is taken from the third: three gaps of 150ms
	// follow, of which half is a bound no slow machine breaks, and which
	// the lost throttle (everything in ~50ms) does not meet.
	if span := times[5].Sub(times[2]); span < 3*150*time.Millisecond/2 {
		t.Errorf("the last four items were answered within %s; a 150ms throttle spaces them by at least %s", span, 3*150*time.Millisecond)
	}
}

// A worker reads only the files the coordinator sent: a JSON Schema whose
// $ref names an absolute file is refused there, even when that path
// exists on the worker's disk, while a relative $ref travels with it.
func TestAWorkerReadsOnlyWhatItWasSent(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(outside, []byte(`{"type": "integer"}`), 0o644)
	for _, tc := range []struct {
		ref    string
		failed int
	}{
		{"common/id.json", 0},
		{"file://" + filepath.ToSlash(outside), 1},
	} {
		c := startCluster(t, 1)
		dir := t.TempDir()
		files := map[string]string{
			"s.schema.json":  `{"type": "object", "properties": {"id": {"$ref": "` + tc.ref + `"}}}`,
			"common/id.json": `{"type": "integer"}`,
			"data/a.json":    `{"id": 1}`,
			"pipeline.yaml":  "version: 1\nstages:\n  s:\n    source: {paths: [\"data/*.json\"]}\n    schema: s.schema.json\n    outputs: [{format: ndjson, path: out/s.ndjson}]\n",
		}
		for name, body := range files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(body), 0o644)
		}
		sum := run(t, dir, engine.Options{Executor: &Executor{JS: c.js}})
		if st := sum.Stages[0]; st.FailedItems != tc.failed {
			t.Errorf("$ref %s: %d items failed, want %d (%+v)", tc.ref, st.FailedItems, tc.failed, st)
		}
	}
}

// truncating is an Executor that cuts a file to half just before the
// items go out, as a file shortened after it was split is.
type truncating struct {
	Executor
	path string
	at   int64
}

func (e *truncating) Execute(ctx context.Context, w *engine.Work) error {
	if err := os.Truncate(e.path, e.at); err != nil {
		return err
	}
	return e.Executor.Execute(ctx, w)
}

// An input the coordinator cannot read whole any more fails its items, as
// in a local run, and the others are written: it is not retried as a call
// to the server (which never ended), nor does it stop the stage. Small
// chunks go inline in the work message, large ones through the bucket.
func TestUnreadableInputsFailTheirItems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines int
		chunk int64
	}{{"inline", 3000, 16 << 10}, {"bucket", 40000, 600 << 10}} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCluster(t, 1)
			var b strings.Builder
			for i := 1; i <= tc.lines; i++ {
				fmt.Fprintf(&b, "{\"id\":%d,\"name\":\"user %d\",\"tier\":\"pro\"}\n", i, i)
			}
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{
				"schemas/user.cue": userSchema,
				"data/big.ndjson":  b.String(),
				"pipeline.yaml":    "version: 1\nstages:\n  users:\n    source: {paths: [\"data/*\"]}\n    schema: schemas/user.cue#User\n    outputs:\n      - {format: ndjson, path: out/users.ndjson}\n",
			})
			ex := &truncating{Executor: Executor{JS: c.js}, path: filepath.Join(dir, "data/big.ndjson"), at: int64(b.Len() / 2)}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var mu sync.Mutex
			var msgs []string
			sum := runCtx(ctx, t, dir, engine.Options{Executor: ex, ChunkSize: tc.chunk, OnEvent: func(e engine.Event) {
				mu.Lock()
				msgs = append(msgs, e.Msg)
				mu.Unlock()
			}})
			st := sum.Stages[0]
			if st.FailedItems == 0 || st.OK == 0 || st.Status != engine.StatusFailed || ctx.Err() != nil {
				t.Fatalf("stage %+v (context: %v)", st, ctx.Err())
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.ContainsFunc(msgs, func(m string) bool {
				return strings.Contains(m, " before this chunk does: it changed after it was split")
			}) {
				t.Errorf("no event says the file changed:\n%s", strings.Join(msgs, "\n"))
			}
		})
	}
}

// flakyOpen fails the first read of each input, as a passing read error
// (EIO on a network file system) would.
type flakyOpen struct {
	Executor
	mu     sync.Mutex
	failed map[int]bool
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("input/output error") }
func (failingReader) Close() error             { return nil }

func (e *flakyOpen) Execute(ctx context.Context, w *engine.Work) error {
	open := w.Open
	w.Open = func(i int) (io.ReadCloser, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if !e.failed[i] {
			e.failed[i] = true
			return failingReader{}, nil
		}
		return open(i)
	}
	return e.Executor.Execute(ctx, w)
}

// An attempt that could not read its input is retried, and the retry
// stores the input it could read, inline or in the bucket.
func TestARetryReadsTheInputAgain(t *testing.T) {
	c := startCluster(t, 1)
	var b strings.Builder
	for i := 1; i <= 40000; i++ {
		fmt.Fprintf(&b, "{\"id\":%d,\"name\":\"user %d\",\"tier\":\"pro\"}\n", i, i)
	}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"schemas/user.cue": userSchema,
		"data/big.ndjson":  b.String(),
		"data/small.json":  `{"id": 1, "name": "ada"}`,
		"pipeline.yaml":    "version: 1\nstages:\n  users:\n    retry: {max: 1, delay: 10ms}\n    source: {paths: [\"data/*\"]}\n    schema: schemas/user.cue#User\n    outputs:\n      - {format: ndjson, path: out/users.ndjson}\n",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum := runCtx(ctx, t, dir, engine.Options{Executor: &flakyOpen{Executor: Executor{JS: c.js}, failed: map[int]bool{}}, ChunkSize: 600 << 10})
	if st := sum.Stages[0]; st.Status != engine.StatusOK || st.OK != 40001 || st.Retries != st.Items {
		t.Fatalf("stage %+v", st)
	}
}
