package memory

import "hash/maphash"

// hindex is a copy-on-write hash index for point lookups, beside the B-trees that
// serve ordered scans. A B-tree search chases a string pointer at every comparison;
// a lookup here is one hash and one map probe, which keeps Authorize in the hundreds
// of nanoseconds.
//
// The index is split into shards, each an ordinary map. A committed snapshot never
// changes; a writer copies the shard array on its first write and each shard on its
// first write to it, so a write costs one shard's copy (n/4096 entries), never the
// whole index, and a rollback is dropping the copies.
type hindex[K comparable, V any] struct {
	seed   maphash.Seed
	shards *[nShards]map[K]*V
	// Set only in a writer's snapshot: the array and shards it already owns.
	ownArr bool
	owned  *[nShards / 64]uint64
}

const nShards = 4096

func newHindex[K comparable, V any](seed maphash.Seed) hindex[K, V] {
	return hindex[K, V]{seed: seed, shards: new([nShards]map[K]*V)}
}

func (h *hindex[K, V]) shard(k K) int { return int(maphash.Comparable(h.seed, k) % nShards) }

func (h *hindex[K, V]) get(k K) (*V, bool) {
	v, ok := h.shards[h.shard(k)][k]
	return v, ok
}

// forWrite returns a copy of h that a writer may modify.
func (h hindex[K, V]) forWrite() hindex[K, V] {
	h.ownArr, h.owned = false, nil
	return h
}

func (h *hindex[K, V]) own(i int) map[K]*V {
	if !h.ownArr {
		arr := *h.shards
		h.shards, h.ownArr, h.owned = &arr, true, new([nShards / 64]uint64)
	}
	if h.owned[i/64]&(1<<(i%64)) == 0 {
		old := h.shards[i]
		m := make(map[K]*V, len(old)+1)
		for k, v := range old {
			m[k] = v
		}
		h.shards[i] = m
		h.owned[i/64] |= 1 << (i % 64)
	}
	return h.shards[i]
}

func (h *hindex[K, V]) set(k K, v *V) { h.own(h.shard(k))[k] = v }

func (h *hindex[K, V]) del(k K) {
	i := h.shard(k)
	if _, ok := h.shards[i][k]; ok {
		delete(h.own(i), k)
	}
}
