package nats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

// Worker takes items off the work stream and runs them with the stage's
// ItemFunc, as `zpipe worker` does.
type Worker struct {
	JS jetstream.JetStream
	// Name tells the coordinator who ran an item; the default is the
	// host name and process id.
	Name string
	// Parallel is how many items it runs at once; 0 means the CPUs.
	Parallel int
	// Dir keeps the manifests and schemas it is sent; the default is a
	// folder of its own under the system's temp folder.
	Dir string
	// AckWait must match the coordinator's Config.AckWait: the worker
	// says it is alive every third of it. 0 means 30s.
	AckWait time.Duration
	// Log, when set, hears what the worker does.
	Log func(msg string)

	mu      sync.Mutex
	fns     map[string]*engine.ItemFunc // by bundle sum and stage
	cancels map[string]map[*context.CancelFunc]bool
	ran     int
}

// Run works until ctx ends, then finishes the items in hand and returns.
func (wk *Worker) Run(ctx context.Context) error {
	if wk.Name == "" {
		host, _ := os.Hostname()
		wk.Name = host + ":" + strconv.Itoa(os.Getpid())
	}
	if wk.Parallel <= 0 {
		wk.Parallel = runtime.NumCPU()
	}
	if wk.AckWait <= 0 {
		wk.AckWait = Config{}.withDefaults().AckWait
	}
	if wk.Dir == "" {
		dir, err := os.MkdirTemp("", "zpipe-worker-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		wk.Dir = dir
	}
	wk.fns, wk.cancels = map[string]*engine.ItemFunc{}, map[string]map[*context.CancelFunc]bool{}
	defer func() {
		for _, fn := range wk.fns {
			fn.Close()
		}
	}()
	cons, data, err := wk.connect(ctx)
	if err != nil {
		return err
	}
	sub, err := wk.JS.Conn().Subscribe("zpipe.cancel.*", func(m *natsgo.Msg) { wk.cancel(m.Subject[len("zpipe.cancel."):]) })
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	var wg sync.WaitGroup
	for range wk.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk.slot(ctx, cons, data)
		}()
	}
	wg.Wait()
	return nil
}

// Ran counts the items the worker answered.
func (wk *Worker) Ran() int {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	return wk.ran
}

// connect waits for the coordinator's streams: a worker may start first.
func (wk *Worker) connect(ctx context.Context) ([]jetstream.Consumer, jetstream.ObjectStore, error) {
	cons := make([]jetstream.Consumer, len(levels))
	var data jetstream.ObjectStore
	err := retry(ctx, func(ctx context.Context) error {
		for i, l := range levels {
			c, err := wk.JS.Consumer(ctx, workStream, "work-"+l.name)
			if err != nil {
				return err
			}
			cons[i] = c
		}
		var err error
		data, err = wk.JS.ObjectStore(ctx, dataBucket)
		return err
	})
	return cons, data, err
}

// slot runs one item at a time, polling the levels by their weights, so
// that urgent work goes first and none starves. A level found empty is
// not asked again for emptyPause: each ask is a round trip to the
// server, and most runs fill one level only.
func (wk *Worker) slot(ctx context.Context, cons []jetstream.Consumer, data jetstream.ObjectStore) {
	var order []int
	for i, l := range levels {
		for range l.weight {
			order = append(order, i)
		}
	}
	emptyUntil := make([]time.Time, len(levels))
	k := 0
	for ctx.Err() == nil {
		var msg jetstream.Msg
		now := time.Now()
		for range order {
			l := order[k%len(order)]
			k++
			if now.Before(emptyUntil[l]) {
				continue
			}
			if batch, err := cons[l].FetchNoWait(1); err == nil {
				msg = first(ctx, batch)
			}
			if msg != nil || ctx.Err() != nil {
				break
			}
			emptyUntil[l] = now.Add(emptyPause)
		}
		if msg == nil {
			select {
			case <-ctx.Done():
			case <-time.After(emptyPause):
			}
			continue
		}
		wk.handle(ctx, msg, data)
	}
}

// emptyPause is how long a worker leaves a level it found empty: the
// most an item waits for a worker that is idle.
const emptyPause = 20 * time.Millisecond

// first waits for a batch's message, or its end, or for ctx: a server that
// went away would keep the batch open until its timeout, and a worker
// told to stop must not wait that long.
func first(ctx context.Context, batch jetstream.MessageBatch) jetstream.Msg {
	select {
	case m, ok := <-batch.Messages():
		if ok {
			// The batch ends once its one message came; waiting for
			// that lets its goroutine go.
			for range batch.Messages() {
			}
		}
		return m
	case <-ctx.Done():
		// Let the request end, so that its goroutine goes, unless the
		// server is gone; a message that comes meanwhile goes back.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for m := range batch.Messages() {
				m.Nak()
			}
		}()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
		return nil
	}
}

