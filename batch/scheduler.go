package batch

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/zpipe/zpipe/pipeline"
)

// Priority orders the tasks of a Scheduler: a higher one runs first. Any
// int is allowed; the constants are the usual levels.
type Priority int

// The usual priorities, the levels a manifest names.
const (
	Low      Priority = pipeline.PriorityLow
	Normal   Priority = pipeline.PriorityNormal
	High     Priority = pipeline.PriorityHigh
	Critical Priority = pipeline.PriorityCritical
)

// TaskState says where a task is in its life.
type TaskState int

// The task states. Done, Failed and Cancelled are final.
const (
	TaskQueued TaskState = iota
	TaskRunning
	TaskDone
	TaskFailed
	TaskCancelled
)

func (s TaskState) String() string {
	switch s {
	case TaskQueued:
		return "queued"
	case TaskRunning:
		return "running"
	case TaskDone:
		return "done"
	case TaskFailed:
		return "failed"
	case TaskCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("TaskState(%d)", int(s))
}

// final reports whether a task in state s has ended.
func (s TaskState) final() bool { return s >= TaskDone }

var (
	// ErrQueueFull is wrapped by Schedule when MaxQueue tasks already wait.
	ErrQueueFull = errors.New("scheduler queue is full")
	// ErrCancelled is wrapped by the error of a cancelled task.
	ErrCancelled = errors.New("cancelled")
	// ErrClosed is returned by Schedule after Shutdown.
	ErrClosed = errors.New("scheduler is shut down")
	// ErrUnknownTask is wrapped by WaitFor for an id the scheduler does not
	// know, or no longer knows after ClearCompleted.
	ErrUnknownTask = errors.New("no such task")
)

// TaskFunc is the work of a task. It should return soon after ctx is
// cancelled.
type TaskFunc func(ctx context.Context) error

// TaskSpec describes one task for ScheduleMany.
type TaskSpec struct {
	// ID, when set, is the task's id, which must be new to the scheduler;
	// otherwise one is made (see IDPrefix).
	ID       string
	Name     string
	Priority Priority
	Fn       TaskFunc
	// Metadata is the caller's, for a PriorityFunc and for events.
	Metadata map[string]string
}

// Task is a unit of work given to a Scheduler. Its methods are safe for
// concurrent use.
type Task struct {
	id, name  string
	priority  Priority
	fn        TaskFunc
	meta      map[string]string
	scheduled time.Time
	done      chan struct{}

	// Guarded by the scheduler's lock.
	seq    uint64
	key    int64 // effective priority, up to a constant shared by all tasks
	index  int   // in the queue's heap
	cancel context.CancelFunc
	// why is set once Cancel or a forced shutdown asked the task to stop.
	why string

	// mu guards what the methods read, so that a PriorityFunc, which runs
	// under the scheduler's lock, can call them.
	mu             sync.Mutex
	state          TaskState
	err            error
	result         any
	started, ended time.Time
}

// ID is the task's id, unique within its scheduler.
func (t *Task) ID() string { return t.id }

// Name is the name it was scheduled with.
func (t *Task) Name() string { return t.name }

// Priority is the priority it was scheduled with.
func (t *Task) Priority() Priority { return t.priority }

// Metadata is a copy of what it was scheduled with, taken then, so the
// caller may reuse its map; this one is the task's, not to be changed.
func (t *Task) Metadata() map[string]string { return t.meta }

// Result is what the task gave back, such as a batch task's BatchSummary;
// nil until it ends, and for a plain TaskFunc.
func (t *Task) Result() any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.result
}

// Scheduled is when it was scheduled.
func (t *Task) Scheduled() time.Time { return t.scheduled }

// State is where the task is now.
func (t *Task) State() TaskState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state
}

// Err is the task's error once it ended: what its func returned, or an
// error wrapping ErrCancelled.
func (t *Task) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Started is when the task started running; zero if it never did.
func (t *Task) Started() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.started
}

// Ended is when the task ended; zero while it has not.
func (t *Task) Ended() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended
}

// Done is closed when the task has ended, however it ended.
func (t *Task) Done() <-chan struct{} { return t.done }

