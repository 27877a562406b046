package memory

import (
	"github.com/tenancykit/tenancy/storage/internal/wsindex"
	"github.com/tenancykit/tenancy/workspace"
)

// wsIndexes serves a snapshot's workspace indexes to wsindex, which decides what
// they hold. Its writes change the snapshot's trees: only a writer's private clone
// is ever written.
type wsIndexes struct{ s *snapshot }

var _ wsindex.Store = wsIndexes{}

// hashed returns the hash index that holds a unique index with no ordered scan
// (slugs, external IDs: looked up by key, checked whole), or nil for the Deleted
// index, a tree: the retention sweep reads it in time order.
func (x wsIndexes) hashed(ix wsindex.Index) *hindex[string, string] {
	switch ix {
	case wsindex.Slug:
		return &x.s.wsSlug
	case wsindex.ExternalID:
		return &x.s.wsExt
	}
	return nil
}

// status is the status index's tree; the gram index lives in x.s.grams.
func (x wsIndexes) status() *tree[duo] { return &x.s.wsStatus }

func (x wsIndexes) Owner(ix wsindex.Index, key string) (string, bool, error) {
	if h := x.hashed(ix); h != nil {
		id, ok := h.get(key)
		return id, ok, nil
	}
	if it, ok := x.s.deleted.Get(item[string]{key: key}); ok {
		return *it.val, true, nil
	}
	return "", false, nil
}

func (x wsIndexes) SetOwner(ix wsindex.Index, key, id string) error {
	if h := x.hashed(ix); h != nil {
		h.set(key, id)
		return nil
	}
	x.s.deleted.ReplaceOrInsert(item[string]{key: key, val: &id})
	return nil
}

func (x wsIndexes) DeleteOwner(ix wsindex.Index, key string) error {
	if h := x.hashed(ix); h != nil {
		h.del(key)
		return nil
	}
	x.s.deleted.Delete(item[string]{key: key})
	return nil
}

func (x wsIndexes) Post(ix wsindex.Index, key, id string) error {
	if ix == wsindex.Gram {
		x.s.postGram(key, id)
		return nil
	}
	x.status().ReplaceOrInsert(duo{a: key, b: id})
	return nil
}

func (x wsIndexes) Unpost(ix wsindex.Index, key, id string) error {
	if ix == wsindex.Gram {
		x.s.unpostGram(key, id)
		return nil
	}
	x.status().Delete(duo{a: key, b: id})
	return nil
}

func (x wsIndexes) Seek(ix wsindex.Index, key, from string) (id string, ok bool, _ error) {
	if ix == wsindex.Gram {
		id, ok = x.s.seekGram(key, from)
		return id, ok, nil
	}
	x.status().AscendGreaterOrEqual(duo{a: key, b: from}, func(p duo) bool {
		id, ok = p.b, p.a == key
		return false
	})
	return id, ok, nil
}

func (x wsIndexes) Walk(ix wsindex.Index, key, after string, fn func(string) (bool, error)) error {
	if ix == wsindex.Gram {
		return x.s.walkGram(key, after, fn)
	}
	return x.s.scanIndexed(x.status(), key, after, fn)
}

// GramCount is the number of live entries in the gram's list.
func (x wsIndexes) GramCount(g string) (int64, error) {
	return int64(x.s.gramCount(g)), nil
}

// AddGramCount does nothing: a list's live length is its count, kept by Post and
// Unpost.
func (x wsIndexes) AddGramCount(string, int64) error { return nil }

func (x wsIndexes) Each(ix wsindex.Index, fn func(key, id string) bool) error {
	switch ix {
	case wsindex.Status:
		x.status().Ascend(func(p duo) bool { return fn(p.a, p.b) })
	case wsindex.Gram:
		for _, g := range x.s.gramKeys() {
			more := true
			_ = x.s.walkGram(g, "", func(id string) (bool, error) { more = fn(g, id); return more, nil })
			if !more {
				break
			}
		}
	case wsindex.Deleted:
		x.s.deleted.Ascend(func(it item[string]) bool { return fn(it.key, *it.val) })
	default:
		if h := x.hashed(ix); h != nil {
			h.each(fn)
		}
	}
	return nil
}

func (x wsIndexes) EachGramCount(fn func(string, int64) bool) error {
	for _, g := range x.s.gramKeys() {
		if !fn(g, int64(x.s.gramCount(g))) {
			break
		}
	}
	return nil
}

// eachWorkspace walks the snapshot's workspaces, for wsindex.Check.
func (s *snapshot) eachWorkspace(fn func(workspace.Workspace) bool) error {
	s.ws.Ascend(func(it item[workspace.Workspace]) bool { return fn(*it.val) })
	return nil
}
