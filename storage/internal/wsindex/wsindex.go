// Package wsindex keeps a workspace's secondary indexes, answers searches through
// them and checks them, once for every backend that keeps its own indexes (memory
// and bolt). A backend supplies the index storage (Store: unique keys, sorted
// posting lists and counts, over its B-trees or buckets) and keeps its records and
// its transactions; which entries a workspace has, how a search joins them and what
// a consistent store looks like are decided here, so a fix is made once.
//
// The indexes of a workspace w:
//
//	Slug        unique     w.Slug -> w.ID
//	ExternalID  unique     w.ExternalID -> w.ID, when set
//	Deleted     unique     indexkeys.DeletedKey(w.DeletedAt, w.ID) -> w.ID, when deleted (retention, oldest first)
//	Status      postings   w.Status: w.ID
//	Gram        postings   each of indexkeys.Grams(lowercased name): w.ID, with a count of postings per gram
package wsindex

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/internal/indexkeys"
	"github.com/tenancykit/tenancy/workspace"
)

// Index names one of a workspace's indexes.
type Index int

// The indexes.
const (
	Slug Index = iota
	ExternalID
	Deleted
	Status
	Gram
)

func (ix Index) String() string {
	return [...]string{"slug", "external ID", "deleted", "status", "name gram"}[ix]
}

// Store is a backend's index storage inside one transaction. Keys and IDs hold no
// zero byte (storage.CheckKeys), so a backend may join them with one.
type Store interface {
	// Owner returns the ID a unique index (Slug, ExternalID, Deleted) files key under.
	Owner(ix Index, key string) (id string, ok bool, err error)
	// SetOwner files key under id in a unique index; DeleteOwner removes key.
	SetOwner(ix Index, key, id string) error
	DeleteOwner(ix Index, key string) error
	// Post adds id to key's posting list (Status, Gram); Unpost removes it.
	Post(ix Index, key, id string) error
	Unpost(ix Index, key, id string) error
	// Seek returns the first ID at or after from in key's posting list; ok is
	// false past its end.
	Seek(ix Index, key, from string) (id string, ok bool, err error)
	// Walk walks key's posting list in order, strictly after the given ID, until fn
	// returns false or an error: the search's one-list case, cheaper than seeking
	// for every ID.
	Walk(ix Index, key, after string, fn func(id string) (bool, error)) error
	// GramCount returns how many workspaces a gram's posting list holds (0 when
	// none); AddGramCount changes it, removing the count when it reaches 0.
	GramCount(gram string) (int64, error)
	AddGramCount(gram string, delta int64) error
	// Each walks every entry of an index in key order: for a unique index its key
	// and ID, for a posting list its key and each ID. EachGramCount walks the counts.
	Each(ix Index, fn func(key, id string) bool) error
	EachGramCount(fn func(gram string, n int64) bool) error
}

// Pending is implemented by a Store that files a new workspace's lowercased name
// under its ID for searches to check directly, and its grams later, many
// workspaces at a time. On bbolt a creation then writes one key at the end of one
// bucket where its ~25 grams would each dirty a page of their own; the batch files
// them together, sharing the pages the names' common grams land on. A pending
// workspace has no gram entries; Put, Drop, Search and Check know both places.
type Pending interface {
	// PendingName returns the lowercased name filed under id, if any.
	PendingName(id string) (lower string, ok bool, err error)
	// SetPending files lower under id; DeletePending removes id's entry.
	SetPending(id, lower string) error
	DeletePending(id string) error
	// NextPending returns the first entry after the given ID, in ID order; ok is
	// false past the last.
	NextPending(after string) (id, lower string, ok bool, err error)
	// PendingFull reports that the entries are to be filed in the gram index now.
	PendingFull() (bool, error)
}

// Records reads workspaces: a backend's storage.Reader has both methods.
type Records interface {
	GetWorkspace(id string) (workspace.Workspace, error)
	ScanWorkspaces(after string, fn func(workspace.Workspace) bool) error
}

// uniques are the unique-index entries w has: a tag for the index, and the key.
func uniques(w workspace.Workspace) [][2]string {
	out := [][2]string{{"", w.Slug}}
	if w.ExternalID != "" {
		out = append(out, [2]string{"x", w.ExternalID})
	}
	if w.Status == workspace.Deleted {
		out = append(out, [2]string{"d", indexkeys.DeletedKey(w.DeletedAt, w.ID)})
	}
	return out
}

