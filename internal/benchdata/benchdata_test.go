package benchdata

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ndjson(t *testing.T, n int, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteNDJSON(&b, n, seed, 0); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDeterministic(t *testing.T) {
	a, b := ndjson(t, 500, 7), ndjson(t, 500, 7)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with seed 7 differ")
	}
	if bytes.Equal(a, ndjson(t, 500, 8)) {
		t.Fatal("seeds 7 and 8 give the same records")
	}
	// Pinned so that numbers measured before and after a change compare.
	first, _, _ := bytes.Cut(ndjson(t, 1, 1), []byte("\n"))
	want := `{"id":1,"name":"user 1","email":"user1@example.com","age":18,"tags":["dev","admin"],"address":{"city":"Oslo","zip":"59826"}}`
	if string(first) != want {
		t.Errorf("first record of seed 1:\n got %s\nwant %s", first, want)
	}
}

func TestInvalidAndFormatsAgree(t *testing.T) {
	const n, seed = 450, 3
	var users []User
	g := New(seed)
	invalid := 0
	for range n {
		u := g.Next()
		users = append(users, u)
		if !u.Valid() {
			invalid++
		}
	}
	if invalid != Invalid(n) || invalid != 4 {
		t.Errorf("invalid = %d, Invalid(%d) = %d, want 4", invalid, n, Invalid(n))
	}

	lines := strings.Split(strings.TrimSuffix(string(ndjson(t, n, seed)), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d ndjson lines, want %d", len(lines), n)
	}
	// The json files hold the same records, in order.
	paths, err := WriteJSONFiles(t.TempDir(), n, seed, 7)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var recs []json.RawMessage
		if err := json.Unmarshal(b, &recs); err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		for _, r := range recs {
			got = append(got, string(r))
		}
	}
	if strings.Join(got, "\n") != strings.Join(lines, "\n") {
		t.Error("json files do not hold the ndjson records in order")
	}

	var csv, yaml bytes.Buffer
	if err := WriteCSV(&csv, n, seed); err != nil {
		t.Fatal(err)
	}
	if err := WriteYAML(&yaml, n, seed); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(csv.String(), "\n"); rows != n+1 {
		t.Errorf("csv has %d lines, want %d", rows, n+1)
	}
	if docs := strings.Count(yaml.String(), "\n---\n") + 1; docs != n {
		t.Errorf("yaml has %d documents, want %d", docs, n)
	}
	u := users[99]
	if !strings.Contains(csv.String(), "\n100,user 100,user100@example.com,") || !strings.Contains(yaml.String(), "  zip: \""+u.Zip+"\"\n") {
		t.Error("csv or yaml lacks record 100")
	}
}

func TestWriteValidNDJSON(t *testing.T) {
	const n, seed = 450, 3
	var valid bytes.Buffer
	if err := WriteValidNDJSON(&valid, n, seed); err != nil {
		t.Fatal(err)
	}
	// The valid records are the ndjson lines whose zip has five digits, in
	// order: every hundredth record left out.
	var want []string
	for i, line := range strings.SplitAfter(string(ndjson(t, n, seed)), "\n") {
		if line != "" && (i+1)%100 != 0 {
			want = append(want, line)
		}
	}
	if got := valid.String(); got != strings.Join(want, "") {
		t.Errorf("valid records differ from the ndjson lines without every hundredth")
	}
	if lines := strings.Count(valid.String(), "\n"); lines != n-Invalid(n) {
		t.Errorf("%d valid lines, want %d", lines, n-Invalid(n))
	}
}
