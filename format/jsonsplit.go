package format

import (
	"bytes"
	"io"
)

// A large json file whose top level is an array is cut between elements,
// so that its chunks are read on every core as an ndjson file's are. The
// cut is found by a scan of the structure alone (brackets, strings,
// commas); what the scan cannot vouch for is read whole, so that the
// decoder reports what is wrong at its place, once.

// splitScanBuf is how much of the input the scan holds at a time; tests
// make it small, so that elements straddle blocks.
var splitScanBuf = 256 << 10

// splitDepth bounds the scan's stack: an array nested deeper is read
// whole, and its decoder refuses it by Limits.MaxDepth.
const splitDepth = 1 << 16

// splitJSONArray cuts a json array into chunks of about size bytes, each
// a run of whole elements. A chunk ends just after the comma that follows
// its last element; the last chunk holds the closing bracket and the white
// space after it. Anything else is not cut, so that an error that fails
// the file when it is read whole fails it whole when read in chunks too:
// another kind of top-level value, a byte order mark other than UTF-8's,
// brackets that do not match, a line break inside a string, an empty
// element (a comma too many), an array that does not close, anything but
// white space after it. An error inside an element is the element's: its
// decoder skips it.
func splitJSONArray(r io.Reader, size int64) ([]Chunk, error) {
	s := jsonSplitter{size: size, line: 1, cur: Chunk{Line: 1, Record: 1}}
	buf := make([]byte, splitScanBuf)
	for {
		n, err := io.ReadFull(r, buf)
		switch {
		case n == 0 || s.refused:
		case s.done:
			s.refused = !blank(buf[:n])
		default:
			s.scan(buf[:n])
		}
		s.off += int64(n)
		if s.refused {
			return nil, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if !s.done {
		return nil, nil
	}
	s.cur.Size = s.off - s.cur.Offset
	s.cur.Records = s.elems - s.cur.Record + 1
	return append(s.chunks, s.cur), nil
}

// jsonSplitter is the state of splitJSONArray's scan, kept across reads.
type jsonSplitter struct {
	size int64
	// off is the input offset of the block being scanned; line and
	// lineStart place the block's first byte.
	off       int64
	line      int
	lineStart int64
	started   bool   // past the array's opening bracket
	stack     []byte // the brackets open inside the array
	inString  bool
	escaped   bool
	// sawValue is set once the element under way shows a byte other
	// than white space.
	sawValue bool
	elems    int // elements seen, counting the one under way
	done     bool
	refused  bool
	cur      Chunk
	chunks   []Chunk
}

func (s *jsonSplitter) scan(b []byte) {
	i := 0
	if !s.started {
		if i = s.start(b); i < 0 {
			return
		}
	}
	for i < len(b) {
		if s.escaped {
			s.escaped = false
			i++
			continue
		}
		stop := uint8(stopOutside)
		if s.inString {
			stop = stopInside | stopBreak
		}
		from := i
		for i < len(b) && scanStops[b[i]]&stop == 0 {
			i++
		}
		if !s.sawValue && !s.inString && len(s.stack) == 0 && !blank(b[from:i]) {
			s.sawValue = true // a number or literal between elements
		}
		if i == len(b) {
			break
		}
		c := b[i]
		if len(s.stack) == 0 && (c == '"' || c == '[' || c == '{') && !s.inString {
			s.sawValue = true
		}
		switch {
		case s.inString:
			switch c {
			case '\\':
				s.escaped = true
			case '"':
				s.inString = false
			default: // a line break, which no json string holds
				s.refused = true
				return
			}
		case c == '"':
			s.inString = true
		case c == '[' || c == '{':
			if len(s.stack) == splitDepth {
				s.refused = true
				return
			}
			s.stack = append(s.stack, c)
		case c == ']' && len(s.stack) == 0:
			// A trailing comma leaves an empty last element; an
			// empty array has no element at all.
			s.done = true
			s.refused = !s.sawValue && s.elems > 1 || !blank(b[i+1:])
			return
		case c == ']' || c == '}':
			if len(s.stack) == 0 || s.stack[len(s.stack)-1] != c-2 { // '[' is ']'-2, '{' is '}'-2
				s.refused = true
				return
			}
			s.stack = s.stack[:len(s.stack)-1]
		case c == ',' && len(s.stack) == 0:
			if !s.sawValue {
				s.refused = true
				return
			}
			s.elems, s.sawValue = s.elems+1, false
			if end := s.off + int64(i) + 1; end-s.cur.Offset >= s.size {
				s.cut(b, i+1)
			}
		}
		i++
	}
	s.advance(b)
}

// start finds the array's opening bracket in the first block, after a
// UTF-8 byte order mark and white space, and returns the offset past it;
// -1 when the input is not an array, or the block holds only space.
func (s *jsonSplitter) start(b []byte) int {
	i := 0
	if s.off == 0 && bytes.HasPrefix(b, bom) {
		// The decoder drops the mark before it counts columns.
		i = len(bom)
		s.lineStart = int64(len(bom))
	}
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if i == len(b) || b[i] != '[' {
		// An input that opens with more space than a block is read
		// whole too: it is no array worth cutting.
		s.refused = true
		return -1
	}
	s.started, s.elems = true, 1
	return i + 1
}

// cut ends the current chunk before b[at], which follows a comma.
func (s *jsonSplitter) cut(b []byte, at int) {
	end := s.off + int64(at)
	line, lineStart := s.line, s.lineStart
	if n := bytes.Count(b[:at], []byte{'\n'}); n > 0 {
		line += n
		lineStart = s.off + int64(bytes.LastIndexByte(b[:at], '\n')) + 1
	}
	s.cur.Size = end - s.cur.Offset
	s.cur.Records = s.elems - s.cur.Record
	s.chunks = append(s.chunks, s.cur)
	s.cur = Chunk{Offset: end, Line: line, Col: int(end-lineStart) + 1, Record: s.elems}
}

// advance moves the line count past block b.
func (s *jsonSplitter) advance(b []byte) {
	if n := bytes.Count(b, []byte{'\n'}); n > 0 {
		s.line += n
		s.lineStart = s.off + int64(bytes.LastIndexByte(b, '\n')) + 1
	}
}

// blank reports whether b is JSON white space alone.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// newJSONChunkDecoder reads a chunk that splitJSONArray cut: the first
// opens the array, every other starts at an element, and all but the last
// end after a comma, where their records end.
func newJSONChunkDecoder(r io.Reader, c Chunk, lim Limits) (Decoder, error) {
	if c.Offset == 0 {
		dec, err := newJSONDecoder(r, lim)
		if d, ok := dec.(*jsonDecoder); ok {
			d.open = true
		}
		return dec, err
	}
	d := &jsonDecoder{
		p:      jsonParser{lim: lim, depth: 1},
		cur:    cursor{line: c.Line, lineStart: 1 - max(c.Col, 1)},
		in:     r,
		inList: true,
		open:   true,
		n:      c.Record - 1,
	}
	if err := d.skipSpace(); err != nil {
		return nil, err
	}
	return d, nil
}
