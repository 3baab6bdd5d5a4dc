package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// conns counts what a pool of ints makes and destroys; resource n is the
// n-th made.
type conns struct {
	made, destroyed atomic.Int64
	// fail makes the next Create fail when set.
	fail atomic.Bool
}

func (c *conns) resource() Resource[int] {
	return Resource[int]{
		Create: func(context.Context) (int, error) {
			if c.fail.CompareAndSwap(true, false) {
				return 0, errors.New("cannot connect")
			}
			return int(c.made.Add(1)), nil
		},
		Destroy: func(int) error {
			c.destroyed.Add(1)
			return nil
		},
	}
}

func newPool(t *testing.T, size int, c *conns) *Pool[int] {
	t.Helper()
	p, err := NewPool(size, c.resource())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// acquire acquires or fails the test rather than hang.
func acquire(t *testing.T, p *Pool[int]) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	v, err := p.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return v
}

// acquireAsync acquires in a goroutine and sends the outcome.
type acquired struct {
	v   int
	err error
}

func acquireAsync(ctx context.Context, p *Pool[int]) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		v, err := p.Acquire(ctx)
		ch <- acquired{v, err}
	}()
	return ch
}

func receive(t *testing.T, ch <-chan acquired) acquired {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(patience):
		t.Fatal("Acquire hangs")
		return acquired{}
	}
}

func TestNewPoolRejectsASizeOfZeroOrLess(t *testing.T) {
	for _, size := range []int{0, -3} {
		if p, err := NewPool(size, (&conns{}).resource()); err == nil {
			t.Errorf("NewPool(%d) = %v, nil", size, p)
		}
	}
	if p, err := NewPool(1, Resource[int]{}); err == nil {
		t.Errorf("NewPool without Create = %v, nil", p)
	}
}

func TestPoolCreatesLazilyUpToItsSizeAndReuses(t *testing.T) {
	c := &conns{}
	p := newPool(t, 2, c)
	if n := c.made.Load(); n != 0 {
		t.Fatalf("NewPool made %d resources", n)
	}
	a := acquire(t, p)
	p.Release(a)
	if again := acquire(t, p); again != a || c.made.Load() != 1 {
		t.Fatalf("got %d after releasing %d; %d made", again, a, c.made.Load())
	}
	b := acquire(t, p)
	if b == a || c.made.Load() != 2 {
		t.Fatalf("second resource %d, %d made", b, c.made.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire from a full pool = %v, want context.Canceled", err)
	}
	if n := c.made.Load(); n != 2 {
		t.Errorf("a pool of 2 made %d", n)
	}
}

func TestAcquireBlocksUntilARelease(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := &conns{}
	p := newPool(t, 1, c)
	a := acquire(t, p)
	waiting := acquireAsync(context.Background(), p)
	p.Release(a)
	if got := receive(t, waiting); got.err != nil || got.v != a {
		t.Errorf("waiting Acquire = %+v, want %d", got, a)
	}
}

func TestAcquireReturnsWhenItsContextEnds(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := newPool(t, 1, &conns{})
	acquire(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	waiting := acquireAsync(ctx, p)
	cancel()
	if got := receive(t, waiting); !errors.Is(got.err, context.Canceled) {
		t.Errorf("Acquire = %+v, want context.Canceled", got)
	}
}

func TestCloseWakesWaitersAndLaterReleasesDestroy(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c := &conns{}
	p := newPool(t, 1, c)
	lent := acquire(t, p)
	waiting := acquireAsync(context.Background(), p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if a := receive(t, waiting); !errors.Is(a.err, ErrPoolClosed) {
		t.Errorf("waiting Acquire after Close = %+v, want ErrPoolClosed", a)
	}
	if _, err := p.Acquire(context.Background()); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("Acquire after Close = %v, want ErrPoolClosed", err)
	}
	if n := c.destroyed.Load(); n != 0 {
		t.Fatalf("Close destroyed %d lent resources", n)
	}
	p.Release(lent)
	if made, gone := c.made.Load(), c.destroyed.Load(); made != 1 || gone != 1 {
		t.Errorf("made %d, destroyed %d; want the released one destroyed", made, gone)
	}
	if err := p.Close(); err != nil {
		t.Errorf("a second Close = %v", err)
	}
}

func TestCloseDestroysIdleResourcesAndReportsErrors(t *testing.T) {
	boom := errors.New("boom")
	var destroyed []int
	p, err := NewPool(3, Resource[int]{
		Create:  func(context.Context) (int, error) { return len(destroyed) + 1, nil },
		Destroy: func(v int) error { destroyed = append(destroyed, v); return boom },
	})
	if err != nil {
		t.Fatal(err)
	}
	v := acquire(t, p)
	p.Release(v)
	if err := p.Close(); !errors.Is(err, boom) {
		t.Errorf("Close = %v, want the Destroy error", err)
	}
	if len(destroyed) != 1 {
		t.Errorf("destroyed %v", destroyed)
	}
}

func TestACreateErrorIsReturnedAndFreesItsSlot(t *testing.T) {
	c := &conns{}
	p := newPool(t, 1, c)
	c.fail.Store(true)
	if _, err := p.Acquire(context.Background()); err == nil || err.Error() != "cannot connect" {
		t.Fatalf("Acquire = %v, want the Create error", err)
	}
	// With the slot still taken this would wait out patience and fail.
	if v := acquire(t, p); v != 1 {
		t.Errorf("Acquire after a failed Create = %d", v)
	}
}

func TestPoolIsSafeForConcurrentUse(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const size = 3
	c := &conns{}
	p := newPool(t, size, c)
	var inUse, most atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				v, err := p.Acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				n := inUse.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				inUse.Add(-1)
				p.Release(v)
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if most.Load() > size || c.made.Load() > size {
		t.Errorf("%d in use at once and %d made, want at most %d", most.Load(), c.made.Load(), size)
	}
	if c.made.Load() != c.destroyed.Load() {
		t.Errorf("made %d, destroyed %d", c.made.Load(), c.destroyed.Load())
	}
}