// SchedulerStats is a snapshot of a Scheduler. Completed, Failed and
// Cancelled count since the scheduler was made; ClearCompleted does not
// reset them.
type SchedulerStats struct {
	Active, Queued               int
	Completed, Failed, Cancelled int
	// AverageDuration is the mean running time of the tasks that ran and
	// ended.
	AverageDuration time.Duration
	// QueueUtilization is Queued/MaxQueue; 0 when the queue is unbounded.
	QueueUtilization float64
	// Memory is the Go heap in use by the process, in bytes.
	Memory uint64
}

// SchedulerOption configures NewScheduler.
type SchedulerOption func(*Scheduler) error

// Slots sets how many tasks run at once; the default is GOMAXPROCS.
func Slots(n int) SchedulerOption {
	return func(s *Scheduler) error {
		if n <= 0 {
			return fmt.Errorf("slots must be at least 1, got %d", n)
		}
		s.slots = n
		return nil
	}
}

// MaxQueue bounds the tasks waiting to run; the default is no bound.
func MaxQueue(n int) SchedulerOption {
	return func(s *Scheduler) error {
		if n <= 0 {
			return fmt.Errorf("max queue must be at least 1, got %d", n)
		}
		s.maxQueue = n
		return nil
	}
}

// PriorityBoostInterval turns on ageing: a waiting task's effective
// priority rises by one at every tick of a clock of period d, so that low
// priority work cannot starve. Ageing needs no timer: a task's place in the
// queue is fixed by its priority and the tick it was scheduled at.
func PriorityBoostInterval(d time.Duration) SchedulerOption {
	return func(s *Scheduler) error {
		if d <= 0 {
			return fmt.Errorf("priority boost interval must be positive, got %s", d)
		}
		s.boost = d
		return nil
	}
}

// PriorityFunc replaces the default effective priority (priority plus
// ageing) with f; higher runs first, and ties run in the order scheduled.
// f is called for every waiting task whenever a slot is to be filled, under
// the scheduler's lock: it must be quick and must not call the Scheduler,
// though it may call the Task's methods.
func PriorityFunc(f func(t *Task) int) SchedulerOption {
	return func(s *Scheduler) error {
		if f == nil {
			return errors.New("priority func is nil")
		}
		s.prio = f
		return nil
	}
}

// Scheduler runs tasks in priority order, a bounded number at once. Which
// task starts next is decided over all waiting tasks when a slot frees, not
// in arrival order; equal effective priorities run first come, first
// served. Its methods are safe for concurrent use.
type Scheduler struct {
	slots    int
	maxQueue int // 0: unbounded
	boost    time.Duration
	prio     func(*Task) int
	now      func() time.Time // replaced by tests

	base    context.Context // parent of every task's context
	stopAll context.CancelFunc
	wg      sync.WaitGroup // task goroutines

	mu      sync.Mutex
	queue   taskQueue
	tasks   map[string]*Task
	lastID  uint64
	seq     uint64
	running int
	paused  bool
	closed  bool
	// drained is closed once the scheduler is closed and nothing is
	// queued or running.
	drained   chan struct{}
	isDrained bool

	completed, failed, cancelled int
	ran                          int
	runTime                      time.Duration

	// Events wait in pending, in the order they happened, until a caller
	// that is not holding mu hands them to onEvent; draining says one is,
	// so onEvent sees them in that order, one at a time.
	onEvent  func(SchedulerEvent)
	pending  []SchedulerEvent
	draining bool
}

