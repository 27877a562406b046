package tenancy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
)

// After an erasure no record holds the person's email or name, their tokens fail,
// and Verify (at cleanup) is clean.
func TestDeleteUserErasesThePerson(t *testing.T) {
	const email, name = "erin.private@example.com", "Erin Q. Private"
	eachBackend(t, func(t *testing.T, e *env) {
		if _, err := e.m.RegisterUser(ctx, system, tenancy.NewUser{ID: "erin", Email: email, Name: name}); err != nil {
			t.Fatal(err)
		}
		erin := tenancy.User("erin")
		if _, err := e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: "erin", Role: rbac.Editor}); err != nil {
			t.Fatal(err)
		}
		// Joined W2 as admin by invitation, then invited someone there herself.
		w2, err := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Second"})
		if err != nil {
			t.Fatal(err)
		}
		sent, err := e.m.InviteMember(ctx, admin, w2.ID, tenancy.NewInvitation{Email: "ERIN.private@example.com", Role: rbac.Admin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.AcceptInvitation(ctx, erin, sent.Secret); err != nil {
			t.Fatal(err)
		}
		hers, err := e.m.InviteMember(ctx, erin, w2.ID, tenancy.NewInvitation{Email: "zed@example.com", Role: rbac.Viewer})
		if err != nil {
			t.Fatal(err)
		}
		// A pending invitation to her address in a workspace she is not in.
		w3, err := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Third"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.InviteMember(ctx, owner, w3.ID, tenancy.NewInvitation{Email: email, Role: rbac.Viewer}); err != nil {
			t.Fatal(err)
		}
		var secrets []string
		for _, in := range []tenancy.NewToken{{Name: "laptop"}, {Name: "ci", WorkspaceID: e.ws.ID, Role: rbac.Editor}} {
			in.Lifetime = time.Hour
			c, err := e.m.CreateToken(ctx, erin, in)
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, c.Secret)
			if _, err := e.m.Authenticate(ctx, c.Secret); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.m.FlushTokenUsage(ctx); err != nil {
			t.Fatal(err)
		}
		// Refused while she owns a workspace; refused to others; nothing changes.
		w4, err := e.m.CreateWorkspace(ctx, erin, tenancy.NewWorkspace{Name: "Hers"})
		if err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		for _, c := range []struct {
			p    tenancy.Principal
			kind error
		}{{erin, tenancy.ErrFailedPrecondition}, {admin, tenancy.ErrPermissionDenied}, {owner, tenancy.ErrPermissionDenied}, {nobody, tenancy.ErrUnauthenticated}} {
			if _, err := e.m.DeleteUser(ctx, c.p, "erin"); !errors.Is(err, c.kind) {
				t.Errorf("DeleteUser by %v: %v, want %v", c.p, err, c.kind)
			}
			if e.dump(t) != before {
				t.Errorf("a refused DeleteUser by %v changed storage", c.p)
			}
		}
		if _, err := e.m.TransferOwnership(ctx, erin, w4.ID, "erin"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.AddMember(ctx, erin, w4.ID, tenancy.NewMember{UserID: "admin", Role: rbac.Admin}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.TransferOwnership(ctx, erin, w4.ID, "admin"); err != nil {
			t.Fatal(err)
		}

		got, err := e.m.DeleteUser(ctx, erin, "erin") // her own request
		if err != nil {
			t.Fatal(err)
		}
		if got.Memberships != 3 || got.Tokens != 2 || got.InvitationsRevoked != 1 || got.InvitationsDeleted != 2 {
			t.Errorf("erasure counts %+v", got)
		}
		dump := e.dump(t)
		for _, pii := range []string{email, "erin.private", name} {
			if strings.Contains(strings.ToLower(dump), strings.ToLower(pii)) {
				t.Errorf("the store still holds %q after the erasure", pii)
			}
		}
		for _, s := range secrets {
			if _, err := e.m.Authenticate(ctx, s); !errors.Is(err, tenancy.ErrUnauthenticated) {
				t.Errorf("an erased user's token still authenticates: %v", err)
			}
		}
		if err := e.m.Authorize(ctx, erin, e.ws.ID, rbac.ReadWorkspace); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("the erased user still acts: %v", err)
		}
		// Her invitation to zed stays listed, revoked, without an inviter.
		pg, err := e.m.ListInvitations(ctx, admin, w2.ID, tenancy.MemberListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, inv := range pg.Items {
			if inv.ID == hers.Invitation.ID {
				found = true
				if inv.InviterID != "" || inv.RevokedAt.IsZero() {
					t.Errorf("her pending invitation after the erasure: %+v", inv.Invitation)
				}
			}
		}
		if !found {
			t.Error("her invitation to zed is gone")
		}
		last := e.lastEvent(t)
		if last.Type != "user.deleted" || last.Subject != "erin" {
			t.Errorf("the last event: %+v", last)
		}
		// The address is free again.
		if _, err := e.m.RegisterUser(ctx, system, tenancy.NewUser{ID: "erin2", Email: email}); err != nil {
			t.Errorf("register the freed email: %v", err)
		}
	})
}

// A suspended user's personal and workspace tokens fail Authenticate at once, and
// work again after reactivation; the memberships are kept.
func TestSuspendUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var secrets []string
		for _, in := range []tenancy.NewToken{{Name: "laptop"}, {Name: "ci", WorkspaceID: e.ws.ID, Role: rbac.Editor}} {
			in.Lifetime = time.Hour
			c, err := e.m.CreateToken(ctx, editor, in)
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, c.Secret)
		}
		before := e.dump(t)
		for _, c := range []struct {
			p    tenancy.Principal
			kind error
		}{{editor, tenancy.ErrPermissionDenied}, {owner, tenancy.ErrPermissionDenied}, {nobody, tenancy.ErrUnauthenticated}} {
			if _, err := e.m.SuspendUser(ctx, c.p, "editor"); !errors.Is(err, c.kind) {
				t.Errorf("SuspendUser by %v: %v, want %v", c.p, err, c.kind)
			}
			if e.dump(t) != before {
				t.Errorf("a refused SuspendUser by %v changed storage", c.p)
			}
		}
		if _, err := e.m.SuspendUser(ctx, platform, "plat"); !errors.Is(err, tenancy.ErrInvalidArgument) {
			t.Errorf("a platform user suspended themselves: %v", err)
		}
		u, err := e.m.SuspendUser(ctx, platform, "editor")
		if err != nil || !u.Suspended() {
			t.Fatalf("suspend: %+v, %v", u, err)
		}
		for _, s := range secrets {
			if _, err := e.m.Authenticate(ctx, s); !errors.Is(err, tenancy.ErrUnauthenticated) || !strings.Contains(err.Error(), "suspended") {
				t.Errorf("a suspended user's token authenticates: %v", err)
			}
		}
		if err := e.m.Authorize(ctx, editor, e.ws.ID, rbac.WriteContent); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("a suspended user is authorized: %v", err)
		}
		if _, err := e.m.CreateToken(ctx, editor, tenancy.NewToken{Name: "new", Lifetime: time.Hour}); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("a suspended user made a token: %v", err)
		}
		if mb, err := e.m.GetMember(ctx, system, e.ws.ID, "editor"); err != nil || mb.Role != rbac.Editor {
			t.Errorf("the membership is not kept: %+v, %v", mb, err)
		}
		if _, err := e.m.ReactivateUser(ctx, platform, "editor"); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			p, err := e.m.Authenticate(ctx, s)
			if err != nil {
				t.Fatalf("after reactivation: %v", err)
			}
			if err := e.m.Authorize(ctx, p, e.ws.ID, rbac.WriteContent); err != nil {
				t.Errorf("after reactivation: %v", err)
			}
		}
		if err := e.m.FlushTokenUsage(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUpdateUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "outsider@example.com", Role: rbac.Viewer})
		if err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		refused := []struct {
			name string
			p    tenancy.Principal
			id   string
			in   tenancy.UserUpdate
			kind error
		}{
			{"someone else", admin, "outsider", tenancy.UserUpdate{Name: ptr("X")}, tenancy.ErrPermissionDenied},
			{"a taken email", platform, "outsider", tenancy.UserUpdate{Email: ptr("Admin@example.com")}, tenancy.ErrAlreadyExists},
			{"not an email", outsider, "outsider", tenancy.UserUpdate{Email: ptr("nope")}, tenancy.ErrInvalidArgument},
			// An address must be proven: one's own email changes in two steps.
			{"own email, unproven", outsider, "outsider", tenancy.UserUpdate{Email: ptr("new.address@example.com")}, tenancy.ErrPermissionDenied},
			{"own email with a name", outsider, "outsider", tenancy.UserUpdate{Email: ptr("new.address@example.com"), Name: ptr("X")}, tenancy.ErrPermissionDenied},
			{"a missing user", platform, "ghost", tenancy.UserUpdate{Name: ptr("X")}, tenancy.ErrNotFound},
			{"nobody", nobody, "outsider", tenancy.UserUpdate{Name: ptr("X")}, tenancy.ErrUnauthenticated},
		}
		for _, c := range refused {
			if _, err := e.m.UpdateUser(ctx, c.p, c.id, c.in); !errors.Is(err, c.kind) {
				t.Errorf("%s: %v, want %v", c.name, err, c.kind)
			}
			if e.dump(t) != before {
				t.Errorf("%s: refused but storage changed", c.name)
			}
		}
		u, err := e.m.UpdateUser(ctx, platform, "outsider", tenancy.UserUpdate{Email: ptr("  New.Address@Example.com "), Name: ptr("Out Sider")})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "new.address@example.com" || u.Name != "Out Sider" {
			t.Errorf("updated user %+v", u)
		}
		if got, err := e.m.GetUserByEmail(ctx, system, "new.address@example.com"); err != nil || got.ID != "outsider" {
			t.Errorf("the new email does not find the user: %v", err)
		}
		if _, err := e.m.GetUserByEmail(ctx, system, "outsider@example.com"); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("the old email still finds the user: %v", err)
		}
		// The invitation stays bound to the address it was sent to.
		if _, err := e.m.AcceptInvitation(ctx, outsider, sent.Secret); !errors.Is(err, tenancy.ErrPermissionDenied) {
			t.Errorf("an invitation to the old address opened: %v", err)
		}
		last := e.lastEvent(t)
		if last.Type != "user.updated" || last.Data["fields"] != "email,name" || last.Data["email_set_by"] != "platform" || strings.Contains(fmt.Sprint(last), "new.address") {
			t.Errorf("the update's event: %+v", last)
		}
	})
}

