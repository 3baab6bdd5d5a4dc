package engine

import (
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestItemStoreKeepsEveryField packs entries of every shape and unpacks
// them unchanged: a field the store dropped would be a journal that
// forgets, after compaction, what it recorded.
func TestItemStoreKeepsEveryField(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	at := time.Date(2026, 12, 2, 5, 10, 55, 650447117, time.UTC)
	cases := []*entry{
		{Key: "data/a.json", Status: "done", Run: "r1", FP: &fingerprint{Input: sum, Schema: "s", Transform: "t", Settings: "x", Version: "v1"},
			Stat:    &fileStat{Size: 125, Mtime: 1796183213472435161, Ctime: -5, Ino: 1<<64 - 1, Dev: 65024},
			Parts:   []partRef{{Output: 0, File: "7899f8b3ca5d58840b963433d797e1ef.pack", Offset: 112, SHA256: sum, Size: 112, Records: 1}, {Output: 2, File: strings.Repeat("c", 32) + "-2.part", SHA256: "NOT-HEX", Size: 1 << 40, Records: 1 << 33}},
			Records: 3, OK: 2, Failed: 1, Attempts: 4, Duration: 361489, Time: at},
		{Key: "data/b.json", Status: "failed", Run: "r2", Error: "parse: bad\nline 2", FP: &fingerprint{Input: strings.ToUpper(sum)}, Time: at.In(time.FixedZone("", 3600))},
		{Key: "data/c.json", Status: "done", Rejects: &partRef{Output: -1, File: "x.pack", SHA256: "", Records: 2}},
		{Key: "", Status: "removed", Run: "r3"},
		{Key: "a\x00b@4096-8192", Status: "something new", Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
	}
	s := newItemStore("m.yaml#users")
	for _, e := range cases {
		s.put(e)
	}
	if s.len() != len(cases) {
		t.Fatalf("len = %d, want %d", s.len(), len(cases))
	}
	for _, want := range cases {
		want.Type, want.Stage = "item", "m.yaml#users"
		got := s.get(want.Key)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("get(%q) =\n %+v\nwant\n %+v", want.Key, got, want)
		}
		if !got.Time.Equal(want.Time) {
			t.Errorf("time of %q = %v, want %v", want.Key, got.Time, want.Time)
		}
	}
	if s.get("data/none") != nil {
		t.Error("get of a key never put is not nil")
	}
}

// TestItemStoreLatestWins puts many versions of many keys, some of whose
// hashes collide, and checks that each key gives its last version, that
// iteration yields each key once, and that replaced records are
// reclaimed.
func TestItemStoreLatestWins(t *testing.T) {
	s := newItemStore("st")
	const keys, versions = 300, 5
	for v := range versions {
		for k := range keys {
			s.put(&entry{Key: fmt.Sprintf("k%03d", k), Status: "done", Records: v, Error: strings.Repeat("e", 1000)})
		}
	}
	var got []string
	for e := range s.all() {
		if e.Records != versions-1 {
			t.Errorf("%s: records = %d, want the last version's %d", e.Key, e.Records, versions-1)
		}
		got = append(got, e.Key)
	}
	if len(got) != keys || len(slices.Compact(slices.Sorted(slices.Values(got)))) != keys {
		t.Fatalf("all yielded %d keys, %d distinct; want %d", len(got), len(slices.Compact(slices.Sorted(slices.Values(got)))), keys)
	}
	if s.waste != (versions-1)*keys*s.recordLen(s.pos("k000")) {
		t.Errorf("waste = %d after %d replacements", s.waste, (versions-1)*keys)
	}
	s.repack()
	if rec := s.recordLen(s.pos("k000")); s.waste != 0 || s.size != keys*rec {
		t.Errorf("after repack: waste %d, size %d, want %d records of %d bytes", s.waste, s.size, keys, rec)
	}
	for k := range keys {
		if e := s.get(fmt.Sprintf("k%03d", k)); e == nil || e.Records != versions-1 {
			t.Fatalf("after repack, k%03d = %+v", k, e)
		}
	}
}

// TestItemStoreHashClash forces two keys onto one hash, as a 64-bit hash
// of a billion keys may: each must still find its own entry.
func TestItemStoreHashClash(t *testing.T) {
	s := newItemStore("st")
	s.put(&entry{Key: "a", Status: "done", Records: 1})
	// Stand in for a clash: point b's hash at a's record, as put would
	// find it, then put b and a again.
	hb := maphash.String(s.seed, "b")
	s.at.set(hb, s.pos("a"))
	s.put(&entry{Key: "b", Status: "done", Records: 2})
	s.put(&entry{Key: "b", Status: "done", Records: 3})
	if e := s.get("b"); e == nil || e.Records != 3 {
		t.Fatalf("b = %+v, want records 3 from the clash map", e)
	}
	if e := s.get("a"); e == nil || e.Records != 1 {
		t.Fatalf("a = %+v", e)
	}
	if len(s.clash) != 1 {
		t.Fatalf("clash holds %d keys, want 1", len(s.clash))
	}
}

// TestItemStoreSpills fills a store that keeps one small block in memory
// and spills the rest, with replaced versions, and checks that it answers every question as a store held in memory does,
// before and after a repack; and that its file is no file in the folder.
func TestItemStoreSpills(t *testing.T) {
	defer func(b, r int) { storeBlock, storeResident = b, r }(storeBlock, storeResident)
	storeBlock, storeResident = 700, 700
	dir := t.TempDir()
	spilled, held := newItemStore("st"), newItemStore("st")
	spilled.spill = newSpillFile(dir)
	sum := strings.Repeat("ab", 32)
	put := func(e entry) {
		a, b := e, e
		spilled.put(&a)
		held.put(&b)
	}
	for v := range 4 {
		for k := range 500 {
			if v > 0 && k%(v+1) != 0 {
				continue // some keys have one version, some several
			}
			e := entry{Key: fmt.Sprintf("data/%04d.json", k), Status: "done", Run: fmt.Sprint("r", v), Records: v,
				FP: &fingerprint{Input: sum, Schema: "s"}, Parts: []partRef{{File: "p.pack", Offset: int64(k * 10), SHA256: sum, Size: 10, Records: 1}}}
			if k%7 == 0 {
				e.Status, e.Error = "failed", strings.Repeat("x", k) // records of many lengths, some past a block
			}
			put(e)
		}
	}
	if spilled.resident == 0 {
		t.Fatal("nothing was spilled")
	}
	same := func(when string) {
		t.Helper()
		if spilled.len() != held.len() || spilled.live() != held.live() {
			t.Fatalf("%s: len %d live %d, want %d and %d", when, spilled.len(), spilled.live(), held.len(), held.live())
		}
		for k := range held.keys() {
			if got, want := spilled.get(k), held.get(k); !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: get(%q) = %+v, want %+v", when, k, got, want)
			}
			h1, h2 := newStringHash(), newStringHash()
			spilled.hashSaved(h1, k)
			held.hashSaved(h2, k)
			if h1.sum() != h2.sum() {
				t.Fatalf("%s: hashSaved(%q) differs", when, k)
			}
		}
		got, want := slices.Collect(spilled.savedParts()), slices.Collect(held.savedParts())
		byOffset := func(a, b partRef) int { return int(a.Offset - b.Offset) }
		slices.SortFunc(got, byOffset)
		slices.SortFunc(want, byOffset)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: savedParts differ: %d against %d", when, len(got), len(want))
		}
	}
	same("spilled")
	spilled.repack()
	held.repack()
	same("repacked")
	if ents, _ := os.ReadDir(dir); runtime.GOOS != "windows" && len(ents) != 0 {
		t.Errorf("the spill file is in the folder: %v", ents)
	}
}

