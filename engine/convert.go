package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// Converter writes the records of its inputs into one output as they are
// read, so that it holds no more than a batch whatever their size: each
// checked against Schema when there is one, with its defaults filled in.
// It is zpipe convert, and the streaming counterpart of a stage.
type Converter struct {
	// Schema, when set, checks every record; nil writes records as read.
	Schema *schema.Schema
	// Out encodes the valid records into the one output.
	Out *format.Encoder
	// To names Out's format, for the message of a record it cannot hold.
	To format.Format
	// Rejects, when set, takes a rejects entry (ndjson, as a stage's
	// rejects file has) for each invalid record and malformed input.
	Rejects *format.Encoder
	// Report, when set, hears the errors of each invalid record and
	// malformed input, positioned in its input.
	Report func(RecordError)
	// Limits bound what the decoders read, and say how (Whole).
	Limits format.Limits
	// Tally counts the records of every input so far.
	Tally Tally
}

// Convert reads one input in format f (decompressing it when it is gzip
// or zstd data); name names it in messages. A malformed input stops at
// the error, which is reported with its position and counts as a failed
// record; the records before it are written. The error is for an input
// that could not be read to its end, or an output that could not be
// written.
func (c *Converter) Convert(ctx context.Context, r io.Reader, name string, f format.Format) error {
	rc, _, err := format.Decompress(ctxReader{ctx, r})
	if err != nil {
		return err
	}
	defer rc.Close()
	// A decoder that refuses the input at once (UTF-16, say) refuses it
	// with a *format.Error, rejected below as a decoding error is.
	dec, err := format.NewDecoder(f, rc, c.Limits)
	if err == nil {
		if c.Schema != nil {
			// Checked as cue vet checks it; without a schema an empty
			// file converts to nothing.
			dec = emptyDocument(f, dec)
		}
		var v *schema.Validator
		if c.Schema != nil {
			v = c.Schema.Validator()
			defer c.Schema.Put(v)
		}
		var t Tally
		t, err = Process(ctx, name, dec, v, convertSink{c, name})
		c.Tally.Records += t.Records
		c.Tally.OK += t.OK
		c.Tally.Failed += t.Failed
	}
	var fe *format.Error
	if errors.As(err, &fe) {
		c.Tally.Records++
		c.Tally.Failed++
		e := RecordError{Source: name, Record: fe.Record, Line: fe.Line, Column: fe.Col, Message: fe.Msg}
		if rerr := (convertSink{c, name}).Reject([]RecordError{e}, fe.Record, fe.Line, nil); rerr != nil {
			return rerr
		}
	}
	return err
}

// convertSink is a Converter's Sink for one input.
type convertSink struct {
	c    *Converter
	name string
}

func (s convertSink) Accept(rec any) error {
	if err := s.c.Out.Prepare(rec); err != nil {
		return fmt.Errorf("cannot be written as %s: %v", s.c.To, err)
	}
	if err := s.c.Out.Commit(); err != nil {
		return &SinkError{err}
	}
	return nil
}

func (s convertSink) TakesLines() bool { return s.c.Out.TakesLines() }

func (s convertSink) AcceptLine(json []byte) error {
	s.c.Out.PrepareLine(json)
	if err := s.c.Out.Commit(); err != nil {
		return &SinkError{err}
	}
	return nil
}

func (s convertSink) Reject(errs []RecordError, record, line int, input any) error {
	if s.c.Report != nil {
		for _, e := range errs {
			s.c.Report(e)
		}
	}
	if s.c.Rejects == nil {
		return nil
	}
	if err := s.c.Rejects.Encode(rejectEntry(s.name, errs, record, line, input)); err != nil {
		return &SinkError{err}
	}
	return nil
}
