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
	run := func(lines bool) (out, rejects string, tally Tally, passed int) {
		var ob, rb bytes.Buffer
		enc, _ := format.NewEncoder(format.NDJSON, &ob, format.EncodeOptions{})
		rej, _ := format.NewEncoder(format.NDJSON, &rb, format.EncodeOptions{})
		c := &Converter{Schema: sch, Out: enc, To: format.NDJSON, Rejects: rej}
		dec, _ := format.NewDecoder(format.NDJSON, strings.NewReader(in.String()), format.DefaultLimits)
		if !lines {
			dec = hidden{dec}
		}
		v := sch.Validator()
		defer sch.Put(v)
		tally, err := Process(context.Background(), "in.ndjson", dec, v, countingSink{convertSink{c, "in.ndjson"}, &passed})
		if err != nil {
			t.Fatal(err)
		}
		enc.Close()
		rej.Close()
		return ob.String(), rb.String(), tally, passed
	}
	out, rejects, tally, passed := run(true)
	wantOut, wantRejects, wantTally, _ := run(false)
	if out != wantOut {
		t.Errorf("lines that pass write\n%.400s\nwant\n%.400s", out, wantOut)
	}
	if rejects != wantRejects {
		t.Errorf("rejects\n%.400s\nwant\n%.400s", rejects, wantRejects)
	}
	if tally != wantTally {
		t.Errorf("tally %+v, want %+v", tally, wantTally)
	}
	if passed < 350 || tally.Failed == 0 {
		t.Errorf("%d records passed as their lines and %d failed: the test does not mix them", passed, tally.Failed)
	}
}
