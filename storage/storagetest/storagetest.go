// Package storagetest is the conformance kit every tenancy storage backend passes,
// a third party's included.
//
// A backend's conformance test is one line:
//
//	func TestConformance(t *testing.T) { storagetest.Run(t, newStore) }
//
// newStore returns a fresh, empty store for each subtest (a new file, a new
// database schema…). Run runs two suites against it:
//
//   - the transaction suite (tx_*.go): every method of storage.ReadWriter, the contract's rules
//     (insert versus replace, unique indexes named, feed positions, commutative
//     counters and touches, rollback on error and panic, snapshots under parallel
//     writers), with referentially valid fixtures, so a backend with foreign keys
//     passes;
//   - the Manager suite (manager.go, grid.go): the behaviours users see through
//     tenancy.Manager on the backend: the workspace lifecycle, membership races,
//     tokens, a feed paged by a consumer while 8 writers commit, and the principal
//     grid (every Manager method × every kind of principal).
//
// A backend declares its optional capabilities (WithCapabilities: Search,
// Prefetch, FullScan, …); the kit fails when the backend has more or fewer than
// declared, and runs each capability's tests only where declared: that search
// agrees with a scan, that the prefetched Authorize and Authenticate answer
// exactly what a View answers for every principal of the grid, and, on a store
// that counts its round trips (RoundTripCounter), that each is one round trip. A
// failing fixture fails its own test, never the whole binary.
//
// Durable backends also pass WithReopen, and everything must survive a close and
// reopen. Dump renders a whole store through the contract, for "nothing changed"
// assertions in a backend's own tests.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// Option adjusts the suite.
type Option func(*config)

type config struct {
	reopen   func(t *testing.T, s storage.Storage) storage.Storage
	skipGrid string   // why the principal grid does not run, when it does not
	gridOnly []string // the grid's policies to run; empty runs every one
	caps     Capability
	declared bool // caps came from WithCapabilities
}

// WithoutPrincipalGrid skips the principal grid and the other tests of the
// Manager's authorization (PrefetchAgreesWithView, RoundTrips), saying why: for a
// second run of the kit over the same backend in another mode (PostgreSQL's feed
// strategies) that another run already covered. Every other case still runs.
func WithoutPrincipalGrid(why string) Option {
	return func(c *config) { c.skipGrid = why }
}

// WithGridPolicies runs the principal grid under the named ones of its policies
// only ("default", "tinybird", "editors invite"), for a backend whose stores are
// slow to make: what differs between the policies is decided by the Manager, and a
// run of the whole grid on a fast backend proves it. The backend's own part (every
// method, every principal, nothing changed by a refusal) is still tried in full.
func WithGridPolicies(names ...string) Option {
	return func(c *config) { c.gridOnly = names }
}

