package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tomlSuiteDir is toml-test's tests folder, kept beside the repo.
var tomlSuiteDir = filepath.Join("..", "..", "shared", "testsuites", "toml", "tests")

// tomlSuiteKnown lists the TOML 1.1 cases of toml-test that zpipe answers
// otherwise, on purpose or because of go-toml: why, and a part of the
// problem the case must still show. They are logged, not failed; a case
// that starts passing, or fails some other way, fails the test, so the
// list stays true.
var tomlSuiteKnown = map[string]struct{ why, problem string }{
	"valid/comment/after-literal-no-ws.toml": {tomlNoInfNaN, "1:5: inf cannot be represented as a JSON number"},
	"valid/float/inf-and-nan.toml":           {tomlNoInfNaN, "3:7: nan cannot be represented as a JSON number"},
	"valid/spec-1.1.0/common-25.toml":        {tomlNoInfNaN, "2:7: inf cannot be represented as a JSON number"},
}

const tomlNoInfNaN = "inf and nan have no JSON or CUE form, so zpipe refuses them where they are"

// TestTOMLSuite runs the TOML 1.1 files of toml-test: a valid file must
// decode to the values of the json beside it, an invalid one must be
// refused with a positioned error, and none may panic or hang.
func TestTOMLSuite(t *testing.T) {
	list, err := os.ReadFile(filepath.Join(tomlSuiteDir, "files-toml-1.1.0"))
	if err != nil {
		t.Skipf("toml-test is not at %s: %v", tomlSuiteDir, err)
	}
	var cases []string
	for _, name := range strings.Split(string(list), "\n") {
		if strings.HasSuffix(name, ".toml") {
			cases = append(cases, name)
		}
	}
	sort.Strings(cases)
	total, passed := map[string]int{}, map[string]int{}
	for _, name := range cases {
		kind, _, _ := strings.Cut(name, "/")
		total[kind]++
		problem := tomlSuiteCase(name)
		k, known := tomlSuiteKnown[name]
		switch {
		case problem == "" && known:
			t.Errorf("%s passes now: take it off tomlSuiteKnown (%s)", name, k.why)
		case problem == "":
			passed[kind]++
		case known && strings.Contains(problem, k.problem):
			t.Logf("%s fails as known (%s): %s", name, k.why, problem)
		case known:
			t.Errorf("%s fails, but not with %q as known (%s): %s", name, k.problem, k.why, problem)
		default:
			t.Errorf("%s: %s", name, problem)
		}
	}
	for name := range tomlSuiteKnown {
		if i := sort.SearchStrings(cases, name); i == len(cases) || cases[i] != name {
			t.Errorf("tomlSuiteKnown names %s, which is not a TOML 1.1 case", name)
		}
	}
	t.Logf("toml-test (TOML 1.1): %d of %d valid and %d of %d invalid files pass, %d known exceptions",
		passed["valid"], total["valid"], passed["invalid"], total["invalid"], len(tomlSuiteKnown))
}

// tomlSuiteCase runs one case and says what went wrong, or "".
func tomlSuiteCase(name string) string {
	in, err := os.ReadFile(filepath.Join(tomlSuiteDir, filepath.FromSlash(name)))
	if err != nil {
		return err.Error()
	}
	recs, problem, decErr := decodeTOMLGuarded(in, 5*time.Second)
	if problem != "" {
		return problem
	}
	if decErr != nil {
		var e *Error
		if !errors.As(decErr, &e) || e.Msg == "" || e.Line == 0 {
			return fmt.Sprintf("error without a position: %v", decErr)
		}
	}
	if strings.HasPrefix(name, "invalid/") {
		if decErr == nil {
			return "decoded without an error, but the file is invalid TOML"
		}
		return ""
	}
	if decErr != nil {
		return fmt.Sprintf("unexpected error: %v", decErr)
	}
	js, err := os.ReadFile(filepath.Join(tomlSuiteDir, filepath.FromSlash(strings.TrimSuffix(name, ".toml")+".json")))
	if err != nil {
		return err.Error()
	}
	var want map[string]any
	if err := json.Unmarshal(js, &want); err != nil {
		return fmt.Sprintf("the expected json: %v", err)
	}
	// A document of [[records]] tables alone is read as those records.
	if list, ok := want["records"].([]any); ok && len(want) == 1 && len(list) > 0 && len(recs) == len(list) {
		got := make([]any, len(recs))
		for i, r := range recs {
			got[i] = r.Value
		}
		return tomlSuiteCompare("records", got, list)
	}
	switch {
	case len(want) == 0 && len(recs) == 0:
		return ""
	case len(recs) != 1:
		return fmt.Sprintf("got %d records, want 1", len(recs))
	}
	return tomlSuiteCompare("", recs[0].Value, want)
}

