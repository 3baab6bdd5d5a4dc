package engine

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
)

// storeResident is how many bytes of records an item store keeps in
// memory; older blocks go to the state's spill file. A million items'
// records are some 150 MB, which a no-op rerun held to its end. At 16 MB
// a first run of a million one-record files peaked at 198-206 MB, at 8
// MB at 189-194 MB, in the same 42-48 s. A variable for the tests.
var storeResident = 8 << 20

// spillFile holds the item stores' blocks that are past storeResident: a
// temp file, made when first needed, in a folder of its own in the state
// folder, named as a run's temp folder. The file is unlinked at once and
// the folder removed where the system allows, else when the state is done
// with. A killed run's folder is a run's temp folder, which the next run
// removes; so is what NFS leaves of an open file unlinked (.nfsXXXX),
// which in the state folder itself would be a file zpipe did not make.
// A dry run, which leaves the state folder as it is, spills to the
// system's temp folder instead: there, what a killed one leaves (on
// Windows, or over NFS) is left to the system to clear.
//
// Records are read back in windows, which a few recent ones are kept of:
// a stage reads its items in the order it listed them, which is mostly
// the order the journal holds them in.
type spillFile struct {
	dir     string
	once    sync.Once
	f       *os.File
	err     error
	name    string // to remove on close; "" once unlinked
	folder  string // to remove on close; "" once removed
	cleanup runtime.Cleanup

	mu     sync.Mutex
	size   int64
	recent [spillRecent]spillWindow
	next   int
	// failed is the first write that failed, and told whether it has
	// been told: the stores keep their records in memory from then on.
	failed error
	told   bool
}

// A read that goes on from a recent window reads spillAhead bytes; any
// other read, spillAround.
const (
	spillRecent = 16
	spillAhead  = 64 << 10
	spillAround = 4 << 10
)

// spillWindow is bytes read from the file at an offset.
type spillWindow struct {
	at int64
	b  []byte
}

func newSpillFile(dir string) *spillFile { return &spillFile{dir: dir} }

func (f *spillFile) open() error {
	f.once.Do(func() {
		if f.folder, f.err = os.MkdirTemp(f.dir, runTempPrefix); f.err != nil {
			return
		}
		if f.f, f.err = os.CreateTemp(f.folder, "items-*"); f.err != nil {
			os.Remove(f.folder)
			return
		}
		f.name = f.f.Name()
		if runtime.GOOS != "windows" && os.Remove(f.name) == nil {
			f.name = ""
			if os.Remove(f.folder) == nil {
				f.folder = ""
			}
		}
		// A state no run closes (a library caller's, one read early
		// and not used) lets go of its file when it is collected.
		left := spillLeft{f.name, f.folder}
		f.cleanup = runtime.AddCleanup(f, func(file *os.File) {
			file.Close()
			left.remove()
		}, f.f)
	})
	return f.err
}

// spillLeft is what of a spill file is still to remove once it is closed.
type spillLeft struct{ name, folder string }

func (l spillLeft) remove() {
	if l.name != "" {
		os.Remove(l.name)
	}
	if l.folder != "" {
		os.RemoveAll(l.folder)
	}
}

// close lets go of the file, once no store of the state is read again.
func (f *spillFile) close() {
	if f == nil || f.f == nil {
		return
	}
	f.cleanup.Stop()
	f.f.Close()
	spillLeft{f.name, f.folder}.remove()
}

// write appends b and returns where it starts.
func (f *spillFile) write(b []byte) (at int64, err error) {
	defer func() {
		if err != nil {
			f.mu.Lock()
			f.failed = cmp.Or(f.failed, err)
			f.mu.Unlock()
		}
	}()
	if err := f.open(); err != nil {
		return 0, err
	}
	f.mu.Lock()
	at = f.size
	f.size += int64(len(b))
	f.mu.Unlock()
	if _, err := f.f.WriteAt(b, at); err != nil {
		return 0, err
	}
	return at, nil
}

// failure returns, the first time it is asked after one, the write that
// failed: a disk that fills mid-run is worth a warning, since the memory
// the file was saving is then used.
func (f *spillFile) failure() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed == nil || f.told {
		return nil
	}
	f.told = true
	return f.failed
}

// record appends to dst the bytes from at, which begin with a record as
// the store writes one (its length first) and hold it whole; limit is how
// many bytes the block it is in has from at. The windows are used again,
// so what a caller reads is its own copy: fresh windows for every read
// were 1.8 GB of garbage for a rerun of a million files.
func (f *spillFile) record(at int64, limit int, dst []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	ahead := false
	for _, w := range f.recent {
		end := w.at + int64(len(w.b))
		if len(w.b) > 0 && at >= w.at && at < end {
			if b := w.b[at-w.at:]; wholeRecord(b) {
				return append(dst, b[:recordSize(b)]...)
			}
		}
		ahead = ahead || len(w.b) > 0 && at >= end-spillAround && at < end+spillAhead
	}
	size := spillAround
	if ahead {
		size = spillAhead
	}
	w := &f.recent[f.next]
	f.next = (f.next + 1) % spillRecent
	w.at, w.b = at, f.read(w.b[:0], at, min(limit, size))
	if !wholeRecord(w.b) {
		// Longer than a window: read whole, and not kept.
		n, k := binary.Uvarint(w.b)
		w.b = w.b[:0]
		return f.read(dst, at, k+int(n))
	}
	return append(dst, w.b[:recordSize(w.b)]...)
}

// read reads n bytes at at into b, grown as needed. The file is the run's own and
// was written whole: a failure to read it back is the disk's, and no
// record can be made up in its place.
func (f *spillFile) read(b []byte, at int64, n int) []byte {
	b = slices.Grow(b[:0], n)[:n]
	if got, err := f.f.ReadAt(b, at); got < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		panic(fmt.Errorf("zpipe: reading back the journal's items from %s: %w", f.f.Name(), err))
	}
	return b
}

// wholeRecord tells whether b starts with a whole record.
func wholeRecord(b []byte) bool {
	n, w := binary.Uvarint(b)
	return w > 0 && uint64(len(b)-w) >= n
}

// warnSpill warns, once a run, that the spill file could not be written,
// in the stage whose store found it out, if any.
func (r *runner) warnSpill(stage string) {
	if r.state == nil {
		return
	}
	if err := r.state.spill.failure(); err != nil {
		msg := fmt.Sprintf("the state folder cannot take the journal's entries, which stay in memory: %v", err)
		if stage != "" {
			msg = "stage " + stage + ": " + msg
		}
		r.emit(Event{Kind: Warning, Stage: stage, Msg: msg})
	}
}
