package schema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A mark names a schema by what each file is to it, not just by the
// files' contents: a trial skipped for another schema could crash this
// process.
func TestTrialMarksTellSchemasApart(t *testing.T) {
	t.Setenv("ZPIPE_CACHE_DIR", t.TempDir())
	src := `{"type": "object"}`
	hellos := []childHello{
		{Spec: Spec{File: "s.cue", Def: "T"}, Sources: map[string]string{"s.cue": src}},
		{Spec: Spec{File: "s.json"}, Sources: map[string]string{"s.json": src}},
		{Spec: Spec{File: "s.json"}, Sources: map[string]string{"s.json": src}, NativeWhole: true},
		{Spec: Spec{File: "s.json"}, Sources: map[string]string{"s.json": src, "a.json": "1", "b.json": "2"}, Refs: map[string]string{"u:a": "a.json", "u:b": "b.json"}},
		{Spec: Spec{File: "s.json"}, Sources: map[string]string{"s.json": src, "a.json": "1", "b.json": "2"}, Refs: map[string]string{"u:a": "b.json", "u:b": "a.json"}},
		{Spec: Spec{File: "s.cue", Def: "T"}, Transform: &Spec{File: "t.cue", Def: "X"}, Sources: map[string]string{"s.cue": src, "t.cue": src}},
		{Spec: Spec{File: "s.cue", Def: "T"}, Transform: &Spec{File: "t.json", Def: "X"}, Sources: map[string]string{"s.cue": src, "t.json": src}},
	}
	seen := map[string]int{}
	for i, h := range hellos {
		m := trialMark(h)
		if m == "" {
			t.Fatal("no mark")
		}
		if j, dup := seen[m]; dup {
			t.Errorf("schemas %d and %d share a mark", j, i)
		}
		seen[m] = i
	}
	// The same schema in another folder is the same schema.
	moved := childHello{Spec: Spec{File: "/elsewhere/s.cue", Def: "T"}, Sources: map[string]string{"/elsewhere/s.cue": src}}
	if trialMark(moved) != trialMark(hellos[0]) {
		t.Error("a moved schema has another mark")
	}
}

// A link where the mark goes is left alone: the trial writes no file
// through it.
func TestTrialMarkFollowsNoLink(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZPIPE_CACHE_DIR", dir)
	src := []byte("#T: {a?: int}\n")
	mark := trialMark(childHello{Spec: Spec{File: "t.cue", Def: "T"}, Sources: map[string]string{"t.cue": string(src)}})
	target := filepath.Join(dir, "target")
	if err := os.MkdirAll(filepath.Dir(mark), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, mark); err != nil {
		t.Skip(err) // a system without links
	}
	s, err := Compile("t.cue", src, "T", Isolated())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the trial wrote through a link: %v", err)
	}
}

// Marks not used for a month are trimmed when a new one is written, at
// most once a day; a mark in use is kept, and so is what is not a mark:
// ZPIPE_CACHE_DIR may name a folder that holds more.
func TestTrialMarksAreTrimmed(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ZPIPE_CACHE_DIR", dir)
	marks := filepath.Join(dir, "schemas")
	if err := os.MkdirAll(marks, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-40 * 24 * time.Hour)
	write := func(name, content string, at time.Time) string {
		p := filepath.Join(marks, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	markName := func(c byte) string { return strings.Repeat(string(c), 64) }
	stale := write(markName('a'), "", old)
	recent := write(markName('b'), "", time.Now().Add(-24*time.Hour))
	notes := write("NOTES.txt", "keep", old)
	schema := write("user.cue", "#User: {id: int}\n", old)
	full := write(markName('c'), "not empty", old)
	// A mark in use, a month old: the trial finds it, so it is kept.
	usedSrc := []byte("#U: {a?: int}\n")
	used := trialMark(childHello{Spec: Spec{File: "u.cue", Def: "U"}, Sources: map[string]string{"u.cue": string(usedSrc)}})
	write(filepath.Base(used), "", old)
	link := filepath.Join(marks, markName('d'))
	if err := os.Symlink(stale, link); err != nil {
		t.Skip(err) // a system without links
	}
	compile := func(name, src, def string) {
		s, err := Compile(name, []byte(src), def, Isolated())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	compile("u.cue", string(usedSrc), "U")
	compile("t.cue", "#T: {a?: int}\n", "T") // a new mark: the trim
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }
	for p, want := range map[string]bool{stale: false, recent: true, used: true, link: true, notes: true, schema: true, full: true} {
		if exists(p) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(p), !want, want)
		}
	}
	// Within a day of that trim, another new mark trims nothing.
	stale = write(markName('a'), "", old)
	compile("v.cue", "#V: {a?: int}\n", "V")
	if !exists(stale) {
		t.Errorf("a second trim within a day removed a stale mark")
	}
}

// The marks' folder is trusted only when it is this user's own folder,
// which no one else may write to: a mark planted there would skip the
// trial of a schema that crashes CUE. Such a folder is neither read nor
// trimmed, nor written to; and the trim does not follow a link to one.
func TestTrialMarksOnlyInATrustedFolder(t *testing.T) {
	src := "#T: {a?: int}\n"
	hello := childHello{Spec: Spec{File: "t.cue", Def: "T"}, Sources: map[string]string{"t.cue": src}}
	old := time.Now().Add(-40 * 24 * time.Hour)
	compile := func() {
		t.Helper()
		s, err := Compile("t.cue", []byte(src), "T", Isolated())
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	t.Run("writable by others", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("ZPIPE_CACHE_DIR", dir)
		mark := trialMark(hello)
		if err := os.MkdirAll(filepath.Dir(mark), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(mark), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mark, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		stale := filepath.Join(filepath.Dir(mark), strings.Repeat("e", 64))
		if err := os.WriteFile(stale, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(stale, old, old)
		before := trials.Load()
		compile()
		if trials.Load() == before {
			t.Error("a mark in a folder others may write to was trusted: no trial ran")
		}
		if _, err := os.Lstat(stale); err != nil {
			t.Error("a folder others may write to was trimmed")
		}
	})
	t.Run("a link", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("ZPIPE_CACHE_DIR", dir)
		target := t.TempDir()
		stale := filepath.Join(target, strings.Repeat("f", 64))
		if err := os.WriteFile(stale, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(stale, old, old)
		if err := os.Symlink(target, filepath.Join(dir, "schemas")); err != nil {
			t.Skip(err)
		}
		before := trials.Load()
		compile()
		compile()
		if trials.Load()-before != 2 {
			t.Errorf("%d trials for two compiles through a linked folder, want 2: a mark was written or trusted there", trials.Load()-before)
		}
		if _, err := os.Lstat(stale); err != nil {
			t.Error("the trim followed a link")
		}
	})
}