// WithReopen declares a durable backend: reopen closes s and returns a store over the
// same data.
func WithReopen(reopen func(t *testing.T, s storage.Storage) storage.Storage) Option {
	return func(c *config) { c.reopen = reopen }
}

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) storage.Storage, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	probe := newStore(t)
	found := detect(t, probe)
	_, counts := probe.(RoundTripCounter)
	_ = probe.Close()
	t.Run("Capabilities", func(t *testing.T) {
		if !c.declared {
			t.Logf("found %s (declare them with WithCapabilities, so losing one fails)", found)
			return
		}
		if missing := c.caps &^ found; missing != 0 {
			t.Errorf("declared but missing: %s", missing)
		}
		if extra := found &^ c.caps; extra != 0 {
			t.Errorf("present but not declared: %s", extra)
		}
	})
	if !c.declared {
		c.caps = found
	}
	tests := []struct {
		name  string
		fn    func(t *testing.T, s storage.Storage)
		needs Capability
	}{
		{"NotFound", testNotFound, 0},
		{"RoundTrip", testRoundTrip, 0},
		{"UniqueIndexes", testUniqueIndexes, 0},
		{"InvalidKeysRefused", testInvalidKeysRefused, 0},
		{"ImpossibleKeys", testImpossibleKeys, 0},
		{"SuspendedUsers", testSuspendedUsers, SuspendedScan},
		{"DeletedFromRoundTrip", testDeletedFromRoundTrip, 0},
		{"IndexesFollowUpdates", testIndexesFollowUpdates, 0},
		{"DeleteCleansIndexes", testDeleteCleansIndexes, 0},
		{"LookupsSeeUpdates", testLookupsSeeUpdates, 0},
		{"FailedUpdateRollsBack", testFailedUpdateRollsBack, 0},
		{"PanicRollsBack", testPanicRollsBack, 0},
		{"SeesOwnWrites", testSeesOwnWrites, 0},
		{"ReadTxRefusesWrites", testReadTxRefusesWrites, 0},
		{"ScanOrderAndCursor", testScanOrderAndCursor, 0},
		{"ChildScans", testChildScans, 0},
		{"Events", testEvents, 0},
		{"FeedHead", testFeedHead, 0},
		{"ValuesAreCopies", testValuesAreCopies, 0},
		{"OnCommit", testOnCommit, 0},
		{"Counters", testCounters, 0},
		{"ParallelWriters", testParallelWriters, 0},
		{"CanceledContext", testCanceledContext, 0},
		{"UseAfterClose", testUseAfterClose, 0},
		{"TouchToken", testTouchToken, 0},
		{"PurgeWorkspace", testPurgeWorkspace, 0},
		{"DeletedIndex", testDeletedIndex, 0},
		{"Settings", testSettings, 0},
		{"Consumers", testConsumers, 0},
		{"Webhooks", testWebhooks, 0},
		{"WebhookAttempts", testWebhookAttempts, 0},
		{"ManyEvents", testManyEvents, 0},
		{"SearchAgreesWithScan", testSearchAgreesWithScan, Search},
		{"SearchLargeStore", testSearchLargeStore, Search},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer recoverFixture(t)
			if c.caps&tc.needs != tc.needs {
				t.Skipf("the backend does not declare %s (optional)", tc.needs&^c.caps)
			}
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
	if c.reopen != nil {
		t.Run("SurvivesReopen", func(t *testing.T) { testReopen(t, newStore(t), c.reopen) })
	}
	t.Run("Manager", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			fn   func(t *testing.T, newStore func(t *testing.T) storage.Storage)
		}{
			{"Lifecycle", testManagerLifecycle},
			{"Membership", testManagerMembership},
			{"Tokens", testManagerTokens},
			{"FeedUnderConcurrentWriters", testFeedUnderConcurrentWriters},
			{"PrincipalGrid", func(t *testing.T, newStore func(t *testing.T) storage.Storage) {
				testPrincipalGrid(t, newStore, c.gridOnly)
			}},
			{"PrefetchAgreesWithView", testPrefetchAgreesWithView},
			{"RoundTrips", testRoundTrips},
		} {
			t.Run(tc.name, func(t *testing.T) {
				defer recoverFixture(t)
				authz := tc.name == "PrincipalGrid" || tc.name == "PrefetchAgreesWithView" || tc.name == "RoundTrips"
				switch {
				case authz && c.skipGrid != "":
					t.Skip(c.skipGrid)
				case tc.name == "PrefetchAgreesWithView" && c.caps&Prefetch == 0:
					t.Skip("the backend does not declare Prefetch (optional)")
				case tc.name == "RoundTrips" && (c.caps&Prefetch == 0 || !counts):
					t.Skip("the backend does not count its round trips (storagetest.RoundTripCounter) or has no Prefetch")
				}
				tc.fn(t, newStore)
			})
		}
	})
}

var ctx = context.Background()

// t0 is a fixed UTC time to the microsecond without monotonic reading, as the
// Manager stores times.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

func user(id string) member.User {
	return member.User{ID: id, Email: id + "@example.com", Name: "User " + id, CreatedAt: t0, UpdatedAt: t0}
}

func ws(id, slug string) workspace.Workspace {
	return workspace.Workspace{ID: id, Slug: slug, Name: "Workspace " + slug, Status: workspace.Active,
		Metadata: map[string]string{"plan": "free"}, OwnerID: "u1", CreatedAt: t0, UpdatedAt: t0}
}

func mem(wsID, userID string, role rbac.Role) member.Member {
	return member.Member{WorkspaceID: wsID, UserID: userID, Role: role, JoinedAt: t0, UpdatedAt: t0}
}

