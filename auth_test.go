package tenancy_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/workspace"
)

// Each test here is one of the escapes found by trying tokens as an attacker would:
// every one passed before the authorization core. The principal grid
// (storagetest's Manager/PrincipalGrid) covers every method; these pin the cases.

// listIDs returns a page's IDs; an error comes back as the only "ID", so that the
// caller's comparison fails and shows it.
func listIDs(pg workspace.Page[workspace.Workspace], err error) []string {
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var ids []string
	for _, w := range pg.Items {
		ids = append(ids, w.ID)
	}
	return ids
}

func TestWorkspaceTokenSeesOnlyItsWorkspace(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		other, _ := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Other"})
		gone, _ := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Gone"})
		if _, err := e.m.DeleteWorkspace(ctx, admin, gone.ID); err != nil {
			t.Fatal(err)
		}
		for _, role := range []rbac.Role{rbac.Viewer, rbac.Editor, rbac.Admin} {
			p := e.auth(t, e.newToken(t, admin, tenancy.NewToken{Name: "t", WorkspaceID: e.ws.ID, Role: role}).Secret)
			if ids := listIDs(e.m.ListWorkspaces(ctx, p, workspace.ListOptions{})); len(ids) != 1 || ids[0] != e.ws.ID {
				t.Errorf("%s token lists %v, want only %s", role, ids, e.ws.ID)
			}
			if ids := listIDs(e.m.ListWorkspaces(ctx, p, workspace.ListOptions{Status: workspace.Deleted})); len(ids) != 0 {
				t.Errorf("%s token lists deleted %v", role, ids)
			}
			uw, err := e.m.ListUserWorkspaces(ctx, p, "admin", workspace.ListOptions{})
			if err != nil || len(uw.Items) != 1 || uw.Items[0].Workspace.ID != e.ws.ID {
				t.Errorf("%s token's user list: %+v %v", role, uw.Items, err)
			}
			_, err = e.m.GetWorkspace(ctx, p, other.ID)
			wantErr(t, err, tenancy.ErrNotFound, "not found")
		}
		// Made by a platform user, it still has no platform powers.
		e.addMember(t, e.ws.ID, "plat", rbac.Editor)
		pt := e.auth(t, e.newToken(t, platform, tenancy.NewToken{Name: "ops", WorkspaceID: e.ws.ID}).Secret)
		if ids := listIDs(e.m.ListWorkspaces(ctx, pt, workspace.ListOptions{})); len(ids) != 1 {
			t.Errorf("a platform user's workspace token lists %v", ids)
		}
		_, err := e.m.GetUser(ctx, pt, "outsider")
		wantErr(t, err, tenancy.ErrPermissionDenied, "own record")
		_, err = e.m.GetUserByEmail(ctx, pt, "outsider@example.com")
		wantErr(t, err, tenancy.ErrPermissionDenied, "own record")
		_, err = e.m.ListUserWorkspaces(ctx, pt, "owner", workspace.ListOptions{})
		wantErr(t, err, tenancy.ErrPermissionDenied, "users may only list their own workspaces")
		if u, err := e.m.GetUser(ctx, pt, "plat"); err != nil || u.ID != "plat" {
			t.Errorf("a token reads its own user: %v", err)
		}
	})
}

