package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zpipe/zpipe/format"
)

// itemResult is what one item produced: counts, and for an item that ran,
// its output.
type itemResult struct {
	records, ok, failed int
	attempts            int
	duration            time.Duration
	// err is set when the item failed as a whole; its parts are not used.
	err error
	// The flags are side by side, so that a million results are 72 MB
	// rather than 80.
	transient, notRun bool
	// cutOff is set when the item's last attempt was stopped before its
	// end: it ran out of time or memory.
	cutOff bool
	// saving is set when the item's work could not be written: its parts,
	// their pack, or its rejects; saveErr says why when err does not.
	saving bool
	// upToDate items were not run: the journal has their parts. committed
	// items have moved their parts into the state folder.
	upToDate, committed bool
	// journaled is set when the state holds the item's entry; entry is
	// the entry when it does not (its commit failed).
	journaled bool
	// itemOut is set once the item runs: a million up-to-date items
	// held its fields empty, 110 MB. Read its fields only when it is.
	*itemOut
}

// itemOut is what an item that ran left to commit, show or clean up.
type itemOut struct {
	parts   []string // per output; "" when the item wrote no record there
	rejects string
	errs    []RecordError
	// facts are each part's sha256, bytes and records: a slice, not maps,
	// since a run of a million small files holds one result per file.
	facts   []partFact
	saveErr error
	entry   *entry
}

// ran is the item's output, made when it has none yet.
func (r *itemResult) ran() *itemOut {
	if r.itemOut == nil {
		r.itemOut = &itemOut{}
	}
	return r.itemOut
}

// newOut is the output of an attempt of one of the stage's items, with
// no part yet.
func (sr *stageRun) newOut() *itemOut {
	return &itemOut{parts: make([]string, len(sr.s.Outputs))}
}

func (r *itemResult) failedAny() bool { return r.err != nil || r.failed > 0 }

// partFact is what a part in the working folder holds.
type partFact struct {
	path, sum string
	size      int64
	records   int
}

// fact is what the part at path holds, as its report said.
func (r *itemResult) fact(path string) partFact {
	for _, f := range r.facts {
		if f.path == path {
			return f
		}
	}
	return partFact{}
}

// tryItem is the Attempt of a stage's Work: it runs the n-th attempt of
// item i here, with the stage's ItemFunc, after throwing away what a
// failed earlier one wrote. A schema violation is never worth another
// attempt; an I/O error or a timeout is.
func (sr *stageRun) tryItem(ctx context.Context, i, n int) (again bool) {
	it := &sr.items[i]
	sr.begin(i, n)
	if it.Err != nil {
		sr.results[i] = itemResult{err: it.Err, attempts: n, itemOut: sr.newOut()}
		return false
	}
	in, err := sr.open(it)
	if err != nil {
		sr.results[i] = itemResult{err: err, transient: true, attempts: n, itemOut: sr.newOut()}
		return ctx.Err() == nil
	}
	defer in.Close()
	store := sr.partDir(i, n)
	sr.take(i, n, sr.fn.Run(ctx, sr.job(i, n), in, store), store.path)
	return sr.results[i].transient && ctx.Err() == nil
}

// recordRemote is the Record of a stage's Work: it takes attempt n of
// item i, made elsewhere, copying its parts into the working folder and
// checking each against the sum and size the report gives.
func (sr *stageRun) recordRemote(i, n int, rep Report, src PartSource) (again bool, err error) {
	sr.begin(i, n)
	store := sr.partDir(i, n)
	for k := range rep.Parts {
		if err := fetchPart(&rep.Parts[k], src, store.path(rep.Parts[k].Name)); err != nil {
			sr.results[i] = itemResult{err: err, transient: true, attempts: n, itemOut: sr.newOut(), saving: isSaving(err)}
			for _, p := range rep.Parts[:k+1] {
				os.Remove(store.path(p.Name))
			}
			return true, err
		}
	}
	sr.take(i, n, rep, store.path)
	return sr.results[i].transient, nil
}

// fetchPart copies a part from src to path, and fails unless it holds the
// bytes the part says.
func fetchPart(p *Part, src PartSource, path string) error {
	r, err := src(p.Name)
	if err != nil {
		return fmt.Errorf("fetching part %s: %w", p.Name, err)
	}
	defer r.Close()
	file, err := os.Create(path)
	if err != nil {
		return &saveError{err}
	}
	f := savingWriter{file} // the disk's errors, told from the source's
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("fetching part %s: %w", p.Name, err)
	case n != p.Size || hex.EncodeToString(h.Sum(nil)) != p.SHA256:
		return fmt.Errorf("part %s does not hold what its report says (%d bytes, want %d)", p.Name, n, p.Size)
	}
	return nil
}

// begin readies item i for attempt n: the first starts its clock, a later
// one throws away what the one before wrote.
func (sr *stageRun) begin(i, n int) {
	if n == 1 {
		sr.started[sr.slot(i)] = time.Since(sr.epoch)
	} else {
		sr.dropParts(&sr.results[i])
	}
}

// job is attempt n of item i, as the item function sees it.
func (sr *stageRun) job(i, n int) Job {
	it := &sr.items[i]
	return Job{Item: i, Key: it.Key, Name: it.Name, Format: it.Format, Chunk: it.Chunk, Size: it.Size, Attempt: n, HashInput: it.hashLater}
}

