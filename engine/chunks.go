package engine

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/zpipe/zpipe/format"
)

// Cutting a large file into chunks reads all of it: a json array's
// structure is scanned at some 700 MB/s, seconds for a file of gigabytes,
// on every listing. A file whose stat is the one the journal has for each
// of its chunks is cut as it was: the chunks are read back from their
// keys. That is the trust a rerun already gives stat, as git's index
// does.

// knownChunks is a stage's chunks by file, as its journal keys name them.
type knownChunks struct {
	once   sync.Once
	byName map[string][]knownChunk
}

type knownChunk struct {
	c    format.Chunk
	stat *fileStat
}

// chunksOf returns the chunks the journal holds for the file name when
// every one has the stat st and together they cover the file; nil
// otherwise. The chunks a windowed stage's plan cut the file in this run
// come first, while the file has the stat it had then.
func (sr *stageRun) chunksOf(name string, st *fileStat) []format.Chunk {
	if c := sr.cut[name]; c != nil && st != nil && c.stat == *st {
		return c.chunks
	}
	if sr.r.state == nil || sr.r.opts.Force || st == nil {
		return nil
	}
	k := &sr.known
	k.once.Do(func() {
		state := sr.r.state
		state.mu.Lock()
		defer state.mu.Unlock()
		items := state.items[sr.id()]
		if items == nil {
			return
		}
		for key := range items.keys() {
			at := strings.LastIndexByte(key, '@')
			if at < 0 {
				continue
			}
			e := items.get(key)
			if e.Status == "removed" || e.Stat == nil {
				continue
			}
			c, ok := parseChunkKey(key[at+1:])
			if !ok {
				continue
			}
			if k.byName == nil {
				k.byName = map[string][]knownChunk{}
			}
			k.byName[key[:at]] = append(k.byName[key[:at]], knownChunk{c, e.Stat})
		}
	})
	known := k.byName[name]
	if len(known) < 2 {
		return nil
	}
	out := make([]format.Chunk, len(known))
	for i, kc := range known {
		if *kc.stat != *st {
			return nil
		}
		out[i] = kc.c
	}
	slices.SortFunc(out, func(a, b format.Chunk) int { return cmp.Compare(a.Offset, b.Offset) })
	var off int64
	for _, c := range out {
		if c.Offset != off || c.Size <= 0 {
			return nil // a gap or an overlap: chunks of two cuttings
		}
		off += c.Size
	}
	if off != st.Size {
		return nil
	}
	return out
}

// parseChunkKey reads what fileItems writes after a chunk's name:
// offset+size:line:record, and :column when it is past 1.
func parseChunkKey(s string) (format.Chunk, bool) {
	off, rest, ok := strings.Cut(s, "+")
	if !ok {
		return format.Chunk{}, false
	}
	parts := strings.Split(rest, ":")
	if len(parts) != 3 && len(parts) != 4 {
		return format.Chunk{}, false
	}
	nums := make([]int64, 0, 5)
	for _, p := range append([]string{off}, parts...) {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != p {
			return format.Chunk{}, false
		}
		nums = append(nums, n)
	}
	c := format.Chunk{Offset: nums[0], Size: nums[1], Line: int(nums[2]), Record: int(nums[3])}
	if len(nums) == 5 {
		c.Col = int(nums[4])
	}
	return c, true
}
