package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// The Manager-level suite drives the portable API (tenancy.Manager) over the
// backend under test, as go-cloud's drivertest does: a backend is judged by the
// behaviour users see, not by its Tx alone.

// testKey keys secret hashing for every Manager the suite makes.
var testKey = []byte("storagetest-secret-key-0123456789abcdef")

// clock is a settable clock, so no test sleeps.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newManager opens a Manager over a fresh store from newStore, closed at cleanup.
func newManager(t *testing.T, newStore func(t *testing.T) storage.Storage, opts tenancy.Options) (*tenancy.Manager, storage.Storage, *clock) {
	t.Helper()
	s := newStore(t)
	t.Cleanup(func() { _ = s.Close() })
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	if opts.Clock == nil {
		opts.Clock = c.Now
	}
	if opts.SecretKey == nil {
		opts.SecretKey = testKey
	}
	if opts.TokenUsageFlushInterval == 0 {
		// No background flush during a test: "nothing changed" must mean nothing.
		opts.TokenUsageFlushInterval = 24 * time.Hour
	}
	m, err := tenancy.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() }) // before the store's Close: cleanups run last-in first-out
	return m, s, c
}

// world is the cast the grid runs against, built through the Manager only, so every
// record is referentially valid.
//
//	users      o, a, e, v, p (no membership), plat (platform), padm (platform)
//	W          owned by o; a admin, e editor, v viewer, padm admin
//	W2         owned by a
//	D          owned by o, soft-deleted
//	X          owned by v; pending invitations to p, plat, o, a and padm
//	inv        a pending invitation to W for guest@example.com
//	tokens     a's workspace tokens in W (viewer, editor, admin, and "target", editor),
//	           a's admin token in W2, padm's personal tokens (uncapped, capped at
//	           viewer, editor, admin and platform)
type world struct {
	m         *tenancy.Manager
	store     storage.Storage
	clock     *clock
	W, W2, D  workspace.Workspace
	X         workspace.Workspace
	inv       string            // the pending invitation in W
	invites   map[string]string // user ID -> secret of their invitation to X
	emailCode map[string]string // user ID -> secret of their pending email change
	target    string            // a's editor token in W
	hook      string            // an endpoint for W
	platHook  string            // plat's endpoint for every event
	secrets   map[string]string // token principal name -> its secret
	who       map[string]tenancy.Principal
	userOf    map[string]string // principal name -> its user ("" for System)
	principal []string          // the grid's columns, in order
	// The policy's member roles, lowest first: the grid's roles are positions
	// (the default policy's viewer, editor and admin), never names.
	lo, mid, hi rbac.Role
}

// gridColumns are the kinds of principal the grid tries every method with.
var gridColumns = []string{"system", "plain", "platform", "owner",
	"wsViewer", "wsEditor", "wsAdmin",
	"pUncapped", "pViewer", "pEditor", "pAdmin", "pPlatform",
	"otherWs"}

