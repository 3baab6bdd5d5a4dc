package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/pipeline"
	"github.com/zpipe/zpipe/schema"
)

// ItemFunc is a stage made ready to run items: the one per-item function,
// decode → check → transform → encode parts, that every executor calls,
// in this process or on a worker elsewhere. It knows the stage and
// nothing of the run: not the journal, the schedule, nor where the parts
// go.
type ItemFunc struct {
	stage   *pipeline.Stage
	schema  *schema.Schema
	columns []string
	limits  format.Limits
	owned   bool
	// watch, when set, follows an item's evaluation for the memory
	// watchdog, until the func it returns is called.
	watch func(job *Job, v *schema.Validator, cancel context.CancelCauseFunc) func()
}

// NewItemFunc compiles stage s of manifest m, as a worker does before it
// runs the stage's items. ctx bounds the compile: when it ends, the
// evaluator's process that tries the schema first is killed. Close it
// when done.
func NewItemFunc(ctx context.Context, m *pipeline.Manifest, s *pipeline.Stage, limits format.Limits) (*ItemFunc, error) {
	sch, err := m.LoadSchema(s.Schema, s.Transform, schema.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	f := newItemFunc(s, sch, limits)
	f.owned = true
	return f, nil
}

func newItemFunc(s *pipeline.Stage, sch *schema.Schema, limits format.Limits) *ItemFunc {
	limits.Whole = s.Source.Whole
	return &ItemFunc{stage: s, schema: sch, columns: sch.Columns(), limits: limits}
}

// Ref names the stage, of manifest m, as Work.Stage does, so that a worker
// can check that it runs the stage the coordinator means.
func (f *ItemFunc) Ref(m *pipeline.Manifest) StageRef {
	return StageRef{Manifest: m.File, ManifestSHA256: m.Sum, Pipeline: m.Name, Stage: f.stage.Name, Priority: f.stage.Priority,
		SchemaSHA256: f.schema.SchemaSum(), TransformSHA256: f.schema.TransformSum(), SettingsSHA256: f.settingsSum()}
}

// settingsSum hashes what, besides the input and the schema, decides the
// bytes an item writes. Parallelism, retries and timeouts do not.
func (f *ItemFunc) settingsSum() string {
	// The outputs are summed as they were before pipeline.Output had
	// json tags, so that a journal's items stay up to date.
	type outputSum struct {
		Format format.Format
		Path   string
		Indent int   `json:",omitempty"`
		Pretty *bool `json:",omitempty"`
	}
	var outputs []outputSum // null for none, [] for an empty list, as before
	if f.stage.Outputs != nil {
		outputs = make([]outputSum, 0, len(f.stage.Outputs))
	}
	for _, o := range f.stage.Outputs {
		outputs = append(outputs, outputSum(o))
	}
	b, _ := json.Marshal(struct {
		Format  string
		Outputs any
		Rejects bool
		Columns []string
		Limits  any
	}{string(f.stage.Source.Format), outputs, f.stage.Rejects != "", f.columns, f.limits})
	return hashString(string(b))
}

// Close ends the CUE evaluators of an ItemFunc made by NewItemFunc.
func (f *ItemFunc) Close() {
	if f.owned {
		f.schema.Close()
	}
}

// Run runs one attempt at an item: it reads the input, checks and
// transforms each record, and writes a part per output, and one for the
// rejects, into parts. A schema violation rejects a record; a malformed
// input, a timeout, or a failing disk or evaluator fails the item, and
// the Report says whether another attempt may mend that.
func (f *ItemFunc) Run(ctx context.Context, job Job, in io.Reader, parts PartStore) (rep Report) {
	var failed error
	var transient, cutOff bool
	defer func() {
		if failed != nil {
			rep.Failure = &Failure{At: failureAt(job.Name, failed), Text: failed.Error(), Transient: transient, CutOff: cutOff,
				Saving: isSaving(failed)}
		}
	}()
	if t := f.stage.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var h hash.Hash
	if job.HashInput {
		h = sha256.New()
		in = io.TeeReader(in, h)
	}
	dec, closeDec, err := f.decoder(job.Format, job.Chunk, in)
	if err != nil {
		failed = err
		return rep
	}
	defer closeDec()
	if h != nil {
		defer func() {
			// The decoder may stop short of the end; what it left still
			// belongs to the input's hash.
			if failed == nil {
				if _, err := io.Copy(io.Discard, in); err != nil {
					failed, transient = err, true
					return
				}
				rep.InputSHA256 = hex.EncodeToString(h.Sum(nil))
			}
		}()
	}
	w := &partWriter{f: f, job: &job, store: parts, rep: &rep}
	defer func() {
		if err := w.close(); err != nil && failed == nil {
			failed, transient = err, true
		}
	}()
	v := f.schema.Validator()
	defer f.schema.Put(v)
	if f.watch != nil {
		defer f.watch(&job, v, cancel)()
	}
	t, err := Process(ctx, job.Name, dec, v, w)
	rep.Records, rep.OK, rep.Failed = t.Records, t.OK, t.Failed
	var fe *format.Error
	var ce *format.CorruptError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		failed = ctx.Err()
		if cause := context.Cause(ctx); cause == errOverMemory {
			failed, cutOff = cause, true
		} else if errors.Is(failed, context.DeadlineExceeded) {
			failed, transient, cutOff = fmt.Errorf("timed out after %s", f.stage.Timeout), true, true
		}
	case errors.As(err, &fe):
		failed = fe // the input is malformed: a retry would read the same
	case errors.As(err, &ce):
		failed = ce // and so is broken compressed data
	default:
		// The disk or the evaluator, not the records, failed.
		failed, transient = err, true
	}
	return rep
}

