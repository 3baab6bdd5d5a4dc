//go:build unix

package main

import (
	"strings"
	"testing"
	"time"
)

func TestTable(t *testing.T) {
	var b strings.Builder
	printTable(&b, []row{
		{"zpipe", "ndjson → ndjson", 500000, 40 * 1024},
		{"cue vet", "ndjson (valid only)", 10000, 3300 * 1024},
		{"zod 4.6.7", "ndjson → ndjson", 1000000, 137 * 1024},
	})
	want := `tool       input                records/s  vs zpipe ndjson  peak RSS
zpipe      ndjson → ndjson        500,000        reference     40 MB
cue vet    ndjson (valid only)     10,000   zpipe is 50.0×  3,300 MB
zod 4.6.7  ndjson → ndjson      1,000,000   zpipe is 0.50×    137 MB
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestTarget(t *testing.T) {
	if got := targetLine(row{rate: 455000, rssKB: 60 * 1024}, 2); !strings.Contains(got, ": met (455,000 records/s, 60 MB on 2 CPUs)") {
		t.Error(got)
	}
	if got := targetLine(row{rate: 455000, rssKB: 65 * 1024}, 4); !strings.Contains(got, "NOT met") || !strings.Contains(got, "this machine has 4") {
		t.Error(got)
	}
}

func TestMedianAndThousands(t *testing.T) {
	if m := median([]time.Duration{3, 1, 2}); m != 2 {
		t.Errorf("median = %d", m)
	}
	if m := median([]time.Duration{4, 1, 2, 3}); m != 2 {
		t.Errorf("median of 4 = %d", m)
	}
	for f, want := range map[float64]string{0: "0", 999.6: "1,000", 1234567: "1,234,567", 100000: "100,000"} {
		if got := thousands(f); got != want {
			t.Errorf("thousands(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestWanted(t *testing.T) {
	want := wanted("cue, zod")
	var keys []string
	for _, k := range []string{"zpipe-ndjson", "zpipe-csv", "cue-vet", "cue-export", "zod"} {
		if want(k) {
			keys = append(keys, k)
		}
	}
	if got := strings.Join(keys, " "); got != "zpipe-ndjson cue-vet cue-export zod" {
		t.Error(got)
	}
	if !wanted("")("zpipe-yaml") {
		t.Error("no -only should run everything")
	}
}
