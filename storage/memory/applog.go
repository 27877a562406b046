package memory

import (
	"sort"
	"sync/atomic"
)

// appendLog is an ascending run of entries shared by consecutive snapshots, which
// the one writer extends in place instead of copying anything a reader holds.
//
// Each entry carries the stamp of the transaction that appended it, and a snapshot
// sees the entries stamped at or before its own: a prefix, since stamps ascend
// along the log. A rolled-back writer's entries are cut off again before the next
// writer starts (see update); a slot written again later gets a later stamp, so
// stamps still ascend and a reader never reads a value past its prefix. A full
// cell is replaced by a larger copy (see grow); readers that loaded the old one still
// find there every entry their snapshot sees.
//
// The memory backend's two heaviest write paths append far more than they do
// anything else: a creation files its workspace under ~25 name grams (each a log
// of workspace numbers, see postings), and its workspace, membership and event records sort
// after every earlier one (the tails of tree). Copy-on-write made each of those a
// copy of a map shard or a B-tree path; a log append is one slot.
type appendLog[T any] struct {
	cur atomic.Pointer[logCell[T]]
	// What the current writer found before its first append here, to go back to
	// if it rolls back: its stamp and the log's length. Only writers, under the
	// store's lock, read or write these.
	undoStamp uint64
	undoN     int64
}

// logCell is a log's backing array and how much of it is written.
type logCell[T any] struct {
	ents []logEntry[T] // len(ents) is the capacity
	n    atomic.Int64
}

type logEntry[T any] struct {
	val   T             // written before stamp is stored; read only by a snapshot that sees stamp
	stamp atomic.Uint64 // the appending transaction's stamp; 0 for a log built whole
}

// newAppendLog returns a log holding vals, seen by every snapshot that points to
// it, with room for more.
func newAppendLog[T any](vals []T, room int) *appendLog[T] {
	c := &logCell[T]{ents: make([]logEntry[T], max(len(vals)+room, 1))}
	for i, v := range vals {
		c.ents[i].val = v
	}
	c.n.Store(int64(len(vals)))
	l := &appendLog[T]{}
	l.cur.Store(c)
	return l
}

// view returns the entries a snapshot with the given stamp sees.
func (l *appendLog[T]) view(stamp uint64) []logEntry[T] {
	if l == nil {
		return nil
	}
	c := l.cur.Load()
	ents := c.ents[:c.n.Load()]
	// The common case, a snapshot that sees the whole log, costs one look.
	if len(ents) == 0 || ents[len(ents)-1].stamp.Load() <= stamp {
		return ents
	}
	return ents[:sort.Search(len(ents), func(i int) bool { return ents[i].stamp.Load() > stamp })]
}

// whole reports whether a view is the whole log: only then may its holder append.
func (l *appendLog[T]) whole(v []logEntry[T]) bool {
	return int64(len(v)) == l.cur.Load().n.Load()
}

// grow is a full cell's next size. Most logs are short (a user's workspaces, a
// rare gram, a shard's tail) and stay near their size, where doubling would leave
// a third of the memory empty on average; growing by half leaves a fifth. The few
// long ones (common grams) double, which copies them less often.
func grow(n int) int {
	if n < 1024 {
		return n + n/2 + 1
	}
	return 2 * n
}

// undoer takes back one in-place write of a transaction that rolls back.
type undoer interface{ undo() }

// push appends v stamped with the writer's stamp and records how to undo it.
func (l *appendLog[T]) push(v T, stamp uint64, undo *[]undoer) {
	c := l.cur.Load()
	n := c.n.Load()
	if l.undoStamp != stamp { // the writer's first append here
		l.undoStamp, l.undoN = stamp, n
		*undo = append(*undo, l)
	}
	grew := int(n) == len(c.ents)
	if grew {
		grown := &logCell[T]{ents: make([]logEntry[T], grow(len(c.ents)))}
		// Every slot of a full cell is written and no writer changes it again, so
		// a plain copy races with nothing (readers only read).
		copy(grown.ents, c.ents)
		grown.n.Store(n)
		c = grown
	}
	c.ents[n].val = v
	c.ents[n].stamp.Store(stamp)
	c.n.Store(n + 1)
	if grew {
		l.cur.Store(c)
	}
}

// undo takes back the current writer's appends by cutting the current cell back
// to the length the writer found (a cell it grew into holds a copy of everything
// before that). The slots stay as they are (a reader that loaded the longer
// length may still read a stamp, which is past its view) until a later append
// writes them with a later stamp.
func (l *appendLog[T]) undo() {
	l.cur.Load().n.Store(l.undoN)
}
