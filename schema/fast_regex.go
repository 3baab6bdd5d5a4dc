package schema

import (
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// reDFA answers regexp.MatchString for simple patterns (character classes,
// repetition, alternation, ^ and $) without backtracking: Go's regexp spends
// most of the fast path's time on a pattern such as an e-mail check. It is
// built by subset construction from the very program Go's regexp compiles,
// so it keeps RE2's meaning; patterns it cannot take stay with regexp.
type reDFA struct {
	ascii   [utf8.RuneSelf]uint8 // class of each ASCII rune
	lo      []rune               // non-ASCII intervals start here...
	cls     []uint8              // ...and have these classes
	n       int                  // number of classes
	next    []int32              // state*n + class → state; -1 never matches
	accept  []bool               // a match has been seen
	atEnd   []bool               // a match if the text ends here
	emptyOK bool                 // the empty string matches
}

const (
	reMaxStates  = 512
	reMaxClasses = 255
)

func (d *reDFA) match(s string) bool {
	if len(s) == 0 {
		return d.emptyOK
	}
	st := int32(0)
	if d.accept[0] {
		return true
	}
	for i := 0; i < len(s); {
		var c uint8
		if b := s[i]; b < utf8.RuneSelf {
			c = d.ascii[b]
			i++
		} else {
			r, w := utf8.DecodeRuneInString(s[i:])
			i += w
			c = d.classOf(r)
		}
		st = d.next[int(st)*d.n+int(c)]
		if st < 0 {
			return false
		}
		if d.accept[st] {
			return true
		}
	}
	return d.atEnd[st]
}

// classOf finds the interval of a non-ASCII rune by binary search.
func (d *reDFA) classOf(r rune) uint8 {
	i, j := 0, len(d.lo)
	for i+1 < j {
		h := (i + j) / 2
		if d.lo[h] <= r {
			i = h
		} else {
			j = h
		}
	}
	return d.cls[i]
}

// compileDFA returns nil when the pattern needs more than the DFA offers.
func compileDFA(pattern string) *reDFA {
	re, err := syntax.Parse(pattern, syntax.Perl) // as regexp.Compile
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	b := &dfaBuilder{prog: prog, index: map[string]int32{}}
	if !b.classes() {
		return nil
	}
	d := &reDFA{n: len(b.reps)}
	d.ascii, d.lo, d.cls = b.ascii, b.lo, b.cls
	start, ok := b.closure([]uint32{uint32(prog.Start)}, true, false)
	if !ok {
		return nil
	}
	empty, ok := b.closure([]uint32{uint32(prog.Start)}, true, true)
	if !ok {
		return nil
	}
	d.emptyOK = b.has(empty, syntax.InstMatch)
	b.states = append(b.states, start) // state 0, never shared: it alone is at the start
	for i := 0; i < len(b.states); i++ {
		set := b.states[i]
		end, _ := b.closure(set, false, true)
		d.accept = append(d.accept, b.has(set, syntax.InstMatch))
		d.atEnd = append(d.atEnd, b.has(end, syntax.InstMatch))
		for c := range b.reps {
			nx, ok := b.step(set, b.reps[c])
			if !ok || len(b.states) > reMaxStates {
				return nil
			}
			d.next = append(d.next, nx)
		}
	}
	return d
}

type dfaBuilder struct {
	prog   *syntax.Prog
	reps   []rune // a rune of each class
	ascii  [utf8.RuneSelf]uint8
	lo     []rune
	cls    []uint8
	states [][]uint32
	index  map[string]int32
}

// classes splits the runes into intervals that every instruction treats
// alike and numbers the distinct behaviours.
func (b *dfaBuilder) classes() bool {
	cuts := []rune{0, utf8.MaxRune + 1}
	var runeInsts []*syntax.Inst
	for i := range b.prog.Inst {
		in := &b.prog.Inst[i]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1:
			if syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
				return false
			}
			rs := in.Rune
			if in.Op == syntax.InstRune1 {
				rs = []rune{in.Rune[0], in.Rune[0]}
			}
			if len(rs)%2 != 0 {
				return false
			}
			for j := 0; j < len(rs); j += 2 {
				cuts = append(cuts, rs[j], rs[j+1]+1)
			}
		case syntax.InstRuneAnyNotNL:
			cuts = append(cuts, '\n', '\n'+1)
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
				return false
			}
			continue
		case syntax.InstRuneAny:
		default:
			continue
		}
		runeInsts = append(runeInsts, in)
	}
	slices.Sort(cuts)
	cuts = slices.Compact(cuts)
	byBehaviour := map[string]uint8{}
	for i := 0; i+1 < len(cuts); i++ {
		var sig strings.Builder
		for _, in := range runeInsts {
			if in.MatchRune(cuts[i]) {
				sig.WriteByte('1')
			} else {
				sig.WriteByte('0')
			}
		}
		c, ok := byBehaviour[sig.String()]
		if !ok {
			if len(b.reps) >= reMaxClasses {
				return false
			}
			c = uint8(len(b.reps))
			byBehaviour[sig.String()] = c
			b.reps = append(b.reps, cuts[i])
		}
		for r := cuts[i]; r < cuts[i+1] && r < utf8.RuneSelf; r++ {
			b.ascii[r] = c
		}
		if cuts[i+1] > utf8.RuneSelf {
			b.lo = append(b.lo, max(cuts[i], utf8.RuneSelf))
			b.cls = append(b.cls, c)
		}
	}
	return true
}

// closure follows empty transitions. An empty-width check that cannot be
// decided yet ($ before the end) stays in the set, to be retried at the end.
func (b *dfaBuilder) closure(pcs []uint32, atStart, atEnd bool) ([]uint32, bool) {
	seen := map[uint32]bool{}
	var out []uint32
	var visit func(pc uint32)
	visit = func(pc uint32) {
		if seen[pc] {
			return
		}
		seen[pc] = true
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			visit(in.Out)
			visit(in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			visit(in.Out)
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&syntax.EmptyBeginText != 0 && !atStart {
				return
			}
			if op&syntax.EmptyEndText != 0 && !atEnd {
				out = append(out, pc)
				return
			}
			visit(in.Out)
		case syntax.InstFail:
		default:
			out = append(out, pc)
		}
	}
	for _, pc := range pcs {
		visit(pc)
	}
	slices.Sort(out)
	return out, true
}

func (b *dfaBuilder) has(set []uint32, op syntax.InstOp) bool {
	for _, pc := range set {
		if b.prog.Inst[pc].Op == op {
			return true
		}
	}
	return false
}

// step is the state after reading r in set: the threads that take r, and a
// new thread starting at the next position, as MatchString looks anywhere.
func (b *dfaBuilder) step(set []uint32, r rune) (int32, bool) {
	var next []uint32
	for _, pc := range set {
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			if in.MatchRune(r) {
				next = append(next, in.Out)
			}
		}
	}
	next = append(next, uint32(b.prog.Start))
	cl, ok := b.closure(next, false, false)
	if !ok {
		return 0, false
	}
	if len(cl) == 0 {
		return -1, true
	}
	var key strings.Builder
	for _, pc := range cl {
		key.WriteString(strconv.FormatUint(uint64(pc), 10))
		key.WriteByte(',')
	}
	if i, ok := b.index[key.String()]; ok {
		return i, true
	}
	i := int32(len(b.states))
	b.states = append(b.states, cl)
	b.index[key.String()] = i
	return i, true
}
