package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type rec struct {
	N int `json:"n"`
}

func decodeInto(got *[]int) func([]byte) error {
	return func(b []byte) error {
		var r rec
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		*got = append(*got, r.N)
		return nil
	}
}

func readAll(t *testing.T, path string) ([]int, error) {
	t.Helper()
	var got []int
	j, err := Open(path, decodeInto(&got))
	if err != nil {
		return nil, err
	}
	return got, j.Close()
}

// frames is a journal holding the records recs.
func frames(recs ...string) string {
	b := []byte(Magic)
	for _, r := range recs {
		b = AppendFrame(b, []byte(r))
	}
	return string(b)
}

func TestJournal(t *testing.T) {
	good := frames(`{"n":1}`, `{"n":2}`)
	flipped := []byte(frames(`{"n":1}`, `{"n":2}`, `{"n":3}`))
	flipped[len(Magic)+3] ^= 1 // a byte of the first record
	// The second record's length damaged to run past the end, as a bad
	// sector may: good records follow, so it is no torn end.
	long := []byte(frames(`{"n":1}`, `{"n":2}`, `{"n":3}`, `{"n":4}`))
	at := len(Magic) + len(AppendFrame(nil, []byte(`{"n":1}`)))
	long = slices.Concat(long[:at], []byte{0xff, 0x7f}, long[at+1:])
	huge := slices.Concat(long[:at], []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, long[at+1:])
	tests := []struct {
		name    string
		file    string // what is on disk before Open
		want    []int
		corrupt string
	}{
		{"a missing file is an empty journal", "", nil, ""},
		{"a file whose magic was torn is an empty journal", Magic[:5], nil, ""},
		{"complete records are replayed in order", good, []int{1, 2}, ""},
		{"a torn last record is ignored", good[:len(good)-3], []int{1}, ""},
		{"a torn length is ignored", good + "\x80", []int{1, 2}, ""},
		{"zeros a power loss left are ignored", good + strings.Repeat("\x00", 4096), []int{1, 2}, ""},
		{"a last record with a bad checksum is ignored", good[:len(good)-1] + "\x00", []int{1}, ""},
		{"a bad checksum with more after it is corruption", string(flipped), nil, "corrupt at record 1 (its checksum does not match)"},
		{"a record that does not decode, with more after it, is corruption", frames(`{"n":1}`, `xx`, `{"n":3}`), nil, "corrupt at record 2 (invalid character"},
		{"a record that does not decode at the end is ignored", frames(`{"n":1}`, `xx`), []int{1}, ""},
		{"a length past the end with good records after it is corruption", string(long), nil, "corrupt at record 2 (a record of 16383 bytes, more than the file holds)"},
		{"a length no record has is corruption", string(huge), nil, "corrupt at record 2 (a record of 34359738367 bytes)"},
		{"a new journal a power loss left as zeros is empty", strings.Repeat("\x00", 4096), nil, ""},
		{"a torn magic and zeros is empty", Magic[:7] + strings.Repeat("\x00", 100), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal")
			if tt.file != "" {
				os.WriteFile(path, []byte(tt.file), 0o644)
			}
			got, err := readAll(t, path)
			if tt.corrupt != "" {
				var ce *CorruptError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.corrupt) {
					t.Fatalf("err = %v, want corruption %q", err, tt.corrupt)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			// Appending after a torn end follows the last good record.
			j, err := Open(path, func([]byte) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Append([]byte(`{"n":9}`)); err != nil {
				t.Fatal(err)
			}
			j.Close()
			again, err := readAll(t, path)
			if want := append(slices.Clone(tt.want), 9); err != nil || !slices.Equal(again, want) {
				t.Fatalf("after append: %v, %v; want %v", again, err, want)
			}
		})
	}
}

// A journal of JSON lines, as zpipe wrote before, is read by Read and
// refused by Open; Convert turns it into records, leaving a torn last
// line out, and leaves it where it was.
func TestLines(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    []int
		corrupt string
	}{
		{"complete lines are read in order", "{\"n\":1}\n{\"n\":2}\n", []int{1, 2}, ""},
		{"a torn last line is ignored", "{\"n\":1}\n{\"n\":", []int{1}, ""},
		{"a garbled last line is ignored", "{\"n\":1}\n\x00\x00\x00\n", []int{1}, ""},
		{"a bad line with more after it is corruption", "{\"n\":1}\nxx\n{\"n\":3}\n", nil, "corrupt at line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			old, path := filepath.Join(dir, "journal.ndjson"), filepath.Join(dir, "journal")
			os.WriteFile(old, []byte(tt.file), 0o644)
			var got []int
			err := ReadLines(old, decodeInto(&got))
			if tt.corrupt != "" {
				if err == nil || !strings.Contains(err.Error(), tt.corrupt) {
					t.Fatalf("err = %v, want corruption %q", err, tt.corrupt)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Read: %v, %v; want %v", got, err, tt.want)
			}
			var ce *CorruptError
			if _, err := Open(old, func([]byte) error { return nil }); !errors.As(err, &ce) || !strings.Contains(err.Error(), "corrupt at record 1 (the file does not start as a journal of records)") {
				t.Fatalf("Open of lines: %v", err)
			}
			if err := Convert(old, path); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(old); err != nil {
				t.Errorf("the journal of lines is gone: %v", err)
			}
			if again, err := readAll(t, path); err != nil || !slices.Equal(again, tt.want) {
				t.Fatalf("converted: %v, %v; want %v", again, err, tt.want)
			}
		})
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "state")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "state")
	want := "state folder state is in use by another zpipe (pid " + itoa(os.Getpid()) + "); wait for it to finish, or use another --state-dir"
	if err == nil || err.Error() != want {
		t.Fatalf("second Acquire: %v\nwant %s", err, want)
	}
	l.Release()
	l2, err := Acquire(dir, "state")
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	l2.Release()
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// BenchmarkAppend measures the journal's cost per item: one entry of the
// size zpipe writes, appended and written (syncs happen in the background
// at most SyncEvery apart).
func BenchmarkAppend(b *testing.B) {
	entry := json.RawMessage(`{"type":"item","run":"20261129T140000Z-abcdef","stage":"/work/p/pipeline.yaml#users","key":"data/users/u01234.json","status":"done","fp":{"input":"3b8d5d8e1c8f5b2c6c1e0f5b2c6c1e0f5b2c6c1e0f5b2c6c1e0f5b2c6c1e0f5b","schema":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","settings":"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752","version":"v0.1.0"},"stat":{"size":312,"mtime_ns":1764424800000000000,"ino":1234567},"parts":[{"output":0,"file":"0f1e2d3c4b5a69788796a5b4c3d2e1f0-0.part","sha256":"2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae","records":1}],"records":1,"ok":1,"attempts":1,"duration_ns":183000,"time":"2026-11-29T14:00:00.123456Z"}`)
	j, err := Open(filepath.Join(b.TempDir(), "journal"), func([]byte) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := j.Append(entry); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(AppendFrame(nil, entry))), "bytes/entry")
}

