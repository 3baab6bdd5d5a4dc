package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/zpipe/zpipe/internal/atomicfile"
)

// itemTrail is a stage's share of the run record: its items' compact
// JSON, joined by commas, in a gzip file of the run's working folder.
// The saved record is gzip too, and the trails are copied into it as
// they are: a million items are compressed once, on every core, and
// never read back. As plain JSON, a record was 520 bytes an item, and
// writing it twice a fifth of a no-op rerun.
type itemTrail struct {
	path string
	f    *os.File
	n    int
	err  error
}

func newItemTrail(path string) *itemTrail { return &itemTrail{path: path} }

// write appends a gzip member of n items, joined by commas, as
// gzipMember makes it; err is what stopped their encoding, if anything.
func (t *itemTrail) write(member []byte, n int, err error) {
	if t.err != nil || n == 0 {
		return
	}
	if t.err = err; err != nil {
		return
	}
	if t.f == nil {
		if t.f, t.err = os.OpenFile(t.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); t.err != nil {
			return
		}
	}
	if t.n > 0 {
		if _, t.err = t.f.Write(comma()); t.err != nil {
			return
		}
	}
	_, t.err = t.f.Write(member)
	t.n += n
}

// gzipMember appends b compressed as one gzip member, with z, which may
// be nil: a compressor is about a megabyte to make. Members joined are one
// gzip stream, which gzip -d, Go and Python read whole.
func gzipMember(z *gzip.Writer, dst, b []byte) (*gzip.Writer, []byte, error) {
	buf := bytes.NewBuffer(dst)
	if z == nil {
		var err error
		if z, err = gzip.NewWriterLevel(buf, gzip.BestSpeed); err != nil {
			return nil, dst, err
		}
	} else {
		z.Reset(buf)
	}
	if _, err := z.Write(b); err != nil {
		return z, dst, err
	}
	if err := z.Close(); err != nil {
		return z, dst, err
	}
	return z, buf.Bytes(), nil
}

// comma is the gzip member that joins two members of items: made when
// first needed, since a compressor is 0.2 ms of every zpipe's start.
var comma = sync.OnceValue(func() []byte {
	_, b, err := gzipMember(nil, nil, []byte(","))
	if err != nil {
		panic(err) // writing to memory
	}
	return b
})

// appendItemLine appends p and a newline, as a json.Encoder writes it.
func appendItemLine(b []byte, p *ItemProvenance) ([]byte, error) {
	if line := appendItemJSON(b, p); line != nil {
		return append(line, '\n'), nil
	}
	// What the quick form does not write exactly as encoding/json does,
	// encoding/json writes.
	j, err := json.Marshal(p)
	if err != nil {
		return b, err
	}
	return append(append(b, j...), '\n'), nil
}

// appendItemJSON appends p as json.Marshal writes it, or returns nil
// when p holds what it does not write so: a string with a byte it would
// escape, a time it would refuse. Through encoding/json's reflection the
// items were a tenth of a no-op rerun.
func appendItemJSON(b []byte, p *ItemProvenance) []byte {
	ok := true
	str := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, `,"`...)
		b = append(b, name...)
		b = append(b, `":"`...)
		for i := 0; i < len(v); i++ {
			if c := v[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				ok = false
				return
			}
		}
		b = append(b, v...)
		b = append(b, '"')
	}
	start := len(b)
	b = append(b, '{')
	str("id", p.ID, false)
	b = append(b[:start+1], b[start+2:]...) // the first field has no comma
	str("source", p.Source, true)
	str("input_sha256", p.InputSHA256, false)
	str("source_format", p.SourceFormat, false)
	if len(p.Outputs) > 0 {
		b = append(b, `,"outputs":[`...)
		for i, o := range p.Outputs {
			if i > 0 {
				b = append(b, ',')
			}
			n := len(b)
			b = append(b, '{')
			str("path", o.Path, true)
			str("format", o.Format, false)
			str("sha256", o.SHA256, false)
			b = append(b[:n+1], b[n+2:]...)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if s := p.Schema; s != nil {
		b = append(b, `,"schema":{`...)
		n := len(b)
		str("path", s.Path, false)
		str("definition", s.Definition, true)
		str("sha256", s.SHA256, false)
		b = append(b[:n], b[n+1:]...)
		b = append(b, '}')
	}
	b = append(b, `,"attempts":`...)
	b = strconv.AppendInt(b, int64(p.Attempts), 10)
	b = append(b, `,"duration_ns":`...)
	b = strconv.AppendInt(b, p.DurationNS, 10)
	// MarshalJSON refuses a year past 9999 and a zone 24 hours or more
	// away; an offset with seconds is left to it too.
	if y := p.Time.Year(); y < 0 || y > 9999 {
		return nil
	}
	if _, off := p.Time.Zone(); off%60 != 0 || off >= 24*3600 || off <= -24*3600 {
		return nil
	}
	b = append(b, `,"time":"`...)
	b = p.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	str("error", p.Error, true)
	if p.UpToDate {
		b = append(b, `,"up_to_date":true`...)
	}
	if !ok {
		return nil
	}
	return append(b, '}')
}

// done closes the file, until the next write: a run of many stages holds
// no file open for each.
func (t *itemTrail) done() {
	if t == nil || t.f == nil {
		return
	}
	if err := t.f.Close(); err != nil && t.err == nil {
		t.err = err
	}
	t.f = nil
}

// copyTo appends the trail's items to a record being written to w, after
// a comma unless *first says none came before; it clears *first once it
// has written some.
func (t *itemTrail) copyTo(w io.Writer, first *bool) error {
	t.done()
	if t.err != nil || t.n == 0 {
		return t.err
	}
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if !*first {
		if _, err := w.Write(comma()); err != nil {
			return err
		}
	}
	*first = false
	// Both are files: the kernel copies them (copy_file_range).
	_, err = io.Copy(w, f)
	return err
}

// recordFrame is head, with no items, as json.Encoder with SetIndent("",
// indent) writes it, cut where its items go.
func recordFrame(head *RunProvenance, indent string) (before, after []byte, err error) {
	h := *head
	h.Items = nil
	b, err := json.Marshal(&h)
	if err != nil {
		return nil, nil, err
	}
	hole := `,"items":null,`
	if indent != "" {
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", indent); err != nil {
			return nil, nil, err
		}
		b = out.Bytes()
		hole = ",\n" + indent + `"items": null,` + "\n"
	}
	// Outside strings, whose quotes are escaped, this can only be the
	// items field.
	before, after, ok := bytes.Cut(b, []byte(hole))
	if !ok {
		return nil, nil, fmt.Errorf("provenance: no items field in %.40s", b)
	}
	return before, after, nil
}

