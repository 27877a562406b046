// Package storagetest is the conformance suite every tenancy storage backend passes.
//
// A backend's conformance test is one line:
//
//	func TestConformance(t *testing.T) { storagetest.Run(t, newStore) }
//
// Every subtest gets a fresh store from newStore. Backends that persist data also pass
// WithReopen, and the suite checks that everything survives a close and reopen.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// Option adjusts the suite.
type Option func(*config)

type config struct {
	reopen func(t *testing.T, s storage.Storage) storage.Storage
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
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Storage)
	}{
		{"NotFound", testNotFound},
		{"RoundTrip", testRoundTrip},
		{"UniqueIndexes", testUniqueIndexes},
		{"InvalidKeysRefused", testInvalidKeysRefused},
		{"IndexesFollowUpdates", testIndexesFollowUpdates},
		{"DeleteCleansIndexes", testDeleteCleansIndexes},
		{"LookupsSeeUpdates", testLookupsSeeUpdates},
		{"FailedUpdateRollsBack", testFailedUpdateRollsBack},
		{"PanicRollsBack", testPanicRollsBack},
		{"SeesOwnWrites", testSeesOwnWrites},
		{"ReadTxRefusesWrites", testReadTxRefusesWrites},
		{"ScanOrderAndCursor", testScanOrderAndCursor},
		{"ChildScans", testChildScans},
		{"Events", testEvents},
		{"ValuesAreCopies", testValuesAreCopies},
		{"OnCommit", testOnCommit},
		{"Counters", testCounters},
		{"ParallelWriters", testParallelWriters},
		{"CanceledContext", testCanceledContext},
		{"UseAfterClose", testUseAfterClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
	if c.reopen != nil {
		t.Run("SurvivesReopen", func(t *testing.T) { testReopen(t, newStore(t), c.reopen) })
	}
	t.Run("Manager", func(t *testing.T) {
		t.Run("PrincipalGrid", func(t *testing.T) { testPrincipalGrid(t, newStore) })
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
	return storage.Event{ID: id, Type: "workspace.updated", WorkspaceID: wsID, Actor: "user:u1",
		Data: map[string]string{"k": "v"}, Time: t0}
}

func update(t *testing.T, s storage.Storage, fn func(tx storage.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s storage.Storage, fn func(tx storage.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// users creates users, so that the records a test writes next are referentially
// valid (a backend with foreign keys must pass the kit).
func users(tx storage.Tx, ids ...string) {
	for _, id := range ids {
		must(tx.CreateUser(user(id)))
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// seed writes one record of every kind.
func seed(t *testing.T, s storage.Storage) {
	t.Helper()
	update(t, s, func(tx storage.Tx) error {
		must(tx.CreateUser(user("u1")))
		must(tx.CreateUser(user("u2")))
		w := ws("ws_1", "alpha")
		w.ExternalID = "ext-1"
		must(tx.CreateWorkspace(w))
		must(tx.CreateMember(mem("ws_1", "u1", rbac.Admin)))
		must(tx.CreateInvitation(inv("inv_1", "ws_1", "ihash1")))
		must(tx.CreateToken(tok("tok_1", "ws_1", "u1", "thash1")))
		must(tx.AppendEvent(evt("evt_1", "ws_1")))
		return tx.AddCounter("workspaces", 1)
	})
}

func dump(t *testing.T, s storage.Storage) string { return Dump(t, s) }

// Dump renders every record of s as one string, for "nothing changed" assertions:
// compare a Dump before and after a call. It reads through the contract only, so it
// works on any backend: users with their tokens (personal and workspace) and
// memberships, workspaces with their members, invitations, tokens and audit log,
// the feed, every counter and every setting. A record whose parent is missing
// (which Verify reports) is not reached.
func Dump(t testing.TB, s storage.Storage) string {
	t.Helper()
	var out []any
	add := func(v any) bool { out = append(out, v); return true }
	err := s.View(ctx, func(tx storage.Tx) error {
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

func testNotFound(t *testing.T, s storage.Storage) {
	view(t, s, func(tx storage.Tx) error {
		_, err := tx.GetUser("nope")
		wantKind(t, "GetUser", err, storage.ErrNotFound)
		_, err = tx.GetUserByEmail("nope@example.com")
		wantKind(t, "GetUserByEmail", err, storage.ErrNotFound)
		_, err = tx.GetWorkspace("ws_nope")
		wantKind(t, "GetWorkspace", err, storage.ErrNotFound)
		_, err = tx.GetWorkspaceBySlug("nope")
		wantKind(t, "GetWorkspaceBySlug", err, storage.ErrNotFound)
		_, err = tx.GetWorkspaceByExternalID("nope")
		wantKind(t, "GetWorkspaceByExternalID", err, storage.ErrNotFound)
		_, err = tx.GetMember("ws_nope", "u1")
		wantKind(t, "GetMember", err, storage.ErrNotFound)
		_, err = tx.GetInvitation("inv_nope")
		wantKind(t, "GetInvitation", err, storage.ErrNotFound)
		_, err = tx.GetInvitationByHash([]byte("nope"))
		wantKind(t, "GetInvitationByHash", err, storage.ErrNotFound)
		_, err = tx.GetToken("tok_nope")
		wantKind(t, "GetToken", err, storage.ErrNotFound)
		_, err = tx.GetTokenByHash([]byte("nope"))
		wantKind(t, "GetTokenByHash", err, storage.ErrNotFound)
		n, err := tx.Counter("nope")
		if err != nil || n != 0 {
			t.Errorf("Counter of a missing name = %d, %v; want 0, nil", n, err)
		}
		return nil
	})
	// Each in its own transaction: after a write error, a transaction is abandoned.
	for name, fn := range map[string]func(tx storage.Tx) error{
		"PurgeWorkspace":   func(tx storage.Tx) error { _, err := tx.PurgeWorkspace("ws_nope"); return err },
		"DeleteMember":     func(tx storage.Tx) error { return tx.DeleteMember("ws_nope", "u1") },
		"DeleteInvitation": func(tx storage.Tx) error { return tx.DeleteInvitation("inv_nope") },
		"DeleteToken":      func(tx storage.Tx) error { return tx.DeleteToken("tok_nope") },
		// Put… only replaces: a missing record is not created.
		"PutUser":       func(tx storage.Tx) error { return tx.PutUser(user("u1")) },
		"PutWorkspace":  func(tx storage.Tx) error { return tx.PutWorkspace(ws("ws_1", "alpha")) },
		"PutMember":     func(tx storage.Tx) error { return tx.PutMember(mem("ws_1", "u1", rbac.Admin)) },
		"PutInvitation": func(tx storage.Tx) error { return tx.PutInvitation(inv("inv_1", "ws_1", "h")) },
		"PutToken":      func(tx storage.Tx) error { return tx.PutToken(tok("tok_1", "", "u1", "h")) },
		"Setting":       func(tx storage.Tx) error { _, err := tx.Setting("nope"); return err },
	} {
		wantKind(t, name, s.Update(ctx, fn), storage.ErrNotFound)
	}
	// TouchToken skips a token that is gone: the usage flush races deletions.
	update(t, s, func(tx storage.Tx) error { return tx.TouchToken("tok_nope", t0) })
	if d := dump(t, s); strings.Contains(d, "tok_nope") {
		t.Errorf("TouchToken created a token: %s", d)
	}
}

func testRoundTrip(t *testing.T, s storage.Storage) {
	seed(t, s)
	view(t, s, func(tx storage.Tx) error {
		check := func(what string, got, want any, err error) {
			t.Helper()
			if err != nil {
				t.Errorf("%s: %v", what, err)
			} else if !reflect.DeepEqual(got, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
			}
		}
		u, err := tx.GetUser("u1")
		check("GetUser", u, user("u1"), err)
		u, err = tx.GetUserByEmail("u2@example.com")
		check("GetUserByEmail", u, user("u2"), err)
		want := ws("ws_1", "alpha")
		want.ExternalID = "ext-1"
		w, err := tx.GetWorkspace("ws_1")
		check("GetWorkspace", w, want, err)
		w, err = tx.GetWorkspaceBySlug("alpha")
		check("GetWorkspaceBySlug", w, want, err)
		w, err = tx.GetWorkspaceByExternalID("ext-1")
		check("GetWorkspaceByExternalID", w, want, err)
		m, err := tx.GetMember("ws_1", "u1")
		check("GetMember", m, mem("ws_1", "u1", rbac.Admin), err)
		i, err := tx.GetInvitation("inv_1")
		check("GetInvitation", i, inv("inv_1", "ws_1", "ihash1"), err)
		i, err = tx.GetInvitationByHash([]byte("ihash1"))
		check("GetInvitationByHash", i, inv("inv_1", "ws_1", "ihash1"), err)
		k, err := tx.GetToken("tok_1")
		check("GetToken", k, tok("tok_1", "ws_1", "u1", "thash1"), err)
		k, err = tx.GetTokenByHash([]byte("thash1"))
		check("GetTokenByHash", k, tok("tok_1", "ws_1", "u1", "thash1"), err)
		var evs []storage.Event
		must(tx.ScanEvents("", func(e storage.Event) bool {
			if e.Position == "" {
				t.Errorf("event %s has no position", e.ID)
			}
			e.Position = "" // the backend's: compared in Events
			evs = append(evs, e)
			return true
		}))
		check("ScanEvents", evs, []storage.Event{evt("evt_1", "ws_1")}, nil)
		n, err := tx.Counter("workspaces")
		check("Counter", n, int64(1), err)
		return nil
	})
}

func testUniqueIndexes(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	cases := []struct {
		index string
		fn    func(tx storage.Tx) error
	}{
		{storage.IndexUserID, func(tx storage.Tx) error { u := user("u1"); u.Email = "other@example.com"; return tx.CreateUser(u) }},
		{storage.IndexUserEmail, func(tx storage.Tx) error { u := user("u3"); u.Email = "u1@example.com"; return tx.CreateUser(u) }},
		{storage.IndexUserEmail, func(tx storage.Tx) error { u := user("u2"); u.Email = "u1@example.com"; return tx.PutUser(u) }},
		{storage.IndexWorkspaceID, func(tx storage.Tx) error { return tx.CreateWorkspace(ws("ws_1", "other")) }},
		{storage.IndexWorkspaceSlug, func(tx storage.Tx) error { return tx.CreateWorkspace(ws("ws_2", "alpha")) }},
		{storage.IndexWorkspaceExternalID, func(tx storage.Tx) error {
			w := ws("ws_2", "beta")
			w.ExternalID = "ext-1"
			return tx.CreateWorkspace(w)
		}},
		{storage.IndexMember, func(tx storage.Tx) error { return tx.CreateMember(mem("ws_1", "u1", rbac.Viewer)) }},
		{storage.IndexInvitationID, func(tx storage.Tx) error { return tx.CreateInvitation(inv("inv_1", "ws_1", "ihash9")) }},
		{storage.IndexInvitationHash, func(tx storage.Tx) error { return tx.CreateInvitation(inv("inv_2", "ws_1", "ihash1")) }},
		{storage.IndexTokenID, func(tx storage.Tx) error { return tx.CreateToken(tok("tok_1", "ws_1", "u1", "thash9")) }},
		{storage.IndexTokenHash, func(tx storage.Tx) error { return tx.CreateToken(tok("tok_2", "ws_1", "u1", "thash1")) }},
	}
	for _, c := range cases {
		err := s.Update(ctx, c.fn)
		wantKind(t, c.index, err, storage.ErrExists)
		if got := storage.ConflictIndex(err); got != c.index {
			t.Errorf("a collision on %s names index %q", c.index, got)
		}
	}
	if after := dump(t, s); after != before {
		t.Errorf("refused writes changed the store:\nbefore %s\nafter  %s", before, after)
	}
	// Re-putting a record under its own unique keys is an update, not a conflict.
	update(t, s, func(tx storage.Tx) error {
		w := ws("ws_1", "alpha")
		w.ExternalID = "ext-1"
		w.Name = "Renamed"
		must(tx.PutWorkspace(w))
		must(tx.PutUser(user("u1")))
		must(tx.PutMember(mem("ws_1", "u1", rbac.Admin)))
		must(tx.PutInvitation(inv("inv_1", "ws_1", "ihash1")))
		return tx.PutToken(tok("tok_1", "ws_1", "u1", "thash1"))
	})
}

// Records without the keys they are stored under are refused alike by every
// backend, and a hash may hold any byte.
func testInvalidKeysRefused(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	noEmail := user("u9")
	noEmail.Email = ""
	noSlug := ws("ws_9", "")
	noHashInv := inv("inv_9", "ws_1", "")
	noHashTok := tok("tok_9", "ws_1", "u1", "")
	cases := map[string]func(tx storage.Tx) error{
		"user without ID":          func(tx storage.Tx) error { return tx.CreateUser(user("")) },
		"user without email":       func(tx storage.Tx) error { return tx.CreateUser(noEmail) },
		"user ID with a zero byte": func(tx storage.Tx) error { return tx.CreateUser(user("a\x00b")) },
		"workspace without slug":   func(tx storage.Tx) error { return tx.CreateWorkspace(noSlug) },
		"member without user":      func(tx storage.Tx) error { return tx.CreateMember(mem("ws_1", "", rbac.Viewer)) },
		"member, zero byte":        func(tx storage.Tx) error { return tx.CreateMember(mem("ws_1\x00u", "x", rbac.Viewer)) },
		"invitation without hash":  func(tx storage.Tx) error { return tx.CreateInvitation(noHashInv) },
		"token without hash":       func(tx storage.Tx) error { return tx.CreateToken(noHashTok) },
		"event without ID":         func(tx storage.Tx) error { return tx.AppendEvent(evt("", "ws_1")) },
	}
	for name, fn := range cases {
		wantKind(t, name, s.Update(ctx, fn), storage.ErrInvalidKey)
	}
	if after := dump(t, s); after != before {
		t.Errorf("refused writes changed the store")
	}
	update(t, s, func(tx storage.Tx) error { // zero bytes are fine inside hashes
		must(tx.CreateInvitation(inv("inv_z", "ws_1", "a\x00b")))
		return tx.CreateToken(tok("tok_z", "ws_1", "u1", "\x00\x00"))
	})
	view(t, s, func(tx storage.Tx) error {
		if k, err := tx.GetTokenByHash([]byte("\x00\x00")); err != nil || k.ID != "tok_z" {
			t.Errorf("a hash with zero bytes: %v %v", k.ID, err)
		}
		return nil
	})
}

func testIndexesFollowUpdates(t *testing.T, s storage.Storage) {
	seed(t, s)
	update(t, s, func(tx storage.Tx) error {
		u := user("u1")
		u.Email = "new@example.com"
		must(tx.PutUser(u))
		w := ws("ws_1", "renamed")
		w.ExternalID = "ext-2"
		must(tx.PutWorkspace(w))
		must(tx.PutInvitation(inv("inv_1", "ws_1", "ihash2")))
		return tx.PutToken(tok("tok_1", "ws_1", "u1", "thash2"))
	})
	view(t, s, func(tx storage.Tx) error {
		_, err := tx.GetUserByEmail("u1@example.com")
		wantKind(t, "old email", err, storage.ErrNotFound)
		if u, err := tx.GetUserByEmail("new@example.com"); err != nil || u.ID != "u1" {
			t.Errorf("new email -> %v, %v", u.ID, err)
		}
		_, err = tx.GetWorkspaceBySlug("alpha")
		wantKind(t, "old slug", err, storage.ErrNotFound)
		if w, err := tx.GetWorkspaceBySlug("renamed"); err != nil || w.ID != "ws_1" {
			t.Errorf("new slug -> %v, %v", w.ID, err)
		}
		_, err = tx.GetWorkspaceByExternalID("ext-1")
		wantKind(t, "old external ID", err, storage.ErrNotFound)
		_, err = tx.GetInvitationByHash([]byte("ihash1"))
		wantKind(t, "old invitation hash", err, storage.ErrNotFound)
		if i, err := tx.GetInvitationByHash([]byte("ihash2")); err != nil || i.ID != "inv_1" {
			t.Errorf("new invitation hash -> %v, %v", i.ID, err)
		}
		_, err = tx.GetTokenByHash([]byte("thash1"))
		wantKind(t, "old token hash", err, storage.ErrNotFound)
		if k, err := tx.GetTokenByHash([]byte("thash2")); err != nil || k.ID != "tok_1" {
			t.Errorf("new token hash -> %v, %v", k.ID, err)
		}
		return nil
	})
	// The freed keys can be taken by others now.
	update(t, s, func(tx storage.Tx) error {
		u := user("u3")
		u.Email = "u1@example.com"
		must(tx.CreateUser(u))
		w := ws("ws_2", "alpha")
		w.ExternalID = "ext-1"
		must(tx.CreateWorkspace(w))
		must(tx.CreateInvitation(inv("inv_2", "ws_2", "ihash1")))
		return tx.CreateToken(tok("tok_2", "ws_2", "u1", "thash1"))
	})
}

// Every lookup returns the latest version of a record, whatever index it goes
// through: a revoked token must look revoked when found by its hash.
func testLookupsSeeUpdates(t *testing.T, s storage.Storage) {
	seed(t, s)
	later := t0.Add(time.Hour)
	update(t, s, func(tx storage.Tx) error {
		k := tok("tok_1", "ws_1", "u1", "thash1")
		k.RevokedAt, k.LastUsedAt = later, later
		must(tx.PutToken(k))
		i := inv("inv_1", "ws_1", "ihash1")
		i.AcceptedAt, i.AcceptedBy = later, "u2"
		must(tx.PutInvitation(i))
		u := user("u1")
		u.Platform = true
		must(tx.PutUser(u))
		w := ws("ws_1", "alpha")
		w.ExternalID, w.Status, w.DeletedAt = "ext-1", workspace.Deleted, later
		return tx.PutWorkspace(w)
	})
	view(t, s, func(tx storage.Tx) error {
		if k, err := tx.GetTokenByHash([]byte("thash1")); err != nil || !k.RevokedAt.Equal(later) || !k.LastUsedAt.Equal(later) {
			t.Errorf("token by hash after an update: %+v %v", k, err)
		}
		if k, err := tx.GetToken("tok_1"); err != nil || !k.RevokedAt.Equal(later) {
			t.Errorf("token by ID after an update: %+v %v", k, err)
		}
		if i, err := tx.GetInvitationByHash([]byte("ihash1")); err != nil || i.AcceptedBy != "u2" {
			t.Errorf("invitation by hash after an update: %+v %v", i, err)
		}
		if u, err := tx.GetUserByEmail("u1@example.com"); err != nil || !u.Platform {
			t.Errorf("user by email after an update: %+v %v", u, err)
		}
		for _, get := range []func() (workspace.Workspace, error){
			func() (workspace.Workspace, error) { return tx.GetWorkspace("ws_1") },
			func() (workspace.Workspace, error) { return tx.GetWorkspaceBySlug("alpha") },
			func() (workspace.Workspace, error) { return tx.GetWorkspaceByExternalID("ext-1") },
		} {
			if w, err := get(); err != nil || w.Status != workspace.Deleted {
				t.Errorf("workspace after an update: %+v %v", w.Status, err)
			}
		}
		var scanned []token.Token
		must(tx.ScanWorkspaceTokens("ws_1", "", func(k token.Token) bool { scanned = append(scanned, k); return true }))
		if len(scanned) != 1 || scanned[0].RevokedAt.IsZero() {
			t.Errorf("token scan after an update: %+v", scanned)
		}
		return nil
	})
}

func testDeleteCleansIndexes(t *testing.T, s storage.Storage) {
	seed(t, s)
	update(t, s, func(tx storage.Tx) error {
		must(tx.DeleteToken("tok_1"))
		must(tx.DeleteInvitation("inv_1"))
		must(tx.DeleteMember("ws_1", "u1"))
		_, err := tx.PurgeWorkspace("ws_1")
		return err
	})
	view(t, s, func(tx storage.Tx) error {
		_, err := tx.GetWorkspaceBySlug("alpha")
		wantKind(t, "slug after delete", err, storage.ErrNotFound)
		_, err = tx.GetWorkspaceByExternalID("ext-1")
		wantKind(t, "external ID after delete", err, storage.ErrNotFound)
		_, err = tx.GetInvitationByHash([]byte("ihash1"))
		wantKind(t, "invitation hash after delete", err, storage.ErrNotFound)
		_, err = tx.GetTokenByHash([]byte("thash1"))
		wantKind(t, "token hash after delete", err, storage.ErrNotFound)
		count := 0
		must(tx.ScanUserMemberships("u1", "", func(member.Member) bool { count++; return true }))
		must(tx.ScanUserTokens("u1", "", func(token.Token) bool { count++; return true }))
		must(tx.ScanWorkspaceTokens("ws_1", "", func(token.Token) bool { count++; return true }))
		must(tx.ScanInvitations("ws_1", "", func(member.Invitation) bool { count++; return true }))
		must(tx.ScanWorkspaceEvents("ws_1", "", func(storage.Event) bool { count++; return true }))
		must(tx.ScanEvents("", func(storage.Event) bool { count++; return true }))
		if count != 0 {
			t.Errorf("%d index entries survive their records", count)
		}
		return nil
	})
	// Every freed unique key is reusable.
	update(t, s, func(tx storage.Tx) error {
		w := ws("ws_9", "alpha")
		w.ExternalID = "ext-1"
		must(tx.CreateWorkspace(w))
		must(tx.CreateInvitation(inv("inv_9", "ws_9", "ihash1")))
		return tx.CreateToken(tok("tok_9", "ws_9", "u1", "thash1"))
	})
}

var errBoom = errors.New("boom")

func testFailedUpdateRollsBack(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	// Many writes, then the last one fails: none of them may survive.
	err := s.Update(ctx, func(tx storage.Tx) error {
		must(tx.CreateUser(user("u9")))
		must(tx.CreateWorkspace(ws("ws_9", "zeta")))
		must(tx.CreateMember(mem("ws_9", "u9", rbac.Admin)))
		must(tx.CreateInvitation(inv("inv_9", "ws_9", "ihash9")))
		must(tx.CreateToken(tok("tok_9", "ws_9", "u9", "thash9")))
		must(tx.AppendEvent(evt("evt_9", "ws_9")))
		must(tx.DeleteToken("tok_1"))
		must(tx.DeleteMember("ws_1", "u1"))
		must(tx.AddCounter("workspaces", 5))
		return tx.CreateWorkspace(ws("ws_8", "alpha")) // slug taken: fails last
	})
	wantKind(t, "failing last write", err, storage.ErrExists)
	if after := dump(t, s); after != before {
		t.Errorf("a failed Update left changes behind:\nbefore %s\nafter  %s", before, after)
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		must(tx.CreateUser(user("u9")))
		return errBoom
	})
	wantKind(t, "fn error", err, errBoom)
	if after := dump(t, s); after != before {
		t.Errorf("an Update whose fn failed left changes behind")
	}
}

func testPanicRollsBack(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	func() {
		defer func() {
			if p := recover(); p != "kaboom" {
				t.Errorf("recovered %v, want the panic re-raised", p)
			}
		}()
		_ = s.Update(ctx, func(tx storage.Tx) error {
			must(tx.CreateUser(user("u9")))
			must(tx.DeleteToken("tok_1"))
			panic("kaboom")
		})
	}()
	if after := dump(t, s); after != before {
		t.Errorf("a panicking Update left changes behind")
	}
	// The store still works.
	update(t, s, func(tx storage.Tx) error { return tx.CreateUser(user("u9")) })
}

func testSeesOwnWrites(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.Tx) error {
		users(tx, "u1")
		must(tx.CreateWorkspace(ws("ws_1", "alpha")))
		if w, err := tx.GetWorkspaceBySlug("alpha"); err != nil || w.ID != "ws_1" {
			t.Errorf("own workspace not visible: %v", err)
		}
		must(tx.CreateMember(mem("ws_1", "u1", rbac.Viewer)))
		must(tx.PutMember(mem("ws_1", "u1", rbac.Editor)))
		if m, err := tx.GetMember("ws_1", "u1"); err != nil || m.Role != rbac.Editor {
			t.Errorf("own member update not visible: %+v %v", m, err)
		}
		must(tx.AddCounter("c", 2))
		if n, _ := tx.Counter("c"); n != 2 {
			t.Errorf("Counter after own add = %d, want 2", n)
		}
		must(tx.DeleteMember("ws_1", "u1"))
		_, err := tx.GetMember("ws_1", "u1")
		wantKind(t, "own delete", err, storage.ErrNotFound)
		return nil
	})
}

func testReadTxRefusesWrites(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	view(t, s, func(tx storage.Tx) error {
		if tx.Writable() {
			t.Error("View tx says it is writable")
		}
		_, purgeErr := tx.PurgeWorkspace("ws_1")
		writes := map[string]error{
			"CreateUser":       tx.CreateUser(user("u9")),
			"PutUser":          tx.PutUser(user("u1")),
			"CreateWorkspace":  tx.CreateWorkspace(ws("ws_9", "z")),
			"PutWorkspace":     tx.PutWorkspace(ws("ws_1", "alpha")),
			"PurgeWorkspace":   purgeErr,
			"CreateMember":     tx.CreateMember(mem("ws_1", "u2", rbac.Viewer)),
			"PutMember":        tx.PutMember(mem("ws_1", "u1", rbac.Viewer)),
			"DeleteMember":     tx.DeleteMember("ws_1", "u1"),
			"CreateInvitation": tx.CreateInvitation(inv("inv_9", "ws_1", "h")),
			"PutInvitation":    tx.PutInvitation(inv("inv_1", "ws_1", "h")),
			"DeleteInvitation": tx.DeleteInvitation("inv_1"),
			"CreateToken":      tx.CreateToken(tok("tok_9", "ws_1", "u1", "h")),
			"PutToken":         tx.PutToken(tok("tok_1", "ws_1", "u1", "h")),
			"TouchToken":       tx.TouchToken("tok_1", t0.Add(time.Hour)),
			"DeleteToken":      tx.DeleteToken("tok_1"),
			"AppendEvent":      tx.AppendEvent(evt("evt_9", "ws_1")),
			"AddCounter":       tx.AddCounter("workspaces", 1),
			"PutSetting":       tx.PutSetting("x", []byte("y")),
		}
		for name, err := range writes {
			wantKind(t, name, err, storage.ErrReadOnly)
		}
		return nil
	})
	if after := dump(t, s); after != before {
		t.Errorf("a read transaction changed the store")
	}
}

func testScanOrderAndCursor(t *testing.T, s storage.Storage) {
	const n = 57
	update(t, s, func(tx storage.Tx) error {
		users(tx, "u1")
		for i := n - 1; i >= 0; i-- { // inserted in reverse order
			must(tx.CreateWorkspace(ws(fmt.Sprintf("ws_%03d", i), fmt.Sprintf("s-%03d", i))))
		}
		return nil
	})
	var got []string
	after := ""
	for page := 0; page < 100; page++ {
		var ids []string
		view(t, s, func(tx storage.Tx) error {
			return tx.ScanWorkspaces(after, func(w workspace.Workspace) bool {
				ids = append(ids, w.ID)
				return len(ids) < 10
			})
		})
		if len(ids) == 0 {
			break
		}
		got = append(got, ids...)
		after = ids[len(ids)-1]
	}
	if len(got) != n {
		t.Fatalf("paging saw %d workspaces, want %d", len(got), n)
	}
	for i, id := range got {
		if want := fmt.Sprintf("ws_%03d", i); id != want {
			t.Fatalf("position %d: %s, want %s (order must be by ID, each once)", i, id, want)
		}
	}
	// A cursor that names no record starts after where it would be.
	var first string
	view(t, s, func(tx storage.Tx) error {
		return tx.ScanWorkspaces("ws_010x", func(w workspace.Workspace) bool { first = w.ID; return false })
	})
	if first != "ws_011" {
		t.Errorf("scan after a missing key started at %q, want ws_011", first)
	}
}

func testChildScans(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.Tx) error {
		users(tx, "u", "u1", "u2", "u3")
		for _, w := range []string{"ws_a", "ws_b", "ws_c"} {
			must(tx.CreateWorkspace(ws(w, w[3:])))
			for _, u := range []string{"u1", "u2", "u3"} {
				must(tx.CreateMember(mem(w, u, rbac.Viewer)))
				must(tx.CreateToken(tok("tok_"+w+u, w, u, "h"+w+u)))
			}
			must(tx.CreateInvitation(inv("inv_"+w+"1", w, "i1"+w)))
			must(tx.CreateInvitation(inv("inv_"+w+"2", w, "i2"+w)))
		}
		must(tx.CreateToken(tok("tok_p", "", "u2", "hp"))) // personal
		// A user ID that is a prefix of another must not leak into its scans.
		must(tx.CreateMember(mem("ws_b", "u", rbac.Viewer)))
		return nil
	})
	view(t, s, func(tx storage.Tx) error {
		var got []string
		must(tx.ScanMembers("ws_b", "u1", func(m member.Member) bool { got = append(got, m.UserID); return true }))
		assertList(t, "ScanMembers(ws_b, after u1)", got, "u2", "u3")
		got = nil
		must(tx.ScanUserMemberships("u2", "", func(m member.Member) bool { got = append(got, m.WorkspaceID); return true }))
		assertList(t, "ScanUserMemberships(u2)", got, "ws_a", "ws_b", "ws_c")
		got = nil
		must(tx.ScanUserMemberships("u", "", func(m member.Member) bool { got = append(got, m.WorkspaceID); return true }))
		assertList(t, "ScanUserMemberships(u)", got, "ws_b")
		got = nil
		must(tx.ScanInvitations("ws_c", "inv_ws_c1", func(i member.Invitation) bool { got = append(got, i.ID); return true }))
		assertList(t, "ScanInvitations(ws_c, after first)", got, "inv_ws_c2")
		got = nil
		must(tx.ScanWorkspaceTokens("ws_a", "", func(k token.Token) bool { got = append(got, k.ID); return true }))
		assertList(t, "ScanWorkspaceTokens(ws_a)", got, "tok_ws_au1", "tok_ws_au2", "tok_ws_au3")
		got = nil
		must(tx.ScanUserTokens("u2", "", func(k token.Token) bool { got = append(got, k.ID); return len(got) < 3 }))
		assertList(t, "ScanUserTokens(u2), stopped at 3", got, "tok_p", "tok_ws_au2", "tok_ws_bu2")
		fs, ok := tx.(storage.FullScanner)
		if !ok {
			return nil // the whole-table scans are optional
		}
		got = nil
		must(fs.ScanTokens("tok_ws_cu1", func(k token.Token) bool { got = append(got, k.ID); return true }))
		assertList(t, "ScanTokens(after tok_ws_cu1)", got, "tok_ws_cu2", "tok_ws_cu3")
		got = nil
		must(fs.ScanAllInvitations("", func(i member.Invitation) bool { got = append(got, i.ID); return true }))
		assertList(t, "ScanAllInvitations", got, "inv_ws_a1", "inv_ws_a2", "inv_ws_b1", "inv_ws_b2", "inv_ws_c1", "inv_ws_c2")
		got = nil
		must(fs.ScanAllMembers(func(m member.Member) bool { got = append(got, m.WorkspaceID+"/"+m.UserID); return len(got) < 5 }))
		assertList(t, "ScanAllMembers, stopped at 5", got, "ws_a/u1", "ws_a/u2", "ws_a/u3", "ws_b/u", "ws_b/u1")
		return nil
	})
}

func assertList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func testEvents(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.Tx) error {
		users(tx, "u1")
		must(tx.CreateWorkspace(ws("ws_a", "a")))
		must(tx.CreateWorkspace(ws("ws_b", "b")))
		must(tx.AppendEvent(evt("evt_1", "ws_a")))
		must(tx.AppendEvent(evt("evt_2", "ws_b")))
		return tx.AppendEvent(evt("evt_3", ""))
	})
	// IDs only name events: the backend orders the feed by positions it assigns,
	// here in commit order, whatever the IDs say.
	update(t, s, func(tx storage.Tx) error { return tx.AppendEvent(evt("evt_0", "ws_a")) })
	var all []storage.Event
	view(t, s, func(tx storage.Tx) error {
		return tx.ScanEvents("", func(e storage.Event) bool { all = append(all, e); return true })
	})
	var ids []string
	for i, e := range all {
		ids = append(ids, e.ID)
		if e.Position == "" || i > 0 && e.Position <= all[i-1].Position {
			t.Errorf("event %s has position %q after %q: positions must increase bytewise", e.ID, e.Position, all[max(i-1, 0)].Position)
		}
	}
	assertList(t, "ScanEvents", ids, "evt_1", "evt_2", "evt_3", "evt_0")
	if len(all) != 4 {
		t.FailNow()
	}
	view(t, s, func(tx storage.Tx) error {
		var got []string
		must(tx.ScanEvents(all[0].Position, func(e storage.Event) bool { got = append(got, e.ID); return true }))
		assertList(t, "ScanEvents(after the first)", got, "evt_2", "evt_3", "evt_0")
		got = nil
		must(tx.ScanWorkspaceEvents("ws_a", "", func(e storage.Event) bool { got = append(got, e.ID+"@"+e.Position); return true }))
		assertList(t, "ScanWorkspaceEvents(ws_a)", got, "evt_1@"+all[0].Position, "evt_0@"+all[3].Position)
		got = nil
		must(tx.ScanWorkspaceEvents("ws_a", all[0].Position, func(e storage.Event) bool { got = append(got, e.ID); return true }))
		assertList(t, "ScanWorkspaceEvents(ws_a, after the first)", got, "evt_0")
		return nil
	})
	// A rolled-back append leaves no event, and later events still sort after.
	_ = s.Update(ctx, func(tx storage.Tx) error { must(tx.AppendEvent(evt("evt_x", "ws_b"))); return errBoom })
	update(t, s, func(tx storage.Tx) error { return tx.AppendEvent(evt("evt_5", "ws_b")) })
	view(t, s, func(tx storage.Tx) error {
		var got []string
		must(tx.ScanEvents(all[3].Position, func(e storage.Event) bool { got = append(got, e.ID); return true }))
		assertList(t, "ScanEvents after a rollback", got, "evt_5")
		return nil
	})
}

func testValuesAreCopies(t *testing.T, s storage.Storage) {
	w := ws("ws_1", "alpha")
	i := inv("inv_1", "ws_1", "ihash1")
	k := tok("tok_1", "ws_1", "u1", "thash1")
	e := evt("evt_1", "ws_1")
	update(t, s, func(tx storage.Tx) error {
		users(tx, "u1")
		must(tx.CreateWorkspace(w))
		must(tx.CreateInvitation(i))
		must(tx.CreateToken(k))
		must(tx.AppendEvent(e))
		w.Metadata["plan"] = "mutated after put"
		i.SecretHash[0] = 'X'
		k.Hash[0] = 'X'
		e.Data["k"] = "mutated"
		return nil
	})
	view(t, s, func(tx storage.Tx) error {
		gw, _ := tx.GetWorkspace("ws_1")
		gi, _ := tx.GetInvitation("inv_1")
		gk, _ := tx.GetToken("tok_1")
		if gw.Metadata["plan"] != "free" || string(gi.SecretHash) != "ihash1" || string(gk.Hash) != "thash1" {
			t.Errorf("mutating a value after Put changed the store")
		}
		must(tx.ScanEvents("", func(ev storage.Event) bool {
			if ev.Data["k"] != "v" {
				t.Errorf("mutating an event after AppendEvent changed the store")
			}
			ev.Data["k"] = "mutated via scan"
			return true
		}))
		gw.Metadata["plan"] = "mutated after get"
		gi.SecretHash[0] = 'Y'
		gk.Hash[0] = 'Y'
		return nil
	})
	view(t, s, func(tx storage.Tx) error {
		gw, _ := tx.GetWorkspace("ws_1")
		gi, _ := tx.GetInvitationByHash([]byte("ihash1"))
		gk, _ := tx.GetTokenByHash([]byte("thash1"))
		if gw.Metadata["plan"] != "free" || gi.ID != "inv_1" || gk.ID != "tok_1" {
			t.Errorf("mutating a value returned by Get changed the store")
		}
		must(tx.ScanEvents("", func(ev storage.Event) bool {
			if ev.Data["k"] != "v" {
				t.Errorf("mutating a scanned event changed the store")
			}
			return true
		}))
		return nil
	})
}

func testOnCommit(t *testing.T, s storage.Storage) {
	var ran []string
	update(t, s, func(tx storage.Tx) error {
		tx.OnCommit(func() { ran = append(ran, "first") })
		tx.OnCommit(func() { ran = append(ran, "second") })
		if len(ran) != 0 {
			t.Error("OnCommit ran before the commit")
		}
		return tx.CreateUser(user("u1"))
	})
	assertList(t, "OnCommit after commit", ran, "first", "second")
	ran = nil
	_ = s.Update(ctx, func(tx storage.Tx) error {
		tx.OnCommit(func() { ran = append(ran, "rolled back") })
		return errBoom
	})
	view(t, s, func(tx storage.Tx) error {
		tx.OnCommit(func() { ran = append(ran, "read") })
		return nil
	})
	if len(ran) != 0 {
		t.Errorf("OnCommit ran without a commit: %v", ran)
	}
}

func testCounters(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.Tx) error {
		must(tx.AddCounter("a", 5))
		must(tx.AddCounter("a", -7))
		must(tx.AddCounter("b", 1))
		if n, err := tx.Counter("a"); err != nil || n != -2 {
			t.Errorf("Counter(a) in the writing transaction = %d, %v; want -2", n, err)
		}
		return nil
	})
	view(t, s, func(tx storage.Tx) error {
		if n, err := tx.Counter("a"); err != nil || n != -2 {
			t.Errorf("Counter(a) = %d, %v; want -2", n, err)
		}
		var got []string
		must(tx.ScanCounters(func(name string, n int64) bool { got = append(got, fmt.Sprint(name, "=", n)); return true }))
		assertList(t, "ScanCounters", got, "a=-2", "b=1")
		return nil
	})
}

func testParallelWriters(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.Tx) error { users(tx, "u1"); return nil })
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := 0
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("ws_%02d_%03d", g, i)
				err := s.Update(ctx, func(tx storage.Tx) error {
					if i%5 == 4 { // every fifth fails, in the middle of the others' batches
						must(tx.CreateWorkspace(ws(id, "fail-"+id[3:])))
						return errBoom
					}
					must(tx.CreateWorkspace(ws(id, "s-"+id[3:])))
					return tx.AddCounter("workspaces", 1)
				})
				if i%5 == 4 {
					if !errors.Is(err, errBoom) {
						t.Errorf("failing writer got %v", err)
					}
					continue
				}
				if err != nil {
					t.Errorf("writer %d: %v", g, err)
					continue
				}
				mu.Lock()
				committed++
				mu.Unlock()
			}
		}(g)
		wg.Add(1)
		go func() { // readers alongside
			defer wg.Done()
			for i := 0; i < each; i++ {
				_ = s.View(ctx, func(tx storage.Tx) error {
					n, _ := tx.Counter("workspaces")
					seen := int64(0)
					_ = tx.ScanWorkspaces("", func(workspace.Workspace) bool { seen++; return true })
					if seen != n {
						t.Errorf("a snapshot saw %d workspaces and counter %d", seen, n)
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx storage.Tx) error {
		n, _ := tx.Counter("workspaces")
		seen := 0
		must(tx.ScanWorkspaces("", func(w workspace.Workspace) bool {
			seen++
			if w.Slug[:5] == "fail-" {
				t.Errorf("a failed writer's workspace %s was committed", w.ID)
			}
			return true
		}))
		if int(n) != committed || seen != committed {
			t.Errorf("counter %d, workspaces %d, want %d committed", n, seen, committed)
		}
		return nil
	})
}

func testCanceledContext(t *testing.T, s storage.Storage) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err := s.Update(c, func(tx storage.Tx) error { ran = true; return tx.CreateUser(user("u1")) })
	wantKind(t, "Update with canceled context", err, context.Canceled)
	err = s.View(c, func(storage.Tx) error { ran = true; return nil })
	wantKind(t, "View with canceled context", err, context.Canceled)
	if ran {
		t.Error("fn ran under a canceled context")
	}
}

func testUseAfterClose(t *testing.T, s storage.Storage) {
	seed(t, s)
	var leaked storage.Tx
	update(t, s, func(tx storage.Tx) error { leaked = tx; return nil })
	wantKind(t, "write through a finished transaction", leaked.PutUser(user("u9")), storage.ErrClosed)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantKind(t, "View after Close", s.View(ctx, func(storage.Tx) error { return nil }), storage.ErrClosed)
	wantKind(t, "Update after Close", s.Update(ctx, func(storage.Tx) error { return nil }), storage.ErrClosed)
	wantKind(t, "second Close", s.Close(), storage.ErrClosed)
}

func testReopen(t *testing.T, s storage.Storage, reopen func(*testing.T, storage.Storage) storage.Storage) {
	seed(t, s)
	update(t, s, func(tx storage.Tx) error {
		must(tx.CreateToken(tok("tok_p", "", "u2", "hp")))
		must(tx.CreateMember(mem("ws_1", "u2", rbac.Viewer)))
		return nil
	})
	before := dump(t, s)
	s2 := reopen(t, s)
	t.Cleanup(func() { _ = s2.Close() })
	if after := dump(t, s2); after != before {
		t.Errorf("data changed across close and reopen:\nbefore %s\nafter  %s", before, after)
	}
	view(t, s2, func(tx storage.Tx) error {
		if _, err := tx.GetTokenByHash([]byte("hp")); err != nil {
			t.Errorf("token hash index lost on reopen: %v", err)
		}
		if _, err := tx.GetWorkspaceByExternalID("ext-1"); err != nil {
			t.Errorf("external ID index lost on reopen: %v", err)
		}
		return nil
	})
}
