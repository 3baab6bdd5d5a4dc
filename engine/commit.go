package engine

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/zpipe/zpipe/internal/atomicfile"
)

// committer saves finished items in groups: it syncs the file system once
// for a whole group of part files (syncfs), renames them into the parts
// folder, syncs the folder, and only then appends their journal entries.
// One fsync per small part would cost more than the work of the item.
type committer struct {
	st    *state
	temps *tempParts

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

// commitJob saves an item's temp parts, then appends its entry; apply
// runs after, with the error, to update the item's result. moves are the
// temp files of the entry's parts, in the order of its allParts.
type commitJob struct {
	moves []string
	entry *entry
	apply func(error)
}

// maxGroupWait bounds how long a finished item waits for its group.
const maxGroupWait = 20 * time.Millisecond

func newCommitter(st *state, temps *tempParts) *committer {
	c := &committer{st: st, temps: temps, wake: make(chan struct{}, 1), done: make(chan struct{})}
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

// packMax is the size up to which a part goes into its group's pack
// rather than a file of its own: a file per small part cost a 4 KiB block
// and a rename for a hundred bytes, and a million of them fill a folder.
const packMax = 64 << 10

// commit saves a group of items: their small parts copied into one pack
// and large ones renamed into the parts folder, all synced, then their
// entries appended. An entry names its parts only once they are durable.
func (c *committer) commit(group []*commitJob) {
	var (
		big    [][2]string // temp file → name in the parts folder
		packed []*commitJob
		pk     *pack
		err    error
	)
	for _, j := range group {
		refs := j.entry.partRefs()
		small := false
		for k, tmp := range j.moves {
			if refs[k].Size <= packMax {
				small = true
				continue
			}
			big = append(big, [2]string{tmp, refs[k].File})
		}
		if small {
			packed = append(packed, j)
		}
	}
	if len(packed) > 0 {
		pk, err = c.st.newPack()
		for _, j := range packed {
			if err != nil {
				break
			}
			refs := j.entry.partRefs()
			for k, tmp := range j.moves {
				if refs[k].Size <= packMax {
					if refs[k].Offset, err = pk.add(c.temps, tmp, refs[k].Size); err != nil {
						break
					}
					refs[k].File = pk.name
				}
			}
		}
		if err == nil {
			err = pk.close()
		}
	}
	if err == nil {
		err = syncPaths(big)
	}
	for _, m := range big {
		if err == nil {
			err = os.Rename(m[0], filepath.Join(c.st.parts, m[1]))
		}
	}
	if err == nil && pk != nil {
		err = pk.commit()
	}
	if err == nil {
		err = c.st.syncParts()
	}
	if err != nil {
		// The entries are not written, so nothing names what was saved:
		// the next finished run collects it.
		if pk != nil {
			pk.abort()
		}
		for _, j := range group {
			j.apply(err)
		}
		return
	}
	entries := make([]*entry, len(group))
	for i, j := range group {
		entries[i] = j.entry
	}
	err = c.st.appendAll(entries...)
	for _, j := range group {
		if err == nil {
			for k, ref := range j.entry.partRefs() {
				if ref.packed() {
					c.temps.remove(j.moves[k])
				}
			}
		}
		j.apply(err)
	}
}

// syncPaths makes the bytes of the temp files to move durable.
func syncPaths(moves [][2]string) error {
	if len(moves) == 0 {
		return nil
	}
	paths := make([]string, len(moves))
	for i, m := range moves {
		paths[i] = m[0]
	}
	return atomicfile.SyncFiles(paths)
}

// pack is a file in the parts folder being filled with small parts, under
// a temp name until commit.
type pack struct {
	f    *os.File
	w    *bufio.Writer
	name string // the name it takes at commit
	off  int64
}

func (st *state) newPack() (*pack, error) {
	f, err := os.CreateTemp(st.parts, atomicfile.TempPrefix+strconv.Itoa(os.Getpid())+"-*"+packSuffix)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	rand.Read(b)
	return &pack{f: f, w: bufio.NewWriterSize(f, 256<<10), name: hex.EncodeToString(b) + packSuffix}, nil
}

// add copies the part at path, of size bytes, to the pack, and returns
// its offset in it.
func (p *pack) add(temps *tempParts, path string, size int64) (int64, error) {
	src, err := temps.open(path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	n, err := io.Copy(p.w, src)
	if err == nil && n != size {
		err = fmt.Errorf("part %s holds %d bytes, not the %d its writer reported", filepath.Base(path), n, size)
	}
	off := p.off
	p.off += n
	return off, err
}

// close makes the pack's bytes durable.
func (p *pack) close() error {
	err := p.w.Flush()
	if err == nil {
		err = p.f.Sync()
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// commit gives the pack its name; the caller syncs the folder.
func (p *pack) commit() error {
	return os.Rename(p.f.Name(), filepath.Join(filepath.Dir(p.f.Name()), p.name))
}

func (p *pack) abort() {
	p.f.Close()
	os.Remove(p.f.Name())
}
