package engine

import (
	"context"
	"testing"
	"time"
)

// The gate serves waiters in turn; a waiter is queued before it says it
// waits; one that gives up lets the next one in; TryAcquire never jumps
// the queue; a big item is capped at the budget and runs alone.
func TestGate(t *testing.T) {
	g := NewGate(10)
	r1, err := g.Acquire(context.Background(), 7, func() { t.Error("the first waited") })
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan string, 4)
	got := make(chan string, 4)
	acquire := func(ctx context.Context, name string, n int64) {
		release, err := g.Acquire(ctx, n, func() { waiting <- name })
		if err != nil {
			got <- name + " gave up"
			return
		}
		release()
		got <- name
	}
	ctx, cancel := context.WithCancel(context.Background())
	go acquire(ctx, "big", 50) // capped at 10: waits for the 7
	if w := <-waiting; w != "big" {
		t.Fatalf("waiting: %s", w)
	}
	if _, ok := g.TryAcquire(1); ok {
		t.Error("TryAcquire jumped the queue")
	}
	go acquire(context.Background(), "small", 2)
	<-waiting
	cancel()
	if r := <-got; r != "big gave up" {
		t.Fatalf("got %s", r)
	}
	select {
	case r := <-got:
		// 7 + 2 fits once big is gone.
		if r != "small" {
			t.Fatalf("got %s", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("small never got its turn after big gave up")
	}
	r1()
	r1() // twice is once
	if h := g.Held(); h != 0 {
		t.Errorf("held %d after all released", h)
	}
}
