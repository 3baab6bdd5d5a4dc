package nats

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zpipe/zpipe/engine"
)

// workerEnv makes this test binary a worker process: the URL to work for.
// With dieEnv=N it kills itself as it starts its N-th item, so that it
// surely dies with an item in hand.
const (
	workerEnv = "ZPIPE_TEST_WORKER"
	dieEnv    = "ZPIPE_TEST_WORKER_DIES_AT"
)

// serveWorker is a worker process for the tests that kill one.
func serveWorker(url string) int {
	nc, err := Connect(url, ConnOptions{Name: "test worker", Wait: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wk := &Worker{JS: js, Name: "pid-" + strconv.Itoa(os.Getpid()), Parallel: 2, AckWait: testAckWait}
	if at, _ := strconv.Atoi(os.Getenv(dieEnv)); at > 0 {
		var started atomic.Int32
		testHookStart = func() {
			if started.Add(1) == int32(at) {
				self, _ := os.FindProcess(os.Getpid())
				self.Kill()
				select {} // the signal is on its way
			}
		}
	}
	if err := wk.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testAckWait is short, so that a killed worker's items move on soon.
const testAckWait = 2 * time.Second

// slowProject has items that each take a while to evaluate, so that a
// worker is killed with items in hand.
func slowProject(t *testing.T, items int) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"n.cue": "import \"list\"\n#In: {id: int, n: int}\n#Out: {in: #In, id: in.id, size: len(list.Range(0, in.n, 1))}\n",
		"pipeline.yaml": "version: 1\nname: slow\nstages:\n  sizes:\n    source: {paths: [\"data/*.json\"]}\n    schema: n.cue#In\n    transform: n.cue#Out\n" +
			"    outputs: [{format: ndjson, path: out/sizes.ndjson}]\n",
	}
	for i := range items {
		files[fmt.Sprintf("data/%03d.json", i)] = fmt.Sprintf(`{"id": %d, "n": %d}`, i, 20000+i)
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startWorkerProcess(t *testing.T, url string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), workerEnv+"="+url), env...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// A worker killed with items in hand loses nothing: the server hands its
// items to another worker once AckWait passes, and the outputs are byte
// for byte a local run's, with no record twice.
func TestAKilledWorkerLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	local := slowProject(t, 24)
	run(t, local, engine.Options{})

	c := startCluster(t, 0)
	dir := slowProject(t, 24)
	// The victim dies as it starts its third item: it has answered at
	// least one, and holds one.
	startWorkerProcess(t, c.srv.URL(), dieEnv+"=3")
	startWorkerProcess(t, c.srv.URL())
	var mu sync.Mutex
	by := map[string]int{}
	ex := &Executor{JS: c.js, Config: Config{AckWait: testAckWait}, OnWorker: func(w string) {
		mu.Lock()
		defer mu.Unlock()
		by[w]++
	}}
	sum := run(t, dir, engine.Options{Executor: ex})
	want, got := outputs(t, local), outputs(t, dir)
	if got["sizes.ndjson"] != want["sizes.ndjson"] || want["sizes.ndjson"] == "" {
		t.Errorf("workers wrote\n%s\nlocal run wrote\n%s", got["sizes.ndjson"], want["sizes.ndjson"])
	}
	if st := sum.Stages[0]; st.Status != engine.StatusOK || st.OK != 24 {
		t.Errorf("stage: %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(by) != 2 || ex.Redelivered() == 0 {
		t.Errorf("items by worker: %v; redelivered %d", by, ex.Redelivered())
	}
	t.Logf("items by worker: %v; redelivered after the kill: %d", by, ex.Redelivered())
}
