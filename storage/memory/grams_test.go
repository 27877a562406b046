package memory

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// The gram lists share backing arrays between snapshots and count removed entries
// dead instead of copying (see postings). This drives a store through appends,
// out-of-order inserts, renames away and back, purges and re-creations, compactions
// and rolled-back writes, keeps every snapshot it published, and after each step
// checks that every one of them still answers every needle exactly as a scan of
// its own workspaces does, and that the newest passes Check.
//
// The lists hold workspace numbers that compare as their IDs while every ID came
// in ascending order (see wsnums.go), so it runs twice: with the IDs created in
// order, where a rolled-back creation out of order must not end that, and with
// some out of order, where the lists must compare by ID from then on.
func TestGramPostingsKeepEverySnapshot(t *testing.T) {
	for _, ordered := range []bool{true, false} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) { testGramPostings(t, ordered) })
	}
}

func testGramPostings(t *testing.T, ordered bool) {
	ctx := context.Background()
	s := New()
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: the same sequence every run
	names := []string{"Acme Corp", "acme labs", "Corpus", "LABS of ACME", "Zeta", "Ünïcode Äcme", "workspace"}
	needles := []string{"acm", "acme", "corp", "labs", "cme co", "äcm", "ork", "zzz", "ace"}
	ids := func(i int) string { return fmt.Sprintf("ws_%03d", i) }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	var snaps []*snapshot
	check := func(step string) {
		t.Helper()
		snaps = append(snaps, s.root.Load())
		for n, snap := range snaps {
			for _, needle := range needles {
				q := storage.WorkspaceQuery{NameContains: needle, Status: workspace.Active}
				var got, want []string
				if err := snap.SearchWorkspaces(q, "", func(w workspace.Workspace) bool { got = append(got, w.ID); return true }); err != nil {
					t.Fatalf("%s: snapshot %d: search %q: %v", step, n, needle, err)
				}
				snap.ws.Ascend(func(it item[workspace.Workspace]) bool {
					if q.Match(*it.val) {
						want = append(want, it.key)
					}
					return true
				})
				if !slices.Equal(got, want) {
					t.Fatalf("%s: snapshot %d: search %q = %q, want %q", step, n, needle, got, want)
				}
			}
		}
		if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("%s: Check = %q, %v", step, problems, err)
		}
	}
	put := func(tx storage.ReadWriter, i int, name string) error {
		id := ids(i)
		w, err := tx.GetWorkspace(id)
		if errors.Is(err, storage.ErrNotFound) {
			return tx.CreateWorkspace(workspace.Workspace{ID: id, Slug: fmt.Sprintf("s%03d", i), Name: name,
				Status: workspace.Active, CreatedAt: t0, UpdatedAt: t0})
		}
		if err != nil {
			return err
		}
		w.Name = name
		return tx.ReplaceWorkspace(w)
	}

	// Appends, in ID order and out of it.
	creations := []int{10, 20, 30, 40, 50, 60, 5, 35, 61, 62, 63}
	if ordered {
		creations = []int{5, 10, 20, 30, 35, 40, 50, 60, 61, 62, 63}
	}
	for _, i := range creations {
		if err := s.Update(ctx, func(tx storage.ReadWriter) error { return put(tx, i, names[i%len(names)]) }); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("create %d", i))
	}
	// A rolled-back write appends into the spare capacity, then a committed one
	// writes the same slot. The second rolled-back creation is out of ID order,
	// which leaves the numbers in order.
	boom := errors.New("roll back")
	for _, i := range []int{70, 1} {
		if err := s.Update(ctx, func(tx storage.ReadWriter) error {
			if err := put(tx, i, "Acme rolled back"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("rolled-back update = %v", err)
		}
		check(fmt.Sprintf("rollback %d", i))
	}
	if err := s.Update(ctx, func(tx storage.ReadWriter) error { return put(tx, 71, "Acme committed") }); err != nil {
		t.Fatal(err)
	}
	check("append after rollback")
	// Random renames (away from a gram and back to it), purges and re-creations,
	// several per transaction, so lists fill with dead entries and compact.
	live := []int{5, 10, 20, 30, 35, 40, 50, 60, 61, 62, 63, 71}
	for step := 0; step < 120; step++ {
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			for k := 0; k < 1+rng.IntN(3); k++ {
				i := live[rng.IntN(len(live))]
				switch rng.IntN(4) {
				case 0:
					if _, err := tx.PurgeWorkspace(ids(i)); err != nil && !errors.Is(err, storage.ErrNotFound) {
						return err
					}
				default:
					if err := put(tx, i, names[rng.IntN(len(names))]); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("step %d", step))
	}
	// Every list ends compact enough: no more than half of it dead.
	snap := s.root.Load()
	if snap.numsOrdered != ordered {
		t.Errorf("numsOrdered = %v, want %v", snap.numsOrdered, ordered)
	}
	snap.grams.each(func(g gramKey, p postings) bool {
		if n := len(p.view(snap.stamp)); int(p.dead)*2 > n || n-int(p.dead) <= 0 {
			t.Errorf("gram %q: %d entries, %d dead", g, n, p.dead)
		}
		return true
	})
}

func TestContainsLower(t *testing.T) {
	for _, c := range []struct {
		s, sub string
		want   bool
	}{
		{"Acme Corp", "acm", true}, {"Acme Corp", "e c", true}, {"Acme Corp", "corp", true},
		{"Acme Corp", "corps", false}, {"ab", "abc", false}, {"ÄCME", "äcm", true}, {"ÄCME", "acm", false},
		{"", "a", false}, {"x", "", true},
	} {
		if got := containsLower(c.s, c.sub); got != c.want || got != strings.Contains(strings.ToLower(c.s), c.sub) {
			t.Errorf("containsLower(%q, %q) = %v, want %v", c.s, c.sub, got, c.want)
		}
	}
}

// Readers search their snapshots while a writer appends to the same lists'
// spare capacity, renames and purges: under the race detector this shows that
// no reader ever reads a slot a writer writes. Each reader checks that its
// snapshot's answer is what a scan of the snapshot's own workspaces gives.
func TestGramPostingsReadersBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	s := New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 300
	rng := rand.New(rand.NewPCG(3, 4)) // fixed seed: the same writes every run
	done := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				err := s.View(ctx, func(tx storage.Reader) error {
					snap := tx.(*snapshot)
					q := storage.WorkspaceQuery{NameContains: "acme 1"}
					var got, want []string
					if err := snap.SearchWorkspaces(q, "", func(w workspace.Workspace) bool { got = append(got, w.ID); return true }); err != nil {
						return err
					}
					snap.ws.Ascend(func(it item[workspace.Workspace]) bool {
						if q.Match(*it.val) {
							want = append(want, it.key)
						}
						return true
					})
					if !slices.Equal(got, want) {
						return fmt.Errorf("search = %q, want %q", got, want)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			id := fmt.Sprintf("ws_%04d", i)
			if err := tx.CreateWorkspace(workspace.Workspace{ID: id, Slug: "s" + id, Name: fmt.Sprintf("Acme %d", i),
				Status: workspace.Active, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			// Rename an earlier one away from "Acme …" or back, or purge it: the
			// lists fill with dead entries and compact while readers hold them.
			old := fmt.Sprintf("ws_%04d", rng.IntN(i+1))
			w, err := tx.GetWorkspace(old)
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			if i%5 == 0 {
				_, err = tx.PurgeWorkspace(old)
				return err
			}
			if rest, ok := strings.CutPrefix(w.Name, "Acme "); ok {
				w.Name = "Other " + rest
			} else {
				w.Name = "Acme " + strings.TrimPrefix(w.Name, "Other ")
			}
			return tx.ReplaceWorkspace(w)
		})
		if err != nil {
			t.Fatal(err)
		}
		// A rolled-back creation appends to the shared lists and takes its entries
		// back while the readers hold them; the next creation writes the same slots.
		if i%7 == 0 {
			boom := errors.New("roll back")
			err := s.Update(ctx, func(tx storage.ReadWriter) error {
				id := fmt.Sprintf("ws_%04d_x", i)
				if err := tx.CreateWorkspace(workspace.Workspace{ID: id, Slug: "s" + id, Name: fmt.Sprintf("Acme 1%d", i),
					Status: workspace.Active, CreatedAt: t0, UpdatedAt: t0}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("rolled-back update = %v", err)
			}
		}
	}
	close(done)
	for r := 0; r < 3; r++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A packed gram must give back the gram it was packed from, and two grams one
// key: the lists of different grams must never merge.
func TestGramKeyRoundTrip(t *testing.T) {
	grams := []string{"3acm", "3ac", "6acme c", "6\x00\x00\x00\x00\x00\x00", "6\xff\xff\xff\xff\xff\xff", "3\x00ab", "3ab\x00", "", "6ä c"}
	seen := map[gramKey]string{}
	for _, g := range grams {
		k := packGram(g)
		if got := k.String(); got != g {
			t.Errorf("packGram(%q).String() = %q", g, got)
		}
		if other, dup := seen[k]; dup {
			t.Errorf("%q and %q pack to one key", g, other)
		}
		seen[k] = g
	}
}

// A list of one entry lives in the gram's handle, with no log (see postings): the
// second entry builds a log, and removals that leave one live entry move it back.
func TestPostingsOfOneLiveInTheHandle(t *testing.T) {
	ctx := context.Background()
	s := New()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(id, name string) {
		t.Helper()
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			return tx.CreateWorkspace(workspace.Workspace{ID: id, Slug: "s" + id, Name: name, Status: workspace.Active, CreatedAt: t0, UpdatedAt: t0})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	purge := func(id string) {
		t.Helper()
		if err := s.Update(ctx, func(tx storage.ReadWriter) error { _, err := tx.PurgeWorkspace(id); return err }); err != nil {
			t.Fatal(err)
		}
	}
	// handle returns the "zet" gram's handle and the IDs its list holds live.
	handle := func() (postings, []string) {
		snap := s.root.Load()
		p, _ := snap.grams.get(packGram("3zet"))
		var ids []string
		_ = snap.walkGram("3zet", "", func(id string) (bool, error) { ids = append(ids, id); return true, nil })
		return p, ids
	}
	want := func(step string, inHandle bool, ids ...string) {
		t.Helper()
		p, got := handle()
		if !slices.Equal(got, ids) || (p.one != 0) != inHandle || inHandle && p.list != nil {
			t.Fatalf("%s: list %q, one %d, log %v; want %q, in the handle %v", step, got, p.one, p.list != nil, ids, inHandle)
		}
		if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("%s: Check = %q, %v", step, problems, err)
		}
	}
	put("ws_1", "Zeta")
	want("one", true, "ws_1")
	put("ws_2", "zeta two")
	want("two", false, "ws_1", "ws_2")
	put("ws_3", "ZETA three")
	want("three", false, "ws_1", "ws_2", "ws_3")
	purge("ws_1") // one dead of three: the log stays
	want("one dead", false, "ws_2", "ws_3")
	purge("ws_3") // two dead of three: rebuilt from the one live entry
	want("rebuilt", true, "ws_2")
	purge("ws_2")
	if p, _ := handle(); !p.empty() {
		t.Fatalf("after the last purge: %+v", p)
	}
}
