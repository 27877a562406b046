package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// The Manager suite: the behaviours users see, through the portable API, on the
// backend under test. Each test ends with Verify, which must find nothing.

func verifyClean(t *testing.T, m *tenancy.Manager) {
	t.Helper()
	findings, err := m.Verify(ctx)
	if err != nil {
		t.Errorf("Verify: %v", err)
	}
	for _, f := range findings {
		t.Errorf("Verify: %s", f)
	}
}

func register(t *testing.T, m *tenancy.Manager, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: id, Email: id + "@example.com", Name: id}); err != nil {
			t.Fatal(err)
		}
	}
}

// testManagerLifecycle walks a workspace through every state, with the counters
// and the retention job.
func testManagerLifecycle(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	m, _, clock := newManager(t, newStore, tenancy.Options{})
	register(t, m, "ada", "bob")
	ada, sys := tenancy.User("ada"), tenancy.System()
	var ids []string
	for i := range 5 {
		w, err := m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: fmt.Sprintf("W %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.ID)
	}
	// A requested slug that is taken is refused by the store's unique index.
	_, err := m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: "X", Slug: "w-0"})
	if !errors.Is(err, tenancy.ErrAlreadyExists) {
		t.Errorf("a taken slug: %v", err)
	}
	// Pages in creation order, each once.
	var seen []string
	cursor := ""
	for {
		pg, err := m.ListWorkspaces(ctx, ada, workspace.ListOptions{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range pg.Items {
			seen = append(seen, w.ID)
		}
		cursor = pg.NextCursor
		if !pg.HasMore {
			break
		}
	}
	assertList(t, "ListWorkspaces pages", seen, ids...)

	if _, err := m.UpdateWorkspace(ctx, ada, ids[0], tenancy.WorkspaceUpdate{Name: ptr("Renamed"), Slug: ptr("renamed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.UpdateWorkspace(ctx, ada, ids[1], tenancy.WorkspaceUpdate{Slug: ptr("renamed")}); !errors.Is(err, tenancy.ErrAlreadyExists) {
		t.Errorf("rename onto a taken slug: %v", err)
	}
	if _, err := m.DeactivateWorkspace(ctx, ada, ids[1]); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids[2:4] {
		if _, err := m.DeleteWorkspace(ctx, ada, id); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(48 * time.Hour)
	if _, err := m.DeleteWorkspace(ctx, ada, ids[4]); err != nil {
		t.Fatal(err)
	}
	st, err := m.Stats(ctx, sys)
	if err != nil || st != (workspace.Stats{Active: 1, Inactive: 1, Deleted: 3, Total: 2}) {
		t.Errorf("stats: %+v %v", st, err)
	}
	// Retention purges only what was deleted at least a day ago.
	if n, err := m.PurgeDeleted(ctx, sys, 24*time.Hour); err != nil || n != 2 {
		t.Errorf("PurgeDeleted: %d %v", n, err)
	}
	if _, err := m.RestoreWorkspace(ctx, ada, ids[4]); err != nil {
		t.Errorf("restore: %v", err)
	}
	if _, err := m.ReactivateWorkspace(ctx, ada, ids[1]); err != nil {
		t.Errorf("reactivate: %v", err)
	}
	if err := m.PurgeWorkspace(ctx, sys, ids[0]); err != nil {
		t.Errorf("purge: %v", err)
	}
	// The purged slug is free again.
	if _, err := m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: "Again", Slug: "renamed"}); err != nil {
		t.Errorf("re-use a purged slug: %v", err)
	}
	st, err = m.Stats(ctx, sys)
	if err != nil || st != (workspace.Stats{Active: 3, Total: 3}) {
		t.Errorf("stats at the end: %+v %v", st, err)
	}
	verifyClean(t, m)
}

// testManagerMembership: invitations, roles, removal and ownership, and the races a
// store with many writers must settle: one membership from many accepts, one
// workspace from many creations of one slug.
func testManagerMembership(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	m, _, _ := newManager(t, newStore, tenancy.Options{})
	register(t, m, "ada", "bob", "cyd")
	ada, bob := tenancy.User("ada"), tenancy.User("bob")
	w, err := m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: "W"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := m.InviteMember(ctx, ada, w.ID, tenancy.NewInvitation{Email: "bob@example.com", Role: rbac.Admin})
	if err != nil {
		t.Fatal(err)
	}
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = m.AcceptInvitation(ctx, bob, sent.Secret) }()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, tenancy.ErrFailedPrecondition), errors.Is(err, tenancy.ErrAlreadyExists):
		default:
			t.Errorf("a racing accept: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d racing accepts succeeded, want exactly 1", ok, racers)
	}
	members, err := m.ListMembers(ctx, ada, w.ID, tenancy.MemberListOptions{})
	if err != nil || len(members.Items) != 2 {
		t.Errorf("members after the race: %+v %v", members.Items, err)
	}
	// Many creators of one slug: exactly one workspace.
	errs = make([]error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: "Same", Slug: "same"})
		}()
	}
	wg.Wait()
	ok = 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, tenancy.ErrAlreadyExists) {
			t.Errorf("a racing create: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creations of one slug succeeded, want exactly 1", ok)
	}
	// Roles, ownership, removal.
	if _, err := m.AddMember(ctx, ada, w.ID, tenancy.NewMember{Email: "cyd@example.com", Role: rbac.Viewer}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddMember(ctx, ada, w.ID, tenancy.NewMember{UserID: "cyd", Role: rbac.Viewer}); !errors.Is(err, tenancy.ErrAlreadyExists) {
		t.Errorf("adding a member twice: %v", err)
	}
	if _, err := m.ChangeRole(ctx, bob, w.ID, "cyd", rbac.Editor); err != nil {
		t.Error(err)
	}
	if _, err := m.TransferOwnership(ctx, ada, w.ID, "bob"); err != nil {
		t.Error(err)
	}
	if err := m.RemoveMember(ctx, bob, w.ID, "ada"); err != nil {
		t.Error(err)
	}
	if err := m.LeaveWorkspace(ctx, bob, w.ID); !errors.Is(err, tenancy.ErrFailedPrecondition) {
		t.Errorf("the owner leaves: %v", err)
	}
	verifyClean(t, m)
}

