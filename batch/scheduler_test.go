package batch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// patience bounds every wait in these tests; reaching it means a hang, not
// a slow machine.
const patience = 10 * time.Second

// newScheduler makes a scheduler that is stopped when the test ends.
func newScheduler(t *testing.T, opts ...SchedulerOption) *Scheduler {
	t.Helper()
	s, err := NewScheduler(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// schedule schedules fn or fails the test.
func schedule(t *testing.T, s *Scheduler, name string, p Priority, fn TaskFunc) *Task {
	t.Helper()
	task, err := s.Schedule(name, p, fn)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

// waitClosed fails the test if ch is not closed within patience.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(patience):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitAll waits for every task of s or fails the test.
func waitAll(t *testing.T, s *Scheduler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.WaitForAll(ctx); err != nil {
		t.Fatalf("WaitForAll: %v", err)
	}
}

// recorder notes the order tasks ran in.
type recorder struct {
	mu    sync.Mutex
	names []string
}

func (r *recorder) task(name string) TaskFunc {
	return func(context.Context) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.names = append(r.names, name)
		return nil
	}
}

func (r *recorder) order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.names)
}

// blocker returns a task that has started when started is closed and
// returns when release is closed or its context ends.
func blocker() (fn TaskFunc, started, release chan struct{}) {
	started, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	fn = func(ctx context.Context) error {
		once.Do(func() { close(started) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fn, started, release
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestSlotsOfZeroOrLessAreRejected(t *testing.T) {
	for _, n := range []int{0, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s, err := NewScheduler(Slots(n))
			if err == nil || !strings.Contains(err.Error(), "slots must be at least 1") {
				t.Fatalf("NewScheduler(Slots(%d)) = %v, %v", n, s, err)
			}
		})
	}
}

func TestOtherBadOptionsAreRejected(t *testing.T) {
	tests := []struct {
		name string
		opt  SchedulerOption
	}{
		{"a max queue of 0", MaxQueue(0)},
		{"a boost interval of 0", PriorityBoostInterval(0)},
		{"a nil priority func", PriorityFunc(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewScheduler(tt.opt); err == nil {
				t.Fatalf("NewScheduler = %v, nil", s)
			}
		})
	}
}

func TestWithOneSlotCriticalRunsFirstThenHighThenLow(t *testing.T) {
	tests := []struct {
		name string
		// queue schedules the three tasks so that none starts before all
		// are queued.
		queue func(t *testing.T, s *Scheduler, r *recorder)
	}{
		{"on a paused scheduler", func(t *testing.T, s *Scheduler, r *recorder) {
			s.Pause()
			for _, p := range []Priority{Low, High, Critical} {
				schedule(t, s, fmt.Sprint(p), p, r.task(fmt.Sprint(p)))
			}
			s.Resume()
		}},
		{"behind a running task", func(t *testing.T, s *Scheduler, r *recorder) {
			fn, started, release := blocker()
			schedule(t, s, "blocker", Critical, fn)
			waitClosed(t, started, "the blocker to start")
			for _, p := range []Priority{Low, High, Critical} {
				schedule(t, s, fmt.Sprint(p), p, r.task(fmt.Sprint(p)))
			}
			close(release)
		}},
		{"in one ScheduleMany", func(t *testing.T, s *Scheduler, r *recorder) {
			var specs []TaskSpec
			for _, p := range []Priority{Low, High, Critical} {
				specs = append(specs, TaskSpec{Name: fmt.Sprint(p), Priority: p, Fn: r.task(fmt.Sprint(p))})
			}
			if _, err := s.ScheduleMany(specs); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(t, Slots(1))
			r := &recorder{}
			tt.queue(t, s, r)
			waitAll(t, s)
			want := []string{"20", "10", "1"}
			if got := r.order(); !slices.Equal(got, want) {
				t.Errorf("order = %v, want %v", got, want)
			}
		})
	}
}

func TestEqualPrioritiesRunFirstInFirstOut(t *testing.T) {
	s := newScheduler(t, Slots(1))
	s.Pause()
	r := &recorder{}
	var want []string
	for i := range 8 {
		name := fmt.Sprint(i)
		want = append(want, name)
		schedule(t, s, name, Normal, r.task(name))
	}
	schedule(t, s, "low", Low, r.task("low"))
	want = append(want, "low")
	s.Resume()
	waitAll(t, s)
	if got := r.order(); !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestAgeingLetsALowTaskOvertakeAfterEnoughIntervals(t *testing.T) {
	// Low is 1 and High 10: after 9 intervals they tie, and the low task,
	// scheduled first, goes first.
	tests := []struct {
		waited    int
		wantFirst string
	}{
		{0, "high"},
		{8, "high"},
		{9, "low"},
		{10, "low"},
		{50, "low"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("after %d intervals %s runs first", tt.waited, tt.wantFirst), func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
			s := newScheduler(t, Slots(1), PriorityBoostInterval(time.Second))
			s.now = clock.Now
			s.Pause()
			r := &recorder{}
			schedule(t, s, "low", Low, r.task("low"))
			clock.Add(time.Duration(tt.waited) * time.Second)
			schedule(t, s, "high", High, r.task("high"))
			s.Resume()
			waitAll(t, s)
			if got := r.order(); got[0] != tt.wantFirst {
				t.Errorf("order = %v", got)
			}
		})
	}
}

func TestAgeingOnTheRealClockLetsALowTaskOvertake(t *testing.T) {
	const interval = time.Millisecond
	s := newScheduler(t, Slots(1), PriorityBoostInterval(interval))
	s.Pause()
	r := &recorder{}
	low := schedule(t, s, "low", Low, r.task("low"))
	// Waiting is the condition here, not an assertion: the longer it
	// takes, the surer the overtaking.
	deadline := time.Now().Add(patience)
	for time.Since(low.Scheduled()) <= 12*interval {
		if time.Now().After(deadline) {
			t.Fatal("the clock does not move")
		}
		time.Sleep(interval)
	}
	schedule(t, s, "high", High, r.task("high"))
	s.Resume()
	waitAll(t, s)
	if got := r.order(); !slices.Equal(got, []string{"low", "high"}) {
		t.Errorf("order = %v, want the aged low task first", got)
	}
}

func TestTheAgeingClockStopsAtShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := NewScheduler(Slots(2), PriorityBoostInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	for i := range 5 {
		schedule(t, s, fmt.Sprint(i), Priority(i), r.task(fmt.Sprint(i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.order()); n != 5 {
		t.Errorf("%d tasks ran, want 5", n)
	}
}

func TestCustomPriorityFuncDecidesTheOrder(t *testing.T) {
	// Lowest priority first, and a name may jump the queue.
	prio := func(t *Task) int {
		if t.Name() == "vip" {
			return 1000
		}
		return -int(t.Priority())
	}
	s := newScheduler(t, Slots(1), PriorityFunc(prio))
	s.Pause()
	r := &recorder{}
	for _, name := range []string{"critical", "low", "vip", "high"} {
		p := map[string]Priority{"critical": Critical, "low": Low, "vip": Low, "high": High}[name]
		schedule(t, s, name, p, r.task(name))
	}
	s.Resume()
	waitAll(t, s)
	want := []string{"vip", "low", "high", "critical"}
	if got := r.order(); !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestScheduleFailsWithErrQueueFullPastMaxQueue(t *testing.T) {
	s := newScheduler(t, Slots(1), MaxQueue(2))
	fn, started, release := blocker()
	schedule(t, s, "running", Normal, fn) // takes the slot, not a queue place
	waitClosed(t, started, "the first task to start")
	schedule(t, s, "a", Normal, func(context.Context) error { return nil })
	if _, err := s.ScheduleMany([]TaskSpec{
		{Name: "b", Fn: func(context.Context) error { return nil }},
		{Name: "c", Fn: func(context.Context) error { return nil }},
	}); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("ScheduleMany past the limit: %v", err)
	}
	if q := s.Stats().Queued; q != 1 {
		t.Errorf("a failed ScheduleMany queued %d tasks, want none of them", q-1)
	}
	schedule(t, s, "b", Normal, func(context.Context) error { return nil })
	_, err := s.Schedule("c", Normal, func(context.Context) error { return nil })
	if !errors.Is(err, ErrQueueFull) || !strings.Contains(err.Error(), "2") {
		t.Fatalf("Schedule past the limit: %v, want ErrQueueFull naming the limit", err)
	}
	if u := s.Stats().QueueUtilization; u != 1 {
		t.Errorf("QueueUtilization = %v, want 1", u)
	}
	close(release)
	waitAll(t, s)
}

func TestPauseHoldsNewTasksAndResumeStartsThem(t *testing.T) {
	s := newScheduler(t, Slots(2))
	fn, started, release := blocker()
	running := schedule(t, s, "running", Normal, fn)
	waitClosed(t, started, "the first task to start")
	s.Pause()
	held := schedule(t, s, "held", Normal, func(context.Context) error { return nil })
	close(release)
	waitClosed(t, running.Done(), "the running task to finish while paused")
	if st := held.State(); st != TaskQueued {
		t.Fatalf("a task scheduled while paused is %s", st)
	}
	if st := s.Stats(); st.Active != 0 || st.Queued != 1 {
		t.Fatalf("stats while paused = %+v", st)
	}
	s.Resume()
	waitClosed(t, held.Done(), "the held task to run after Resume")
	if st := held.State(); st != TaskDone {
		t.Errorf("held task is %s", st)
	}
}

func TestCancellingTwiceReturnsFalseTheSecondTime(t *testing.T) {
	tests := []struct {
		name    string
		running bool
	}{
		{"a queued task", false},
		{"a running task", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(t, Slots(1))
			fn, started, _ := blocker()
			if !tt.running {
				s.Pause()
			}
			task := schedule(t, s, "task", Normal, fn)
			if tt.running {
				waitClosed(t, started, "the task to start")
			}
			if !s.Cancel(task.ID()) {
				t.Fatal("the first Cancel returned false")
			}
			if s.Cancel(task.ID()) {
				t.Error("the second Cancel returned true")
			}
			waitClosed(t, task.Done(), "the cancelled task to end")
			if s.Cancel(task.ID()) {
				t.Error("Cancel of an ended task returned true")
			}
			if st := task.State(); st != TaskCancelled {
				t.Errorf("state = %s", st)
			}
		})
	}
}

func TestCancelIsFalseForUnknownAndFinishedTasks(t *testing.T) {
	s := newScheduler(t, Slots(1))
	if s.Cancel("task-999") {
		t.Error("Cancel of an unknown id returned true")
	}
	task := schedule(t, s, "quick", Normal, func(context.Context) error { return nil })
	waitClosed(t, task.Done(), "the task to end")
	if s.Cancel(task.ID()) {
		t.Error("Cancel of a finished task returned true")
	}
}

func TestWaitForOnACancelledTaskReturnsAnErrorRatherThanHanging(t *testing.T) {
	tests := []struct {
		name   string
		cancel func(s *Scheduler, task *Task)
	}{
		{"cancelled while queued", func(s *Scheduler, task *Task) { s.Cancel(task.ID()) }},
		{"cancelled while running", func(s *Scheduler, task *Task) {
			s.Resume()
			waitUntil(task, TaskRunning)
			s.Cancel(task.ID())
		}},
		{"stopped by a forced shutdown", func(s *Scheduler, task *Task) { go s.Stop() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(t, Slots(1))
			s.Pause()
			fn, _, _ := blocker()
			task := schedule(t, s, "task", Normal, fn)
			tt.cancel(s, task)
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			_, err := s.WaitFor(ctx, task.ID())
			if !errors.Is(err, ErrCancelled) {
				t.Fatalf("WaitFor = %v, want ErrCancelled", err)
			}
		})
	}
}

// waitUntil polls until task is in state st; the Done channel cannot tell
// when a task starts.
func waitUntil(task *Task, st TaskState) {
	deadline := time.Now().Add(patience)
	for task.State() != st && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

func TestWaitForReturnsTheTasksOwnError(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name  string
		fn    TaskFunc
		want  error
		state TaskState
	}{
		{"a task that succeeds", func(context.Context) error { return nil }, nil, TaskDone},
		{"a task that fails", func(context.Context) error { return boom }, boom, TaskFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScheduler(t)
			task := schedule(t, s, tt.name, Normal, tt.fn)
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			if _, err := s.WaitFor(ctx, task.ID()); !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("WaitFor = %v, want %v", err, tt.want)
			}
			if st := task.State(); st != tt.state {
				t.Errorf("state = %s, want %s", st, tt.state)
			}
		})
	}
	t.Run("an unknown id", func(t *testing.T) {
		s := newScheduler(t)
		if _, err := s.WaitFor(context.Background(), "nope"); !errors.Is(err, ErrUnknownTask) {
			t.Errorf("WaitFor = %v, want ErrUnknownTask", err)
		}
	})
}

func TestAPanickingTaskFailsInsteadOfCrashing(t *testing.T) {
	s := newScheduler(t)
	task := schedule(t, s, "bad", Normal, func(context.Context) error { panic("oops") })
	waitClosed(t, task.Done(), "the task to end")
	if st, err := task.State(), task.Err(); st != TaskFailed || err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("state %s, err %v", st, err)
	}
}

func TestWaitForAllReturnsOnceEveryTaskEndedIncludingCancelledAndShutDownOnes(t *testing.T) {
	s := newScheduler(t, Slots(1))
	fn, started, _ := blocker() // never released: only a shutdown ends it
	running := schedule(t, s, "running", Normal, fn)
	waitClosed(t, started, "the first task to start")
	cancelled := schedule(t, s, "cancelled", Normal, fn)
	queued := schedule(t, s, "queued", Normal, fn)

	done := make(chan error, 1)
	go func() { done <- s.WaitForAll(context.Background()) }()
	s.Cancel(cancelled.ID())
	select {
	case err := <-done:
		t.Fatalf("WaitForAll returned %v while tasks were still running", err)
	default:
	}
	s.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitForAll = %v", err)
		}
	case <-time.After(patience):
		t.Fatal("WaitForAll hangs after a shutdown")
	}
	for _, task := range []*Task{running, cancelled, queued} {
		if st := task.State(); st != TaskCancelled {
			t.Errorf("%s is %s", task.Name(), st)
		}
	}
}

