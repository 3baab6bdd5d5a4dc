package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// yamlSuiteDir is the data branch of yaml-test-suite, kept beside the repo.
var yamlSuiteDir = filepath.Join("..", "..", "shared", "testsuites", "yaml")

// yamlSuiteKnown lists the suite cases the decoder gets wrong and why. They
// are logged, not failed; a case that starts passing fails the test until it
// is taken off the list, so the list stays true.
var yamlSuiteKnown = map[string]string{
	"4MUZ/02": `goccy's parser rejects a flow mapping key whose ":" is on the next line`,
	"VJP3/01": `goccy's parser rejects a flow mapping key whose ":" is on the next line`,
	"M7A3":    "goccy's parser can't read a top-level block scalar whose lines start at column 1",
}

// TestYAMLSuite reads every case of yaml-test-suite: a case with an error
// file must fail to decode, a case with in.json must decode to its values,
// and no case may panic or hang.
func TestYAMLSuite(t *testing.T) {
	if _, err := os.Stat(yamlSuiteDir); err != nil {
		t.Skipf("yaml-test-suite is not at %s: %v", yamlSuiteDir, err)
	}
	var ids []string
	err := filepath.WalkDir(yamlSuiteDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "tags" {
			return filepath.SkipDir // lists of cases by tag, not cases
		}
		if !d.IsDir() && d.Name() == "in.yaml" {
			id, _ := filepath.Rel(yamlSuiteDir, filepath.Dir(path))
			ids = append(ids, filepath.ToSlash(id))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	passed := 0
	for _, id := range ids {
		problem := yamlSuiteCase(filepath.Join(yamlSuiteDir, filepath.FromSlash(id)))
		why, known := yamlSuiteKnown[id]
		switch {
		case problem == "" && known:
			t.Errorf("case %s passes now: take it off yamlSuiteKnown (%s)", id, why)
		case problem == "":
			passed++
		case known:
			t.Logf("case %s fails as known (%s): %s", id, why, problem)
		default:
			t.Errorf("case %s: %s", id, problem)
		}
	}
	for id := range yamlSuiteKnown {
		if !yamlHasCase(ids, id) {
			t.Errorf("yamlSuiteKnown names case %s, which the suite doesn't have", id)
		}
	}
	t.Logf("yaml-test-suite: %d of %d cases pass", passed, len(ids))
}

func yamlHasCase(list []string, s string) bool {
	i := sort.SearchStrings(list, s)
	return i < len(list) && list[i] == s
}

// yamlSuiteCase runs one case and says what went wrong, or "".
func yamlSuiteCase(dir string) string {
	in, err := os.ReadFile(filepath.Join(dir, "in.yaml"))
	if err != nil {
		return err.Error()
	}
	recs, problem, decErr := decodeYAMLGuarded(in, 5*time.Second)
	if problem != "" {
		return problem
	}
	if decErr != nil {
		var e *Error
		if !errors.As(decErr, &e) || e.Msg == "" || e.Line == 0 {
			return fmt.Sprintf("error without a position: %v", decErr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "error")); err == nil {
		if decErr == nil {
			return "decoded without an error, but the case is invalid YAML"
		}
		return ""
	}
	want, err := os.ReadFile(filepath.Join(dir, "in.json"))
	if err != nil {
		return "" // JSON can't represent it: anything but a crash will do
	}
	if decErr != nil {
		return fmt.Sprintf("unexpected error: %v", decErr)
	}
	var wantVals []any
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.UseNumber()
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return fmt.Sprintf("in.json: %v", err)
		}
		wantVals = append(wantVals, yamlJSONComparable(v))
	}
	var got []any
	for _, r := range recs {
		got = append(got, yamlComparable(r.Value))
	}
	if len(got) != len(wantVals) {
		return fmt.Sprintf("got %d records, want %d: %s", len(got), len(wantVals), yamlShow(got))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], wantVals[i]) {
			return fmt.Sprintf("record %d is %s, want %s", i+1, yamlShow(got[i]), yamlShow(wantVals[i]))
		}
	}
	return ""
}

func yamlShow(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// decodeYAMLGuarded decodes every record of in, going on after recoverable
// errors, and returns the first error. A panic or a decode that takes longer
// than limit comes back as problem.
func decodeYAMLGuarded(in []byte, limit time.Duration) (recs []Record, problem string, first error) {
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
		d, err := newYAMLDecoder(bytes.NewReader(in), DefaultLimits)
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
				if res.err == nil {
					res.err = err
				}
				var e *Error
				if errors.As(err, &e) && e.Recoverable {
					continue
				}
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

// yamlJSONComparable and yamlComparable turn values into plain Go maps, slices
// and exact rational numbers, so that 450.00 equals 450.
func yamlJSONComparable(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = yamlJSONComparable(x)
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = yamlJSONComparable(x)
		}
		return v
	case json.Number:
		return yamlRatText(string(v))
	}
	return v
}

func yamlComparable(v any) any {
	switch v := v.(type) {
	case *Object:
		m := make(map[string]any, len(v.Fields))
		for _, f := range v.Fields {
			m[f.Key] = yamlComparable(f.Value)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = yamlComparable(x)
		}
		return out
	case Number:
		return yamlRatText(string(v))
	}
	return v
}

// yamlRatText writes a number exactly, the same whatever its spelling.
func yamlRatText(s string) string {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "bad number " + s
	}
	if strings.HasPrefix(s, "-") && r.Sign() == 0 {
		return "0" // -0 and 0 are one value in JSON
	}
	return r.RatString()
}
