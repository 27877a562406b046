package tenancy_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/workspace"
)

// seededReader is deterministic randomness for IDs, so every backend mints the same.
type seededReader struct{ r *rand.ChaCha8 }

func (s seededReader) Read(p []byte) (int, error) { return s.r.Read(p) }

// side is one backend under the differential test, with the secrets it handed out.
type side struct {
	m       *tenancy.Manager
	secrets map[string]string // invitation or token ID -> its secret on this backend
}

// TestDifferentialBackends runs the same seeded random operation sequences on memory
// and on bolt: every result, error and listing must be equal, and Verify clean after
// every step. A failure prints the seed and step to replay.
func TestDifferentialBackends(t *testing.T) {
	// 100 sequences of 40 steps (it was 200): the package must stay within its time
	// on a loaded 2-core machine; the seeds are fixed, so any failure replays.
	sequences, steps := 100, 40
	if testing.Short() {
		sequences = 20
	}
	succeeded, total := 0, 0
	for seq := 0; seq < sequences; seq++ {
		ok, n := runSequence(t, uint64(seq), steps)
		succeeded, total = succeeded+ok, total+n
		if t.Failed() {
			return
		}
	}
	// Random operations often fail (wrong actor, missing target): that is compared
	// too, but enough of them must succeed for the state to grow.
	t.Logf("%d of %d operations succeeded on every backend", succeeded, total)
	if succeeded*5 < total {
		t.Errorf("only %d of %d operations succeeded: the sequences explore too little", succeeded, total)
	}
}

// Names and needles for the searches: case, Unicode, digits, LIKE's specials.
var searchNames = []string{"Acme", "ACME Analytics", "user-12345", "user-123456", "Straße", "50% off", "snake_case", "W 1"}
var searchNeedles = []string{"", "a", "ac", "acme", "analytics", "user-12345", "123", "straße", "%", "_", "w 1", "zzz"}

var hiddenFields = regexp.MustCompile(`"(Secret|Hash|SecretHash|Hint|hint)":("[^"]*"|\[[^\]]*\]|null)`)

// normalize renders a result for comparison, without what legitimately differs
// between backends: secrets and their hashes and hints.
func normalize(v any, err error) string {
	b, _ := json.Marshal(v)
	s := hiddenFields.ReplaceAllString(string(b), `"$1":"-"`)
	if err != nil {
		s += fmt.Sprintf(" error[%v]: %s", tenancy.KindOf(err), err)
	}
	return s
}

