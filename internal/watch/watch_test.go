package watch

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// timeout bounds every wait; a batch normally comes within Quiet.
const timeout = 20 * time.Second

func start(t *testing.T, opts Options, paths ...string) *Watcher {
	t.Helper()
	if opts.Quiet == 0 {
		opts.Quiet = 50 * time.Millisecond
	}
	if opts.Scan == 0 {
		opts.Scan = -1 // tests that want the scan ask for it
	}
	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.Watch(paths...); err != nil {
		t.Fatal(err)
	}
	return w
}

// next waits for the next batch.
func next(t *testing.T, w *Watcher) []string {
	t.Helper()
	select {
	case b, ok := <-w.Changes():
		if !ok {
			t.Fatal("Changes was closed")
		}
		return b
	case <-time.After(timeout):
		t.Fatalf("no batch within %s", timeout)
		return nil
	}
}

// until collects batches up to and including the first that holds path.
// Writing path after the actions under test makes it a barrier: fsnotify
// keeps the order of events, so anything those actions caused is in a
// batch by then.
func until(t *testing.T, w *Watcher, path string) [][]string {
	t.Helper()
	var got [][]string
	for {
		b := next(t, w)
		got = append(got, b)
		if slices.Contains(b, path) {
			return got
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// save writes as editors do: a temp file renamed over the target.
func save(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swp")
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func equal(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("batch %q, want %q", got, want)
	}
}

func TestAtomicSave(t *testing.T) {
	t.Run("folder", func(t *testing.T) {
		dir := t.TempDir()
		a := filepath.Join(dir, "data", "a.json")
		write(t, a, "1")
		w := start(t, Options{}, dir)
		save(t, a, "2")
		// The temp file came and went before it was quiet: not a change.
		equal(t, next(t, w), a)
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "cfg.yaml")
		write(t, cfg, "1")
		w := start(t, Options{}, cfg)
		write(t, filepath.Join(dir, "other.yaml"), "x") // not watched
		save(t, cfg, "2")
		equal(t, next(t, w), cfg)
		// The watch survived the rename.
		save(t, cfg, "3")
		equal(t, next(t, w), cfg)
	})
}

func TestNewSubfolder(t *testing.T) {
	dir := t.TempDir()
	w := start(t, Options{}, dir)
	// Written at once, before the new folders can have a watch: the walk
	// of the new folder finds it.
	x := filepath.Join(dir, "a", "b", "x.json")
	write(t, x, "1")
	equal(t, next(t, w), x)
	// The new folder is watched now.
	y := filepath.Join(dir, "a", "b", "y.json")
	write(t, y, "1")
	equal(t, next(t, w), y)
}

func TestMissingTarget(t *testing.T) {
	dir := t.TempDir()
	later := filepath.Join(dir, "data", "later")
	w := start(t, Options{}, later)
	write(t, filepath.Join(dir, "data", "elsewhere.json"), "1") // beside, not under
	f := filepath.Join(later, "sub", "f.json")
	write(t, f, "1")
	equal(t, next(t, w), f)
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.json")
	b := filepath.Join(dir, "sub", "b.json")
	c := filepath.Join(dir, "sub", "deeper", "c.json")
	for _, p := range []string{a, b, c} {
		write(t, p, "1")
	}
	w := start(t, Options{}, dir)
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	equal(t, next(t, w), a)
	// A folder moved away takes its files with it, with no event for them.
	if err := os.Rename(filepath.Join(dir, "sub"), filepath.Join(t.TempDir(), "gone")); err != nil {
		t.Fatal(err)
	}
	equal(t, next(t, w), b, c)
}

func TestBurstIsOneBatch(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f.json")
	write(t, f, "0")
	w := start(t, Options{Quiet: 200 * time.Millisecond}, dir)
	for i := range 50 {
		write(t, f, strconv.Itoa(i))
	}
	sentinel := filepath.Join(dir, "sentinel")
	write(t, sentinel, "1")
	n := 0
	for _, b := range until(t, w, sentinel) {
		if slices.Contains(b, f) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the burst came in %d batches, want 1", n)
	}
}

func TestIgnored(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	ignore := func(p string) bool {
		return p == filepath.Join(dir, ".zpipe") || strings.HasPrefix(p, out+string(filepath.Separator)) ||
			strings.HasPrefix(filepath.Base(p), ".zpipe-tmp-")
	}
	w := start(t, Options{Ignore: ignore}, dir)
	// What a run writes: outputs renamed into place, state files.
	tmp := filepath.Join(out, ".zpipe-tmp-x.yaml-123")
	write(t, tmp, "x")
	if err := os.Rename(tmp, filepath.Join(out, "x.yaml")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".zpipe", "journal"), "x")
	write(t, filepath.Join(dir, ".zpipe", "run-1", "part"), "x")
	write(t, filepath.Join(dir, "data", ".zpipe-tmp-a.json-1"), "x")
	sentinel := filepath.Join(dir, "data", "a.json")
	write(t, sentinel, "1")
	got := until(t, w, sentinel)
	if len(got) != 1 {
		t.Fatalf("batches %q, want only the sentinel's", got)
	}
	equal(t, got[0], sentinel)
}

// swapData replaces a Kubernetes-style ..data symlink as the kubelet's
// atomic writer does: new timestamped folder, new link, rename over.
func swapData(t *testing.T, dir, stamp string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		write(t, filepath.Join(dir, stamp, name), content)
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(stamp, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

func TestDataSymlinkSwap(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		swapData(t, dir, "..2026_01_01_00_00_00.1", map[string]string{"a.yaml": "1", "b.yaml": "1"})
		for _, name := range []string{"a.yaml", "b.yaml"} {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	swap := func(t *testing.T, dir string) {
		swapData(t, dir, "..2026_01_01_00_00_00.2", map[string]string{"a.yaml": "2", "b.yaml": "2"})
		if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("file", func(t *testing.T) {
		dir := setup(t)
		a := filepath.Join(dir, "a.yaml")
		w := start(t, Options{}, a)
		swap(t, dir)
		equal(t, next(t, w), a)
	})
	t.Run("folder", func(t *testing.T) {
		dir := setup(t)
		w := start(t, Options{}, dir)
		swap(t, dir)
		equal(t, next(t, w), filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml"))
	})
}

func TestScanFallback(t *testing.T) {
	// Every OS event is lost: only the stat scan can see changes.
	lost := func(string) bool { return true }
	t.Run("explicit", func(t *testing.T) {
		dir := t.TempDir()
		a := filepath.Join(dir, "sub", "a.json")
		write(t, a, "1")
		w := start(t, Options{dropEvent: lost}, dir)
		write(t, a, "22")
		b := filepath.Join(dir, "new", "b.json")
		write(t, b, "1")
		if err := w.Scan(); err != nil {
			t.Fatal(err)
		}
		equal(t, next(t, w), b, a)
		if err := os.Remove(a); err != nil {
			t.Fatal(err)
		}
		if err := w.Scan(); err != nil {
			t.Fatal(err)
		}
		equal(t, next(t, w), a)
	})
	t.Run("periodic", func(t *testing.T) {
		dir := t.TempDir()
		a := filepath.Join(dir, "a.json")
		write(t, a, "1")
		w := start(t, Options{dropEvent: lost, Scan: 20 * time.Millisecond}, a)
		write(t, a, "22")
		equal(t, next(t, w), a)
	})
	t.Run("no double report", func(t *testing.T) {
		// A change the OS reported is not reported again by the scan.
		dir := t.TempDir()
		a := filepath.Join(dir, "a.json")
		write(t, a, "1")
		w := start(t, Options{}, dir)
		write(t, a, "22")
		equal(t, next(t, w), a)
		if err := w.Scan(); err != nil {
			t.Fatal(err)
		}
		sentinel := filepath.Join(dir, "sentinel")
		write(t, sentinel, "1")
		equal(t, next(t, w), sentinel)
	})
}

func TestClose(t *testing.T) {
	dir := t.TempDir()
	w, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Watch(dir); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "a"), "1") // pending when closed
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-w.Changes(); ok {
		t.Fatal("Changes still open after Close")
	}
	if err := w.Watch(dir); !errors.Is(err, ErrClosed) {
		t.Fatalf("Watch after Close: %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// BenchmarkScan measures one stat scan of 10,000 files in 100 folders,
// which the watcher does every Options.Scan.
func BenchmarkScan(b *testing.B) {
	dir := b.TempDir()
	for i := range 10000 {
		p := filepath.Join(dir, strconv.Itoa(i%100), strconv.Itoa(i)+".json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	w, err := New(Options{Scan: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	if err := w.Watch(dir); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := w.Scan(); err != nil {
			b.Fatal(err)
		}
	}
}
