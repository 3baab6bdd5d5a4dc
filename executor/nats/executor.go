package nats

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zpipe/zpipe/engine"
)

// Executor is the coordinator's side: it runs a stage's items on the
// workers that share its NATS server or cluster.
type Executor struct {
	JS jetstream.JetStream
	// Config sizes the streams it creates.
	Config Config
	// SharedFS says that workers read the coordinator's paths, so inputs
	// and the manifest's files are not put into the object store.
	SharedFS bool
	// InFlight caps the items sent and not yet answered, which bounds
	// the stream and what the coordinator holds; 0 means 64.
	InFlight int
	// OnWorker, when set, hears which worker answered each item.
	OnWorker func(worker string)
	// Warn, when set, hears what a run should know: a worker that
	// refuses work, say.
	Warn func(msg string)

	mu   sync.Mutex
	data jetstream.ObjectStore
	// redelivered counts the items answered after the server handed them
	// out again, their first worker lost.
	redelivered int
}

// Redelivered counts the items answered after a worker was lost with
// them, over every Execute.
func (e *Executor) Redelivered() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.redelivered
}

// Execute sends the work's items to the workers and hands their reports
// to the work as they come. It returns when every item has an answer, or,
// when ctx ends, at once, telling the workers to drop the items.
func (e *Executor) Execute(ctx context.Context, w *engine.Work) error {
	data, err := e.setup(ctx)
	if err != nil {
		return fmt.Errorf("setting up JetStream: %w", err)
	}
	d := &dispatch{e: e, w: w, data: data, exec: newID(), flights: map[int]*flight{}, bySeq: map[uint64]int{}, big: map[int]bool{}, release: map[int]func(){}, weights: map[int]int64{}, waited: map[int]bool{},
		retries: make(chan [2]int, len(w.Items)+1)}
	if !e.SharedFS {
		// Made afresh for each stage: in watch mode the manifest and
		// schemas change between runs.
		if d.bundle, err = putBundle(ctx, data, w.Stage.Manifest); err != nil {
			return err
		}
	}
	results, stop, err := d.listen(ctx)
	if err != nil {
		return err
	}
	defer stop()
	return d.run(ctx, results)
}

func (e *Executor) setup(ctx context.Context) (jetstream.ObjectStore, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.data != nil {
		return e.data, nil
	}
	data, err := setup(ctx, e.JS, e.Config)
	if err == nil {
		e.data = data
	}
	return data, err
}