func uniqueIndex(tag string) Index {
	switch tag {
	case "x":
		return ExternalID
	case "d":
		return Deleted
	}
	return Slug
}

// Grams returns the grams w's name is filed under.
func Grams(w workspace.Workspace) []string { return indexkeys.Grams(strings.ToLower(w.Name)) }

// Put files w in every index, replacing old's entries (old is nil for a new
// workspace). The unique claims are checked first: a slug or external ID that
// another workspace holds is a *storage.ConflictError naming the index, and
// nothing is changed. Only the entries that differ between old and w are written:
// a status change touches the status index alone, and a rename only the grams the
// two names do not share, so an update costs what it changes, not the whole name.
func Put(s Store, old *workspace.Workspace, w workspace.Workspace) error {
	if err := claim(s, Slug, storage.IndexWorkspaceSlug, w.Slug, w.ID); err != nil {
		return err
	}
	if w.ExternalID != "" {
		if err := claim(s, ExternalID, storage.IndexWorkspaceExternalID, w.ExternalID, w.ID); err != nil {
			return err
		}
	}
	if old == nil {
		return add(s, w)
	}
	if old.ID != w.ID { // not a new version of the same workspace: replace it all
		if err := Drop(s, *old); err != nil {
			return err
		}
		return add(s, w)
	}
	had, has := uniques(*old), uniques(w)
	for _, u := range had {
		if !slices.Contains(has, u) {
			if err := s.DeleteOwner(uniqueIndex(u[0]), u[1]); err != nil {
				return err
			}
		}
	}
	for _, u := range has {
		if !slices.Contains(had, u) {
			if err := s.SetOwner(uniqueIndex(u[0]), u[1], w.ID); err != nil {
				return err
			}
		}
	}
	if old.Status != w.Status {
		if err := s.Unpost(Status, string(old.Status), w.ID); err != nil {
			return err
		}
		if err := s.Post(Status, string(w.Status), w.ID); err != nil {
			return err
		}
	}
	was, is := strings.ToLower(old.Name), strings.ToLower(w.Name)
	if was == is {
		return nil
	}
	if p, ok := s.(Pending); ok {
		if _, pending, err := p.PendingName(w.ID); err != nil || pending {
			if err != nil {
				return err
			}
			return p.SetPending(w.ID, is) // its grams are not filed yet
		}
	}
	gone, added := diff(indexkeys.Grams(was), indexkeys.Grams(is))
	if err := unpostGrams(s, gone, w.ID); err != nil {
		return err
	}
	return postGrams(s, added, w.ID)
}

// add files a workspace that has no entries yet.
func add(s Store, w workspace.Workspace) error {
	for _, u := range uniques(w) {
		if err := s.SetOwner(uniqueIndex(u[0]), u[1], w.ID); err != nil {
			return err
		}
	}
	if err := s.Post(Status, string(w.Status), w.ID); err != nil {
		return err
	}
	p, ok := s.(Pending)
	if !ok {
		return postGrams(s, Grams(w), w.ID)
	}
	if err := p.SetPending(w.ID, strings.ToLower(w.Name)); err != nil {
		return err
	}
	if full, err := p.PendingFull(); err != nil || !full {
		return err
	}
	return FilePending(s)
}

// eachPending walks p's entries in ID order, strictly after the given ID.
func eachPending(p Pending, after string, fn func(id, lower string)) error {
	for {
		id, lower, ok, err := p.NextPending(after)
		if err != nil || !ok {
			return err
		}
		fn(id, lower)
		after = id
	}
}

// FilePending files the grams of every pending workspace and removes the pending
// entries (see Pending); a Store without them has nothing to do.
func FilePending(s Store) error {
	p, ok := s.(Pending)
	if !ok {
		return nil
	}
	type entry struct{ id, lower string }
	var all []entry
	if err := eachPending(p, "", func(id, lower string) { all = append(all, entry{id, lower}) }); err != nil {
		return err
	}
	for _, e := range all {
		if err := postGrams(s, indexkeys.Grams(e.lower), e.id); err != nil {
			return err
		}
		if err := p.DeletePending(e.id); err != nil {
			return err
		}
	}
	return nil
}

