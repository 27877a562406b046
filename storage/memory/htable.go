package memory

// htable is one hash-index shard's entries: an open-addressed table, probed
// linearly, whose slots keep each key's hash beside it (0 marks an empty slot, so
// stored hashes have their low bit set).
//
// It replaces a Go map for two reasons. A lookup compares the stored hash before
// it touches the key, and the slots are one array: a hit costs the shard's header
// and one or two cache lines of slots, where a map read its directory, table and
// group first. And a writer's
// copy of a shard is a copy of that array, each entry re-placed by its stored
// hash, where copying a map hashed every key again: the copy is what a write pays
// for copy-on-write.
//
// A table is written only by the writer that made it (see hindex.shard); the
// snapshots that hold it only read.
//
// A table is any size, not a power of two: a hash's top 32 bits scaled to the
// size are its home slot. A writer's copy is sized for its entries at four fifths
// full, where a power of two would leave tables between three eighths and three
// quarters full and cost a third more memory. Linear probing stays short there:
// about three slots for a key that is in, thirteen (sequential, hashes compared
// first) for one that is not.
type htable[K comparable, V any] struct {
	n     int
	slots []hentry[K, V]
}

// newHtable returns an empty table sized for n entries at four fifths full.
func newHtable[K comparable, V any](n int) *htable[K, V] {
	return &htable[K, V]{slots: make([]hentry[K, V], max(n+n/4+1, 4))}
}

// overfull reports whether a table of size slots cannot take its nth entry: past
// seven eighths, probes grow long.
func overfull(n, size int) bool { return n*8 > size*7 }

// home is the slot a probe for hash x starts at.
func (t *htable[K, V]) home(x uint64) int { return int((x >> 32) * uint64(len(t.slots)) >> 32) }

// find returns the slot that holds k (hash x), or the empty slot where it would
// go, and whether k is there.
func (t *htable[K, V]) find(x uint64, k K) (int, bool) {
	size := len(t.slots)
	for i := t.home(x); ; {
		e := &t.slots[i]
		if e.hash == 0 {
			return i, false
		}
		if e.hash == x && e.key == k {
			return i, true
		}
		if i++; i == size {
			i = 0
		}
	}
}

// get returns k's value; a nil table holds nothing.
func (t *htable[K, V]) get(x uint64, k K) (V, bool) {
	if t != nil {
		if i, ok := t.find(x, k); ok {
			return t.slots[i].val, true
		}
	}
	var zero V
	return zero, false
}

// clone returns a copy of t (nil: empty) with room for extra more entries.
func (t *htable[K, V]) clone(extra int) *htable[K, V] {
	n := extra
	if t != nil {
		n += t.n
	}
	c := newHtable[K, V](n)
	if t != nil {
		for i := range t.slots {
			if t.slots[i].hash != 0 {
				c.place(t.slots[i])
			}
		}
	}
	return c
}

// place puts e, whose key t does not hold, in its slot.
func (t *htable[K, V]) place(e hentry[K, V]) {
	i, _ := t.find(e.hash, e.key)
	t.slots[i] = e
	t.n++
}

// put sets k to v in a table the caller owns and returns the table, a larger
// copy when it had to grow.
func (t *htable[K, V]) put(x uint64, k K, v V) *htable[K, V] {
	i, ok := t.find(x, k)
	if ok {
		t.slots[i].val = v
		return t
	}
	if overfull(t.n+1, len(t.slots)) {
		t = t.clone(t.n/2 + 1) // half as large again
		i, _ = t.find(x, k)
	}
	t.slots[i] = hentry[K, V]{hash: x, key: k, val: v}
	t.n++
	return t
}

// remove deletes k from a table the caller owns, shifting back the entries after
// it that would no longer be found past the gap.
func (t *htable[K, V]) remove(x uint64, k K) {
	i, ok := t.find(x, k)
	if !ok {
		return
	}
	next := func(j int) int {
		if j++; j == len(t.slots) {
			return 0
		}
		return j
	}
	for j := next(i); t.slots[j].hash != 0; j = next(j) {
		// The entry at j may fill the gap at i unless its home lies in (i, j]:
		// then a probe for it starts past i and must not cross an empty slot.
		home := t.home(t.slots[j].hash)
		if (i < j && (home <= i || home > j)) || (i > j && home <= i && home > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = hentry[K, V]{}
	t.n--
}

// each calls fn with every entry until it returns false, and reports whether it
// went through them all.
func (t *htable[K, V]) each(fn func(K, V) bool) bool {
	if t == nil {
		return true
	}
	for i := range t.slots {
		if e := &t.slots[i]; e.hash != 0 && !fn(e.key, e.val) {
			return false
		}
	}
	return true
}

// len is the number of entries; a nil table has none.
func (t *htable[K, V]) len() int {
	if t == nil {
		return 0
	}
	return t.n
}
