package journal

import (
	"encoding/json"
	"errors"
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

func readAll(t *testing.T, path string) ([]int, error) {
	t.Helper()
	var got []int
	j, err := Open(path, func(line []byte) error {
		var r rec
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		got = append(got, r.N)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return got, j.Close()
}

func TestJournal(t *testing.T) {
	tests := []struct {
		name    string
		file    string // what is on disk before Open
		want    []int
		corrupt string
	}{
		{"a missing file is an empty journal", "", nil, ""},
		{"complete lines are replayed in order", "{\"n\":1}\n{\"n\":2}\n", []int{1, 2}, ""},
		{"a torn last line is ignored", "{\"n\":1}\n{\"n\":", []int{1}, ""},
		{"a garbled last line is ignored", "{\"n\":1}\n\x00\x00\x00\n", []int{1}, ""},
		{"a bad line with more after it is corruption", "{\"n\":1}\nxx\n{\"n\":3}\n", nil, "corrupt at line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.ndjson")
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
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			// Appending after a torn line starts a fresh line.
			j, err := Open(path, func([]byte) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Append(rec{9}); err != nil {
				t.Fatal(err)
			}
			j.Close()
			again, err := readAll(t, path)
			if err != nil || len(again) != len(tt.want)+1 || again[len(again)-1] != 9 {
				t.Fatalf("after append: %v, %v", again, err)
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
	j, err := Open(filepath.Join(b.TempDir(), "journal.ndjson"), func([]byte) error { return nil })
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
	b.ReportMetric(float64(len(entry)+1), "bytes/entry")
}

// Lines are read in place; one longer than the read buffer (a commit of
// many outputs) comes whole, and a torn one at the end is dropped.
func TestLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.ndjson")
	long := `{"n":2,"pad":"` + strings.Repeat("x", 700<<10) + `"}`
	os.WriteFile(path, []byte(`{"n":1}`+"\n"+long+"\n"+`{"n":3}`+"\n"+long[:500<<10]), 0o644)
	var lens []int
	j, err := Open(path, func(line []byte) error {
		lens = append(lens, len(line))
		var r rec
		return json.Unmarshal(line, &r)
	})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	if want := []int{7, len(long), 7}; !slices.Equal(lens, want) {
		t.Errorf("lines of %v bytes, want %v", lens, want)
	}
	if fi, _ := os.Stat(path); fi.Size() != int64(7+1+len(long)+1+7+1) {
		t.Errorf("the torn line is kept: %d bytes", fi.Size())
	}
}
