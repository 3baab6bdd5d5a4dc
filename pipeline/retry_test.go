package pipeline

import (
	"testing"
	"time"
)

// Wait grows by Backoff, stops at MaxDelay, and stays within ±20% of that.
func TestRetryWait(t *testing.T) {
	r := Retry{Max: 5, Delay: 100 * time.Millisecond, Backoff: 2, MaxDelay: time.Second}
	for _, tt := range []struct {
		n    int
		want time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{9, time.Second},
	} {
		for range 50 {
			got := r.Wait(tt.n)
			if lo, hi := tt.want*8/10, tt.want*12/10; got < lo || got > hi {
				t.Fatalf("Wait(%d) = %s, want %s ±20%%", tt.n, got, tt.want)
			}
		}
	}
	// A backoff below 1 counts as 1: waits never shrink.
	if got := (Retry{Delay: time.Millisecond, Backoff: 0.5}).Wait(3); got < 800*time.Microsecond || got > 1200*time.Microsecond {
		t.Errorf("Wait(3) with backoff 0.5 = %s, want 1ms ±20%%", got)
	}
}
