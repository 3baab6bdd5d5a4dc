package schema

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestSchemaCorpus measures the fast path's coverage of a corpus of real
// JSON Schemas: ZPIPE_SCHEMA_CORPUS names a folder of *.json schemas,
// such as SchemaStore's src/schemas/json (github.com/SchemaStore/schemastore,
// Apache-2.0), whose https://json.schemastore.org/ refs are mapped to the
// folder itself. It prints how many load, how many are checked fully
// natively, partly (some values by CUE) or not at all, and the constructs
// that keep values off the fast path. Schemas load isolated, as run and
// check load them: a recursive value the fast path cannot check is not
// left to CUE in this process, where nothing could stop it, but goes to
// the evaluator's process alone. The
// corpus is not part of the repository; make bench does not need it.
func TestSchemaCorpus(t *testing.T) {
	dir := os.Getenv("ZPIPE_SCHEMA_CORPUS")
	if dir == "" {
		t.Skip("set ZPIPE_SCHEMA_CORPUS to a folder of JSON Schemas")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	refs := map[string]string{"https://json.schemastore.org/": dir + "/"}
	var native, partly, apart, refused, timedOut, nativeAlone, nativeToo int
	aloneReasons := map[string]int{}
	reasons, partReasons := map[string]int{}, map[string]int{}
	loadErrs := map[string]int{}
	// Positions and names differ from schema to schema; the construct is
	// what counts.
	general := regexp.MustCompile(`^.*?\d+:\d+: `)
	// ZPIPE_SCHEMA_CORPUS_STATUS names a file to list each schema's
	// status in, to compare two versions schema by schema.
	var status []string
	defer func() {
		if p := os.Getenv("ZPIPE_SCHEMA_CORPUS_STATUS"); p != "" {
			os.WriteFile(p, []byte(strings.Join(status, "\n")+"\n"), 0o644)
		}
	}()
	for _, f := range files {
		done := make(chan struct{})
		var on bool
		var why string
		var fallbacks []Fallback
		var natives []NativeCheck
		var err error
		go func() {
			defer close(done)
			var s *Schema
			s, err = Load(Spec{File: f}, WithRefs(refs), Isolated())
			if err == nil {
				on, why = s.FastPath()
				fallbacks = s.Fallbacks()
				natives = s.NativeChecks()
			}
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			timedOut++
			t.Logf("%s: still compiling after 20s", filepath.Base(f))
			continue
		}
		switch {
		case err == nil && len(natives) > 0 && natives[0].Whole:
			nativeAlone++
			why := general.ReplaceAllString(natives[0].Why, "")
			if len(why) > 70 {
				why = why[:70]
			}
			aloneReasons[why]++
			continue
		case err == nil && len(natives) > 0:
			nativeToo++
		}
		switch {
		case err != nil:
			status = append(status, filepath.Base(f)+" refused")
		case on && len(fallbacks) > 0:
			status = append(status, filepath.Base(f)+" partly")
		case on:
			status = append(status, filepath.Base(f)+" native")
		default:
			status = append(status, filepath.Base(f)+" cue "+strings.SplitN(why, "\n", 2)[0])
		}
		switch {
		case err != nil:
			refused++
			msg := general.ReplaceAllString(strings.SplitN(err.Error(), "\n", 2)[0], "")
			if len(msg) > 70 {
				msg = msg[:70]
			}
			loadErrs[msg]++
		case on && len(fallbacks) > 0:
			partly++
			if slices.ContainsFunc(fallbacks, func(f Fallback) bool { return f.Apart }) {
				apart++
			}
			for _, fb := range fallbacks {
				why := general.ReplaceAllString(fb.Why, "")
				if i := strings.IndexAny(why, "\"("); i > 0 {
					why = why[:i]
				}
				partReasons[strings.TrimSpace(why)]++
			}
		case on:
			native++
		default:
			why = general.ReplaceAllString(why, "")
			if i := strings.IndexAny(why, "\"("); i > 0 {
				why = why[:i]
			}
			reasons[strings.TrimSpace(why)]++
		}
	}
	t.Logf("%d schemas: %d checked fully natively, %d partly (some values by CUE, in the evaluator's process for %d), %d wholly by CUE, %d refused, %d timed out; "+
		"%d by zpipe's JSON Schema validator alone, and %d of the others with it checking what CUE accepts",
		len(files), native, partly, apart, len(files)-native-partly-refused-timedOut-nativeAlone, refused, timedOut, nativeAlone, nativeToo)
	t.Log("\n" + top("why wholly by CUE", reasons) + top("values left to CUE, by construct", partReasons) + top("why refused", loadErrs) +
		top("why by the JSON Schema validator alone", aloneReasons))
}

func top(title string, m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n", title)
	for i, k := range keys {
		if i == 15 {
			break
		}
		fmt.Fprintf(&b, "  %4d  %s\n", m[k], k)
	}
	return b.String()
}