// lastEvent pages through the feed to its newest event.
func (e *env) lastEvent(t *testing.T) tenancy.Event {
	t.Helper()
	var last tenancy.Event
	cursor := ""
	for {
		pg, err := e.m.Feed(ctx, system, tenancy.EventListOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		if len(pg.Items) > 0 {
			last = pg.Items[len(pg.Items)-1]
		}
		if pg.NextCursor == "" || len(pg.Items) == 0 {
			return last
		}
		cursor = pg.NextCursor
	}
}

// A store written before tokens carried their user's suspension: New marks the
// tokens of users already suspended, once, so Authenticate refuses them; Verify
// reports a mark that disagrees with its user.
func TestNewMarksSuspendedUsersTokens(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t)
			defer store.Close()
			h, _ := token.NewHasher(testKey)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			secrets := map[string]string{}
			err := store.Update(ctx, func(tx storage.ReadWriter) error {
				for _, id := range []string{"active", "suspended"} {
					u := member.User{ID: id, Email: id + "@example.com", CreatedAt: t0, UpdatedAt: t0}
					if id == "suspended" {
						u.SuspendedAt = t0
					}
					if err := tx.CreateUser(u); err != nil {
						return err
					}
					s, _ := token.NewSecret("tncp", nil)
					secrets[id] = s
					if err := tx.CreateToken(token.Token{ID: "tok_" + id, Kind: token.Personal, Name: "t", UserID: id,
						Hash: h.Hash(s), Hint: token.Hint(s), CreatedAt: t0}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			m, err := tenancy.New(store, tenancy.Options{SecretKey: testKey})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if _, err := m.Authenticate(ctx, secrets["suspended"]); !errors.Is(err, tenancy.ErrUnauthenticated) {
				t.Errorf("a token of a user suspended before the marks authenticates: %v", err)
			}
			if _, err := m.Authenticate(ctx, secrets["active"]); err != nil {
				t.Errorf("an active user's token: %v", err)
			}
			if f, err := m.Verify(ctx); err != nil || len(f) != 0 {
				t.Errorf("Verify after New marked the tokens: %v %v", f, err)
			}
			// A mark that disagrees with its user is a finding.
			err = store.Update(ctx, func(tx storage.ReadWriter) error {
				k, err := tx.GetToken("tok_active")
				if err != nil {
					return err
				}
				k.UserSuspended = true
				return tx.ReplaceToken(k)
			})
			if err != nil {
				t.Fatal(err)
			}
			f, err := m.Verify(ctx)
			if err != nil || len(f) != 1 || f[0].Check != "suspension" || f[0].Subject != "tok_active" {
				t.Errorf("Verify with a wrong mark: %v %v", f, err)
			}
		})
	}
}
