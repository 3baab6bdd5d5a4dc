// Package watch reports changed files under a set of paths, in quiet
// batches. It builds on fsnotify, which watches single folders: this
// package watches folders recursively (new subfolders included), survives
// editors that save by renaming a temp file over the target, follows
// Kubernetes-style ..data symlink swaps, and backs the OS events with a
// periodic stat scan that catches the events the OS dropped.
package watch

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options tune a Watcher. The zero value is ready to use.
type Options struct {
	// Quiet is how long a path must see no event before it is reported, so
	// that a burst of writes is one change. The default is 200ms.
	Quiet time.Duration
	// Scan is how often every watched file is stat'ed (size, mtime,
	// inode) to catch changes the OS did not report. The default is 2s; a
	// negative value turns the scan off.
	Scan time.Duration
	// Ignore, when it returns true, hides a path: a file is never
	// reported, a folder is not descended into. It is called from the
	// watcher's goroutine.
	Ignore func(path string) bool
	// OnError receives problems that do not stop watching, such as an
	// overflowing event queue (a scan follows at once) or a folder that
	// cannot be watched. It is called from the watcher's goroutine.
	OnError func(error)

	// dropEvent is a test seam: it swallows OS events for a path, as if
	// the OS had lost them, so that only the scan can find the change.
	dropEvent func(path string) bool
}

// Watcher reports changes to files under the paths given to Watch.
type Watcher struct {
	opts Options
	fsn  *fsnotify.Watcher
	out  chan []string
	reqs chan func()
	done chan struct{}
	exit sync.WaitGroup
	once sync.Once

	// Owned by the loop goroutine.
	targets map[string]bool      // what Watch was given, absolute
	dirs    map[string]bool      // folders with an fsnotify watch
	known   map[string]fileStat  // files last seen under the targets
	pending map[string]time.Time // changed paths, by their last event
	ready   map[string]bool      // quiet paths not yet taken from out
	batch   []string             // ready, sorted; nil when stale
	visited map[string]bool      // folders a scan reached, while it runs
	timer   *time.Timer
}

// fileStat is what the scan compares; it follows symlinks.
type fileStat struct {
	size  int64
	mtime int64 // UnixNano
	ino   uint64
}

// New starts a watcher with nothing to watch yet; see Watch.
func New(opts Options) (*Watcher, error) {
	if opts.Quiet <= 0 {
		opts.Quiet = 200 * time.Millisecond
	}
	if opts.Scan == 0 {
		opts.Scan = 2 * time.Second
	}
	fsn, err := fsnotify.NewBufferedWatcher(1024)
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		opts: opts, fsn: fsn,
		out: make(chan []string), reqs: make(chan func()), done: make(chan struct{}),
		targets: map[string]bool{}, dirs: map[string]bool{}, known: map[string]fileStat{},
		pending: map[string]time.Time{}, ready: map[string]bool{},
		timer: time.NewTimer(time.Hour),
	}
	w.timer.Stop()
	w.exit.Add(1)
	go w.loop()
	return w, nil
}

// ErrClosed is returned by Watch and Scan after Close.
var ErrClosed = errors.New("watch: watcher closed")

// Watch adds paths. A folder is watched with every subfolder, including
// those created later. A file is watched through its folder, so that a
// save that renames a temp file over it is seen. A path that does not
// exist yet is reported once it appears. When Watch returns, every
// existing file under the paths is known, so a later change to any of them
// is reported.
func (w *Watcher) Watch(paths ...string) error {
	abs := make([]string, 0, len(paths))
	for _, p := range paths {
		a, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		abs = append(abs, a)
	}
	return w.do(func() {
		for _, t := range abs {
			if w.targets[t] {
				continue
			}
			w.targets[t] = true
			found := map[string]fileStat{}
			w.track(t, found)
			for p, st := range found {
				w.known[p] = st
			}
		}
	})
}

// Scan stats every watched file now, as the periodic scan does, and
// returns once the changes it found are pending: they arrive on Changes
// after Quiet. Tests use it to wait for a scan without sleeping.
func (w *Watcher) Scan() error { return w.do(w.scan) }

// Changes delivers batches of changed paths: absolute, sorted, each once.
// A path is in a batch once it has been quiet for Options.Quiet. A deleted
// file is reported like a changed one; a file created and deleted before
// it was reported is not. The channel is closed by Close.
func (w *Watcher) Changes() <-chan []string { return w.out }