// maxDeliveries is the server's advisory that a message was handed out
// MaxDeliver times without an ack.
type maxDeliveries struct {
	Seq        uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// flight is an item sent and not yet settled.
type flight struct {
	attempt int
	seq     uint64
	// waiting is set while a retry waits for its time.
	waiting bool
}

// dispatch is one Execute call.
type dispatch struct {
	e       *Executor
	w       *engine.Work
	data    jetstream.ObjectStore
	exec    string
	bundle  *bundle
	flights map[int]*flight
	bySeq   map[uint64]int
	retries chan [2]int // item, attempt, when a retry is due
	stopped bool
	warned  map[string]bool
	// answered counts the reports taken.
	answered int
	// big marks the items whose input is in the bucket, stored.
	big map[int]bool
	// due are the retries whose wait is over, to send before new items.
	due [][2]int
	// release gives back the memory an item holds in the gate; weights
	// are the items' weights, asked once; waited marks the items that
	// said they wait for memory.
	release map[int]func()
	weights map[int]int64
	waited  map[int]bool
	// paceAt is when the next send's turn from the limiter comes; zero
	// when none is reserved.
	paceAt time.Time
}

// idleWarning is how long items may wait for a first answer before the
// run says that no worker seems to be there.
const idleWarning = 10 * time.Second

// listen subscribes to the Execute's results and to the server's word that
// an item was handed out too often.
func (d *dispatch) listen(ctx context.Context) (<-chan any, func(), error) {
	out := make(chan any, 64)
	done := make(chan struct{})
	deliver := func(v any) {
		select {
		case out <- v:
		case <-done:
		}
	}
	var cons jetstream.Consumer
	err := retry(ctx, func(ctx context.Context) (err error) {
		cons, err = d.e.JS.OrderedConsumer(ctx, resultStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{resultSubject(d.exec)}})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listening for results: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r resultMsg
		if json.Unmarshal(m.Data(), &r) == nil {
			deliver(r)
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listening for results: %w", err)
	}
	sub, err := d.e.JS.Conn().Subscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+workStream+".*", func(m *natsgo.Msg) {
		var adv maxDeliveries
		if json.Unmarshal(m.Data, &adv) == nil {
			deliver(adv)
		}
	})
	if err != nil {
		cc.Stop()
		return nil, nil, err
	}
	return out, func() {
		close(done)
		cc.Stop()
		sub.Unsubscribe()
	}, nil
}

// run sends items while fewer than the cap are in flight, and the gate
// and the pace let it, and settles them as their answers come.
func (d *dispatch) run(ctx context.Context, results <-chan any) error {
	limit := d.w.Parallel
	if !d.w.ParallelSet {
		limit = d.e.InFlight
		if limit <= 0 {
			limit = 64
		}
	}
	next := 0
	stop := d.w.Stop
	idle := time.NewTimer(idleWarning)
	defer idle.Stop()
	defer d.releaseAll()
	for {
		var admit <-chan time.Time
		for !d.stopped {
			var i, n int
			switch {
			case len(d.due) > 0:
				i, n = d.due[0][0], d.due[0][1]
			case next < len(d.w.Items) && len(d.flights) < limit:
				i, n = d.w.Items[next], 1
			}
			if n == 0 {
				break
			}
			if wait := d.admit(i); wait > 0 {
				admit = time.After(wait)
				break
			}
			if err := d.send(ctx, i, n); err != nil {
				var ie *inputError
				if !errors.As(err, &ie) {
					return d.abort(err)
				}
				d.unread(i, n, ie)
			}
			if n > 1 {
				d.due = d.due[1:]
			} else {
				next++
			}
		}
		if len(d.flights) == 0 && (d.stopped || next == len(d.w.Items)) {
			break
		}
		select {
		case <-ctx.Done():
			return d.abort(nil)
		case <-stop:
			stop, d.stopped = nil, true
			for _, due := range d.due {
				d.finish(due[0])
			}
			d.due = nil
		case r := <-results:
			idle.Reset(idleWarning)
			if err := d.answer(ctx, r); err != nil {
				return d.abort(err)
			}
		case <-idle.C:
			if d.e.Warn != nil && d.answered == 0 {
				d.e.Warn(fmt.Sprintf("stage %s: no worker has answered in %s; %d items wait (start one with zpipe worker URL)", d.w.Stage.Stage, idleWarning, len(d.flights)))
			}
		case due := <-d.retries:
			if d.stopped {
				d.finish(due[0])
			} else {
				d.due = append(d.due, due)
			}
		case <-admit:
		}
	}
	for _, i := range d.w.Items[next:] {
		d.w.Skipped(i)
	}
	return nil
}

// memoryPoll is how often an item that waits for memory held by other
// stages asks the gate again.
const memoryPoll = 20 * time.Millisecond

// admit says how long item i must wait before it is sent: for memory
// that the gate cannot give yet, then for its turn from the limiter. As a
// local run does, it holds the item's memory until the item is done, and
// paces every attempt.
func (d *dispatch) admit(i int) time.Duration {
	if d.w.Gate != nil && d.release[i] == nil {
		w, ok := d.weights[i]
		if !ok {
			w = d.w.Weight(i)
			d.weights[i] = w
		}
		release, ok := d.w.Gate.TryAcquire(w)
		if !ok {
			if !d.waited[i] {
				d.waited[i] = true
				d.waiting(i, "memory")
			}
			return memoryPoll
		}
		d.release[i] = release
	}
	if d.w.Limiter != nil {
		// The turn is reserved once and kept: an answer that wakes the
		// loop early must not let the item go before it.
		now := time.Now()
		if d.paceAt.IsZero() {
			delay := d.w.Limiter.Reserve().Delay()
			d.paceAt = now.Add(delay)
			if delay > 0 {
				d.waiting(i, "pace")
			}
		}
		if wait := d.paceAt.Sub(now); wait > 0 {
			return wait
		}
		d.paceAt = time.Time{}
	}
	return 0
}

func (d *dispatch) waiting(i int, what string) {
	if d.w.Waiting != nil {
		d.w.Waiting(i, what)
	}
}

// releaseAll gives back what the items still hold: a stopped or failed
// Execute leaves some unsettled, and in watch mode the gate outlives it.
func (d *dispatch) releaseAll() {
	for i, release := range d.release {
		release()
		delete(d.release, i)
	}
}

// send puts attempt n of item i on the work stream, and for the first
// attempt its input into the bucket.
func (d *dispatch) send(ctx context.Context, i, n int) error {
	msg := workMsg{Version: engine.Version(), Exec: d.exec, Stage: d.w.Stage, Bundle: d.bundle, Job: d.w.Job(i, n)}
	switch job := &msg.Job; {
	case d.e.SharedFS && d.w.File(i) != "":
		msg.Path = d.w.File(i)
	case job.Size <= inlineMax && job.Size >= 0:
		data, err := d.readInput(i)
		if err != nil {
			return err
		}
		msg.Data = data
	default:
		msg.Input = inputObject(d.exec, i)
		if !d.big[i] {
			// Once, by the first attempt that could read the input.
			if err := d.putInput(ctx, i, msg.Input); err != nil {
				return err
			}
			d.big[i] = true
		}
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	var ack *jetstream.PubAck
	err = retry(ctx, func(ctx context.Context) error {
		ack, err = d.e.JS.Publish(ctx, workSubject(d.w.Stage, d.exec), body, jetstream.WithMsgID(d.exec+"."+strconv.Itoa(i)+"."+strconv.Itoa(n)))
		return err
	})
	if err != nil {
		return fmt.Errorf("sending %s: %w", msg.Job.Name, err)
	}
	d.flights[i] = &flight{attempt: n, seq: ack.Sequence}
	d.bySeq[ack.Sequence] = i
	return nil
}

// inputError is a failure to read an item's input on this side: the
// item's, not the server's, so it is neither retried as a call to the
// server nor a reason to stop the stage.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// unread fails attempt n of item i, whose input could not be read, as a
// local run fails an item it cannot read: retried by the policy, the
// other items going on.
func (d *dispatch) unread(i, n int, ie *inputError) {
	d.flights[i] = &flight{attempt: n}
	job := d.w.Job(i, n)
	text := ie.Error()
	again, _ := d.w.Record(i, n, failedReport(job.Name, text, true), nil)
	d.settle(i, again)
}

// failedReport is an attempt at the item named name that failed as a
// whole, for text; transient when another attempt may mend it.
func failedReport(name, text string, transient bool) engine.Report {
	return engine.Report{Failure: &engine.Failure{At: engine.RecordError{Source: name, Message: text}, Text: text, Transient: transient}}
}

func (d *dispatch) readInput(i int) ([]byte, error) {
	in, err := d.w.Open(i)
	if err != nil {
		return nil, &inputError{err}
	}
	defer in.Close()
	b, err := io.ReadAll(io.LimitReader(in, inlineMax+1))
	if err != nil {
		return nil, &inputError{err}
	}
	return b, nil
}

func (d *dispatch) putInput(ctx context.Context, i int, name string) error {
	var unread error
	err := retry(ctx, func(ctx context.Context) error {
		in, err := d.w.Open(i)
		if err != nil {
			unread = err
			return nil
		}
		defer in.Close()
		r := &readErr{r: in}
		_, err = d.data.Put(ctx, jetstream.ObjectMeta{Name: name}, r)
		if r.err != nil {
			unread = r.err
			return nil
		}
		return err
	})
	if unread != nil {
		return &inputError{unread}
	}
	return err
}

// readErr keeps the error its reader gave, to tell it from the server's.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// answer settles a worker's report, or the server's word that an item's
// workers kept dying.
func (d *dispatch) answer(ctx context.Context, r any) error {
	switch r := r.(type) {
	case resultMsg:
		f := d.flights[r.Item]
		if f == nil || f.attempt != r.Attempt || f.waiting {
			return nil // a redelivered item answered twice; the first counts
		}
		if r.Refused != "" {
			d.warn(r.Worker, r.Refused)
			return nil
		}
		d.answered++
		if r.Delivered > 1 {
			d.e.mu.Lock()
			d.e.redelivered++
			d.e.mu.Unlock()
		}
		if d.e.OnWorker != nil {
			d.e.OnWorker(r.Worker)
		}
		again, _ := d.w.Record(r.Item, r.Attempt, r.Report, d.parts(ctx, r))
		d.dropParts(ctx, r)
		return d.settle(r.Item, again)
	case maxDeliveries:
		i, ok := d.bySeq[r.Seq]
		if f := d.flights[i]; !ok || f == nil || f.seq != r.Seq {
			return nil
		}
		job := d.w.Job(i, d.flights[i].attempt)
		text := fmt.Sprintf("handed to a worker %d times without an answer; its workers died or lost contact", r.Deliveries)
		again, _ := d.w.Record(i, job.Attempt, failedReport(job.Name, text, false), nil)
		return d.settle(i, again)
	}
	return nil
}

// settle retries item i after the policy's wait, or hands it back done.
func (d *dispatch) settle(i int, again bool) error {
	f := d.flights[i]
	delete(d.bySeq, f.seq)
	if again && f.attempt <= d.w.Retry.Max && !d.stopped {
		f.waiting = true
		n := f.attempt + 1
		time.AfterFunc(d.w.Retry.Wait(f.attempt), func() { d.retries <- [2]int{i, n} })
		return nil
	}
	d.finish(i)
	return nil
}

// finish hands item i back done, with what it held.
func (d *dispatch) finish(i int) {
	delete(d.flights, i)
	if d.big[i] {
		d.data.Delete(context.Background(), inputObject(d.exec, i))
	}
	if release := d.release[i]; release != nil {
		release()
		delete(d.release, i)
	}
	d.w.Done(i)
}

// parts reads an attempt's parts from its answer, or from the bucket.
func (d *dispatch) parts(ctx context.Context, r resultMsg) engine.PartSource {
	return func(name string) (io.ReadCloser, error) {
		if b, ok := r.Inline[name]; ok {
			return io.NopCloser(bytes.NewReader(b)), nil
		}
		return d.data.Get(ctx, partObject(d.exec, r.Item, r.Attempt, name))
	}
}

func (d *dispatch) dropParts(ctx context.Context, r resultMsg) {
	for _, p := range r.Report.Parts {
		if _, ok := r.Inline[p.Name]; !ok {
			d.data.Delete(ctx, partObject(d.exec, r.Item, r.Attempt, p.Name))
		}
	}
}

func (d *dispatch) warn(worker, why string) {
	if d.warned == nil {
		d.warned = map[string]bool{}
	}
	if !d.warned[worker] && d.e.Warn != nil {
		d.e.Warn("worker " + worker + " refuses work: " + why)
	}
	d.warned[worker] = true
}

// abort tells the workers to drop this Execute's items, takes the ones
// not yet started off the stream, and returns err: the items in flight
// are left unreported, so the run does them next time.
func (d *dispatch) abort(err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d.e.JS.Conn().Publish(cancelSubject(d.exec), nil)
	if s, serr := d.e.JS.Stream(ctx, workStream); serr == nil {
		s.Purge(ctx, jetstream.WithPurgeSubject(workSubject(d.w.Stage, d.exec)))
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
