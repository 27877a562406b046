package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// The Tx suite, search: a backend's workspace index (storage.WorkspaceSearcher,
// optional) must agree with a scan filtered by WorkspaceQuery.Match, for every
// needle, status and cursor, and follow renames, status changes and purges.

var searchNames = []string{"Acme Analytics", "ACME staging", "user-12345", "user-123", "Ünïcode Straße", "straße 2",
	"ab", "a", "Zeta", "acme-analytics-eu", "Analytics", "Ω omega", "user-12345-old", "x y z", "50% off", "snake_case", `back\slash`}

var searchNeedles = []string{"", "a", "ac", "acm", "acme", "analytics", "user-12345", "user-1234", "123", "straße", "ße",
	"ünï", "zeta", "nothing here", "-", " ", "ω o", "x y", "y z", "e a", "%", "0% o", "_", "e_c", `\`, `k\s`, "%%%"}

func testSearchAgreesWithScan(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		users(tx, "u1")
		for i, name := range searchNames {
			w := ws(fmt.Sprintf("ws_%02d", i), fmt.Sprintf("s%02d", i))
			w.Name = name
			switch i % 4 {
			case 1:
				w.Status = workspace.Inactive
			case 2:
				w.Status, w.DeletedAt = workspace.Deleted, t0
			}
			must(tx.CreateWorkspace(w))
		}
		return nil
	})
	check := func(when string) {
		t.Helper()
		view(t, s, func(tx storage.Reader) error {
			searcher, ok := tx.(storage.WorkspaceSearcher)
			if !ok {
				t.Fatal("the backend declared Search but its Reader is no storage.WorkspaceSearcher")
			}
			for _, needle := range searchNeedles {
				for _, st := range []workspace.Status{"", workspace.Active, workspace.Inactive, workspace.Deleted} {
					q := storage.WorkspaceQuery{NameContains: needle, Status: st}
					want := scanMatching(tx, q)
					// Page two at a time from the cursor, as a list would.
					var got []string
					after := ""
					for range 100 {
						var page []string
						must(searcher.SearchWorkspaces(q, after, func(w workspace.Workspace) bool {
							page = append(page, w.ID)
							return len(page) < 2
						}))
						got = append(got, page...)
						if len(page) < 2 {
							break
						}
						after = page[len(page)-1]
					}
					if !slices.Equal(got, want) {
						t.Errorf("%s: search %q status %q: got %v, want %v", when, needle, st, got, want)
					}
				}
			}
			return nil
		})
	}
	check("after creation")
	update(t, s, func(tx storage.ReadWriter) error {
		w, err := tx.GetWorkspace("ws_00")
		must(err)
		w.Name, w.Status, w.DeletedAt = "renamed beta", workspace.Inactive, time.Time{}
		must(tx.ReplaceWorkspace(w))
		w, err = tx.GetWorkspace("ws_02")
		must(err)
		w.Status, w.DeletedAt = workspace.Active, time.Time{}
		must(tx.ReplaceWorkspace(w))
		_, err = tx.PurgeWorkspace("ws_03")
		return err
	})
	check("after a rename, a restore and a purge")
}

// A store large enough that a backend's search changes strategy on the way (on
// PostgreSQL: probes in id order while matches are dense, then the trigram index):
// needles dense at first and sparse later, rare ones, words common and rare, read
// whole and in pages of 20 from cursors, must all give what a filtered scan gives.
func testSearchLargeStore(t *testing.T, s storage.Storage) {
	const n = 3000
	update(t, s, func(tx storage.ReadWriter) error { users(tx, "u1"); return nil })
	// In transactions of 250: bbolt splits its nodes only at commit, so one
	// transaction of 3,000 workspaces (75,000 gram keys) spends seconds shifting
	// keys inside a few huge nodes, which is not what this test is about.
	for from := 0; from < n; from += 250 {
		update(t, s, func(tx storage.ReadWriter) error {
			for i := from; i < min(from+250, n); i++ {
				w := ws(fmt.Sprintf("ws_%05d", i), fmt.Sprintf("s%05d", i))
				w.Name = fmt.Sprintf("Workspace %05d", i)
				if i >= n/2 && i%50 != 0 {
					w.Name = fmt.Sprintf("Tenant %05d", i) // "workspace" is dense, then sparse
				}
				if i%3 == 1 {
					w.Status = workspace.Inactive
				}
				must(tx.CreateWorkspace(w))
			}
			return nil
		})
	}
	needles := []string{"workspace", "workspace 0", "tenant", "workspace 01234", "tenant 02345", "00", "99",
		"space 02", "workspace 02950", "workspace 29", "nothing 123", "ant 0"}
	view(t, s, func(tx storage.Reader) error {
		searcher, ok := tx.(storage.WorkspaceSearcher)
		if !ok {
			t.Fatal("the backend declared Search but its Reader is no storage.WorkspaceSearcher")
		}
		for _, needle := range needles {
			for _, st := range []workspace.Status{"", workspace.Inactive} {
				q := storage.WorkspaceQuery{NameContains: needle, Status: st}
				want := scanMatching(tx, q)
				for _, pageSize := range []int{n + 1, 20} {
					var got []string
					after := ""
					for range n {
						var page []string
						must(searcher.SearchWorkspaces(q, after, func(w workspace.Workspace) bool {
							page = append(page, w.ID)
							return len(page) < pageSize
						}))
						got = append(got, page...)
						if len(page) < pageSize {
							break
						}
						after = page[len(page)-1]
					}
					if !slices.Equal(got, want) {
						t.Errorf("search %q status %q in pages of %d: got %d results, want %d (first difference near %v)",
							needle, st, pageSize, len(got), len(want), firstDifference(got, want))
					}
				}
			}
		}
		return nil
	})
}

func firstDifference(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " / " + b[i]
		}
	}
	return "the end of the shorter"
}

// scanMatching is what a search for q must return: the IDs of a full scan's
// workspaces that match q, in order.
func scanMatching(tx storage.Reader, q storage.WorkspaceQuery) []string {
	var ids []string
	must(tx.ScanWorkspaces("", func(w workspace.Workspace) bool {
		if q.Match(w) {
			ids = append(ids, w.ID)
		}
		return true
	}))
	return ids
}
