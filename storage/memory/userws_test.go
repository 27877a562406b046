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

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// Each user's workspaces are a posting list that creations append to in place and
// removals count dead (see userws.go). This drives memberships through creation,
// replacement, removal, re-creation, purges of their workspaces and rolled-back
// writes, keeps every snapshot, and checks that each one still lists every user's
// memberships exactly as its membership records say, whole and in pages.
//
// It runs with the workspaces created in ID order, and in descending order, where
// the lists' workspace numbers no longer compare as their IDs (see wsnums.go).
func TestUserMembershipsKeepEverySnapshot(t *testing.T) {
	for _, ordered := range []bool{true, false} {
		t.Run(fmt.Sprintf("ordered=%v", ordered), func(t *testing.T) { testUserMemberships(t, ordered) })
	}
}

func testUserMemberships(t *testing.T, ordered bool) {
	ctx := context.Background()
	s := New()
	rng := rand.New(rand.NewPCG(9, 10)) // fixed seed: the same steps every run
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	users := []string{"u1", "u2", "u3", "u4"}
	wsID := func(i int) string { return fmt.Sprintf("ws_%03d", i) }
	if !ordered {
		wsID = func(i int) string { return fmt.Sprintf("ws_%03d", 999-i) }
	}
	var snaps []*snapshot
	check := func(step int) {
		t.Helper()
		snaps = append(snaps, s.root.Load())
		for n, snap := range snaps {
			if n < len(snaps)-3 && step%50 != 49 {
				continue
			}
			for _, u := range users {
				var want []string
				snap.members.Ascend(func(p pair[memberRec]) bool {
					if p.b == u {
						want = append(want, p.a)
					}
					return true
				})
				var got []string
				if err := snap.ScanUserMemberships(u, "", func(m member.Member) bool { got = append(got, m.WorkspaceID); return true }); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("step %d, snapshot %d: %s is in %q, want %q", step, n, u, got, want)
				}
				if len(want) > 1 {
					var rest []string
					_ = snap.ScanUserMemberships(u, want[0], func(m member.Member) bool { rest = append(rest, m.WorkspaceID); return len(rest) < 2 })
					if !slices.Equal(rest, want[1:min(3, len(want))]) {
						t.Fatalf("step %d, snapshot %d: %s after %q: %q", step, n, u, want[0], rest)
					}
				}
			}
		}
		if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("step %d: Check = %q, %v", step, problems, err)
		}
	}
	next := 0
	live := map[int]bool{}
	boom := errors.New("roll back")
	for step := 0; step < 400; step++ {
		rollback := rng.IntN(6) == 0
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			for k := 0; k < 1+rng.IntN(4); k++ {
				switch op := rng.IntN(10); {
				case op < 3 || len(live) == 0: // a new workspace, its owner a member
					i := next
					next++
					if err := tx.CreateWorkspace(workspace.Workspace{ID: wsID(i), Slug: fmt.Sprintf("s%03d", i), Name: "W",
						Status: workspace.Active, CreatedAt: t0, UpdatedAt: t0}); err != nil {
						return err
					}
					live[i] = true
					if err := tx.CreateMember(member.Member{WorkspaceID: wsID(i), UserID: users[rng.IntN(len(users))], Role: rbac.Admin, JoinedAt: t0}); err != nil {
						return err
					}
				case op < 4: // purge a workspace and all its memberships
					for i := range live {
						delete(live, i)
						if _, err := tx.PurgeWorkspace(wsID(i)); err != nil {
							return err
						}
						break
					}
				default: // add, change or remove a membership of an existing workspace
					var i int
					for i = range live {
						break
					}
					u := users[rng.IntN(len(users))]
					m := member.Member{WorkspaceID: wsID(i), UserID: u, Role: rbac.Editor, JoinedAt: t0}
					_, err := tx.GetMember(wsID(i), u)
					switch {
					case errors.Is(err, storage.ErrNotFound):
						err = tx.CreateMember(m)
					case err == nil && op < 7:
						m.Role = rbac.Viewer
						err = tx.ReplaceMember(m)
					case err == nil:
						err = tx.DeleteMember(wsID(i), u)
					}
					if err != nil {
						return err
					}
				}
			}
			if rollback {
				return boom
			}
			return nil
		})
		if rollback != errors.Is(err, boom) || err != nil && !rollback {
			t.Fatalf("step %d: %v", step, err)
		}
		if rollback { // the workspaces it made or purged are as they were
			live = map[int]bool{}
			s.root.Load().ws.Ascend(func(it item[workspace.Workspace]) bool {
				var i int
				fmt.Sscanf(strings.TrimPrefix(it.key, "ws_"), "%d", &i)
				if !ordered {
					i = 999 - i
				}
				live[i] = true
				return true
			})
		}
		check(step)
	}
	snap := s.root.Load()
	if snap.numsOrdered != ordered {
		t.Errorf("numsOrdered = %v, want %v", snap.numsOrdered, ordered)
	}
	// Check sees a wrong dead count.
	for _, u := range users {
		if p, ok := snap.userWs.get(u); ok {
			p.dead++
			w := snap.userWs.forWrite(snap.stamp+1, new([]undoer))
			w.set(u, p)
			snap.userWs = w
			break
		}
	}
	if problems, _ := s.Check(ctx); len(problems) == 0 {
		t.Fatal("Check finds nothing wrong with a damaged dead count")
	}
}
