//go:build unix

package schema

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zpipe/zpipe/format"
)

// A transform whose cost the data decides: n elements.
const rangeCUE = `import "list"

#In: {n: int}
#Out: {
	in: #In
	size: len(list.Range(0, in.n, 1))
}
`

func TestIsolatedCheckStopsForReal(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := writeSchema(t, rangeCUE)
	s, err := Load(Spec{File: p, Def: "In"}, WithTransform(Spec{File: p, Def: "Out"}), Isolated())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := s.Validator()
	defer s.Put(v)
	small := &format.Object{Fields: []format.Field{{Key: "n", Value: format.Number("3")}}}
	out, violations, err := v.CheckContext(context.Background(), small, false)
	if err != nil || violations != nil {
		t.Fatalf("small record: %v %v", violations, err)
	}
	if b, _ := format.AppendJSON(nil, out); string(b) != `{"size":3}` {
		t.Fatalf("small record gave %s", b)
	}
	pid := v.child.Load().cmd.Process.Pid

	huge := &format.Object{Fields: []format.Field{{Key: "n", Value: format.Number("500000000")}}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = v.CheckContext(ctx, huge, false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the check took %s to stop", took)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("the evaluator %d still runs", pid)
	}
	// The next check gets a new evaluator.
	if _, violations, err := v.CheckContext(context.Background(), small, false); err != nil || violations != nil {
		t.Errorf("after the stop: %v %v", violations, err)
	}
}

func TestIsolatedSchemaReplacesADeadEvaluator(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := writeSchema(t, rangeCUE)
	s, err := Load(Spec{File: p, Def: "In"}, WithTransform(Spec{File: p, Def: "Out"}), Isolated())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := s.Validator()
	defer s.Put(v)
	rec := &format.Object{Fields: []format.Field{{Key: "n", Value: format.Number("2")}}}
	if _, vs, err := v.CheckContext(context.Background(), rec, false); err != nil || vs != nil {
		t.Fatalf("%v %v", vs, err)
	}
	v.child.Load().cmd.Process.Signal(syscall.SIGKILL)
	<-v.child.Load().exited
	if _, vs, err := v.CheckContext(context.Background(), rec, false); err != nil || vs != nil {
		t.Fatalf("a killed evaluator is replaced, but: %v %v", vs, err)
	}
}

func TestIsolatedFastPathSchemaNeedsNoEvaluator(t *testing.T) {
	s := load(t, Isolated())
	defer s.Close()
	v := s.Validator()
	defer s.Put(v)
	bad := &format.Object{Fields: []format.Field{{Key: "id", Value: format.Number("0")}}}
	if _, vs, err := v.CheckContext(context.Background(), bad, false); err != nil || len(vs) == 0 {
		t.Fatalf("%v %v", vs, err)
	}
	if v.child.Load() != nil {
		t.Error("a schema the fast path covers started an evaluator")
	}
}

// A terminal's Ctrl-C reaches the whole process group: the evaluator must
// not die of it, or a graceful stop would fail the items in flight.
func TestEvaluatorIgnoresCtrlC(t *testing.T) {
	defer goleak.VerifyNone(t)
	p := writeSchema(t, rangeCUE)
	s, err := Load(Spec{File: p, Def: "In"}, WithTransform(Spec{File: p, Def: "Out"}), Isolated())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v := s.Validator()
	defer s.Put(v)
	rec := &format.Object{Fields: []format.Field{{Key: "n", Value: format.Number("2")}}}
	if _, _, err := v.CheckContext(context.Background(), rec, false); err != nil {
		t.Fatal(err)
	}
	c := v.child.Load()
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	if _, _, err := v.CheckContext(context.Background(), rec, false); err != nil || v.child.Load() != c {
		t.Errorf("after Ctrl-C the evaluator is gone: %v", err)
	}
}

// A crashed evaluator is explained by the runtime's reason, not by the
// last frame of its stack.
func TestTailSaysWhyAChildCrashed(t *testing.T) {
	for _, tc := range []struct{ stderr, crash, last string }{
		{"runtime: goroutine stack exceeds 1000000000-byte limit\nfatal error: stack overflow\n\nruntime stack:\n" + strings.Repeat("frame\n\t/x.go:1 +0x1\n", 500), "fatal error: stack overflow", "/x.go:1 +0x1"},
		{"panic: runtime error: index out of range [4] with length 2\n\ngoroutine 1 [running]:\nmain.f()\n\t/x.go:9 +0xa7\n", "panic: runtime error: index out of range [4] with length 2", "/x.go:9 +0xa7"},
		{"reading the records: unexpected EOF\n", "", "reading the records: unexpected EOF"},
	} {
		tl := &tail{max: 4 << 10}
		for chunk := range slices.Chunk([]byte(tc.stderr), 100) {
			tl.Write(chunk)
		}
		if got := tl.crash(); got != tc.crash {
			t.Errorf("crash() = %q, want %q", got, tc.crash)
		}
		if got := tl.last(); got != tc.last {
			t.Errorf("last() = %q, want %q", got, tc.last)
		}
	}
}