func TestShutdown(t *testing.T) {
	tests := []struct {
		name string
		// grace is how long Shutdown waits; the tasks end only when their
		// context does, so a finite grace forces.
		grace     time.Duration
		wantErr   error
		wantState TaskState
	}{
		{"without a deadline lets running and queued tasks finish", 0, nil, TaskDone},
		{"past its deadline cancels running and queued tasks", time.Millisecond, context.DeadlineExceeded, TaskCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s, err := NewScheduler(Slots(1))
			if err != nil {
				t.Fatal(err)
			}
			fn, started, release := blocker()
			running := schedule(t, s, "running", Normal, fn)
			waitClosed(t, started, "the first task to start")
			queued := schedule(t, s, "queued", Normal, func(ctx context.Context) error { return ctx.Err() })
			s.Pause() // Shutdown must still drain the queue

			ctx, cancel := context.WithTimeout(context.Background(), patience)
			if tt.grace > 0 {
				ctx, cancel = context.WithTimeout(context.Background(), tt.grace)
			}
			defer cancel()
			result := make(chan error, 1)
			go func() { result <- s.Shutdown(ctx) }()
			if tt.grace == 0 {
				close(release)
			}
			select {
			case err := <-result:
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Errorf("Shutdown = %v, want %v", err, tt.wantErr)
				}
			case <-time.After(patience):
				t.Fatal("Shutdown hangs")
			}
			for _, task := range []*Task{running, queued} {
				if st := task.State(); st != tt.wantState {
					t.Errorf("%s is %s, want %s", task.Name(), st, tt.wantState)
				}
			}
			if _, err := s.Schedule("late", Normal, fn); !errors.Is(err, ErrClosed) {
				t.Errorf("Schedule after Shutdown = %v, want ErrClosed", err)
			}
		})
	}
}

