package batch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zpipe/zpipe/engine"
	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

const batchUserSchema = `#User: {
	id:   int & >=1
	name: string
	tier: *"free" | "pro"
}
`

func batchSchema(t *testing.T) *schema.Schema {
	t.Helper()
	sch, err := schema.Compile("user.cue", []byte(batchUserSchema), "User")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// batchRecordsJSON writes records as one JSON list, to compare them as text.
func batchRecordsJSON(t *testing.T, recs []any) string {
	t.Helper()
	b, err := format.AppendJSON(nil, append([]any{}, recs...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func batchNew(t *testing.T, op Operation, opts ...BatchOption) *Batch {
	t.Helper()
	b, err := NewBatch(op, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func batchMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBatchOperations(t *testing.T) {
	sch := batchSchema(t)
	tests := []struct {
		name    string
		op      Operation
		schema  bool
		add     func(b *Batch) error
		records string // Parse: the records as a JSON list
		output  string // OpFormat, Convert: the exact bytes
		err     string
	}{
		{
			name: "ndjson parses into one record per line", op: OpParse,
			add: func(b *Batch) error {
				return b.Add("u.ndjson", []byte("{\"id\":1,\"name\":\"Ada\"}\n{\"id\":2,\"name\":\"Alan\"}\n"), format.NDJSON)
			},
			records: `[{"id":1,"name":"Ada"},{"id":2,"name":"Alan"}]`,
		},
		{
			name: "a json array parses into its elements, numbers kept exactly", op: OpParse,
			add: func(b *Batch) error {
				return b.Add("u.json", []byte(`[{"id": 12345678901234567890}, {"id": 0.10}]`), format.JSON)
			},
			records: `[{"id":12345678901234567890},{"id":0.10}]`,
		},
		{
			name: "yaml documents parse into records", op: OpParse,
			add: func(b *Batch) error {
				return b.Add("u.yaml", []byte("id: 1\nname: Ada\n---\nid: 2\nname: Alan\n"), format.YAML)
			},
			records: `[{"id":1,"name":"Ada"},{"id":2,"name":"Alan"}]`,
		},
		{
			name: "csv parses into string cells without a schema", op: OpParse,
			add: func(b *Batch) error {
				return b.Add("u.csv", []byte("id,name\n1,Ada\n"), format.CSV)
			},
			records: `[{"id":"1","name":"Ada"}]`,
		},
		{
			name: "csv cells are typed and defaults filled by the schema", op: OpParse, schema: true,
			add: func(b *Batch) error {
				return b.Add("u.csv", []byte("id,name,tier\n1,Ada,\n2,Alan,pro\n"), format.CSV)
			},
			records: `[{"id":1,"name":"Ada","tier":"free"},{"id":2,"name":"Alan","tier":"pro"}]`,
		},
		{
			name: "yaml converts to json byte for byte", op: OpConvert,
			add: func(b *Batch) error {
				return b.AddConversion("u.yaml", []byte("id: 1\nname: Ada\ntags: [a, b]\n"), format.YAML, format.JSON)
			},
			output: "[\n  {\n    \"id\": 1,\n    \"name\": \"Ada\",\n    \"tags\": [\n      \"a\",\n      \"b\"\n    ]\n  }\n]\n",
		},
		{
			name: "a conversion with a schema fills its defaults", op: OpConvert, schema: true,
			add: func(b *Batch) error {
				return b.AddConversion("u.json", []byte(`[{"name":"Ada","id":1},{"id":2,"name":"Alan","tier":"pro"}]`), format.JSON, format.NDJSON)
			},
			output: "{\"name\":\"Ada\",\"id\":1,\"tier\":\"free\"}\n{\"id\":2,\"name\":\"Alan\",\"tier\":\"pro\"}\n",
		},
		{
			name: "a conversion to csv takes its header from the schema", op: OpConvert, schema: true,
			add: func(b *Batch) error {
				return b.AddConversion("u.ndjson", []byte("{\"name\":\"Ada\",\"id\":1}\n"), format.NDJSON, format.CSV)
			},
			output: "id,name,tier\n1,Ada,free\n",
		},
		{
			name: "Go values format as yaml", op: OpFormat,
			add: func(b *Batch) error {
				type user struct {
					ID   int    `json:"id"`
					Name string `json:"name"`
				}
				return b.AddValues("users", []any{user{1, "Ada"}, map[string]any{"name": "Alan", "id": 2}}, format.YAML)
			},
			output: "id: 1\nname: Ada\n---\nid: 2\nname: Alan\n",
		},
		{
			name: "an invalid record fails the item with its position", op: OpParse, schema: true,
			add: func(b *Batch) error {
				return b.Add("u.ndjson", []byte("{\"id\":1,\"name\":\"Ada\"}\n{\"id\":0,\"name\":\"Bob\"}\n"), format.NDJSON)
			},
			err: "u.ndjson:2:7: record 2: id: invalid value 0 (out of bound >=1) (user.cue:2:14)",
		},
		{
			name: "an invalid value fails a format item", op: OpFormat, schema: true,
			add: func(b *Batch) error {
				return b.AddValues("users", []any{map[string]any{"id": 1}}, format.JSON)
			},
			err: "users: record 1: name: field is required but not present (user.cue:3:8)",
		},
		{
			name: "input that does not decode fails the item with its position", op: OpConvert,
			add: func(b *Batch) error {
				return b.AddConversion("u.json", []byte("[\n  {\"id\": }\n]"), format.JSON, format.YAML)
			},
			err: "u.json:2:10: record 1: unexpected '}', expected a value",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []BatchOption
			if tt.schema {
				opts = append(opts, WithSchema(sch))
			}
			b := batchNew(t, tt.op, opts...)
			batchMust(t, tt.add(b))
			sum, err := b.Execute(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			r := sum.Items[0]
			if r.Error != tt.err {
				t.Fatalf("error = %q, want %q", r.Error, tt.err)
			}
			if tt.err != "" {
				if sum.Failed != 1 || r.Records != nil || r.Output != nil {
					t.Errorf("a failed item: summary %+v", sum)
				}
				return
			}
			if tt.records != "" {
				if got := batchRecordsJSON(t, r.Records); got != tt.records {
					t.Errorf("records = %s, want %s", got, tt.records)
				}
			}
			if string(r.Output) != tt.output {
				t.Errorf("output = %q, want %q", r.Output, tt.output)
			}
			if sum.Successful != 1 || r.Attempts != 1 || r.Operation != tt.op {
				t.Errorf("summary = %+v", sum)
			}
		})
	}
}

func TestItemSchemaOverridesBatchSchema(t *testing.T) {
	strict, err := schema.Compile("strict.cue", []byte("#S: {id: int & >=10}\n"), "S")
	if err != nil {
		t.Fatal(err)
	}
	b := batchNew(t, OpParse, WithSchema(batchSchema(t)))
	batchMust(t, b.Add("batch schema", []byte(`{"id":1,"name":"a"}`), format.JSON))
	batchMust(t, b.Add("own schema", []byte(`{"id":1,"name":"a"}`), format.JSON, WithSchema(strict)))
	sum, _ := b.Execute(context.Background())
	if !sum.Items[0].OK() || !strings.Contains(sum.Items[1].Error, "invalid value 1 (out of bound >=10)") {
		t.Errorf("items = %+v", sum.Items)
	}
}

func TestDetailedErrorsListEveryError(t *testing.T) {
	in := []byte("{\"id\":0,\"name\":\"a\"}\n{\"id\":2,\"name\":\"b\"}\n{\"id\":3}\n")
	tests := []struct {
		name     string
		detailed bool
		want     []string
	}{
		{"without detail only the first error is kept", false, nil},
		{"with detail every error is kept with its position", true, []string{
			"u:1:7: record 1: id: invalid value 0 (out of bound >=1) (user.cue:2:14)",
			"u:3:1: record 3: name: field is required but not present (user.cue:3:8)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := batchNew(t, OpParse, WithSchema(batchSchema(t)), DetailedErrors(tt.detailed))
			batchMust(t, b.Add("u", in, format.NDJSON))
			sum, _ := b.Execute(context.Background())
			r := sum.Items[0]
			var got []string
			for _, e := range r.Errors {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tt.want) || r.Error != "u:1:7: record 1: id: invalid value 0 (out of bound >=1) (user.cue:2:14)" {
				t.Errorf("error %q, errors %q", r.Error, got)
			}
		})
	}
}

func TestBatchRejectsBadSetup(t *testing.T) {
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"parallel 0 is rejected", func() error { _, err := NewParser(Parallel(0)); return err }, "parallel must be at least 1"},
		{"a zero memory limit is rejected", func() error { _, err := NewParser(MaxMemory(0)); return err }, "max memory must be at least 1 byte"},
		{"a negative throttle is rejected", func() error { _, err := NewParser(Throttle(-time.Second)); return err }, "throttle must not be negative"},
		{"an unknown operation is rejected", func() error { _, err := NewBatch(Operation(7)); return err }, "unknown operation 7"},
		{"a duplicate id is rejected", func() error {
			b, _ := NewParser()
			b.Add("a", []byte("{}"), format.JSON)
			return b.Add("a", []byte("{}"), format.JSON)
		}, `duplicate item id "a"`},
		{"an item of another operation is rejected", func() error {
			b, _ := NewParser()
			return b.AddConversion("a", []byte("{}"), format.JSON, format.YAML)
		}, "cannot add a convert item to a parse batch"},
		{"an unknown format is rejected", func() error {
			b, _ := NewConverter()
			return b.AddConversion("a", []byte("{}"), format.JSON, "xml")
		}, `item "a": unknown format "xml": must be one of json, ndjson, yaml, toml, csv, tsv`},
		{"input bytes and a source together are rejected", func() error {
			b, _ := NewParser()
			return b.Add("a", []byte("{}"), format.JSON, WithSource(func(context.Context) ([]byte, error) { return nil, nil }))
		}, `item "a": WithSource replaces the input bytes; pass nil input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err == nil || err.Error() != tt.want {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAddDuringExecuteIsAnError(t *testing.T) {
	var addErr error
	b := batchNew(t, OpParse)
	batchMust(t, b.Add("a", nil, format.JSON, WithSource(func(context.Context) ([]byte, error) {
		addErr = b.Add("b", []byte("{}"), format.JSON)
		return []byte("{}"), nil
	})))
	b.Execute(context.Background())
	if addErr == nil || addErr.Error() != `cannot add item "b" while the batch runs` {
		t.Errorf("Add during Execute: %v", addErr)
	}
}

func TestEmptyBatchEmitsStartAndCompleteAndHasProvenance(t *testing.T) {
	var events []engine.Progress
	b := batchNew(t, OpConvert, IncludeProvenance(true), OnProgress(func(p engine.Progress) { events = append(events, p) }))
	sum, err := b.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].Type != engine.ProgressStart || events[1].Type != engine.ProgressComplete || events[1].Percentage != 100 {
		t.Errorf("events = %+v", events)
	}
	p := sum.Provenance
	if sum.Total != 0 || sum.Items == nil || p == nil || p.ID == "" || p.Version != engine.Version() || p.Items == nil || p.End.Before(p.Start) {
		t.Errorf("summary = %+v, provenance = %+v", sum, p)
	}
}

func TestProgressReportsEveryItem(t *testing.T) {
	var got []string
	b := batchNew(t, OpParse, Parallel(1), WithSchema(batchSchema(t)), OnProgress(func(p engine.Progress) {
		got = append(got, fmt.Sprintf("%s %s %d/%d %.0f%% records %d failed %d %s", p.Type, p.Item, p.Completed, p.Total, p.Percentage, p.Records, p.Failed, p.Error))
	}))
	batchMust(t, b.Add("a", []byte(`[{"id":1,"name":"a"},{"id":2,"name":"b"}]`), format.JSON))
	batchMust(t, b.Add("b", []byte(`{"id":0,"name":"c"}`), format.JSON))
	b.Execute(context.Background())
	want := []string{
		"start  0/2 0% records 0 failed 0 ",
		"progress  1/2 50% records 2 failed 0 ",
		"itemComplete a 1/2 50% records 2 failed 0 ",
		"progress  2/2 100% records 3 failed 1 ",
		"itemComplete b 2/2 100% records 3 failed 1 b:1:7: record 1: id: invalid value 0 (out of bound >=1) (user.cue:2:14)",
		"complete  2/2 100% records 3 failed 1 ",
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlowItemDoesNotHoldUpTheOthers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	unblock := make(chan struct{})
	done := make(chan string, 10)
	b := batchNew(t, OpParse, Parallel(2), OnItemComplete(func(r ItemResult) { done <- r.ID }))
	batchMust(t, b.Add("slow", nil, format.NDJSON, WithSource(func(context.Context) ([]byte, error) {
		<-unblock
		return []byte("{}\n"), nil
	})))
	for i := range 5 {
		batchMust(t, b.Add(fmt.Sprintf("fast%d", i), []byte("{}\n"), format.NDJSON))
	}
	var sum BatchSummary
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sum, _ = b.Execute(context.Background())
	}()
	// Every fast item finishes on the second goroutine while the slow one
	// still holds the first; fixed chunks of two would wait for it.
	for range 5 {
		select {
		case id := <-done:
			if id == "slow" {
				t.Error("the slow item finished while blocked")
			}
		case <-time.After(10 * time.Second):
			t.Error("the fast items are held up by the slow one")
		}
	}
	close(unblock)
	<-finished
	var ids []string
	for _, r := range sum.Items {
		ids = append(ids, r.ID)
	}
	if want := []string{"slow", "fast0", "fast1", "fast2", "fast3", "fast4"}; !slices.Equal(ids, want) || sum.Successful != 6 {
		t.Errorf("items %v, summary %+v", ids, sum)
	}
}

func TestPriorityStartsItemsFirstAndResultsKeepTheirOrder(t *testing.T) {
	var starts []string
	b := batchNew(t, OpParse, Parallel(1))
	b.trace = func(event, id string, _ int64) { starts = append(starts, event+" "+id) }
	batchMust(t, b.Add("low", []byte("{}"), format.JSON))
	batchMust(t, b.Add("high", []byte("{}"), format.JSON, WithPriority(5)))
	batchMust(t, b.Add("middle", []byte("{}"), format.JSON, WithPriority(1)))
	sum, _ := b.Execute(context.Background())
	if want := []string{"start high", "start middle", "start low"}; !slices.Equal(starts, want) {
		t.Errorf("starts = %v", starts)
	}
	if sum.Items[0].ID != "low" || sum.Items[1].ID != "high" || sum.Items[2].ID != "middle" {
		t.Errorf("items = %+v", sum.Items)
	}
}

func TestStopAtFirstFailureSkipsTheRest(t *testing.T) {
	b := batchNew(t, OpParse, Parallel(1), ContinueOnError(false), WithSchema(batchSchema(t)))
	for _, in := range []string{`{"id":1,"name":"a"}`, `{"id":0,"name":"b"}`, `{"id":3,"name":"c"}`, `{"id":4,"name":"d"}`} {
		batchMust(t, b.Add(in[6:7], []byte(in), format.JSON))
	}
	sum, err := b.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Successful != 1 || sum.Failed != 1 || sum.Skipped != 2 {
		t.Errorf("summary = %+v", sum)
	}
	for _, r := range sum.Items[2:] {
		if !r.Skipped || r.Error != "skipped: an earlier item failed" || r.Attempts != 0 {
			t.Errorf("item %s = %+v", r.ID, r)
		}
	}
}

func TestRetryRerunsFailedItemsAndKeepsEarlierSuccesses(t *testing.T) {
	// A source that fails on its first read stands for a flaky network; an
	// invalid record fails however often it is read.
	var reads atomic.Int32
	flaky := WithSource(func(context.Context) ([]byte, error) {
		if reads.Add(1) == 1 {
			return nil, errors.New("connection reset")
		}
		return []byte(`{"id":2,"name":"b"}`), nil
	})
	var ran []string
	b := batchNew(t, OpParse, Parallel(2), WithSchema(batchSchema(t)), IncludeProvenance(true),
		OnItemComplete(func(r ItemResult) { ran = append(ran, r.ID) }))
	batchMust(t, b.Add("ok", []byte(`{"id":1,"name":"a"}`), format.JSON))
	batchMust(t, b.Add("flaky", nil, format.JSON, flaky))
	batchMust(t, b.Add("invalid", []byte(`{"id":0,"name":"c"}`), format.JSON))
	batchMust(t, b.Add("ok2", []byte(`{"id":4,"name":"d"}`), format.JSON))
	first, err := b.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if first.Successful != 2 || first.Failed != 2 || first.Items[1].Error != "flaky: connection reset" {
		t.Fatalf("first run = %+v", first)
	}
	ran = nil
	sum, err := Retry(context.Background(), b, first, RetryOptions{MaxRetries: 3, Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ran)
	if want := []string{"flaky", "invalid", "invalid", "invalid"}; !slices.Equal(ran, want) {
		t.Errorf("retried %v, want %v", ran, want)
	}
	if sum.Total != 4 || sum.Successful != 3 || sum.Failed != 1 || sum.Provenance.ID != first.Provenance.ID {
		t.Errorf("summary = %+v", sum)
	}
	for i, want := range []struct {
		id       string
		attempts int
		ok       bool
	}{{"ok", 1, true}, {"flaky", 2, true}, {"invalid", 4, false}, {"ok2", 1, true}} {
		r, p := sum.Items[i], sum.Provenance.Items[i]
		if r.ID != want.id || r.Attempts != want.attempts || r.OK() != want.ok || p.ID != want.id || p.Attempts != want.attempts {
			t.Errorf("item %d = %+v, provenance %+v", i, r, p)
		}
	}
	if got := batchRecordsJSON(t, sum.Items[1].Records); got != `[{"id":2,"name":"b","tier":"free"}]` {
		t.Errorf("flaky records = %s", got)
	}
}

func TestMaxMemoryBoundsTheBytesInFlight(t *testing.T) {
	in := map[string][]byte{
		"a":   []byte(`{"a":1}`),
		"b":   []byte(`{"b":2}`),
		"big": []byte(`{"big":"` + strings.Repeat("x", 30) + `"}`),
		"c":   []byte(`{}`),
	}
	const limit = 10 // a and b fit one at a time; big alone
	events := make(chan string, 16)
	release := map[string]chan struct{}{}
	for id := range in {
		release[id] = make(chan struct{})
	}
	b := batchNew(t, OpParse, Parallel(2), MaxMemory(limit))
	// Each item waits at its start until the test releases it, so the test
	// sees which items hold memory together.
	b.trace = func(event, id string, inFlight int64) {
		if event == "wait" {
			events <- "wait " + id
			return
		}
		events <- fmt.Sprintf("%s %s %d", event, id, inFlight)
		<-release[id]
	}
	for _, id := range []string{"a", "b", "big", "c"} {
		batchMust(t, b.Add(id, in[id], format.JSON))
	}
	finished := make(chan BatchSummary)
	go func() {
		sum, _ := b.Execute(context.Background())
		finished <- sum
	}()
	next := func(want ...string) {
		t.Helper()
		var got []string
		for range want {
			got = append(got, <-events)
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Fatalf("events %q, want %q", got, want)
		}
	}
	// a and b (7 bytes each) cannot run together: whichever starts first
	// makes the other wait.
	first := <-events
	second := <-events
	if strings.HasPrefix(first, "wait") {
		first, second = second, first
	}
	one, other := strings.Fields(first)[1], strings.Fields(second)[1]
	if first != "start "+one+" 7" || second != "wait "+other {
		t.Fatalf("events %q, %q", first, second)
	}
	close(release[one])
	next("start "+other+" 7", "wait big")
	close(release[other])
	// big is capped at the limit, so it runs alone and c waits for it.
	next("start big 10", "wait c")
	close(release["big"])
	next("start c 2")
	close(release["c"])
	if sum := <-finished; sum.Successful != 4 {
		t.Errorf("summary = %+v", sum)
	}
}

func TestThrottleSpacesStarts(t *testing.T) {
	// With an hour between starts, the first item starts and every other
	// one waits, however many goroutines are free.
	events := make(chan string, 8)
	// The first item must have finished before the cancel, however slow
	// the machine: starting is not finishing.
	done := make(chan struct{}, 3)
	b := batchNew(t, OpParse, Parallel(3), Throttle(time.Hour), OnItemComplete(func(r ItemResult) {
		if !r.Skipped {
			done <- struct{}{}
		}
	}))
	b.trace = func(event, id string, _ int64) { events <- event }
	for _, id := range []string{"a", "b", "c"} {
		batchMust(t, b.Add(id, []byte("{}"), format.JSON))
	}
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan BatchSummary)
	var err error
	go func() {
		var sum BatchSummary
		sum, err = b.Execute(ctx)
		finished <- sum
	}()
	var got []string
	for range 3 {
		got = append(got, <-events)
	}
	sort.Strings(got)
	if want := []string{"start", "throttle", "throttle"}; !slices.Equal(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	<-done
	cancel()
	sum := <-finished
	if !errors.Is(err, context.Canceled) || sum.Successful != 1 || sum.Skipped != 2 {
		t.Errorf("err %v, summary %+v", err, sum)
	}
}

func TestCancelStopsStartingItems(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := batchNew(t, OpParse, Parallel(2), OnItemComplete(func(r ItemResult) {
		if r.ID == "first" {
			cancel()
		}
	}))
	// blocked holds one goroutine until the cancel; first runs on the other.
	batchMust(t, b.Add("blocked", nil, format.JSON, WithSource(func(ctx context.Context) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})))
	batchMust(t, b.Add("first", []byte("{}"), format.JSON))
	batchMust(t, b.Add("later", []byte("{}"), format.JSON))
	batchMust(t, b.Add("last", []byte("{}"), format.JSON))
	sum, err := b.Execute(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if sum.Total != 4 || sum.Successful != 1 || sum.Skipped != 3 || !sum.Items[1].OK() {
		t.Errorf("summary = %+v", sum)
	}
	for _, i := range []int{0, 2, 3} {
		if r := sum.Items[i]; !r.Skipped || r.Error != "skipped: context canceled" {
			t.Errorf("item %s = %+v", r.ID, r)
		}
	}
}

func TestResetForgetsItems(t *testing.T) {
	b := batchNew(t, OpParse)
	batchMust(t, b.Add("a", []byte("{}"), format.JSON))
	batchMust(t, b.Add("b", []byte("{}"), format.JSON))
	if sum, _ := b.Execute(context.Background()); sum.Total != 2 {
		t.Fatalf("summary = %+v", sum)
	}
	b.Reset()
	batchMust(t, b.Add("a", []byte("[1, 2]"), format.JSON))
	sum, _ := b.Execute(context.Background())
	if sum.Total != 1 || sum.Items[0].ID != "a" || len(sum.Items[0].Records) != 2 {
		t.Errorf("summary = %+v", sum)
	}
}

func TestProvenanceHashesInputsAndOutputs(t *testing.T) {
	sha := func(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
	sch := batchSchema(t)
	b := batchNew(t, OpConvert, IncludeProvenance(true), WithSchema(sch))
	inputs := [][]byte{[]byte("id: 1\nname: a\n"), []byte("id: 0\nname: b\n")}
	for i, in := range inputs {
		batchMust(t, b.AddConversion(fmt.Sprint(i), in, format.YAML, format.NDJSON))
	}
	start := time.Now()
	sum, _ := b.Execute(context.Background())
	p := sum.Provenance
	if p.Total != 2 || p.Successful != 1 || p.Failed != 1 || p.Operation != "convert" || p.Start.Before(start) {
		t.Fatalf("provenance = %+v", p)
	}
	if p.Parallel != b.parallel || strings.Join(p.Formats, ",") != "ndjson,yaml" || p.ProcessingNS <= 0 {
		t.Errorf("parallel %d, formats %v, processing %dns", p.Parallel, p.Formats, p.ProcessingNS)
	}
	for i, ip := range p.Items {
		if ip.InputSHA256 != sha(inputs[i]) || ip.SourceFormat != "yaml" || ip.Attempts != 1 {
			t.Errorf("item %d = %+v", i, ip)
		}
		// The definition's hash, as a stage's provenance has it.
		if s := ip.Schema; s == nil || s.Path != "user.cue" || s.Definition != "User" || s.SHA256 != sha([]byte("User\x00"+batchUserSchema)) {
			t.Errorf("item %d schema = %+v", i, s)
		}
	}
	if out := p.Items[0].Outputs; len(out) != 1 || out[0].Format != "ndjson" || out[0].SHA256 != sha(sum.Items[0].Output) {
		t.Errorf("outputs = %+v", out)
	}
	if p.Items[1].Outputs != nil || p.Items[1].Error != sum.Items[1].Error {
		t.Errorf("failed item = %+v", p.Items[1])
	}
}

func TestDistinctBatchesRunConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			b, _ := NewConverter(Parallel(2), IncludeProvenance(true))
			for j := range 8 {
				b.AddConversion(fmt.Sprint(j), fmt.Appendf(nil, "{\"n\":%d}\n", i*j), format.NDJSON, format.YAML)
			}
			if sum, err := b.Execute(context.Background()); err != nil || sum.Successful != 8 {
				t.Errorf("batch %d: %v %+v", i, err, sum)
			}
		})
	}
	wg.Wait()
}

func TestEncodeWithShapesOutputPerItem(t *testing.T) {
	b := batchNew(t, OpFormat, EncodeWith(format.EncodeOptions{Compact: true}))
	v := &format.Object{Fields: []format.Field{{Key: "a", Value: format.Number("1")}}}
	batchMust(t, b.AddValues("compact", []any{v}, format.JSON))
	batchMust(t, b.AddValues("wide", []any{v}, format.JSON, EncodeWith(format.EncodeOptions{Indent: 4})))
	sum, err := b.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sum.Items[0].Output); got != "[\n{\"a\":1}\n]\n" {
		t.Errorf("batch option: %q", got)
	}
	if got := string(sum.Items[1].Output); got != "[\n    {\n        \"a\": 1\n    }\n]\n" {
		t.Errorf("item option: %q", got)
	}
}
