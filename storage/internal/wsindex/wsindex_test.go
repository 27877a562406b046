package wsindex

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// mapStore is the simplest Store: maps and sorted slices.
type mapStore struct {
	owners map[Index]map[string]string
	posts  map[Index]map[string][]string
	counts map[string]int64
}

func newMapStore() *mapStore {
	return &mapStore{owners: map[Index]map[string]string{Slug: {}, ExternalID: {}, Deleted: {}},
		posts: map[Index]map[string][]string{Status: {}, Gram: {}}, counts: map[string]int64{}}
}

func (m *mapStore) Owner(ix Index, key string) (string, bool, error) {
	id, ok := m.owners[ix][key]
	return id, ok, nil
}
func (m *mapStore) SetOwner(ix Index, key, id string) error { m.owners[ix][key] = id; return nil }
func (m *mapStore) DeleteOwner(ix Index, key string) error  { delete(m.owners[ix], key); return nil }
func (m *mapStore) Post(ix Index, key, id string) error {
	l := m.posts[ix][key]
	if i, found := slices.BinarySearch(l, id); !found {
		m.posts[ix][key] = slices.Insert(l, i, id)
	}
	return nil
}
func (m *mapStore) Unpost(ix Index, key, id string) error {
	l := m.posts[ix][key]
	if i, found := slices.BinarySearch(l, id); found {
		m.posts[ix][key] = slices.Delete(l, i, i+1)
	}
	if len(m.posts[ix][key]) == 0 {
		delete(m.posts[ix], key)
	}
	return nil
}
func (m *mapStore) Seek(ix Index, key, from string) (string, bool, error) {
	l := m.posts[ix][key]
	i, _ := slices.BinarySearch(l, from)
	if i == len(l) {
		return "", false, nil
	}
	return l[i], true, nil
}
func (m *mapStore) Walk(ix Index, key, after string, fn func(string) (bool, error)) error {
	for _, id := range m.posts[ix][key] {
		if id <= after {
			continue
		}
		if more, err := fn(id); err != nil || !more {
			return err
		}
	}
	return nil
}
func (m *mapStore) GramCount(g string) (int64, error) { return m.counts[g], nil }
func (m *mapStore) AddGramCount(g string, d int64) error {
	if m.counts[g] += d; m.counts[g] <= 0 {
		delete(m.counts, g)
	}
	return nil
}
func (m *mapStore) Each(ix Index, fn func(key, id string) bool) error {
	if ix == Status || ix == Gram {
		keys := make([]string, 0, len(m.posts[ix]))
		for k := range m.posts[ix] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, id := range m.posts[ix][k] {
				if !fn(k, id) {
					return nil
				}
			}
		}
		return nil
	}
	keys := make([]string, 0, len(m.owners[ix]))
	for k := range m.owners[ix] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn(k, m.owners[ix][k]) {
			return nil
		}
	}
	return nil
}
func (m *mapStore) EachGramCount(fn func(string, int64) bool) error {
	for g, n := range m.counts {
		if !fn(g, n) {
			return nil
		}
	}
	return nil
}

// A store of workspaces kept through Put and Drop.
type fixture struct {
	s  *mapStore
	ws map[string]workspace.Workspace
}

func (f *fixture) put(t *testing.T, w workspace.Workspace) error {
	t.Helper()
	var old *workspace.Workspace
	if o, ok := f.ws[w.ID]; ok {
		old = &o
	}
	if err := Put(f.s, old, w); err != nil {
		return err
	}
	f.ws[w.ID] = w
	return nil
}

func (f *fixture) each(fn func(workspace.Workspace) bool) error {
	ids := make([]string, 0, len(f.ws))
	for id := range f.ws {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if !fn(f.ws[id]) {
			break
		}
	}
	return nil
}

func (f *fixture) GetWorkspace(id string) (workspace.Workspace, error) {
	if w, ok := f.ws[id]; ok {
		return w, nil
	}
	return workspace.Workspace{}, storage.ErrNotFound
}

func (f *fixture) ScanWorkspaces(after string, fn func(workspace.Workspace) bool) error {
	return f.each(func(w workspace.Workspace) bool { return w.ID <= after || fn(w) })
}