// Lines are read in place; one longer than the read buffer (a commit of
// many outputs) comes whole, and a torn one at the end is dropped.
func TestLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.ndjson")
	long := `{"n":2,"pad":"` + strings.Repeat("x", 700<<10) + `"}`
	os.WriteFile(path, []byte(`{"n":1}`+"\n"+long+"\n"+`{"n":3}`+"\n"+long[:500<<10]), 0o644)
	var lens []int
	err := ReadLines(path, func(line []byte) error {
		lens = append(lens, len(line))
		var r rec
		return json.Unmarshal(line, &r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{7, len(long), 7}; !slices.Equal(lens, want) {
		t.Errorf("lines of %v bytes, want %v", lens, want)
	}
}

// A record longer than the read buffer comes whole.
func TestLongRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	long := `{"n":2,"pad":"` + strings.Repeat("x", 700<<10) + `"}`
	os.WriteFile(path, []byte(frames(`{"n":1}`, long, `{"n":3}`)), 0o644)
	got, err := readAll(t, path)
	if err != nil || !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("got %v, %v", got, err)
	}
}

// Convert keeps every line of a journal many times its read buffer, in
// order: lines are read in place, and reading on must not move them
// before they are written.
func TestConvertLargeJournal(t *testing.T) {
	dir := t.TempDir()
	old, path := filepath.Join(dir, "journal.ndjson"), filepath.Join(dir, "journal")
	var b strings.Builder
	const n = 20000
	for i := range n {
		// 64 bytes a line, so that a line ends where a read of the
		// buffer does: the next read then fills the buffer from 0.
		line := fmt.Sprintf("{\"n\":%d,\"pad\":\"", i)
		fmt.Fprintf(&b, "%s%s\"}\n", line, strings.Repeat("x", 64-len(line)-3))
	}
	os.WriteFile(old, []byte(b.String()), 0o644)
	if err := Convert(old, path); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, path)
	if err != nil || len(got) != n {
		t.Fatalf("%d records, %v; want %d", len(got), err, n)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("record %d is %d", i, v)
		}
	}
}

