package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "out.txt")
	if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Run("a replaced file keeps its mode", func(t *testing.T) {
		os.Chmod(p, 0o600)
		if err := Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode is %v, want 0600", fi.Mode().Perm())
		}
	})
	t.Run("a failed fill leaves the old file and no temp file", func(t *testing.T) {
		err := Write(p, func(w io.Writer) error {
			io.WriteString(w, "half")
			return errors.New("boom")
		})
		if err == nil || err.Error() != "boom" {
			t.Fatalf("err = %v", err)
		}
		if b, _ := os.ReadFile(p); string(b) != "new" {
			t.Errorf("target is %q", b)
		}
		if got := listDir(t, filepath.Dir(p)); len(got) != 1 {
			t.Errorf("folder holds %v", got)
		}
	})
}

func TestGroup(t *testing.T) {
	dir := t.TempDir()
	var g Group
	for _, name := range []string{"a", "b", "c", "d", "e", "f"} {
		name := name
		if err := g.Write(filepath.Join(dir, name), func(w io.Writer) error { _, err := io.WriteString(w, name); return err }); err != nil {
			t.Fatal(err)
		}
	}
	if got := listDir(t, dir); len(got) != 6 || !strings.HasPrefix(got[0], TempPrefix) {
		t.Fatalf("before Commit the folder holds %v, want only temp files", got)
	}
	if err := g.Commit(nil); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(listDir(t, dir), ","); got != "a,b,c,d,e,f" {
		t.Errorf("after Commit: %s", got)
	}
	t.Run("Abort removes what was not committed", func(t *testing.T) {
		var g Group
		g.Write(filepath.Join(dir, "x"), func(w io.Writer) error { return nil })
		g.Abort()
		if got := strings.Join(listDir(t, dir), ","); got != "a,b,c,d,e,f" {
			t.Errorf("after Abort: %s", got)
		}
	})
}

func TestGroupCommitsAllOrNothing(t *testing.T) {
	write := func(g *Group, path, body string) {
		t.Helper()
		if err := g.Write(path, func(w io.Writer) error { _, err := io.WriteString(w, body); return err }); err != nil {
			t.Fatal(err)
		}
	}
	setup := func(t *testing.T) (string, *Group) {
		dir := t.TempDir()
		for _, n := range []string{"a", "b", "c"} {
			os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o644)
		}
		g := &Group{}
		for _, n := range []string{"a", "b", "c"} {
			write(g, filepath.Join(dir, n), "new")
		}
		return dir, g
	}
	contents := func(dir string) string {
		var out []string
		for _, n := range []string{"a", "b", "c"} {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				b = []byte("?")
			}
			out = append(out, string(b))
		}
		return strings.Join(out, ",")
	}
	t.Run("a target that became a folder fails the commit before any rename", func(t *testing.T) {
		dir, g := setup(t)
		os.Remove(filepath.Join(dir, "b"))
		os.Mkdir(filepath.Join(dir, "b"), 0o755)
		called := false
		err := g.Commit(func([][2]string) error { called = true; return nil })
		if err == nil || !strings.HasSuffix(err.Error(), "b is a directory") {
			t.Fatalf("err = %v", err)
		}
		if called || contents(dir) != "old,?,old" {
			t.Errorf("intent called %v, files %s", called, contents(dir))
		}
		if got := listDir(t, dir); len(got) != 3 {
			t.Errorf("temp files left: %v", got)
		}
	})
	t.Run("an intent that fails stops the commit", func(t *testing.T) {
		dir, g := setup(t)
		if err := g.Commit(func([][2]string) error { return errors.New("disk full") }); err == nil || err.Error() != "disk full" {
			t.Fatalf("err = %v", err)
		}
		if contents(dir) != "old,old,old" {
			t.Errorf("files %s", contents(dir))
		}
	})
	t.Run("a crash between two renames is rolled forward", func(t *testing.T) {
		// Stop after the first rename, as a kill would.
		dir, g := setup(t)
		renames := g.temps
		if err := os.Rename(renames[0][0], renames[0][1]); err != nil {
			t.Fatal(err)
		}
		if contents(dir) != "new,old,old" {
			t.Fatalf("after one rename: %s", contents(dir))
		}
		if err := RollForward(renames); err != nil {
			t.Fatal(err)
		}
		if contents(dir) != "new,new,new" {
			t.Errorf("after rolling forward: %s", contents(dir))
		}
		if err := RollForward(renames); err != nil {
			t.Errorf("a second roll forward: %v", err)
		}
	})
}

func TestOrphan(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{TempPrefix + "999999999-out.json-1", true},             // no such process
		{TempPrefix + itoa(os.Getpid()) + "-out.json-1", false}, // ours
		{TempPrefix + "1-out.json-1", false},                    // init is alive
		{TempPrefix + "out.json-1", true},                       // no pid at all
	}
	for _, tt := range tests {
		if got := Orphan(tt.name); got != tt.want {
			t.Errorf("Orphan(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
