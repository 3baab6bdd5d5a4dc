package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"
)

// EncodeOptions shape an encoder's output.
type EncodeOptions struct {
	// Part leaves out what opens and closes a whole file, so that Join can
	// put several parts together into one.
	Part bool
	// Columns fixes the csv and tsv header. Without it the first record's
	// keys are the header.
	Columns []string
	// Indent, for json and yaml, is the spaces a nesting level takes; 0
	// keeps the format's own (2).
	Indent int
	// Compact writes each json record on one line.
	Compact bool
}

// Frame says how the record units of a format join into one file.
type Frame struct {
	// Head opens and Tail closes a file that holds records; Sep goes
	// between two records.
	Head, Sep, Tail string
	// Empty is the whole file when there are no records.
	Empty string
	// Header is set when each part starts with a header line, as in csv.
	Header bool
}

// UnitFunc appends the encoding of one record to dst.
type UnitFunc func(dst []byte, v any) ([]byte, error)

// fixedUnit is the NewUnit of a format whose records encode the same way
// in every output, whatever the options.
func fixedUnit(u UnitFunc) func(EncodeOptions) (UnitFunc, func() []byte) {
	return func(EncodeOptions) (UnitFunc, func() []byte) { return u, nil }
}

// NewEncoder returns an encoder of f writing to w.
func NewEncoder(f Format, w io.Writer, opts EncodeOptions) (*Encoder, error) {
	c, err := codecOf(f)
	if err != nil {
		return nil, err
	}
	// The codec is looked up here, once: Encode calls unit directly.
	unit, header := c.NewUnit(opts)
	bw := writers.Get().(*bufio.Writer)
	bw.Reset(w)
	return &Encoder{w: bw, frame: c.Frame, part: opts.Part, unit: unit, header: header, lines: f == NDJSON}, nil
}

// writers are the buffers of closed encoders, for new ones: a run of a
// million small files would otherwise make a million 64 KiB buffers.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// errClosed is a write to a closed Encoder.
var errClosed = errors.New("format: write to a closed encoder")

// Encoder writes the records of one output.
type Encoder struct {
	w     *bufio.Writer
	frame Frame
	part  bool
	unit  UnitFunc
	// header, for a format with a header row such as csv, gives that row
	// to write before the first record that encodes, so that a part whose
	// records all fail stays empty.
	header func() []byte
	buf    []byte
	n      int
	lines  bool // ndjson: a record's unit is its compact JSON and a newline
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
		e.buf = append(e.buf, e.frame.Head...)
	}
	if e.n > 0 {
		e.buf = append(e.buf, e.frame.Sep...)
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

// TakesLines reports whether PrepareLine may stand for Prepare: the
// encoder writes ndjson.
func (e *Encoder) TakesLines() bool { return e.lines }

// PrepareLine is Prepare for a record given as the compact JSON that
// Prepare would write for it, as schema.Validator.Passes vouches; only
// for an encoder that TakesLines.
func (e *Encoder) PrepareLine(json []byte) {
	e.buf = append(append(e.buf[:0], json...), '\n')
}

// Commit writes the record Prepare encoded.
func (e *Encoder) Commit() error {
	if len(e.buf) == 0 {
		return nil
	}
	if e.w == nil {
		return errClosed
	}
	e.n++
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// Count returns how many records were written.
func (e *Encoder) Count() int { return e.n }

// Close writes what ends the file, such as json's closing bracket, and
// flushes. It leaves the underlying writer open. A second Close does
// nothing.
func (e *Encoder) Close() error {
	if e.w == nil {
		return nil
	}
	if !e.part {
		if e.n == 0 {
			e.w.WriteString(e.frame.Empty)
		} else {
			e.w.WriteString(e.frame.Tail)
		}
	}
	err := e.w.Flush()
	e.w.Reset(nil)
	writers.Put(e.w)
	e.w = nil
	return err
}

// Join writes the parts, each made by an encoder with Part set, to w as one
// file of format f: one header, brackets and separators where f needs them.
func Join(f Format, w io.Writer, parts ...io.Reader) error {
	return JoinSeq(f, w, slices.Values(parts))
}

// JoinSeq is Join of parts made as they are read, so that an output of a
// million parts never holds a million readers.
func JoinSeq(f Format, w io.Writer, parts iter.Seq[io.Reader]) error {
	c, err := codecOf(f)
	if err != nil {
		return err
	}
	fr := c.Frame
	bw := bufio.NewWriterSize(w, 64<<10)
	wrote := false
	var header []byte
	br := bufio.NewReaderSize(nil, 64<<10) // one for every part
	i := -1
	for p := range parts {
		i++
		br.Reset(p)
		if fr.Header {
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
			bw.WriteString(fr.Head)
		} else {
			bw.WriteString(fr.Sep)
		}
		wrote = true
		if _, err := br.WriteTo(bw); err != nil {
			return err
		}
	}
	if wrote {
		bw.WriteString(fr.Tail)
	} else {
		bw.WriteString(fr.Empty)
	}
	return bw.Flush()
}

// HeaderLine is the header line that an output of f with these columns
// starts with, for an output that has no record to write. It is nil when
// f has no header.
func HeaderLine(f Format, columns []string) []byte {
	c, ok := codecs[f]
	if !ok || !c.Frame.Header {
		return nil
	}
	_, header := c.NewUnit(EncodeOptions{Columns: columns})
	return header()
}
