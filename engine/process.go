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
func Process(ctx context.Context, name string, in Records, v *schema.Validator, out Sink) (t Tally, err error) {
	var batch []slot
	flush := func() error {
		values := make([]any, 0, len(batch))
		untyped := false
		for _, sl := range batch {
			if sl.bad == nil {
				values = append(values, sl.rec.Value)
				untyped = sl.rec.Untyped
			}
		}
		var verdicts []schema.Result
		if v != nil {
			var err error
			if verdicts, err = v.CheckBatch(ctx, values, untyped); err != nil {
				t.Records += len(batch)
				return err
			}
		}
		k := 0
		for i, sl := range batch {
			t.Records++
			if fe := sl.bad; fe != nil {
				t.Failed++
				var raw any
				if fe.Raw != "" {
					raw = fe.Raw
				}
				if err := out.Reject([]RecordError{{Source: name, Record: fe.Record, Line: fe.Line, Column: fe.Col, Message: fe.Msg}}, fe.Record, fe.Line, raw); err != nil {
					t.Records += len(batch) - i - 1
					return err
				}
				continue
			}
			rec := sl.rec
			verdict := schema.Result{Out: rec.Value}
			if v != nil {
				verdict = verdicts[k]
				k++
			}
			violations := verdict.Violations
			if violations == nil {
				bad := out.Accept(verdict.Out)
				if bad == nil {
					t.OK++
					continue
				}
				var se *SinkError
				if errors.As(bad, &se) {
					t.Records += len(batch) - i - 1
					return bad
				}
				violations = []schema.Violation{{Msg: bad.Error()}}
			}
			t.Failed++
			if err := out.Reject(recordErrors(name, rec, violations), rec.Index, rec.Line, rec.Value); err != nil {
				t.Records += len(batch) - i - 1
				return err
			}
		}
		batch = batch[:0]
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			t.Records += len(batch)
			return t, err
		}
		rec, err := in.Next()
		if err == io.EOF {
			break
		}
		var fe *format.Error
		switch {
		case errors.As(err, &fe) && fe.Recoverable:
			batch = append(batch, slot{bad: fe})
		case err != nil:
			t.Records += len(batch)
			return t, err
		default:
			batch = append(batch, slot{rec: rec})
		}
		if len(batch) == checkBatch {
			if err := flush(); err != nil {
				return t, err
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return t, err
		}
	}
	return t, nil
}
