package batch

import (
	"context"
	"errors"
	"time"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// BatchOption configures NewBatch.
type BatchOption interface{ applyBatch(*Batch) error }

// ItemOption configures one item of a batch.
type ItemOption interface{ applyItem(*batchItem) }

type batchOption func(*Batch) error

func (o batchOption) applyBatch(b *Batch) error { return o(b) }

type itemOption func(*batchItem)

func (o itemOption) applyItem(it *batchItem) { o(it) }

// Parallel sets how many items run at once; the default is GOMAXPROCS.
func Parallel(n int) BatchOption {
	return batchOption(func(b *Batch) error {
		if n < 1 {
			return errors.New("parallel must be at least 1")
		}
		b.parallel = n
		return nil
	})
}

// OnProgress receives the start, progress, itemComplete and complete
// events of every Execute and Retry round, from one goroutine at a time.
// Their Name is the operation, such as "convert".
func OnProgress(f func(engine.Progress)) BatchOption {
	return batchOption(func(b *Batch) error { b.onProgress = f; return nil })
}

// OnItemComplete receives each item's result as it finishes, from one
// goroutine at a time.
func OnItemComplete(f func(ItemResult)) BatchOption {
	return batchOption(func(b *Batch) error { b.onItemComplete = f; return nil })
}

// ContinueOnError, when false, stops starting items after the first
// failure; the items not started are reported as skipped. The default is true.
func ContinueOnError(on bool) BatchOption {
	return batchOption(func(b *Batch) error { b.continueOnError = on; return nil })
}

// IncludeProvenance adds a BatchProvenance to the summary.
func IncludeProvenance(on bool) BatchOption {
	return batchOption(func(b *Batch) error { b.provenance = on; return nil })
}

// MaxMemory bounds the input bytes of the items running at once: an item
// waits until its bytes fit. An item bigger than the limit runs alone.
// Format items, which start from values, weigh nothing.
func MaxMemory(bytes int64) BatchOption {
	return batchOption(func(b *Batch) error {
		if bytes < 1 {
			return errors.New("max memory must be at least 1 byte")
		}
		b.maxMemory = bytes
		return nil
	})
}

// Throttle sets the least time between two item starts.
func Throttle(d time.Duration) BatchOption {
	return batchOption(func(b *Batch) error {
		if d < 0 {
			return errors.New("throttle must not be negative")
		}
		b.throttle = d
		return nil
	})
}

// DetailedErrors, true by default, puts every error of a failed item in
// ItemResult.Errors. With false, an item stops at its first error, which
// is ItemResult.Error.
func DetailedErrors(on bool) BatchOption {
	return batchOption(func(b *Batch) error { b.detailed = on; return nil })
}

// SchemaOption is what WithSchema returns: both a BatchOption and an
// ItemOption.
type SchemaOption struct{ s *schema.Schema }

func (o SchemaOption) applyBatch(b *Batch) error { b.schema = o.s; return nil }
func (o SchemaOption) applyItem(it *batchItem)   { it.schema = o.s }

// WithSchema checks records against s: for every item when given to
// NewBatch, for one item, overriding the batch's, when given to Add.
func WithSchema(s *schema.Schema) SchemaOption { return SchemaOption{s} }

// EncodeOption is what EncodeWith returns: both a BatchOption and an
// ItemOption.
type EncodeOption struct{ o format.EncodeOptions }

func (o EncodeOption) applyBatch(b *Batch) error { b.encode = &o.o; return nil }
func (o EncodeOption) applyItem(it *batchItem)   { it.encode = &o.o }

// EncodeWith shapes the output of Format and Convert items, as a
// manifest's output options do: Indent for json and yaml, Compact for a
// json record a line; for every item when given to NewBatch, for one
// item when given to Add. Columns, when set, fix the csv header.
func EncodeWith(opts format.EncodeOptions) EncodeOption { return EncodeOption{opts} }

// WithPriority starts the item before items of lower priority; the
// default is 0. Results stay in the order items were added.
func WithPriority(p int) ItemOption {
	return itemOption(func(it *batchItem) { it.priority = p })
}

// WithSource makes the item read its input by calling read at each
// attempt, instead of taking bytes from Add, whose input must then be nil.
// A read error fails the attempt; Retry calls read again. The item is
// weighed for MaxMemory after it is read.
func WithSource(read func(context.Context) ([]byte, error)) ItemOption {
	return itemOption(func(it *batchItem) { it.source = read })
}
