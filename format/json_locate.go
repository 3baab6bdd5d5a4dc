package format

import "strconv"

// jsonIndex finds a value in a record's JSON text by its path. It reads
// each object and list on the way only the first time it is entered: a
// record with many invalid fields was read again from its start for each
// error, which grew with their square (20,000 errors: 18 s).
// It lives in a locateCache, for the paths of one Record.LocateAll.
type jsonIndex struct {
	data  []byte
	lim   Limits
	keys  map[int]map[string]int // an object's offset: each key's value offset
	elems map[int][]int          // a list's offset: each element's offset
}

// jsonLocate finds the value at path in the JSON value at start: through
// c's index when there is a cache, or else by walking past the siblings
// on the way, which for one path reads less.
func (c *locateCache) jsonLocate(data []byte, start int, path []string, lim Limits) (int, bool) {
	if c == nil {
		return jsonLocate(data, start, path, lim)
	}
	if c.json == nil {
		c.json = &jsonIndex{data: data, lim: lim, keys: map[int]map[string]int{}, elems: map[int][]int{}}
	}
	return c.json.locate(start, path)
}

// jsonLocateText is jsonLocate in a record's own text, made bytes once.
func (c *locateCache) jsonLocateText(src string, path []string, lim Limits) (int, bool) {
	if c == nil || c.json == nil {
		return c.jsonLocate([]byte(src), 0, path, lim)
	}
	return c.json.locate(0, path)
}

// locate returns the offset of the value at path in the value at start.
func (x *jsonIndex) locate(start int, path []string) (int, bool) {
	p := &jsonParser{data: x.data, pos: start, lim: x.lim}
	for _, want := range path {
		p.skipSpace()
		if p.pos >= len(x.data) {
			return 0, false
		}
		at := p.pos
		switch x.data[at] {
		case '{':
			keys, ok := x.keys[at]
			if !ok {
				keys = x.object(at)
				x.keys[at] = keys
			}
			off, ok := keys[want]
			if !ok {
				return 0, false
			}
			p.pos = off
		case '[':
			elems, ok := x.elems[at]
			if !ok {
				elems = x.list(at)
				x.elems[at] = elems
			}
			n, err := strconv.Atoi(want)
			if err != nil || n < 0 || n >= len(elems) {
				return 0, false
			}
			p.pos = elems[n]
		default:
			return 0, false
		}
	}
	p.skipSpace()
	return p.pos, true
}

// object reads the object at off: where each key's value starts, the
// first of a key written twice. It stops at what it cannot read.
func (x *jsonIndex) object(off int) map[string]int {
	keys := map[string]int{}
	p := &jsonParser{data: x.data, pos: off + 1, lim: x.lim}
	for {
		p.skipSpace()
		if p.pos >= len(x.data) || x.data[p.pos] != '"' {
			return keys
		}
		key, err := p.string()
		if err != nil {
			return keys
		}
		p.skipSpace()
		if p.pos >= len(x.data) || x.data[p.pos] != ':' {
			return keys
		}
		p.pos++
		p.skipSpace()
		if _, dup := keys[key]; !dup {
			keys[key] = p.pos
		}
		if !x.next(p) {
			return keys
		}
	}
}

// list reads the list at off: where each element starts.
func (x *jsonIndex) list(off int) []int {
	var elems []int
	p := &jsonParser{data: x.data, pos: off + 1, lim: x.lim}
	for {
		p.skipSpace()
		if p.pos >= len(x.data) || x.data[p.pos] == ']' {
			return elems
		}
		elems = append(elems, p.pos)
		if !x.next(p) {
			return elems
		}
	}
}

// next reads past the value at p and the comma after it; false at the
// end of its object or list, or at what it cannot read.
func (x *jsonIndex) next(p *jsonParser) bool {
	if _, err := p.value(); err != nil {
		return false
	}
	p.skipSpace()
	if p.pos >= len(x.data) || x.data[p.pos] != ',' {
		return false
	}
	p.pos++
	return true
}