// Close stops watching and waits for the watcher's goroutine to end.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		w.exit.Wait()
		err = w.fsn.Close()
	})
	return err
}

// do runs f on the loop goroutine, which owns the state, and waits for it.
func (w *Watcher) do(f func()) error {
	finished := make(chan struct{})
	select {
	case w.reqs <- func() { f(); close(finished) }:
	case <-w.done:
		return ErrClosed
	}
	<-finished
	return nil
}

func (w *Watcher) loop() {
	defer w.exit.Done()
	defer close(w.out)
	defer w.timer.Stop()
	var scan <-chan time.Time
	if w.opts.Scan > 0 {
		t := time.NewTicker(w.opts.Scan)
		defer t.Stop()
		scan = t.C
	}
	for {
		// Only offer a batch when there is one: a nil channel blocks.
		var out chan []string
		if len(w.ready) > 0 {
			if w.batch == nil {
				w.batch = slices.Sorted(maps.Keys(w.ready))
			}
			out = w.out
		}
		select {
		case <-w.done:
			return
		case f := <-w.reqs:
			f()
		case ev, ok := <-w.fsn.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.fsn.Errors:
			if !ok {
				return
			}
			w.error(err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.scan()
			}
		case <-scan:
			w.scan()
		case <-w.timer.C:
			w.flush()
		case out <- w.batch:
			clear(w.ready)
			w.batch = nil
		}
	}
}

// event handles one fsnotify event.
func (w *Watcher) event(ev fsnotify.Event) {
	p := filepath.Clean(ev.Name)
	if ev.Op == fsnotify.Chmod {
		// Attributes only: the content is what a rerun depends on.
		return
	}
	if w.opts.dropEvent != nil && w.opts.dropEvent(p) {
		return
	}
	dir, base := filepath.Split(p)
	if base == "..data" {
		// A Kubernetes volume swapped its data folder: every file that
		// resolves through ..data changed at once.
		if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) {
			w.swapped(filepath.Clean(dir))
		}
		return
	}
	if internal(base) || w.ignored(p) {
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.gone(p)
	}
	if ev.Has(fsnotify.Create) {
		// A new folder may hold files already, or be where a target that
		// did not exist yet lives: walk it now, as no event will come for
		// what it held before its watch was added.
		found := map[string]fileStat{}
		if w.relevant(p) {
			w.track(p, found)
		} else {
			for t := range w.targets {
				if within(p, t) {
					w.track(t, found)
				}
			}
		}
		for f := range found {
			w.mark(f, true)
		}
	}
	if ev.Has(fsnotify.Write) && w.relevant(p) && !w.dirs[p] {
		w.mark(p, true)
	}
}

// gone handles a path that was removed or renamed away: it and, for a
// folder, every file known under it changed.
func (w *Watcher) gone(p string) {
	if w.dirs[p] {
		for d := range w.dirs {
			if d == p || within(p, d) {
				// A renamed folder's watch follows it to its new name,
				// which would report wrong paths; a removed one's is gone
				// already.
				w.fsn.Remove(d)
				delete(w.dirs, d)
			}
		}
		for f := range w.known {
			if within(p, f) {
				w.mark(f, true)
			}
		}
	}
	if w.relevant(p) {
		w.mark(p, true)
	}
}

// swapped marks the files of dir that are symlinks through ..data.
func (w *Watcher) swapped(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 || internal(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		target, err := os.Readlink(p)
		if err != nil || !w.relevant(p) || w.ignored(p) {
			continue
		}
		if first, _, _ := strings.Cut(filepath.ToSlash(target), "/"); first == "..data" {
			w.mark(p, true)
		}
	}
}

// track makes sure p, and every folder under it, is watched, and adds the
// files under p to found. A path that does not exist is watched through
// its nearest existing folder, to see it appear.
func (w *Watcher) track(p string, found map[string]fileStat) {
	if w.ignored(p) {
		return
	}
	fi, err := os.Stat(p)
	if err != nil {
		anc := existingAncestor(p)
		w.watchDir(anc)
		// A folder on the way to p may have appeared before the watch was
		// added, and no event will come for it: look again, one level
		// deeper each time.
		if _, err := os.Stat(p); err == nil || existingAncestor(p) != anc {
			w.track(p, found)
		}
		return
	}
	// The parent too: it sees p removed and created again.
	w.watchDir(filepath.Dir(p))
	if !fi.IsDir() {
		if fi.Mode().IsRegular() {
			found[p] = statOf(fi)
		}
		return
	}
	w.walk(p, found)
}

