package tenancy_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/token"
)

func TestInvitationLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: " Mike@Example.org ", Role: rbac.Editor})
		if err != nil {
			t.Fatal(err)
		}
		inv := sent.Invitation
		if !strings.HasPrefix(sent.Secret, "tnci_") || inv.Email != "mike@example.org" || inv.Role != rbac.Editor ||
			inv.InviterID != "admin" || !inv.ExpiresAt.Equal(e.clock.Now().Add(7*24*time.Hour)) || inv.SecretHash != nil {
			t.Fatalf("unexpected invitation %+v", sent)
		}
		// Stored as a keyed hash only, never the secret.
		_ = e.store.View(ctx, func(tx storage.Reader) error {
			stored, err := tx.GetInvitation(inv.ID)
			if err != nil || strings.Contains(fmt.Sprintf("%+v", stored), sent.Secret[5:]) || len(stored.SecretHash) != 32 {
				t.Errorf("stored invitation holds the secret or no hash: %v", err)
			}
			return nil
		})
		// Inviting the same email again resends: new secret, old link dead.
		e.clock.Advance(time.Hour)
		again, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "mike@example.org", Role: rbac.Viewer})
		if err != nil || !again.Resent || again.Invitation.ID != inv.ID || again.Secret == sent.Secret || again.Invitation.Role != rbac.Viewer {
			t.Fatalf("re-invite: %+v %v", again, err)
		}
		e.registerUser(t, "mike")
		if _, err := e.m.RegisterUser(ctx, system, tenancy.NewUser{ID: "mike2", Email: "mıke@example.org"}); err != nil {
			t.Fatal(err)
		}
		// registerUser gave mike the email mike@example.com; point it at the invited one.
		_ = e.store.Update(ctx, func(tx storage.ReadWriter) error {
			u, _ := tx.GetUser("mike")
			u.Email = "mike@example.org"
			return tx.ReplaceUser(u)
		})
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("mike"), sent.Secret)
		wantErr(t, err, tenancy.ErrNotFound, "invitation not found")
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("mike2"), again.Secret)
		wantErr(t, err, tenancy.ErrPermissionDenied, "another email")
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("mike"), changeLast(again.Secret))
		wantErr(t, err, tenancy.ErrInvalidArgument, "not a valid invitation link")
		_, err = e.m.AcceptInvitation(ctx, nobody, again.Secret)
		wantErr(t, err, tenancy.ErrUnauthenticated, "no principal: authenticate first")
		mb, err := e.m.AcceptInvitation(ctx, tenancy.User("mike"), again.Secret)
		if err != nil || mb.Role != rbac.Viewer || mb.InvitedBy != "admin" {
			t.Fatalf("accept: %+v %v", mb, err)
		}
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("mike"), again.Secret)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "already used")
		// Inviting a member is refused.
		_, err = e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "mike@example.org", Role: rbac.Viewer})
		wantErr(t, err, tenancy.ErrAlreadyExists, "already a member")

		// Expiry: valid one second before, expired at the second; expired ones stay listed.
		short, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "late@example.org", Role: rbac.Viewer, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		late := e.registerUser(t, "late")
		_ = e.store.Update(ctx, func(tx storage.ReadWriter) error {
			u, _ := tx.GetUser("late")
			u.Email = "late@example.org"
			return tx.ReplaceUser(u)
		})
		e.clock.Advance(time.Hour)
		_, err = e.m.AcceptInvitation(ctx, late, short.Secret)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "expired")
		_, err = e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "x@example.org", Role: rbac.Viewer, TTL: 31 * 24 * time.Hour})
		wantErr(t, err, tenancy.ErrInvalidArgument, "invitation lifetime")

		revoked, _ := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "r@example.org", Role: rbac.Viewer})
		if _, err := e.m.RevokeInvitation(ctx, admin, revoked.Invitation.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.RevokeInvitation(ctx, admin, revoked.Invitation.ID)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "already revoked")
		_, err = e.m.ResendInvitation(ctx, admin, revoked.Invitation.ID)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "revoked")
		// Resending an expired invitation renews it.
		renewed, err := e.m.ResendInvitation(ctx, admin, short.Invitation.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.AcceptInvitation(ctx, late, renewed.Secret); err != nil {
			t.Errorf("accept a renewed invitation: %v", err)
		}

		pg, err := e.m.ListInvitations(ctx, admin, e.ws.ID, tenancy.MemberListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]member.InvitationState{}
		for _, i := range pg.Items {
			states[i.Email] = i.State
			if i.SecretHash != nil {
				t.Error("a listed invitation exposes its hash")
			}
		}
		want := map[string]member.InvitationState{"mike@example.org": member.Accepted, "late@example.org": member.Accepted, "r@example.org": member.Revoked}
		for k, v := range want {
			if states[k] != v {
				t.Errorf("state of %s: %s, want %s (all: %v)", k, states[k], v, states)
			}
		}
		_, err = e.m.ListInvitations(ctx, editor, e.ws.ID, tenancy.MemberListOptions{})
		wantErr(t, err, tenancy.ErrPermissionDenied, "the editor role may not manage members in workspace")
	})
}

