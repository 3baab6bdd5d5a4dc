package schema

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// A mapped URL reads only inside the folder its prefix names.
func TestLocalFile(t *testing.T) {
	dir := t.TempDir()
	mapping := map[string]string{"https://example.com/s/": dir + "/", "https://example.com/one.json": filepath.Join(dir, "one.json")}
	for _, tc := range []struct{ ref, want, err string }{
		{"https://example.com/s/a/b.json", filepath.Join(dir, "a", "b.json"), ""},
		{"https://example.com/one.json", filepath.Join(dir, "one.json"), ""},
		{"https://example.com/s/../../etc/passwd", "", "leads out of"},
		{"https://example.com/s/x.json?/../../../etc/passwd", "", "with a query"},
		{"https://other.org/x.json", "", "never fetches"},
	} {
		u, err := url.Parse(tc.ref)
		if err != nil {
			t.Fatal(err)
		}
		got, err := localFile(u, mapping)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %q, %v; want an error saying %q", tc.ref, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}
}