func inv(id, wsID, hash string) member.Invitation {
	return member.Invitation{ID: id, WorkspaceID: wsID, Email: "x@example.com", Role: rbac.Editor, InviterID: "u1",
		SecretHash: []byte(hash), Hint: "abcd", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

func tok(id, wsID, userID, hash string) token.Token {
	k := token.Workspace
	if wsID == "" {
		k = token.Personal
	}
	return token.Token{ID: id, Kind: k, Name: "ci", UserID: userID, WorkspaceID: wsID, Role: rbac.Editor,
		Hash: []byte(hash), Hint: "wxyz", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
}

func evt(id, wsID string) storage.Event {
	return storage.Event{ID: id, Type: "workspace.updated", WorkspaceID: wsID, Actor: "user:u1", Subject: "u2",
		Data: map[string]string{"k": "v", "näme": "Ünïcode ✓", "empty": ""}, Time: t0}
}

func update(t *testing.T, s storage.Storage, fn func(tx storage.ReadWriter) error) {
	t.Helper()
	defer recoverFixture(t)
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s storage.Storage, fn func(tx storage.Reader) error) {
	t.Helper()
	defer recoverFixture(t)
	if err := s.View(ctx, fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// users creates users, so that the records a test writes next are referentially
// valid (a backend with foreign keys must pass the kit).
func users(tx storage.ReadWriter, ids ...string) {
	for _, id := range ids {
		must(tx.CreateUser(user(id)))
	}
}

// must fails the running test with a fixture's error. It panics with a
// fixtureError, which the kit's subtests (and update, view and Dump) turn into that
// test's failure: one bad fixture fails one test, never a third-party backend's
// whole test binary. Inside Update the backend rolls back first, as for any panic.
func must(err error) {
	if err != nil {
		panic(fixtureError{err})
	}
}

// fixtureError is what must panics with.
type fixtureError struct{ err error }

// recoverFixture, deferred, turns a fixtureError panic into t's failure and lets
// every other panic through.
func recoverFixture(t testing.TB) {
	if r := recover(); r != nil {
		fe, ok := r.(fixtureError)
		if !ok {
			panic(r)
		}
		t.Helper()
		t.Fatalf("fixture: %v", fe.err)
	}
}

// seed writes one record of every kind.
func seed(t *testing.T, s storage.Storage) {
	t.Helper()
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.CreateUser(user("u1")))
		must(tx.CreateUser(user("u2")))
		w := ws("ws_1", "alpha")
		w.ExternalID = "ext-1"
		must(tx.CreateWorkspace(w))
		must(tx.CreateMember(mem("ws_1", "u1", rbac.Admin)))
		must(tx.CreateInvitation(inv("inv_1", "ws_1", "ihash1")))
		must(tx.CreateToken(tok("tok_1", "ws_1", "u1", "thash1")))
		must(tx.AppendEvent(evt("evt_1", "ws_1")))
		must(tx.CreateConsumer(consumer("c1")))
		must(tx.CreateWebhook(endpoint("whk_1", "ws_1")))
		must(tx.CreateWebhookAttempt(attempt("whk_1", "wha_1")))
		return tx.AddCounter("workspaces", 1)
	})
}

func dump(t *testing.T, s storage.Storage) string { return Dump(t, s) }

// Dump renders every record of s as one string, for "nothing changed" assertions:
// compare a Dump before and after a call. It reads through the contract only, so it
// works on any backend: users with their tokens (personal and workspace) and
// memberships, workspaces with their members, invitations, tokens and audit log,
// the feed, every counter and every setting, the consumers, and the webhooks with
// their attempts. A record whose parent is missing
// (which Verify reports) is not reached.
func Dump(t testing.TB, s storage.Storage) string {
	t.Helper()
	defer recoverFixture(t)
	var out []any
	add := func(v any) bool { out = append(out, v); return true }
	err := s.View(ctx, func(tx storage.Reader) error {
		must(tx.ScanUsers("", func(u member.User) bool {
			add(u)
			must(tx.ScanUserTokens(u.ID, "", func(k token.Token) bool { return add(k) }))
			must(tx.ScanUserMemberships(u.ID, "", func(m member.Member) bool { return add(m) }))
			return true
		}))
		must(tx.ScanWorkspaces("", func(w workspace.Workspace) bool {
			add(w)
			must(tx.ScanMembers(w.ID, "", func(m member.Member) bool { return add(m) }))
			must(tx.ScanInvitations(w.ID, "", func(i member.Invitation) bool { return add(i) }))
			must(tx.ScanWorkspaceTokens(w.ID, "", func(k token.Token) bool { return add(k) }))
			must(tx.ScanWorkspaceEvents(w.ID, "", func(e storage.Event) bool { return add(e) }))
			return true
		}))
		add("feed")
		must(tx.ScanEvents("", func(e storage.Event) bool { return add(e) }))
		add("counters")
		must(tx.ScanCounters(func(name string, n int64) bool { return add(name) && add(n) }))
		add("consumers")
		must(tx.ScanConsumers("", func(c storage.Consumer) bool { return add(c) }))
		add("webhooks")
		must(tx.ScanWebhooks("", func(e webhook.Endpoint) bool {
			add(e)
			must(tx.ScanWebhookAttempts(e.ID, "", func(a webhook.Attempt) bool { return add(a) }))
			return true
		}))
		for _, name := range storage.SettingNames {
			v, err := tx.Setting(name)
			if !errors.Is(err, storage.ErrNotFound) {
				must(err)
			}
			out = append(out, name, v)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return fmt.Sprintf("%+v", out)
}

func wantKind(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: got error %v, want %v", what, err, kind)
	}
}