// testManagerTokens: creation, authentication, last-used times and revocation.
func testManagerTokens(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	m, _, clock := newManager(t, newStore, tenancy.Options{})
	register(t, m, "ada")
	ada := tenancy.User("ada")
	w, err := m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: "W"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.CreateToken(ctx, ada, tenancy.NewToken{Name: "ci", WorkspaceID: w.ID, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Authenticate(ctx, c.Secret)
	if err != nil || m.Authorize(ctx, p, w.ID, rbac.WriteContent) != nil {
		t.Fatalf("authenticate and authorize: %v", err)
	}
	used := clock.Now()
	// A revocation committed before the usage flush is not undone by it.
	if err := m.RevokeToken(ctx, ada, c.Token.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.FlushTokenUsage(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := m.GetToken(ctx, ada, c.Token.ID)
	if err != nil || info.State != tenancy.TokenRevoked || !info.LastUsedAt.Equal(used) {
		t.Errorf("after revoke and flush: %+v %v", info, err)
	}
	if _, err := m.Authenticate(ctx, c.Secret); !errors.Is(err, tenancy.ErrUnauthenticated) {
		t.Errorf("a revoked token authenticates: %v", err)
	}
	rot, err := m.CreateToken(ctx, ada, tenancy.NewToken{Name: "laptop", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.RotateToken(ctx, ada, rot.Token.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Authenticate(ctx, rot.Secret); !errors.Is(err, tenancy.ErrUnauthenticated) {
		t.Errorf("the old secret after rotation: %v", err)
	}
	if _, err := m.Authenticate(ctx, again.Secret); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	verifyClean(t, m)
}

// testFeedUnderConcurrentWriters: 8 writers commit while a consumer pages the feed 7
// events at a time from its cursor; it must see every committed event exactly once.
func testFeedUnderConcurrentWriters(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	m, _, _ := newManager(t, newStore, tenancy.Options{})
	const writers, each = 8, 12
	for g := range writers {
		register(t, m, fmt.Sprintf("u%d", g))
	}
	sys := tenancy.System()
	// Start after what setup wrote.
	cursor := ""
	createdSeen := map[string]bool{}
	drain := func(seen map[string]int) bool {
		pg, err := m.Feed(ctx, sys, tenancy.EventListOptions{Limit: 7, Cursor: cursor})
		if err != nil {
			t.Error(err)
			return false
		}
		for _, e := range pg.Items {
			seen[e.ID]++
			if e.Type == "workspace.created" {
				createdSeen[e.WorkspaceID] = true
			}
		}
		cursor = pg.NextCursor
		return len(pg.Items) > 0
	}
	for drain(map[string]int{}) {
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var committed []string // the workspaces created; each has one event
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				w, err := m.CreateWorkspace(ctx, tenancy.User(fmt.Sprintf("u%d", g)), tenancy.NewWorkspace{Name: fmt.Sprintf("W %d %d", g, i)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				committed = append(committed, w.ID)
				mu.Unlock()
			}
		}()
	}
	seen := map[string]int{}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			drain(seen)
		}
	}
	// A backend may show an event only once every transaction that could commit
	// before it has ended (see the contract): follow the feed until every committed
	// creation has been read, as a consumer would.
	for deadline := time.Now().Add(time.Minute); len(createdSeen) < len(committed) && time.Now().Before(deadline); {
		if !drain(seen) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for drain(seen) {
	}
	created := map[string]bool{}
	for _, id := range committed {
		created[id] = true
	}
	// Every event seen once; every workspace's creation among them.
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s seen %d times", id, n)
		}
	}
	pg := 0
	got := map[string]bool{}
	cursor = ""
	for {
		page, err := m.Feed(ctx, sys, tenancy.EventListOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			if e.Type == "workspace.created" && created[e.WorkspaceID] {
				if seen[e.ID] != 1 {
					t.Errorf("the creation of %s (event %s) was skipped by the consumer", e.WorkspaceID, e.ID)
				}
				got[e.WorkspaceID] = true
			}
		}
		cursor = page.NextCursor
		if pg++; !page.HasMore || pg > 1000 {
			break
		}
	}
	if len(got) != writers*each || len(committed) != writers*each {
		t.Errorf("%d creations in the feed, %d committed, want %d", len(got), len(committed), writers*each)
	}
	verifyClean(t, m)
}
