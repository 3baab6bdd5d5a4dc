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
// happened, on the goroutine of whichever call caused them, and never
// under the scheduler's lock: f may call the Scheduler.
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
func (s *Scheduler) emit() {
	if s.onEvent == nil {
		return
	}
	s.emitting.Lock()
	defer s.emitting.Unlock()
	for {
		s.mu.Lock()
		evs := s.pending
		s.pending = nil
		s.mu.Unlock()
		if len(evs) == 0 {
			return
		}
		for _, e := range evs {
			s.onEvent(e)
		}
	}
}