// NewScheduler returns a running Scheduler. Shut it down with Shutdown or
// Stop to release its goroutines.
func NewScheduler(opts ...SchedulerOption) (*Scheduler, error) {
	s := &Scheduler{
		slots:   runtime.GOMAXPROCS(0),
		now:     time.Now,
		tasks:   map[string]*Task{},
		drained: make(chan struct{}),
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	s.base, s.stopAll = context.WithCancel(context.Background())
	return s, nil
}

// Schedule queues fn to run with priority p. It fails with an error
// wrapping ErrQueueFull when the queue is full, and with ErrClosed after
// Shutdown.
func (s *Scheduler) Schedule(name string, p Priority, fn TaskFunc) (*Task, error) {
	ts, err := s.ScheduleMany([]TaskSpec{{Name: name, Priority: p, Fn: fn}})
	if err != nil {
		return nil, err
	}
	return ts[0], nil
}

// ScheduleOption configures ScheduleMany.
type ScheduleOption func(*scheduleOpts)

type scheduleOpts struct{ prefix string }

// IDPrefix makes the ids of the tasks that have none prefix-1, prefix-2,
// and so on, counting from the first of the call.
func IDPrefix(prefix string) ScheduleOption { return func(o *scheduleOpts) { o.prefix = prefix } }

// ScheduleMany queues all the specs or, on error, none of them. The whole
// batch is queued before any of it starts, so its priorities are honoured
// among themselves.
func (s *Scheduler) ScheduleMany(specs []TaskSpec, opts ...ScheduleOption) ([]*Task, error) {
	var o scheduleOpts
	for _, f := range opts {
		f(&o)
	}
	for i, sp := range specs {
		if sp.Fn == nil {
			return nil, fmt.Errorf("task %d (%q) has no func", i, sp.Name)
		}
	}
	s.mu.Lock()
	ts, err := s.queueLocked(specs, o)
	s.mu.Unlock()
	s.emit()
	return ts, err
}

// queueLocked is ScheduleMany under s.mu.
func (s *Scheduler) queueLocked(specs []TaskSpec, o scheduleOpts) ([]*Task, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if s.maxQueue > 0 {
		free := 0 // tasks that start at once rather than wait
		if !s.paused {
			free = s.slots - s.running
		}
		if len(s.queue)+len(specs)-free > s.maxQueue {
			return nil, fmt.Errorf("%w: at most %d tasks may wait", ErrQueueFull, s.maxQueue)
		}
	}
	ids := make([]string, len(specs))
	seen := map[string]bool{}
	for i, sp := range specs {
		ids[i] = sp.ID
		if ids[i] == "" && o.prefix != "" {
			ids[i] = fmt.Sprintf("%s-%d", o.prefix, i+1)
		}
		if ids[i] == "" {
			continue
		}
		if _, taken := s.tasks[ids[i]]; taken || seen[ids[i]] {
			return nil, fmt.Errorf("task id %q is taken", ids[i])
		}
		seen[ids[i]] = true
	}
	now := s.now()
	tick := s.tick(now)
	ts := make([]*Task, len(specs))
	for i, sp := range specs {
		s.lastID++
		s.seq++
		id := ids[i]
		for id == "" {
			if id = fmt.Sprintf("task-%d", s.lastID); s.tasks[id] != nil {
				s.lastID, id = s.lastID+1, ""
			}
		}
		t := &Task{
			id:        id,
			name:      sp.Name,
			priority:  sp.Priority,
			fn:        sp.Fn,
			meta:      maps.Clone(sp.Metadata),
			scheduled: now,
			done:      make(chan struct{}),
			seq:       s.seq,
			// Every waiting task gains one per tick, so the order between
			// two of them never changes once both wait: priority minus the
			// tick scheduled at is a key the heap can keep.
			key: int64(sp.Priority) - tick,
		}
		s.tasks[t.id] = t
		heap.Push(&s.queue, t)
		ts[i] = t
		s.note(EventScheduled, t)
	}
	s.dispatch()
	return ts, nil
}

// ScheduleBatch queues a batch's Execute as one task; the task's Result,
// which WaitFor also returns, is the BatchSummary.
func (s *Scheduler) ScheduleBatch(name string, p Priority, b *Batch) (*Task, error) {
	var t *Task
	ready := make(chan struct{})
	t, err := s.Schedule(name, p, func(ctx context.Context) error {
		<-ready
		sum, err := b.Execute(ctx)
		t.mu.Lock()
		t.result = sum
		t.mu.Unlock()
		return err
	})
	close(ready)
	return t, err
}

// tick is the ageing clock's count at now; 0 without ageing.
func (s *Scheduler) tick(now time.Time) int64 {
	if s.boost <= 0 {
		return 0
	}
	return now.UnixNano() / int64(s.boost)
}

// Task returns the task with the given id.
func (s *Scheduler) Task(id string) (*Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	return t, ok
}

// Cancel stops a task: a queued one never runs, a running one has its
// context cancelled. It reports false for an unknown or finished task, and
// for a task already cancelled.
func (s *Scheduler) Cancel(id string) bool {
	defer s.emit()
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok || t.why != "" {
		return false
	}
	switch t.State() {
	case TaskQueued:
		heap.Remove(&s.queue, t.index)
		t.why = "cancelled"
		s.finish(t, nil)
		s.checkDrained()
	case TaskRunning:
		t.why = "cancelled"
		t.cancel()
	default:
		return false
	}
	return true
}

// WaitFor waits for the task to end and returns its Result (a batch task's
// BatchSummary) and its error: what its func returned, an error wrapping
// ErrCancelled if it was cancelled, or ctx.Err() if ctx ends first.
func (s *Scheduler) WaitFor(ctx context.Context, id string) (any, error) {
	t, ok := s.Task(id)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTask, id)
	}
	select {
	case <-t.done:
		return t.Result(), t.Err()
	default:
	}
	select {
	case <-t.done:
		return t.Result(), t.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// WaitForAll waits until every task scheduled so far has ended, however it
// ended, and returns nil; or returns ctx.Err() if ctx ends first. The
// tasks' own errors are left to WaitFor and Task.Err.
func (s *Scheduler) WaitForAll(ctx context.Context) error {
	s.mu.Lock()
	var pending []*Task
	for _, t := range s.tasks {
		if !t.State().final() {
			pending = append(pending, t)
		}
	}
	s.mu.Unlock()
	for _, t := range pending {
		select {
		case <-t.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Stats returns a snapshot of the scheduler.
func (s *Scheduler) Stats() SchedulerStats {
	s.mu.Lock()
	st := SchedulerStats{
		Active:    s.running,
		Queued:    len(s.queue),
		Completed: s.completed,
		Failed:    s.failed,
		Cancelled: s.cancelled,
	}
	if s.ran > 0 {
		st.AverageDuration = s.runTime / time.Duration(s.ran)
	}
	if s.maxQueue > 0 {
		st.QueueUtilization = float64(len(s.queue)) / float64(s.maxQueue)
	}
	s.mu.Unlock()
	st.Memory = heapInUse()
	return st
}

// heapInUse reads the heap in use from runtime/metrics, which unlike
// runtime.ReadMemStats does not stop the world.
func heapInUse() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// ClearCompleted forgets the tasks that ended more than olderThan ago (0:
// every one that ended) and returns how many it forgot. The Stats counts
// keep them.
func (s *Scheduler) ClearCompleted(olderThan time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, t := range s.tasks {
		if t.State().final() && s.now().Sub(t.Ended()) >= olderThan {
			delete(s.tasks, id)
			n++
		}
	}
	return n
}

// Pause stops new tasks from starting; running ones go on. It has no effect
// once Shutdown has been called, which must be able to drain the queue.
func (s *Scheduler) Pause() {
	s.mu.Lock()
	if !s.closed && !s.paused {
		s.paused = true
		s.note(EventPaused, nil)
	}
	s.mu.Unlock()
	s.emit()
}

// Resume lets tasks start again after Pause.
func (s *Scheduler) Resume() {
	s.mu.Lock()
	if s.paused {
		s.paused = false
		s.note(EventResumed, nil)
	}
	s.dispatch()
	s.mu.Unlock()
	s.emit()
}

// Shutdown stops accepting tasks and lets the running and queued ones
// finish, resuming a paused scheduler to do so. If ctx ends first, it
// cancels every task still queued or running, waits for the running ones
// to return, and returns ctx.Err(). When it returns, every goroutine the
// scheduler started has ended.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.paused = false
	s.dispatch()
	s.checkDrained()
	s.mu.Unlock()
	s.emit()

	var err error
	select {
	case <-s.drained:
	case <-ctx.Done():
		select {
		case <-s.drained: // both happened; the graceful one counts
		default:
			err = ctx.Err()
			s.force()
		}
	}
	<-s.drained
	s.wg.Wait()
	s.stopAll()
	s.emit()
	return err
}

// Stop is Shutdown without the grace: it cancels every task still queued or
// running and waits for the running ones to return.
func (s *Scheduler) Stop() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = s.Shutdown(ctx)
}

// force cancels every task still queued or running.
func (s *Scheduler) force() {
	s.mu.Lock()
	defer s.mu.Unlock()
	const why = "cancelled by shutdown"
	for len(s.queue) > 0 {
		t := heap.Pop(&s.queue).(*Task)
		t.why = why
		s.finish(t, nil)
	}
	for _, t := range s.tasks {
		if t.why == "" && t.State() == TaskRunning {
			t.why = why
		}
	}
	s.stopAll()
	s.checkDrained()
}

// dispatch starts the most urgent queued tasks while slots are free. The
// caller holds s.mu.
func (s *Scheduler) dispatch() {
	if s.paused || s.running >= s.slots || len(s.queue) == 0 {
		return
	}
	if s.prio != nil {
		// A custom priority may change with time, so it is asked afresh.
		for _, t := range s.queue {
			t.key = int64(s.prio(t))
		}
		heap.Init(&s.queue)
	}
	for s.running < s.slots && len(s.queue) > 0 {
		t := heap.Pop(&s.queue).(*Task)
		ctx, cancel := context.WithCancel(s.base)
		t.cancel = cancel
		t.mu.Lock()
		t.state = TaskRunning
		t.started = s.now()
		t.mu.Unlock()
		s.note(EventStarted, t)
		s.running++
		s.wg.Add(1)
		go s.run(ctx, t)
	}
}

// run runs one task and then fills its slot.
func (s *Scheduler) run(ctx context.Context, t *Task) {
	defer s.wg.Done()
	err := callTask(ctx, t.fn)
	s.mu.Lock()
	t.cancel()
	s.running--
	s.finish(t, err)
	s.dispatch()
	s.checkDrained()
	s.mu.Unlock()
	s.emit()
}

// callTask turns a panic into an error, so that one bad task does not take
// the process down.
func callTask(ctx context.Context, fn TaskFunc) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("task panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return fn(ctx)
}

// finish records how t ended and wakes its waiters. The caller holds s.mu.
func (s *Scheduler) finish(t *Task, err error) {
	now := s.now()
	state := TaskDone
	switch {
	case t.why != "":
		state = TaskCancelled
		err = fmt.Errorf("task %q: %w", t.name, ErrCancelled)
		if t.why != "cancelled" {
			err = fmt.Errorf("task %q: %w by shutdown", t.name, ErrCancelled)
		}
		s.cancelled++
	case err != nil:
		state = TaskFailed
		s.failed++
	default:
		s.completed++
	}
	t.mu.Lock()
	t.state, t.err, t.ended = state, err, now
	started := t.started
	t.mu.Unlock()
	s.note(map[TaskState]SchedulerEventKind{TaskDone: EventCompleted, TaskFailed: EventFailed, TaskCancelled: EventCancelled}[state], t)
	if !started.IsZero() {
		s.ran++
		s.runTime += now.Sub(started)
	}
	close(t.done)
}

// checkDrained closes drained once a closed scheduler has nothing left. The
// caller holds s.mu.
func (s *Scheduler) checkDrained() {
	if s.closed && !s.isDrained && s.running == 0 && len(s.queue) == 0 {
		s.isDrained = true
		close(s.drained)
	}
}

// taskQueue is a heap of waiting tasks: the highest key first, then the
// earliest scheduled.
type taskQueue []*Task

func (q taskQueue) Len() int { return len(q) }

func (q taskQueue) Less(i, j int) bool {
	if q[i].key != q[j].key {
		return q[i].key > q[j].key
	}
	return q[i].seq < q[j].seq
}

func (q taskQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}

func (q *taskQueue) Push(x any) {
	t := x.(*Task)
	t.index = len(*q)
	*q = append(*q, t)
}

func (q *taskQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*q = old[:len(old)-1]
	return t
}
