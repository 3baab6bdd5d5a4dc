// Package journal is zpipe's checkpoint log: an append-only file of JSON
// lines, one per finished item, stage or run, that lets a killed run
// resume without redoing finished work.
//
// Durability: every entry is written to the file as soon as it is appended,
// so a killed process loses nothing; entries are fsynced in groups, at most
// SyncEvery apart and at Close, so a power loss costs at most that much
// finished work, which is redone, never lost. A torn last line (a crash in
// the middle of a write) is ignored when the journal is opened; a bad line
// anywhere else means the journal cannot be trusted, and Open says so.
package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// SyncEvery bounds how long an appended entry may wait for its fsync.
const SyncEvery = 200 * time.Millisecond

// Journal appends entries to a file.
type Journal struct {
	path string

	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	dirty  bool
	closed bool
	err    error
	stop   chan struct{}
	done   chan struct{}
}

// CorruptError reports a journal line that cannot be read and is not the
// torn end of the file.
type CorruptError struct {
	Path string
	Line int
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("journal %s is corrupt at line %d (%v); it cannot be trusted, run with --force to start over", e.Path, e.Line, e.Err)
}

// Open reads the journal at path into out, one call of decode per line, and
// opens it for appending; a missing file is an empty journal. decode
// returns an error for a line it cannot read, and must not keep the line,
// whose bytes are reused.
func Open(path string, decode func(line []byte) error) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	good, err := replay(path, f, decode)
	if err != nil {
		f.Close()
		return nil, err
	}
	// Drop a torn last line, so that the next entry starts on a line of
	// its own.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	j := &Journal{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go j.syncLoop()
	return j, nil
}

// replay decodes every complete line and returns the length of the good
// prefix of the file.
func replay(path string, f *os.File, decode func([]byte) error) (int64, error) {
	r := bufio.NewReaderSize(f, 256<<10)
	var good int64
	var long []byte
	for n := 1; ; n++ {
		// A line is read in place unless it outgrows the buffer: a
		// copy of each of a million lines was half of what reading
		// the journal allocated. decode does not keep it.
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			// No newline: the write of this line never finished.
			return good, nil
		}
		if err != nil {
			return 0, err
		}
		if derr := decode(bytes.TrimSuffix(line, []byte{'\n'})); derr != nil {
			// The last line may be garbage from a crash mid-write (a
			// power loss can leave zeros); a bad line with more after it
			// cannot be explained that way.
			if _, perr := r.Peek(1); perr == io.EOF {
				return good, nil
			}
			return 0, &CorruptError{Path: path, Line: n, Err: derr}
		}
		good += int64(len(line))
	}
}

// Append writes one entry. It is on disk (not yet synced) when Append
// returns.
func (j *Journal) Append(v any) error { return j.AppendAll(v) }

// AppendAll writes entries in order, with one write: a group of a
// thousand small items would otherwise cost a thousand. They are on disk
// (not yet synced) when AppendAll returns.
func (j *Journal) AppendAll(vs ...any) error {
	lines := make([][]byte, len(vs))
	for i, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		lines[i] = b
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("journal is closed")
	}
	if j.err != nil {
		return j.err
	}
	for _, b := range lines {
		j.w.Write(b)
		j.w.WriteByte('\n')
	}
	if err := j.w.Flush(); err != nil {
		j.err = err
		return err
	}
	j.dirty = true
	return nil
}

// Sync makes every appended entry durable now.
func (j *Journal) Sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncLocked()
}

func (j *Journal) syncLocked() error {
	if !j.dirty || j.err != nil {
		return j.err
	}
	if err := j.f.Sync(); err != nil {
		j.err = err
		return err
	}
	j.dirty = false
	return nil
}

func (j *Journal) syncLoop() {
	defer close(j.done)
	t := time.NewTicker(SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			j.Sync()
		}
	}
}

// Close syncs and closes the journal.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	j.closed = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.syncLocked()
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Read replays the journal at path without changing it: no lock, no
// truncation of a torn line. A missing file is an empty journal.
func Read(path string, decode func(line []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = replay(path, f, decode)
	return err
}
