package engine

import (
	"runtime/debug"
	"testing"
)

func gcPercent() int {
	v := debug.SetGCPercent(-1)
	debug.SetGCPercent(v)
	return v
}

// Stages of many items run at GOGC=50 at most, the last to end puts the
// target back, and a lower one (or none) set by the user stays. Stages of
// two overlapping runs share the process's pace, as they share its
// collector: the first to end must not put back what the other needs.
func TestGCPaceLowersAndRestores(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	for _, tc := range []struct{ set, during int }{{200, 50}, {100, 50}, {50, 50}, {25, 25}, {-1, -1}} {
		debug.SetGCPercent(tc.set)
		endA := processGC.lower(manyItemsGC) // a stage of one run
		endB := processGC.lower(manyItemsGC) // and one of another, started after
		if got := gcPercent(); got != tc.during {
			t.Errorf("GOGC %d: %d while two stages run, want %d", tc.set, got, tc.during)
		}
		endA()
		if got := gcPercent(); got != tc.during {
			t.Errorf("GOGC %d: %d while one still runs, want %d", tc.set, got, tc.during)
		}
		endB()
		if got := gcPercent(); got != tc.set {
			t.Errorf("GOGC %d: %d after, want it back", tc.set, got)
		}
	}
}

// A huge stage that is up to date runs at GOGC=25 while it overlaps a
// smaller one, which then runs on at 50; the target goes back when both
// end.
func TestGCPaceHugeStagesGoLower(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(200))
	endSmall := processGC.lower(manyItemsGC)
	endHuge := processGC.lower(hugeItemsGC)
	if got := gcPercent(); got != hugeItemsGC {
		t.Errorf("%d while a huge stage runs, want %d", got, hugeItemsGC)
	}
	endHuge()
	if got := gcPercent(); got != manyItemsGC {
		t.Errorf("%d while the smaller one still runs, want %d", got, manyItemsGC)
	}
	endSmall()
	if got := gcPercent(); got != 200 {
		t.Errorf("%d after, want 200 back", got)
	}
}
