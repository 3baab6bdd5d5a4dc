package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression is a file's compression: Gzip, Zstd, or "" for none. It
// wraps any format: users.ndjson.gz is ndjson, gzipped. Files are read
// and written through it as streams, so a compressed file is never held
// whole.
type Compression string

// The compressions zpipe reads and writes.
const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

var compressionExts = map[string]Compression{".gz": Gzip, ".zst": Zstd}

var compressionMagic = []struct {
	magic []byte
	c     Compression
}{{[]byte{0x1f, 0x8b}, Gzip}, {[]byte{0x28, 0xb5, 0x2f, 0xfd}, Zstd}}

// CompressionOf names the compression that a file name's extension says.
func CompressionOf(name string) Compression {
	return compressionExts[strings.ToLower(filepath.Ext(name))]
}

// TrimCompression drops a compression extension: users.ndjson.gz is
// users.ndjson, whose extension names its format.
func TrimCompression(name string) string {
	if CompressionOf(name) != "" {
		return strings.TrimSuffix(name, filepath.Ext(name))
	}
	return name
}

// sniffCompression names the compression that a stream's first bytes
// show. Neither magic starts a text format, so it is safe to look.
func sniffCompression(head []byte) Compression {
	for _, m := range compressionMagic {
		if bytes.HasPrefix(head, m.magic) {
			return m.c
		}
	}
	return ""
}

// CorruptError is compressed data that cannot be read to its end: it
// fails its item for good, as a malformed record does, since another
// try reads the same bytes.
type CorruptError struct {
	Compression Compression
	Err         error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the %s data is corrupt or cut short: %v", e.Compression, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Decompress returns what r holds, uncompressed when its first bytes are
// gzip's or zstd's, and which compression it found. Close ends the
// decompressor, not r.
func Decompress(r io.Reader) (io.ReadCloser, Compression, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		// Plain data goes on unbuffered: its decoder buffers it, and a
		// buffer here would cost each of a million small files 64 KiB.
		var head [4]byte
		n, err := io.ReadFull(r, head[:])
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return nil, "", err
		}
		r = io.MultiReader(bytes.NewReader(head[:n]), r)
		if sniffCompression(head[:n]) == "" {
			return io.NopCloser(r), "", nil
		}
		br = bufio.NewReaderSize(r, 64<<10)
	}
	head, _ := br.Peek(4)
	switch c := sniffCompression(head); c {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, c, &CorruptError{c, err}
		}
		return &decompressor{r: zr, c: c, close: zr.Close}, c, nil
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, c, &CorruptError{c, err}
		}
		return &decompressor{r: zr, c: c, close: func() error { zr.Close(); return nil }}, c, nil
	}
	return io.NopCloser(br), "", nil
}

// decompressor turns the errors of broken compressed data into a
// CorruptError.
type decompressor struct {
	r     io.Reader
	c     Compression
	close func() error
}

func (d *decompressor) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF {
		var ce *CorruptError
		if !errors.As(err, &ce) {
			err = &CorruptError{d.c, err}
		}
	}
	return n, err
}

func (d *decompressor) Close() error { return d.close() }

// Compress returns a writer that compresses into w as c says; Close
// flushes it, and does not close w. With no compression it writes
// through.
func Compress(c Compression, w io.Writer) (io.WriteCloser, error) {
	switch c {
	case Gzip:
		return gzip.NewWriter(w), nil
	case Zstd:
		// One goroutine: the output is the same bytes on every run and
		// machine, which the outputs' hashes rely on.
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
	case "":
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
