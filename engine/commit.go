package engine

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/zpipe/zpipe/internal/atomicfile"
)

// committer saves finished items in groups: it syncs the file system once
// for a whole group of part files (syncfs), renames them into the parts
// folder, syncs the folder, and only then appends their journal entries.
// One fsync per small part would cost more than the work of the item.
type committer struct {
	st *state

	mu      sync.Mutex
	queue   []*commitJob
	wake    chan struct{}
	flushed *sync.Cond
	// added and committed count jobs, so that a flush waits for the jobs
	// added before it and not for a busy neighbour's later ones.
	added, committed int
	// urgent is set by a flush, so that the group goes without waiting.
	urgent bool
	closed bool
	done   chan struct{}
}

// commitJob moves an item's temp parts to their final names, then appends
// its entry; apply runs after, with the error, to update the item's result.
type commitJob struct {
	moves [][2]string // temp path → name in the parts folder
	entry *entry
	apply func(error)
}

// maxGroupWait bounds how long a finished item waits for its group.
const maxGroupWait = 20 * time.Millisecond

func newCommitter(st *state) *committer {
	c := &committer{st: st, wake: make(chan struct{}, 1), done: make(chan struct{})}
	c.flushed = sync.NewCond(&c.mu)
	go c.loop()
	return c
}

// add queues a job; it returns at once.
func (c *committer) add(j *commitJob) {
	c.mu.Lock()
	c.queue = append(c.queue, j)
	c.added++
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// flush waits until every job added so far is committed.
func (c *committer) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	target := c.added
	for c.committed < target {
		c.urgent = true
		select {
		case c.wake <- struct{}{}:
		default:
		}
		c.flushed.Wait()
	}
}

// close flushes and stops the committer.
func (c *committer) close() {
	c.flush()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.wake)
	<-c.done
}

func (c *committer) loop() {
	defer close(c.done)
	for range c.wake {
		// Let a group gather, unless someone is waiting on a flush.
		c.mu.Lock()
		urgent := c.urgent
		c.mu.Unlock()
		if !urgent {
			time.Sleep(maxGroupWait)
		}
		c.mu.Lock()
		group := c.queue
		c.queue = nil
		c.urgent = false
		c.mu.Unlock()
		if len(group) > 0 {
			c.commit(group)
		}
		c.mu.Lock()
		c.committed += len(group)
		c.flushed.Broadcast()
		c.mu.Unlock()
	}
}

func (c *committer) commit(group []*commitJob) {
	err := syncAll(group)
	var renamed []*commitJob
	for _, j := range group {
		jerr := err
		for _, m := range j.moves {
			if jerr == nil {
				jerr = os.Rename(m[0], filepath.Join(c.st.parts, m[1]))
			}
		}
		if jerr != nil {
			j.apply(jerr)
			continue
		}
		renamed = append(renamed, j)
	}
	derr := c.st.syncParts()
	for _, j := range renamed {
		jerr := derr
		if jerr == nil {
			jerr = c.st.append(j.entry)
		}
		j.apply(jerr)
	}
}

// syncAll makes the bytes of every part in the group durable.
func syncAll(group []*commitJob) error {
	var paths []string
	for _, j := range group {
		for _, m := range j.moves {
			paths = append(paths, m[0])
		}
	}
	return atomicfile.SyncFiles(paths)
}
