package storagetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// The Tx suite, records: lookups, unique indexes, keys, scans and copies.

func testNotFound(t *testing.T, s storage.Storage) {
	view(t, s, func(tx storage.Reader) error {
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
	for name, fn := range map[string]func(tx storage.ReadWriter) error{
		"PurgeWorkspace":   func(tx storage.ReadWriter) error { _, err := tx.PurgeWorkspace("ws_nope"); return err },
		"DeleteMember":     func(tx storage.ReadWriter) error { return tx.DeleteMember("ws_nope", "u1") },
		"DeleteInvitation": func(tx storage.ReadWriter) error { return tx.DeleteInvitation("inv_nope") },
		"DeleteToken":      func(tx storage.ReadWriter) error { return tx.DeleteToken("tok_nope") },
		"DeleteUser":       func(tx storage.ReadWriter) error { return tx.DeleteUser("u_nope") },
		// Put… only replaces: a missing record is not created.
		"ReplaceUser":       func(tx storage.ReadWriter) error { return tx.ReplaceUser(user("u1")) },
		"ReplaceWorkspace":  func(tx storage.ReadWriter) error { return tx.ReplaceWorkspace(ws("ws_1", "alpha")) },
		"ReplaceMember":     func(tx storage.ReadWriter) error { return tx.ReplaceMember(mem("ws_1", "u1", rbac.Admin)) },
		"ReplaceInvitation": func(tx storage.ReadWriter) error { return tx.ReplaceInvitation(inv("inv_1", "ws_1", "h")) },
		"ReplaceToken":      func(tx storage.ReadWriter) error { return tx.ReplaceToken(tok("tok_1", "", "u1", "h")) },
		"Setting":           func(tx storage.ReadWriter) error { _, err := tx.Setting("nope"); return err },
	} {
		wantKind(t, name, s.Update(ctx, fn), storage.ErrNotFound)
	}
	// TouchToken skips a token that is gone: the usage flush races deletions.
	update(t, s, func(tx storage.ReadWriter) error { return tx.TouchToken("tok_nope", t0) })
	if d := dump(t, s); strings.Contains(d, "tok_nope") {
		t.Errorf("TouchToken created a token: %s", d)
	}
}

func testRoundTrip(t *testing.T, s storage.Storage) {
	seed(t, s)
	view(t, s, func(tx storage.Reader) error {
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
	// A suspended user keeps the time of their suspension, and loses it again.
	suspended := user("u2")
	suspended.SuspendedAt = t0.Add(time.Hour)
	update(t, s, func(tx storage.ReadWriter) error { return tx.ReplaceUser(suspended) })
	view(t, s, func(tx storage.Reader) error {
		u, err := tx.GetUser("u2")
		if err != nil || !reflect.DeepEqual(u, suspended) || !u.Suspended() {
			t.Errorf("suspended user: got %+v, %v; want %+v", u, err, suspended)
		}
		return nil
	})
	update(t, s, func(tx storage.ReadWriter) error { return tx.ReplaceUser(user("u2")) })
	view(t, s, func(tx storage.Reader) error {
		if u, err := tx.GetUser("u2"); err != nil || u.Suspended() {
			t.Errorf("reactivated user: got %+v, %v", u, err)
		}
		return nil
	})
	// A token keeps its user's suspension mark, whether created with it or given
	// it later, through every lookup, and loses it again.
	marked := tok("tok_9", "ws_1", "u1", "thash9")
	marked.UserSuspended = true
	update(t, s, func(tx storage.ReadWriter) error { return tx.CreateToken(marked) })
	update(t, s, func(tx storage.ReadWriter) error {
		k := tok("tok_1", "ws_1", "u1", "thash1")
		k.UserSuspended = true
		return tx.ReplaceToken(k)
	})
	view(t, s, func(tx storage.Reader) error {
		for _, id := range []string{"tok_9", "tok_1"} {
			k, err := tx.GetToken(id)
			if err != nil || !k.UserSuspended {
				t.Errorf("GetToken(%s) after marking: %+v, %v", id, k, err)
			}
		}
		if k, err := tx.GetTokenByHash([]byte("thash9")); err != nil || !reflect.DeepEqual(k, marked) {
			t.Errorf("GetTokenByHash, marked:\n got %+v, %v\nwant %+v", k, err, marked)
		}
		seen := 0
		must(tx.ScanUserTokens("u1", "", func(k token.Token) bool {
			if !k.UserSuspended {
				t.Errorf("ScanUserTokens: %s lost its mark", k.ID)
			}
			seen++
			return true
		}))
		if seen != 2 {
			t.Errorf("ScanUserTokens saw %d marked tokens, want 2", seen)
		}
		return nil
	})
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.DeleteToken("tok_9"))
		return tx.ReplaceToken(tok("tok_1", "ws_1", "u1", "thash1"))
	})
	view(t, s, func(tx storage.Reader) error {
		if k, err := tx.GetTokenByHash([]byte("thash1")); err != nil || !reflect.DeepEqual(k, tok("tok_1", "ws_1", "u1", "thash1")) {
			t.Errorf("GetTokenByHash, unmarked: %+v, %v", k, err)
		}
		return nil
	})
}

func testUniqueIndexes(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	cases := []struct {
		index string
		fn    func(tx storage.ReadWriter) error
	}{
		{storage.IndexUserID, func(tx storage.ReadWriter) error {
			u := user("u1")
			u.Email = "other@example.com"
			return tx.CreateUser(u)
		}},
		{storage.IndexUserEmail, func(tx storage.ReadWriter) error {
			u := user("u3")
			u.Email = "u1@example.com"
			return tx.CreateUser(u)
		}},
		{storage.IndexUserEmail, func(tx storage.ReadWriter) error {
			u := user("u2")
			u.Email = "u1@example.com"
			return tx.ReplaceUser(u)
		}},
		{storage.IndexWorkspaceID, func(tx storage.ReadWriter) error { return tx.CreateWorkspace(ws("ws_1", "other")) }},
		{storage.IndexWorkspaceSlug, func(tx storage.ReadWriter) error { return tx.CreateWorkspace(ws("ws_2", "alpha")) }},
		{storage.IndexWorkspaceExternalID, func(tx storage.ReadWriter) error {
			w := ws("ws_2", "beta")
			w.ExternalID = "ext-1"
			return tx.CreateWorkspace(w)
		}},
		{storage.IndexMember, func(tx storage.ReadWriter) error { return tx.CreateMember(mem("ws_1", "u1", rbac.Viewer)) }},
		// A membership inserted twice in a workspace this transaction created (a
		// backend may hold such inserts until the commit: the second must still be
		// refused at the call).
		{storage.IndexMember, func(tx storage.ReadWriter) error {
			must(tx.CreateWorkspace(ws("ws_new", "brand-new")))
			must(tx.CreateMember(mem("ws_new", "u1", rbac.Admin)))
			return tx.CreateMember(mem("ws_new", "u1", rbac.Viewer))
		}},
		{storage.IndexInvitationID, func(tx storage.ReadWriter) error { return tx.CreateInvitation(inv("inv_1", "ws_1", "ihash9")) }},
		{storage.IndexInvitationHash, func(tx storage.ReadWriter) error { return tx.CreateInvitation(inv("inv_2", "ws_1", "ihash1")) }},
		{storage.IndexTokenID, func(tx storage.ReadWriter) error { return tx.CreateToken(tok("tok_1", "ws_1", "u1", "thash9")) }},
		{storage.IndexTokenHash, func(tx storage.ReadWriter) error { return tx.CreateToken(tok("tok_2", "ws_1", "u1", "thash1")) }},
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
	update(t, s, func(tx storage.ReadWriter) error {
		w := ws("ws_1", "alpha")
		w.ExternalID = "ext-1"
		w.Name = "Renamed"
		must(tx.ReplaceWorkspace(w))
		must(tx.ReplaceUser(user("u1")))
		must(tx.ReplaceMember(mem("ws_1", "u1", rbac.Admin)))
		must(tx.ReplaceInvitation(inv("inv_1", "ws_1", "ihash1")))
		return tx.ReplaceToken(tok("tok_1", "ws_1", "u1", "thash1"))
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
	cases := map[string]func(tx storage.ReadWriter) error{
		"user without ID":          func(tx storage.ReadWriter) error { return tx.CreateUser(user("")) },
		"user without email":       func(tx storage.ReadWriter) error { return tx.CreateUser(noEmail) },
		"user ID with a zero byte": func(tx storage.ReadWriter) error { return tx.CreateUser(user("a\x00b")) },
		"workspace without slug":   func(tx storage.ReadWriter) error { return tx.CreateWorkspace(noSlug) },
		"member without user":      func(tx storage.ReadWriter) error { return tx.CreateMember(mem("ws_1", "", rbac.Viewer)) },
		"member, zero byte":        func(tx storage.ReadWriter) error { return tx.CreateMember(mem("ws_1\x00u", "x", rbac.Viewer)) },
		"invitation without hash":  func(tx storage.ReadWriter) error { return tx.CreateInvitation(noHashInv) },
		"token without hash":       func(tx storage.ReadWriter) error { return tx.CreateToken(noHashTok) },
		"event without ID":         func(tx storage.ReadWriter) error { return tx.AppendEvent(evt("", "ws_1")) },
	}
	for name, fn := range cases {
		wantKind(t, name, s.Update(ctx, fn), storage.ErrInvalidKey)
	}
	if after := dump(t, s); after != before {
		t.Errorf("refused writes changed the store")
	}
	update(t, s, func(tx storage.ReadWriter) error { // zero bytes are fine inside hashes
		must(tx.CreateInvitation(inv("inv_z", "ws_1", "a\x00b")))
		return tx.CreateToken(tok("tok_z", "ws_1", "u1", "\x00\x00"))
	})
	view(t, s, func(tx storage.Reader) error {
		if k, err := tx.GetTokenByHash([]byte("\x00\x00")); err != nil || k.ID != "tok_z" {
			t.Errorf("a hash with zero bytes: %v %v", k.ID, err)
		}
		return nil
	})
}

func testIndexesFollowUpdates(t *testing.T, s storage.Storage) {
	seed(t, s)
	update(t, s, func(tx storage.ReadWriter) error {
		u := user("u1")
		u.Email = "new@example.com"
		must(tx.ReplaceUser(u))
		w := ws("ws_1", "renamed")
		w.ExternalID = "ext-2"
		must(tx.ReplaceWorkspace(w))
		must(tx.ReplaceInvitation(inv("inv_1", "ws_1", "ihash2")))
		return tx.ReplaceToken(tok("tok_1", "ws_1", "u1", "thash2"))
	})
	view(t, s, func(tx storage.Reader) error {
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
	update(t, s, func(tx storage.ReadWriter) error {
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
	update(t, s, func(tx storage.ReadWriter) error {
		k := tok("tok_1", "ws_1", "u1", "thash1")
		k.RevokedAt, k.LastUsedAt = later, later
		must(tx.ReplaceToken(k))
		i := inv("inv_1", "ws_1", "ihash1")
		i.AcceptedAt, i.AcceptedBy = later, "u2"
		must(tx.ReplaceInvitation(i))
		u := user("u1")
		u.Platform = true
		must(tx.ReplaceUser(u))
		w := ws("ws_1", "alpha")
		w.ExternalID, w.Status, w.DeletedAt = "ext-1", workspace.Deleted, later
		return tx.ReplaceWorkspace(w)
	})
	view(t, s, func(tx storage.Reader) error {
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
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.DeleteToken("tok_1"))
		must(tx.DeleteInvitation("inv_1"))
		must(tx.DeleteMember("ws_1", "u1"))
		must(tx.DeleteUser("u2"))
		_, err := tx.PurgeWorkspace("ws_1")
		return err
	})
	view(t, s, func(tx storage.Reader) error {
		_, err := tx.GetWorkspaceBySlug("alpha")
		wantKind(t, "slug after delete", err, storage.ErrNotFound)
		_, err = tx.GetWorkspaceByExternalID("ext-1")
		wantKind(t, "external ID after delete", err, storage.ErrNotFound)
		_, err = tx.GetInvitationByHash([]byte("ihash1"))
		wantKind(t, "invitation hash after delete", err, storage.ErrNotFound)
		_, err = tx.GetTokenByHash([]byte("thash1"))
		wantKind(t, "token hash after delete", err, storage.ErrNotFound)
		_, err = tx.GetUser("u2")
		wantKind(t, "user after delete", err, storage.ErrNotFound)
		_, err = tx.GetUserByEmail("u2@example.com")
		wantKind(t, "user email after delete", err, storage.ErrNotFound)
		count := 0
		must(tx.ScanUsers("u1", func(member.User) bool { count++; return true }))
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
	update(t, s, func(tx storage.ReadWriter) error {
		w := ws("ws_9", "alpha")
		w.ExternalID = "ext-1"
		must(tx.CreateWorkspace(w))
		must(tx.CreateInvitation(inv("inv_9", "ws_9", "ihash1")))
		u := user("u9")
		u.Email = "u2@example.com"
		must(tx.CreateUser(u))
		return tx.CreateToken(tok("tok_9", "ws_9", "u1", "thash1"))
	})
}

func testScanOrderAndCursor(t *testing.T, s storage.Storage) {
	const n = 57
	update(t, s, func(tx storage.ReadWriter) error {
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
		view(t, s, func(tx storage.Reader) error {
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
	view(t, s, func(tx storage.Reader) error {
		return tx.ScanWorkspaces("ws_010x", func(w workspace.Workspace) bool { first = w.ID; return false })
	})
	if first != "ws_011" {
		t.Errorf("scan after a missing key started at %q, want ws_011", first)
	}
}

func testChildScans(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
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
	view(t, s, func(tx storage.Reader) error {
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

func testValuesAreCopies(t *testing.T, s storage.Storage) {
	w := ws("ws_1", "alpha")
	i := inv("inv_1", "ws_1", "ihash1")
	k := tok("tok_1", "ws_1", "u1", "thash1")
	e := evt("evt_1", "ws_1")
	update(t, s, func(tx storage.ReadWriter) error {
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
	view(t, s, func(tx storage.Reader) error {
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
	view(t, s, func(tx storage.Reader) error {
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

// TouchToken only ever moves last-used forward, and never undoes other fields: a
// revocation committed between a token's use and the flush survives the flush.
func testTouchToken(t *testing.T, s storage.Storage) {
	seed(t, s)
	later, earlier := t0.Add(2*time.Hour), t0.Add(time.Hour)
	update(t, s, func(tx storage.ReadWriter) error {
		k, err := tx.GetToken("tok_1")
		must(err)
		k.RevokedAt = t0.Add(30 * time.Minute)
		return tx.ReplaceToken(k)
	})
	update(t, s, func(tx storage.ReadWriter) error { return tx.TouchToken("tok_1", later) })
	update(t, s, func(tx storage.ReadWriter) error { return tx.TouchToken("tok_1", earlier) })
	view(t, s, func(tx storage.Reader) error {
		for name, get := range map[string]func() (token.Token, error){
			"by ID":   func() (token.Token, error) { return tx.GetToken("tok_1") },
			"by hash": func() (token.Token, error) { return tx.GetTokenByHash([]byte("thash1")) },
		} {
			k, err := get()
			if err != nil || !k.LastUsedAt.Equal(later) || k.RevokedAt.IsZero() || k.Name != "ci" {
				t.Errorf("token %s after touches: %+v %v", name, k, err)
			}
		}
		return nil
	})
}

// PurgeWorkspace removes the workspace and everything it owns, with their index
// entries, and nothing of any other workspace or user.
func testPurgeWorkspace(t *testing.T, s storage.Storage) {
	seed(t, s)
	update(t, s, func(tx storage.ReadWriter) error {
		w := ws("ws_2", "beta")
		must(tx.CreateWorkspace(w))
		must(tx.CreateMember(mem("ws_2", "u2", rbac.Admin)))
		must(tx.CreateMember(mem("ws_1", "u2", rbac.Viewer)))
		must(tx.CreateToken(tok("tok_2", "ws_2", "u2", "thash2")))
		must(tx.CreateToken(tok("tok_p", "", "u1", "thashp")))
		must(tx.CreateInvitation(inv("inv_2", "ws_2", "ihash2")))
		must(tx.AppendEvent(evt("evt_2", "ws_2")))
		return tx.AppendEvent(evt("evt_u", ""))
	})
	// What must remain: ws_2 and its records, u1's personal token, the user event.
	want := dumpExcept(t, s, "ws_1")
	var n storage.PurgeCounts
	update(t, s, func(tx storage.ReadWriter) error {
		var err error
		n, err = tx.PurgeWorkspace("ws_1")
		return err
	})
	if n != (storage.PurgeCounts{Members: 2, Invitations: 1, Tokens: 1, Events: 1}) {
		t.Errorf("PurgeWorkspace counted %+v", n)
	}
	if got := dumpExcept(t, s, "ws_1"); got != want {
		t.Errorf("purging ws_1 touched other records:\nbefore %s\nafter  %s", want, got)
	}
	view(t, s, func(tx storage.Reader) error {
		for what, err := range map[string]error{
			"workspace": second(tx.GetWorkspace("ws_1")), "slug": second(tx.GetWorkspaceBySlug("alpha")),
			"external ID": second(tx.GetWorkspaceByExternalID("ext-1")), "member": second(tx.GetMember("ws_1", "u1")),
			"invitation": second(tx.GetInvitationByHash([]byte("ihash1"))), "token": second(tx.GetTokenByHash([]byte("thash1"))),
		} {
			wantKind(t, what+" after purge", err, storage.ErrNotFound)
		}
		var left []string
		must(tx.ScanUserMemberships("u2", "", func(m member.Member) bool { left = append(left, m.WorkspaceID); return true }))
		must(tx.ScanUserTokens("u1", "", func(k token.Token) bool { left = append(left, k.ID); return true }))
		must(tx.ScanEvents("", func(e storage.Event) bool { left = append(left, e.ID); return true }))
		assertList(t, "what remains of u2, u1 and the feed", left, "ws_2", "tok_p", "evt_2", "evt_u")
		return nil
	})
	// The purged keys are free again.
	update(t, s, func(tx storage.ReadWriter) error {
		w := ws("ws_1", "alpha")
		w.ExternalID = "ext-1"
		must(tx.CreateWorkspace(w))
		must(tx.CreateMember(mem("ws_1", "u1", rbac.Admin)))
		must(tx.CreateInvitation(inv("inv_1", "ws_1", "ihash1")))
		return tx.CreateToken(tok("tok_1", "ws_1", "u1", "thash1"))
	})
}

func second[T any](_ T, err error) error { return err }

// dumpExcept renders everything but the records of one workspace, for "the rest is
// unchanged" assertions.
func dumpExcept(t *testing.T, s storage.Storage, except string) string {
	t.Helper()
	var out []any
	view(t, s, func(tx storage.Reader) error {
		must(tx.ScanWorkspaces("", func(w workspace.Workspace) bool {
			if w.ID == except {
				return true
			}
			out = append(out, w)
			must(tx.ScanMembers(w.ID, "", func(m member.Member) bool { out = append(out, m); return true }))
			must(tx.ScanInvitations(w.ID, "", func(i member.Invitation) bool { out = append(out, i); return true }))
			must(tx.ScanWorkspaceTokens(w.ID, "", func(k token.Token) bool { out = append(out, k); return true }))
			must(tx.ScanWorkspaceEvents(w.ID, "", func(e storage.Event) bool { out = append(out, e); return true }))
			return true
		}))
		must(tx.ScanUsers("", func(u member.User) bool {
			out = append(out, u)
			must(tx.ScanUserTokens(u.ID, "", func(k token.Token) bool {
				if k.WorkspaceID != except {
					out = append(out, k)
				}
				return true
			}))
			return true
		}))
		return nil
	})
	return fmt.Sprintf("%+v", out)
}

// The retention index finds deleted workspaces by deletion time and follows every
// status change, rename and purge.
func testDeletedIndex(t *testing.T, s storage.Storage) {
	del := func(id, slug string, at time.Time) workspace.Workspace {
		w := ws(id, slug)
		w.Status, w.DeletedAt = workspace.Deleted, at
		return w
	}
	update(t, s, func(tx storage.ReadWriter) error {
		users(tx, "u1")
		must(tx.CreateWorkspace(del("ws_c", "c", t0.Add(3*time.Hour))))
		must(tx.CreateWorkspace(del("ws_a", "a", t0.Add(time.Hour))))
		must(tx.CreateWorkspace(del("ws_b", "b", t0.Add(2*time.Hour))))
		return tx.CreateWorkspace(ws("ws_live", "live"))
	})
	scan := func(cutoff time.Time) []string {
		var got []string
		view(t, s, func(tx storage.Reader) error {
			return tx.ScanDeletedWorkspaces(cutoff, func(w workspace.Workspace) bool { got = append(got, w.ID); return true })
		})
		return got
	}
	assertList(t, "deleted by 2h", scan(t0.Add(2*time.Hour)), "ws_a", "ws_b")
	assertList(t, "deleted by 10h", scan(t0.Add(10*time.Hour)), "ws_a", "ws_b", "ws_c")
	assertList(t, "deleted by 0", scan(t0))
	update(t, s, func(tx storage.ReadWriter) error {
		w := ws("ws_a", "a") // restored
		must(tx.ReplaceWorkspace(w))
		must(tx.ReplaceWorkspace(del("ws_live", "live", t0))) // deleted now
		must(tx.ReplaceWorkspace(del("ws_b", "b2", t0.Add(5*time.Hour))))
		_, err := tx.PurgeWorkspace("ws_c")
		return err
	})
	assertList(t, "after changes", scan(t0.Add(10*time.Hour)), "ws_live", "ws_b")
}

// Settings are small named values, replaced whole.
func testSettings(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.PutSetting("a", []byte{0, 1, 2}))
		return tx.PutSetting("a", []byte("v2"))
	})
	view(t, s, func(tx storage.Reader) error {
		if v, err := tx.Setting("a"); err != nil || string(v) != "v2" {
			t.Errorf("Setting(a) = %q, %v", v, err)
		}
		_, err := tx.Setting("b")
		wantKind(t, "Setting(b)", err, storage.ErrNotFound)
		return nil
	})
}

// testImpossibleKeys: a key no record can have (it holds U+0000, which CheckKeys
// refuses on every write, or bytes that are not UTF-8) is simply not found, by every
// lookup and scan: a backend whose text type cannot carry it (PostgreSQL) must not
// turn the read into a storage fault.
func testImpossibleKeys(t *testing.T, s storage.Storage) {
	seed(t, s)
	for _, key := range []string{"ws_1\x00", "\x00", "u1\x00x", "bad\xff\xfe"} {
		view(t, s, func(tx storage.Reader) error {
			_, err := tx.GetUser(key)
			wantKind(t, "GetUser", err, storage.ErrNotFound)
			_, err = tx.GetUserByEmail(key + "@example.com")
			wantKind(t, "GetUserByEmail", err, storage.ErrNotFound)
			_, err = tx.GetWorkspace(key)
			wantKind(t, "GetWorkspace", err, storage.ErrNotFound)
			_, err = tx.GetWorkspaceBySlug(key)
			wantKind(t, "GetWorkspaceBySlug", err, storage.ErrNotFound)
			_, err = tx.GetWorkspaceByExternalID(key)
			wantKind(t, "GetWorkspaceByExternalID", err, storage.ErrNotFound)
			_, err = tx.GetMember(key, "u1")
			wantKind(t, "GetMember", err, storage.ErrNotFound)
			_, err = tx.GetMember("ws_1", key)
			wantKind(t, "GetMember by user", err, storage.ErrNotFound)
			_, err = tx.GetInvitation(key)
			wantKind(t, "GetInvitation", err, storage.ErrNotFound)
			_, err = tx.GetToken(key)
			wantKind(t, "GetToken", err, storage.ErrNotFound)
			_, err = tx.Setting(key)
			wantKind(t, "Setting", err, storage.ErrNotFound)
			n, err := tx.Counter(key)
			if err != nil || n != 0 {
				t.Errorf("Counter(%q) = %d, %v; want 0, nil", key, n, err)
			}
			for what, scan := range map[string]func() (int, error){
				"ScanMembers": func() (n int, err error) {
					err = tx.ScanMembers(key, "", func(member.Member) bool { n++; return true })
					return n, err
				},
				"ScanUserMemberships": func() (n int, err error) {
					err = tx.ScanUserMemberships(key, "", func(member.Member) bool { n++; return true })
					return n, err
				},
				"ScanInvitations": func() (n int, err error) {
					err = tx.ScanInvitations(key, "", func(member.Invitation) bool { n++; return true })
					return n, err
				},
				"ScanWorkspaceTokens": func() (n int, err error) {
					err = tx.ScanWorkspaceTokens(key, "", func(token.Token) bool { n++; return true })
					return n, err
				},
				"ScanUserTokens": func() (n int, err error) {
					err = tx.ScanUserTokens(key, "", func(token.Token) bool { n++; return true })
					return n, err
				},
				"ScanWorkspaceEvents": func() (n int, err error) {
					err = tx.ScanWorkspaceEvents(key, "", func(storage.Event) bool { n++; return true })
					return n, err
				},
			} {
				if n, err := scan(); err != nil || n != 0 {
					t.Errorf("%s(%q): %d records, %v; want none, nil", what, key, n, err)
				}
			}
			return nil
		})
	}
	// A write by such a key is refused before it reaches the store.
	for name, fn := range map[string]func(tx storage.ReadWriter) error{
		"DeleteToken":  func(tx storage.ReadWriter) error { return tx.DeleteToken("tok\x00") },
		"DeleteMember": func(tx storage.ReadWriter) error { return tx.DeleteMember("ws_1\x00", "u1") },
		"DeleteUser":   func(tx storage.ReadWriter) error { return tx.DeleteUser("u1\x00") },
	} {
		err := s.Update(ctx, fn)
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrInvalidKey) {
			t.Errorf("%s by a key holding U+0000 = %v; want ErrNotFound or ErrInvalidKey", name, err)
		}
	}
}

// testSuspendedUsers: a backend that offers storage.SuspendedUserScanner lists
// exactly the suspended users, following suspensions, lifts and erasures.
func testSuspendedUsers(t *testing.T, s storage.Storage) {
	list := func() []string {
		var ids []string
		view(t, s, func(tx storage.Reader) error {
			sc, ok := tx.(storage.SuspendedUserScanner)
			if !ok {
				t.Fatal("the backend declared SuspendedScan but its Reader is no storage.SuspendedUserScanner")
			}
			return sc.ScanSuspendedUsers(func(u member.User) bool {
				if !u.Suspended() {
					t.Errorf("ScanSuspendedUsers listed %s, who is not suspended", u.ID)
				}
				ids = append(ids, u.ID)
				return true
			})
		})
		return ids
	}
	update(t, s, func(tx storage.ReadWriter) error {
		users(tx, "u1", "u2", "u3")
		return nil
	})
	assertList(t, "no suspension", list())
	suspend := func(id string, on bool) {
		update(t, s, func(tx storage.ReadWriter) error {
			u, err := tx.GetUser(id)
			must(err)
			u.SuspendedAt = time.Time{}
			if on {
				u.SuspendedAt = t0
			}
			return tx.ReplaceUser(u)
		})
	}
	suspend("u3", true)
	suspend("u1", true)
	assertList(t, "two suspended", list(), "u1", "u3")
	suspend("u3", false)
	assertList(t, "one lifted", list(), "u1")
	update(t, s, func(tx storage.ReadWriter) error {
		u := user("u4")
		u.SuspendedAt = t0
		return tx.CreateUser(u)
	})
	assertList(t, "created suspended", list(), "u1", "u4")
	update(t, s, func(tx storage.ReadWriter) error { return tx.DeleteUser("u1") })
	assertList(t, "erased", list(), "u4")
	// A failed transaction leaves the index as it was.
	_ = s.Update(ctx, func(tx storage.ReadWriter) error {
		u, err := tx.GetUser("u2")
		must(err)
		u.SuspendedAt = t0
		must(tx.ReplaceUser(u))
		return errors.New("roll back")
	})
	assertList(t, "after a rollback", list(), "u4")
}

// testDeletedFromRoundTrip: a deleted workspace keeps the status it was deleted
// from, and its flags, through a replace, every lookup and a scan, and loses the
// status when restored; flags cleared read back as none (nil).
func testDeletedFromRoundTrip(t *testing.T, s storage.Storage) {
	seed(t, s)
	w := ws("ws_1", "alpha")
	w.ExternalID = "ext-1"
	w.Status, w.DeletedAt, w.DeletedFrom = workspace.Deleted, t0, workspace.Inactive
	w.Flags = []string{"active_connections", "sources"}
	update(t, s, func(tx storage.ReadWriter) error { return tx.ReplaceWorkspace(w) })
	view(t, s, func(tx storage.Reader) error {
		for what, get := range map[string]func() (workspace.Workspace, error){
			"GetWorkspace":             func() (workspace.Workspace, error) { return tx.GetWorkspace("ws_1") },
			"GetWorkspaceBySlug":       func() (workspace.Workspace, error) { return tx.GetWorkspaceBySlug("alpha") },
			"GetWorkspaceByExternalID": func() (workspace.Workspace, error) { return tx.GetWorkspaceByExternalID("ext-1") },
		} {
			if got, err := get(); err != nil || !reflect.DeepEqual(got, w) {
				t.Errorf("%s = %+v, %v; want %+v", what, got, err, w)
			}
		}
		return tx.ScanWorkspaces("", func(got workspace.Workspace) bool {
			if !reflect.DeepEqual(got, w) {
				t.Errorf("ScanWorkspaces = %+v; want %+v", got, w)
			}
			return true
		})
	})
	w.Status, w.DeletedAt, w.DeletedFrom = workspace.Inactive, time.Time{}, ""
	update(t, s, func(tx storage.ReadWriter) error { return tx.ReplaceWorkspace(w) })
	view(t, s, func(tx storage.Reader) error {
		if got, err := tx.GetWorkspace("ws_1"); err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("after restore = %+v, %v; want %+v", got, err, w)
		}
		return nil
	})
	// Flags without a deleted-from status, then none at all.
	w.Flags = []string{"sources"}
	update(t, s, func(tx storage.ReadWriter) error { return tx.ReplaceWorkspace(w) })
	view(t, s, func(tx storage.Reader) error {
		if got, err := tx.GetWorkspace("ws_1"); err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("with one flag = %+v, %v; want %+v", got, err, w)
		}
		return nil
	})
	w.Flags = nil
	update(t, s, func(tx storage.ReadWriter) error { return tx.ReplaceWorkspace(w) })
	view(t, s, func(tx storage.Reader) error {
		if got, err := tx.GetWorkspace("ws_1"); err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("flags cleared = %+v, %v; want %+v", got, err, w)
		}
		return nil
	})
}
