package engine

import (
	"encoding/json"
	"math"
	"unicode/utf8"
)

// decodeEntry reads one journal line. The lines zpipe writes for items,
// their bases and runs (nearly all of a journal of a million files) are
// read by hand, five times faster than by reflection; any other line, and
// anything these readers do not expect, goes to encoding/json, so that a
// line means what encoding/json says it means. FuzzDecodeEntry holds the
// two to the same result.
func decodeEntry(line []byte, e *entry) error {
	d := entryDecoder{b: line}
	if d.entry(e) && d.i == len(d.b) {
		return nil
	}
	*e = entry{}
	return json.Unmarshal(line, e)
}

// entryDecoder reads the compact JSON that encoding/json writes for an
// entry, and reports false for anything else.
type entryDecoder struct {
	b []byte
	i int
}

func (d *entryDecoder) next(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// raw reads a string without escapes, of valid UTF-8, and returns its
// bytes.
func (d *entryDecoder) raw() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start := d.i
	ascii := true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

func (d *entryDecoder) str() (string, bool) {
	b, ok := d.raw()
	return string(b), ok
}

// uint reads digits as encoding/json writes a non-negative integer.
func (d *entryDecoder) uint() (uint64, bool) {
	start := d.i
	var n uint64
	for ; d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9'; d.i++ {
		c := uint64(d.b[d.i] - '0')
		if n > (math.MaxUint64-c)/10 {
			return 0, false
		}
		n = n*10 + c
	}
	if d.i == start || (d.b[start] == '0' && d.i-start > 1) {
		return 0, false
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return 0, false
	}
	return n, true
}

// int reads an integer as encoding/json writes one.
func (d *entryDecoder) int() (int64, bool) {
	neg := d.next('-')
	n, ok := d.uint()
	switch {
	case !ok:
		return 0, false
	case neg && n <= 1<<63:
		return -int64(n), true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

// object reads {"key":value,...}, each value by field; a key seen twice
// is refused, since encoding/json would merge the two.
func (d *entryDecoder) object(field func(key []byte) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	var buf [24][]byte
	seen := buf[:0]
	for {
		key, ok := d.raw()
		if !ok || !d.next(':') {
			return false
		}
		for _, k := range seen {
			if string(k) == string(key) {
				return false
			}
		}
		seen = append(seen, key)
		if !field(key) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

func (d *entryDecoder) intField(p *int) bool {
	n, ok := d.int()
	if !ok || int64(int(n)) != n {
		return false
	}
	*p = int(n)
	return true
}

func (d *entryDecoder) strField(p *string) bool {
	s, ok := d.str()
	*p = s
	return ok
}

// wordField reads a type or status: one of a few words, kept as the
// constant rather than a copy per line.
func (d *entryDecoder) wordField(p *string) bool {
	b, ok := d.raw()
	if !ok {
		return false
	}
	switch string(b) {
	case "item":
		*p = "item"
	case "base":
		*p = "base"
	case "run":
		*p = "run"
	case "done":
		*p = "done"
	case "failed":
		*p = "failed"
	case "removed":
		*p = "removed"
	default:
		*p = string(b)
	}
	return true
}

func (d *entryDecoder) entry(e *entry) bool {
	return d.object(func(key []byte) bool {
		// Compared as string(key), which makes no string.
		switch string(key) {
		case "type":
			return d.wordField(&e.Type)
		case "run":
			return d.strField(&e.Run)
		case "stage":
			return d.strField(&e.Stage)
		case "key":
			return d.strField(&e.Key)
		case "status":
			return d.wordField(&e.Status)
		case "error":
			return d.strField(&e.Error)
		case "inputs":
			return d.strField(&e.Inputs)
		case "fp":
			e.FP = &fingerprint{}
			return d.fingerprint(e.FP)
		case "stat":
			e.Stat = &fileStat{}
			return d.stat(e.Stat)
		case "parts":
			return d.parts(&e.Parts)
		case "rejects":
			e.Rejects = &partRef{}
			return d.part(e.Rejects)
		case "records":
			return d.intField(&e.Records)
		case "ok":
			return d.intField(&e.OK)
		case "failed":
			return d.intField(&e.Failed)
		case "attempts":
			return d.intField(&e.Attempts)
		case "duration_ns":
			n, ok := d.int()
			e.Duration = n
			return ok
		case "time":
			start := d.i
			if _, ok := d.str(); !ok {
				return false
			}
			return e.Time.UnmarshalJSON(d.b[start:d.i]) == nil
		}
		return false // outputs, renames, then, or a key of another version
	})
}

func (d *entryDecoder) fingerprint(fp *fingerprint) bool {
	return d.object(func(key []byte) bool {
		// Compared as string(key), which makes no string.
		switch string(key) {
		case "input":
			return d.strField(&fp.Input)
		case "base":
			return d.strField(&fp.Base)
		case "schema":
			return d.strField(&fp.Schema)
		case "transform":
			return d.strField(&fp.Transform)
		case "settings":
			return d.strField(&fp.Settings)
		case "version":
			return d.strField(&fp.Version)
		}
		return false
	})
}

// stat reads the array form, five numbers each read as UnmarshalJSON
// reads them (size and times signed, inode and device not); the object
// form goes to encoding/json.
func (d *entryDecoder) stat(s *fileStat) bool {
	if !d.next('[') {
		return false
	}
	var v [3]int64
	for k := range v {
		if k > 0 && !d.next(',') {
			return false
		}
		n, ok := d.int() // times before 1970 are negative
		if !ok {
			return false
		}
		v[k] = n
	}
	var ok bool
	if !d.next(',') {
		return false
	}
	if s.Ino, ok = d.uint(); !ok || !d.next(',') {
		return false
	}
	if s.Dev, ok = d.uint(); !ok {
		return false
	}
	s.Size, s.Mtime, s.Ctime = v[0], v[1], v[2]
	return d.next(']')
}

func (d *entryDecoder) parts(ps *[]partRef) bool {
	if !d.next('[') {
		return false
	}
	*ps = []partRef{}
	if d.next(']') {
		return true
	}
	for {
		var p partRef
		if !d.part(&p) {
			return false
		}
		*ps = append(*ps, p)
		if d.next(']') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}

func (d *entryDecoder) part(p *partRef) bool {
	return d.object(func(key []byte) bool {
		// Compared as string(key), which makes no string.
		switch string(key) {
		case "output":
			return d.intField(&p.Output)
		case "file":
			return d.strField(&p.File)
		case "offset":
			n, ok := d.int()
			p.Offset = n
			return ok
		case "sha256":
			return d.strField(&p.SHA256)
		case "size":
			n, ok := d.int()
			p.Size = n
			return ok
		case "records":
			return d.intField(&p.Records)
		}
		return false
	})
}