// walk watches dir and its subfolders and adds their files to found. It
// follows symlinks to files, not to folders, which could loop.
func (w *Watcher) walk(dir string, found map[string]fileStat) {
	w.watchDir(dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if internal(e.Name()) || w.ignored(p) {
			continue
		}
		if e.IsDir() {
			w.walk(p, found)
			continue
		}
		// Stat follows a symlink, so that a swapped target shows.
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			found[p] = statOf(fi)
		}
	}
}

func (w *Watcher) watchDir(dir string) {
	if w.visited != nil {
		w.visited[dir] = true
	}
	if w.dirs[dir] {
		return
	}
	if err := w.fsn.Add(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			// The scan still covers it; say why events may be late.
			w.error(err)
		}
		return
	}
	w.dirs[dir] = true
}

// scan compares every file under the targets with what was last seen and
// marks the differences. It also watches folders whose create event was
// lost, and forgets the watches of folders that are gone.
func (w *Watcher) scan() {
	found := map[string]fileStat{}
	w.visited = map[string]bool{}
	for t := range w.targets {
		w.track(t, found)
	}
	for d := range w.dirs {
		if !w.visited[d] {
			w.fsn.Remove(d)
			delete(w.dirs, d)
		}
	}
	w.visited = nil
	for p, st := range found {
		if old, ok := w.known[p]; !ok || old != st {
			w.mark(p, false)
		}
	}
	for p := range w.known {
		if _, ok := found[p]; !ok {
			w.mark(p, false)
		}
	}
}

// mark records a change of p. An event restarts p's quiet period; a scan
// finding does not, so that it cannot hold back a path being written.
func (w *Watcher) mark(p string, event bool) {
	if _, ok := w.pending[p]; ok && !event {
		return
	}
	now := time.Now()
	w.pending[p] = now
	if len(w.pending) == 1 {
		w.timer.Reset(w.opts.Quiet)
	}
}

// flush moves the paths that have been quiet long enough to ready, and
// sets the timer for the next one.
func (w *Watcher) flush() {
	now := time.Now()
	var next time.Time
	for p, last := range w.pending {
		due := last.Add(w.opts.Quiet)
		if due.After(now) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		delete(w.pending, p)
		if w.settle(p) {
			w.ready[p] = true
			w.batch = nil
		}
	}
	if !next.IsZero() {
		w.timer.Reset(next.Sub(now))
	}
}

// settle records what p is now and reports whether it is a change worth
// reporting: a file that is there, or one that was there and is gone.
func (w *Watcher) settle(p string) bool {
	fi, err := os.Stat(p)
	if err != nil {
		_, was := w.known[p]
		delete(w.known, p)
		return was
	}
	if !fi.Mode().IsRegular() {
		return false
	}
	w.known[p] = statOf(fi)
	return true
}

// relevant reports whether p is a target or lies under one.
func (w *Watcher) relevant(p string) bool {
	for t := range w.targets {
		if p == t || within(t, p) {
			return true
		}
	}
	return false
}

func (w *Watcher) ignored(p string) bool { return w.opts.Ignore != nil && w.opts.Ignore(p) }

func (w *Watcher) error(err error) {
	if w.opts.OnError != nil {
		w.opts.OnError(err)
	}
}

// internal reports names of the Kubernetes atomic writer's own entries
// (..data, ..2026_01_02_..., ..data_tmp), which are reached through the
// symlinks beside them, never directly.
func internal(name string) bool { return strings.HasPrefix(name, "..") }

// within reports whether p lies strictly under dir.
func within(dir, p string) bool {
	if dir == string(filepath.Separator) {
		return len(p) > 1 && p[0] == filepath.Separator
	}
	return strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == filepath.Separator
}

func existingAncestor(p string) string {
	for {
		parent := filepath.Dir(p)
		if fi, err := os.Stat(parent); (err == nil && fi.IsDir()) || parent == p {
			return parent
		}
		p = parent
	}
}
