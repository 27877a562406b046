package memory

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// Check reads the posting lists by the IDs their numbers stand for, so it checks
// the numbering first: each kind of damage is reported, none panics, and the
// checks that do not read the lists still run (a token's hash index entry is
// dropped beside each damage, and must be reported too).
func TestCheckSeesBrokenWorkspaceNumbers(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	build := func(ids ...string) *Store {
		s := New()
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			for i, id := range ids {
				w := workspace.Workspace{ID: id, Slug: "s" + id, Name: "Acme " + id, Status: workspace.Active, CreatedAt: t0, UpdatedAt: t0}
				if err := tx.CreateWorkspace(w); err != nil {
					return err
				}
				if err := tx.CreateMember(member.Member{WorkspaceID: id, UserID: "u", Role: rbac.Admin, Owner: i == 0, JoinedAt: t0}); err != nil {
					return err
				}
			}
			return tx.CreateToken(token.Token{ID: "tok_1", Kind: token.Personal, Name: "t", UserID: "u", Hash: []byte("h1"), CreatedAt: t0})
		})
		if err != nil {
			t.Fatal(err)
		}
		if problems, err := s.Check(ctx); err != nil || len(problems) > 0 {
			t.Fatalf("before the damage: Check = %q, %v", problems, err)
		}
		return s
	}
	// writable gives the store's snapshot a writable copy of its number index.
	writable := func(s *Store) *snapshot {
		snap := s.root.Load()
		snap.wsNum = snap.wsNum.forWrite(snap.stamp+1, new([]undoer))
		return snap
	}
	for _, c := range []struct {
		name   string
		ids    []string
		damage func(s *Store)
		want   string
	}{
		{"out of order, said in order", []string{"ws_b", "ws_a"}, func(s *Store) { s.root.Load().numsOrdered = true }, "said to be in ID order"},
		{"a number points elsewhere", []string{"ws_a", "ws_b"}, func(s *Store) { writable(s).wsNum.set("ws_a", 1) }, `"ws_a" is number 0`},
		{"a number too many", []string{"ws_a", "ws_b"}, func(s *Store) { writable(s).wsNum.set("ws_z", 0) }, "3 IDs have a number, 2 numbers were drawn"},
		{"a list entry past the end", []string{"ws_a", "ws_b"}, func(s *Store) {
			snap := s.root.Load()
			p, _ := snap.userWs.get("u")
			p.list, p.one = newAppendLog([]uint32{0, 1, 7}, 0), 0
			w := snap.userWs.forWrite(snap.stamp+1, new([]undoer))
			w.set("u", p)
			snap.userWs = w
		}, "past the 2 drawn"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := build(c.ids...)
			c.damage(s)
			snap := s.root.Load()
			snap.tokByID = snap.tokByID.forWrite(snap.stamp+1, new([]undoer))
			snap.tokByID.del("tok_1")
			problems, err := s.Check(ctx)
			all := strings.Join(problems, "\n")
			if err != nil || !strings.Contains(all, c.want) {
				t.Fatalf("Check = %q, %v; want a line with %q", problems, err, c.want)
			}
			if !strings.Contains(all, `token "tok_1": hash indexes disagree`) {
				t.Errorf("Check = %q; the dropped token index entry is not reported beside the numbering", problems)
			}
		})
	}
}