// failureAt turns an item's failure into a positioned RecordError.
func failureAt(source string, err error) RecordError {
	var f *Failure
	if errors.As(err, &f) {
		return f.At
	}
	re := RecordError{Source: source, Message: err.Error()}
	var fe *format.Error
	if errors.As(err, &fe) {
		re.Record, re.Line, re.Column, re.Message = fe.Record, fe.Line, fe.Col, fe.Msg
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		re.Message = pe.Op + ": " + pe.Err.Error()
	}
	return re
}

// decoder reads an item's records from in, as the stage says: a whole
// file is decompressed first (a chunk never is: compressed files are not
// split), and whole: true keeps a json array one record. Its close ends
// the decompression.
func (f *ItemFunc) decoder(ft format.Format, c *format.Chunk, in io.Reader) (format.Decoder, func(), error) {
	closer := func() {}
	if c == nil {
		rc, _, err := format.Decompress(in)
		if err != nil {
			return nil, nil, err
		}
		in, closer = rc, func() { rc.Close() }
	}
	dec, err := newItemDecoder(ft, c, in, f.limits)
	if err != nil {
		closer()
		return nil, nil, err
	}
	return dec, closer, nil
}

// newItemDecoder reads an item's records from in: a chunk's positions
// count from its first line and record.
func newItemDecoder(f format.Format, c *format.Chunk, in io.Reader, lim format.Limits) (format.Decoder, error) {
	if c != nil {
		return format.NewChunkDecoder(f, in, *c, lim)
	}
	dec, err := format.NewDecoder(f, in, lim)
	if err != nil {
		return nil, err
	}
	return emptyDocument(f, dec), nil
}

// partWriter holds an attempt's parts, each created on the first record
// that goes into it.
type partWriter struct {
	f      *ItemFunc
	job    *Job
	store  PartStore
	rep    *Report
	files  []io.WriteCloser
	encs   []*format.Encoder
	rejF   io.WriteCloser
	rejEnc *format.Encoder
	hashes []partHash
}

// partHash follows a part as it is written, for its Part.
type partHash struct {
	output int
	name   string
	h      hash.Hash
	size   *byteCount
	enc    *format.Encoder
}

// byteCount counts what is written through it.
type byteCount int64

func (c *byteCount) Write(p []byte) (int, error) {
	*c += byteCount(len(p))
	return len(p), nil
}