func TestAcceptRechecksInviterAndWorkspace(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.registerUser(t, "newbie")
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "newbie@example.com", Role: rbac.Admin})
		if err != nil {
			t.Fatal(err)
		}
		// The inviter is demoted before the invitation is used: the ceiling holds.
		if _, err := e.m.ChangeRole(ctx, owner, e.ws.ID, "admin", rbac.Editor); err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("newbie"), sent.Secret)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "can no longer grant the admin role")
		if e.dump(t) != before {
			t.Error("a refused accept changed storage")
		}
		if _, err := e.m.ChangeRole(ctx, owner, e.ws.ID, "admin", rbac.Admin); err != nil {
			t.Fatal(err)
		}
		// A suspended inviter grants nothing until reactivated.
		if _, err := e.m.SuspendUser(ctx, platform, "admin"); err != nil {
			t.Fatal(err)
		}
		before = e.dump(t)
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("newbie"), sent.Secret)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "can no longer grant the admin role")
		if e.dump(t) != before {
			t.Error("a refused accept changed storage")
		}
		if _, err := e.m.ReactivateUser(ctx, platform, "admin"); err != nil {
			t.Fatal(err)
		}
		// An inactive workspace accepts no invitation and sends none; a deleted one does nothing.
		if _, err := e.m.DeactivateWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("newbie"), sent.Secret)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "is inactive")
		_, err = e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "n2@example.com", Role: rbac.Viewer})
		wantErr(t, err, tenancy.ErrFailedPrecondition, "inactive")
		// Member management by admins still works while inactive.
		if _, err := e.m.ChangeRole(ctx, admin, e.ws.ID, "viewer", rbac.Editor); err != nil {
			t.Errorf("change role while inactive: %v", err)
		}
		if _, err := e.m.ListMembers(ctx, viewer, e.ws.ID, tenancy.MemberListOptions{}); err != nil {
			t.Errorf("list members while inactive: %v", err)
		}
		if _, err := e.m.DeleteWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		before = e.dump(t)
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("newbie"), sent.Secret)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "deleted")
		_, err = e.m.ChangeRole(ctx, admin, e.ws.ID, "viewer", rbac.Viewer)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "deleted")
		err = e.m.RemoveMember(ctx, owner, e.ws.ID, "viewer")
		wantErr(t, err, tenancy.ErrFailedPrecondition, "deleted")
		_, err = e.m.AddMember(ctx, platform, e.ws.ID, tenancy.NewMember{UserID: "newbie", Role: rbac.Viewer})
		wantErr(t, err, tenancy.ErrFailedPrecondition, "deleted")
		err = e.m.LeaveWorkspace(ctx, viewer, e.ws.ID)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "deleted")
		if e.dump(t) != before {
			t.Error("an operation on a deleted workspace changed storage")
		}
	})
}

func TestOwnerRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		before := e.dump(t)
		for _, p := range []tenancy.Principal{admin, platform, system, owner} {
			_, err := e.m.ChangeRole(ctx, p, e.ws.ID, "owner", rbac.Editor)
			wantErr(t, err, tenancy.ErrFailedPrecondition, "owner must stay an admin")
			err = e.m.RemoveMember(ctx, p, e.ws.ID, "owner")
			wantErr(t, err, tenancy.ErrFailedPrecondition, "owner cannot be removed")
		}
		wantErr(t, e.m.LeaveWorkspace(ctx, owner, e.ws.ID), tenancy.ErrFailedPrecondition, "owner cannot leave")
		_, err := e.m.TransferOwnership(ctx, owner, e.ws.ID, "editor")
		wantErr(t, err, tenancy.ErrFailedPrecondition, "only move to a member of the highest role, admin")
		_, err = e.m.TransferOwnership(ctx, admin, e.ws.ID, "admin")
		wantErr(t, err, tenancy.ErrPermissionDenied, "the admin role may not delete or restore the workspace in workspace")
		_, err = e.m.TransferOwnership(ctx, owner, e.ws.ID, "outsider")
		wantErr(t, err, tenancy.ErrNotFound, "not a member")
		if e.dump(t) != before {
			t.Fatal("a refused owner operation changed storage")
		}
		w, err := e.m.TransferOwnership(ctx, owner, e.ws.ID, "admin")
		if err != nil || w.OwnerID != "admin" {
			t.Fatalf("transfer: %+v %v", w, err)
		}
		old, _ := e.m.GetMember(ctx, viewer, e.ws.ID, "owner")
		neu, _ := e.m.GetMember(ctx, viewer, e.ws.ID, "admin")
		if old.Owner || old.Role != rbac.Admin || !neu.Owner || neu.Role != rbac.Admin {
			t.Errorf("after transfer: old %+v new %+v", old, neu)
		}
		// The old owner can now leave; the new one may delete, the old one may not.
		if _, err := e.m.DeleteWorkspace(ctx, owner, e.ws.ID); !errors.Is(err, tenancy.ErrPermissionDenied) {
			t.Errorf("old owner deletes: %v", err)
		}
		if err := e.m.LeaveWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Errorf("old owner leaves: %v", err)
		}
		assertOneOwnerAndAnAdmin(t, e, e.ws.ID)
	})
}

func assertOneOwnerAndAnAdmin(t *testing.T, e *env, wsID string) {
	t.Helper()
	owners, admins := 0, 0
	_ = e.store.View(ctx, func(tx storage.Reader) error {
		return tx.ScanMembers(wsID, "", func(m member.Member) bool {
			if m.Owner {
				owners++
				if m.Role != rbac.Admin {
					t.Errorf("the owner %s is %s", m.UserID, m.Role)
				}
			}
			if m.Role == rbac.Admin {
				admins++
			}
			return true
		})
	})
	if owners != 1 || admins < 1 {
		t.Errorf("%d owners and %d admins, want exactly 1 and at least 1", owners, admins)
	}
}

// Admins demoting each other at the same moment never leave a workspace without an
// admin or with other than one owner.
func TestConcurrentDemotions(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.registerUser(t, "admin2")
		for round := 0; round < 20; round++ {
			e.addMember(t, e.ws.ID, "admin", rbac.Admin)
			e.addMember(t, e.ws.ID, "admin2", rbac.Admin)
			var wg sync.WaitGroup
			for _, pair := range [][2]string{{"admin", "admin2"}, {"admin2", "admin"}, {"admin", "owner"}, {"admin2", "owner"}} {
				wg.Add(1)
				go func(actor, target string) {
					defer wg.Done()
					_, err := e.m.ChangeRole(ctx, tenancy.User(actor), e.ws.ID, target, rbac.Viewer)
					// The actor may itself have been demoted a moment earlier: then
					// it may not manage members at all. Either way the owner stays.
					if target == "owner" && !errors.Is(err, tenancy.ErrFailedPrecondition) && !errors.Is(err, tenancy.ErrPermissionDenied) {
						t.Errorf("demoting the owner: %v", err)
					}
				}(pair[0], pair[1])
			}
			wg.Wait()
			assertOneOwnerAndAnAdmin(t, e, e.ws.ID)
		}
	})
}

