package format

import (
	"io"
	"unsafe"
)

// A JSON array streams through a window of the input, so that a file of
// any size is read in bounded memory: each element is parsed once the
// window holds all of it, up to the comma or bracket that ends it, and the
// window moves on past the elements read. A window is never written once
// filled: records keep strings cut from it (jsonParser.src) and their
// locate functions read it, so a new window is a new buffer.

// jsonWindow is how much a window grows by, and how far the decoder reads
// before it starts a new one, once past the first few windows.
var jsonWindow = 256 << 10

// elemScan finds where an array element ends: the comma or bracket at
// depth zero, outside strings. It keeps its state between reads, so an
// element larger than a window is scanned once.
type elemScan struct {
	pos      int // next byte to look at, in the window
	depth    int
	inString bool
	escaped  bool
	started  bool // pos belongs to the element being scanned
}

// scanStops marks the bytes a scan must look at: outside a string
// (stopOutside) the brackets, comma and quote; inside one (stopInside)
// the quote and backslash, and (stopBreak) the line break no string
// holds, which the splitter looks for. Runs of other bytes are skipped in
// a tight loop.
const (
	stopOutside = 1 << iota
	stopInside
	stopBreak
)

var scanStops = func() (t [256]uint8) {
	for _, c := range []byte(`[]{},"`) {
		t[c] |= stopOutside
	}
	t['"'] |= stopInside
	t['\\'] |= stopInside
	t['\n'] |= stopBreak
	return t
}()

// end returns the offset of the byte that ends the element at s.pos in
// data, or -1 when data ends first.
func (s *elemScan) end(data []byte) int {
	pos := s.pos
	for pos < len(data) {
		if s.escaped {
			s.escaped = false
			pos++
			continue
		}
		stop := uint8(stopOutside)
		if s.inString {
			stop = stopInside
		}
		for pos < len(data) && scanStops[data[pos]]&stop == 0 {
			pos++
		}
		if pos == len(data) {
			break
		}
		c := data[pos]
		switch {
		case s.inString:
			if c == '\\' {
				s.escaped = true
			} else {
				s.inString = false
			}
		case c == '"':
			s.inString = true
		case c == '[' || c == '{':
			s.depth++
		case c == ']' || c == '}':
			if s.depth == 0 {
				s.pos = pos
				return pos
			}
			s.depth--
		case c == ',' && s.depth == 0:
			s.pos = pos
			return pos
		}
		pos++
	}
	s.pos = pos
	return -1
}

// setData makes data the window; src shares its bytes.
func (d *jsonDecoder) setData(data []byte) {
	d.p.data, d.p.src = data, ""
	if len(data) > 0 {
		d.p.src = unsafe.String(&data[0], len(data))
	}
}

// firstFill is the size of the first window, which doubles with each
// fill up to jsonWindow: most json files are small, and a first window
// of 4 KiB was a quarter of what a first run of a million one-record
// files allocated.
const firstFill = 512

// fill reads more of the input into a new window that holds the unread
// part of the old one; at the end of the input, in becomes nil.
func (d *jsonDecoder) fill() error {
	if d.in == nil {
		return nil
	}
	keep := d.p.data[d.p.pos:]
	d.step = min(max(d.step*2, firstFill), jsonWindow)
	buf := make([]byte, len(keep), len(keep)+max(d.step, len(keep)))
	copy(buf, keep)
	n, err := io.ReadFull(d.in, buf[len(keep):cap(buf)])
	buf = buf[:len(keep)+n]
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		d.in, err = nil, nil
	}
	if err != nil {
		return err
	}
	// Positions count on from the old window's: move the cursor to
	// where the new one starts.
	drop := d.p.pos
	if drop > 0 {
		d.cur.at(d.p.data, drop)
		d.cur.off -= drop
		d.cur.lineStart -= drop
	}
	d.scan.pos -= drop
	d.p.pos = 0
	d.setData(buf)
	return nil
}

// readAll reads the rest of the input into the window.
func (d *jsonDecoder) readAll() error {
	for d.in != nil {
		if err := d.fill(); err != nil {
			return err
		}
	}
	return nil
}

// window makes sure the window holds the next element whole, up to what
// ends it, or the rest of the input.
func (d *jsonDecoder) window() error {
	if d.in == nil {
		return nil
	}
	if !d.scan.started {
		d.scan = elemScan{pos: d.p.pos, started: true}
	}
	for d.scan.end(d.p.data) < 0 && d.in != nil {
		if err := d.fill(); err != nil {
			return err
		}
	}
	d.scan.started = false
	if d.scan.pos < len(d.p.data) {
		d.scanned = d.scan.pos // NextLine need not scan the element again
	}
	return nil
}

// skipSpace skips white space, reading on while the window holds only that.
func (d *jsonDecoder) skipSpace() error {
	for {
		d.p.skipSpace()
		if d.p.pos < len(d.p.data) || d.in == nil {
			return nil
		}
		if err := d.fill(); err != nil {
			return err
		}
	}
}
