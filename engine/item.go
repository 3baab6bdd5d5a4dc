package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zpipe/zpipe/format"
)

// itemResult is what one item produced: counts, part files per output and
// for rejects, and the first errors to show.
type itemResult struct {
	records, ok, failed int
	// err is set when the item failed as a whole; its parts are not used.
	err       error
	transient bool
	notRun    bool
	attempts  int
	duration  time.Duration
	parts     []string // per output; "" when the item wrote no record there
	rejects   string
	errs      []RecordError
	// sums, sizes and counts hold each part's sha256, bytes and records,
	// by path.
	sums   map[string]string
	sizes  map[string]int64
	counts map[string]int
	// cutOff is set when the item's last attempt was stopped before its
	// end: it ran out of time or memory.
	cutOff bool
	// upToDate items were not run: the journal has their parts. committed
	// items have moved their parts into the state folder.
	upToDate, committed bool
	entry               *entry
}

func (r *itemResult) failedAny() bool { return r.err != nil || r.failed > 0 }

// tryItem is the Attempt of a stage's Work: it runs the n-th attempt of
// item i, after throwing away what a failed earlier one wrote. A schema
// violation is never worth another attempt; an I/O error or a timeout is.
func (sr *stageRun) tryItem(ctx context.Context, i, n int) (again bool) {
	if n == 1 {
		sr.started[i] = time.Now()
	} else {
		sr.dropParts(&sr.results[i])
	}
	res := sr.attempt(ctx, &sr.items[i], n)
	res.attempts = n
	sr.results[i] = res
	return res.transient && ctx.Err() == nil
}

// finishItem settles item i after its last attempt: an attempt cut off by
// a stop did not fail, and the next run does it; a failed item writes none
// of its records, and says why in the rejects.
func (sr *stageRun) finishItem(ctx context.Context, i int) {
	res, it := &sr.results[i], &sr.items[i]
	if ctx.Err() != nil {
		sr.dropParts(res)
		*res = itemResult{notRun: true}
		return
	}
	res.duration = time.Since(sr.started[i])
	if res.err != nil {
		// None of a failed item's records is written, so none counts as ok.
		res.failed, res.ok = res.records, 0
		sr.discard(res)
		res.parts = nil
		re := sr.itemError(it, res.err)
		var err error
		if res.cutOff {
			// Nothing of the item is written, so every record of it
			// goes to the rejects, with its input, to be run again.
			res.errs = []RecordError{re}
			err = sr.rejectEach(it, res, re)
		} else {
			res.errs = append(res.errs, re)
			err = sr.appendReject(it, res, re)
		}
		if err != nil {
			res.errs = append(res.errs, RecordError{Source: it.Name, Message: "cannot write the rejects part: " + err.Error()})
		}
	}
}

// dropParts removes what an attempt wrote.
func (sr *stageRun) dropParts(res *itemResult) {
	sr.discard(res)
	if res.rejects != "" {
		os.Remove(res.rejects)
		res.rejects = ""
	}
}

func (sr *stageRun) discard(res *itemResult) {
	for i, p := range res.parts {
		if p != "" {
			os.Remove(p)
			res.parts[i] = ""
		}
	}
}

