package engine

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zpipe/zpipe/internal/journal"
)

// journalAsJSON reads a journal's entries, each as JSON: a binary item
// as its entry with "binary":true after its type.
func journalAsJSON(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	err := readEntries(path, func(rec []byte, item *entry) error {
		if item == nil {
			out = append(out, string(rec))
			return nil
		}
		b, err := json.Marshal(item)
		out = append(out, `{"type":"item","binary":true,`+strings.TrimPrefix(string(b), `{"type":"item",`))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rewriteJournal keeps the records keep says to, and returns how many it
// dropped.
func rewriteJournal(t *testing.T, path string, keep func(rec []byte) bool) int {
	t.Helper()
	b := []byte(journal.Magic)
	dropped := 0
	err := journal.Read(path, func(rec []byte) error {
		if keep(rec) {
			b = journal.AppendFrame(b, rec)
		} else {
			dropped++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dropped
}

// appendRecords appends records to a journal, as a run would.
func appendRecords(t *testing.T, path string, recs ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b []byte
	for _, r := range recs {
		b = journal.AppendFrame(b, []byte(r))
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// Every field of an item entry comes back from the journal as it was
// written, as a binary record, and again after compaction; an entry the
// binary record cannot hold is written as JSON.
func TestJournalRecordsKeepEveryField(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	at := time.Date(2026, 12, 2, 5, 10, 55, 650447117, time.UTC)
	const stage = "m.yaml#users"
	cases := []*entry{
		{Key: "data/a.json", Status: "done", FP: &fingerprint{Input: sum, Schema: "s", Transform: "t", Settings: "x", Version: "v1"},
			Stat:    &fileStat{Size: 125, Mtime: 1796183213472435161, Ctime: -5, Ino: 1<<64 - 1, Dev: 65024},
			Parts:   []partRef{{Output: 0, File: "7899f8b3ca5d58840b963433d797e1ef.pack", Offset: 112, SHA256: sum, Size: 112, Records: 1}, {Output: 2, File: strings.Repeat("c", 32) + "-2.part", SHA256: "NOT-HEX", Size: 1 << 40, Records: 1 << 33}},
			Records: 3, OK: 2, Failed: 1, Attempts: 4, Duration: 361489, Time: at},
		{Key: "data/b.json", Status: "failed", Error: "parse: bad\nline 2", FP: &fingerprint{Input: strings.ToUpper(sum), Schema: "s2"}, Time: at.In(time.FixedZone("", 3600))},
		{Key: "data/c.json", Status: "done", Rejects: &partRef{Output: -1, File: "x.pack", SHA256: "", Records: 2}, Time: at},
		{Key: "", Status: "removed", Time: at},
		{Key: "a\x00b@4096-8192", Status: "something new", Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
		{Key: "odd", Status: "done", Inputs: "not an item's field", Time: at},
	}
	dir := t.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range cases {
		e.Type, e.Stage = "item", stage
		if err := st.append(e); err != nil {
			t.Fatal(err)
		}
		e.Run = st.runID
	}
	cases[len(cases)-1].Inputs = "" // written, as JSON; the item store keeps no such field
	check := func(when string) {
		t.Helper()
		got, err := readState(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range cases {
			e := got.item(stage, want.Key)
			if when == "compacted" && want.Status == "removed" {
				want = nil // compaction drops it
			}
			if !reflect.DeepEqual(e, want) {
				t.Errorf("%s: %q =\n %+v\nwant\n %+v", when, want.Key, e, want)
			}
		}
	}
	check("appended")
	asJSON := 0
	for _, line := range journalAsJSON(t, filepath.Join(dir, journalName)) {
		if strings.HasPrefix(line, `{"type":"item","run"`) {
			asJSON++
		}
	}
	if asJSON != 1 {
		t.Errorf("%d items written as JSON, want 1", asJSON)
	}
	if err := st.close("finished"); err != nil {
		t.Fatal(err)
	}
	st, err = openState(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.compact(true); err != nil {
		t.Fatal(err)
	}
	st.close("failed")
	check("compacted")
}

// FuzzJournalRecord feeds the journal's reader any record: it may refuse
// one, never panic, and a record it takes is an entry it can write again.
func FuzzJournalRecord(f *testing.F) {
	dir := f.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		f.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	st.append(&entry{Type: "item", Stage: "p.yaml#s", Key: "data/a.json", Status: "done", FP: &fingerprint{Input: sum, Schema: "s"},
		Stat: &fileStat{Size: 5, Mtime: 9, Ctime: 9, Ino: 3, Dev: 1}, Parts: []partRef{{File: "7899f8b3ca5d58840b963433d797e1ef.pack", Offset: 5, SHA256: sum, Size: 5, Records: 1}},
		Rejects: &partRef{Output: -1, File: "r.pack", Records: 1}, Records: 1, OK: 1, Attempts: 1, Duration: 7})
	st.close("finished")
	var seeds [][]byte
	journal.Read(filepath.Join(dir, journalName), func(rec []byte) error {
		seeds = append(seeds, append([]byte(nil), rec...))
		return nil
	})
	for _, s := range seeds {
		f.Add(s)
	}
	// Records found before, each a file of its own.
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "fuzz", "FuzzJournalRecord", "*"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	fresh := func() *state {
		st := &state{items: map[string]*itemStore{}, stages: map[string]*entry{}, pending: map[string]*entry{}, bases: map[string]*fingerprint{}, file: newJournalFile()}
		for _, s := range seeds[:len(seeds)-1] {
			if err := st.load(s); err != nil {
				f.Fatalf("seed: %v", err)
			}
		}
		return st
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		st := fresh()
		err := st.load(rec)
		if len(rec) > 0 && rec[0] == tagItem {
			// loadItem packs what readItem and put would.
			slow := fresh()
			var e entry
			serr := slow.file.readItem(rec, &e)
			if (err == nil) != (serr == nil) {
				t.Fatalf("loadItem: %v; readItem: %v", err, serr)
			}
			if serr == nil {
				if fp := e.FP; fp != nil {
					if b := slow.bases[fp.Base]; b != nil && fp.Base != "" {
						fp.Schema, fp.Transform, fp.Settings, fp.Version = b.Schema, b.Transform, b.Settings, b.Version
					}
					fp.Base = ""
				}
				slow.index(&e)
				if got, want := st.item(e.Stage, e.Key), slow.item(e.Stage, e.Key); !reflect.DeepEqual(got, want) {
					t.Fatalf("loadItem gives\n%+v\nreadItem and put\n%+v", got, want)
				}
			}
		}
		if err != nil {
			return
		}
		for e := range st.allItems() {
			if _, err := newJournalFile().records(e, nil); err != nil {
				t.Fatalf("%+v cannot be written again: %v", e, err)
			}
		}
	})
}

// A crash after the upgrade's rename leaves both journals: the one of
// records is the newer. A corrupt journal of lines is corrupt after the
// upgrade too, and --force starts afresh.
func TestJournalUpgrade(t *testing.T) {
	dir := t.TempDir()
	st, err := openState(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	st.append(&entry{Type: "item", Stage: "p.yaml#s", Key: "new", Status: "done"})
	st.close("finished")
	lines := filepath.Join(dir, journalOfLines)
	os.WriteFile(lines, []byte(`{"type":"item","run":"x","stage":"p.yaml#s","key":"old","status":"done","time":"2026-01-01T00:00:00Z"}`+"\n"), 0o644)
	st, err = openState(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.item("p.yaml#s", "new") == nil || st.item("p.yaml#s", "old") != nil {
		t.Errorf("the journal of lines was read over the journal of records")
	}
	st.close("failed")
	if _, err := os.Stat(lines); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the journal of lines is kept: %v", err)
	}

	os.Remove(filepath.Join(dir, journalName))
	os.WriteFile(lines, []byte("garbage\n"+`{"type":"run","run":"x","time":"2026-01-01T00:00:00Z"}`+"\n"), 0o644)
	_, err = openState(dir, false)
	if want := "journal.ndjson is corrupt at line 1 (invalid character 'g' looking for beginning of value)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("corrupt journal of lines: %v, want %q", err, want)
	}
	// It is left as it was, for its owner to mend.
	if _, err := os.Stat(lines); err != nil {
		t.Errorf("the corrupt journal of lines is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, journalName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a journal of records is left from the corrupt one: %v", err)
	}
	st, err = openState(dir, true)
	if err != nil {
		t.Fatalf("with force: %v", err)
	}
	st.close("failed")
}

// isPartName takes exactly what the regexp it replaced took.
func TestIsPartName(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{32}(-([0-9]+|rejects)\.part|\.pack)$`)
	h := strings.Repeat("0a", 16)
	for _, name := range []string{
		h + ".pack", h + "-0.part", h + "-12.part", h + "-rejects.part", h + "-rejects", h + "-.part", h + "-1x.part",
		h + ".pack/../x", h + ".part", h + "-1.pack", strings.ToUpper(h) + ".pack", h[:31] + ".pack", h + "0.pack", "../../secret.txt",
		"", h, h + "-rejects.part.part", h + "--1.part", h + "-+1.part", h + "-1.part\n",
	} {
		if got, want := isPartName(name), re.MatchString(name); got != want {
			t.Errorf("isPartName(%q) = %v, the regexp says %v", name, got, want)
		}
	}
}
