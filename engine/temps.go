package engine

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
)

// tempParts holds the parts that attempts write until they are saved or
// thrown away. Small ones stay in memory, within a budget: a file created,
// read back and removed for each of a million parts of a hundred bytes
// cost more than the items' work, in a folder whose lock every worker
// wanted. Larger ones, and any once the budget is spent, are files in the
// run's working folder. Either way a part is known by its path.
type tempParts struct {
	mu     sync.Mutex
	mem    map[string][]byte
	held   int64
	budget int64
}

// tempBudget bounds the bytes of parts held in memory; a test lowers it.
var tempBudget int64 = 32 << 20

func newTempParts() *tempParts { return &tempParts{mem: map[string][]byte{}, budget: tempBudget} }

// create starts the part at path.
func (t *tempParts) create(path string) io.WriteCloser { return &tempWriter{t: t, path: path} }

// tempWriter keeps a part in memory until it outgrows a pack's share,
// then writes it to its file.
type tempWriter struct {
	t    *tempParts
	path string
	buf  []byte
	f    *os.File
}

func (w *tempWriter) Write(p []byte) (int, error) {
	if w.f == nil && len(w.buf)+len(p) > packMax {
		if err := w.spill(); err != nil {
			return 0, err
		}
	}
	if w.f != nil {
		return w.f.Write(p)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *tempWriter) spill() error {
	f, err := os.Create(w.path)
	if err != nil {
		return err
	}
	w.f = f
	_, err = f.Write(w.buf)
	w.buf = nil
	return err
}

func (w *tempWriter) Close() error {
	if w.f != nil {
		return w.f.Close()
	}
	t := w.t
	t.mu.Lock()
	fits := t.held+int64(len(w.buf)) <= t.budget
	if fits {
		t.mem[w.path] = w.buf
		t.held += int64(len(w.buf))
	}
	t.mu.Unlock()
	if fits {
		return nil
	}
	return os.WriteFile(w.path, w.buf, 0o644)
}

// inMemory returns the bytes of the part at path when it is in memory.
func (t *tempParts) inMemory(path string) ([]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.mem[path]
	return b, ok
}

// open reads the part at path.
func (t *tempParts) open(path string) (io.ReadCloser, error) {
	if b, ok := t.inMemory(path); ok {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	return os.Open(path)
}

// lazy reads the part at path on the first read, as lazyFile does.
func (t *tempParts) lazy(ctx context.Context, path string) *lazyFile {
	if b, ok := t.inMemory(path); ok {
		return &lazyFile{ctx: ctx, r: bytes.NewReader(b)}
	}
	return &lazyFile{ctx: ctx, path: path}
}

// remove throws the part at path away.
func (t *tempParts) remove(path string) {
	t.mu.Lock()
	b, ok := t.mem[path]
	if ok {
		delete(t.mem, path)
		t.held -= int64(len(b))
	}
	t.mu.Unlock()
	if !ok {
		os.Remove(path)
	}
}

// toFile writes the part at path to its file, if it is in memory, for
// what must append to it.
func (t *tempParts) toFile(path string) error {
	b, ok := t.inMemory(path)
	if !ok {
		return nil
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	t.mu.Lock()
	delete(t.mem, path)
	t.held -= int64(len(b))
	t.mu.Unlock()
	return nil
}