// Two accepts of one invitation make one membership; a revoke that commits first
// makes none.
func TestParallelAccepts(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.registerUser(t, "joiner")
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "joiner@example.com", Role: rbac.Editor})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.m.AcceptInvitation(ctx, tenancy.User("joiner"), sent.Secret)
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
				} else if !errors.Is(err, tenancy.ErrFailedPrecondition) && !errors.Is(err, tenancy.ErrAlreadyExists) {
					t.Errorf("losing accept: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d accepts succeeded, want 1", wins)
		}
		e.registerUser(t, "late")
		sent, _ = e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "late@example.com", Role: rbac.Editor})
		if _, err := e.m.RevokeInvitation(ctx, admin, sent.Invitation.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.AcceptInvitation(ctx, tenancy.User("late"), sent.Secret)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "revoked")
		if _, err := e.m.GetMember(ctx, admin, e.ws.ID, "late"); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("a revoked invitation made a member: %v", err)
		}
	})
}

// An admin of workspace A acting on B's members or invitations by ID gets not-found
// and changes nothing.
func TestCrossWorkspaceIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		b, err := e.m.CreateWorkspace(ctx, outsider, tenancy.NewWorkspace{Name: "B"})
		if err != nil {
			t.Fatal(err)
		}
		e.registerUser(t, "bob")
		e.addMember(t, b.ID, "bob", rbac.Viewer)
		sent, err := e.m.InviteMember(ctx, outsider, b.ID, tenancy.NewInvitation{Email: "x@example.com", Role: rbac.Viewer})
		if err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		calls := map[string]func() error{
			"change role": func() error { _, err := e.m.ChangeRole(ctx, admin, b.ID, "bob", rbac.Admin); return err },
			"remove":      func() error { return e.m.RemoveMember(ctx, admin, b.ID, "bob") },
			"add": func() error {
				_, err := e.m.AddMember(ctx, admin, b.ID, tenancy.NewMember{UserID: "viewer", Role: rbac.Admin})
				return err
			},
			"invite": func() error {
				_, err := e.m.InviteMember(ctx, admin, b.ID, tenancy.NewInvitation{Email: "y@example.com", Role: rbac.Admin})
				return err
			},
			"revoke invitation": func() error { _, err := e.m.RevokeInvitation(ctx, admin, sent.Invitation.ID); return err },
			"resend invitation": func() error { _, err := e.m.ResendInvitation(ctx, admin, sent.Invitation.ID); return err },
			"list invitations":  func() error { _, err := e.m.ListInvitations(ctx, admin, b.ID, tenancy.MemberListOptions{}); return err },
			"list members":      func() error { _, err := e.m.ListMembers(ctx, admin, b.ID, tenancy.MemberListOptions{}); return err },
			"get member":        func() error { _, err := e.m.GetMember(ctx, admin, b.ID, "bob"); return err },
			"transfer":          func() error { _, err := e.m.TransferOwnership(ctx, owner, b.ID, "bob"); return err },
			"leave":             func() error { return e.m.LeaveWorkspace(ctx, admin, b.ID) },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, tenancy.ErrNotFound) {
				t.Errorf("%s across workspaces: %v, want not found", name, err)
			}
			if strings.Contains(fmt.Sprint(err), "bob") {
				t.Errorf("%s: the error names B's member: %v", name, err)
			}
		}
		if e.dump(t) != before {
			t.Error("acting across workspaces changed storage")
		}
	})
}

func TestRemoveAndLeaveRevokeTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		other, _ := e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "Editor's own"})
		_ = e.store.Update(ctx, func(tx storage.ReadWriter) error {
			for i, spec := range []struct{ ws, user string }{{e.ws.ID, "editor"}, {e.ws.ID, "editor"}, {other.ID, "editor"}, {"", "editor"}, {e.ws.ID, "viewer"}} {
				k := token.Workspace
				if spec.ws == "" {
					k = token.Personal
				}
				_ = tx.CreateToken(token.Token{ID: fmt.Sprintf("tok_%d", i), Kind: k, WorkspaceID: spec.ws, UserID: spec.user, Role: rbac.Viewer, Hash: []byte{byte(i)}})
			}
			return nil
		})
		if err := e.m.RemoveMember(ctx, admin, e.ws.ID, "editor"); err != nil {
			t.Fatal(err)
		}
		if err := e.m.LeaveWorkspace(ctx, viewer, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		revoked := map[string]bool{}
		_ = e.store.View(ctx, func(tx storage.Reader) error {
			for i := 0; i < 5; i++ {
				k, _ := tx.GetToken(fmt.Sprintf("tok_%d", i))
				revoked[k.ID] = !k.RevokedAt.IsZero()
			}
			return nil
		})
		want := map[string]bool{"tok_0": true, "tok_1": true, "tok_2": false, "tok_3": false, "tok_4": true}
		for id, w := range want {
			if revoked[id] != w {
				t.Errorf("%s revoked = %v, want %v", id, revoked[id], w)
			}
		}
		evs, _ := e.m.ListEvents(ctx, admin, e.ws.ID, tenancy.EventListOptions{Limit: 100})
		last := evs.Items[len(evs.Items)-2]
		if last.Type != "member.removed" || last.Data["tokens_revoked"] != "tok_0,tok_1" {
			t.Errorf("removal event %+v", last)
		}
	})
}

func TestMembershipEventsAndLists(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for i := 0; i < 60; i++ {
			e.registerUser(t, fmt.Sprintf("m%02d", i))
		}
		for i := 0; i < 60; i++ {
			if _, err := e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: fmt.Sprintf("m%02d", i), Role: rbac.Viewer}); err != nil {
				t.Fatal(err)
			}
		}
		pg, err := e.m.ListMembers(ctx, viewer, e.ws.ID, tenancy.MemberListOptions{})
		if err != nil || len(pg.Items) != 50 || !pg.HasMore {
			t.Fatalf("first page: %d items, more %v, %v", len(pg.Items), pg.HasMore, err)
		}
		pg2, err := e.m.ListMembers(ctx, viewer, e.ws.ID, tenancy.MemberListOptions{Cursor: pg.NextCursor})
		if err != nil || len(pg2.Items) != 14 || pg2.HasMore { // 60 + owner, admin, editor, viewer
			t.Fatalf("second page: %d items, more %v, %v", len(pg2.Items), pg2.HasMore, err)
		}
		if pg2.Items[0].UserID <= pg.Items[49].UserID {
			t.Error("pages overlap or are out of order")
		}
		_, err = e.m.ListMembers(ctx, viewer, e.ws.ID, tenancy.MemberListOptions{Limit: 101})
		wantErr(t, err, tenancy.ErrInvalidArgument, "limit must be between 1 and 100")
		_, err = e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: "m00", Role: rbac.Viewer})
		wantErr(t, err, tenancy.ErrAlreadyExists, "already a member")
		_, err = e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{Email: "nobody@example.com", Role: rbac.Viewer})
		wantErr(t, err, tenancy.ErrNotFound, "invite them instead")
		_, err = e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: "m01", Email: "m01@example.com", Role: rbac.Viewer})
		wantErr(t, err, tenancy.ErrInvalidArgument, "not both")
		_, err = e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: "m01", Role: "superuser"})
		wantErr(t, err, tenancy.ErrInvalidArgument, `role "superuser" must be viewer, editor or admin`)

		sent, _ := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "inv@example.com", Role: rbac.Viewer})
		_, _ = e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "inv@example.com", Role: rbac.Viewer})
		e.registerUser(t, "inv")
		_, _ = e.m.AcceptInvitation(ctx, tenancy.User("inv"), sent.Secret) // the old link: refused
		sent2, _ := e.m.ResendInvitation(ctx, admin, sent.Invitation.ID)
		if _, err := e.m.AcceptInvitation(ctx, tenancy.User("inv"), sent2.Secret); err != nil {
			t.Fatal(err)
		}
		sent3, _ := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "gone@example.com", Role: rbac.Viewer})
		_, _ = e.m.RevokeInvitation(ctx, admin, sent3.Invitation.ID)
		_, _ = e.m.ChangeRole(ctx, admin, e.ws.ID, "m00", rbac.Editor)
		_ = e.m.RemoveMember(ctx, admin, e.ws.ID, "m01")
		_ = e.m.LeaveWorkspace(ctx, tenancy.User("m02"), e.ws.ID)
		_, _ = e.m.TransferOwnership(ctx, owner, e.ws.ID, "admin")
		evs, err := e.m.ListEvents(ctx, admin, e.ws.ID, tenancy.EventListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, ev := range evs.Items {
			seen[ev.Type]++
			for _, v := range ev.Data {
				if strings.Contains(v, sent.Secret[5:]) || strings.Contains(v, sent2.Secret[5:]) {
					t.Errorf("event %s holds a secret", ev.Type)
				}
			}
		}
		for typ, n := range map[string]int{"member.added": 60, "member.invited": 2, "invitation.resent": 2, "invitation.accepted": 1,
			"invitation.revoked": 1, "member.role_changed": 1, "member.removed": 1, "member.left": 1, "workspace.ownership_transferred": 1} {
			if seen[typ] != n {
				t.Errorf("%d %s events, want %d", seen[typ], typ, n)
			}
		}
	})
}

