package bolt

import (
	"bytes"
	"encoding/binary"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/tenancykit/tenancy/storage/internal/wsindex"
	"github.com/tenancykit/tenancy/workspace"
)

// wsIndexes serves a transaction's workspace buckets to wsindex, which decides what
// they hold, over the bucket layout schema 3 set: unique keys map to the ID,
// postings are join(key, ID) with no value, the gram counts are 8-byte big-endian.
// A search's seeks keep one cursor per posting list.
type wsIndexes struct {
	btx     *bbolt.Tx
	cursors map[string]*bbolt.Cursor
	// pending is NextPending's cursor, at pendingAt.
	pending   *bbolt.Cursor
	pendingAt string
}

var _ wsindex.Store = (*wsIndexes)(nil)
var _ wsindex.Pending = (*wsIndexes)(nil)

// pendingBatch is how many new workspaces wait with their names filed, their grams
// not, before one transaction files all their grams (see wsindex.Pending). A
// creation then writes one key at the end of one bucket instead of ~25 keys that
// each dirty a page, and the batch shares the pages its names' common grams land
// on. A name search reads every pending name, so the batch stays small.
var pendingBatch = 128

func (t *tx) wsIndexes() *wsIndexes { return &wsIndexes{btx: t.btx} }

func (x *wsIndexes) bucket(ix wsindex.Index) *bbolt.Bucket {
	switch ix {
	case wsindex.ExternalID:
		return x.btx.Bucket(bWsExt)
	case wsindex.Deleted:
		return x.btx.Bucket(bWsDeleted)
	case wsindex.Status:
		return x.btx.Bucket(bWsStatus)
	case wsindex.Gram:
		return x.btx.Bucket(bWsGram)
	}
	return x.btx.Bucket(bWsSlug)
}

func (x *wsIndexes) Owner(ix wsindex.Index, key string) (string, bool, error) {
	if v := x.bucket(ix).Get([]byte(key)); v != nil {
		return string(v), true, nil
	}
	return "", false, nil
}

func (x *wsIndexes) SetOwner(ix wsindex.Index, key, id string) error {
	return x.bucket(ix).Put([]byte(key), []byte(id))
}

func (x *wsIndexes) DeleteOwner(ix wsindex.Index, key string) error {
	return x.bucket(ix).Delete([]byte(key))
}

func (x *wsIndexes) Post(ix wsindex.Index, key, id string) error {
	return x.bucket(ix).Put(join(key, id), nil)
}

func (x *wsIndexes) Unpost(ix wsindex.Index, key, id string) error {
	return x.bucket(ix).Delete(join(key, id))
}

func (x *wsIndexes) Seek(ix wsindex.Index, key, from string) (string, bool, error) {
	name := string(rune('0'+ix)) + key
	c, ok := x.cursors[name]
	if !ok {
		if x.cursors == nil {
			x.cursors = map[string]*bbolt.Cursor{}
		}
		c = x.bucket(ix).Cursor()
		x.cursors[name] = c
	}
	prefix := join(key, "")
	k, _ := c.Seek(join(key, from))
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return "", false, nil
	}
	return string(k[len(prefix):]), true, nil
}

func (x *wsIndexes) Walk(ix wsindex.Index, key, after string, fn func(string) (bool, error)) error {
	prefix := join(key, "")
	c := x.bucket(ix).Cursor()
	start := append(append([]byte(nil), prefix...), after...)
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if after != "" && bytes.Equal(k, start) {
			continue
		}
		if more, err := fn(string(k[len(prefix):])); err != nil || !more {
			return err
		}
	}
	return nil
}

func (x *wsIndexes) GramCount(g string) (int64, error) {
	if v := x.btx.Bucket(bWsGramN).Get([]byte(g)); len(v) == 8 {
		return int64(binary.BigEndian.Uint64(v)), nil
	}
	return 0, nil
}

func (x *wsIndexes) AddGramCount(g string, d int64) error {
	b := x.btx.Bucket(bWsGramN)
	n := d
	if v := b.Get([]byte(g)); len(v) == 8 {
		n += int64(binary.BigEndian.Uint64(v))
	}
	if n <= 0 {
		return b.Delete([]byte(g))
	}
	return b.Put([]byte(g), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func (x *wsIndexes) Each(ix wsindex.Index, fn func(key, id string) bool) error {
	c := x.bucket(ix).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		key, id := string(k), string(v)
		if ix == wsindex.Status || ix == wsindex.Gram {
			key, id, _ = strings.Cut(key, "\x00") // join(key, ID): IDs hold no zero byte
		}
		if !fn(key, id) {
			return nil
		}
	}
	return nil
}

func (x *wsIndexes) EachGramCount(fn func(string, int64) bool) error {
	c := x.btx.Bucket(bWsGramN).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n := int64(-1) // a damaged count: never what the workspaces say
		if len(v) == 8 {
			n = int64(binary.BigEndian.Uint64(v))
		}
		if !fn(string(k), n) {
			return nil
		}
	}
	return nil
}

// eachWorkspace walks the decodable workspaces, for wsindex.Check (records that do
// not decode are reported by the record check).
func eachWorkspace(btx *bbolt.Tx) func(fn func(workspace.Workspace) bool) error {
	return func(fn func(workspace.Workspace) bool) error {
		c := btx.Bucket(bWs).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if w, err := decodeWorkspace(v); err == nil && !fn(w) {
				return nil
			}
		}
		return nil
	}
}

// pendingMark leads every pending name, so that an empty one is still a value.
const pendingMark = "n"

func (x *wsIndexes) PendingName(id string) (string, bool, error) {
	if v := x.btx.Bucket(bWsPending).Get([]byte(id)); v != nil {
		return strings.TrimPrefix(string(v), pendingMark), true, nil
	}
	return "", false, nil
}

func (x *wsIndexes) SetPending(id, lower string) error {
	x.pending = nil
	return x.btx.Bucket(bWsPending).Put([]byte(id), []byte(pendingMark+lower))
}

func (x *wsIndexes) DeletePending(id string) error {
	x.pending = nil
	return x.btx.Bucket(bWsPending).Delete([]byte(id))
}

// NextPending keeps one cursor: a search pulls the entries one after the other,
// so each is a Next, not a Seek. A write to the bucket drops it.
func (x *wsIndexes) NextPending(after string) (string, string, bool, error) {
	var k, v []byte
	if x.pending != nil && x.pendingAt == after {
		k, v = x.pending.Next()
	} else {
		x.pending = x.btx.Bucket(bWsPending).Cursor()
		k, v = x.pending.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, v = x.pending.Next()
		}
	}
	if k == nil {
		x.pending = nil
		return "", "", false, nil
	}
	x.pendingAt = string(k)
	return x.pendingAt, strings.TrimPrefix(string(v), pendingMark), true, nil
}

// PendingFull counts the entries with a cursor, which sees this transaction's
// writes (a bucket's Stats only counts what is committed): one transaction that
// creates thousands of workspaces still files them every pendingBatch.
func (x *wsIndexes) PendingFull() (bool, error) {
	c := x.btx.Bucket(bWsPending).Cursor()
	n := 0
	for k, _ := c.First(); k != nil && n < pendingBatch; k, _ = c.Next() {
		n++
	}
	return n >= pendingBatch, nil
}
