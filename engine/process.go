package engine

import (
	"context"
	"errors"
	"io"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// This file holds the one record loop: decode, check, transform, encode.
// A stage's items, zpipe check and the Batch API all run records through
// it; what they do with the outcome is the sink's business, and when and
// how often an item runs is the executor's.

// Records yields an item's records in order; a format.Decoder is one.
type Records interface {
	Next() (format.Record, error)
}

// Sink takes what Process decides about each record, in input order.
type Sink interface {
	// Accept takes a valid record as the schema gave it back: defaults
	// filled in, or transformed. A *SinkError means the sink itself
	// failed (a disk, say) and stops the item; any other error rejects the
	// record, such as a value the output format cannot hold.
	Accept(rec any) error
	// Reject takes a record that failed, with why; input is what was read,
	// or nil when nothing could be. Its error stops the item.
	Reject(errs []RecordError, index, line int, input any) error
}

// lineSink is a Sink that can take a valid record as its compact JSON
// text, when it TakesLines: it writes ndjson only, or nothing.
type lineSink interface {
	Sink
	TakesLines() bool
	// AcceptLine is Accept for the record whose compact JSON is json.
	AcceptLine(json []byte) error
}

// SinkError is a failure of the sink rather than of a record.
type SinkError struct{ Err error }

func (e *SinkError) Error() string { return e.Err.Error() }
func (e *SinkError) Unwrap() error { return e.Err }

// ErrStopItem, from a Sink, ends the item early and on purpose, as the
// Batch API does at the first failure unless it wants every error.
var ErrStopItem = errors.New("stop the item")

// Tally counts an item's records: read, accepted and rejected.
type Tally struct{ Records, OK, Failed int }

// checkBatch is how many records go to the schema at once, so that an
// isolated schema's evaluator costs one round trip a batch.
const checkBatch = 256

// slot is a record awaiting its verdict, a row the decoder could not
// read, or a record that passes as it stands (its JSON), in input order.
type slot struct {
	rec  format.Record
	bad  *format.Error
	json []byte
}

// Process runs every record of an item through the schema (none: every
// record is valid as read) into the sink. It returns the counts and why
// the item stopped short, if it did: ctx's error, a decoding error that
// leaves nothing more to read, the evaluator's failure, or the sink's. On
// an early stop the records read so far count as read.
func Process(ctx context.Context, name string, in Records, v *schema.Validator, out Sink) (Tally, error) {
	l := &loop{ctx: ctx, name: name, v: v, out: out, in: in}
	// A line that the schema vouches for as it stands is written as it
	// is: no record is built, checked again nor encoded.
	if ls, ok := out.(lineSink); ok && ls.TakesLines() && v != nil && v.PassesLines() {
		l.lines, _ = in.(format.LineDecoder)
		l.lineOut = ls
	}
	for {
		if err := ctx.Err(); err != nil {
			l.t.Records += len(l.batch)
			return l.t, err
		}
		sl, err := l.read()
		if err == io.EOF {
			break
		}
		var fe *format.Error
		switch {
		case errors.As(err, &fe) && fe.Recoverable:
			l.batch = append(l.batch, slot{bad: fe})
		case err != nil:
			// The records before a fatal error are still checked and
			// handed on: check and convert report or write them.
			if ferr := l.flush(); ferr != nil {
				return l.t, ferr
			}
			return l.t, err
		case sl.json != nil && len(l.batch) == 0:
			// Nothing waits for a verdict before it: out it goes.
			l.t.Records++
			if err := l.passed(sl.json); err != nil {
				return l.t, err
			}
		case sl.json != nil:
			sl.json = l.keep(sl.json)
			l.batch = append(l.batch, sl)
		default:
			l.batch = append(l.batch, sl)
		}
		if len(l.batch) == checkBatch {
			if err := l.flush(); err != nil {
				return l.t, err
			}
		}
	}
	if len(l.batch) > 0 {
		if err := l.flush(); err != nil {
			return l.t, err
		}
	}
	return l.t, nil
}

// loop is one run of Process: the records waiting for their verdict, and
// the counts so far.
type loop struct {
	ctx   context.Context
	name  string
	v     *schema.Validator
	out   Sink
	in    Records
	batch []slot
	t     Tally
	// lines is in when records may pass as their lines, into lineOut;
	// kept holds the lines of those that wait in the batch.
	lines   format.LineDecoder
	lineOut lineSink
	kept    []byte
}

// read takes the next record: a line that passes as it stands, or a
// decoded record.
func (l *loop) read() (slot, error) {
	if l.lines == nil {
		rec, err := l.in.Next()
		return slot{rec: rec}, err
	}
	if err := l.lines.NextLine(); err != nil {
		return slot{}, err
	}
	if json, ok := l.v.Passes(l.lines.Line(), l.lines.LineDepth()); ok {
		return slot{json: json}, nil
	}
	rec, err := l.lines.DecodeLine()
	return slot{rec: rec}, err
}

// keep copies a passing line that must wait for the records before it:
// the decoder reuses its line.
func (l *loop) keep(json []byte) []byte {
	start := len(l.kept)
	l.kept = append(l.kept, json...)
	return l.kept[start:len(l.kept):len(l.kept)]
}

// passed writes a record that passes as its line.
func (l *loop) passed(json []byte) error {
	if err := l.lineOut.AcceptLine(json); err != nil {
		return err
	}
	l.t.OK++
	return nil
}

// flush checks the waiting records in one batch and hands each, in order,
// to the sink.
func (l *loop) flush() error {
	values := make([]any, 0, len(l.batch))
	untyped := false
	for _, sl := range l.batch {
		if sl.bad == nil && sl.json == nil {
			values = append(values, sl.rec.Value)
			untyped = sl.rec.Untyped
		}
	}
	var verdicts []schema.Result
	if l.v != nil {
		var err error
		if verdicts, err = l.v.CheckBatch(l.ctx, values, untyped); err != nil {
			l.t.Records += len(l.batch)
			return err
		}
	}
	k := 0
	for i, sl := range l.batch {
		l.t.Records++
		var err error
		switch {
		case sl.bad != nil:
			err = l.badRow(sl.bad)
		case sl.json != nil:
			err = l.passed(sl.json)
		default:
			verdict := schema.Result{Out: sl.rec.Value}
			if l.v != nil {
				verdict = verdicts[k]
				k++
			}
			err = l.decided(sl.rec, verdict)
		}
		if err != nil {
			l.t.Records += len(l.batch) - i - 1
			return err
		}
	}
	l.batch, l.kept = l.batch[:0], l.kept[:0]
	return nil
}

// badRow rejects a row the decoder could not read, with its raw text.
func (l *loop) badRow(fe *format.Error) error {
	l.t.Failed++
	var raw any
	if fe.Raw != "" {
		raw = fe.Raw
	}
	return l.out.Reject([]RecordError{{Source: l.name, Record: fe.Record, Line: fe.Line, Column: fe.Col, Message: fe.Msg}}, fe.Record, fe.Line, raw)
}

// decided hands a checked record to the sink: accepted when it is valid
// and the sink can take it, rejected with why otherwise.
func (l *loop) decided(rec format.Record, verdict schema.Result) error {
	violations := verdict.Violations
	if violations == nil {
		err := l.out.Accept(verdict.Out)
		if err == nil {
			l.t.OK++
			return nil
		}
		var se *SinkError
		if errors.As(err, &se) {
			return err
		}
		violations = []schema.Violation{{Msg: err.Error()}}
	}
	l.t.Failed++
	return l.out.Reject(recordErrors(l.name, rec, violations), rec.Index, rec.Line, rec.Value)
}