// What a spill file leaves where it cannot be unlinked while open (NFS
// renames it .nfsXXXX; Windows keeps it) is in a folder named as a run's
// temp folder: no foreign file in the state folder, and the next run
// removes it.
func TestSpillLeavesOnlyARunTempFolder(t *testing.T) {
	dir := t.TempDir()
	f := newSpillFile(dir)
	if _, err := f.write([]byte("\x03abc")); err != nil {
		t.Fatal(err)
	}
	if got := f.record(0, 4, nil); string(got) != "\x03abc" {
		t.Fatalf("record = %q", got)
	}
	if f.folder != "" {
		if !runTemp(f.folder) {
			t.Errorf("the spill folder %s is no run's temp folder", f.folder)
		}
		if err := checkStateDir(dir); err != nil {
			t.Error(err)
		}
	}
	f.close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left after close: %v", ents)
	}
	// As NFS leaves an open file unlinked by a run that was killed.
	left, err := os.MkdirTemp(dir, runTempPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(left, ".nfs0000000000a1b2c3"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkStateDir(dir); err != nil || !runTemp(left) {
		t.Errorf("a killed run's spill folder: %v, run temp %v", err, runTemp(left))
	}
}

// pos is where key's latest record is.
func (s *itemStore) pos(key string) uint64 {
	pos, _ := s.find(key)
	return pos
}

// TestSpillFailureIsToldOnce: a store whose spill file cannot be made
// keeps its records in memory, answers as before, and the run warns of
// it once, naming the stage and the error.
func TestSpillFailureIsToldOnce(t *testing.T) {
	defer func(b, r int) { storeBlock, storeResident = b, r }(storeBlock, storeResident)
	storeBlock, storeResident = 700, 700
	missing := filepath.Join(t.TempDir(), "gone")
	s := newItemStore("st")
	s.spill = newSpillFile(missing)
	for k := range 200 {
		s.put(&entry{Key: fmt.Sprintf("k%03d", k), Status: "done", Error: strings.Repeat("e", 50)})
	}
	if !s.unspilled || s.resident != 0 || s.len() != 200 || s.get("k000") == nil {
		t.Fatalf("unspilled %v, resident %d, len %d", s.unspilled, s.resident, s.len())
	}
	var got []string
	r := &runner{opts: Options{OnEvent: func(e Event) { got = append(got, e.Msg) }}, state: &state{spill: s.spill}}
	r.warnSpill("users")
	r.warnSpill("users")
	r.warnSpill("")
	want := "stage users: the state folder cannot take the journal's entries, which stay in memory: "
	if len(got) != 1 || !strings.HasPrefix(got[0], want) || !strings.Contains(got[0], missing) {
		t.Fatalf("warnings %q, want one starting %q", got, want)
	}
	// Met when no stage runs, as when a removed stage's items are dropped.
	got = nil
	s.spill.failed, s.spill.told = errors.New("disk full"), false
	r.warnSpill("")
	if len(got) != 1 || got[0] != "the state folder cannot take the journal's entries, which stay in memory: disk full" {
		t.Fatalf("warnings %q", got)
	}
}
