package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// yamlAll decodes every record of r, going on after recoverable errors,
// and describes each record and error on a line of its own.
func yamlAll(r io.Reader) string {
	d, err := newYAMLDecoder(r, DefaultLimits)
	if err != nil {
		return "new: " + err.Error()
	}
	var b strings.Builder
	for {
		rec, err := d.Next()
		if err == io.EOF {
			return b.String()
		}
		var e *Error
		if err != nil {
			fmt.Fprintf(&b, "error %v\n", err)
			if errors.As(err, &e) && e.Recoverable {
				fmt.Fprintf(&b, "  record %d raw %q\n", e.Record, e.Raw)
				continue
			}
			return b.String()
		}
		line, col := rec.Locate([]string{"a"})
		v, _ := AppendJSON(nil, rec.Value)
		fmt.Fprintf(&b, "record %d at %d:%d, a at %d:%d: %s\n", rec.Index, rec.Line, rec.Col, line, col, v)
	}
}

// The stream is cut into documents as it is read, so how the reads fall
// must not matter: one byte at a time, or half of what is asked, gives
// the same records, positions and errors as one read.
func TestYAMLStreamReadsAnyWay(t *testing.T) {
	long := strings.Repeat("x", 70<<10) // longer than the read buffer
	inputs := map[string]string{
		"markers":                  "a: 1\n---\na: 2\n...\n# c\n---\na: 3\n",
		"crlf":                     "a: 1\r\n---\r\na: 2\r\n",
		"lone cr":                  "a: 1\r---\ra: 2\r",
		"bom":                      "\uFEFFa: 1\n---\na: 2\n",
		"directives":               "%YAML 1.2\n---\na: 1\n...\n%YAML 1.2\n---\na: 2\n",
		"bad middle":               "a: 1\n---\na: [\n---\na: 3\n",
		"no newline":               "a: 1\n---\na: 2",
		"long crlf":                "a: " + long + "\r\n---\r\na: " + long[:65533] + "\r\n---\na: 3\n",
		"only ---":                 "---\n---\n",
		"comments":                 "# only\n# comments\n",
		"directive without marker": "%YAML 1.2\na: 1\n",
		"many":                     strings.Repeat("---\na: 1\nb: [x, y]\n", 1000),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			want := yamlAll(strings.NewReader(in))
			if want == "" && strings.Contains(in, "a:") {
				t.Fatalf("no records from %q", in)
			}
			for how, r := range map[string]io.Reader{
				"one byte": iotest.OneByteReader(strings.NewReader(in)),
				"half":     iotest.HalfReader(strings.NewReader(in)),
			} {
				if got := yamlAll(r); got != want {
					t.Errorf("read %s at a time:\n%.600s\nwant\n%.600s", how, got, want)
				}
			}
		})
	}
	// Every case of yaml-test-suite, too.
	files, _ := filepath.Glob(filepath.Join(yamlSuiteDir, "*", "in.yaml"))
	more, _ := filepath.Glob(filepath.Join(yamlSuiteDir, "*", "*", "in.yaml"))
	for _, p := range append(files, more...) {
		in, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := yamlAll(iotest.OneByteReader(bytes.NewReader(in))), yamlAll(bytes.NewReader(in)); got != want {
			t.Errorf("%s, read one byte at a time:\n%s\nwant\n%s", p, got, want)
		}
	}
}

// A read error comes after the documents read before it.
func TestYAMLStreamReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("a: 1\n---\na: 2\n---\n"), iotest.ErrReader(boom))
	got := yamlAll(r)
	want := "record 1 at 1:1, a at 1:4: {\"a\":1}\nrecord 2 at 3:1, a at 3:4: {\"a\":2}\nerror disk on fire\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A long stream is read in bounded memory: documents are parsed a batch
// at a time, not read whole first.
func TestYAMLStreamsInBoundedMemory(t *testing.T) {
	const docs = 10000
	doc := "---\nid: 1\nname: \"user\"\ntags: [a, b]\nblob: " + strings.Repeat("x", 2000) + "\naddress:\n  city: Oslo\n"
	r := io.MultiReader(&repeatReader{s: doc, n: docs})
	d, err := newYAMLDecoder(r, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	peak := readMeasuringHeap(t, d, docs, 2000, func(n int, rec Record) {
		if rec.Index != n || rec.Line != 7*(n-1)+2 {
			t.Fatalf("record %d: index %d at line %d", n, rec.Index, rec.Line)
		}
	})
	// The stream is some 20 MB.
	if peak > 10<<20 {
		t.Errorf("%d MB of heap in use while reading, want the stream not held", peak>>20)
	}
}

// repeatReader reads s n times.
type repeatReader struct {
	s   string
	n   int
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, r.s[r.off:])
	if r.off += k; r.off == len(r.s) {
		r.off, r.n = 0, r.n-1
	}
	return k, nil
}
