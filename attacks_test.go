package tenancy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// The regression tests of the third wave's attack findings, each on every backend.

// TestRestoreReturnsToTheStatusItHad: an inactive workspace deleted and restored
// comes back inactive, and the event says so.
func TestRestoreReturnsToTheStatusItHad(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, inactive := range []bool{true, false} {
			w, err := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Restore me"})
			if err != nil {
				t.Fatal(err)
			}
			want := workspace.Active
			if inactive {
				want = workspace.Inactive
				if _, err := e.m.DeactivateWorkspace(ctx, owner, w.ID); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.m.DeleteWorkspace(ctx, owner, w.ID); err != nil {
				t.Fatal(err)
			}
			got, err := e.m.RestoreWorkspace(ctx, owner, w.ID)
			if err != nil || got.Status != want || got.DeletedFrom != "" || !got.DeletedAt.IsZero() {
				t.Fatalf("restore of a workspace deleted while %s: %+v, %v", want, got, err)
			}
			if again, err := e.m.GetWorkspace(ctx, owner, w.ID); err != nil || again.Status != want {
				t.Errorf("read after restore: %s, %v; want %s", again.Status, err, want)
			}
			evs := workspaceEvents(t, e, w.ID)
			last := evs[len(evs)-1]
			if last.Type != "workspace.restored" || last.Data["to"] != string(want) || last.Data["from"] != "deleted" {
				t.Errorf("restore event %s %v; want to=%s", last.Type, last.Data, want)
			}
			if inactive {
				// Inactive, so writes are still refused: the restore granted nothing.
				if err := e.m.Authorize(ctx, owner, w.ID, rbac.WriteContent); !errors.Is(err, tenancy.ErrFailedPrecondition) {
					t.Errorf("write in a restored inactive workspace: %v", err)
				}
			}
		}
		st, err := e.m.Stats(ctx, platform)
		if err != nil {
			t.Fatal(err)
		}
		if st.Inactive != 1 || st.Deleted != 0 {
			t.Errorf("counters after the restores: %+v", st)
		}
	})
}

func workspaceEvents(t *testing.T, e *env, wsID string) []storage.Event {
	t.Helper()
	var evs []storage.Event
	err := e.store.View(ctx, func(tx storage.Reader) error {
		return tx.ScanWorkspaceEvents(wsID, "", func(ev storage.Event) bool { evs = append(evs, ev); return true })
	})
	if err != nil || len(evs) == 0 {
		t.Fatalf("events of %s: %d, %v", wsID, len(evs), err)
	}
	return evs
}

// TestIDsThatCannotExist: an ID holding U+0000 (or bytes that are not UTF-8) is
// not found on every backend, never a storage fault (PostgreSQL's text refuses it).
func TestIDsThatCannotExist(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, id := range []string{"ws_\x00", e.ws.ID + "\x00", "\xff\xfe"} {
			checks := map[string]error{
				"Authorize": e.m.Authorize(ctx, owner, id, rbac.ReadWorkspace),
				"GetWorkspace": func() error {
					_, err := e.m.GetWorkspace(ctx, owner, id)
					return err
				}(),
				"GetWorkspace as platform": func() error {
					_, err := e.m.GetWorkspace(ctx, platform, id)
					return err
				}(),
				"GetUser as platform": func() error {
					_, err := e.m.GetUser(ctx, platform, id)
					return err
				}(),
				"RemoveMember": e.m.RemoveMember(ctx, owner, e.ws.ID, id),
				"RevokeToken":  e.m.RevokeToken(ctx, owner, "tok_"+id),
			}
			for name, err := range checks {
				if !errors.Is(err, tenancy.ErrNotFound) {
					t.Errorf("%s(%q) = %v (kind %v); want not found", name, id, err, tenancy.KindOf(err))
				}
			}
			for name, err := range map[string]error{
				"Authorize as the ID's user": e.m.Authorize(ctx, tenancy.User(id), e.ws.ID, rbac.ReadWorkspace),
				"GetUser as itself": func() error {
					_, err := e.m.GetUser(ctx, tenancy.User(id), id)
					return err
				}(),
			} {
				if tenancy.KindOf(err) == nil {
					t.Errorf("%s(%q) = %v: a storage fault, not a refusal", name, id, err)
				}
			}
		}
	})
}

