package batch

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/pipeline"
)

// RetryOptions bound Retry. The waits follow zpipe's one retry policy,
// pipeline.Retry: Delay before the first round, growing by Backoff each
// round up to MaxDelay, with jitter.
type RetryOptions struct {
	// MaxRetries is the most rounds to run; 0 means 1.
	MaxRetries int
	// Delay is the wait before the first round.
	Delay time.Duration
	// Backoff multiplies the wait each round (below 1 counts as 1);
	// MaxDelay, when set, caps it.
	Backoff  float64
	MaxDelay time.Duration
}

// Retry runs again the items of prev, a summary of b, that failed or were
// skipped, round after round while some still fail, and returns prev with
// their new results: items in the same order, Attempts counted over every
// run. An item is run again as it was added, so Retry helps items whose
// input comes from WithSource, and items a cancel or a stop skipped.
func Retry(ctx context.Context, b *Batch, prev BatchSummary, opts RetryOptions) (BatchSummary, error) {
	items, err := b.begin()
	if err != nil {
		return prev, err
	}
	defer b.end()
	if len(prev.Items) != len(items) {
		return prev, fmt.Errorf("the summary has %d items but the batch %d", len(prev.Items), len(items))
	}
	for i, r := range prev.Items {
		if r.ID != items[i].id {
			return prev, fmt.Errorf("item %d of the summary is %q but of the batch %q", i+1, r.ID, items[i].id)
		}
	}
	began := time.Now()
	start := began
	sum := prev
	sum.Items = slices.Clone(prev.Items)
	var provs []engine.ItemProvenance
	if prev.Provenance != nil {
		provs = slices.Clone(prev.Provenance.Items)
		start = prev.Provenance.Start
	}
	policy := pipeline.Retry{Max: opts.MaxRetries, Delay: opts.Delay, Backoff: opts.Backoff, MaxDelay: opts.MaxDelay}
	for round := 1; round <= max(opts.MaxRetries, 1); round++ {
		var todo []*batchItem
		for i, r := range sum.Items {
			if r.Error != "" {
				todo = append(todo, items[i])
			}
		}
		if len(todo) == 0 || batchSleep(ctx, policy.Wait(round)) != nil {
			break
		}
		for k, o := range b.run(ctx, todo) {
			i := todo[k].pos
			o.res.Attempts += sum.Items[i].Attempts
			o.prov.Attempts = o.res.Attempts
			sum.Items[i] = o.res
			if provs != nil {
				provs[i] = o.prov
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	sum.finish(b, start, prev.TotalDuration+time.Since(began), provs)
	if prev.Provenance != nil {
		sum.Provenance.ID = prev.Provenance.ID
	}
	return sum, ctx.Err()
}

func batchSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
