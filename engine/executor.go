package engine

import (
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/sourcegraph/conc/pool"
	"golang.org/x/time/rate"

	"github.com/zpipe/zpipe/pipeline"
)

// Executor runs items: where and when each one runs, how many at once, how
// long each may wait for memory or pace, and how often it is tried. The
// item function (ItemFunc) knows nothing of this, and the executor nothing
// of what an item does. LocalPool runs items on goroutines of this
// process with Attempt. An executor that runs them elsewhere sends each
// Job with its input (Open) and the stage (Stage) to a worker, which runs
// it with its own ItemFunc, and hands the Report and parts back with
// Record; it retries as Retry.Wait says.
type Executor interface {
	// Execute returns when every item of w has been reported with Done
	// or Skipped; an item it leaves unreported did not run. Its error
	// fails the stage, as a lost connection to the workers would.
	Execute(ctx context.Context, w *Work) error
}

// Work is a set of items to run and the bounds on running them.
type Work struct {
	// Stage names the stage the items belong to.
	Stage StageRef
	// Items are the indexes of the items to run, in the order to start
	// them.
	Items []int
	// Parallel bounds the items in flight. Unless ParallelSet, it is this
	// machine's core count, and an executor that runs items on other
	// machines may run more.
	Parallel    int
	ParallelSet bool
	// Gate, when set, bounds what the items in flight hold in memory;
	// Weight says what item i holds. It is called once for an item,
	// before its first attempt, and only when there is a Gate.
	Gate   *Gate
	Weight func(i int) int64
	// Limiter, when set, paces the starts of attempts.
	Limiter *rate.Limiter
	// Retry says how often, and after how long, a failed attempt that may
	// succeed on another try is tried again.
	Retry pipeline.Retry
	// Stop, once closed, lets no item start and no attempt be retried;
	// items in flight finish.
	Stop <-chan struct{}
	// Attempt runs item i for the n-th time, here, and says whether it
	// failed in a way that another attempt may mend.
	Attempt func(ctx context.Context, i, n int) (again bool)
	// Job is the n-th attempt at item i, to send to a worker; Open reads
	// the item's input; Record takes the worker's report, and its parts
	// from parts, and says what Attempt would. They are nil when the work
	// runs only here, as a Batch's does.
	Job  func(i, n int) Job
	Open func(i int) (io.ReadCloser, error)
	// File is the file item i is read from, for workers that share the
	// coordinator's file system; "" when its Source opens it.
	File   func(i int) string
	Record func(i, n int, rep Report, parts PartSource) (again bool, err error)
	// Done hears that item i will not be tried again; Skipped, that it was
	// never started.
	Done, Skipped func(i int)
	// Waiting, when set, hears that item i waits for "memory" or "pace".
	Waiting func(i int, what string)
}

// LocalPool runs items on a bounded pool of goroutines (conc).
type LocalPool struct{}

// Execute runs the work and returns when every item is done or skipped.
func (LocalPool) Execute(ctx context.Context, w *Work) error {
	p := pool.New().WithMaxGoroutines(max(w.Parallel, 1))
	for _, i := range w.Items {
		p.Go(func() {
			if w.run(ctx, i) {
				w.Done(i)
			} else {
				w.Skipped(i)
			}
		})
	}
	p.Wait()
	return nil
}

// run waits for memory, then for the pace, so that the pace spaces real
// starts, and tries the item until it succeeds, fails for good, or runs
// out of attempts. It reports whether the item started.
func (w *Work) run(ctx context.Context, i int) bool {
	if w.stopped(ctx) {
		return false
	}
	if w.Gate != nil {
		release, err := w.Gate.Acquire(ctx, w.Weight(i), func() { w.wait(i, "memory") })
		if err != nil {
			return false
		}
		defer release()
		if w.stopped(ctx) {
			return false
		}
	}
	for n := 1; ; n++ {
		if w.Limiter != nil {
			if err := pace(ctx, w.Limiter, func() { w.wait(i, "pace") }); err != nil || (n == 1 && w.stopped(ctx)) {
				return n > 1
			}
		}
		if !w.Attempt(ctx, i, n) || n > w.Retry.Max || ctx.Err() != nil {
			return true
		}
		select {
		case <-ctx.Done():
		case <-w.Stop:
		case <-time.After(w.Retry.Wait(n)):
			continue
		}
		return true
	}
}

func (w *Work) stopped(ctx context.Context) bool {
	return ctx.Err() != nil || isClosed(w.Stop)
}

func (w *Work) wait(i int, what string) {
	if w.Waiting != nil {
		w.Waiting(i, what)
	}
}

// pace waits for the limiter's next start, calling waiting when it has to
// wait.
func pace(ctx context.Context, lim *rate.Limiter, waiting func()) error {
	r := lim.Reserve()
	d := r.Delay()
	if d == 0 {
		return nil
	}
	waiting()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// Gate bounds the bytes that items in flight hold. Waiters are served in
// turn, so that a big item is not starved by a stream of small ones, and
// an item bigger than the whole budget runs alone. (A queue of its own
// rather than x/sync/semaphore: a waiter is in the queue before it says
// that it waits, so whoever hears it can count on its turn.)
type Gate struct {
	budget int64
	mu     sync.Mutex
	held   int64
	queue  []*gateWaiter
}

type gateWaiter struct {
	n     int64
	ready chan struct{} // closed when the bytes are the waiter's
}

// NewGate returns a gate of budget bytes.
func NewGate(budget int64) *Gate { return &Gate{budget: budget} }

// Acquire takes n bytes, calling waiting once if it has to wait, and
// returns how to give them back.
func (g *Gate) Acquire(ctx context.Context, n int64, waiting func()) (release func(), err error) {
	n = max(min(n, g.budget), 1)
	g.mu.Lock()
	if len(g.queue) == 0 && g.held+n <= g.budget {
		g.held += n
		g.mu.Unlock()
		return g.releaser(n), nil
	}
	w := &gateWaiter{n: n, ready: make(chan struct{})}
	g.queue = append(g.queue, w)
	g.mu.Unlock()
	waiting()
	select {
	case <-w.ready:
		return g.releaser(n), nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	select {
	case <-w.ready:
		// Granted as ctx ended: give the bytes back.
		g.mu.Unlock()
		g.releaser(n)()
	default:
		g.queue = slices.DeleteFunc(g.queue, func(x *gateWaiter) bool { return x == w })
		g.grant() // the next waiter may fit now
		g.mu.Unlock()
	}
	return nil, ctx.Err()
}

// TryAcquire takes n bytes if the gate has them now and no one waits
// before, for an executor that cannot block while it waits: it must go on
// taking its workers' answers, which give bytes back.
func (g *Gate) TryAcquire(n int64) (release func(), ok bool) {
	n = max(min(n, g.budget), 1)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) > 0 || g.held+n > g.budget {
		return nil, false
	}
	g.held += n
	return g.releaser(n), true
}

// releaser gives n bytes back, once, and hands them on to the waiters.
func (g *Gate) releaser(n int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.held -= n
			g.grant()
			g.mu.Unlock()
		})
	}
}

// grant serves the waiters at the head of the queue, in turn, while their
// bytes fit. It is called with mu held.
func (g *Gate) grant() {
	for len(g.queue) > 0 && g.held+g.queue[0].n <= g.budget {
		w := g.queue[0]
		g.queue = g.queue[1:]
		g.held += w.n
		close(w.ready)
	}
}

// Held returns the bytes in flight; 0 without a gate.
func (g *Gate) Held() int64 {
	if g == nil {
		return 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}
