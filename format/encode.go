package format

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// EncodeOptions shape an encoder's output.
type EncodeOptions struct {
	// Part leaves out what opens and closes a whole file, so that Join can
	// put several parts together into one.
	Part bool
	// Columns fixes the csv and tsv header. Without it the first record's
	// keys are the header.
	Columns []string
}

// framing says how the record units of a format join into one file.
type framing struct {
	head, sep, tail string
	empty           string // the whole file when there are no records
	header          bool   // each part starts with a header line (csv, tsv)
}

func frameOf(f Format) framing {
	switch f {
	case JSON:
		return framing{head: "[\n", sep: ",\n", tail: "\n]\n", empty: "[]\n"}
	case YAML:
		return framing{sep: "---\n"}
	case TOML:
		return framing{sep: "\n"}
	case CSV, TSV:
		return framing{header: true}
	}
	return framing{}
}

// unitFunc appends the encoding of one record to dst.
type unitFunc func(dst []byte, v any) ([]byte, error)

// NewEncoder returns an encoder of f writing to w.
func NewEncoder(f Format, w io.Writer, opts EncodeOptions) (*Encoder, error) {
	e := &Encoder{w: bufio.NewWriterSize(w, 64<<10), frame: frameOf(f), part: opts.Part}
	switch f {
	case JSON:
		e.unit = func(dst []byte, v any) ([]byte, error) {
			dst = append(dst, "  "...)
			dst, err := appendJSON(dst, v, "  ", 1)
			return dst, err
		}
	case NDJSON:
		e.unit = func(dst []byte, v any) ([]byte, error) {
			dst, err := appendJSON(dst, v, "", 0)
			return append(dst, '\n'), err
		}
	case YAML:
		e.unit = appendYAML
	case TOML:
		e.unit = appendTOML
	case CSV, TSV:
		c := newCSVEncoder(f, opts.Columns)
		e.unit = c.unit
		e.header = c.headerLine
	default:
		return nil, fmt.Errorf("unknown format %q", f)
	}
	return e, nil
}

// Encoder writes the records of one output.
type Encoder struct {
	w     *bufio.Writer
	frame framing
	part  bool
	unit  unitFunc
	// header, for csv and tsv, gives the header row to write before the
	// first record that encodes, so that a part whose records all fail
	// stays empty.
	header func() []byte
	buf    []byte
	n      int
}

// Encode writes one record. A record the format cannot hold is an error
// and writes nothing.
func (e *Encoder) Encode(v any) error {
	if err := e.Prepare(v); err != nil {
		return err
	}
	return e.Commit()
}

// Prepare encodes a record without writing it, so that a caller writing
// one record to several outputs can check them all before writing any.
// Commit writes it; a second Prepare discards it.
func (e *Encoder) Prepare(v any) error {
	e.buf = e.buf[:0]
	if e.n == 0 && !e.part {
		e.buf = append(e.buf, e.frame.head...)
	}
	if e.n > 0 {
		e.buf = append(e.buf, e.frame.sep...)
	}
	var err error
	e.buf, err = e.unit(e.buf, v)
	if err != nil {
		e.buf = e.buf[:0]
		return err
	}
	if e.header != nil && e.n == 0 {
		e.buf = append(e.header(), e.buf...)
	}
	return nil
}

// Commit writes the record Prepare encoded.
func (e *Encoder) Commit() error {
	if len(e.buf) == 0 {
		return nil
	}
	e.n++
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// Count returns how many records were written.
func (e *Encoder) Count() int { return e.n }

// Close writes what ends the file, such as json's closing bracket, and
// flushes. It leaves the underlying writer open.
func (e *Encoder) Close() error {
	if !e.part {
		if e.n == 0 {
			e.w.WriteString(e.frame.empty)
		} else {
			e.w.WriteString(e.frame.tail)
		}
	}
	return e.w.Flush()
}

// Join writes the parts, each made by an encoder with Part set, to w as one
// file of format f: one header, brackets and separators where f needs them.
func Join(f Format, w io.Writer, parts ...io.Reader) error {
	fr := frameOf(f)
	bw := bufio.NewWriterSize(w, 64<<10)
	wrote := false
	var header []byte
	for i, p := range parts {
		br := bufio.NewReaderSize(p, 64<<10)
		if fr.header {
			h, err := br.ReadBytes('\n')
			if err != nil && err != io.EOF {
				return err
			}
			if len(h) == 0 {
				continue
			}
			if header == nil {
				header = h
				bw.Write(h)
			} else if !bytes.Equal(h, header) {
				return fmt.Errorf("part %d has the columns %q, but the first part has %q", i+1, bytes.TrimSpace(h), bytes.TrimSpace(header))
			}
		}
		first, err := br.Peek(1)
		if len(first) == 0 {
			if err != nil && err != io.EOF {
				return err
			}
			continue
		}
		if !wrote {
			bw.WriteString(fr.head)
		} else {
			bw.WriteString(fr.sep)
		}
		wrote = true
		if _, err := br.WriteTo(bw); err != nil {
			return err
		}
	}
	if wrote {
		bw.WriteString(fr.tail)
	} else {
		bw.WriteString(fr.empty)
	}
	return bw.Flush()
}