// TestHiddenCharactersRefusedEverywhere: a name that could pass for another
// (U+202E, zero-width characters) is refused by every method that takes one, and
// nothing is written.
func TestHiddenCharactersRefusedEverywhere(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		before := e.dump(t)
		const evil = "Acme\u202Eevil"
		for name, err := range map[string]error{
			"CreateWorkspace": second(e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: evil})),
			"CreateWorkspace description": second(e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "ok",
				Description: "pay\u200Bpal"})),
			"UpdateWorkspace": second(e.m.UpdateWorkspace(ctx, owner, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("Main\u200D")})),
			"UpdateWorkspace metadata": second(e.m.UpdateWorkspace(ctx, owner, e.ws.ID,
				tenancy.WorkspaceUpdate{Metadata: map[string]string{"team": "a\u2066b"}})),
			"RegisterUser": second(e.m.RegisterUser(ctx, system, tenancy.NewUser{ID: "u_evil", Email: "evil@example.com", Name: evil})),
			"UpdateUser":   second(e.m.UpdateUser(ctx, editor, "editor", tenancy.UserUpdate{Name: ptr("\uFEFFeditor")})),
			"CreateToken":  second(e.m.CreateToken(ctx, editor, tenancy.NewToken{Name: "ci\u202E", Lifetime: time.Hour})),
		} {
			if !errors.Is(err, tenancy.ErrInvalidArgument) || !strings.Contains(err.Error(), "invisible") {
				t.Errorf("%s: %v", name, err)
			}
		}
		if e.dump(t) != before {
			t.Error("a refused call changed storage")
		}
	})
}

func second[T any](_ T, err error) error { return err }

// TestRenameRolesApplyAtOnce: a swap or a chain in Options.RenameRoles is refused
// with nothing changed, where it used to merge two roles into one.
func TestRenameRolesApplyAtOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b)
			before := e.dump(t)
			for _, renames := range []map[rbac.Role]rbac.Role{
				{rbac.Viewer: rbac.Editor, rbac.Editor: rbac.Viewer},
				{"intern": rbac.Viewer, rbac.Viewer: rbac.Editor},
			} {
				_, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, RenameRoles: renames})
				if !errors.Is(err, tenancy.ErrInvalidArgument) || !strings.Contains(err.Error(), "at once") {
					t.Errorf("New with renames %v: %v", renames, err)
				}
				if e.dump(t) != before {
					t.Fatalf("a refused rename %v changed storage", renames)
				}
			}
			// Two roles renamed in one map, neither a target of the other, each
			// move once.
			policy, err := rbac.Load(rbac.Options{Policy: strings.NewReplacer("editor", "writer", "viewer", "reader").Replace(rbac.DefaultPolicy())})
			if err != nil {
				t.Fatal(err)
			}
			m, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Policy: policy,
				RenameRoles: map[rbac.Role]rbac.Role{rbac.Viewer: "reader", rbac.Editor: "writer"}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			e.skipVerify = true // the env's Manager runs the old policy
			for user, want := range map[string]rbac.Role{"viewer": "reader", "editor": "writer", "admin": rbac.Admin} {
				mb, err := m.GetMember(ctx, system, e.ws.ID, user)
				if err != nil || mb.Role != want {
					t.Errorf("%s holds %s, %v; want %s", user, mb.Role, err, want)
				}
			}
		})
	}
}

// TestNewRefusesAPolicyAboveTheOwners: a policy whose highest role is not the one
// owners hold is refused, naming the fix; with that fix (RenameRoles moving the
// owners up) it opens, and every invariant holds.
func TestNewRefusesAPolicyAboveTheOwners(t *testing.T) {
	above, err := rbac.Load(rbac.Options{Policy: strings.Replace(rbac.DefaultPolicy(), "g, owner, admin", "g, superadmin, admin\ng, owner, superadmin", 1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b)
			before := e.dump(t)
			_, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Policy: above})
			if !errors.Is(err, tenancy.ErrOwnerRole) || !strings.Contains(err.Error(), "RenameRoles (admin=superadmin)") {
				t.Fatalf("New with a role above the owners': %v", err)
			}
			if e.dump(t) != before {
				t.Fatal("a refused New changed storage")
			}
			m, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Policy: above,
				RenameRoles: map[rbac.Role]rbac.Role{rbac.Admin: "superadmin"}})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			mb, err := m.GetMember(ctx, system, e.ws.ID, "owner")
			if err != nil || mb.Role != "superadmin" || !mb.Owner {
				t.Errorf("owner after the rename: %+v, %v", mb, err)
			}
			w, err := m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "After"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.DeleteWorkspace(ctx, owner, w.ID); err != nil {
				t.Errorf("the owner lost delete: %v", err)
			}
			if findings, err := m.Verify(ctx); err != nil || len(findings) > 0 {
				t.Errorf("Verify: %v, %v", findings, err)
			}
			e.skipVerify = true // the env's Manager runs the old policy
		})
	}
}

