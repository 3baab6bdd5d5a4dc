package batch

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// Operation is what a Batch does to each of its items.
type Operation int

// The batch operations.
const (
	// OpParse decodes input bytes into records, checking them against the
	// schema when there is one.
	OpParse Operation = iota + 1
	// OpFormat encodes Go values into a format.
	OpFormat
	// OpConvert decodes input bytes, checks the records against the schema
	// when there is one, and encodes them into another format.
	OpConvert
)

// String returns the operation's name: parse, format or convert.
func (o Operation) String() string {
	switch o {
	case OpParse:
		return "parse"
	case OpFormat:
		return "format"
	case OpConvert:
		return "convert"
	}
	return fmt.Sprintf("Operation(%d)", int(o))
}

// Batch runs one operation over many in-memory items on a bounded pool of
// goroutines. Items are added with Add (Parse), AddValues (Format) or
// AddConversion (Convert), then run with Execute. A Batch may be used from
// several goroutines; distinct batches share nothing.
type Batch struct {
	op              Operation
	parallel        int
	onProgress      func(engine.Progress)
	onItemComplete  func(ItemResult)
	continueOnError bool
	provenance      bool
	maxMemory       int64
	throttle        time.Duration
	detailed        bool
	schema          *schema.Schema
	encode          *format.EncodeOptions

	// trace, for tests, sees an item wait for memory or the throttle and
	// start, with the input bytes in flight.
	trace func(event, id string, inFlight int64)

	mu      sync.Mutex
	items   []*batchItem
	ids     map[string]bool
	running bool
}

type batchItem struct {
	pos      int // index in the batch, the order of results
	id       string
	from, to format.Format
	input    []byte
	values   []any // Format items
	source   func(context.Context) ([]byte, error)
	schema   *schema.Schema
	encode   *format.EncodeOptions
	priority int
}

