package pipeline

import (
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
)

// globMeets reports whether a source glob could match a file that an
// output's path template names: whether some path matches both, with
// {stem} and {ext} standing for any name part, {name} for any name and
// {dir} for any folders. Both are slash paths relative to the manifest.
// A sample path with each placeholder a fixed name found a stage reading
// mid/{stem}.ndjson through mid/users-*.ndjson to read nothing of it, and
// ran it first.
func globMeets(glob, template string) bool {
	return globMeetsBut(glob, template, func(string) bool { return false })
}

// globMeetsBut is globMeets where some path that both match is not
// excluded: it tries one such path, a witness, for each pair of plain
// patterns the two make.
func globMeetsBut(glob, template string, excluded func(path string) bool) bool {
	if !hasPlaceholder(template) {
		ok, _ := doublestar.Match(glob, template)
		return ok && !excluded(template)
	}
	globs, ok := globPaths(glob)
	tpls, _ := templatePaths(template)
	return patternsMeet(globs, ok, tpls, excluded)
}

// patternsMeet is globMeetsBut with the glob's patterns, ok as globPaths
// gives them, and the template's.
func patternsMeet(globs [][]step, ok bool, tpls [][]step, excluded func(path string) bool) bool {
	if !ok {
		return true // too many alternatives to try: it may
	}
	for _, g := range globs {
		for _, t := range tpls {
			if w, ok := witness(g, t); ok && !excluded(w) {
				return true
			}
		}
	}
	return false
}

// A path pattern is a list of steps, each one character of a set, or any
// number of them (loop).
type step struct {
	set  charSet
	loop bool
}

// charSet is a set of characters: those in its ranges, or with neg those
// not in them; '/' only when slash says so.
type charSet struct {
	neg    bool
	ranges [][2]rune
	slash  bool
	// one, when set, is the set's only character, not '/': a literal's
	// set, made without a slice.
	one rune
}

func (c charSet) has(r rune) bool {
	if r == '/' {
		return c.slash
	}
	if c.one != 0 {
		return r == c.one
	}
	in := false
	for _, rg := range c.ranges {
		if rg[0] <= r && r <= rg[1] {
			in = true
			break
		}
	}
	return in != c.neg
}

// isSlash tells whether the set is '/' alone.
func (c charSet) isSlash() bool { return c.slash && !c.neg && c.one == 0 && len(c.ranges) == 0 }

// meetsSet reports whether two sets share a character. Membership changes
// only at a range's ends and at '/', so one of those, or 0, is in both
// when any character is.
func (c charSet) meetsSet(d charSet) bool {
	if c.one != 0 || d.one != 0 {
		r := max(c.one, d.one)
		return c.has(r) && d.has(r)
	}
	_, ok := c.shared(d)
	return ok
}

// shared is a character both sets hold, x where both do, and whether
// there is one.
func (c charSet) shared(d charSet) (rune, bool) {
	if c.has('x') && d.has('x') {
		return 'x', true
	}
	try := []rune{c.one, d.one, 0, '/', '/' + 1}
	for _, s := range []charSet{c, d} {
		for _, rg := range s.ranges {
			try = append(try, rg[0], rg[1]+1)
		}
	}
	for _, r := range try {
		if c.has(r) && d.has(r) {
			return r, true
		}
	}
	return 0, false
}

var (
	anyChar   = charSet{neg: true, slash: true}
	nameChar  = charSet{neg: true}
	slashChar = charSet{slash: true}
)

func literal(r rune) charSet {
	if r == '/' {
		return slashChar
	}
	if r == 0 {
		return charSet{ranges: [][2]rune{{0, 0}}}
	}
	return charSet{one: r}
}

// maxPatterns bounds the plain patterns that a glob's {a,b} alternatives
// and ** folders make.
const maxPatterns = 256

// A choice is a part of a pattern with alternatives: a plain step is a
// choice of one.
type choice [][]step

// choices builds a pattern's choices, with a run of plain steps as one
// choice: a choice a character was two allocations each.
type choices struct {
	out []choice
	run []step
}

func (c *choices) add(s ...step) { c.run = append(c.run, s...) }

func (c *choices) choose(ch choice) {
	c.flush()
	c.out = append(c.out, ch)
}

func (c *choices) flush() {
	if len(c.run) > 0 {
		c.out = append(c.out, choice{c.run})
		c.run = nil
	}
}

func (c *choices) done() []choice {
	c.flush()
	return c.out
}

// globPaths is the glob as plain patterns, as doublestar reads it: ** as
// a whole segment is any folders, or none; {a,b} is a or b. ok is false
// when there would be more than maxPatterns.
func globPaths(glob string) ([][]step, bool) {
	choices, ok := globChoices(glob)
	if !ok {
		return nil, false
	}
	return expand(choices)
}