func postGrams(s Store, grams []string, id string) error {
	for _, g := range grams {
		if err := s.Post(Gram, g, id); err != nil {
			return err
		}
		if err := s.AddGramCount(g, 1); err != nil {
			return err
		}
	}
	return nil
}

func unpostGrams(s Store, grams []string, id string) error {
	for _, g := range grams {
		if err := s.Unpost(Gram, g, id); err != nil {
			return err
		}
		if err := s.AddGramCount(g, -1); err != nil {
			return err
		}
	}
	return nil
}

// diff returns what is in the sorted list a but not in the sorted list b, and
// what is in b but not in a.
func diff(a, b []string) (onlyA, onlyB []string) {
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0] < b[0]:
			onlyA, a = append(onlyA, a[0]), a[1:]
		case len(a) == 0 || b[0] < a[0]:
			onlyB, b = append(onlyB, b[0]), b[1:]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return onlyA, onlyB
}

func claim(s Store, ix Index, name, key, id string) error {
	owner, ok, err := s.Owner(ix, key)
	if err != nil {
		return err
	}
	if ok && owner != id {
		return storage.Conflict(name)
	}
	return nil
}

// Drop removes every index entry of w.
func Drop(s Store, w workspace.Workspace) error {
	for _, u := range uniques(w) {
		if err := s.DeleteOwner(uniqueIndex(u[0]), u[1]); err != nil {
			return err
		}
	}
	if err := s.Unpost(Status, string(w.Status), w.ID); err != nil {
		return err
	}
	if p, ok := s.(Pending); ok {
		if _, pending, err := p.PendingName(w.ID); err != nil || pending {
			if err != nil {
				return err
			}
			return p.DeletePending(w.ID)
		}
	}
	return unpostGrams(s, Grams(w), w.ID)
}

// Search walks, in ID order and strictly after the given ID, every workspace that
// matches q (see storage.WorkspaceSearcher). It intersects the posting lists of the
// needle's rarest grams (and the status index) with indexkeys.Leapfrog, then checks
// each candidate with q.Match; the pending workspaces of a Pending store (no gram
// entries yet) are checked by their filed names and joined in ID order. A needle
// shorter than indexkeys.GramLen with no status filter has no index to use: it
// scans every workspace. r reads the records (a backend's Reader).
func Search(s Store, r Records, q storage.WorkspaceQuery, after string, fn func(workspace.Workspace) bool) error {
	type list struct {
		ix  Index
		key string
		n   int64
	}
	var lists []list
	grams := indexkeys.NeedleGrams(q.NameContains)
	none := false // some needle gram is in no posting list: only pending workspaces can match
	for _, g := range grams {
		n, err := s.GramCount(g)
		if err != nil {
			return err
		}
		if n <= 0 {
			none = true
			break
		}
		lists = append(lists, list{Gram, g, n})
	}
	// The pending workspaces whose name holds the needle, pulled in ID order as the
	// indexed candidates pass them: a page that fills before them reads few.
	var nextPending func() (string, bool, error)
	if p, ok := s.(Pending); ok && len(grams) > 0 {
		at := after
		nextPending = func() (string, bool, error) {
			for {
				id, lower, ok, err := p.NextPending(at)
				if err != nil || !ok {
					return "", false, err
				}
				at = id
				if strings.Contains(lower, q.NameContains) {
					return id, true, nil
				}
			}
		}
	}
	visit := func(w workspace.Workspace) bool { return !q.Match(w) || fn(w) }
	stopped := false
	emit := func(id string) (bool, error) {
		w, err := r.GetWorkspace(id)
		if err != nil {
			return false, err
		}
		more := visit(w)
		stopped = !more
		return more, nil
	}
	// flush emits the pending candidates before id (every one for "").
	var peek string
	peeked := false
	flush := func(id string) (bool, error) {
		for nextPending != nil {
			if !peeked {
				var err error
				if peek, peeked, err = nextPending(); err != nil {
					return false, err
				}
				if !peeked {
					nextPending = nil // none left
					break
				}
			}
			if id != "" && peek >= id {
				break
			}
			peeked = false
			if more, err := emit(peek); err != nil || !more {
				return false, err
			}
		}
		return true, nil
	}
	candidate := func(id string) (bool, error) {
		if more, err := flush(id); err != nil || !more {
			return false, err
		}
		return emit(id)
	}
	var err error
	switch {
	case none:
	case len(lists) == 0 && q.Status == "":
		return r.ScanWorkspaces(after, visit) // no index to use; pending workspaces are workspaces too
	default:
		slices.SortFunc(lists, func(a, b list) int { return cmp.Compare(a.n, b.n) })
		lists = lists[:min(len(lists), 4)] // the rarest few narrow enough; Match checks the rest
		if q.Status != "" {
			lists = append(lists, list{ix: Status, key: string(q.Status)})
		}
		if len(lists) == 1 { // one list: walk it in order, no joining to do
			err = s.Walk(lists[0].ix, lists[0].key, after, candidate)
		} else {
			seek := func(i int, x string) (string, bool, error) { return s.Seek(lists[i].ix, lists[i].key, x) }
			err = indexkeys.Leapfrog(len(lists), after+"\x00", seek, candidate)
		}
	}
	if err != nil || stopped {
		return err
	}
	_, err = flush("")
	return err
}