func TestCappedPersonalTokenHasNoPlatformPowers(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		if _, err := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Elsewhere"}); err != nil {
			t.Fatal(err)
		}
		ro := e.auth(t, e.newToken(t, platform, tenancy.NewToken{Name: "ro", Role: rbac.Viewer}).Secret)
		if ids := listIDs(e.m.ListWorkspaces(ctx, ro, workspace.ListOptions{})); len(ids) != 0 {
			t.Errorf("a viewer-capped platform token lists %v", ids) // plat is a member of none
		}
		_, err := e.m.ListTokens(ctx, ro, tenancy.TokenListOptions{UserID: "admin"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "users may only list their own tokens")
		before := e.dump(t)
		_, err = e.m.CreateWorkspace(ctx, ro, tenancy.NewWorkspace{Name: "For viewer", OwnerID: "viewer"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "a personal token capped at viewer cannot create workspaces")
		_, _, err = e.m.EnsureWorkspace(ctx, ro, tenancy.NewWorkspace{Name: "For viewer", ExternalID: "crm-9", OwnerID: "viewer"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "only platform users may ensure a workspace by external")
		if e.dump(t) != before {
			t.Error("a refused call changed storage")
		}
		// One question, one answer: AuthorizePlatform agrees with every method.
		wantErr(t, e.m.AuthorizePlatform(ctx, ro, rbac.ListAll), tenancy.ErrPermissionDenied, "only platform users may list every workspace")
		full := e.auth(t, e.newToken(t, platform, tenancy.NewToken{Name: "full", Role: rbac.Platform}).Secret)
		wantErr(t, e.m.AuthorizePlatform(ctx, full, rbac.ListAll), nil, "")
		if ids := listIDs(e.m.ListWorkspaces(ctx, full, workspace.ListOptions{})); len(ids) != 2 {
			t.Errorf("a platform-capped token lists %v, want every workspace", ids)
		}
	})
}

func TestTokensCannotActOnTheirUsersCredentials(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ed := e.newToken(t, editor, tenancy.NewToken{Name: "editor's", WorkspaceID: e.ws.ID, Role: rbac.Editor})
		vt := e.auth(t, e.newToken(t, editor, tenancy.NewToken{Name: "viewer's", WorkspaceID: e.ws.ID, Role: rbac.Viewer}).Secret)
		adminCapped := e.auth(t, e.newToken(t, admin, tenancy.NewToken{Name: "ro", Role: rbac.Viewer}).Secret)
		adminTok := e.newToken(t, admin, tenancy.NewToken{Name: "admin's", WorkspaceID: e.ws.ID})
		sentTo := func(email string) string {
			s, err := e.m.InviteMember(ctx, owner, e.ws.ID, tenancy.NewInvitation{Email: email, Role: rbac.Viewer})
			if err != nil {
				t.Fatal(err)
			}
			return s.Secret
		}
		e.registerUser(t, "newbie")
		newbieCapped := e.auth(t, e.newToken(t, tenancy.User("newbie"), tenancy.NewToken{Name: "ro", Role: rbac.Viewer}).Secret)
		secret := sentTo("newbie@example.com")

		before := e.dump(t)
		wantErr(t, e.m.RevokeToken(ctx, vt, ed.Token.ID), tenancy.ErrNotFound, "not found")
		wantErr(t, e.m.LeaveWorkspace(ctx, vt, e.ws.ID), tenancy.ErrPermissionDenied, "workspace token")
		wantErr(t, e.m.RevokeToken(ctx, adminCapped, adminTok.Token.ID), tenancy.ErrNotFound, "not found")
		wantErr(t, e.m.LeaveWorkspace(ctx, adminCapped, e.ws.ID), tenancy.ErrPermissionDenied, "capped at viewer")
		_, err := e.m.AcceptInvitation(ctx, newbieCapped, secret)
		wantErr(t, err, tenancy.ErrPermissionDenied, "capped")
		if e.dump(t) != before {
			t.Error("a refused call changed storage")
		}
		// A token may always revoke itself.
		wantErr(t, e.m.RevokeToken(ctx, vt, vt.TokenID()), nil, "")
	})
}