func TestEveryWaitHonoursItsContext(t *testing.T) {
	tests := []struct {
		name string
		wait func(ctx context.Context, s *Scheduler, task *Task) error
	}{
		{"WaitFor", func(ctx context.Context, s *Scheduler, task *Task) error {
			_, err := s.WaitFor(ctx, task.ID())
			return err
		}},
		{"WaitForAll", func(ctx context.Context, s *Scheduler, _ *Task) error { return s.WaitForAll(ctx) }},
		{"Shutdown", func(ctx context.Context, s *Scheduler, _ *Task) error { return s.Shutdown(ctx) }},
	}
	for _, tt := range tests {
		for _, already := range []bool{true, false} {
			name := tt.name + " with a context cancelled while waiting"
			if already {
				name = tt.name + " with a context already cancelled"
			}
			t.Run(name, func(t *testing.T) {
				s := newScheduler(t, Slots(1))
				fn, started, _ := blocker()
				task := schedule(t, s, "stuck", Normal, fn)
				waitClosed(t, started, "the task to start")
				ctx, cancel := context.WithCancel(context.Background())
				result := make(chan error, 1)
				if already {
					cancel()
				}
				go func() { result <- tt.wait(ctx, s, task) }()
				cancel()
				select {
				case err := <-result:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("%s = %v, want context.Canceled", tt.name, err)
					}
				case <-time.After(patience):
					t.Fatalf("%s ignores its context", tt.name)
				}
			})
		}
	}
}