func (f *fixture) check(t *testing.T) []string {
	t.Helper()
	lines, err := Check(f.s, f.each)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestPutDropSearchCheck(t *testing.T) {
	f := &fixture{s: newMapStore(), ws: map[string]workspace.Workspace{}}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"Acme Analytics", "Acme Corp", "Globex", "Initech Analytics"} {
		w := workspace.Workspace{ID: "ws_" + string(rune('a'+i)), Slug: strings.ToLower(strings.Fields(name)[0]) + string(rune('0'+i)),
			Name: name, Status: workspace.Active}
		if i == 1 {
			w.ExternalID = "crm-1"
		}
		if err := f.put(t, w); err != nil {
			t.Fatal(err)
		}
	}
	// Unique claims are refused whole, before anything changes.
	taken := f.ws["ws_c"]
	taken.Slug, taken.ExternalID = "acme0", "crm-9"
	before := len(f.check(t))
	if err := f.put(t, taken); storage.ConflictIndex(err) != storage.IndexWorkspaceSlug {
		t.Errorf("a taken slug: %v", err)
	}
	taken.Slug, taken.ExternalID = "globex2", "crm-1"
	if err := f.put(t, taken); storage.ConflictIndex(err) != storage.IndexWorkspaceExternalID || !errors.Is(err, storage.ErrExists) {
		t.Errorf("a taken external ID: %v", err)
	}
	if n := len(f.check(t)); n != before || n != 0 {
		t.Fatalf("a refused Put left the indexes damaged: %v", f.check(t))
	}
	// A rename and a deletion move their entries.
	d := f.ws["ws_d"]
	d.Name, d.Status, d.DeletedAt = "Initech Labs", workspace.Deleted, t0
	if err := f.put(t, d); err != nil {
		t.Fatal(err)
	}
	if lines := f.check(t); len(lines) != 0 {
		t.Fatalf("after a rename and a delete: %v", lines)
	}
	search := func(q storage.WorkspaceQuery) []string {
		var ids []string
		if err := Search(f.s, f, q, "", func(w workspace.Workspace) bool { ids = append(ids, w.ID); return true }); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, c := range []struct {
		q    storage.WorkspaceQuery
		want []string
	}{
		{storage.WorkspaceQuery{NameContains: "analytics"}, []string{"ws_a"}},
		{storage.WorkspaceQuery{NameContains: "acme"}, []string{"ws_a", "ws_b"}},
		{storage.WorkspaceQuery{NameContains: "labs", Status: workspace.Deleted}, []string{"ws_d"}},
		{storage.WorkspaceQuery{NameContains: "labs"}, nil},
		{storage.WorkspaceQuery{NameContains: "a"}, []string{"ws_a", "ws_b"}},
		{storage.WorkspaceQuery{Status: workspace.Deleted}, []string{"ws_d"}},
		{storage.WorkspaceQuery{NameContains: "zzz"}, nil},
	} {
		if got := search(c.q); !slices.Equal(got, c.want) {
			t.Errorf("Search(%+v) = %v, want %v", c.q, got, c.want)
		}
	}
	// Every kind of damage is found.
	for _, damage := range []struct {
		name string
		do   func()
	}{
		{"a slug pointing elsewhere", func() { f.s.owners[Slug]["acme0"] = "ws_b" }},
		{"a missing external ID", func() { delete(f.s.owners[ExternalID], "crm-1") }},
		{"a stray deleted entry", func() { f.s.owners[Deleted]["0000x"] = "ws_a" }},
		{"a wrong status", func() { _ = f.s.Unpost(Status, "active", "ws_a"); _ = f.s.Post(Status, "inactive", "ws_a") }},
		{"a missing gram", func() { _ = f.s.Unpost(Gram, "3acm", "ws_a") }},
		{"a gram count off", func() { f.s.counts["3glo"]++ }},
	} {
		saved := newMapStore()
		copyStore(saved, f.s)
		damage.do()
		if lines := f.check(t); len(lines) == 0 {
			t.Errorf("%s is not found", damage.name)
		}
		f.s = saved
	}
	// Dropping a workspace removes every entry.
	if err := Drop(f.s, f.ws["ws_b"]); err != nil {
		t.Fatal(err)
	}
	delete(f.ws, "ws_b")
	if lines := f.check(t); len(lines) != 0 {
		t.Errorf("after a drop: %v", lines)
	}
}

func copyStore(dst, src *mapStore) {
	for ix, m := range src.owners {
		for k, v := range m {
			dst.owners[ix][k] = v
		}
	}
	for ix, m := range src.posts {
		for k, v := range m {
			dst.posts[ix][k] = slices.Clone(v)
		}
	}
	for k, v := range src.counts {
		dst.counts[k] = v
	}
}

// countingStore counts the writes Put makes.
type countingStore struct {
	*mapStore
	writes map[Index]int
}

func (c countingStore) SetOwner(ix Index, key, id string) error {
	c.writes[ix]++
	return c.mapStore.SetOwner(ix, key, id)
}
func (c countingStore) DeleteOwner(ix Index, key string) error {
	c.writes[ix]++
	return c.mapStore.DeleteOwner(ix, key)
}
func (c countingStore) Post(ix Index, key, id string) error {
	c.writes[ix]++
	return c.mapStore.Post(ix, key, id)
}
func (c countingStore) Unpost(ix Index, key, id string) error {
	c.writes[ix]++
	return c.mapStore.Unpost(ix, key, id)
}

// An update writes only the entries it changes, and leaves the indexes exactly
// as filing the new version from scratch would.
func TestPutWritesOnlyWhatChanges(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := workspace.Workspace{ID: "ws_a", Slug: "acme", Name: "Acme Analytics", Status: workspace.Active, CreatedAt: t0}
	deleted := base
	deleted.Status, deleted.DeletedAt, deleted.DeletedFrom = workspace.Deleted, t0.Add(time.Hour), workspace.Active
	for _, c := range []struct {
		name string
		next func(workspace.Workspace) workspace.Workspace
		want map[Index]int
	}{
		{"nothing", func(w workspace.Workspace) workspace.Workspace { return w }, map[Index]int{}},
		{"description", func(w workspace.Workspace) workspace.Workspace { w.Description = "x"; return w }, map[Index]int{}},
		{"case of the name", func(w workspace.Workspace) workspace.Workspace { w.Name = "ACME analytics"; return w }, map[Index]int{}},
		{"status", func(w workspace.Workspace) workspace.Workspace { w.Status = workspace.Inactive; return w }, map[Index]int{Status: 2}},
		{"delete", func(workspace.Workspace) workspace.Workspace { return deleted }, map[Index]int{Status: 2, Deleted: 1}},
		{"slug", func(w workspace.Workspace) workspace.Workspace { w.Slug = "acme-2"; return w }, map[Index]int{Slug: 2}},
		{"external ID", func(w workspace.Workspace) workspace.Workspace { w.ExternalID = "x-1"; return w }, map[Index]int{ExternalID: 1}},
		// "acme analytics" -> "acme analysts": 3-grams lyt, ytic, tic, ics go and
		// lys, yst, sts come; every 6-gram from "analyt" on changes.
		{"rename", func(w workspace.Workspace) workspace.Workspace { w.Name = "Acme Analysts"; return w }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := countingStore{newMapStore(), map[Index]int{}}
			if err := Put(s, nil, base); err != nil {
				t.Fatal(err)
			}
			clear(s.writes)
			next := c.next(base)
			if err := Put(s, &base, next); err != nil {
				t.Fatal(err)
			}
			want := c.want
			if want == nil { // a rename: the grams the two names do not share, each once
				gone, added := diff(Grams(base), Grams(next))
				want = map[Index]int{Gram: len(gone) + len(added)}
				if len(gone) == 0 || len(added) == 0 || len(gone)+len(added) >= len(Grams(base))+len(Grams(next)) {
					t.Fatalf("the rename case shares no grams or changes none: -%q +%q", gone, added)
				}
			}
			if !maps.Equal(s.writes, want) {
				t.Errorf("writes = %v, want %v", s.writes, want)
			}
			fresh := newMapStore()
			if err := Put(fresh, nil, next); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(s.mapStore, fresh) {
				t.Errorf("indexes after the update differ from filing it afresh:\n got %+v\nwant %+v", s.mapStore, fresh)
			}
		})
	}
}