// itemError turns an item failure into a positioned RecordError.
func (sr *stageRun) itemError(it *item, err error) RecordError {
	re := RecordError{Source: it.Name, Message: err.Error()}
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

// attempt is the stage logic for one item: read, decode, check and
// transform each record, and encode it into a part per output.
func (sr *stageRun) attempt(ctx context.Context, it *item, n int) (res itemResult) {
	res.parts = make([]string, len(sr.s.Outputs))
	if it.Err != nil {
		res.err = it.Err
		return res
	}
	if t := sr.s.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	f, err := os.Open(it.file())
	if err != nil {
		res.err, res.transient = err, true
		return res
	}
	defer f.Close()
	in := it.input(f)
	var h hash.Hash
	if it.hashLater {
		h = sha256.New()
		in = io.TeeReader(in, h)
	}
	dec, err := sr.decoder(it, in)
	if err != nil {
		res.err = err
		return res
	}
	if h != nil {
		defer func() {
			// The decoder may stop short of the end; what it left still
			// belongs to the input's hash.
			if res.err == nil {
				if _, err := io.Copy(io.Discard, in); err != nil {
					res.err, res.transient = err, true
					return
				}
				it.fp.Input = hex.EncodeToString(h.Sum(nil))
			}
		}()
	}

	w := &partWriter{sr: sr, it: it, attempt: n, res: &res}
	defer func() {
		if err := w.close(); err != nil && res.err == nil {
			res.err, res.transient = err, true
		}
	}()
	v := sr.schema.Validator()
	defer sr.schema.Put(v)
	flight := &inflight{sr: sr, it: it, v: v, cancel: cancel}
	sr.r.flights.add(flight)
	defer sr.r.flights.remove(flight)
	t, err := Process(ctx, it.Name, dec, v, w)
	res.records, res.ok, res.failed = t.Records, t.OK, t.Failed
	var fe *format.Error
	switch {
	case err == nil:
	case ctx.Err() != nil:
		res.err = ctx.Err()
		if cause := context.Cause(ctx); cause == errOverMemory {
			res.err, res.cutOff = cause, true
		} else if errors.Is(res.err, context.DeadlineExceeded) {
			res.err, res.transient, res.cutOff = fmt.Errorf("timed out after %s", sr.s.Timeout), true, true
		}
	case errors.As(err, &fe):
		res.err = fe // the input is malformed: a retry would read the same
	default:
		// The disk or the evaluator, not the records, failed.
		res.err, res.transient = err, true
	}
	return res
}

// input is the part of the item's file that the item is.
func (it *item) input(f *os.File) io.Reader {
	if it.Chunk != nil {
		return io.NewSectionReader(f, it.Chunk.Offset, it.Chunk.Size)
	}
	return f
}

// decoder reads the item's records from in.
func (sr *stageRun) decoder(it *item, in io.Reader) (format.Decoder, error) {
	if it.Chunk != nil {
		return format.NewChunkDecoder(it.Format, in, it.Chunk.Line, it.Chunk.Record, sr.r.opts.Limits)
	}
	return format.NewDecoder(it.Format, in, sr.r.opts.Limits)
}

// partWriter holds an item's part files, created on the first record that
// goes into each.
type partWriter struct {
	sr      *stageRun
	it      *item
	attempt int
	res     *itemResult
	files   []*os.File
	encs    []*format.Encoder
	rejF    *os.File
	rejEnc  *format.Encoder
	hashes  []partHash
}

// partHash follows a part as it is written, for its journal entry.
type partHash struct {
	path string
	h    hash.Hash
	size *byteCount
	enc  *format.Encoder
}

// byteCount counts what is written through it.
type byteCount int64

func (c *byteCount) Write(p []byte) (int, error) {
	*c += byteCount(len(p))
	return len(p), nil
}

func (w *partWriter) partPath(name string) string {
	return filepath.Join(w.sr.r.tmp, w.sr.n.key+"-"+strconv.Itoa(w.it.index)+"-"+strconv.Itoa(w.attempt)+"-"+name+".part")
}

func (w *partWriter) open(name string, f format.Format, opts format.EncodeOptions) (*os.File, *format.Encoder, error) {
	file, err := os.Create(w.partPath(name))
	if err != nil {
		return nil, nil, err
	}
	h, size := sha256.New(), new(byteCount)
	opts.Part, opts.Columns = true, w.sr.columns
	enc, err := format.NewEncoder(f, io.MultiWriter(file, h, size), opts)
	if err != nil {
		file.Close()
		return nil, nil, err
	}
	w.hashes = append(w.hashes, partHash{file.Name(), h, size, enc})
	return file, enc, nil
}

// accept encodes a record for every output and writes it to all or none, so
// that a record one format cannot hold is rejected rather than half written.
func (w *partWriter) Accept(rec any) error {
	outs := w.sr.s.Outputs
	if w.encs == nil {
		w.encs = make([]*format.Encoder, len(outs))
		w.files = make([]*os.File, len(outs))
	}
	for k, o := range outs {
		if w.encs[k] == nil {
			f, enc, err := w.open(strconv.Itoa(k), o.Format, o.EncodeOptions())
			if err != nil {
				return &SinkError{err}
			}
			w.files[k], w.encs[k] = f, enc
			w.res.parts[k] = f.Name()
		}
		if err := w.encs[k].Prepare(rec); err != nil {
			return fmt.Errorf("cannot be written as %s to %s: %v", o.Format, o.Path, err)
		}
	}
	for _, enc := range w.encs {
		if err := enc.Commit(); err != nil {
			return &SinkError{err}
		}
	}
	return nil
}

// reject writes a rejects line: {source, record, line, errors, input}.
func (w *partWriter) Reject(errs []RecordError, record, line int, input any) error {
	w.res.errs = append(w.res.errs, errs...)
	if w.sr.s.Rejects == "" {
		return nil
	}
	if w.rejEnc == nil {
		f, enc, err := w.open("rejects", format.NDJSON, format.EncodeOptions{})
		if err != nil {
			return err
		}
		w.rejF, w.rejEnc = f, enc
		w.res.rejects = f.Name()
	}
	return w.rejEnc.Encode(rejectEntry(w.it.Name, errs, record, line, input))
}

// appendReject adds the entry for a failed item to its rejects part, after
// the part's writer is closed.
func (sr *stageRun) appendReject(it *item, res *itemResult, re RecordError) error {
	if sr.s.Rejects == "" {
		return nil
	}
	if res.rejects == "" {
		res.rejects = filepath.Join(sr.r.tmp, sr.n.key+"-"+strconv.Itoa(it.index)+"-failed.part")
	}
	f, err := os.OpenFile(res.rejects, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	enc, err := format.NewEncoder(format.NDJSON, f, format.EncodeOptions{Part: true})
	if err == nil {
		err = enc.Encode(rejectEntry(it.Name, []RecordError{re}, re.Record, re.Line, nil))
	}
	if err == nil {
		err = enc.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rejectEach replaces a failed item's rejects part with one entry per
// record of the item, each with its input and the item's error, and counts
// the records as failed. A record the decoder cannot read gets its own
// error, as in a run.
func (sr *stageRun) rejectEach(it *item, res *itemResult, re RecordError) error {
	if res.rejects != "" {
		os.Remove(res.rejects)
		res.rejects = ""
	}
	res.records, res.failed = 0, 0
	if sr.s.Rejects == "" {
		return nil
	}
	f, err := os.Open(it.file())
	if err != nil {
		return err
	}
	defer f.Close()
	dec, err := sr.decoder(it, it.input(f))
	if err != nil {
		return err
	}
	res.rejects = filepath.Join(sr.r.tmp, sr.n.key+"-"+strconv.Itoa(it.index)+"-failed.part")
	out, err := os.Create(res.rejects)
	if err != nil {
		return err
	}
	enc, err := format.NewEncoder(format.NDJSON, out, format.EncodeOptions{Part: true})
	for err == nil {
		rec, derr := dec.Next()
		if derr == io.EOF {
			break
		}
		e := re
		e.Message = "not written: the item " + re.Message
		var fe *format.Error
		switch {
		case errors.As(derr, &fe):
			e = RecordError{Source: it.Name, Record: fe.Record, Line: fe.Line, Column: fe.Col, Message: fe.Msg}
			err = enc.Encode(rejectEntry(it.Name, []RecordError{e}, fe.Record, fe.Line, nil))
			if !fe.Recoverable {
				derr = io.EOF
				break
			}
			res.records++
			res.failed++
		case derr != nil:
			err = derr
		default:
			res.records++
			res.failed++
			e.Record, e.Line, e.Column = rec.Index, rec.Line, rec.Col
			err = enc.Encode(rejectEntry(it.Name, []RecordError{e}, rec.Index, rec.Line, rec.Value))
		}
		if derr == io.EOF {
			break
		}
	}
	if err == nil {
		err = enc.Close()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func rejectEntry(source string, errs []RecordError, record, line int, input any) *format.Object {
	list := make([]any, len(errs))
	for i, e := range errs {
		o := &format.Object{}
		if e.Path != "" {
			o.Set("path", e.Path)
		}
		o.Set("line", format.Number(strconv.Itoa(e.Line)))
		o.Set("column", format.Number(strconv.Itoa(e.Column)))
		o.Set("message", e.Message)
		if e.Schema != "" {
			o.Set("schema", e.Schema)
		}
		o.Set("error", e.Error())
		list[i] = o
	}
	return &format.Object{Fields: []format.Field{
		{Key: "source", Value: source},
		{Key: "record", Value: format.Number(strconv.Itoa(record))},
		{Key: "line", Value: format.Number(strconv.Itoa(line))},
		{Key: "errors", Value: list},
		{Key: "input", Value: input},
	}}
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
	w.res.sums, w.res.sizes, w.res.counts = map[string]string{}, map[string]int64{}, map[string]int{}
	for _, p := range w.hashes {
		w.res.sums[p.path] = hex.EncodeToString(p.h.Sum(nil))
		w.res.sizes[p.path] = int64(*p.size)
		w.res.counts[p.path] = p.enc.Count()
	}
	return first
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