// decodeTOMLGuarded decodes in up to the first error. A panic or a decode
// that takes longer than limit comes back as problem.
func decodeTOMLGuarded(in []byte, limit time.Duration) (recs []Record, problem string, first error) {
	type result struct {
		recs    []Record
		err     error
		problem string
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() {
			if r := recover(); r != nil {
				res.problem = fmt.Sprintf("panic: %v", r)
			}
			done <- res
		}()
		d, err := NewDecoder(TOML, bytes.NewReader(in), DefaultLimits)
		if err != nil {
			res.err = err
			return
		}
		for {
			rec, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				res.err = err
				return
			}
			res.recs = append(res.recs, rec)
		}
	}()
	select {
	case res := <-done:
		return res.recs, res.problem, res.err
	case <-time.After(limit):
		return nil, fmt.Sprintf("decoding took longer than %v", limit), nil
	}
}

// tomlSuiteCompare compares a decoded value with toml-test's json, where
// each scalar is {"type": ..., "value": "..."}, and says where they differ.
func tomlSuiteCompare(path string, got, want any) string {
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Sprintf("%s: got %s, want an array", path, tomlShow(got))
		}
		if len(g) != len(w) {
			return fmt.Sprintf("%s: got %d elements, want %d", path, len(g), len(w))
		}
		for i := range w {
			if p := tomlSuiteCompare(path+"["+strconv.Itoa(i)+"]", g[i], w[i]); p != "" {
				return p
			}
		}
		return ""
	case map[string]any:
		if typ, val, ok := tomlSuiteTagged(w); ok {
			return tomlSuiteScalar(path, got, typ, val)
		}
		g, ok := got.(*Object)
		if !ok {
			return fmt.Sprintf("%s: got %s, want a table", path, tomlShow(got))
		}
		if len(g.Fields) != len(w) {
			return fmt.Sprintf("%s: got %d keys, want %d: %s", path, len(g.Fields), len(w), tomlShow(got))
		}
		for _, k := range slices.Sorted(maps.Keys(w)) {
			v, ok := g.Get(k)
			if !ok {
				return fmt.Sprintf("%s: key %q is missing", path, k)
			}
			if p := tomlSuiteCompare(path+"."+strconv.Quote(k), v, w[k]); p != "" {
				return p
			}
		}
		return ""
	}
	return fmt.Sprintf("%s: unexpected expected value %v", path, want)
}

// tomlSuiteTagged reports whether m is a tagged scalar. A table with the
// keys type and value holds tagged values, not strings, so it is not one.
func tomlSuiteTagged(m map[string]any) (typ, val string, ok bool) {
	if len(m) != 2 {
		return "", "", false
	}
	typ, ok1 := m["type"].(string)
	val, ok2 := m["value"].(string)
	return typ, val, ok1 && ok2
}

// tomlSuiteScalar compares a scalar with its tagged form: integers and
// floats by value, dates and times as RFC 3339 text up to trailing zeros of
// the fraction of a second, which zpipe keeps as written.
func tomlSuiteScalar(path string, got any, typ, val string) string {
	bad := fmt.Sprintf("%s: got %s, want %s %q", path, tomlShow(got), typ, val)
	switch typ {
	case "string":
		if s, ok := got.(string); !ok || s != val {
			return bad
		}
	case "bool":
		if b, ok := got.(bool); !ok || strconv.FormatBool(b) != val {
			return bad
		}
	case "integer":
		n, ok := got.(Number)
		if !ok || !n.IsInt() {
			return bad
		}
		g, _ := n.BigInt()
		w, ok := new(big.Int).SetString(val, 10)
		if !ok || g == nil || g.Cmp(w) != 0 {
			return bad
		}
	case "float":
		n, ok := got.(Number)
		if !ok {
			return bad
		}
		g, err1 := strconv.ParseFloat(string(n), 64)
		w, err2 := strconv.ParseFloat(val, 64)
		if err1 != nil || err2 != nil || math.Float64bits(g) != math.Float64bits(w) {
			return bad
		}
	case "datetime", "datetime-local", "date-local", "time-local":
		s, ok := got.(string)
		if !ok || tomlSuiteTimeText(s) != tomlSuiteTimeText(val) {
			return bad
		}
	default:
		return fmt.Sprintf("%s: unknown type %q", path, typ)
	}
	return ""
}

// tomlSuiteTimeText drops trailing zeros from the fraction of a second.
func tomlSuiteTimeText(s string) string {
	dot := strings.IndexByte(s, '.')
	if dot < 0 {
		return s
	}
	end := dot + 1
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	frac := strings.TrimRight(s[dot+1:end], "0")
	if frac == "" {
		return s[:dot] + s[end:]
	}
	return s[:dot+1] + frac + s[end:]
}
