package tenancy_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/storage/storagetest"
	"github.com/tenancykit/tenancy/workspace"
)

var ctx = context.Background()

// testKey keys secret hashing in tests; a real deployment keeps 32 random bytes
// outside its database.
var testKey = []byte("tenancy-test-key-0123456789abcdef")

// fakeClock is a settable clock, so no test sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type backend struct {
	name string
	open func(t testing.TB) storage.Storage
}

// backends are the stores every Manager test runs on. PostgreSQL runs where the
// test server is available (internal/pgtest) and skips, saying how to get it,
// where it is not.
var backends = []backend{
	{"memory", func(testing.TB) storage.Storage { return memory.New() }},
	{"bolt", func(t testing.TB) storage.Storage {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "tenancy.db"), bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"postgres", openPostgres},
}

func openPostgres(t testing.TB) storage.Storage {
	url, schema := pgtest.StoreSchema(t)
	s, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// env is a Manager with a cast of users and one workspace where each holds a role.
type env struct {
	m     *tenancy.Manager
	store storage.Storage
	clock *fakeClock
	ws    workspace.Workspace // owned by "owner"
	// skipVerify: the test breaks invariants on purpose.
	skipVerify bool
}

// The cast: one user per role in env.ws, an outsider, and a platform user.
var (
	owner    = tenancy.User("owner")
	admin    = tenancy.User("admin")
	editor   = tenancy.User("editor")
	viewer   = tenancy.User("viewer")
	outsider = tenancy.User("outsider")
	platform = tenancy.User("plat")
	ghost    = tenancy.User("ghost") // never registered
	nobody   tenancy.Principal
	system   = tenancy.System()
)

// eachBackend runs fn on a fresh env for every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, newEnv(t, b)) })
	}
}

func newEnv(t testing.TB, b backend) *env { return newEnvWith(t, b, nil) }

// newEnvWith is newEnv under a policy (nil: the default). The cast holds one user
// per member role of the policy, named after it ("viewer", "guest", "admin"), beside
// the owner, the outsider and the platform user.
func newEnvWith(t testing.TB, b backend, policy *rbac.Policy) *env {
	t.Helper()
	return newEnvOpts(t, b, func(o *tenancy.Options) { o.Policy = policy })
}

// newEnvOpts is newEnv with options changed by set.
func newEnvOpts(t testing.TB, b backend, set func(*tenancy.Options)) *env {
	t.Helper()
	store := b.open(t)
	t.Cleanup(func() { _ = store.Close() })
	clock := newClock()
	opts := tenancy.Options{Clock: clock.Now, StarterKits: []string{"blank", "web-analytics"}, SecretKey: testKey}
	if set != nil {
		set(&opts)
	}
	m, err := tenancy.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{m: m, store: store, clock: clock}
	t.Cleanup(func() { _ = m.Close() }) // runs before the store's Close: cleanups are LIFO
	// Every test ends with Verify: whatever it did must leave every invariant intact.
	t.Cleanup(func() {
		if t.Failed() || e.skipVerify {
			return
		}
		findings, err := e.m.Verify(ctx)
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
		for _, f := range findings {
			t.Errorf("Verify after the test: %s", f)
		}
	})
	ids := []string{"owner", "outsider", "plat"}
	for _, r := range m.Policy().Roles() {
		ids = append(ids, string(r))
	}
	for _, id := range ids {
		if _, err := m.RegisterUser(ctx, system, tenancy.NewUser{ID: id, Email: id + "@example.com", Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.SetPlatform(ctx, system, "plat", true); err != nil {
		t.Fatal(err)
	}
	e.ws, err = m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Main"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Policy().Roles() {
		e.addMember(t, e.ws.ID, string(r), r)
	}
	return e
}

// addMember writes (or rewrites) a membership straight through storage (membership operations
// are tested on their own).
func (e *env) addMember(t testing.TB, wsID, userID string, role rbac.Role) {
	t.Helper()
	err := e.store.Update(ctx, func(tx storage.ReadWriter) error {
		mb := member.Member{WorkspaceID: wsID, UserID: userID, Role: role, JoinedAt: e.clock.Now()}
		if _, err := tx.GetMember(wsID, userID); err == nil {
			return tx.ReplaceMember(mb) // a test resetting a role
		}
		return tx.CreateMember(mb)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) dump(t testing.TB) string { return storagetest.Dump(t, e.store) }

// wantErr checks an error's kind and that its message contains msg.
func wantErr(t testing.TB, err, kind error, msg string) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, kind) {
		t.Errorf("got error %v (kind %v), want kind %v", err, tenancy.KindOf(err), kind)
		return
	}
	if msg == "" {
		t.Errorf("EMPTYMSG %q: name the message expected (the empty string matches any)", err.Error())
		return
	}
	if !strings.Contains(err.Error(), msg) {
		t.Errorf("message %q does not contain %q", err.Error(), msg)
	}
}

func ptr[T any](v T) *T { return &v }
