package batch

import "time"

// SchedulerEventKind names what a SchedulerEvent reports.
type SchedulerEventKind string

// The events of a Scheduler.
const (
	EventScheduled SchedulerEventKind = "scheduled"
	EventStarted   SchedulerEventKind = "started"
	EventCompleted SchedulerEventKind = "completed"
	EventFailed    SchedulerEventKind = "failed"
	EventCancelled SchedulerEventKind = "cancelled"
	EventPaused    SchedulerEventKind = "paused"
	EventResumed   SchedulerEventKind = "resumed"
)

// SchedulerEvent is one thing a Scheduler did; Task is nil for paused and
// resumed.
type SchedulerEvent struct {
	Kind SchedulerEventKind
	Task *Task
	Time time.Time
}

// OnEvent has f hear every event of the scheduler, in the order they
// happened. One goroutine at a time delivers them, never under the
// scheduler's lock, so f may call the Scheduler; the events such a call
// causes are delivered after f returns. An event may reach f after the
// call that caused it has returned, when another goroutine is delivering.
func OnEvent(f func(SchedulerEvent)) SchedulerOption {
	return func(s *Scheduler) error {
		s.onEvent = f
		return nil
	}
}

// note queues an event. The caller holds s.mu.
func (s *Scheduler) note(kind SchedulerEventKind, t *Task) {
	if s.onEvent != nil {
		s.pending = append(s.pending, SchedulerEvent{Kind: kind, Task: t, Time: s.now()})
	}
}

// emit hands the queued events to onEvent. The caller does not hold s.mu.
// If another goroutine (or an outer call on this one, from inside onEvent)
// is already delivering, it will deliver these too, so emit returns.
func (s *Scheduler) emit() {
	if s.onEvent == nil {
		return
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return
	}
	s.draining = true
	for len(s.pending) > 0 {
		evs := s.pending
		s.pending = nil
		s.mu.Unlock()
		s.deliver(evs)
		s.mu.Lock()
	}
	s.draining = false
	s.mu.Unlock()
}

// deliver calls onEvent for each event; if onEvent panics, the next emit
// may deliver again.
func (s *Scheduler) deliver(evs []SchedulerEvent) {
	done := false
	defer func() {
		if !done {
			s.mu.Lock()
			s.draining = false
			s.mu.Unlock()
		}
	}()
	for _, e := range evs {
		s.onEvent(e)
	}
	done = true
}
