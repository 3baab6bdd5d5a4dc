package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/zpipe/zpipe/format"
	"github.com/zpipe/zpipe/schema"
)

// countingSink counts the records that pass as their lines.
type countingSink struct {
	convertSink
	lines *int
}

func (s countingSink) AcceptLine(json []byte) error {
	*s.lines++
	return s.convertSink.AcceptLine(json)
}

// hidden hides a decoder's lines, so that Process decodes every record.
type hidden struct{ format.Decoder }

// Records that pass as their lines are written, counted and rejected
// exactly as when each is decoded and checked: the same bytes, in the same
// order, with the same counts.
func TestLinesThatPassWriteWhatDecodingWrites(t *testing.T) {
	sch, err := schema.Compile("u.cue", []byte(`#U: {id!: int & >=1, name: string & !="", role: *"user" | "admin", tags?: [...string]}`), "U")
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	in.WriteString("\xEF\xBB\xBF")
	for i := 1; i <= 700; i++ {
		switch {
		case i%97 == 0:
			in.WriteString("{not json\n")
		case i%13 == 0:
			fmt.Fprintf(&in, `{"id":%d,"name":""}`+"\n", i) // invalid
		case i%11 == 0:
			fmt.Fprintf(&in, `{"id":%d,"name":"n%d"}`+"\n", i, i) // a default to fill in
		case i%7 == 0:
			fmt.Fprintf(&in, `{"id": %d, "name": "n%d", "role": "admin"}`+"\r\n", i, i) // blanks
		case i%5 == 0:
			fmt.Fprintf(&in, `{"id":%d,"name":"n\u00e9%d","role":"user"}`+"\n\n", i, i) // an escape
		default:
			fmt.Fprintf(&in, `{"id":%d,"name":"n%d","role":"admin","tags":["a","b"]}`+"\n", i, i)
		}
	}
	var arr strings.Builder // the records as a json array, one a line
	arr.WriteString("[\n")
	for i, line := range strings.Split(strings.TrimSpace(in.String()), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(line, "\xEF\xBB\xBF"))
		if line == "" || strings.HasPrefix(line, "{not") {
			continue // a malformed element ends a json file
		}
		if i > 0 {
			arr.WriteString(",\n")
		}
		arr.WriteString(line)
	}
	arr.WriteString("\n]\n")
	for _, tc := range []struct {
		f   format.Format
		src string
	}{{format.NDJSON, in.String()}, {format.JSON, arr.String()}, {format.JSON, "[" + strings.ReplaceAll(arr.String()[1:], "\n", "")}} {
		t.Run(string(tc.f), func(t *testing.T) {
			if tally, passed := linesPassAsDecoded(t, sch, tc.f, tc.src); passed < 300 || tally.Failed == 0 {
				t.Errorf("%+v, %d passed as their text: the test does not mix valid and invalid records", tally, passed)
			}
		})
	}
	// A json file that goes wrong after a record that passes.
	ok := `{"id":1,"name":"a","role":"user"}`
	for _, src := range []string{"[" + ok + "}]", "[" + ok + ",", "[" + ok + "] x", "[" + ok + "," + ok, "[" + ok + " " + ok + "]"} {
		t.Run(src, func(t *testing.T) { linesPassAsDecoded(t, sch, format.JSON, src) })
	}
}

func linesPassAsDecoded(t *testing.T, sch *schema.Schema, f format.Format, in string) (Tally, int) {
	run := func(lines bool) (out, rejects string, tally Tally, passed int, perr error) {
		var ob, rb bytes.Buffer
		enc, _ := format.NewEncoder(format.NDJSON, &ob, format.EncodeOptions{})
		rej, _ := format.NewEncoder(format.NDJSON, &rb, format.EncodeOptions{})
		c := &Converter{Schema: sch, Out: enc, To: format.NDJSON, Rejects: rej}
		dec, err := format.NewDecoder(f, strings.NewReader(in), format.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if !lines {
			dec = hidden{dec}
		}
		v := sch.Validator()
		defer sch.Put(v)
		tally, perr = Process(context.Background(), "in", dec, v, countingSink{convertSink{c, "in"}, &passed})
		enc.Close()
		rej.Close()
		return ob.String(), rb.String(), tally, passed, perr
	}
	out, rejects, tally, passed, err := run(true)
	wantOut, wantRejects, wantTally, _, wantErr := run(false)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Errorf("error %v, want %v", err, wantErr)
	}
	if out != wantOut {
		t.Errorf("lines that pass write\n%.400s\nwant\n%.400s", out, wantOut)
	}
	if rejects != wantRejects {
		t.Errorf("rejects\n%.400s\nwant\n%.400s", rejects, wantRejects)
	}
	if tally != wantTally {
		t.Errorf("tally %+v, want %+v", tally, wantTally)
	}
	return tally, passed
}
