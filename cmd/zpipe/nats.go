package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/zpipe/zpipe/engine"
	znats "github.com/zpipe/zpipe/executor/nats"
	"github.com/zpipe/zpipe/pipeline"
)

// distFlags choose where a run's items run.
type distFlags struct {
	executor     string
	listen       string
	creds        string
	ca           string
	tlsCert      string
	tlsKey       string
	localWorkers int
	sharedFS     bool
}

func (f *distFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.executor, "executor", "", "where items run: local, nats (workers of an embedded NATS server) or nats://host:port,... (default: the manifest's executor, else local)")
	cmd.Flags().StringVar(&f.listen, "listen", "", "with --executor nats: where the embedded server listens (default: a free port on 127.0.0.1); off this machine it needs --creds")
	cmd.Flags().StringVar(&f.creds, "creds", "", "nkey seed file (zpipe creds) or NATS .creds file that workers and coordinator sign with")
	cmd.Flags().StringVar(&f.ca, "tls-ca", "", "PEM file of the CA that signed the NATS server's certificate")
	cmd.Flags().StringVar(&f.tlsCert, "tls-cert", "", "with --executor nats: the embedded server's TLS certificate (PEM)")
	cmd.Flags().StringVar(&f.tlsKey, "tls-key", "", "with --executor nats: the embedded server's TLS key (PEM)")
	cmd.Flags().IntVar(&f.localWorkers, "local-workers", -1, "workers in this process (default: 1 with the embedded server, 0 otherwise)")
	cmd.Flags().BoolVar(&f.sharedFS, "shared-fs", false, "workers read the coordinator's paths, so inputs are not copied to them")
}

// distributed is a run's NATS side: the embedded server, the connection,
// the workers in this process, and who answered how many items.
type distributed struct {
	srv    *znats.Server
	store  string // the embedded server's streams, removed at close
	closes []func()
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	by     map[string]int
}

// executor returns the run's executor: nil for a local run.
func (a *app) executor(f *distFlags, plans []*pipeline.Plan) (engine.Executor, *distributed, error) {
	kind := f.executor
	if kind == "" && len(plans) > 0 {
		kind = plans[0].Manifest.Executor
	}
	if kind == "" || kind == "local" {
		return nil, nil, nil
	}
	d := &distributed{by: map[string]int{}}
	url, workers := kind, f.localWorkers
	switch {
	case kind == "nats":
		srv, store, err := a.startServer(f)
		if err != nil {
			return nil, nil, usageError{err}
		}
		d.srv, d.store = srv, store
		url = srv.URL()
		a.log.Info("NATS server listening on " + url)
		if workers < 0 {
			workers = 1
		}
	case strings.HasPrefix(kind, "nats://"):
		if workers < 0 {
			workers = 0
		}
	default:
		return nil, nil, usageError{fmt.Errorf("--executor %q: use local, nats or nats://host:port", kind)}
	}
	js, err := d.connect(url, f, "zpipe coordinator")
	if err != nil {
		d.close()
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for i := range workers {
		wjs, err := d.connect(url, f, "zpipe local worker")
		if err != nil {
			d.close()
			return nil, nil, err
		}
		host, _ := os.Hostname()
		wk := &znats.Worker{JS: wjs, Name: fmt.Sprintf("%s:%d/local-%d", host, os.Getpid(), i+1), Parallel: runtime.NumCPU(), Log: a.warn}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := wk.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("local worker: " + err.Error())
			}
		}()
	}
	ex := &znats.Executor{JS: js, SharedFS: f.sharedFS, Warn: a.warn, OnWorker: func(w string) {
		d.mu.Lock()
		d.by[w]++
		d.mu.Unlock()
	}}
	return ex, d, nil
}

// startServer starts an embedded server whose streams live in a fresh
// temporary folder, which the caller removes after Shutdown.
func (a *app) startServer(f *distFlags) (*znats.Server, string, error) {
	o := znats.ServerOptions{Listen: f.listen, Creds: f.creds}
	if f.tlsCert != "" || f.tlsKey != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, "", fmt.Errorf("--tls-cert and --tls-key: %w", err)
		}
		o.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	dir, err := os.MkdirTemp("", "zpipe-nats-")
	if err != nil {
		return nil, "", err
	}
	o.StoreDir = dir
	srv, err := znats.StartServer(o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return srv, dir, nil
}

func (d *distributed) connect(url string, f *distFlags, name string) (jetstream.JetStream, error) {
	nc, err := znats.Connect(url, znats.ConnOptions{Creds: f.creds, RootCA: f.ca, Name: name})
	if err != nil {
		return nil, err
	}
	d.closes = append(d.closes, nc.Close)
	return jetstream.New(nc)
}

// close stops the local workers, then the connections and the server.
func (d *distributed) close() {
	if d == nil {
		return
	}
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	for _, c := range d.closes {
		c()
	}
	if d.srv != nil {
		d.srv.Shutdown()
	}
	if d.store != "" {
		os.RemoveAll(d.store)
	}
}

// workers says who answered how many items: "ann:12 3, bob:9 5".
func (d *distributed) workers() string {
	if d == nil {
		return ""
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.by))
	for n := range d.by {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, d.by[n])
	}
	return strings.Join(parts, ", ")
}

func (a *app) workerCmd() *cobra.Command {
	var creds, ca, name string
	var parallel int
	cmd := &cobra.Command{
		Use:   "worker URL",
		Short: "Run items for coordinators on a NATS server",
		Long: `Worker connects to a NATS server (or cluster: several URLs, comma-separated)
and runs the items that zpipe run --executor nats sends there, as many at
once as --parallel says. It needs nothing but this binary: the manifest,
schemas and inputs come over NATS, unless the coordinator runs with
--shared-fs. A worker refuses work from another zpipe version.

Ctrl-C stops taking work and finishes the items in hand; a second one stops
at once, and the server hands those items to another worker.`,
		Example: `  zpipe worker --creds run.creds nats://coordinator:4222`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nc, err := znats.Connect(args[0], znats.ConnOptions{Creds: creds, RootCA: ca, Name: "zpipe worker", Wait: true})
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go func() {
				select {
				case <-a.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			wk := &znats.Worker{JS: js, Name: name, Parallel: parallel, Log: a.warn}
			a.log.Info("worker waiting for work on " + args[0])
			err = wk.Run(ctx)
			a.log.Info(fmt.Sprintf("worker stopped after %d items", wk.Ran()))
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&creds, "creds", "", "nkey seed file (zpipe creds) or NATS .creds file to sign with")
	cmd.Flags().StringVar(&ca, "tls-ca", "", "PEM file of the CA that signed the server's certificate")
	cmd.Flags().StringVar(&name, "name", "", "what coordinators call this worker (default: host:pid)")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "items at once (default: the number of CPUs)")
	return cmd
}

func (a *app) credsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "creds FILE",
		Short: "Write a new nkey seed for --creds",
		Long: `Creds writes a new user nkey seed to FILE, readable by its owner only. Give
the same file to zpipe run --executor nats --creds FILE and to each
zpipe worker --creds FILE: the embedded server then admits only clients
that sign with it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			seed, err := znats.NewCreds()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				if errors.Is(err, os.ErrExist) {
					return usageError{fmt.Errorf("%s exists; zpipe creds does not overwrite a key", args[0])}
				}
				return err
			}
			_, err = fmt.Fprintf(f, "%s\n", seed)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		},
	}
}

func (a *app) warn(msg string) { a.log.Warn(msg) }