// take makes an attempt's report item i's result; path says where each
// part is in the working folder.
func (sr *stageRun) take(i, n int, rep Report, path func(name string) string) {
	res := itemResult{records: rep.Records, ok: rep.OK, failed: rep.Failed, attempts: n, itemOut: sr.newOut()}
	res.errs, res.facts = rep.Errors, make([]partFact, 0, len(rep.Parts))
	for _, p := range rep.Parts {
		file := path(p.Name)
		if p.Output < 0 {
			res.rejects = file
		} else if p.Output < len(res.parts) {
			res.parts[p.Output] = file
		}
		res.facts = append(res.facts, partFact{path: file, sum: p.SHA256, size: p.Size, records: p.Records})
	}
	if f := rep.Failure; f != nil {
		res.err, res.transient, res.cutOff, res.saving = f, f.Transient, f.CutOff, f.Saving
	} else if it := &sr.items[i]; it.hashLater && rep.InputSHA256 != "" {
		it.fp = withInput(it.fp, rep.InputSHA256)
	}
	sr.results[i] = res
}

// partDir is the PartStore of attempt n of item i: files in the run's
// working folder, named by the item's place in the whole stage.
func (sr *stageRun) partDir(i, n int) partDir {
	return partDir{dir: sr.r.tmp, prefix: sr.n.key + "-" + strconv.Itoa(sr.items[i].index) + "-" + strconv.Itoa(n) + "-", temps: sr.r.temps}
}

type partDir struct {
	dir, prefix string
	temps       *tempParts
}

func (d partDir) path(name string) string { return filepath.Join(d.dir, d.prefix+name+".part") }

func (d partDir) Create(name string) (io.WriteCloser, error) {
	return d.temps.create(d.path(name)), nil
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
	res.duration = time.Since(sr.epoch) - sr.started[sr.slot(i)]
	if res.err != nil {
		// None of a failed item's records is written, so none counts as ok.
		res.failed, res.ok = res.records, 0
		sr.discard(res)
		res.parts = nil
		re := failureAt(it.Name, res.err)
		var err error
		if res.cutOff {
			// Nothing of the item is written, so every record of it
			// goes to the rejects, with its input, to be run again.
			res.errs = []RecordError{re}
			err = sr.rejectEach(it, res, re)
		} else {
			// First: why the whole item failed is shown before its
			// records' errors, which the cap on shown errors may hide.
			res.errs = append([]RecordError{re}, res.errs...)
			err = sr.appendReject(it, res, re)
		}
		if isSaving(err) {
			// The rejects would miss records: the disk's fault, as
			// for the parts, so the stage keeps what it has.
			res.saving, res.saveErr = true, fmt.Errorf("writing the rejects part: %w", err)
		}
		if err != nil {
			res.errs = append(res.errs, RecordError{Source: it.Name, Message: "cannot write the rejects part: " + err.Error()})
		}
	}
}

// dropParts removes what an attempt wrote.
func (sr *stageRun) dropParts(res *itemResult) {
	sr.discard(res)
	if res.itemOut != nil && res.rejects != "" {
		sr.r.temps.remove(res.rejects)
		res.rejects = ""
	}
}

func (sr *stageRun) discard(res *itemResult) {
	if res.itemOut == nil {
		return
	}
	for i, p := range res.parts {
		if p != "" {
			sr.r.temps.remove(p)
			res.parts[i] = ""
		}
	}
}

// open opens the item's input: what its Source opens, or its file, or
// the chunk of it the item is.
func (sr *stageRun) open(it *item) (io.ReadCloser, error) {
	if it.Open != nil {
		return it.Open()
	}
	if it.Chunk == nil && it.Size > 0 && it.Size <= smallFile {
		return openSmall(it.Path, it.Size)
	}
	return OpenChunk(it.Path, it.Chunk)
}

// appendReject adds the entry for a failed item to its rejects part, after
// the part's writer is closed.
func (sr *stageRun) appendReject(it *item, res *itemResult, re RecordError) (err error) {
	if sr.s.Rejects == "" {
		return nil
	}
	defer func() {
		if err != nil {
			err = &saveError{err} // every step writes
		}
	}()
	if res.rejects == "" {
		res.rejects = filepath.Join(sr.r.tmp, sr.n.key+"-"+strconv.Itoa(it.index)+"-failed.part")
	} else if err := sr.r.temps.toFile(res.rejects); err != nil {
		return err
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
		sr.r.temps.remove(res.rejects)
		res.rejects = ""
	}
	res.records, res.failed = 0, 0
	if sr.s.Rejects == "" {
		return nil
	}
	in, err := sr.open(it)
	if err != nil {
		return err
	}
	defer in.Close()
	dec, closeDec, err := sr.fn.decoder(it.Format, it.Chunk, in)
	if err != nil {
		return err
	}
	defer closeDec()
	res.rejects = filepath.Join(sr.r.tmp, sr.n.key+"-"+strconv.Itoa(it.index)+"-failed.part")
	file, err := os.Create(res.rejects)
	if err != nil {
		return &saveError{err}
	}
	out := savingWriter{file} // its errors are the disk's; the input's are not
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

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