func TestDurableBackendNeedsAKey(t *testing.T) {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "t.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := tenancy.New(s, tenancy.Options{}); err == nil || !strings.Contains(err.Error(), "SecretKey") {
		t.Errorf("New over bolt without a key: %v", err)
	}
	if _, err := tenancy.New(s, tenancy.Options{SecretKey: []byte("short")}); err == nil {
		t.Error("a 5-byte key was accepted")
	}
	if _, err := tenancy.New(s, tenancy.Options{SecretKey: testKey, SecretPrefix: "Bad_"}); err == nil {
		t.Error("a bad prefix was accepted")
	}
}

func TestInvitationBySecretAndListUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sent, _ := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com", Role: rbac.Editor})
		info, err := e.m.InvitationBySecret(ctx, sent.Secret)
		if err != nil || info.Email != "new@example.com" || info.State != member.Pending || info.WorkspaceID != e.ws.ID || info.SecretHash != nil {
			t.Errorf("InvitationBySecret: %+v %v", info, err)
		}
		_, err = e.m.InvitationBySecret(ctx, "garbage")
		wantErr(t, err, tenancy.ErrInvalidArgument, "not a valid invitation link")
		other, _ := token.NewSecret("tnci", nil)
		_, err = e.m.InvitationBySecret(ctx, other)
		wantErr(t, err, tenancy.ErrNotFound, "invitation not found: the link may have been replaced by a newer one")

		pg, err := e.m.ListUsers(ctx, platform, tenancy.MemberListOptions{Limit: 4})
		if err != nil || len(pg.Items) != 4 || !pg.HasMore {
			t.Fatalf("ListUsers: %d %v", len(pg.Items), err)
		}
		pg2, _ := e.m.ListUsers(ctx, system, tenancy.MemberListOptions{Limit: 4, Cursor: pg.NextCursor})
		if len(pg2.Items) != 2 || pg2.Items[0].ID <= pg.Items[3].ID {
			t.Errorf("second page: %+v", pg2.Items)
		}
		_, err = e.m.ListUsers(ctx, admin, tenancy.MemberListOptions{})
		wantErr(t, err, tenancy.ErrPermissionDenied, "only platform users may manage users")
	})
}

