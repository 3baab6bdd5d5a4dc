package batch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zpipe/zpipe/format"
)

func TestSchedulerEventsComeInOrder(t *testing.T) {
	var mu sync.Mutex
	var got []string
	s := newScheduler(t, Slots(1), OnEvent(func(e SchedulerEvent) {
		mu.Lock()
		defer mu.Unlock()
		name := ""
		if e.Task != nil {
			name = " " + e.Task.Name()
		}
		got = append(got, string(e.Kind)+name)
	}))
	s.Pause()
	schedule(t, s, "ok", Normal, func(context.Context) error { return nil })
	schedule(t, s, "bad", Low, func(context.Context) error { return errors.New("boom") })
	s.Resume()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := "paused, scheduled ok, scheduled bad, resumed, started ok, completed ok, started bad, failed bad"
	if strings.Join(got, ", ") != want {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, ", "), want)
	}
}

// A listener that schedules follow-up work from inside OnEvent, as a
// workflow would, must not deadlock, and still hears everything in order.
func TestOnEventMayCallTheScheduler(t *testing.T) {
	var mu sync.Mutex
	var got []string
	var s *Scheduler
	s = newScheduler(t, Slots(1), OnEvent(func(e SchedulerEvent) {
		mu.Lock()
		got = append(got, string(e.Kind)+" "+e.Task.Name())
		mu.Unlock()
		if e.Kind == EventCompleted && e.Task.Name() == "first" {
			if _, err := s.Schedule("second", Normal, func(context.Context) error { return nil }); err != nil {
				t.Error(err)
			}
		}
	}))
	first := schedule(t, s, "first", Normal, func(context.Context) error { return nil })
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WaitFor(context.Background(), first.ID())
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n == 6 {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a Schedule call from OnEvent never returned")
	}
	s.Shutdown(context.Background())
	mu.Lock()
	defer mu.Unlock()
	want := "scheduled first, started first, completed first, scheduled second, started second, completed second"
	if strings.Join(got, ", ") != want {
		t.Errorf("events:\n%s\nwant\n%s", strings.Join(got, ", "), want)
	}
}

func TestScheduleManyIDsAndMetadata(t *testing.T) {
	s := newScheduler(t, Slots(1), PriorityFunc(func(task *Task) int {
		// The caller's metadata decides: the most urgent tenant first.
		return map[string]int{"gold": 10, "free": 1}[task.Metadata()["tier"]]
	}))
	run := func(ctx context.Context) error { return nil }
	s.Pause()
	ts, err := s.ScheduleMany([]TaskSpec{
		{Name: "a", Fn: run, Metadata: map[string]string{"tier": "free"}},
		{Name: "b", Fn: run, Metadata: map[string]string{"tier": "gold"}},
		{ID: "mine", Name: "c", Fn: run},
	}, IDPrefix("import"))
	if err != nil {
		t.Fatal(err)
	}
	if ids := ts[0].ID() + " " + ts[1].ID() + " " + ts[2].ID(); ids != "import-1 import-2 mine" {
		t.Errorf("ids %s", ids)
	}
	if _, err := s.ScheduleMany([]TaskSpec{{ID: "mine", Fn: run}}); err == nil || err.Error() != `task id "mine" is taken` {
		t.Errorf("a taken id: %v", err)
	}
	if ts[1].Metadata()["tier"] != "gold" {
		t.Errorf("metadata %v", ts[1].Metadata())
	}
	s.Resume()
	s.Shutdown(context.Background())
	for _, task := range ts {
		if task.State() != TaskDone {
			t.Errorf("%s is %s", task.ID(), task.State())
		}
	}
	// One slot: gold (b), then free (a), then no tier (mine).
	if b, a, mine := ts[1].Started(), ts[0].Started(), ts[2].Started(); b.After(a) || a.After(mine) {
		t.Errorf("started b %v, a %v, mine %v", b, a, mine)
	}
}

func TestScheduleBatchReturnsItsSummary(t *testing.T) {
	s := newScheduler(t, Slots(2))
	b, err := NewConverter(WithSchema(batchSchema(t)))
	if err != nil {
		t.Fatal(err)
	}
	b.AddConversion("a", []byte("id: 1\nname: a\n"), format.YAML, format.NDJSON)
	b.AddConversion("b", []byte("id: 0\nname: b\n"), format.YAML, format.NDJSON)
	task, err := s.ScheduleBatch("users", High, b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.WaitFor(context.Background(), task.ID())
	if err != nil {
		t.Fatal(err)
	}
	sum, ok := res.(BatchSummary)
	if !ok || sum.Total != 2 || sum.Successful != 1 || sum.Failed != 1 {
		t.Fatalf("result %#v", res)
	}
	if task.Result().(BatchSummary).Total != 2 {
		t.Errorf("Task.Result = %v", task.Result())
	}
}

func TestClearCompletedOlderThan(t *testing.T) {
	s := newScheduler(t)
	old := schedule(t, s, "old", Normal, func(context.Context) error { return nil })
	<-old.Done()
	time.Sleep(30 * time.Millisecond)
	fresh := schedule(t, s, "fresh", Normal, func(context.Context) error { return nil })
	<-fresh.Done()
	if n := s.ClearCompleted(20 * time.Millisecond); n != 1 {
		t.Errorf("cleared %d, want the old one", n)
	}
	if _, ok := s.Task(fresh.ID()); !ok {
		t.Error("the fresh task is gone")
	}
	if _, ok := s.Task(old.ID()); ok {
		t.Error("the old task is kept")
	}
}
