package memory

import (
	"sort"

	"github.com/google/btree"
)

// tree is one ordered index of a snapshot: a copy-on-write B-tree (base), then a
// tail of entries that sort after everything in it, kept in an appendLog shared
// with the snapshots before and after.
//
// Most of what a creation writes sorts after everything already there: the new
// workspace's record and its owner's membership (the Manager draws IDs inside the
// write, in the order they grow), its events. In a B-tree each of those copied the
// tree's right-hand path, a few kilobytes per tree per creation, which with the
// gram lists was most of what a creation allocated and so most of what the
// collector did. Appended to the tail it costs one slot. Anything that does not
// sort after the tail's last entry goes to the base as before; anything that
// would change or remove a tail entry, or land between two, first moves the whole
// tail into the writer's base (a flush), and so does a tail that reaches
// tailFlush entries: one pass down the right-hand path for a few hundred appends.
//
// A tree value belongs to one snapshot: clone gives a writer its own.
type tree[T any] struct {
	base  *btree.BTreeG[T]
	owned bool          // base is this writer's clone (see write)
	tail  *appendLog[T] // nil when empty
	less  func(a, b T) bool
	stamp uint64    // the snapshot's stamp: which tail entries it sees
	undo  *[]undoer // set in a writer's snapshot
}

// tailFlush is how long a tail grows before a writer moves it into the base.
const tailFlush = 512

func newTreeOf[T any](less func(a, b T) bool) tree[T] {
	return tree[T]{base: btree.NewG(degree, less), less: less}
}

// clone returns a writer's copy, sharing the base until its first write to it
// and the tail for good.
func (t *tree[T]) clone(stamp uint64, undo *[]undoer) tree[T] {
	return tree[T]{base: t.base, tail: t.tail, less: t.less, stamp: stamp, undo: undo}
}

// write returns the base for writing: on the writer's first write, a clone (lazy
// itself: B-tree nodes are copied as they are written). A creation writes a few
// of a snapshot's two dozen trees, so most are never cloned.
func (t *tree[T]) write() *btree.BTreeG[T] {
	if !t.owned {
		t.base, t.owned = t.base.Clone(), true
	}
	return t.base
}

func (t *tree[T]) view() []logEntry[T] { return t.tail.view(t.stamp) }

// inTail reports where x falls in the tail view v: its index (or where it would
// go) and whether it is there, or ok false when x sorts before the tail.
func (t *tree[T]) inTail(v []logEntry[T], x T) (i int, found, ok bool) {
	if len(v) == 0 || t.less(x, v[0].val) {
		return 0, false, false
	}
	i = sort.Search(len(v), func(i int) bool { return !t.less(v[i].val, x) })
	return i, i < len(v) && !t.less(x, v[i].val), true
}

// Get returns the entry equal to x.
func (t *tree[T]) Get(x T) (T, bool) {
	v := t.view()
	if i, found, ok := t.inTail(v, x); ok {
		if found {
			return v[i].val, true
		}
		var zero T
		return zero, false
	}
	return t.base.Get(x)
}

// Has reports whether an entry equal to x is there.
func (t *tree[T]) Has(x T) bool {
	_, ok := t.Get(x)
	return ok
}

// ReplaceOrInsert puts x in, replacing an equal entry. Writers only.
func (t *tree[T]) ReplaceOrInsert(x T) {
	v := t.view()
	if len(v) == 0 {
		if last, ok := t.base.Max(); ok && !t.less(last, x) {
			t.write().ReplaceOrInsert(x)
			return
		}
		t.tail = newAppendLog[T](nil, 16)
		t.tail.push(x, t.stamp, t.undo)
		return
	}
	switch {
	case t.less(v[len(v)-1].val, x) && len(v) < tailFlush && t.tail.whole(v):
		t.tail.push(x, t.stamp, t.undo)
	case t.less(x, v[0].val):
		t.write().ReplaceOrInsert(x)
	default:
		t.flush(v)
		t.ReplaceOrInsert(x)
	}
}

// Delete removes the entry equal to x and returns it. Writers only.
func (t *tree[T]) Delete(x T) (T, bool) {
	v := t.view()
	if _, found, ok := t.inTail(v, x); ok {
		if !found {
			var zero T
			return zero, false
		}
		t.flush(v)
	}
	if !t.base.Has(x) {
		var zero T
		return zero, false
	}
	return t.write().Delete(x)
}

// flush moves the tail into the writer's base. The log itself is left as it is
// for the snapshots that still see it.
func (t *tree[T]) flush(v []logEntry[T]) {
	b := t.write()
	for i := range v {
		b.ReplaceOrInsert(v[i].val)
	}
	t.tail = nil
}

// Ascend calls fn with every entry in order until it returns false.
func (t *tree[T]) Ascend(fn func(T) bool) {
	more := true
	t.base.Ascend(func(x T) bool { more = fn(x); return more })
	if !more {
		return
	}
	v := t.view()
	for i := range v {
		if !fn(v[i].val) {
			return
		}
	}
}

// AscendGreaterOrEqual calls fn with the entries from pivot on, in order, until it
// returns false.
func (t *tree[T]) AscendGreaterOrEqual(pivot T, fn func(T) bool) {
	more := true
	t.base.AscendGreaterOrEqual(pivot, func(x T) bool { more = fn(x); return more })
	if !more {
		return
	}
	v := t.view()
	i, _, ok := t.inTail(v, pivot)
	if !ok {
		i = 0
	}
	for ; i < len(v); i++ {
		if !fn(v[i].val) {
			return
		}
	}
}

// AscendLessThan calls fn with the entries before pivot, in order, until it
// returns false.
func (t *tree[T]) AscendLessThan(pivot T, fn func(T) bool) {
	more := true
	t.base.AscendLessThan(pivot, func(x T) bool { more = fn(x); return more })
	if !more {
		return
	}
	v := t.view()
	for i := range v {
		if !t.less(v[i].val, pivot) || !fn(v[i].val) {
			return
		}
	}
}

// Len is the number of entries.
func (t *tree[T]) Len() int { return t.base.Len() + len(t.view()) }

// Max returns the last entry.
func (t *tree[T]) Max() (T, bool) {
	if v := t.view(); len(v) > 0 {
		return v[len(v)-1].val, true
	}
	return t.base.Max()
}