func TestStatsCountTasksByOutcome(t *testing.T) {
	clock := &fakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newScheduler(t, Slots(1), MaxQueue(10))
	s.now = clock.Now
	s.Pause()
	// Each task moves the clock by how long it pretends to take.
	takes := func(d time.Duration, err error) TaskFunc {
		return func(context.Context) error {
			clock.Add(d)
			return err
		}
	}
	schedule(t, s, "ok1", Normal, takes(2*time.Second, nil))
	schedule(t, s, "ok2", Normal, takes(4*time.Second, nil))
	schedule(t, s, "fail", Normal, takes(6*time.Second, errors.New("no")))
	gone := schedule(t, s, "cancelled", Normal, takes(100*time.Second, nil))
	s.Cancel(gone.ID())

	st := s.Stats()
	if st.Queued != 3 || st.Active != 0 || st.Cancelled != 1 || st.QueueUtilization != 0.3 {
		t.Errorf("stats while paused = %+v", st)
	}
	s.Resume()
	waitAll(t, s)
	st = s.Stats()
	want := SchedulerStats{Completed: 2, Failed: 1, Cancelled: 1, AverageDuration: 4 * time.Second, Memory: st.Memory}
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if st.Memory == 0 {
		t.Error("Memory is 0")
	}
}

func TestClearCompletedForgetsOnlyEndedTasks(t *testing.T) {
	s := newScheduler(t, Slots(1))
	ended := []*Task{
		schedule(t, s, "ok", Normal, func(context.Context) error { return nil }),
		schedule(t, s, "fail", Normal, func(context.Context) error { return errors.New("no") }),
	}
	waitAll(t, s)
	s.Pause()
	queued := schedule(t, s, "queued", Normal, func(context.Context) error { return nil })
	if n := s.ClearCompleted(0); n != 2 {
		t.Errorf("ClearCompleted = %d, want 2", n)
	}
	for _, task := range ended {
		if _, ok := s.Task(task.ID()); ok {
			t.Errorf("%s is still known", task.Name())
		}
	}
	if got, ok := s.Task(queued.ID()); !ok || got != queued {
		t.Error("the queued task was forgotten")
	}
	if st := s.Stats(); st.Completed != 1 || st.Failed != 1 {
		t.Errorf("ClearCompleted changed the counts: %+v", st)
	}
	if n := s.ClearCompleted(0); n != 0 {
		t.Errorf("a second ClearCompleted = %d, want 0", n)
	}
}

func TestSchedulerIsSafeForConcurrentUse(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := NewScheduler(Slots(4), PriorityBoostInterval(time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				task, err := s.Schedule("t", Priority(i%20), func(ctx context.Context) error { return nil })
				if err != nil {
					t.Error(err)
					return
				}
				if i%7 == g%7 {
					s.Cancel(task.ID())
				}
				if i%10 == 0 {
					s.Stats()
					s.ClearCompleted(0)
				}
			}
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Completed+st.Cancelled != 400 || st.Active+st.Queued != 0 {
		t.Errorf("stats = %+v, want 400 ended tasks", st)
	}
}
