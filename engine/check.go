package engine

import (
	"context"
	"errors"
	"io"
	"os"

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
	// A decoding error counts as a failed record and is reported with its
	// position; only a recoverable one lets the file go on.
	decodeFailed := func(err error) bool {
		var fe *format.Error
		if !errors.As(err, &fe) {
			return false
		}
		records++
		failed++
		report(RecordError{Source: display, Record: fe.Record, Line: fe.Line, Column: fe.Col, Message: fe.Msg})
		return fe.Recoverable
	}
	dec, err := format.NewDecoder(f, file, lim)
	if err != nil {
		decodeFailed(err)
		return records, failed, err
	}
	v := sch.Validator()
	defer sch.Put(v)
	for {
		if err := ctx.Err(); err != nil {
			return records, failed, err
		}
		rec, err := dec.Next()
		if err == io.EOF {
			return records, failed, nil
		}
		if err != nil {
			if decodeFailed(err) {
				continue
			}
			return records, failed, err
		}
		records++
		_, violations, err := v.CheckContext(ctx, rec.Value, rec.Untyped)
		if err != nil {
			return records, failed, err
		}
		if violations != nil {
			failed++
			for _, e := range recordErrors(display, rec, violations) {
				report(e)
			}
		}
	}
}

// recordErrors positions a record's violations in its source.
func recordErrors(source string, rec format.Record, violations []schema.Violation) []RecordError {
	errs := make([]RecordError, len(violations))
	for i, vi := range violations {
		line, col := rec.Locate(vi.Elems)
		errs[i] = RecordError{Source: source, Record: rec.Index, Line: line, Column: col, Path: vi.Path, Message: vi.Msg, Schema: vi.Schema}
	}
	return errs
}

// DetectFile names a file's format from its name, or else its first bytes.
func DetectFile(path string) (format.Format, error) { return detect(path) }
