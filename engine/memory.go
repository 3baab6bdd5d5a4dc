package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/zpipe/zpipe/schema"
)

// errOverMemory is the cause with which the memory watchdog cuts an item
// off: it is an item failure, not a transient one, since a retry would
// grow as large again.
var errOverMemory = errors.New("ran past max_memory in its CUE evaluation")

// inflight is an item being worked on, as the memory watchdog sees it.
type inflight struct {
	sr *stageRun
	// it holds the item's name and chunk, copied: a windowed stage
	// lists its next window into the same array.
	it     item
	v      *schema.Validator
	cancel context.CancelCauseFunc
}

// watchFlight has the memory watchdog follow an item's evaluation until
// the returned func is called.
func (sr *stageRun) watchFlight(job *Job, v *schema.Validator, cancel context.CancelCauseFunc) func() {
	it := &sr.items[job.Item]
	x := &inflight{sr: sr, it: item{Item: Item{Name: it.Name, Chunk: it.Chunk}}, v: v, cancel: cancel}
	sr.r.flights.add(x)
	return func() { sr.r.flights.remove(x) }
}

// flights tracks the items in flight across the run's stages.
type flights struct {
	mu  sync.Mutex
	set map[*inflight]bool
}

func (f *flights) add(x *inflight) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.set == nil {
		f.set = map[*inflight]bool{}
	}
	f.set[x] = true
}

func (f *flights) remove(x *inflight) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.set, x)
}

func (f *flights) list() []*inflight {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*inflight, 0, len(f.set))
	for x := range f.set {
		out = append(out, x)
	}
	return out
}

// watchMemory makes max_memory a ceiling for the whole run: zpipe's heap
// plus its CUE evaluator processes. When they pass it, it stops the run
// gracefully, as a first Ctrl-C does, and says which stage and item; an
// evaluator that holds most of the memory is killed at once, failing its
// item. It returns when done is closed.
func (r *runner) watchMemory(done <-chan struct{}) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		metrics.Read(sample)
		heap := int64(sample[0].Value.Uint64())
		total := heap
		for _, n := range r.nodes {
			total += n.schema.EvaluatorsRSS()
		}
		var worst *inflight
		var worstRSS int64
		for _, x := range r.flights.list() {
			if rss := x.v.EvaluatorRSS(); worst == nil || rss > worstRSS {
				worst, worstRSS = x, rss
			}
		}
		if total <= r.budget {
			continue
		}
		msg := fmt.Sprintf("stopping: the run uses %s, over max_memory (%s)", size(total), size(r.budget))
		if worst != nil {
			msg += fmt.Sprintf("; stage %s was working on %s", worst.sr.s.Name, itemID(&worst.it))
			if worstRSS > heap {
				msg += fmt.Sprintf(", whose CUE evaluation uses %s and is stopped", size(worstRSS))
				worst.cancel(errOverMemory)
			}
		}
		r.emit(Event{Kind: Warning, Msg: msg})
		r.overMemory.Store(true)
		r.stopRun()
		return
	}
}

// size shows a byte count in MiB, or GiB when large.
func size(n int64) string {
	if n >= 10<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
