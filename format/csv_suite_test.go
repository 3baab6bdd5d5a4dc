package format

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// csvSpectrumDir is csv-spectrum, kept beside the repo.
var csvSpectrumDir = filepath.Join("..", "..", "shared", "testsuites", "csv")

// csvSpectrumErrata corrects expected values that contradict their own csv
// file upstream. An entry applies only while the json holds the wrong
// value, so the test says when a fixed suite makes it unneeded.
var csvSpectrumErrata = map[string]struct{ field, wrong, right, why string }{
	"location_coordinates": {"Contact Phone Number", "1234567890", "2095257564",
		"the json has a placeholder, not the csv's number (max-mapper/csv-spectrum#20)"},
}

// TestCSVSpectrum reads every file of csv-spectrum and compares its records,
// keys in order and every cell a string, with the json beside it.
func TestCSVSpectrum(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(csvSpectrumDir, "csvs", "*.csv"))
	if len(files) == 0 {
		t.Skipf("csv-spectrum is not at %s", csvSpectrumDir)
	}
	passed := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".csv")
		ok := t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			js, err := os.ReadFile(filepath.Join(csvSpectrumDir, "json", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			got, errs := decodeAll(t, CSV, string(in))
			if errs != nil {
				t.Fatalf("decoding: %q", errs)
			}
			// One file holds a single object rather than a list of one
			// (max-mapper/csv-spectrum#22); the json decoder reads both
			// as records.
			want, errs := decodeAll(t, JSON, string(js))
			if errs != nil {
				t.Fatalf("decoding the expected json: %q", errs)
			}
			if e, ok := csvSpectrumErrata[name]; ok {
				obj := want[0].Value.(*Object)
				if v, _ := obj.Get(e.field); v != e.wrong {
					t.Fatalf("the json no longer has %s = %q: take %s off csvSpectrumErrata", e.field, e.wrong, name)
				}
				obj.Set(e.field, e.right)
				t.Logf("expects %s = %q, not %q: %s", e.field, e.right, e.wrong, e.why)
			}
			if g, w := compact(t, got), compact(t, want); g != w {
				t.Errorf("records:\n%s\nwant:\n%s", g, w)
			}
		})
		if ok {
			passed++
		}
	}
	t.Logf("csv-spectrum: %d of %d files pass", passed, len(files))
}