func TestRotateRechecksEveryCeiling(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c := e.newToken(t, platform, tenancy.NewToken{Name: "ops", Role: rbac.Platform})
		if _, err := e.m.SetPlatform(ctx, system, "plat", false); err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		_, err := e.m.RotateToken(ctx, platform, c.Token.ID)
		wantErr(t, err, tenancy.ErrPermissionDenied, "higher than your own")
		_, err = e.m.RotateToken(ctx, system, c.Token.ID)
		wantErr(t, err, tenancy.ErrPermissionDenied, "higher than your own")
		if e.dump(t) != before {
			t.Error("a refused rotation changed storage")
		}
		// An admin-capped personal token of an ordinary user rotates: admin is theirs to give.
		a := e.newToken(t, editor, tenancy.NewToken{Name: "adm", Role: rbac.Admin})
		if _, err := e.m.RotateToken(ctx, editor, a.Token.ID); err != nil {
			t.Errorf("rotate an admin-capped personal token: %v", err)
		}
	})
}

func TestUserWorkspacesHideDeletedFromNonOwners(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		if _, err := e.m.DeleteWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		for _, who := range []string{"admin", "viewer"} {
			for _, opts := range []workspace.ListOptions{{}, {Status: workspace.Deleted}} {
				uw, err := e.m.ListUserWorkspaces(ctx, tenancy.User(who), who, opts)
				if err != nil || len(uw.Items) != 0 {
					t.Errorf("%s sees %+v (%v) with status %q", who, uw.Items, err, opts.Status)
				}
			}
		}
		uw, err := e.m.ListUserWorkspaces(ctx, owner, "owner", workspace.ListOptions{Status: workspace.Deleted})
		if err != nil || len(uw.Items) != 1 {
			t.Errorf("the owner sees its deleted workspace: %+v %v", uw.Items, err)
		}
	})
}

func TestExternalIDsCannotBeSquatted(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		before := e.dump(t)
		_, err := e.m.CreateWorkspace(ctx, outsider, tenancy.NewWorkspace{Name: "Squat", ExternalID: "customer-42"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "external ID")
		if e.dump(t) != before {
			t.Error("a refused creation changed storage")
		}
		w, created, err := e.m.EnsureWorkspace(ctx, system, tenancy.NewWorkspace{Name: "Customer 42", ExternalID: "customer-42", OwnerID: "viewer"})
		if err != nil || !created || w.OwnerID != "viewer" {
			t.Fatalf("ensure after the refused squat: %+v %v %v", w, created, err)
		}
		_, _, err = e.m.EnsureWorkspace(ctx, outsider, tenancy.NewWorkspace{Name: "x", ExternalID: "customer-42"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "only platform users may ensure a workspace by external")
		if strings.Contains(err.Error(), w.ID) {
			t.Errorf("the refusal names another tenant's workspace: %v", err)
		}
	})
}

func TestSyncDryRunRunsTheRealChecks(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		cases := []struct {
			name  string
			items []workspace.SyncItem
			kind  error
			msg   string
		}{
			{"unknown owner", []workspace.SyncItem{{ExternalID: "a", Name: "A", OwnerID: "ghost"}}, tenancy.ErrInvalidArgument, `workspace 0: owner "ghost" is not a registered user`},
			{"taken slug", []workspace.SyncItem{{ExternalID: "b", Name: "B", Slug: e.ws.Slug, OwnerID: "viewer"}}, tenancy.ErrAlreadyExists, `workspace 0: slug "main" is already taken`},
			{"one slug twice", []workspace.SyncItem{{ExternalID: "c", Name: "C", Slug: "same", OwnerID: "viewer"}, {ExternalID: "d", Name: "D", Slug: "same", OwnerID: "viewer"}}, tenancy.ErrAlreadyExists, `workspace 1: slug "same" is already taken`},
		}
		for _, c := range cases {
			before := e.dump(t)
			_, errDry := e.m.SyncWorkspaces(ctx, platform, c.items, tenancy.SyncOptions{DryRun: true})
			_, errReal := e.m.SyncWorkspaces(ctx, platform, c.items, tenancy.SyncOptions{})
			wantErr(t, errDry, c.kind, c.msg)
			wantErr(t, errReal, c.kind, c.msg)
			if e.dump(t) != before {
				t.Errorf("%s: a refused sync changed storage", c.name)
			}
		}
		before := e.dump(t)
		res, err := e.m.SyncWorkspaces(ctx, platform, []workspace.SyncItem{{ExternalID: "ok", Name: "Ok", OwnerID: "viewer"}}, tenancy.SyncOptions{DryRun: true})
		if err != nil || res.Created != 1 || len(res.CreatedIDs) != 0 || !res.DryRun {
			t.Errorf("dry run: %+v %v", res, err)
		}
		if e.dump(t) != before {
			t.Error("a dry run changed storage")
		}
	})
}

func TestMessagesQuoteBoundedInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		huge := strings.Repeat("x", 1<<20)
		calls := map[string]func() error{
			"GetWorkspace":    func() error { _, err := e.m.GetWorkspace(ctx, owner, huge); return err },
			"UpdateWorkspace": func() error { _, err := e.m.UpdateWorkspace(ctx, owner, huge, tenancy.WorkspaceUpdate{}); return err },
			"Deactivate":      func() error { _, err := e.m.DeactivateWorkspace(ctx, owner, huge); return err },
			"Reactivate":      func() error { _, err := e.m.ReactivateWorkspace(ctx, owner, huge); return err },
			"Delete":          func() error { _, err := e.m.DeleteWorkspace(ctx, owner, huge); return err },
			"Restore":         func() error { _, err := e.m.RestoreWorkspace(ctx, owner, huge); return err },
			"Purge":           func() error { return e.m.PurgeWorkspace(ctx, system, huge) },
			"Authorize":       func() error { return e.m.Authorize(ctx, owner, huge, rbac.ReadWorkspace) },
			"AddMember": func() error {
				_, err := e.m.AddMember(ctx, owner, e.ws.ID, tenancy.NewMember{UserID: huge, Role: rbac.Viewer})
				return err
			},
			"GetMember":    func() error { _, err := e.m.GetMember(ctx, owner, e.ws.ID, huge); return err },
			"ListMembers":  func() error { _, err := e.m.ListMembers(ctx, owner, huge, tenancy.MemberListOptions{}); return err },
			"ChangeRole":   func() error { _, err := e.m.ChangeRole(ctx, owner, e.ws.ID, huge, rbac.Viewer); return err },
			"RemoveMember": func() error { return e.m.RemoveMember(ctx, owner, e.ws.ID, huge) },
			"Leave":        func() error { return e.m.LeaveWorkspace(ctx, viewer, huge) },
			"Transfer":     func() error { _, err := e.m.TransferOwnership(ctx, owner, e.ws.ID, huge); return err },
			"Invite": func() error {
				_, err := e.m.InviteMember(ctx, owner, huge, tenancy.NewInvitation{Email: "a@b.c", Role: rbac.Viewer})
				return err
			},
			"ResendInvitation": func() error { _, err := e.m.ResendInvitation(ctx, owner, huge); return err },
			"RevokeInvitation": func() error { _, err := e.m.RevokeInvitation(ctx, owner, huge); return err },
			"GetToken":         func() error { _, err := e.m.GetToken(ctx, owner, huge); return err },
			"RevokeToken":      func() error { return e.m.RevokeToken(ctx, owner, huge) },
			"RotateToken":      func() error { _, err := e.m.RotateToken(ctx, owner, huge); return err },
			"ListEvents":       func() error { _, err := e.m.ListEvents(ctx, owner, huge, tenancy.EventListOptions{}); return err },
			"SetPlatform":      func() error { _, err := e.m.SetPlatform(ctx, system, huge, true); return err },
			"an unknown user": func() error {
				_, err := e.m.ListWorkspaces(ctx, tenancy.User(huge), workspace.ListOptions{})
				return err
			},
			"CreateWorkspace": func() error {
				_, err := e.m.CreateWorkspace(ctx, system, tenancy.NewWorkspace{Name: "x", OwnerID: huge})
				return err
			},
			"workspace token": func() error {
				_, err := e.m.CreateToken(ctx, owner, tenancy.NewToken{Name: "x", WorkspaceID: huge, Lifetime: time.Hour})
				return err
			},
			"ListTokens": func() error {
				_, err := e.m.ListTokens(ctx, owner, tenancy.TokenListOptions{WorkspaceID: huge})
				return err
			},
			"ListInvitations":   func() error { _, err := e.m.ListInvitations(ctx, owner, huge, tenancy.MemberListOptions{}); return err },
			"GetWorkspaceBySlg": func() error { _, err := e.m.GetWorkspaceBySlug(ctx, owner, huge); return err },
		}
		for name, call := range calls {
			err := call()
			if err == nil {
				t.Errorf("%s: a 1 MB ID was accepted", name)
				continue
			}
			if n := len(err.Error()); n > 300 {
				t.Errorf("%s: a %d-byte message", name, n)
			}
		}
	})
}

func TestSecretKeyIsCheckedAgainstTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenancy.db")
	open := func(key []byte) (*tenancy.Manager, storage.Storage, error) {
		s, err := bolt.Open(path, bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		m, err := tenancy.New(s, tenancy.Options{SecretKey: key})
		if err != nil {
			_ = s.Close()
			return nil, nil, err
		}
		return m, s, nil
	}
	m, s, err := open(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.RegisterUser(ctx, system, tenancy.NewUser{ID: "u", Email: "u@example.com"}); err != nil {
		t.Fatal(err)
	}
	_ = m.Close()
	_ = s.Close()
	_, _, err = open([]byte("another-key-another-key-another-key!"))
	if !errors.Is(err, tenancy.ErrSecretKeyMismatch) || strings.Contains(err.Error(), "another-key") {
		t.Fatalf("a different key: %v", err)
	}
	m, s, err = open(testKey)
	if err != nil {
		t.Fatalf("the right key: %v", err)
	}
	_ = m.Close()
	_ = s.Close()
}

func TestCanceledContextIsNotAKind(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, c := range []struct {
			name string
			ctx  func() (context.Context, context.CancelFunc)
			want error
		}{
			{"canceled", func() (context.Context, context.CancelFunc) {
				c, cancel := context.WithCancel(ctx)
				cancel()
				return c, cancel
			}, context.Canceled},
			{"deadline", func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(ctx, time.Unix(0, 0))
			}, context.DeadlineExceeded},
		} {
			cctx, cancel := c.ctx()
			calls := map[string]error{}
			_, calls["GetWorkspace"] = e.m.GetWorkspace(cctx, owner, e.ws.ID)
			_, calls["CreateWorkspace"] = e.m.CreateWorkspace(cctx, owner, tenancy.NewWorkspace{Name: "x"})
			calls["Authorize"] = e.m.Authorize(cctx, owner, e.ws.ID, rbac.ReadWorkspace)
			_, calls["Authenticate"] = e.m.Authenticate(cctx, e.newToken(t, owner, tenancy.NewToken{Name: "x"}).Secret)
			_, calls["ListWorkspaces"] = e.m.ListWorkspaces(cctx, owner, workspace.ListOptions{})
			_, calls["InviteMember"] = e.m.InviteMember(cctx, owner, e.ws.ID, tenancy.NewInvitation{Email: "c@example.com", Role: rbac.Viewer})
			calls["RemoveMember"] = e.m.RemoveMember(cctx, owner, e.ws.ID, "viewer")
			_, calls["Stats"] = e.m.Stats(cctx, system)
			_, calls["Verify"] = e.m.Verify(cctx)
			cancel()
			for name, err := range calls {
				if !errors.Is(err, c.want) || tenancy.KindOf(err) != nil {
					t.Errorf("%s with a %s context: %v (kind %v)", name, c.name, err, tenancy.KindOf(err))
				}
			}
		}
	})
}
