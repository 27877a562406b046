package memory

import (
	"hash/maphash"
	"maps"
)

// hindex is a copy-on-write hash index for point lookups, beside the B-trees that
// serve ordered scans. A B-tree search chases a string pointer at every comparison;
// a lookup here is one hash and one map probe, which keeps Authorize in the hundreds
// of nanoseconds.
//
// The index is split into 4096 shards, each an ordinary map, under a two-level
// directory of 64 x 64. A committed snapshot never changes; a writer copies the top
// directory (512 bytes) on its first write, a leaf directory (512 bytes) and a shard
// (n/4096 entries) on its first write to them. A write never copies the whole index,
// and a rollback is dropping the copies.
type hindex[K comparable, V any] struct {
	seed maphash.Seed
	top  *[fanout]*leaf[K, V]
	// Set only in a writer's snapshot: what it already owns.
	own *owned
}

const fanout = 64

type leaf[K comparable, V any] [fanout]map[K]V

type owned struct {
	top    bool
	leaves [fanout]bool
	shards [fanout]uint64 // bit j of word i: shard j of leaf i
}

func newHindex[K comparable, V any](seed maphash.Seed) hindex[K, V] {
	top := new([fanout]*leaf[K, V])
	for i := range top {
		top[i] = new(leaf[K, V])
	}
	return hindex[K, V]{seed: seed, top: top}
}

func (h *hindex[K, V]) slot(k K) (int, int) {
	x := maphash.Comparable(h.seed, k)
	return int(x % fanout), int((x / fanout) % fanout)
}

func (h *hindex[K, V]) get(k K) (V, bool) {
	i, j := h.slot(k)
	v, ok := h.top[i][j][k]
	return v, ok
}

// forWrite returns a copy of h that a writer may modify.
func (h hindex[K, V]) forWrite() hindex[K, V] {
	h.own = nil
	return h
}

// shard returns shard (i, j), copied first if this writer does not own it yet.
func (h *hindex[K, V]) shard(i, j int) map[K]V {
	if h.own == nil {
		h.own = new(owned)
	}
	if !h.own.top {
		t := *h.top
		h.top, h.own.top = &t, true
	}
	if !h.own.leaves[i] {
		l := *h.top[i]
		h.top[i], h.own.leaves[i] = &l, true
	}
	if h.own.shards[i]&(1<<j) == 0 {
		if old := h.top[i][j]; old != nil {
			h.top[i][j] = maps.Clone(old) // copies the table whole, cheaper than re-inserting
		} else {
			h.top[i][j] = make(map[K]V, 1)
		}
		h.own.shards[i] |= 1 << j
	}
	return h.top[i][j]
}

func (h *hindex[K, V]) set(k K, v V) {
	i, j := h.slot(k)
	h.shard(i, j)[k] = v
}

func (h *hindex[K, V]) del(k K) {
	i, j := h.slot(k)
	if _, ok := h.top[i][j][k]; ok {
		delete(h.shard(i, j), k)
	}
}

// len counts the entries: for checks, not for hot paths.
func (h *hindex[K, V]) len() int {
	n := 0
	for _, l := range h.top {
		for _, m := range l {
			n += len(m)
		}
	}
	return n
}

// each calls fn with every entry, in no particular order, until it returns false.
func (h *hindex[K, V]) each(fn func(K, V) bool) {
	for _, l := range h.top {
		for _, m := range l {
			for k, v := range m {
				if !fn(k, v) {
					return
				}
			}
		}
	}
}
