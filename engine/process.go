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

// slot is a record awaiting its verdict, or a row the decoder could not
// read, in input order.
type slot struct {
	rec format.Record
	bad *format.Error
}

// Process runs every record of an item through the schema (none: every
// record is valid as read) into the sink. It returns the counts and why
// the item stopped short, if it did: ctx's error, a decoding error that
// leaves nothing more to read, the evaluator's failure, or the sink's. On
// an early stop the records read so far count as read.
func Process(ctx context.Context, name string, in Records, v *schema.Validator, out Sink) (Tally, error) {
	l := &loop{ctx: ctx, name: name, v: v, out: out}
	for {
		if err := ctx.Err(); err != nil {
			l.t.Records += len(l.batch)
			return l.t, err
		}
		rec, err := in.Next()
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
		default:
			l.batch = append(l.batch, slot{rec: rec})
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
	batch []slot
	t     Tally
}

// flush checks the waiting records in one batch and hands each, in order,
// to the sink.
func (l *loop) flush() error {
	values := make([]any, 0, len(l.batch))
	untyped := false
	for _, sl := range l.batch {
		if sl.bad == nil {
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
		if sl.bad != nil {
			err = l.badRow(sl.bad)
		} else {
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
	l.batch = l.batch[:0]
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
