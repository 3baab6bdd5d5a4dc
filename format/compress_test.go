package format

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestCompressionRoundTrip(t *testing.T) {
	data := []byte(strings.Repeat(`{"id":1,"name":"ada"}`+"\n", 5000))
	for _, c := range []Compression{Gzip, Zstd, ""} {
		t.Run(string(c), func(t *testing.T) {
			var twice [2][]byte
			for i := range twice {
				var buf bytes.Buffer
				w, err := Compress(c, &buf)
				if err != nil {
					t.Fatal(err)
				}
				w.Write(data)
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				twice[i] = buf.Bytes()
			}
			if !bytes.Equal(twice[0], twice[1]) {
				t.Error("two compressions of the same bytes differ")
			}
			if c != "" && len(twice[0]) >= len(data)/10 {
				t.Errorf("%d bytes compressed to %d", len(data), len(twice[0]))
			}
			r, got, err := Decompress(bytes.NewReader(twice[0]))
			if err != nil || got != c {
				t.Fatalf("Decompress: %q, %v", got, err)
			}
			back, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("read back %d bytes, %v", len(back), err)
			}
		})
	}
}

// Broken compressed data is a CorruptError that says what broke, at
// whatever point it shows.
func TestDecompressCorrupt(t *testing.T) {
	data := []byte(strings.Repeat(`{"id":1}`+"\n", 1000))
	for _, c := range []Compression{Gzip, Zstd} {
		var buf bytes.Buffer
		w, _ := Compress(c, &buf)
		w.Write(data)
		w.Close()
		whole := buf.Bytes()
		flipped := bytes.Clone(whole)
		flipped[len(flipped)/2] ^= 0xff
		for name, b := range map[string][]byte{"cut": whole[:len(whole)/2], "flipped": flipped, "header only": whole[:len(whole[:6])]} {
			t.Run(string(c)+"/"+name, func(t *testing.T) {
				r, _, err := Decompress(bytes.NewReader(b))
				if err == nil {
					_, err = io.ReadAll(r)
				}
				var ce *CorruptError
				if !errors.As(err, &ce) || ce.Compression != c {
					t.Fatalf("got %v, want a CorruptError", err)
				}
				if !strings.HasPrefix(err.Error(), "the "+string(c)+" data is corrupt or cut short: ") {
					t.Errorf("message: %s", err)
				}
			})
		}
	}
}

func TestCompressionNames(t *testing.T) {
	for name, want := range map[string][2]string{
		"users.ndjson.gz":  {"gzip", "users.ndjson"},
		"users.NDJSON.ZST": {"zstd", "users.NDJSON"},
		"users.json":       {"", "users.json"},
		"archive.tar":      {"", "archive.tar"},
	} {
		if c, trimmed := CompressionOf(name), TrimCompression(name); string(c) != want[0] || trimmed != want[1] {
			t.Errorf("%s: %q %q, want %q", name, c, trimmed, want)
		}
	}
}

// FuzzDecompress: no input panics or hangs the decompressors, and every
// failure of compressed data is a CorruptError.
func FuzzDecompress(f *testing.F) {
	for _, c := range []Compression{Gzip, Zstd} {
		var buf bytes.Buffer
		w, _ := Compress(c, &buf)
		w.Write([]byte(`{"id":1}` + "\n" + `{"id":2}` + "\n"))
		w.Close()
		f.Add(buf.Bytes())
	}
	f.Add([]byte(`{"id":1}`))
	addSeeds(f, "FuzzDecompress")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, c, err := Decompress(bytes.NewReader(b))
		if err == nil {
			_, err = io.Copy(io.Discard, io.LimitReader(r, 64<<20))
			r.Close()
		}
		var ce *CorruptError
		if err != nil && (c == "" || !errors.As(err, &ce)) {
			t.Fatalf("%q: %v", c, err)
		}
	})
}

// Plain data shorter than the four bytes the sniff looks at comes back
// whole, whether the reader is buffered or not.
func TestDecompressShortPlainData(t *testing.T) {
	for _, in := range []string{"", "{", "[1]", "{}\n", "{\"a\":1}\n"} {
		for _, buffered := range []bool{false, true} {
			var r io.Reader = strings.NewReader(in)
			if buffered {
				r = bufio.NewReader(r)
			}
			rc, c, err := Decompress(r)
			if err != nil || c != "" {
				t.Fatalf("Decompress(%q) = %v, %v", in, c, err)
			}
			got, _ := io.ReadAll(rc)
			if string(got) != in {
				t.Errorf("Decompress(%q) gives %q", in, got)
			}
		}
	}
}
