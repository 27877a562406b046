package memory

import (
	"github.com/google/btree"

	"github.com/tenancykit/tenancy/storage/internal/wsindex"
	"github.com/tenancykit/tenancy/workspace"
)

// wsIndexes serves a snapshot's workspace indexes to wsindex, which decides what
// they hold. Its writes change the snapshot's trees: only a writer's private clone
// is ever written.
type wsIndexes struct{ s *snapshot }

var _ wsindex.Store = wsIndexes{}

func (x wsIndexes) unique(ix wsindex.Index) *btree.BTreeG[item[string]] {
	switch ix {
	case wsindex.ExternalID:
		return x.s.wsExt
	case wsindex.Deleted:
		return x.s.deleted
	}
	return x.s.wsSlug
}

func (x wsIndexes) postings(ix wsindex.Index) *btree.BTreeG[pair[none]] {
	if ix == wsindex.Gram {
		return x.s.grams
	}
	return x.s.wsStatus
}

func (x wsIndexes) Owner(ix wsindex.Index, key string) (string, bool, error) {
	if it, ok := x.unique(ix).Get(item[string]{key: key}); ok {
		return *it.val, true, nil
	}
	return "", false, nil
}

func (x wsIndexes) SetOwner(ix wsindex.Index, key, id string) error {
	x.unique(ix).ReplaceOrInsert(item[string]{key: key, val: &id})
	return nil
}

func (x wsIndexes) DeleteOwner(ix wsindex.Index, key string) error {
	x.unique(ix).Delete(item[string]{key: key})
	return nil
}

func (x wsIndexes) Post(ix wsindex.Index, key, id string) error {
	x.postings(ix).ReplaceOrInsert(pair[none]{a: key, b: id})
	return nil
}

func (x wsIndexes) Unpost(ix wsindex.Index, key, id string) error {
	x.postings(ix).Delete(pair[none]{a: key, b: id})
	return nil
}

func (x wsIndexes) Seek(ix wsindex.Index, key, from string) (id string, ok bool, _ error) {
	x.postings(ix).AscendGreaterOrEqual(pair[none]{a: key, b: from}, func(p pair[none]) bool {
		id, ok = p.b, p.a == key
		return false
	})
	return id, ok, nil
}

func (x wsIndexes) Walk(ix wsindex.Index, key, after string, fn func(string) (bool, error)) error {
	return x.s.scanIndexed(x.postings(ix), key, after, fn)
}

func (x wsIndexes) GramCount(g string) (int64, error) {
	if it, ok := x.s.gramN.Get(item[int64]{key: g}); ok {
		return *it.val, nil
	}
	return 0, nil
}

func (x wsIndexes) AddGramCount(g string, d int64) error {
	n := d
	if it, ok := x.s.gramN.Get(item[int64]{key: g}); ok {
		n += *it.val
	}
	if n <= 0 {
		x.s.gramN.Delete(item[int64]{key: g})
		return nil
	}
	x.s.gramN.ReplaceOrInsert(item[int64]{key: g, val: &n})
	return nil
}

func (x wsIndexes) Each(ix wsindex.Index, fn func(key, id string) bool) error {
	if ix == wsindex.Status || ix == wsindex.Gram {
		x.postings(ix).Ascend(func(p pair[none]) bool { return fn(p.a, p.b) })
		return nil
	}
	x.unique(ix).Ascend(func(it item[string]) bool { return fn(it.key, *it.val) })
	return nil
}

func (x wsIndexes) EachGramCount(fn func(string, int64) bool) error {
	x.s.gramN.Ascend(func(it item[int64]) bool { return fn(it.key, *it.val) })
	return nil
}

// eachWorkspace walks the snapshot's workspaces, for wsindex.Check.
func (s *snapshot) eachWorkspace(fn func(workspace.Workspace) bool) error {
	s.ws.Ascend(func(it item[workspace.Workspace]) bool { return fn(*it.val) })
	return nil
}
