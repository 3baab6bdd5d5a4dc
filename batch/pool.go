package batch

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrPoolClosed is returned by Acquire once the pool is closed.
var ErrPoolClosed = errors.New("pool is closed")

// Resource tells a Pool how to make and unmake its resources. Destroy may
// be nil when there is nothing to release.
type Resource[T any] struct {
	Create  func(ctx context.Context) (T, error)
	Destroy func(T) error
}

// Pool lends out at most size resources of type T, made lazily and reused.
// It is safe for concurrent use and starts no goroutines.
type Pool[T any] struct {
	r Resource[T]
	// slots holds a token for every resource that exists or is being
	// made, so its capacity is the pool's size.
	slots chan struct{}
	// idle holds the resources not lent out; it never blocks a send, as
	// there are never more resources than slots.
	idle chan T

	mu     sync.Mutex // orders Close against Release
	closed chan struct{}
	isDone bool
}

// NewPool returns a pool of at most size resources.
func NewPool[T any](size int, r Resource[T]) (*Pool[T], error) {
	if size <= 0 {
		return nil, fmt.Errorf("pool size must be at least 1, got %d", size)
	}
	if r.Create == nil {
		return nil, errors.New("pool resource has no Create func")
	}
	return &Pool[T]{
		r:      r,
		slots:  make(chan struct{}, size),
		idle:   make(chan T, size),
		closed: make(chan struct{}),
	}, nil
}

// Acquire returns an idle resource, or makes one while the pool has fewer
// than its size, or else waits for a Release. It returns ctx.Err() if ctx
// ends first, ErrPoolClosed if the pool is or gets closed, and Create's
// error if making one fails, which frees its place for another.
func (p *Pool[T]) Acquire(ctx context.Context) (T, error) {
	var zero T
	select {
	case <-p.closed:
		return zero, ErrPoolClosed
	default:
	}
	// Reuse before making a new one.
	select {
	case v := <-p.idle:
		return v, nil
	default:
	}
	select {
	case v := <-p.idle:
		return v, nil
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-p.closed:
		return zero, ErrPoolClosed
	}
	select {
	case <-p.closed: // closed while we won the slot
		<-p.slots
		return zero, ErrPoolClosed
	default:
	}
	v, err := p.r.Create(ctx)
	if err != nil {
		<-p.slots
		return zero, err
	}
	return v, nil
}

// Release gives back a resource got from Acquire. After Close it is
// destroyed instead.
func (p *Pool[T]) Release(v T) {
	p.mu.Lock()
	if p.isDone {
		p.mu.Unlock()
		p.destroy(v)
		return
	}
	select {
	case p.idle <- v:
		p.mu.Unlock()
	default:
		// Released more often than acquired: v holds no slot to free.
		p.mu.Unlock()
		if p.r.Destroy != nil {
			p.r.Destroy(v)
		}
	}
}

// Close destroys the idle resources, makes waiting and later Acquires
// return ErrPoolClosed, and makes later Releases destroy what they are
// given. It returns the Destroy errors, if any.
func (p *Pool[T]) Close() error {
	p.mu.Lock()
	if p.isDone {
		p.mu.Unlock()
		return nil
	}
	p.isDone = true
	close(p.closed)
	var idle []T
	// Not a loop on len(p.idle): an Acquire may take the last one first.
drain:
	for {
		select {
		case v := <-p.idle:
			idle = append(idle, v)
		default:
			break drain
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, v := range idle {
		errs = append(errs, p.destroy(v))
	}
	return errors.Join(errs...)
}

// destroy unmakes v and frees its slot.
func (p *Pool[T]) destroy(v T) error {
	select {
	case <-p.slots:
	default:
	}
	if p.r.Destroy == nil {
		return nil
	}
	return p.r.Destroy(v)
}
