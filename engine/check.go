package engine

import (
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"slices"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// CheckFile validates every record of one file against a schema, as cue vet
// does but record by record, and reports each failure. It writes nothing.
// The error is for a file that cannot be read or parsed to the end; records
// before that point are still checked.
func CheckFile(ctx context.Context, sch *schema.Schema, path, display string, f format.Format, lim format.Limits, report func(RecordError)) (records, failed int, err error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer file.Close()
	return Check(ctx, sch, file, display, f, lim, report)
}

// Check is CheckFile for records read from r, such as standard input;
// display names r in messages.
func Check(ctx context.Context, sch *schema.Schema, r io.Reader, display string, f format.Format, lim format.Limits, report func(RecordError)) (records, failed int, err error) {
	rc, _, err := format.Decompress(ctxReader{ctx, r})
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	dec, err := format.NewDecoder(f, rc, lim)
	if err == nil {
		dec = emptyDocument(f, dec)
		v := sch.Validator()
		defer sch.Put(v)
		var t Tally
		t, err = Process(ctx, display, dec, v, reporter(report))
		records, failed = t.Records, t.Failed
	}
	// A decoding error that ends the file counts as a failed record, and
	// is reported with its position.
	var fe *format.Error
	if errors.As(err, &fe) {
		records++
		failed++
		report(RecordError{Source: display, Record: fe.Record, Line: fe.Line, Column: fe.Col, Message: fe.Msg})
	}
	return records, failed, err
}

// reporter is the sink of a check: valid records go nowhere, and each
// error of an invalid one is reported.
type reporter func(RecordError)

func (r reporter) Accept(any) error { return nil }

// TakesLines is true: a check writes nothing.
func (r reporter) TakesLines() bool { return true }

func (r reporter) AcceptLine([]byte) error { return nil }

func (r reporter) Reject(errs []RecordError, _, _ int, _ any) error {
	for _, e := range errs {
		r(e)
	}
	return nil
}

// recordErrors positions a record's violations in its source.
func recordErrors(source string, rec format.Record, violations []schema.Violation) []RecordError {
	errs := make([]RecordError, len(violations))
	paths := make([][]string, len(violations))
	for i, vi := range violations {
		paths[i] = vi.Elems
	}
	at := rec.LocateAll(paths)
	for i, vi := range violations {
		errs[i] = RecordError{Source: source, Record: rec.Index, Line: at[i][0], Column: at[i][1], Path: vi.Path, Message: vi.Msg, Schema: vi.Schema}
	}
	// As they are written: the schema's order follows the record's
	// values, but a TOML table defined in two places, or a csv cell left
	// empty, is not where the value's place among its siblings says.
	// Errors at one place keep theirs, and a transform's, which are of
	// its output, all do.
	if len(violations) > 1 && !violations[0].Transform {
		slices.SortStableFunc(errs, func(a, b RecordError) int {
			return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
		})
	}
	return errs
}

// DetectFile names a file's format from its name, or else its first bytes.
func DetectFile(path string) (format.Format, error) { return detect(path, path) }
