package pipeline

import "container/heap"

// Order sorts the nodes 0..n-1 of a DAG topologically: each comes after
// the nodes deps gives it, and among the nodes ready together the one that
// less puts first goes first. Nodes on a cycle are left out. It takes
// O((n+e) log n), so that manifests of many stages stay fast.
func Order(n int, deps func(i int) []int, less func(a, b int) bool) []int {
	waiting := make([]int, n)
	users := make([][]int, n)
	for i := range n {
		seen := map[int]bool{}
		for _, d := range deps(i) {
			if !seen[d] {
				seen[d] = true
				waiting[i]++
				users[d] = append(users[d], i)
			}
		}
	}
	ready := &readyHeap{less: less}
	for i := range n {
		if waiting[i] == 0 {
			ready.nodes = append(ready.nodes, i)
		}
	}
	heap.Init(ready)
	out := make([]int, 0, n)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		out = append(out, i)
		for _, u := range users[i] {
			if waiting[u]--; waiting[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	return out
}

type readyHeap struct {
	nodes []int
	less  func(a, b int) bool
}

func (h *readyHeap) Len() int           { return len(h.nodes) }
func (h *readyHeap) Less(i, j int) bool { return h.less(h.nodes[i], h.nodes[j]) }
func (h *readyHeap) Swap(i, j int)      { h.nodes[i], h.nodes[j] = h.nodes[j], h.nodes[i] }
func (h *readyHeap) Push(x any)         { h.nodes = append(h.nodes, x.(int)) }
func (h *readyHeap) Pop() any {
	x := h.nodes[len(h.nodes)-1]
	h.nodes = h.nodes[:len(h.nodes)-1]
	return x
}
