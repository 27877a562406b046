package storagetest

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
)

// Capability is an optional ability of a backend, as package storage's doc lists
// them. A backend declares its capabilities to Run (WithCapabilities); the kit
// checks that the backend has exactly those, so a wrapper or a refactoring that
// silently loses one (and with it an index or a round trip) fails, and runs each
// capability's own tests only where it is declared.
type Capability uint

// The capabilities.
const (
	Search        Capability = 1 << iota // its Reader is a storage.WorkspaceSearcher
	Prefetch                             // the Storage is a storage.Prefetcher
	FullScan                             // its Reader is a storage.FullScanner
	SuspendedScan                        // its Reader is a storage.SuspendedUserScanner
	Checks                               // the Storage is a storage.Checker
	Durability                           // the Storage is a storage.Durable reporting true
)

var capabilityNames = []struct {
	c    Capability
	name string
}{{Search, "Search"}, {Prefetch, "Prefetch"}, {FullScan, "FullScan"}, {SuspendedScan, "SuspendedScan"},
	{Checks, "Checks"}, {Durability, "Durability"}}

// String names the capabilities in c, joined by "|".
func (c Capability) String() string {
	var names []string
	for _, n := range capabilityNames {
		if c&n.c != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// WithCapabilities declares the backend's optional capabilities. Without it the
// kit finds them by type assertion and runs the tests of those it finds.
func WithCapabilities(c Capability) Option {
	return func(cfg *config) { cfg.caps, cfg.declared = c, true }
}

// RoundTripCounter is implemented by a store that counts the round trips it makes
// to its server (a SQL backend: every statement, BEGIN and COMMIT included). With it
// and Prefetch, the kit checks that one Authorize and one Authenticate are one round
// trip each, so a silent fall-back from the one prefetching statement to a
// transaction of several fails.
type RoundTripCounter interface {
	RoundTrips() int64
}

// detect finds the capabilities a store has.
func detect(t *testing.T, s storage.Storage) Capability {
	t.Helper()
	var c Capability
	if _, ok := s.(storage.Prefetcher); ok {
		c |= Prefetch
	}
	if _, ok := s.(storage.Checker); ok {
		c |= Checks
	}
	if d, ok := s.(storage.Durable); ok && d.Durable() {
		c |= Durability
	}
	err := s.View(context.Background(), func(r storage.Reader) error {
		if _, ok := r.(storage.WorkspaceSearcher); ok {
			c |= Search
		}
		if _, ok := r.(storage.FullScanner); ok {
			c |= FullScan
		}
		if _, ok := r.(storage.SuspendedUserScanner); ok {
			c |= SuspendedScan
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return c
}

// testPrefetchAgreesWithView: for every principal of the grid, Authorize and
// AuthorizePlatform answer through the backend's Prefetcher exactly what they
// answer through a View (the same kind, the same message), for every workspace of
// the cast, a deleted and a missing one, and every action; Authenticate likewise
// for every token of the cast, an unknown secret and a malformed one.
func testPrefetchAgreesWithView(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	w := newWorld(t, newStore, nil)
	viewOnly, err := tenancy.New(viewOnlyStore{w.store}, tenancy.Options{SecretKey: testKey, Clock: w.clock.Now,
		TokenUsageFlushInterval: 24 * time.Hour, WorkspaceFlags: []string{"sources"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = viewOnly.Close() })
	same := func(what string, prefetched, viewed error) {
		t.Helper()
		switch {
		case (prefetched == nil) != (viewed == nil):
			t.Errorf("%s: prefetched %v, viewed %v", what, prefetched, viewed)
		case prefetched != nil && (tenancy.KindOf(prefetched) != tenancy.KindOf(viewed) || prefetched.Error() != viewed.Error()):
			t.Errorf("%s: prefetched %q, viewed %q", what, prefetched, viewed)
		}
	}
	actions := []rbac.Action{rbac.ReadWorkspace, rbac.ListMembers, rbac.ReadContent, rbac.WriteContent, rbac.CreateToken,
		rbac.UpdateWorkspace, rbac.ChangeStatus, rbac.InviteMembers, rbac.ManageMembers, rbac.ManageTokens, rbac.ReadAudit, rbac.ManageWebhooks,
		rbac.DeleteWorkspace, rbac.ListAll, rbac.ReadStats, rbac.SyncWorkspaces, rbac.PurgeWorkspaces, rbac.ManageUsers,
		rbac.ManageRoles, "host:custom"}
	for _, name := range gridColumns {
		p := w.who[name]
		for _, ws := range []string{w.W.ID, w.W2.ID, w.D.ID, w.X.ID, "ws_missing", ""} {
			for _, a := range actions {
				same(name+" Authorize "+ws+" "+string(a), w.m.Authorize(ctx, p, ws, a), viewOnly.Authorize(ctx, p, ws, a))
			}
		}
		for _, a := range actions {
			same(name+" AuthorizePlatform "+string(a), w.m.AuthorizePlatform(ctx, p, a), viewOnly.AuthorizePlatform(ctx, p, a))
		}
	}
	secrets := []string{"tncp_unknown", "not a token"}
	for _, s := range w.secrets {
		secrets = append(secrets, s, s[:len(s)-1]+"x")
	}
	for _, s := range secrets {
		p1, e1 := w.m.Authenticate(ctx, s)
		p2, e2 := viewOnly.Authenticate(ctx, s)
		same("Authenticate", e1, e2)
		if !reflect.DeepEqual(p1, p2) {
			t.Errorf("Authenticate: prefetched %v, viewed %v", p1, p2)
		}
	}
}

// viewOnlyStore hides every optional capability of a store: a Manager over it
// reads in Views only.
type viewOnlyStore struct{ storage.Storage }

// testRoundTrips: on a backend that counts its round trips, one Authorize (as a
// user, as a workspace token, as a personal token) and one Authenticate are one
// round trip each.
func testRoundTrips(t *testing.T, newStore func(t *testing.T) storage.Storage) {
	w := newWorld(t, newStore, nil)
	rc := w.store.(RoundTripCounter)
	cases := []struct {
		name string
		call func() error
	}{
		{"Authorize as a user", func() error { return w.m.Authorize(ctx, w.who["owner"], w.W.ID, rbac.WriteContent) }},
		{"Authorize as a workspace token", func() error { return w.m.Authorize(ctx, w.who["wsEditor"], w.W.ID, rbac.WriteContent) }},
		{"Authorize as a personal token", func() error { return w.m.Authorize(ctx, w.who["pAdmin"], w.W.ID, rbac.WriteContent) }},
		{"Authenticate a workspace token", func() error { _, err := w.m.Authenticate(ctx, w.secrets["wsEditor"]); return err }},
		{"Authenticate a personal token", func() error { _, err := w.m.Authenticate(ctx, w.secrets["pUncapped"]); return err }},
	}
	for _, c := range cases {
		if err := c.call(); err != nil { // warm: statement caches, pooled connections
			t.Fatalf("%s: %v", c.name, err)
		}
		before := rc.RoundTrips()
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := rc.RoundTrips() - before; n != 1 {
			t.Errorf("%s took %d round trips, want 1", c.name, n)
		}
	}
	// A creation whose derived slug is free: the actor's read (with the BEGIN), the
	// workspace's insert (its slug and external ID must answer at the call), and the
	// COMMIT with the owner's membership, the counters and the event; a feed that
	// numbers events from a head row reads it too. A taken slug costs one refused
	// transaction more, never a read of the slug index first.
	var free int64
	for i, name := range []string{"Round trips 0", "Round trips 1", "Round trips 1"} {
		before := rc.RoundTrips()
		if _, err := w.m.CreateWorkspace(ctx, w.who["owner"], tenancy.NewWorkspace{Name: name}); err != nil {
			t.Fatalf("CreateWorkspace %q: %v", name, err)
		}
		n := rc.RoundTrips() - before
		switch {
		case i < 2 && n > 4:
			t.Errorf("CreateWorkspace %q (a free slug) took %d round trips, want at most 4", name, n)
		case i == 0:
			free = n
		case i == 2 && n > free+3:
			t.Errorf("CreateWorkspace %q (a taken slug) took %d round trips, want at most %d (one refused transaction more)", name, n, free+3)
		}
	}
}