// pendingStore is a mapStore that keeps new names pending (see Pending) until
// batch of them wait.
type pendingStore struct {
	*mapStore
	pending map[string]string
	batch   int
}

func (p *pendingStore) PendingName(id string) (string, bool, error) {
	lower, ok := p.pending[id]
	return lower, ok, nil
}
func (p *pendingStore) SetPending(id, lower string) error { p.pending[id] = lower; return nil }
func (p *pendingStore) DeletePending(id string) error     { delete(p.pending, id); return nil }
func (p *pendingStore) PendingFull() (bool, error)        { return len(p.pending) >= p.batch, nil }
func (p *pendingStore) NextPending(after string) (string, string, bool, error) {
	for _, id := range slices.Sorted(maps.Keys(p.pending)) {
		if id > after {
			return id, p.pending[id], true, nil
		}
	}
	return "", "", false, nil
}

// With names pending and filed in batches, every search still answers what a scan
// of the workspaces does, from every starting point and stopping early, and Check
// finds nothing, after each of a fixed random sequence of creations, renames
// (pending and filed ones), status changes and purges.
func TestPendingNamesSearchAndCheck(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 8)) // fixed seed: the same sequence every run
	names := []string{"Acme Corp", "acme labs", "Globex", "Initech Acme", "Umbrella", "Ünïcode Äcme", "Acme"}
	needles := []string{"acm", "acme", "acme c", "lab", "obe", "äcme", "zzz", "me"}
	statuses := []workspace.Status{"", workspace.Active, workspace.Inactive, workspace.Deleted}
	for _, batch := range []int{1, 3, 1000} {
		ps := &pendingStore{mapStore: newMapStore(), pending: map[string]string{}, batch: batch}
		f := &fixture{s: ps.mapStore, ws: map[string]workspace.Workspace{}}
		put := func(w workspace.Workspace) {
			t.Helper()
			var old *workspace.Workspace
			if o, ok := f.ws[w.ID]; ok {
				old = &o
			}
			if err := Put(ps, old, w); err != nil {
				t.Fatal(err)
			}
			f.ws[w.ID] = w
		}
		for step := 0; step < 150; step++ {
			id := fmt.Sprintf("ws_%03d", rng.IntN(40))
			w, exists := f.ws[id]
			switch op := rng.IntN(5); {
			case !exists:
				put(workspace.Workspace{ID: id, Slug: "s" + id, Name: names[rng.IntN(len(names))], Status: workspace.Active, CreatedAt: t0})
			case op == 0:
				if err := Drop(ps, w); err != nil {
					t.Fatal(err)
				}
				delete(f.ws, id)
			case op == 1:
				w.Status = statuses[1+rng.IntN(3)]
				if w.Status == workspace.Deleted {
					w.DeletedAt = t0.Add(time.Duration(step) * time.Second)
				}
				put(w)
			default:
				w.Name = names[rng.IntN(len(names))]
				put(w)
			}
			if lines, err := Check(ps, f.each); err != nil || len(lines) > 0 {
				t.Fatalf("batch %d, step %d: Check = %q, %v", batch, step, lines, err)
			}
			for _, needle := range needles {
				for _, st := range statuses {
					q := storage.WorkspaceQuery{NameContains: needle, Status: st}
					var want []string
					_ = f.each(func(w workspace.Workspace) bool {
						if q.Match(w) {
							want = append(want, w.ID)
						}
						return true
					})
					for _, after := range []string{"", "ws_010", "ws_025"} {
						var got []string
						if err := Search(ps, f, q, after, func(w workspace.Workspace) bool { got = append(got, w.ID); return true }); err != nil {
							t.Fatal(err)
						}
						var wantAfter []string
						for _, id := range want {
							if id > after {
								wantAfter = append(wantAfter, id)
							}
						}
						if !slices.Equal(got, wantAfter) {
							t.Fatalf("batch %d, step %d: search %+v after %q = %q, want %q (pending %v)", batch, step, q, after, got, wantAfter, ps.pending)
						}
					}
					// Stopping after the first match stops.
					var first []string
					_ = Search(ps, f, q, "", func(w workspace.Workspace) bool { first = append(first, w.ID); return false })
					if len(want) > 0 && !slices.Equal(first, want[:1]) || len(want) == 0 && len(first) > 0 {
						t.Fatalf("batch %d, step %d: search %+v stopped at %q, want the first of %q", batch, step, q, first, want)
					}
				}
			}
		}
	}
}
