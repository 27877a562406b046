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
// The index is split into 4096 shards, each an ordinary map, under three levels of
// 16-way directories. A committed snapshot never changes; a writer copies the
// directories on the path to a shard (three of about 140 bytes) and the shard
// itself (n/4096 entries) on its first write to them, and marks what it copied
// with its stamp, so later writes to them in the same transaction write in place.
// A write never copies the whole index, and a rollback is dropping the copies.
// Two levels of 64 copied 1 KB of directory per write, most of a creation's
// allocation once the gram lists and tree tails stopped copying.
type hindex[K comparable, V any] struct {
	seed  maphash.Seed
	top   *hdir[hdir[hleaf[K, V]]]
	stamp uint64 // set in a writer's snapshot: its transaction's stamp
}

const fanout = 16

// hdir is a directory level; a nil child has no entries. stamp is the writer that
// made this copy (0: built empty).
type hdir[C any] struct {
	stamp uint64
	kids  [fanout]*C
}

// hleaf holds 16 shards; owned marks the ones the writer of stamp copied already.
type hleaf[K comparable, V any] struct {
	stamp uint64
	owned uint16
	maps  [fanout]map[K]V
}

func newHindex[K comparable, V any](seed maphash.Seed) hindex[K, V] {
	return hindex[K, V]{seed: seed, top: new(hdir[hdir[hleaf[K, V]]])}
}

func (h *hindex[K, V]) slot(k K) (int, int, int) {
	x := maphash.Comparable(h.seed, k)
	return int(x % fanout), int(x / fanout % fanout), int(x / (fanout * fanout) % fanout)
}

func (h *hindex[K, V]) get(k K) (V, bool) {
	i, j, l := h.slot(k)
	if mid := h.top.kids[i]; mid != nil {
		if leaf := mid.kids[j]; leaf != nil {
			v, ok := leaf.maps[l][k]
			return v, ok
		}
	}
	var zero V
	return zero, false
}

// forWrite returns a copy of h that the writer of stamp may modify.
func (h hindex[K, V]) forWrite(stamp uint64) hindex[K, V] {
	h.stamp = stamp
	return h
}

// shard returns shard (i, j, l), copying what the writer does not own yet.
func (h *hindex[K, V]) shard(i, j, l int) map[K]V {
	if h.top.stamp != h.stamp {
		t := *h.top
		t.stamp, h.top = h.stamp, &t
	}
	mid := h.top.kids[i]
	switch {
	case mid == nil:
		mid = &hdir[hleaf[K, V]]{stamp: h.stamp}
		h.top.kids[i] = mid
	case mid.stamp != h.stamp:
		c := *mid
		c.stamp, mid = h.stamp, &c
		h.top.kids[i] = mid
	}
	leaf := mid.kids[j]
	switch {
	case leaf == nil:
		leaf = &hleaf[K, V]{stamp: h.stamp}
		mid.kids[j] = leaf
	case leaf.stamp != h.stamp:
		c := *leaf
		c.stamp, c.owned, leaf = h.stamp, 0, &c
		mid.kids[j] = leaf
	}
	if leaf.owned&(1<<l) == 0 {
		if old := leaf.maps[l]; old != nil {
			leaf.maps[l] = maps.Clone(old) // copies the table whole, cheaper than re-inserting
		} else {
			leaf.maps[l] = make(map[K]V, 1)
		}
		leaf.owned |= 1 << l
	}
	return leaf.maps[l]
}

func (h *hindex[K, V]) set(k K, v V) {
	h.shard(h.slot(k))[k] = v
}

func (h *hindex[K, V]) del(k K) {
	if _, ok := h.get(k); ok {
		delete(h.shard(h.slot(k)), k)
	}
}

// each calls fn with every entry, in no particular order, until it returns false.
func (h *hindex[K, V]) each(fn func(K, V) bool) {
	for _, mid := range h.top.kids {
		if mid == nil {
			continue
		}
		for _, leaf := range mid.kids {
			if leaf == nil {
				continue
			}
			for _, m := range leaf.maps {
				for k, v := range m {
					if !fn(k, v) {
						return
					}
				}
			}
		}
	}
}

// len counts the entries: for checks, not for hot paths.
func (h *hindex[K, V]) len() int {
	n := 0
	for _, mid := range h.top.kids {
		if mid != nil {
			for _, leaf := range mid.kids {
				if leaf != nil {
					for _, m := range leaf.maps {
						n += len(m)
					}
				}
			}
		}
	}
	return n
}