// testHookStart, set by tests alone, is called as an item starts.
var testHookStart func()

// handle runs one message's item and answers it.
func (wk *Worker) handle(ctx context.Context, msg jetstream.Msg, data jetstream.ObjectStore) {
	var w workMsg
	if err := json.Unmarshal(msg.Data(), &w); err != nil {
		msg.TermWithReason("not a zpipe work message")
		return
	}
	answer := resultMsg{Exec: w.Exec, Item: w.Job.Item, Attempt: w.Job.Attempt, Worker: wk.Name}
	if meta, err := msg.Metadata(); err == nil {
		answer.Delivered = int(meta.NumDelivered)
	}
	if w.Version != engine.Version() {
		answer.Refused = fmt.Sprintf("it runs zpipe %s and the coordinator %s", engine.Version(), w.Version)
		wk.log("refusing work from zpipe " + w.Version + "; this worker runs " + engine.Version())
		wk.publish(ctx, answer)
		msg.NakWithDelay(5 * time.Second)
		return
	}
	if testHookStart != nil {
		testHookStart()
	}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wk.track(w.Exec, &cancel, true)
	defer wk.track(w.Exec, &cancel, false)
	stopBeat := wk.heartbeat(msg)
	rep, inline, err := wk.run(runCtx, &w, data)
	stopBeat()
	if runCtx.Err() != nil {
		msg.Ack() // the coordinator dropped the item
		return
	}
	if err != nil {
		text := "the worker " + wk.Name + " could not run the item: " + err.Error()
		rep = failedReport(w.Job.Name, text, true)
	}
	answer.Report, answer.Inline = rep, inline
	if err := wk.publish(ctx, answer); err != nil {
		msg.Nak()
		return
	}
	msg.Ack()
	wk.mu.Lock()
	wk.ran++
	wk.mu.Unlock()
}

// run runs the item: the stage's ItemFunc over its input, its parts into
// the bucket.
func (wk *Worker) run(ctx context.Context, w *workMsg, data jetstream.ObjectStore) (rep engine.Report, inline map[string][]byte, err error) {
	fn, err := wk.itemFunc(ctx, w, data)
	if err != nil {
		return engine.Report{}, nil, err
	}
	in, err := wk.input(ctx, w, data)
	if err != nil {
		return engine.Report{}, nil, err
	}
	defer in.Close()
	parts := &bucketParts{ctx: ctx, data: data, dir: wk.Dir, inline: map[string][]byte{},
		name: func(n string) string { return partObject(w.Exec, w.Job.Item, w.Job.Attempt, n) }}
	rep = fn.Run(ctx, w.Job, in, parts)
	if parts.err != nil {
		// The bucket, where the work is kept, failed (a full store):
		// the coordinator keeps the stage's outputs rather than write
		// them without the item.
		text := "the worker " + wk.Name + " could not store the item's parts: " + parts.err.Error()
		rep = failedReport(w.Job.Name, text, true)
		rep.Failure.Saving = true
		return rep, nil, nil
	}
	return rep, parts.inline, nil
}

func (wk *Worker) input(ctx context.Context, w *workMsg, data jetstream.ObjectStore) (io.ReadCloser, error) {
	switch {
	case w.Input != "":
		return data.Get(ctx, w.Input)
	case w.Path == "":
		return io.NopCloser(bytes.NewReader(w.Data)), nil
	}
	return engine.OpenChunk(w.Path, w.Job.Chunk)
}

// itemFunc compiles a stage once per worker, and checks that it is the
// stage the coordinator compiled.
func (wk *Worker) itemFunc(ctx context.Context, w *workMsg, data jetstream.ObjectStore) (*engine.ItemFunc, error) {
	key := w.Stage.Manifest + "\x00" + w.Stage.Stage
	if w.Bundle != nil {
		key = w.Bundle.Sum + "\x00" + w.Stage.Stage
	}
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if fn := wk.fns[key]; fn != nil {
		return fn, nil
	}
	file := w.Stage.Manifest
	if w.Bundle != nil {
		var err error
		if file, err = materialize(ctx, data, w.Bundle, wk.Dir); err != nil {
			return nil, err
		}
	}
	m, err := pipeline.Load(file)
	if err != nil {
		return nil, err
	}
	for _, s := range m.Stages {
		if s.Name != w.Stage.Stage {
			continue
		}
		if w.Bundle != nil {
			if err := withinBundle(m, s, filepath.Join(wk.Dir, w.Bundle.Sum)); err != nil {
				return nil, err
			}
		}
		fn, err := engine.NewItemFunc(ctx, m, s, format.DefaultLimits)
		if err != nil {
			return nil, err
		}
		got := fn.Ref(m)
		got.Manifest = w.Stage.Manifest
		if got != w.Stage {
			fn.Close()
			return nil, fmt.Errorf("it compiled stage %s otherwise than the coordinator: its manifest, schema, transform or settings differ", s.Name)
		}
		wk.fns[key] = fn
		return fn, nil
	}
	return nil, fmt.Errorf("the manifest has no stage %s", w.Stage.Stage)
}

