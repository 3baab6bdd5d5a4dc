package schema

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"github.com/zpipe/zpipe/format"
)

// An isolated schema's recursive values are checked in the evaluator's
// process, value by value, while the fast path checks the rest of the
// record here. The fast path takes such a value as holding and goes on;
// a record it accepts so waits, with the batch's others, for one round
// trip that checks just those values. If all hold, the fast path's
// verdict is exact, since it is the one it gives with the evaluator's
// answers; if one fails, CUE checks the whole record, for its message.

// askKey names a composite value asked of a node, for its fill: the fill
// pass meets the very objects and lists the check pass asked about. Empty
// lists may share a pointer, nil among them; each fills in alike.
type askKey struct {
	k    *cueNode
	p    unsafe.Pointer
	list bool
}

func keyOf(k *cueNode, v any) askKey {
	switch x := v.(type) {
	case *format.Object:
		return askKey{k: k, p: unsafe.Pointer(x)}
	case []any:
		return askKey{k: k, p: unsafe.Pointer(unsafe.SliceData(x)), list: true}
	}
	return askKey{k: k} // a scalar: nothing is filled in
}

// askPrefix starts a message of asks to the child, where a batch of
// records starts with '['.
const askPrefix = 'a'

// Entries of a reply to asks, after those of a batch's reply.
const (
	entryHolds byte = iota + entryError + 1 // holds; nothing to fill in
	entryFails
)

// waiting is a record the fast path accepts if its asks hold.
type waiting struct {
	i        int // in the batch
	from, to int // its asks, in the batch's
	adds     bool
	rec      any
}

// settle has the evaluator check the asks of the waiting records, and
// gives each whose asks all hold its output; it returns those left for
// CUE to check whole.
func (v *Validator) settle(ctx context.Context, ws []waiting, asks []ask, res []Result) (slow []int, err error) {
	c, err := v.evaluator(ctx)
	if err != nil {
		return nil, err
	}
	if !c.sameNodes {
		// The child's analysis numbers the values otherwise: a bug,
		// which costs only speed.
		for _, w := range ws {
			slow = append(slow, w.i)
		}
		return slow, nil
	}
	holds, filled, err := c.confirm(ctx, asks)
	if err != nil {
		return nil, err
	}
	f := v.fast
	for _, w := range ws {
		if !all(holds[w.from:w.to]) {
			slow = append(slow, w.i)
			continue
		}
		if !w.adds {
			res[w.i].Out = w.rec
			continue
		}
		clear(f.filled)
		if f.filled == nil {
			f.filled = map[askKey]any{}
		}
		for j := w.from; j < w.to; j++ {
			if filled[j] != nil && composite(asks[j].v) {
				f.filled[keyOf(asks[j].k, asks[j].v)] = filled[j]
			}
		}
		f.missed = false
		out, _ := f.fill(f.root, w.rec)
		if f.missed {
			slow = append(slow, w.i)
			continue
		}
		res[w.i].Out = out
	}
	clear(f.filled)
	return slow, nil
}

func all(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// cyclicNames names the nodes of recursive values, as the child's
// analysis must.
func (c *fastChecker) cyclicNames() []string {
	names := make([]string, len(c.cyclic))
	for i, k := range c.cyclic {
		names[i] = k.name
	}
	return names
}

// confirm has the child check asks, in one round trip: whether each
// holds, and for each that holds and fills something in, the value
// filled in. A scalar's verdict is kept in its node's memo.
func (c *child) confirm(ctx context.Context, asks []ask) (holds []bool, filled []any, err error) {
	c.buf = append(c.buf[:0], askPrefix, '[')
	for i, a := range asks {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = fmt.Appendf(c.buf, "[%d,", a.k.id)
		if c.buf, err = format.AppendJSON(c.buf, a.v); err != nil {
			return nil, nil, err
		}
		c.buf = append(c.buf, ']')
	}
	c.buf = append(c.buf, ']')
	msg, err := c.call(ctx, c.buf)
	if err != nil {
		return nil, nil, err
	}
	holds, filled = make([]bool, 0, len(asks)), make([]any, 0, len(asks))
	for len(msg) > 0 {
		kind, payload, rest, err := nextEntry(msg)
		if err != nil {
			return nil, nil, err
		}
		msg = rest
		var out any
		switch kind {
		case entryHolds:
		case entryOut:
			if out, err = format.ParseJSON(payload); err != nil {
				return nil, nil, err
			}
		case entryFails:
		default:
			return nil, nil, errors.New(string(payload))
		}
		holds, filled = append(holds, kind != entryFails), append(filled, out)
	}
	if len(holds) != len(asks) {
		return nil, nil, fmt.Errorf("the CUE evaluator answered %d values of %d", len(holds), len(asks))
	}
	for i, a := range asks {
		if key, isScalar := memoKey(a.v, valueKindOf(a.v)); isScalar {
			a.k.remember(key, holds[i])
		}
	}
	return holds, filled, nil
}

// answerAsks is the child's side of confirm: msg is the asks after
// askPrefix, as [[id, value], ...].
func answerAsks(v *Validator, msg []byte, reply []byte) []byte {
	parsed, err := format.ParseJSON(msg)
	list, ok := parsed.([]any)
	if err != nil || !ok || v.fast == nil {
		return appendEntry(reply, entryError, fmt.Appendf(nil, "reading the values to check: %v", err))
	}
	c := v.fast
	for _, e := range list {
		pair, _ := e.([]any)
		var k *cueNode
		if len(pair) == 2 {
			if n, ok := pair[0].(format.Number); ok {
				if id, ok := n.Int64(); ok && id >= 0 && id < int64(len(c.cyclic)) {
					k = c.cyclic[id]
				}
			}
		}
		if k == nil {
			return appendEntry(reply[:0], entryError, []byte("reading the values to check: no such value"))
		}
		ok, adds := c.cueCheck(k, pair[1])
		if !ok {
			reply = appendEntry(reply, entryFails, nil)
			continue
		}
		if adds {
			if out, changed := c.cueFill(k, pair[1]); changed {
				b, err := format.AppendJSON(nil, out)
				if err != nil {
					return appendEntry(reply[:0], entryError, []byte(err.Error()))
				}
				reply = appendEntry(reply, entryOut, b)
				continue
			}
		}
		reply = appendEntry(reply, entryHolds, nil)
	}
	return reply
}