// Read takes the file as it was when it began: records a run appends
// meanwhile, past that length, are neither read nor taken for damage.
func TestReadWhileAppended(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	// More than the read buffer, so that the reader reads the file
	// again after the appends.
	var recs []string
	var want []int
	for i := range 400 {
		recs = append(recs, fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("x", 1000)))
		want = append(want, i)
	}
	os.WriteFile(path, []byte(frames(recs...)), 0o644)
	var got []int
	decode := decodeInto(&got)
	err := Read(path, func(rec []byte) error {
		if len(got) == 0 {
			// A writer appends while the first record is read.
			f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			f.Write(AppendFrame(nil, []byte(`{"n":1000}`)))
			f.Write([]byte{0x7f, '{'}) // and starts another
			f.Close()
		}
		return decode(rec)
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %d records, %v; want %d", len(got), err, len(want))
	}
}

// A journal read without its lock opens for appending only as it was
// read: anything Open would repair, or a change since, sends the caller
// to Open.
func TestSnapshot(t *testing.T) {
	good := frames(`{"n":1}`, `{"n":2}`)
	tests := []struct {
		name   string
		file   string
		change func(path string) // between the read and the open
		ok     bool
	}{
		{"a sound journal opens as read", good, nil, true},
		{"a torn end is Open's to repair", good[:len(good)-3], nil, false},
		{"a journal with no record is Open's", Magic, nil, false},
		{"a record appended since", good, func(p string) {
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.Write(AppendFrame(nil, []byte(`{"n":3}`)))
			f.Close()
		}, false},
		{"a journal rewritten by rename since", good, func(p string) {
			os.WriteFile(p+".new", []byte(good), 0o644)
			os.Rename(p+".new", p)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
				t.Fatal(err)
			}
			var got []int
			snap, ok, err := ReadSnapshot(path, decodeInto(&got))
			if err != nil {
				t.Fatal(err)
			}
			if ok && tc.change != nil {
				tc.change(path)
			}
			var j *Journal
			if ok {
				if j, ok, err = snap.Open(); err != nil {
					t.Fatal(err)
				}
			}
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				if after, _ := os.ReadFile(path); tc.change == nil && string(after) != tc.file {
					t.Error("the read changed the journal")
				}
				return
			}
			if !slices.Equal(got, []int{1, 2}) {
				t.Errorf("read %v, want [1 2]", got)
			}
			if err := j.Append([]byte(`{"n":3}`)); err != nil {
				t.Fatal(err)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			if all, err := readAll(t, path); err != nil || !slices.Equal(all, []int{1, 2, 3}) {
				t.Errorf("after an append: %v, %v; want [1 2 3]", all, err)
			}
		})
	}
}