// TestSuspensionWithoutMarkIsMended: a suspension written without the token mark
// after the one-time pass (an older instance still running on a shared database, a
// copy) no longer lets the user's tokens authenticate: New mends it at every start,
// and a method that meets such a token mends it at once.
func TestSuspensionWithoutMarkIsMended(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tok, err := e.m.CreateToken(ctx, editor, tenancy.NewToken{Name: "laptop", Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		suspendBehindTheManager := func() {
			t.Helper()
			err := e.store.Update(ctx, func(tx storage.ReadWriter) error {
				u, err := tx.GetUser("editor")
				if err != nil {
					return err
				}
				u.SuspendedAt = e.clock.Now()
				return tx.ReplaceUser(u) // as an old writer does: tokens untouched
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		suspendBehindTheManager()
		p, err := e.m.Authenticate(ctx, tok.Secret)
		if err != nil {
			t.Fatalf("the premise: an unmarked token authenticates (%v)", err)
		}
		// A method resolves the token, finds the suspension, and mends the mark.
		if err := e.m.Authorize(ctx, p, e.ws.ID, rbac.ReadWorkspace); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("a suspended user's token was authorized: %v", err)
		}
		m2, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if err := m2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.m.Close(); err != nil { // waits for the mending
			t.Fatal(err)
		}
		if _, err := e.m.Authenticate(ctx, tok.Secret); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("after the mending, the token authenticates: %v", err)
		}
		// New alone mends it too, at every start: lift, suspend behind its back
		// again, and open a Manager.
		if _, err := e.m.ReactivateUser(ctx, system, "editor"); err != nil {
			t.Fatal(err)
		}
		suspendBehindTheManager()
		m3, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer m3.Close()
		if _, err := m3.Authenticate(ctx, tok.Secret); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("after New, the token authenticates: %v", err)
		}
		var marked bool
		_ = e.store.View(ctx, func(tx storage.Reader) error {
			return tx.ScanUserTokens("editor", "", func(k token.Token) bool { marked = k.UserSuspended; return true })
		})
		if !marked {
			t.Error("the token carries no mark")
		}
	})
}

