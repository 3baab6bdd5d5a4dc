package batch_test

import (
	"context"
	"fmt"

	"github.com/zpipe/zpipe/batch"
	"github.com/zpipe/zpipe/format"
)

// With one slot, the most urgent waiting task runs first.
func ExampleScheduler() {
	s, err := batch.NewScheduler(batch.Slots(1))
	if err != nil {
		panic(err)
	}
	s.Pause() // queue everything before anything starts
	for _, p := range []batch.Priority{batch.Low, batch.High, batch.Critical} {
		name := map[batch.Priority]string{batch.Low: "low", batch.High: "high", batch.Critical: "critical"}[p]
		s.Schedule(name, p, func(ctx context.Context) error {
			fmt.Println("ran", name)
			return nil
		})
	}
	s.Resume()
	if err := s.Shutdown(context.Background()); err != nil { // waits for all
		panic(err)
	}
	st := s.Stats()
	fmt.Println(st.Completed, "completed")
	// Output:
	// ran critical
	// ran high
	// ran low
	// 3 completed
}

// A pool makes resources only when needed and hands released ones out
// again.
func ExamplePool() {
	made := 0
	p, err := batch.NewPool(2, batch.Resource[string]{
		Create: func(ctx context.Context) (string, error) {
			made++
			return fmt.Sprintf("conn%d", made), nil
		},
		Destroy: func(c string) error {
			fmt.Println("closed", c)
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	a, _ := p.Acquire(ctx)
	p.Release(a)
	b, _ := p.Acquire(ctx) // the same one again
	c, _ := p.Acquire(ctx) // a second one
	fmt.Println(a, b, c)
	p.Release(b)
	p.Release(c)
	p.Close()
	// Output:
	// conn1 conn1 conn2
	// closed conn1
	// closed conn2
}

// A batch scheduled as one task: WaitFor gives back its summary.
func ExampleScheduler_ScheduleBatch() {
	s, err := batch.NewScheduler(batch.Slots(2))
	if err != nil {
		panic(err)
	}
	defer s.Stop()
	conv, err := batch.NewConverter()
	if err != nil {
		panic(err)
	}
	conv.AddConversion("a.yaml", []byte("id: 1\n---\nid: 2\n"), format.YAML, format.NDJSON)
	task, err := s.ScheduleBatch("nightly", batch.High, conv)
	if err != nil {
		panic(err)
	}
	res, err := s.WaitFor(context.Background(), task.ID())
	if err != nil {
		panic(err)
	}
	sum := res.(batch.BatchSummary)
	fmt.Printf("%d of %d items; %s", sum.Successful, sum.Total, sum.Items[0].Output)
	// Output:
	// 1 of 1 items; {"id":1}
	// {"id":2}
}

// Tasks with ids of their own, metadata a priority function reads, and
// the scheduler's events.
func ExampleScheduler_ScheduleMany() {
	s, err := batch.NewScheduler(batch.Slots(1),
		batch.PriorityFunc(func(t *batch.Task) int { return map[string]int{"gold": 2, "free": 1}[t.Metadata()["tier"]] }),
		batch.OnEvent(func(e batch.SchedulerEvent) {
			if e.Kind == batch.EventStarted {
				fmt.Println("started", e.Task.ID())
			}
		}))
	if err != nil {
		panic(err)
	}
	s.Pause()
	noop := func(context.Context) error { return nil }
	s.ScheduleMany([]batch.TaskSpec{
		{Name: "a", Fn: noop, Metadata: map[string]string{"tier": "free"}},
		{Name: "b", Fn: noop, Metadata: map[string]string{"tier": "gold"}},
	}, batch.IDPrefix("import"))
	s.Resume()
	s.Shutdown(context.Background())
	// Output:
	// started import-2
	// started import-1
}
