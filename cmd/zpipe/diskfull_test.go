//go:build crash

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCrashDiskFull runs a change of input on a small filesystem filled to
// many levels, so that the disk fills at every step of a run: the lock,
// the parts, the packs, the journal, each output, the run record. Each
// time, every output is whole, as before the run or as after it, no temp
// file is left beside the outputs, and the next run, with room again,
// writes what a run that never met a full disk writes. It mounts a tmpfs,
// so it needs root; elsewhere it is skipped.
func TestCrashDiskFull(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "zpipe")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("cannot mount a small filesystem to fill: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(disk, 0) })

	project := func(dir string, records int) {
		os.MkdirAll(filepath.Join(dir, "data"), 0o755)
		os.WriteFile(filepath.Join(dir, "user.cue"), []byte("#User: {id: int & >=1, name: string, tier: *\"free\" | \"pro\"}\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(`version: 1
stages:
  users:
    source: {paths: ["data/*.ndjson"]}
    schema: user.cue#User
    outputs:
      - {format: ndjson, path: out/users.ndjson}
      - {format: yaml, path: "out/each/{stem}.yaml"}
    rejects: out/rejects.ndjson
  report:
    source: {paths: [out/users.ndjson]}
    schema: user.cue#User
    outputs: [{format: csv, path: out/users.csv}]
`), 0o644)
		for f := range 4 {
			var b bytes.Buffer
			for i := range records {
				id := f*records + i + 1
				if id%50 == 0 {
					id = 0 // invalid: to the rejects
				}
				fmt.Fprintf(&b, "{\"id\": %d, \"name\": \"user %d of a disk that fills\"}\n", id, i)
			}
			os.WriteFile(filepath.Join(dir, "data", fmt.Sprintf("part%d.ndjson", f)), b.Bytes(), 0o644)
		}
	}
	run := func(dir string) ([]byte, error) {
		cmd := exec.Command(bin, "run", "--progress=none", "p.yaml")
		cmd.Dir = dir
		return cmd.CombinedOutput()
	}
	outputs := func(dir string) map[string][]byte { return tree(t, filepath.Join(dir, "out")) }

	// What the runs before and after the change write, on a roomy disk.
	before, after := filepath.Join(t.TempDir(), "before"), filepath.Join(t.TempDir(), "after")
	project(before, 150)
	project(after, 150)
	run(after)
	project(after, 400)
	for _, dir := range []string{before, after} {
		if out, err := run(dir); err != nil && !isExit(err, 1) {
			t.Fatalf("%s: %v\n%s", dir, err, out)
		}
	}
	want, was := outputs(after), outputs(before)

	avail := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(disk, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	levels, failed := 0, 0
	for slack := int64(0); slack < 1200<<10; slack += 12 << 10 {
		dir := filepath.Join(disk, "p")
		os.RemoveAll(dir)
		project(dir, 150)
		if out, err := run(dir); err != nil && !isExit(err, 1) {
			t.Fatalf("first run: %v\n%s", err, out)
		}
		project(dir, 400)
		filler := filepath.Join(disk, "filler")
		os.WriteFile(filler, make([]byte, max(avail()-slack, 0)), 0o644)
		out, _ := run(dir)
		levels++
		if bytes.Contains(out, []byte("panic")) || bytes.Contains(out, []byte("goroutine ")) {
			t.Fatalf("slack %d: %s", slack, out)
		}
		full := bytes.Contains(out, []byte("no space left on device"))
		now := outputs(dir)
		for name := range want {
			if _, ok := now[name]; !ok {
				t.Errorf("slack %d: %s is gone", slack, name)
			}
			if !full && !bytes.Equal(now[name], want[name]) {
				t.Errorf("slack %d: the run met no full disk, but %s is not the new output:\n%s", slack, name, out)
			}
		}
		for name, got := range now {
			if strings.Contains(name, ".zpipe-tmp") {
				t.Errorf("slack %d: a temp file is left: %s", slack, name)
				continue
			}
			if !bytes.Equal(got, want[name]) && !bytes.Equal(got, was[name]) {
				t.Errorf("slack %d: %s is neither the old output nor the new one:\n%s\n%s", slack, name, got, out)
			}
		}
		if full {
			failed++
		}
		os.Remove(filler)
		if out, err := run(dir); err != nil && !isExit(err, 1) {
			t.Fatalf("slack %d: the run after: %v\n%s", slack, err, out)
		}
		got := outputs(dir)
		for name := range want {
			if !bytes.Equal(got[name], want[name]) {
				t.Errorf("slack %d: after the disk has room again, %s differs from a clean run's", slack, name)
			}
		}
		if len(got) != len(want) {
			t.Errorf("slack %d: %d outputs, a clean run writes %d", slack, len(got), len(want))
		}
	}
	t.Logf("%d fill levels, %d runs failed for want of room, every output whole and healed by the next run", levels, failed)
}