func newWorld(t *testing.T, newStore func(t *testing.T) storage.Storage, policy *rbac.Policy) *world {
	t.Helper()
	m, s, c := newManager(t, newStore, tenancy.Options{Policy: policy, WorkspaceFlags: []string{"sources"}})
	roles := m.Policy().Roles()
	w := &world{m: m, store: s, clock: c, invites: map[string]string{}, emailCode: map[string]string{}, secrets: map[string]string{}, who: map[string]tenancy.Principal{},
		userOf: map[string]string{}, principal: gridColumns, lo: roles[0], mid: roles[1], hi: roles[2]}
	sys := tenancy.System()
	fail := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("world: %s: %v", what, err)
		}
	}
	for _, id := range []string{"o", "a", "e", "v", "p", "plat", "padm"} {
		_, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: id, Email: id + "@example.com", Name: "User " + id})
		fail("register "+id, err)
	}
	for _, id := range []string{"plat", "padm"} {
		_, err := m.SetPlatform(ctx, sys, id, true)
		fail("platform "+id, err)
	}
	var err error
	w.W, err = m.CreateWorkspace(ctx, tenancy.User("o"), tenancy.NewWorkspace{Name: "W", Slug: "w"})
	fail("create W", err)
	for id, role := range map[string]rbac.Role{"a": w.hi, "e": w.mid, "v": w.lo, "padm": w.hi} {
		_, err := m.AddMember(ctx, tenancy.User("o"), w.W.ID, tenancy.NewMember{UserID: id, Role: role})
		fail("add "+id, err)
	}
	w.W2, err = m.CreateWorkspace(ctx, tenancy.User("a"), tenancy.NewWorkspace{Name: "W2", Slug: "w2"})
	fail("create W2", err)
	w.D, err = m.CreateWorkspace(ctx, tenancy.User("o"), tenancy.NewWorkspace{Name: "D", Slug: "d"})
	fail("create D", err)
	w.D, err = m.DeleteWorkspace(ctx, tenancy.User("o"), w.D.ID)
	fail("delete D", err)
	w.X, err = m.CreateWorkspace(ctx, tenancy.User("v"), tenancy.NewWorkspace{Name: "X", Slug: "x"})
	fail("create X", err)
	for _, id := range []string{"p", "plat", "o", "a", "padm"} {
		sent, err := m.InviteMember(ctx, tenancy.User("v"), w.X.ID, tenancy.NewInvitation{Email: id + "@example.com", Role: w.lo})
		fail("invite "+id, err)
		w.invites[id] = sent.Secret
	}
	for _, id := range []string{"p", "plat", "o", "a", "padm"} {
		c, err := m.RequestEmailChange(ctx, sys, id, id+".proven@example.com")
		fail("email change "+id, err)
		w.emailCode[id] = c.Secret
	}
	sent, err := m.InviteMember(ctx, tenancy.User("o"), w.W.ID, tenancy.NewInvitation{Email: "guest@example.com", Role: w.lo})
	fail("invite guest", err)
	w.inv = sent.Invitation.ID

	tok := func(name, userID string, in tenancy.NewToken) {
		t.Helper()
		in.Name, in.Lifetime = name, 24*time.Hour
		c, err := m.CreateToken(ctx, tenancy.User(userID), in)
		fail("token "+name, err)
		p, err := m.Authenticate(ctx, c.Secret)
		fail("authenticate "+name, err)
		w.who[name], w.userOf[name], w.secrets[name] = p, userID, c.Secret
		if name == "target" {
			w.target = c.Token.ID
		}
	}
	tok("wsViewer", "a", tenancy.NewToken{WorkspaceID: w.W.ID, Role: w.lo})
	tok("wsEditor", "a", tenancy.NewToken{WorkspaceID: w.W.ID, Role: w.mid})
	tok("wsAdmin", "a", tenancy.NewToken{WorkspaceID: w.W.ID, Role: w.hi})
	tok("target", "a", tenancy.NewToken{WorkspaceID: w.W.ID, Role: w.mid})
	tok("otherWs", "a", tenancy.NewToken{WorkspaceID: w.W2.ID, Role: w.hi})
	tok("pUncapped", "padm", tenancy.NewToken{})
	tok("pViewer", "padm", tenancy.NewToken{Role: w.lo})
	tok("pEditor", "padm", tenancy.NewToken{Role: w.mid})
	tok("pAdmin", "padm", tenancy.NewToken{Role: w.hi})
	tok("pPlatform", "padm", tenancy.NewToken{Role: rbac.Platform})
	delete(w.who, "target")
	h, err := m.CreateWebhook(ctx, sys, tenancy.NewWebhook{WorkspaceID: w.W.ID, URL: "https://hooks.example.com/w"})
	fail("webhook of W", err)
	w.hook = h.ID
	h, err = m.CreateWebhook(ctx, tenancy.User("plat"), tenancy.NewWebhook{URL: "https://hooks.example.com/all"})
	fail("platform webhook", err)
	w.platHook = h.ID
	_, err = m.ConsumeStep(ctx, sys, "c1", tenancy.ConsumeOptions{Instance: "world"}, func(context.Context, tenancy.Event) error { return nil })
	fail("consumer c1", err)
	for name, id := range map[string]string{"plain": "p", "platform": "plat", "owner": "o"} {
		w.who[name], w.userOf[name] = tenancy.User(id), id
	}
	w.who["system"] = sys
	// The suite compares dumps: write the last-used notes of the Authenticates
	// above now, so no later flush changes storage under a test.
	fail("flush", m.FlushTokenUsage(ctx))
	return w
}
