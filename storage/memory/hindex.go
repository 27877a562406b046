package memory

import "hash/maphash"

// hindex is a copy-on-write hash index for point lookups, beside the B-trees that
// serve ordered scans. A B-tree search chases a string pointer at every comparison;
// a lookup here is one hash and one table probe, which keeps Authorize in the
// hundreds of nanoseconds.
//
// The index is split into 4096 shards under three levels of 16-way directories.
// A shard is a table (htable: open addressing, hashes kept) plus a short tail: an
// appendLog of entries whose keys the table does not hold, shared by consecutive
// snapshots like the gram lists and tree tails (see appendLog). Inserting a new key
// appends it to its shard's tail in place; only an insert that finds the tail
// full, an update or a delete copies: the directories on the path (three of about
// 140 bytes), the table with the tail folded in, and a fresh empty tail. Those
// copies carry the writer's stamp, so its later writes to them in the same
// transaction go straight into the table. A committed snapshot never changes what
// it sees, and a rollback drops the copies and cuts the tails back.
//
// A tail takes a quarter as many entries as its table holds (tailMax at least),
// so a fold copies at most about five entries per insert however large the shards
// grow: with a fixed tail, 500,000 memberships in 4,096 shards made every insert
// cost a copy of some fifteen. Tail entries carry their key's hash, so a lookup
// that misses the table passes a long tail comparing words.
type hindex[K comparable, V any] struct {
	seed  maphash.Seed
	top   *hdir[hdir[hleaf[K, V]]]
	stamp uint64 // the snapshot's stamp: which tail entries it sees, and which copies a writer owns
	undo  *[]undoer
}

const (
	fanout  = 16
	tailMax = 8 // the fewest entries a shard's tail takes before a writer folds it into the table
)

// hdir is a directory level; a nil child has no entries. stamp is the writer that
// made this copy (0: built empty).
type hdir[C any] struct {
	stamp uint64
	kids  [fanout]*C
}

// hleaf holds 16 shards; owned marks the tables the writer of stamp copied already.
type hleaf[K comparable, V any] struct {
	stamp uint64
	owned uint16
	tabs  [fanout]*htable[K, V]
	tails [fanout]*appendLog[hentry[K, V]]
}

type hentry[K comparable, V any] struct {
	hash uint64
	key  K
	val  V
}

// tailRoom is how many entries a shard tail takes beside a table of n entries.
func tailRoom(n int) int { return max(tailMax, n/4) }

func newHindex[K comparable, V any](seed maphash.Seed) hindex[K, V] {
	return hindex[K, V]{seed: seed, top: new(hdir[hdir[hleaf[K, V]]])}
}

// slot returns k's hash as the shards keep it (low bit set: never 0, the empty
// slot's) and the indexes of its directory, leaf and shard. The shard's table
// places it by the top bits.
func (h *hindex[K, V]) slot(k K) (uint64, int, int, int) {
	x := maphash.Comparable(h.seed, k)
	return x | 1, int(x % fanout), int(x / fanout % fanout), int(x / (fanout * fanout) % fanout)
}

func (h *hindex[K, V]) leaf(i, j int) *hleaf[K, V] {
	if mid := h.top.kids[i]; mid != nil {
		return mid.kids[j]
	}
	return nil
}

// inTail finds k, of hash x, in the tail entries v.
func inTail[K comparable, V any](v []logEntry[hentry[K, V]], x uint64, k K) (V, bool) {
	for i := range v {
		if v[i].val.hash == x && v[i].val.key == k {
			return v[i].val.val, true
		}
	}
	var zero V
	return zero, false
}

func (h *hindex[K, V]) get(k K) (V, bool) {
	x, i, j, l := h.slot(k)
	if leaf := h.leaf(i, j); leaf != nil {
		if v, ok := leaf.tabs[l].get(x, k); ok {
			return v, true
		}
		if t := leaf.tails[l]; t != nil {
			return inTail(t.view(h.stamp), x, k)
		}
	}
	var zero V
	return zero, false
}

// forWrite returns a copy of h that the writer of stamp may modify.
func (h hindex[K, V]) forWrite(stamp uint64, undo *[]undoer) hindex[K, V] {
	h.stamp, h.undo = stamp, undo
	return h
}

// shard returns the leaf of shard (i, j, l) for writing its table: the path and
// the table copied first if the writer does not own them yet, and the shard's
// tail folded in.
func (h *hindex[K, V]) shard(i, j, l int) *hleaf[K, V] {
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
		// Tail keys are not in the table (an update or a delete folds first), so
		// each is placed, not looked for.
		tail := leaf.tails[l].view(h.stamp)
		t := leaf.tabs[l].clone(len(tail) + 1)
		for x := range tail {
			t.place(tail[x].val)
		}
		leaf.tabs[l] = t
		leaf.tails[l] = nil // the old log stays with the snapshots that see it
		leaf.owned |= 1 << l
	}
	return leaf
}

// set sets k to v.
func (h *hindex[K, V]) set(k K, v V) { h.write(k, v, true) }

// insert adds k with v unless k is there, and reports whether it did: a create's
// existence check and its insert, with one hash and one look at the shard.
func (h *hindex[K, V]) insert(k K, v V) bool { return h.write(k, v, false) }

// write sets k to v, or with replace false leaves a k that is there as it is and
// reports false.
func (h *hindex[K, V]) write(k K, v V, replace bool) bool {
	x, i, j, l := h.slot(k)
	if leaf := h.leaf(i, j); leaf != nil && (leaf.stamp != h.stamp || leaf.owned&(1<<l) == 0) {
		// Not copied in this transaction: the table and the tail are shared.
		_, inTable := leaf.tabs[l].get(x, k)
		if inTable && !replace {
			return false
		}
		if !inTable { // then k may be in the tail (a tail's keys are not in the table)
			var tail []logEntry[hentry[K, V]]
			inTailNow := false
			if t := leaf.tails[l]; t != nil {
				tail = t.view(h.stamp)
				_, inTailNow = inTail(tail, x, k)
			}
			if inTailNow && !replace {
				return false
			}
			// A key the table does not hold: the shard's tail takes a new one in
			// place if it has room.
			if t := leaf.tails[l]; !inTailNow && t != nil && len(tail) < tailRoom(leaf.tabs[l].len()) && t.whole(tail) {
				t.push(hentry[K, V]{x, k, v}, h.stamp, h.undo)
				return true
			}
			// No tail yet, or a full one (or k is in it): fold it into a copy of the
			// table and start a fresh tail, one copy for the next inserts.
			// (It starts at tailMax entries and grows as it fills.)
			leaf := h.shard(i, j, l)
			leaf.tabs[l] = leaf.tabs[l].put(x, k, v)
			leaf.tails[l] = newAppendLog[hentry[K, V]](nil, tailMax)
			return true
		}
	}
	leaf := h.shard(i, j, l)
	if !replace {
		if _, ok := leaf.tabs[l].get(x, k); ok {
			return false
		}
	}
	leaf.tabs[l] = leaf.tabs[l].put(x, k, v)
	return true
}

func (h *hindex[K, V]) del(k K) {
	if _, ok := h.get(k); ok {
		x, i, j, l := h.slot(k)
		h.shard(i, j, l).tabs[l].remove(x, k)
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
			for l, t := range leaf.tabs {
				if !t.each(fn) {
					return
				}
				tail := leaf.tails[l].view(h.stamp)
				for x := range tail {
					if !fn(tail[x].val.key, tail[x].val.val) {
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
	h.each(func(K, V) bool { n++; return true })
	return n
}