// Registering and accepting is one transaction: every refusal leaves nothing behind.
func TestAcceptInvitationAsNewUser(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "Nia@Example.com", Role: rbac.Editor})
		if err != nil {
			t.Fatal(err)
		}
		existing, _ := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "outsider@example.com", Role: rbac.Viewer})
		refusals := []struct {
			name  string
			setup func()
			call  func() error
			kind  error
		}{
			{"garbage secret", nil, func() error {
				_, _, err := e.m.AcceptInvitationAsNewUser(ctx, "nope", tenancy.NewUser{ID: "nia"})
				return err
			}, tenancy.ErrInvalidArgument},
			{"bad user ID", nil, func() error {
				_, _, err := e.m.AcceptInvitationAsNewUser(ctx, sent.Secret, tenancy.NewUser{ID: "a b"})
				return err
			}, tenancy.ErrInvalidArgument},
			{"another email", nil, func() error {
				_, _, err := e.m.AcceptInvitationAsNewUser(ctx, sent.Secret, tenancy.NewUser{ID: "nia", Email: "x@example.com"})
				return err
			}, tenancy.ErrInvalidArgument},
			{"email with an account", nil, func() error {
				_, _, err := e.m.AcceptInvitationAsNewUser(ctx, existing.Secret, tenancy.NewUser{ID: "dup"})
				return err
			}, tenancy.ErrAlreadyExists},
			{"taken user ID", nil, func() error {
				_, _, err := e.m.AcceptInvitationAsNewUser(ctx, sent.Secret, tenancy.NewUser{ID: "viewer"})
				return err
			}, tenancy.ErrAlreadyExists},
			{"inactive workspace", func() {
				if _, err := e.m.DeactivateWorkspace(ctx, owner, e.ws.ID); err != nil {
					t.Fatal(err)
				}
			}, func() error {
				_, _, err := e.m.AcceptInvitationAsNewUser(ctx, sent.Secret, tenancy.NewUser{ID: "nia"})
				return err
			}, tenancy.ErrFailedPrecondition},
			{"inviter demoted", func() {
				_, _ = e.m.ReactivateWorkspace(ctx, owner, e.ws.ID)
				if _, err := e.m.ChangeRole(ctx, owner, e.ws.ID, "admin", rbac.Viewer); err != nil {
					t.Fatal(err)
				}
			}, func() error {
				_, _, err := e.m.AcceptInvitationAsNewUser(ctx, sent.Secret, tenancy.NewUser{ID: "nia"})
				return err
			}, tenancy.ErrFailedPrecondition},
		}
		for _, r := range refusals {
			if r.setup != nil {
				r.setup()
			}
			before := e.dump(t)
			if err := r.call(); !errors.Is(err, r.kind) {
				t.Errorf("%s: got %v, want %v", r.name, err, r.kind)
			}
			if e.dump(t) != before {
				t.Errorf("%s: a refused call changed storage (an account left behind?)", r.name)
			}
		}
		if _, err := e.m.ChangeRole(ctx, owner, e.ws.ID, "admin", rbac.Admin); err != nil {
			t.Fatal(err)
		}
		u, mb, err := e.m.AcceptInvitationAsNewUser(ctx, sent.Secret, tenancy.NewUser{ID: "nia", Name: "Nia"})
		if err != nil || u.Email != "nia@example.com" || mb.Role != rbac.Editor || mb.UserID != "nia" || mb.InvitedBy != "admin" {
			t.Fatalf("accept as a new user: %+v %+v %v", u, mb, err)
		}
		_, _, err = e.m.AcceptInvitationAsNewUser(ctx, sent.Secret, tenancy.NewUser{ID: "nia2"})
		wantErr(t, err, tenancy.ErrAlreadyExists, "already has an account")
	})
}

// changeLast returns secret with its last character replaced by a different one, so
// the checksum always breaks (a fixed replacement would be a no-op one time in 62).
func changeLast(secret string) string {
	last := secret[len(secret)-1]
	repl := byte('x')
	if last == repl {
		repl = 'y'
	}
	return secret[:len(secret)-1] + string(repl)
}
