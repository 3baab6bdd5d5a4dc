package schema

import (
	"slices"
	"strings"

	"github.com/zpipe/zpipe/format"
)

// CUE lists the fields of schema & record in a topological order of
// chains: each struct literal's declarations in source order (definitions
// and optional fields included; an embedded or unified literal is a chain
// of its own) and the record's keys, in the record's order, as toCUE
// gives them. Where the chains disagree the cycle is broken
// lexicographically, and among fields free to go next the smallest name
// goes first (cuelang.org/go/internal/core/toposort). merge appends
// missing fields in that order, so the fast path computes the same.

// cachedFillOrder remembers fillOrder for records without extra fields,
// whose order depends only on which declared fields they have and in what
// order: seq, their indexes in the record's order.
func (o *fastObject) cachedFillOrder(x *format.Object, present *fieldSet, extras bool, seq []byte) []int {
	if extras || present.big != nil {
		return o.fillOrder(x, present)
	}
	if order, ok := o.orders[string(seq)]; ok {
		return order
	}
	order := o.fillOrder(x, present)
	if o.orders == nil {
		o.orders = map[string][]int{}
	}
	if len(o.orders) < 1024 {
		o.orders[string(seq)] = order
	}
	return order
}

// fillOrder returns the missing fields of o to fill in, in CUE's order.
func (o *fastObject) fillOrder(x *format.Object, present *fieldSet) []int {
	var names []string
	id := make(map[string]int, len(x.Fields))
	for _, chain := range o.chains {
		for _, n := range chain {
			if _, ok := id[n]; !ok {
				id[n] = len(names)
				names = append(names, n)
			}
		}
	}
	keys := make([]string, 0, len(x.Fields))
	for _, f := range x.Fields {
		keys = append(keys, f.Key)
		if _, ok := id[f.Key]; !ok {
			id[f.Key] = len(names)
			names = append(names, f.Key)
		}
	}
	out := make([][]int, len(names))
	edge := func(a, b string) {
		from, to := id[a], id[b]
		if !slices.Contains(out[from], to) {
			out[from] = append(out[from], to)
		}
	}
	for _, chain := range o.chains {
		for i := 1; i < len(chain); i++ {
			edge(chain[i-1], chain[i])
		}
	}
	for i := 1; i < len(keys); i++ {
		edge(keys[i-1], keys[i])
	}
	var order []int
	for _, n := range topoSort(names, out) {
		j, ok := o.index[names[n]]
		if ok && !present.has(j) && o.fields[j].typ == fieldRegular && o.fields[j].has {
			order = append(order, j)
		}
	}
	return order
}

// topoSort orders a graph's strongly connected components topologically,
// taking the lexicographically smallest ready component first, each
// component's nodes sorted by name.
func topoSort(names []string, out [][]int) []int {
	comp, comps := tarjan(len(names), out)
	for _, c := range comps {
		slices.SortFunc(c, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	}
	indeg := make([]int, len(comps))
	succ := make([][]int, len(comps))
	for from := range out {
		for _, to := range out[from] {
			a, b := comp[from], comp[to]
			if a != b && !slices.Contains(succ[a], b) {
				succ[a] = append(succ[a], b)
				indeg[b]++
			}
		}
	}
	less := func(a, b int) int {
		return slices.CompareFunc(comps[a], comps[b], func(x, y int) int { return strings.Compare(names[x], names[y]) })
	}
	var ready, order []int
	for c := range comps {
		if indeg[c] == 0 {
			ready = append(ready, c)
		}
	}
	for len(ready) > 0 {
		slices.SortFunc(ready, less)
		c := ready[0]
		ready = ready[1:]
		order = append(order, comps[c]...)
		for _, s := range succ[c] {
			if indeg[s]--; indeg[s] == 0 {
				ready = append(ready, s)
			}
		}
	}
	return order
}

// tarjan returns each node's component and the components' nodes.
func tarjan(n int, out [][]int) ([]int, [][]int) {
	index := make([]int, n)
	low := make([]int, n)
	on := make([]bool, n)
	comp := make([]int, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var comps [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, w := range out[v] {
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var c []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				comp[w] = len(comps)
				c = append(c, w)
				if w == v {
					break
				}
			}
			comps = append(comps, c)
		}
	}
	for v := range n {
		if index[v] < 0 {
			visit(v)
		}
	}
	return comp, comps
}