func runSequence(t *testing.T, seed uint64, steps int) (succeeded, total int) {
	clock := newClock()
	sides := make([]*side, 2)
	if seed < 25 && pgtest.Available() {
		sides = append(sides, nil) // PostgreSQL too, on the first sequences (each costs a schema)
	}
	for i := range sides {
		var store storage.Storage = memory.New()
		switch i {
		case 1:
			s, err := bolt.Open(filepath.Join(t.TempDir(), fmt.Sprintf("diff%d.db", seed)), bolt.Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			store = s
		case 2:
			store = openPostgres(t)
		}
		m, err := tenancy.New(store, tenancy.Options{Clock: clock.Now, SecretKey: testKey, StarterKits: []string{"kit"},
			Entropy: seededReader{rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})}})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		defer m.Close()
		sides[i] = &side{m: m, secrets: map[string]string{}}
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	users := []string{"u0", "u1", "u2", "u3", "u4"}
	roles := []rbac.Role{rbac.Viewer, rbac.Editor, rbac.Admin, rbac.Platform}
	var wsIDs, invIDs, tokIDs []string
	invitee := map[string]string{} // invitation ID -> the user it was sent to
	pick := func(list []string) string {
		if len(list) == 0 {
			return "none"
		}
		return list[rng.IntN(len(list))]
	}
	actor := func() tenancy.Principal {
		switch rng.IntN(8) {
		case 0:
			return tenancy.System()
		case 1, 2:
			return tenancy.User("u0") // a platform user
		}
		return tenancy.User(pick(users))
	}
	// The same prelude on both sides: every user registered, u0 a platform user.
	for _, s := range sides {
		for _, u := range users {
			if _, err := s.m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: u, Email: u + "@example.com"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.m.SetPlatform(ctx, tenancy.System(), "u0", true); err != nil {
			t.Fatal(err)
		}
	}
	// Every operation runs on both sides; it returns something comparable.
	type op func(s *side) (any, error)
	ops := []func() (string, op){
		func() (string, op) {
			u := pick(users)
			return "register " + u, func(s *side) (any, error) {
				return s.m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: u, Email: u + "@example.com"})
			}
		},
		func() (string, op) {
			p, name := actor(), fmt.Sprintf("W %d", rng.IntN(5))
			return "create " + name, func(s *side) (any, error) {
				return s.m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: name, OwnerID: map[bool]string{true: "u0"}[p.IsSystem()]})
			}
		},
		func() (string, op) {
			p, w := actor(), pick(wsIDs)
			return "deactivate " + w, func(s *side) (any, error) { return s.m.DeactivateWorkspace(ctx, p, w) }
		},
		func() (string, op) {
			p, w := actor(), pick(wsIDs)
			return "reactivate " + w, func(s *side) (any, error) { return s.m.ReactivateWorkspace(ctx, p, w) }
		},
		func() (string, op) {
			p, w := actor(), pick(wsIDs)
			return "delete " + w, func(s *side) (any, error) { return s.m.DeleteWorkspace(ctx, p, w) }
		},
		func() (string, op) {
			p, w := actor(), pick(wsIDs)
			return "restore " + w, func(s *side) (any, error) { return s.m.RestoreWorkspace(ctx, p, w) }
		},
		func() (string, op) {
			w := pick(wsIDs)
			return "purge " + w, func(s *side) (any, error) { return nil, s.m.PurgeWorkspace(ctx, tenancy.System(), w) }
		},
		func() (string, op) {
			p, w, u, r := actor(), pick(wsIDs), pick(users), roles[rng.IntN(len(roles))]
			return "add " + u, func(s *side) (any, error) {
				return s.m.AddMember(ctx, p, w, tenancy.NewMember{UserID: u, Role: r})
			}
		},
		func() (string, op) {
			p, w, u, r := actor(), pick(wsIDs), pick(users), roles[rng.IntN(len(roles))]
			return "change role " + u, func(s *side) (any, error) { return s.m.ChangeRole(ctx, p, w, u, r) }
		},
		func() (string, op) {
			p, w, u := actor(), pick(wsIDs), pick(users)
			return "remove " + u, func(s *side) (any, error) { return nil, s.m.RemoveMember(ctx, p, w, u) }
		},
		func() (string, op) {
			u, w := pick(users), pick(wsIDs)
			return "leave " + u, func(s *side) (any, error) { return nil, s.m.LeaveWorkspace(ctx, tenancy.User(u), w) }
		},
		func() (string, op) {
			p, w, u := actor(), pick(wsIDs), pick(users)
			return "transfer to " + u, func(s *side) (any, error) { return s.m.TransferOwnership(ctx, p, w, u) }
		},
		func() (string, op) {
			p, w, u, r := actor(), pick(wsIDs), pick(users), roles[rng.IntN(len(roles))]
			return "invite " + u, func(s *side) (any, error) {
				sent, err := s.m.InviteMember(ctx, p, w, tenancy.NewInvitation{Email: u + "@example.com", Role: r})
				if err == nil {
					s.secrets[sent.Invitation.ID] = sent.Secret
					invitee[sent.Invitation.ID] = u
				}
				return sent, err
			}
		},
		func() (string, op) {
			id := pick(invIDs)
			u := invitee[id] // mostly the invitee; sometimes someone else
			if u == "" || rng.IntN(4) == 0 {
				u = pick(users)
			}
			return "accept " + id, func(s *side) (any, error) {
				return s.m.AcceptInvitation(ctx, tenancy.User(u), s.secrets[id])
			}
		},
		func() (string, op) {
			p, id := actor(), pick(invIDs)
			return "revoke invitation " + id, func(s *side) (any, error) { return s.m.RevokeInvitation(ctx, p, id) }
		},
		func() (string, op) {
			u, w, r := pick(users), pick(wsIDs), roles[rng.IntN(3)]
			if rng.IntN(3) == 0 {
				w = ""
			}
			return "token " + u, func(s *side) (any, error) {
				c, err := s.m.CreateToken(ctx, tenancy.User(u), tenancy.NewToken{Name: "t", WorkspaceID: w, Role: r, Lifetime: time.Hour})
				if err == nil {
					s.secrets[c.Token.ID] = c.Secret
				}
				return c, err
			}
		},
		func() (string, op) {
			id, w, a := pick(tokIDs), pick(wsIDs), rbac.Action([]string{"content:write", "workspace:read", "member:manage"}[rng.IntN(3)])
			return "use token " + id, func(s *side) (any, error) {
				p, err := s.m.Authenticate(ctx, s.secrets[id])
				if err != nil {
					return nil, err
				}
				return p.String(), s.m.Authorize(ctx, p, w, a)
			}
		},
		func() (string, op) {
			p, id := actor(), pick(tokIDs)
			return "revoke token " + id, func(s *side) (any, error) { return nil, s.m.RevokeToken(ctx, p, id) }
		},
		func() (string, op) {
			p, w := actor(), pick(wsIDs)
			a := rbac.Action([]string{"content:write", "workspace:read", "workspace:delete", "member:invite"}[rng.IntN(4)])
			return "authorize " + w, func(s *side) (any, error) { return nil, s.m.Authorize(ctx, p, w, a) }
		},
		func() (string, op) {
			return "tick", func(s *side) (any, error) { return nil, nil }
		},
		func() (string, op) {
			p, w, name := actor(), pick(wsIDs), searchNames[rng.IntN(len(searchNames))]
			return "rename " + w, func(s *side) (any, error) {
				return s.m.UpdateWorkspace(ctx, p, w, tenancy.WorkspaceUpdate{Name: &name})
			}
		},
		func() (string, op) {
			p, needle := actor(), searchNeedles[rng.IntN(len(searchNeedles))]
			st := []workspace.Status{"", workspace.Active, workspace.Inactive, workspace.Deleted}[rng.IntN(4)]
			return "search " + needle, func(s *side) (any, error) {
				return s.m.ListWorkspaces(ctx, p, workspace.ListOptions{NameContains: needle, Status: st, Limit: 2})
			}
		},
		func() (string, op) {
			p, u, on := actor(), pick(users[1:]), rng.IntN(2) == 0
			return fmt.Sprintf("suspend %s %v", u, on), func(s *side) (any, error) {
				if on {
					return s.m.SuspendUser(ctx, p, u)
				}
				return s.m.ReactivateUser(ctx, p, u)
			}
		},
		func() (string, op) {
			p, u, e := actor(), pick(users), pick(users)+"@example.org"
			return "change email of " + u, func(s *side) (any, error) {
				return s.m.UpdateUser(ctx, p, u, tenancy.UserUpdate{Email: &e})
			}
		},
		func() (string, op) {
			p, u := actor(), pick(users[1:])
			return "erase " + u, func(s *side) (any, error) { return s.m.DeleteUser(ctx, p, u) }
		},
	}
	// Creation is drawn more often than the rest, so there is state to act on.
	weights := map[int]int{1: 4, 7: 2, 12: 3, 13: 3, 15: 3, 16: 2}
	var drawn []int
	for i := range ops {
		for w := 0; w < max(1, weights[i]); w++ {
			drawn = append(drawn, i)
		}
	}
	for step := 0; step < steps; step++ {
		name, run := ops[drawn[rng.IntN(len(drawn))]]()
		if name == "tick" {
			clock.Advance(time.Duration(rng.IntN(3600)) * time.Second)
		}
		got := make([]string, len(sides))
		results := make([]any, len(sides))
		for i, s := range sides {
			res, err := run(s)
			results[i] = res
			got[i] = normalize(res, err)
			if i == 0 && err == nil {
				succeeded++
			}
		}
		total++
		for i := 1; i < len(got); i++ {
			if got[0] != got[i] {
				t.Fatalf("seed %d step %d (%s): backends disagree\nmemory: %s\nside %d: %s", seed, step, name, got[0], i, got[i])
			}
		}
		switch r := results[0].(type) {
		case workspace.Workspace:
			if r.ID != "" && !contains(wsIDs, r.ID) {
				wsIDs = append(wsIDs, r.ID)
			}
		case tenancy.SentInvitation:
			if r.Invitation.ID != "" && !contains(invIDs, r.Invitation.ID) {
				invIDs = append(invIDs, r.Invitation.ID)
			}
		case tenancy.CreatedToken:
			if r.Token.ID != "" {
				tokIDs = append(tokIDs, r.Token.ID)
			}
		}
		for i, s := range sides {
			if f, err := s.m.Verify(ctx); err != nil || len(f) != 0 {
				t.Fatalf("seed %d step %d (%s): Verify on side %d: %v %v", seed, step, name, i, f, err)
			}
		}
	}
	// Every listing agrees at the end.
	listings := func(s *side) string {
		all, err1 := s.m.ListWorkspaces(ctx, tenancy.System(), workspace.ListOptions{Limit: 100})
		del, err2 := s.m.ListWorkspaces(ctx, tenancy.System(), workspace.ListOptions{Limit: 100, Status: workspace.Deleted})
		feed, err3 := s.m.Feed(ctx, tenancy.System(), tenancy.EventListOptions{Limit: 100})
		stats, err4 := s.m.Stats(ctx, tenancy.System())
		// A feed position is the backend's own (a transaction id on PostgreSQL), and so
		// is the cursor that encodes one: the events and their order must agree, not those.
		for i := range feed.Items {
			feed.Items[i].Position = ""
		}
		feed.NextCursor = ""
		out := normalize(all, err1) + normalize(del, err2) + normalize(feed, err3) + normalize(stats, err4)
		// Every search and filter, through whatever index the backend has.
		for _, needle := range searchNeedles {
			for _, st := range []workspace.Status{"", workspace.Active, workspace.Inactive, workspace.Deleted} {
				found, err := s.m.ListWorkspaces(ctx, tenancy.System(), workspace.ListOptions{NameContains: needle, Status: st, Limit: 100})
				out += normalize(found, err)
			}
		}
		for _, w := range append(all.Items, del.Items...) {
			ms, err := s.m.ListMembers(ctx, tenancy.System(), w.ID, tenancy.MemberListOptions{Limit: 100})
			out += normalize(ms, err)
			inv, err := s.m.ListInvitations(ctx, tenancy.System(), w.ID, tenancy.MemberListOptions{Limit: 100})
			out += normalize(inv, err)
			tk, err := s.m.ListTokens(ctx, tenancy.System(), tenancy.TokenListOptions{WorkspaceID: w.ID, Limit: 100})
			out += normalize(tk, err)
		}
		return out
	}
	want := listings(sides[0])
	for i, s := range sides[1:] {
		if got := listings(s); got != want {
			t.Fatalf("seed %d: listings differ\nmemory: %s\nside %d: %s", seed, want, i+1, got)
		}
	}
	return succeeded, total
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