// heartbeat tells the server the item is alive every third of AckWait.
func (wk *Worker) heartbeat(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(wk.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

func (wk *Worker) publish(ctx context.Context, r resultMsg) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	id := r.Exec + "." + strconv.Itoa(r.Item) + "." + strconv.Itoa(r.Attempt) + "." + wk.Name
	return retry(ctx, func(ctx context.Context) error {
		_, err := wk.JS.Publish(ctx, resultSubject(r.Exec), body, jetstream.WithMsgID(id))
		return err
	})
}

// track keeps the cancel funcs of the items of each Execute in hand.
func (wk *Worker) track(exec string, cancel *context.CancelFunc, add bool) {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if add {
		if wk.cancels[exec] == nil {
			wk.cancels[exec] = map[*context.CancelFunc]bool{}
		}
		wk.cancels[exec][cancel] = true
		return
	}
	delete(wk.cancels[exec], cancel)
	if len(wk.cancels[exec]) == 0 {
		delete(wk.cancels, exec)
	}
}

// cancel stops the items of an Execute the coordinator dropped.
func (wk *Worker) cancel(exec string) {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	for c := range wk.cancels[exec] {
		(*c)()
	}
}

func (wk *Worker) log(msg string) {
	if wk.Log != nil {
		wk.Log(msg)
	}
}

// bucketParts is a PartStore that keeps small parts for the answer
// message and puts the others into the bucket, spooled in a file until
// they are closed.
type bucketParts struct {
	ctx    context.Context
	data   jetstream.ObjectStore
	dir    string
	name   func(string) string
	mu     sync.Mutex
	err    error
	inline map[string][]byte
	// inlined counts the bytes kept for the answer.
	inlined int
}

func (p *bucketParts) Create(name string) (io.WriteCloser, error) {
	return &bucketPart{p: p, name: name}, nil
}

// bucketPart holds a part in memory until it outgrows what may travel in
// the answer, then in a file.
type bucketPart struct {
	p    *bucketParts
	name string
	buf  bytes.Buffer
	f    *os.File
}

func (b *bucketPart) Write(data []byte) (int, error) {
	if b.f == nil && b.buf.Len()+len(data) > inlineMax/4 {
		f, err := os.CreateTemp(b.p.dir, "part-*")
		if err != nil {
			return 0, err
		}
		b.f = f
		if _, err := f.Write(b.buf.Bytes()); err != nil {
			return 0, err
		}
		b.buf = bytes.Buffer{}
	}
	if b.f != nil {
		return b.f.Write(data)
	}
	return b.buf.Write(data)
}

func (b *bucketPart) Close() error {
	p := b.p
	if b.f == nil {
		p.mu.Lock()
		fits := p.inlined+b.buf.Len() <= inlineMax
		if fits {
			p.inline[b.name] = b.buf.Bytes()
			p.inlined += b.buf.Len()
		}
		p.mu.Unlock()
		if fits {
			return nil
		}
	}
	var r io.Reader = &b.buf
	if b.f != nil {
		defer os.Remove(b.f.Name())
		defer b.f.Close()
		if _, err := b.f.Seek(0, io.SeekStart); err != nil {
			return b.fail(err)
		}
		r = b.f
	}
	if _, err := p.data.Put(p.ctx, jetstream.ObjectMeta{Name: p.name(b.name)}, r); err != nil {
		return b.fail(err)
	}
	return nil
}

func (b *bucketPart) fail(err error) error {
	err = fmt.Errorf("putting part %s into the object store: %w", b.name, err)
	b.p.mu.Lock()
	b.p.err = errors.Join(b.p.err, err)
	b.p.mu.Unlock()
	return err
}

// withinBundle refuses a JSON Schema whose $refs lead to files outside
// the folder the coordinator's files were put in: a coordinator may name
// its own files, not the worker's.
func withinBundle(m *pipeline.Manifest, s *pipeline.Stage, dir string) error {
	if !schema.IsJSONSchema(s.Schema.File) {
		return nil
	}
	files, err := schema.JSONSchemaFiles(s.Schema.File, m.SchemaRefs)
	if err != nil {
		return err
	}
	for _, f := range files {
		if rel, err := filepath.Rel(dir, f); err != nil || !filepath.IsLocal(rel) {
			return fmt.Errorf("the schema of stage %s refers to %s, outside what the coordinator sent", s.Name, f)
		}
	}
	return nil
}
