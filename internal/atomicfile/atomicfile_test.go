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
	if err := g.Commit(); err != nil {
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