// TestEmailChangeNeedsProof: the attack. A member holding a leaked invitation link
// to somebody else's address sets their own email to it, accepts, and sets it back.
// Now the address changes only with the secret sent to it: the invitation stays
// unused, and the steps around it hold their rules.
func TestEmailChangeNeedsProof(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		// The viewer of Main is the attacker; the invitation is to a workspace they
		// are not in.
		other, err := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Finance"})
		if err != nil {
			t.Fatal(err)
		}
		sent, err := e.m.InviteMember(ctx, owner, other.ID, tenancy.NewInvitation{Email: "victim@example.com", Role: rbac.Admin})
		if err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		if _, err := e.m.UpdateUser(ctx, viewer, "viewer", tenancy.UserUpdate{Email: ptr("victim@example.com")}); !errors.Is(err, tenancy.ErrPermissionDenied) ||
			!strings.Contains(err.Error(), "RequestEmailChange") {
			t.Fatalf("a self-service email change without proof: %v", err)
		}
		if _, err := e.m.AcceptInvitation(ctx, viewer, sent.Secret); !errors.Is(err, tenancy.ErrPermissionDenied) {
			t.Fatalf("the invitation opened for another address: %v", err)
		}
		if e.dump(t) != before {
			t.Fatal("the refused steps changed storage")
		}
		// Requesting the change hands the secret to the host for the new address;
		// the account keeps its address until the secret comes back.
		c, err := e.m.RequestEmailChange(ctx, viewer, "viewer", " Victim@Example.com")
		if err != nil {
			t.Fatal(err)
		}
		if c.Email != "victim@example.com" || !strings.HasPrefix(c.Secret, "tnce_") || !c.ExpiresAt.Equal(e.clock.Now().Add(tenancy.DefaultEmailChangeTTL)) {
			t.Errorf("request: %+v", c)
		}
		if u, _ := e.m.GetUser(ctx, viewer, "viewer"); u.Email != "viewer@example.com" {
			t.Errorf("the email changed before the proof: %s", u.Email)
		}
		if _, err := e.m.AcceptInvitation(ctx, viewer, sent.Secret); !errors.Is(err, tenancy.ErrPermissionDenied) {
			t.Errorf("a pending change opened the invitation: %v", err)
		}
		if strings.Contains(e.dump(t), c.Secret) {
			t.Error("the secret is stored in the clear")
		}
		// Only the same person confirms, with the right secret, in time, once.
		theirs, err := e.m.RequestEmailChange(ctx, editor, "editor", "elsewhere@example.com")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, editor, c.Secret)), tenancy.ErrNotFound, "no pending email change")
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, viewer, theirs.Secret)), tenancy.ErrNotFound, "no pending email change")
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, viewer, "tnce_nope")), tenancy.ErrInvalidArgument, "not an email-change secret: malformed secret: wrong length or no prefix")
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, system, c.Secret)), tenancy.ErrInvalidArgument, "System has no email to change: the user confirms it")
		capped, err := e.m.CreateToken(ctx, viewer, tenancy.NewToken{Name: "capped", Role: rbac.Viewer, Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		cp, err := e.m.Authenticate(ctx, capped.Secret)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, cp, c.Secret)), tenancy.ErrPermissionDenied, "a personal token capped at viewer cannot act on its user's email: sign in, or use a personal token without a cap")
		wantErr(t, second(e.m.RequestEmailChange(ctx, cp, "viewer", "x@example.com")), tenancy.ErrPermissionDenied, "a personal token capped at viewer cannot act on its user's account: sign in, or use a personal token without a cap")
		wantErr(t, second(e.m.RequestEmailChange(ctx, viewer, "editor", "x@example.com")), tenancy.ErrPermissionDenied, "users may only change their own account")
		wantErr(t, second(e.m.RequestEmailChange(ctx, viewer, "viewer", "admin@example.com")), tenancy.ErrAlreadyExists, `email "admin@example.com" is already registered`)
		wantErr(t, second(e.m.RequestEmailChange(ctx, viewer, "viewer", "viewer@example.com")), tenancy.ErrInvalidArgument, `"viewer@example.com" is already the account's email`)

		u, err := e.m.ConfirmEmailChange(ctx, viewer, c.Secret)
		if err != nil || u.Email != "victim@example.com" {
			t.Fatalf("confirm: %+v, %v", u, err)
		}
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, viewer, c.Secret)), tenancy.ErrNotFound, "no pending email change has this secret: request a new one") // single use
		last := e.lastEvent(t)
		if last.Type != "user.email_changed" || strings.Contains(fmt.Sprint(last), "victim") {
			t.Errorf("the change's event: %+v", last)
		}
		// Now the address is proven, and the invitation is the viewer's to accept.
		if mb, err := e.m.AcceptInvitation(ctx, viewer, sent.Secret); err != nil || mb.WorkspaceID != other.ID {
			t.Errorf("the proven address does not open its invitation: %v", err)
		}

		// Expiry, and a new request killing the old secret.
		c1, err := e.m.RequestEmailChange(ctx, editor, "editor", "one@example.com")
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, editor, theirs.Secret)), tenancy.ErrNotFound, "no pending email change has this secret: request a new one") // replaced
		e.clock.Advance(tenancy.DefaultEmailChangeTTL)
		wantErr(t, second(e.m.ConfirmEmailChange(ctx, editor, c1.Secret)), tenancy.ErrFailedPrecondition, "expired")

		// Erasure drops a pending change, which holds an address.
		if _, err := e.m.RequestEmailChange(ctx, outsider, "outsider", "gone-soon@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.DeleteUser(ctx, outsider, "outsider"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e.dump(t), "gone-soon") {
			t.Error("an erased user's pending address is still stored")
		}
	})
}