// Check compares the indexes with the workspaces each walks: every workspace has
// exactly its entries, every entry belongs to a workspace that has it, and the gram
// counts add up. It returns one line per problem.
func Check(s Store, each func(fn func(workspace.Workspace) bool) error) ([]string, error) {
	var out []string
	report := func(format string, args ...any) {
		if len(out) < 1000 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	want := map[Index]map[string]string{Slug: {}, ExternalID: {}, Deleted: {}} // key -> ID
	posts := map[Index]map[string]bool{Status: {}, Gram: {}}                   // key \x00 ID
	counts := map[string]int64{}
	pending := map[string]string{} // ID -> the lowercased name filed, for a Pending store
	p, hasPending := s.(Pending)
	if hasPending {
		if err := eachPending(p, "", func(id, lower string) { pending[id] = lower }); err != nil {
			return nil, err
		}
	}
	err := each(func(w workspace.Workspace) bool {
		for _, u := range uniques(w) {
			want[uniqueIndex(u[0])][u[1]] = w.ID
		}
		posts[Status][string(w.Status)+"\x00"+w.ID] = true
		if lower, ok := pending[w.ID]; ok { // its grams are not filed yet: its name is
			if lower != strings.ToLower(w.Name) {
				report("pending names: workspace %q is filed as %q, its name is %q", w.ID, lower, w.Name)
			}
			delete(pending, w.ID)
			return true
		}
		for _, g := range Grams(w) {
			posts[Gram][g+"\x00"+w.ID] = true
			counts[g]++
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	for _, id := range slices.Sorted(maps.Keys(pending)) {
		report("pending names: %q is filed, but no workspace has that ID", id)
	}
	for _, ix := range []Index{Slug, ExternalID, Deleted} {
		seen := 0
		if err := s.Each(ix, func(key, id string) bool {
			seen++
			switch owner, ok := want[ix][key]; {
			case !ok:
				report("%s index: %q is filed under %q, which no workspace holds", ix, key, id)
			case owner != id:
				report("%s index: %q is filed under %q, but workspace %q holds it", ix, key, id, owner)
			}
			return true
		}); err != nil {
			return nil, err
		}
		if seen != len(want[ix]) || len(out) > 0 {
			for key, id := range want[ix] {
				if got, ok, err := s.Owner(ix, key); err != nil {
					return nil, err
				} else if !ok || got != id {
					report("%s index: workspace %q is not filed under %q", ix, id, key)
				}
			}
		}
	}
	for _, ix := range []Index{Status, Gram} {
		seen := 0
		if err := s.Each(ix, func(key, id string) bool {
			seen++
			if !posts[ix][key+"\x00"+id] {
				report("%s index: workspace %q is filed under %q, which it does not have", ix, id, key)
			}
			return true
		}); err != nil {
			return nil, err
		}
		if seen != len(posts[ix]) {
			report("%s index: %d entries, the workspaces have %d", ix, seen, len(posts[ix]))
		}
	}
	seenCounts := 0
	if err := s.EachGramCount(func(g string, n int64) bool {
		seenCounts++
		if counts[g] != n {
			report("name gram counts: %q counts %d workspaces, %d have it", g, n, counts[g])
		}
		return true
	}); err != nil {
		return nil, err
	}
	if seenCounts != len(counts) {
		report("name gram counts: %d grams counted, the workspaces have %d", seenCounts, len(counts))
	}
	return out, nil
}