// writeRecord writes a run record as json.Encoder with SetIndent("",
// indent) writes head with items as its Items: items gives each item's
// compact JSON.
func writeRecord(w io.Writer, head *RunProvenance, indent string, items func(yield func([]byte) bool) error) error {
	before, after, err := recordFrame(head, indent)
	if err != nil {
		return err
	}
	open, sep, end := `,"items":[`, ",", "],"
	if indent != "" {
		open, sep, end = ",\n"+indent+`"items": [`, ",", "\n"+indent+"],\n"
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(before)
	bw.WriteString(open)
	inner := strings.Repeat(indent, 2)
	var pretty bytes.Buffer
	n := 0
	var bad error
	err = items(func(item []byte) bool {
		if n > 0 {
			bw.WriteString(sep)
		}
		n++
		if indent == "" {
			bw.Write(item)
			return true
		}
		pretty.Reset()
		if bad = json.Indent(&pretty, item, inner, indent); bad != nil {
			return false
		}
		bw.WriteString("\n" + inner)
		bw.Write(pretty.Bytes())
		return true
	})
	if err = errors.Join(err, bad); err != nil {
		return err
	}
	if n == 0 && indent != "" {
		end = "],\n"
	}
	bw.WriteString(end)
	bw.Write(after)
	bw.WriteByte('\n')
	return bw.Flush()
}

// writeSavedRecord writes the run record as the state folder keeps it:
// gzip of what writeRecord writes compact, its items the trails' own
// members, copied.
func writeSavedRecord(w io.Writer, head *RunProvenance, trails []*itemTrail) error {
	before, after, err := recordFrame(head, "")
	if err != nil {
		return err
	}
	z, b, err := gzipMember(nil, nil, slices.Concat(before, []byte(`,"items":[`)))
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return err
	}
	first := true
	for _, t := range trails {
		if err := t.copyTo(w, &first); err != nil {
			return err
		}
	}
	_, b, err = gzipMember(z, b[:0], append(append([]byte("],"), after...), '\n'))
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// recordItems gives the items of the run record at path, each as the
// JSON it is saved as.
func recordItems(path string) func(yield func([]byte) bool) error {
	return func(yield func([]byte) bool) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		z, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		dec := json.NewDecoder(z)
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return fmt.Errorf("%s: not a run record", path)
		}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if key != "items" {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				continue
			}
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return fmt.Errorf("%s: its items are not a list", path)
			}
			for dec.More() {
				var item json.RawMessage
				if err := dec.Decode(&item); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if !yield(item) {
					return nil
				}
			}
			return nil
		}
		return nil
	}
}

// ProvenanceItems reads the run's items back from its saved record,
// RunRecord, in the order the record holds them; the error ends the
// sequence. Summary.Provenance holds all of the record but them: a run
// of a million files has a million.
func (s *Summary) ProvenanceItems() iter.Seq2[ItemProvenance, error] {
	return func(yield func(ItemProvenance, error) bool) {
		if s.Provenance == nil {
			return // nothing ran
		}
		if s.RunRecord == "" {
			yield(ItemProvenance{}, errors.New("the run record was not saved"))
			return
		}
		var bad error
		err := recordItems(s.RunRecord)(func(b []byte) bool {
			var p ItemProvenance
			if bad = json.Unmarshal(b, &p); bad != nil {
				return false
			}
			return yield(p, nil)
		})
		if err = errors.Join(err, bad); err != nil {
			yield(ItemProvenance{}, err)
		}
	}
}

// WriteProvenance writes the run's whole audit trail, its items read back
// from RunRecord, as json.Encoder with SetIndent("", indent) would.
func (s *Summary) WriteProvenance(w io.Writer, indent string) error {
	if s.Provenance == nil || s.RunRecord == "" {
		return errors.New("the run record was not saved")
	}
	return writeRecord(w, s.Provenance, indent, recordItems(s.RunRecord))
}

// writeProvenance saves the audit trail as runs/<id>/provenance.json.gz,
// its items copied from the stages' trails, and returns its path.
func (r *runner) writeProvenance(p *RunProvenance, nodes []*node) (string, error) {
	// Compact and compressed: it is read by programs. zpipe run
	// --provenance writes it plain and indented, for people.
	path := filepath.Join(r.opts.StateDir, "runs", p.RunID, recordName)
	trails := make([]*itemTrail, 0, len(nodes))
	for _, n := range nodes {
		if n.trail != nil {
			trails = append(trails, n.trail)
		}
	}
	err := atomicfile.Write(path, func(w io.Writer) error { return writeSavedRecord(w, p, trails) })
	return path, err
}

// recordName is the file a run record is saved as, in its run's folder.
const recordName = "provenance.json.gz"