func globChoices(glob string) ([]choice, bool) {
	var out choices
	one := out.add
	for i := 0; i < len(glob); {
		c := glob[i]
		switch {
		case c == '\\' && i+1 < len(glob):
			r, n := utf8.DecodeRuneInString(glob[i+1:])
			one(step{set: literal(r)})
			i += 1 + n
		case c == '?':
			one(step{set: nameChar})
			i++
		case c == '*':
			j := i
			for j < len(glob) && glob[j] == '*' {
				j++
			}
			whole := j-i >= 2 && (i == 0 || glob[i-1] == '/') && (j == len(glob) || glob[j] == '/')
			switch {
			case whole && j < len(glob):
				// **/: any folders, or none.
				out.choose(choice{nil, {{set: anyChar, loop: true}, {set: slashChar}}})
				j++
			case whole && i > 0 && len(out.run) > 0 && out.run[len(out.run)-1].set.isSlash():
				// /**: the folder itself, or anything in it. The
				// slash before it is taken back.
				out.run = out.run[:len(out.run)-1]
				out.choose(choice{nil, {{set: slashChar}, {set: anyChar, loop: true}}})
			case whole:
				one(step{set: anyChar, loop: true})
			default:
				one(step{set: nameChar, loop: true})
			}
			i = j
		case c == '[':
			set, n, ok := classAt(glob[i:])
			if !ok {
				one(step{set: literal('[')})
				i++
				continue
			}
			one(step{set: set})
			i += n
		case c == '{':
			end, alts := bracesAt(glob[i:])
			if end < 0 {
				one(step{set: literal('{')})
				i++
				continue
			}
			var ch choice
			for _, a := range alts {
				paths, ok := globPaths(a)
				if !ok {
					return nil, false
				}
				ch = append(ch, paths...)
			}
			out.choose(ch)
			i += end
		default:
			r, n := utf8.DecodeRuneInString(glob[i:])
			one(step{set: literal(r)})
			i += n
		}
	}
	return out.done(), true
}

// classAt reads the character class [...] that s starts with: its set and
// length. A class never holds '/'.
func classAt(s string) (charSet, int, bool) {
	var set charSet
	i := 1
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		set.neg = true
		i++
	}
	first := true
	for i < len(s) {
		if s[i] == ']' && !first {
			return set, i + 1, true
		}
		first = false
		lo, n := classRune(s[i:])
		i += n
		hi := lo
		if i+1 < len(s) && s[i] == '-' && s[i+1] != ']' {
			hi, n = classRune(s[i+1:])
			i += 1 + n
		}
		set.ranges = append(set.ranges, [2]rune{lo, hi})
	}
	return charSet{}, 0, false
}

func classRune(s string) (rune, int) {
	if s[0] == '\\' && len(s) > 1 {
		r, n := utf8.DecodeRuneInString(s[1:])
		return r, 1 + n
	}
	return utf8.DecodeRuneInString(s)
}

// bracesAt reads the alternatives {a,b} that s starts with: the length,
// and each alternative; -1 when the braces do not close.
func bracesAt(s string) (int, []string) {
	depth, from := 0, 1
	var alts []string
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return i + 1, append(alts, s[from:i])
			}
		case ',':
			if depth == 1 {
				alts = append(alts, s[from:i])
				from = i + 1
			}
		}
	}
	return -1, nil
}

// templatePaths is an output's path template as plain patterns.
func templatePaths(template string) ([][]step, bool) {
	var out choices
	lit := func(s string) {
		for _, r := range s {
			out.add(step{set: literal(r)})
		}
	}
	from := 0
	for _, ph := range placeholderRE.FindAllStringIndex(template, -1) {
		if ph[0] < from {
			continue
		}
		lit(template[from:ph[0]])
		from = ph[1]
		switch template[ph[0]:ph[1]] {
		case "{dir}":
			if from < len(template) && template[from] == '/' {
				// {dir}/ is no folder at all for a source beside the
				// manifest.
				out.choose(choice{nil, {{set: anyChar}, {set: anyChar, loop: true}, {set: slashChar}}})
				from++
				continue
			}
			out.add(step{set: anyChar}, step{set: anyChar, loop: true})
		case "{name}":
			out.add(step{set: nameChar}, step{set: nameChar, loop: true})
		case "{stem}", "{ext}":
			out.add(step{set: nameChar, loop: true})
		default:
			lit(template[ph[0]:ph[1]])
		}
	}
	lit(template[from:])
	return expand(out.done())
}