func (w *partWriter) open(output int, name string, f format.Format, opts format.EncodeOptions) (io.WriteCloser, *format.Encoder, error) {
	created, err := w.store.Create(name)
	if err != nil {
		return nil, nil, &saveError{err}
	}
	file := savingWriter{created}
	h, size := sha256.New(), new(byteCount)
	opts.Part, opts.Columns = true, w.f.columns
	enc, err := format.NewEncoder(f, io.MultiWriter(file, h, size), opts)
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	w.hashes = append(w.hashes, partHash{output, name, h, size, enc})
	return file, enc, nil
}

// saveError is a failure to write a part: of the place the work is kept,
// not of the input.
type saveError struct{ err error }

func (e *saveError) Error() string { return e.err.Error() }
func (e *saveError) Unwrap() error { return e.err }

// isSaving reports whether err is a failure to write the item's work.
func isSaving(err error) bool {
	var se *saveError
	return errors.As(err, &se)
}

// savingWriter marks the errors of a part's writer as saveErrors.
type savingWriter struct{ w io.WriteCloser }

func (s savingWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil {
		err = &saveError{err}
	}
	return n, err
}

func (s savingWriter) Close() error {
	if err := s.w.Close(); err != nil {
		return &saveError{err}
	}
	return nil
}

// Accept encodes a record for every output and writes it to all or none,
// so that a record one format cannot hold is rejected rather than half
// written.
func (w *partWriter) Accept(rec any) error {
	if err := w.openParts(); err != nil {
		return err
	}
	for k, o := range w.f.stage.Outputs {
		if err := w.encs[k].Prepare(rec); err != nil {
			return fmt.Errorf("cannot be written as %s to %s: %v", o.Format, o.Path, err)
		}
	}
	return w.commit()
}

// TakesLines reports whether every output is ndjson, which AcceptLine
// writes.
func (w *partWriter) TakesLines() bool {
	for _, o := range w.f.stage.Outputs {
		if o.Format != format.NDJSON {
			return false
		}
	}
	return true
}

// AcceptLine is Accept for a record given as its compact JSON.
func (w *partWriter) AcceptLine(json []byte) error {
	if err := w.openParts(); err != nil {
		return err
	}
	for _, enc := range w.encs {
		enc.PrepareLine(json)
	}
	return w.commit()
}

// openParts creates the parts of the outputs, on the first record.
func (w *partWriter) openParts() error {
	outs := w.f.stage.Outputs
	if w.encs != nil {
		return nil
	}
	w.encs = make([]*format.Encoder, len(outs))
	w.files = make([]io.WriteCloser, len(outs))
	for k, o := range outs {
		f, enc, err := w.open(k, strconv.Itoa(k), o.Format, o.EncodeOptions())
		if err != nil {
			return &SinkError{err}
		}
		w.files[k], w.encs[k] = f, enc
	}
	return nil
}

// commit writes the record every output prepared.
func (w *partWriter) commit() error {
	for _, enc := range w.encs {
		if err := enc.Commit(); err != nil {
			return &SinkError{err}
		}
	}
	return nil
}

// Reject writes a rejects line: {source, record, line, errors, input}.
func (w *partWriter) Reject(errs []RecordError, record, line int, input any) error {
	w.rep.Errors = append(w.rep.Errors, errs...)
	if w.f.stage.Rejects == "" {
		return nil
	}
	if w.rejEnc == nil {
		f, enc, err := w.open(-1, "rejects", format.NDJSON, format.EncodeOptions{})
		if err != nil {
			return err
		}
		w.rejF, w.rejEnc = f, enc
	}
	return w.rejEnc.Encode(rejectEntry(w.job.Name, errs, record, line, input))
}

func (w *partWriter) close() error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for k, enc := range w.encs {
		if enc != nil {
			keep(enc.Close())
			keep(w.files[k].Close())
		}
	}
	if w.rejEnc != nil {
		keep(w.rejEnc.Close())
		keep(w.rejF.Close())
	}
	for _, p := range w.hashes {
		w.rep.Parts = append(w.rep.Parts, Part{Output: p.output, Name: p.name, SHA256: hex.EncodeToString(p.h.Sum(nil)), Size: int64(*p.size), Records: p.enc.Count()})
	}
	return first
}