// NewBatch returns an empty batch for op.
func NewBatch(op Operation, opts ...BatchOption) (*Batch, error) {
	if op < OpParse || op > OpConvert {
		return nil, fmt.Errorf("unknown operation %d", int(op))
	}
	b := &Batch{op: op, parallel: runtime.GOMAXPROCS(0), continueOnError: true, detailed: true, ids: map[string]bool{}}
	for _, o := range opts {
		if err := o.applyBatch(b); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// NewParser returns a Parse batch.
func NewParser(opts ...BatchOption) (*Batch, error) { return NewBatch(OpParse, opts...) }

// NewFormatter returns a Format batch.
func NewFormatter(opts ...BatchOption) (*Batch, error) { return NewBatch(OpFormat, opts...) }

// NewConverter returns a Convert batch.
func NewConverter(opts ...BatchOption) (*Batch, error) { return NewBatch(OpConvert, opts...) }

// Add adds an item to a Parse batch: input holds records in format f.
// Inputs are bytes rather than readers so that an item can be weighed,
// hashed and run again by Retry.
func (b *Batch) Add(id string, input []byte, f format.Format, opts ...ItemOption) error {
	return b.add(OpParse, &batchItem{id: id, from: f, input: input}, opts)
}

// AddConversion adds an item to a Convert batch: input holds records in
// format from, to be written in format to.
func (b *Batch) AddConversion(id string, input []byte, from, to format.Format, opts ...ItemOption) error {
	return b.add(OpConvert, &batchItem{id: id, from: from, to: to, input: input}, opts)
}

// AddValues adds an item to a Format batch: each value is one record,
// written as format to. Values may be record values (*format.Object,
// format.Number, ...) or ordinary Go values, as format.Normalize takes.
func (b *Batch) AddValues(id string, values []any, to format.Format, opts ...ItemOption) error {
	it := &batchItem{id: id, to: to, values: make([]any, len(values))}
	for i, v := range values {
		n, err := format.Normalize(v)
		if err != nil {
			return fmt.Errorf("item %q: value %d: %w", id, i+1, err)
		}
		it.values[i] = n
	}
	return b.add(OpFormat, it, opts)
}

func (b *Batch) add(op Operation, it *batchItem, opts []ItemOption) error {
	if op != b.op {
		return fmt.Errorf("cannot add a %s item to a %s batch", op, b.op)
	}
	for _, o := range opts {
		o.applyItem(it)
	}
	if it.id == "" {
		return errors.New("item id is empty")
	}
	formats := []format.Format{it.from, it.to}
	switch op {
	case OpParse:
		formats = formats[:1]
	case OpFormat:
		formats = formats[1:]
	}
	for _, f := range formats {
		if _, err := format.Parse(string(f)); err != nil {
			return fmt.Errorf("item %q: %w", it.id, err)
		}
	}
	if it.source != nil && (it.input != nil || op == OpFormat) {
		return fmt.Errorf("item %q: WithSource replaces the input bytes; pass nil input", it.id)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.running:
		return fmt.Errorf("cannot add item %q while the batch runs", it.id)
	case b.ids[it.id]:
		return fmt.Errorf("duplicate item id %q", it.id)
	}
	b.ids[it.id] = true
	it.pos = len(b.items)
	b.items = append(b.items, it)
	return nil
}

// Reset forgets the items so that the batch can be used again. A run in
// progress keeps the items it started with.
func (b *Batch) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items, b.ids = nil, map[string]bool{}
}

// Execute runs every item and returns their results in the order they were
// added. Items start as goroutines free up, so a slow item holds up no
// other. Failed items are in the summary, not the error; cancelling ctx
// stops starting items and returns ctx.Err() with the partial summary.
func (b *Batch) Execute(ctx context.Context) (BatchSummary, error) {
	items, err := b.begin()
	if err != nil {
		return BatchSummary{}, err
	}
	defer b.end()
	start := time.Now()
	outs := b.run(ctx, items)
	sum := BatchSummary{Items: make([]ItemResult, len(outs))}
	var provs []engine.ItemProvenance
	for i, o := range outs {
		sum.Items[i] = o.res
		provs = append(provs, o.prov)
	}
	sum.finish(b, start, time.Since(start), provs)
	return sum, ctx.Err()
}

func (b *Batch) begin() ([]*batchItem, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running {
		return nil, errors.New("the batch is already running")
	}
	b.running = true
	return slices.Clone(b.items), nil
}

func (b *Batch) end() {
	b.mu.Lock()
	b.running = false
	b.mu.Unlock()
}

// finish counts the items and, with IncludeProvenance, records provs.
func (s *BatchSummary) finish(b *Batch, start time.Time, took time.Duration, provs []engine.ItemProvenance) {
	s.Total, s.Successful, s.Failed, s.Skipped = len(s.Items), 0, 0, 0
	var ran time.Duration
	for _, r := range s.Items {
		switch {
		case r.Skipped:
			s.Skipped++
		case r.Error != "":
			s.Failed++
		default:
			s.Successful++
		}
		if !r.Skipped {
			ran += r.Duration
		}
	}
	if n := s.Total - s.Skipped; n > 0 {
		s.AverageDuration = ran / time.Duration(n)
	}
	s.TotalDuration = took
	if !b.provenance {
		return
	}
	if provs == nil {
		provs = []engine.ItemProvenance{}
	}
	formats := map[string]bool{}
	for _, p := range provs {
		formats[p.SourceFormat] = true
		for _, o := range p.Outputs {
			formats[o.Format] = true
		}
	}
	delete(formats, "")
	s.Provenance = &BatchProvenance{
		ID: newBatchID(), Version: engine.Version(), Operation: b.op.String(), Start: start, End: time.Now(),
		Parallel: b.parallel, Formats: slices.Sorted(maps.Keys(formats)), ProcessingNS: int64(ran),
		Total: s.Total, Successful: s.Successful, Failed: s.Failed, Skipped: s.Skipped, Items: provs,
	}
}

func newBatchID() string {
	var id [8]byte
	rand.Read(id[:])
	return hex.EncodeToString(id[:])
}

// run runs items and returns their outcomes in the same order. The local
// executor bounds them, as it bounds a stage's: reading an item's input
// from WithSource is what tells its weight for the memory gate.
func (b *Batch) run(ctx context.Context, items []*batchItem) []batchOutcome {
	outs := make([]batchOutcome, len(items))
	var (
		mu                 sync.Mutex // serialises the callbacks
		completed, records int
		failed             int
		stopOnce           sync.Once
	)
	stop := make(chan struct{})
	emit := func(p engine.Progress) {
		if b.onProgress != nil {
			p.Name, p.Total, p.Records, p.Failed, p.Time = b.op.String(), len(items), records, failed, time.Now()
			b.onProgress(p)
		}
	}
	emit(engine.Progress{Type: engine.ProgressStart})
	w := &engine.Work{Parallel: b.parallel, Stop: stop}
	if b.maxMemory > 0 {
		w.Gate = engine.NewGate(b.maxMemory)
	}
	if b.throttle > 0 {
		w.Limiter = rate.NewLimiter(rate.Every(b.throttle), 1)
	}
	for i := range items {
		w.Items = append(w.Items, i)
	}
	slices.SortStableFunc(w.Items, func(i, j int) int { return cmp.Compare(items[j].priority, items[i].priority) })
	inputs := make([][]byte, len(items))
	w.Weight = func(i int) int64 {
		outs[i] = b.open(ctx, items[i], &inputs[i])
		return int64(len(inputs[i]))
	}
	w.Waiting = func(i int, what string) {
		if b.trace != nil {
			b.trace(map[string]string{"memory": "wait", "pace": "throttle"}[what], items[i].id, w.Gate.Held())
		}
	}
	w.Attempt = func(ctx context.Context, i, _ int) bool {
		if w.Gate == nil {
			outs[i] = b.open(ctx, items[i], &inputs[i])
		}
		if outs[i].res.Error == "" {
			if b.trace != nil {
				b.trace("start", items[i].id, w.Gate.Held())
			}
			outs[i] = b.attempt(ctx, items[i], inputs[i], outs[i])
		}
		return false
	}
	finish := func(i int) {
		o := &outs[i]
		o.prov.Attempts = o.res.Attempts
		if o.res.Error != "" && !o.res.Skipped && !b.continueOnError {
			stopOnce.Do(func() { close(stop) })
		}
		mu.Lock()
		defer mu.Unlock()
		completed++
		records += o.records
		failed += o.failed
		pct := engine.Percent(completed, len(items))
		emit(engine.Progress{Type: engine.ProgressUpdate, Completed: completed, Percentage: pct})
		emit(engine.Progress{Type: engine.ProgressItemComplete, Item: o.res.ID, Error: o.res.Error, Completed: completed, Percentage: pct})
		if b.onItemComplete != nil {
			b.onItemComplete(o.res)
		}
	}
	w.Done = finish
	w.Skipped = func(i int) {
		why := "an earlier item failed"
		if err := ctx.Err(); err != nil {
			why = err.Error()
		}
		outs[i] = b.skip(b.outcome(items[i]), why)
		finish(i)
	}
	engine.LocalPool{}.Execute(ctx, w)
	emit(engine.Progress{Type: engine.ProgressComplete, Completed: completed, Percentage: engine.Percent(completed, len(items))})
	return outs
}

// outcome is an item's result before it runs.
func (b *Batch) outcome(it *batchItem) (o batchOutcome) {
	o.res = ItemResult{ID: it.id, Operation: b.op, From: it.from, To: it.to}
	o.prov = engine.ItemProvenance{ID: it.id, SourceFormat: string(it.from), Time: time.Now()}
	if b.op == OpFormat {
		o.prov.SourceFormat = "values"
	}
	if sch := b.schemaOf(it); sch != nil && b.provenance {
		spec := sch.Spec()
		// The hash of the definition, as a stage's provenance has it: two
		// definitions of one file are two schemas.
		o.prov.Schema = &engine.SchemaProvenance{Path: spec.File, Definition: spec.Def, SHA256: sch.SchemaSum()}
	}
	return o
}

func (b *Batch) schemaOf(it *batchItem) *schema.Schema {
	if it.schema != nil {
		return it.schema
	}
	return b.schema
}

// skip marks an item skipped: not run, and not failed.
func (b *Batch) skip(o batchOutcome, why string) batchOutcome {
	o.res.Skipped, o.res.Error, o.prov.Error = true, "skipped: "+why, "skipped: "+why
	o.res.Records, o.res.Output, o.res.Errors = nil, nil, nil
	return o
}

// open reads an item's input into data, from WithSource when it has one;
// an input that cannot be read fails the item.
func (b *Batch) open(ctx context.Context, it *batchItem, data *[]byte) batchOutcome {
	o := b.outcome(it)
	*data = it.input
	if it.source == nil {
		return o
	}
	var err error
	if *data, err = it.source(ctx); err != nil {
		if ctx.Err() != nil {
			return b.skip(o, ctx.Err().Error())
		}
		o.res.Attempts = 1
		return b.fail(o, []engine.RecordError{{Source: it.id, Message: err.Error()}})
	}
	return o
}

// attempt runs one item on its input.
func (b *Batch) attempt(ctx context.Context, it *batchItem, data []byte, o batchOutcome) batchOutcome {
	start := time.Now()
	o.prov.Time = start
	o.res.Attempts = 1
	o, err := b.process(ctx, it, b.schemaOf(it), data, o)
	if err != nil {
		// Cut short by the cancel, not failed: Retry runs it again.
		return b.skip(o, err.Error())
	}
	o.res.Duration = time.Since(start)
	o.prov.DurationNS = int64(o.res.Duration)
	if b.provenance {
		if b.op == OpFormat {
			data = batchNDJSON(it.values)
		}
		o.prov.InputSHA256 = batchSHA256(data)
		if o.res.Output != nil {
			o.prov.Outputs = []engine.OutputProvenance{{Format: string(it.to), SHA256: batchSHA256(o.res.Output)}}
		}
	}
	return o
}

// process reads the item's records, checks them and writes them out. The
// error is ctx's, when it cut the item short.
func (b *Batch) process(ctx context.Context, it *batchItem, sch *schema.Schema, data []byte, o batchOutcome) (batchOutcome, error) {
	var in engine.Records
	if b.op == OpFormat {
		in = &valueRecords{values: it.values}
	} else {
		dec, err := format.NewDecoder(it.from, bytes.NewReader(data), format.DefaultLimits)
		if err != nil {
			return b.fail(o, []engine.RecordError{batchDecodeError(it.id, err)}), nil
		}
		in = dec
	}
	var v *schema.Validator
	if sch != nil {
		v = sch.Validator()
		defer sch.Put(v)
	}
	out := &batchSink{detailed: b.detailed, to: it.to}
	if b.op != OpParse {
		var cols []string
		if sch != nil {
			cols = sch.Columns()
		}
		var err error
		opts := format.EncodeOptions{}
		switch {
		case it.encode != nil:
			opts = *it.encode
		case b.encode != nil:
			opts = *b.encode
		}
		if opts.Columns == nil {
			opts.Columns = cols
		}
		opts.Part = false
		if out.enc, err = format.NewEncoder(it.to, &out.buf, opts); err != nil {
			return b.fail(o, []engine.RecordError{{Source: it.id, Message: err.Error()}}), nil
		}
	}
	t, err := engine.Process(ctx, it.id, in, v, out)
	o.records, o.failed = t.Records, t.Failed
	var fe *format.Error
	switch {
	case err == nil, err == engine.ErrStopItem:
	case ctx.Err() != nil:
		return o, ctx.Err()
	case errors.As(err, &fe):
		o.records++
		o.failed++
		out.errs = append(out.errs, batchDecodeError(it.id, err))
	default:
		out.errs = append(out.errs, engine.RecordError{Source: it.id, Message: err.Error()})
	}
	if len(out.errs) > 0 {
		return b.fail(o, out.errs), nil
	}
	o.res.Records = out.records
	if out.enc != nil {
		if err := out.enc.Close(); err != nil {
			return b.fail(o, []engine.RecordError{{Source: it.id, Message: err.Error()}}), nil
		}
		o.res.Output = out.buf.Bytes()
	}
	return o, nil
}

// batchSink keeps an item's output in memory: encoded, or as values for
// Parse, with its errors; without DetailedErrors it stops at the first.
type batchSink struct {
	enc      *format.Encoder
	buf      bytes.Buffer
	records  []any
	errs     []engine.RecordError
	detailed bool
	to       format.Format
}

func (s *batchSink) Accept(rec any) error {
	if s.enc == nil {
		s.records = append(s.records, rec)
		return nil
	}
	if err := s.enc.Encode(rec); err != nil {
		return fmt.Errorf("cannot be written as %s: %v", s.to, err)
	}
	return nil
}

func (s *batchSink) Reject(errs []engine.RecordError, _, _ int, _ any) error {
	s.errs = append(s.errs, errs...)
	if !s.detailed {
		return engine.ErrStopItem
	}
	return nil
}

// valueRecords yields the values of a Format item as records.
type valueRecords struct {
	values []any
	i      int
}

func (r *valueRecords) Next() (format.Record, error) {
	if r.i == len(r.values) {
		return format.Record{}, io.EOF
	}
	r.i++
	return format.Record{Value: r.values[r.i-1], Index: r.i}, nil
}

// fail marks the item failed with errs; it keeps none of its records or
// output, as a failed stage item writes none.
func (b *Batch) fail(o batchOutcome, errs []engine.RecordError) batchOutcome {
	o.res.Records, o.res.Output = nil, nil
	o.res.Error = errs[0].Error()
	o.prov.Error = o.res.Error
	if b.detailed {
		o.res.Errors = errs
	}
	return o
}

// batchDecodeError positions a decoding error, as CheckFile does.
func batchDecodeError(id string, err error) engine.RecordError {
	var fe *format.Error
	if errors.As(err, &fe) {
		return engine.RecordError{Source: id, Record: fe.Record, Line: fe.Line, Column: fe.Col, Message: fe.Msg}
	}
	return engine.RecordError{Source: id, Message: err.Error()}
}

func batchNDJSON(values []any) []byte {
	var b []byte
	for _, v := range values {
		b, _ = format.AppendJSON(b, v) // Normalize made every value encodable
		b = append(b, '\n')
	}
	return b
}

func batchSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