// expand makes every plain pattern that one alternative of each choice
// makes; false past maxPatterns.
func expand(choices []choice) ([][]step, bool) {
	if len(choices) == 1 && len(choices[0]) == 1 {
		return [][]step{choices[0][0]}, true
	}
	size := 0
	for _, ch := range choices {
		longest := 0
		for _, alt := range ch {
			longest = max(longest, len(alt))
		}
		size += longest
	}
	paths := [][]step{make([]step, 0, size)}
	for _, ch := range choices {
		if len(ch) == 1 {
			for k := range paths {
				paths[k] = append(paths[k], ch[0]...)
			}
			continue
		}
		if len(paths)*len(ch) > maxPatterns {
			return nil, false
		}
		var next [][]step
		for _, p := range paths {
			for _, alt := range ch {
				next = append(next, append(append(make([]step, 0, size), p...), alt...))
			}
		}
		paths = next
	}
	return paths, true
}

// witness is a path that both plain patterns match, if there is one: each
// loop that can takes one character, 'x' where it may, so that the path
// looks like one a glob is written for (mid/x.ndjson, not mid/.ndjson).
func witness(a, b []step) (string, bool) {
	// Every move takes a step of a or of b, or both: the walk ends.
	// memo holds, for each pair of places, 1 when the rest meets, 2 when
	// not.
	memo := make([]uint8, (len(a)+1)*(len(b)+1))
	type move struct{ i, j int }
	moves := func(i, j int) []move {
		var out []move
		if i < len(a) && j < len(b) && a[i].set.meetsSet(b[j].set) {
			out = append(out, move{i + 1, j + 1}) // a character, and on
			if a[i].loop && !b[j].loop {
				out = append(out, move{i, j + 1})
			}
			if b[j].loop && !a[i].loop {
				out = append(out, move{i + 1, j})
			}
		}
		if i < len(a) && a[i].loop {
			out = append(out, move{i + 1, j}) // the loop takes no more
		}
		if j < len(b) && b[j].loop {
			out = append(out, move{i, j + 1})
		}
		return out
	}
	var at func(i, j int) bool
	at = func(i, j int) bool {
		key := i*(len(b)+1) + j
		if v := memo[key]; v != 0 {
			return v == 1
		}
		ok := i == len(a) && j == len(b)
		for _, m := range moves(i, j) {
			if ok = at(m.i, m.j); ok {
				break
			}
		}
		memo[key] = 2
		if ok {
			memo[key] = 1
		}
		return ok
	}
	if !at(0, 0) {
		return "", false
	}
	var path []rune
	for i, j := 0, 0; i < len(a) || j < len(b); {
		for _, m := range moves(i, j) {
			if !at(m.i, m.j) {
				continue
			}
			if took(a, b, i, j, m.i, m.j) {
				r, _ := a[i].set.shared(b[j].set)
				path = append(path, r)
			}
			i, j = m.i, m.j
			break
		}
	}
	return string(path), true
}

// took tells whether the move from (i, j) to (ni, nj) took a character:
// all moves do but a loop's ending.
func took(a, b []step, i, j, ni, nj int) bool {
	switch {
	case ni > i && nj > j:
		return true
	case ni > i: // a moved alone: a loop's end, or a step b's loop took
		return !a[i].loop
	default: // b moved alone
		return !b[j].loop
	}
}

// templateOf is a path that produces filled in as globMeets takes it:
// clean, in slash form. There {dir} is one or more folders, so a .. past
// it is no folder it cancels: {dir}/.. is {dir} as zero or more folders,
// which {dir}/ means to globMeets, and a .. past that may cancel the
// folder before it. Cleaned as a name, {dir}/../clean/x.ndjson was
// clean/x.ndjson, and a stage reading data/clean/*.ndjson ran before the
// stage writing it.
func templateOf(path string) string {
	path = filepath.ToSlash(path)
	if !strings.Contains(path, "{dir}") {
		return filepath.ToSlash(filepath.Clean(path))
	}
	var segs []string
	var some []bool // by segment: a {dir} that is one or more folders
	for i, seg := range strings.Split(path, "/") {
		n := len(segs)
		switch {
		case seg == "" && i > 0, seg == ".":
		case seg != "..":
			segs, some = append(segs, seg), append(some, seg == "{dir}")
		case n > 0 && segs[n-1] == "{dir}" && some[n-1]:
			some[n-1] = false
		case n > 0 && segs[n-1] == "{dir}":
			// None: the folder before it is cancelled; some: one of
			// them. {dir} past that folder's parent holds both.
			if n > 1 && segs[n-2] != ".." && segs[n-2] != "" {
				segs, some = append(segs[:n-2], "{dir}"), append(some[:n-2], false)
			}
		case n > 0 && strings.Contains(segs[n-1], "{dir}"):
			segs[n-1], some[n-1] = "{dir}", false // x{dir}/..: x's folder or below
		case n > 0 && segs[n-1] != ".." && segs[n-1] != "":
			segs, some = segs[:n-1], some[:n-1]
		default:
			segs, some = append(segs, ".."), append(some, false)
		}
	}
	if len(segs) == 0 {
		return "."
	}
	if len(segs) == 1 && segs[0] == "" {
		return "/"
	}
	return strings.Join(segs, "/")
}
