package nats

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zpipe/zpipe/engine"
)

// freePort asks the system for a port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// On a 3-node JetStream cluster with every stream replicated three times,
// a node killed mid-run costs nothing: the run goes on through the other
// two and writes what a local run does.
func TestAClusterNodeDiesMidRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	local := slowProject(t, 24)
	run(t, local, engine.Options{})

	ports := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	var nodes []*Server
	var urls []string
	for i, p := range ports {
		srv, err := StartServer(ServerOptions{StoreDir: t.TempDir(), Name: fmt.Sprintf("n%d", i+1), Cluster: "zpipe-test",
			ClusterListen: fmt.Sprintf("127.0.0.1:%d", p), Routes: strings.Join(routes, ",")})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, srv)
		urls = append(urls, srv.URL())
	}
	var stopped sync.Map
	defer func() {
		for i, n := range nodes {
			if _, ok := stopped.Load(i); !ok {
				n.Shutdown()
			}
		}
	}()
	url := strings.Join(urls, ",")
	c := &cluster{}
	connect := func(name string) jetstream.JetStream {
		nc, err := Connect(url, ConnOptions{Name: name})
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
	js := connect("coordinator")
	ctx, cancel := context.WithCancel(context.Background())
	for i := range 2 {
		wk := &Worker{JS: connect(fmt.Sprintf("w%d", i)), Name: fmt.Sprintf("w%d", i), Parallel: 2, Dir: t.TempDir(), AckWait: testAckWait}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			wk.Run(ctx)
		}()
	}
	defer func() {
		cancel()
		c.wg.Wait()
		for _, nc := range c.conns {
			nc.Close()
		}
	}()
	var answered atomic.Int64
	ex := &Executor{JS: js, Config: Config{Replicas: 3, AckWait: testAckWait}, OnWorker: func(string) {
		if answered.Add(1) == 6 {
			// The node the run is busiest with is as good as any: kill
			// the first.
			go func() {
				stopped.Store(0, true)
				nodes[0].Shutdown()
			}()
		}
	}}
	dir := slowProject(t, 24)
	sum := run(t, dir, engine.Options{Executor: ex})
	want, got := outputs(t, local), outputs(t, dir)
	if got["sizes.ndjson"] != want["sizes.ndjson"] || want["sizes.ndjson"] == "" {
		t.Errorf("the cluster run wrote\n%s\nlocal run wrote\n%s", got["sizes.ndjson"], want["sizes.ndjson"])
	}
	if st := sum.Stages[0]; st.Status != engine.StatusOK || st.OK != 24 {
		t.Errorf("stage: %+v", st)
	}
	if _, ok := stopped.Load(0); !ok {
		t.Error("no node was killed")
	}
}
