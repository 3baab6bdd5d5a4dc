//go:build unix

package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The rows of the table tests: zpipe and the anchors it is compared with.
var (
	zpipeNDJSON = row{key: "zpipe-ndjson", tool: "zpipe", input: "ndjson → ndjson",
		at: []measure{{520000, 30 * 1024}, {500000, 40 * 1024}}}
	zpipeYAML = row{key: "zpipe-yaml", tool: "zpipe", input: "yaml → ndjson",
		at: []measure{{100000, 35 * 1024}, {99000, 41 * 1024}}}
	cueVet = row{key: "cue-vet", tool: "cue vet", input: "ndjson (valid only)", versus: "zpipe-ndjson",
		at: []measure{{12000, 400 * 1024}, {10000, 3300 * 1024}}}
	jq = row{key: "jq-ndjson", tool: "jq 1.7.1", input: "ndjson → ndjson (no validation)", versus: "zpipe-ndjson",
		at: []measure{{1000000, 3 * 1024}, {1000000, 3 * 1024}}}
	yq = row{key: "yq", tool: "yq 3.4.3 (Python)", input: "yaml → ndjson (no validation)", versus: "zpipe-yaml",
		at: []measure{{9000, 20 * 1024}, {9900, 150 * 1024}}}
)

func TestTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []int
		rows  []row
		want  string
	}{{
		name:  "two sizes",
		sizes: []int{20000, 200000},
		rows:  []row{zpipeNDJSON, cueVet, yq},
		want: `tool               input                          20k rec/s  20k RSS  200k rec/s  200k RSS  200k/20k
zpipe              ndjson → ndjson                  520,000    30 MB     500,000     40 MB      0.96
cue vet            ndjson (valid only)               12,000   400 MB      10,000  3,300 MB      0.83
yq 3.4.3 (Python)  yaml → ndjson (no validation)      9,000    20 MB       9,900    150 MB      1.10
`,
	}, {
		name:  "failed at one size",
		sizes: []int{2000, 20000},
		rows: []row{zpipeNDJSON,
			{tool: "zod 4.1.0", input: "ndjson → ndjson", at: []measure{{}, {800000, 90 * 1024}}}},
		want: `tool       input            2k rec/s  2k RSS  20k rec/s  20k RSS  20k/2k
zpipe      ndjson → ndjson   520,000   30 MB    500,000    40 MB    0.96
zod 4.1.0  ndjson → ndjson         -       -    800,000    90 MB       -
`,
	}, {
		name:  "one size has no growth column",
		sizes: []int{1500},
		rows:  []row{{tool: "zpipe", input: "ndjson → ndjson", at: []measure{{480000, 12 * 1024}}}},
		want: `tool   input            1,500 rec/s  1,500 RSS
zpipe  ndjson → ndjson      480,000      12 MB
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printTable(&b, tc.sizes, tc.rows)
			if b.String() != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
			}
		})
	}
}

func TestComparisons(t *testing.T) {
	got := comparisons([]row{zpipeNDJSON, zpipeYAML, cueVet, jq, yq}, 1)
	want := []string{
		"zpipe ndjson → ndjson is 50.0× cue vet, 0.50× jq 1.7.1",
		"zpipe yaml → ndjson is 10.0× yq 3.4.3 (Python)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// An anchor whose zpipe row did not run is left out, not divided by 0.
	noYAML := zpipeYAML
	noYAML.at = []measure{{}, {}}
	if got := comparisons([]row{zpipeNDJSON, noYAML, yq}, 1); len(got) != 0 {
		t.Errorf("got %q, want none", got)
	}
}

func TestParseYQVersion(t *testing.T) {
	for _, tc := range []struct {
		out, tool, args, err string
	}{
		{out: "yq (https://github.com/mikefarah/yq/) version v4.44.3\n", tool: "yq 4.44.3 (Go)", args: "-o=json -I=0 ."},
		{out: "yq (https://github.com/mikefarah/yq/) version 4.6.1\n", tool: "yq 4.6.1 (Go)", args: "-o=json -I=0 ."},
		{out: "yq version 3.4.1\n", err: "mikefarah yq 3.4.1 is older than v4"},
		{out: "yq 3.4.3\n", tool: "yq 3.4.3 (Python)", args: "-c ."},
		{out: "yq 0.0.0\n", tool: "yq 0.0.0 (Python)", args: "-c ."}, // Debian's python3-yq
		{out: "", err: "cannot tell which yq"},
		{out: "yq: unknown flag --version\n", err: "cannot tell which yq"},
	} {
		f, err := parseYQVersion(tc.out)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.out, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.out, err)
		case f.tool != tc.tool || strings.Join(f.args, " ") != tc.args:
			t.Errorf("%q: %q %q, want %q %q", tc.out, f.tool, f.args, tc.tool, tc.args)
		}
	}
}

func TestParseSizes(t *testing.T) {
	for spec, want := range map[string][]int{
		"20000,200000":        {20000, 200000},
		" 200000, 20000,2000": {2000, 20000, 200000},
		"100,100":             {100},
	} {
		if got, err := parseSizes(spec); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseSizes(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "99", "20k", "20000,", "-5"} {
		if _, err := parseSizes(spec); err == nil {
			t.Errorf("parseSizes(%q) accepted it", spec)
		}
	}
}

func TestSizeLabels(t *testing.T) {
	for n, want := range map[int]string{200000: "200k", 2000: "2k", 2000000: "2M", 1500: "1,500", 100: "100"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
	if got := sizesText([]int{2000, 20000, 200000}); got != "2,000, 20,000 and 200,000 records" {
		t.Error(got)
	}
}

func TestCollect(t *testing.T) {
	ok := func(key string, records int, wall time.Duration) *job {
		return &job{key: key, records: records, walls: []time.Duration{wall}, rssKB: 1024}
	}
	failed := func(key string) *job { return &job{key: key, failed: true} }
	var rows []row
	rows = collect(rows, []*job{ok("zpipe-ndjson", 1000, time.Second), failed("zod"), failed("yq")}, 0, 2)
	rows = collect(rows, []*job{ok("zpipe-ndjson", 10000, 2*time.Second), ok("zod", 10000, time.Second), failed("yq")}, 1, 2)
	var keys []string
	for _, r := range rows {
		keys = append(keys, r.key)
	}
	if got := strings.Join(keys, " "); got != "zpipe-ndjson zod" {
		t.Errorf("rows %s, want zpipe-ndjson zod (yq failed at every size)", got)
	}
	if rows[0].at[1].rate != 5000 || rows[1].at[0].rate != 0 || rows[1].at[1].rate != 10000 {
		t.Errorf("measures %v %v", rows[0].at, rows[1].at)
	}
}

func TestTarget(t *testing.T) {
	if got := targetLine(measure{455000, 60 * 1024}, 200000, 2); !strings.Contains(got, ": met (455,000 records/s, 60 MB on 2 CPUs, 200,000 records)") {
		t.Error(got)
	}
	if got := targetLine(measure{455000, 65 * 1024}, 200000, 4); !strings.Contains(got, "NOT met") || !strings.Contains(got, "this machine has 4") {
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
	want := wanted("cue, zod, jq")
	var keys []string
	for _, k := range []string{"zpipe-ndjson", "zpipe-valid", "zpipe-csv", "cue-vet", "cue-export", "jq-ndjson", "jq-jsonarray", "yq", "zod"} {
		if want(k) {
			keys = append(keys, k)
		}
	}
	if got := strings.Join(keys, " "); got != "zpipe-ndjson cue-vet cue-export jq-ndjson jq-jsonarray zod" {
		t.Error(got)
	}
	if !wanted("")("zpipe-yaml") {
		t.Error("no -only should run everything")
	}
}

func TestLineCheck(t *testing.T) {
	if w := lineCheck(strings.NewReader("{}\n{}\n"), 2); w != "" {
		t.Error(w)
	}
	if w := lineCheck(strings.NewReader("{}\n{}\n"), 3); w != "2 lines, want 3" {
		t.Error(w)
	}
}
