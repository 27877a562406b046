package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/workspace"
)

// Members are listed with who they are, and named by email as well as by ID; an
// email that is not a member's, whether or not it has an account, is not found,
// and every refusal leaves storage as it was.
func TestMembersByEmail(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		pg, err := e.m.ListMembers(ctx, admin, e.ws.ID, tenancy.MemberListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, mb := range pg.Items {
			u, err := e.m.GetUser(ctx, system, mb.UserID)
			if err != nil {
				t.Fatal(err)
			}
			if mb.Email != u.Email || mb.Name != u.Name {
				t.Errorf("member %s listed as %q %q, user is %q %q", mb.UserID, mb.Email, mb.Name, u.Email, u.Name)
			}
			found = found || mb.UserID == "viewer"
		}
		if !found {
			t.Fatal("the viewer is not listed")
		}
		before := e.dump(t)
		wantErr(t, second(e.m.ChangeRole(ctx, admin, e.ws.ID, "outsider@example.com", rbac.Editor)), tenancy.ErrNotFound, "no member")
		wantErr(t, second(e.m.ChangeRole(ctx, admin, e.ws.ID, "ghost@example.com", rbac.Editor)), tenancy.ErrNotFound, "no member")
		wantErr(t, e.m.RemoveMember(ctx, viewer, e.ws.ID, "editor@example.com"), tenancy.ErrPermissionDenied, "")
		wantErr(t, e.m.RemoveMember(ctx, admin, e.ws.ID, "owner@example.com"), tenancy.ErrFailedPrecondition, "owner")
		if e.dump(t) != before {
			t.Fatal("a refused call changed storage")
		}
		mb, err := e.m.ChangeRole(ctx, admin, e.ws.ID, " Viewer@Example.com", rbac.Editor)
		if err != nil || mb.UserID != "viewer" || mb.Role != rbac.Editor {
			t.Fatalf("change role by email: %+v %v", mb, err)
		}
		if err := e.m.RemoveMember(ctx, admin, e.ws.ID, "viewer@example.com"); err != nil {
			t.Fatal(err)
		}
		wantErr(t, second(e.m.GetMember(ctx, admin, e.ws.ID, "viewer")), tenancy.ErrNotFound, "")
	})
}

// An invitation or addition that names no role gets Options.DefaultRole, the
// policy's lowest unless the host declares another; a default that is not a
// member role is refused at New.
func TestDefaultRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		s, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com"})
		if err != nil || s.Invitation.Role != rbac.Viewer {
			t.Errorf("invite without a role: %+v %v", s.Invitation, err)
		}
		mb, err := e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: "outsider"})
		if err != nil || mb.Role != rbac.Viewer {
			t.Errorf("add without a role: %+v %v", mb, err)
		}
		m2, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now, DefaultRole: rbac.Editor})
		if err != nil {
			t.Fatal(err)
		}
		defer m2.Close()
		s, err = m2.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "new2@example.com"})
		if err != nil || s.Invitation.Role != rbac.Editor {
			t.Errorf("invite under DefaultRole editor: %+v %v", s.Invitation, err)
		}
		for _, bad := range []rbac.Role{"superuser", rbac.Platform} {
			if _, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, DefaultRole: bad}); err == nil || !strings.Contains(err.Error(), "DefaultRole") {
				t.Errorf("DefaultRole %q: %v", bad, err)
			}
		}
	})
}

// System Initiative's instanceUrl: set at creation and by update, kept in the
// metadata under workspace.MetadataInstanceURL, checked, and cleared by "".
func TestInstanceURL(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		w, err := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "SI", InstanceURL: "app.systeminit.com", Metadata: map[string]string{"team": "a"}})
		if err != nil || w.InstanceURL() != "app.systeminit.com" || w.Metadata["team"] != "a" {
			t.Fatalf("create: %+v %v", w, err)
		}
		before := e.dump(t)
		for _, bad := range []string{"not a url", "ftp://x.example.com", "https://", "a\u202eb.com", "x.com/\x00"} {
			wantErr(t, second(e.m.UpdateWorkspace(ctx, owner, w.ID, tenancy.WorkspaceUpdate{InstanceURL: ptr(bad)})), tenancy.ErrInvalidArgument, "instance URL")
		}
		wantErr(t, second(e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "T", InstanceURL: "a.com",
			Metadata: map[string]string{workspace.MetadataInstanceURL: "b.com"}})), tenancy.ErrInvalidArgument, "twice")
		if e.dump(t) != before {
			t.Fatal("a refused call changed storage")
		}
		w, err = e.m.UpdateWorkspace(ctx, owner, w.ID, tenancy.WorkspaceUpdate{InstanceURL: ptr("https://si.example.com:8443")})
		if err != nil || w.InstanceURL() != "https://si.example.com:8443" || w.Metadata["team"] != "a" {
			t.Fatalf("update: %+v %v", w, err)
		}
		w, err = e.m.UpdateWorkspace(ctx, owner, w.ID, tenancy.WorkspaceUpdate{InstanceURL: ptr("")})
		if err != nil || w.InstanceURL() != "" || len(w.Metadata) != 1 {
			t.Fatalf("clear: %+v %v", w, err)
		}
	})
}

// A sync without items imports what Options.SyncSource lists; a caller who may not
// sync never reaches the source; a failing source changes nothing.
func TestSyncSource(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		wantErr(t, second(e.m.SyncWorkspaces(ctx, platform, nil, tenancy.SyncOptions{})), tenancy.ErrInvalidArgument, "sync source")
		calls, fail := 0, false
		m, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now, SyncSource: func(context.Context) ([]workspace.SyncItem, error) {
			calls++
			if fail {
				return nil, errors.New("the CRM is down")
			}
			return []workspace.SyncItem{{ExternalID: "crm-9", Name: "Outside", OwnerID: "owner"}}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		before := e.dump(t)
		wantErr(t, second(m.SyncWorkspaces(ctx, admin, nil, tenancy.SyncOptions{})), tenancy.ErrPermissionDenied, "")
		if calls != 0 || e.dump(t) != before {
			t.Fatalf("a refused sync reached the source (%d calls) or changed storage", calls)
		}
		fail = true
		if _, err := m.SyncWorkspaces(ctx, platform, nil, tenancy.SyncOptions{}); err == nil || !strings.Contains(err.Error(), "the CRM is down") {
			t.Errorf("a failing source: %v", err)
		}
		if e.dump(t) != before {
			t.Fatal("a failed sync changed storage")
		}
		fail = false
		res, err := m.SyncWorkspaces(ctx, platform, nil, tenancy.SyncOptions{DryRun: true})
		if err != nil || res.Created != 1 || !res.DryRun || e.dump(t) != before {
			t.Fatalf("dry run: %+v %v", res, err)
		}
		res, err = m.SyncWorkspaces(ctx, platform, nil, tenancy.SyncOptions{})
		if err != nil || res.Found != 1 || res.Created != 1 {
			t.Fatalf("sync: %+v %v", res, err)
		}
		if w, err := m.GetWorkspace(ctx, system, res.CreatedIDs[0]); err != nil || w.ExternalID != "crm-9" || w.OwnerID != "owner" {
			t.Errorf("the synced workspace: %+v %v", w, err)
		}
	})
}
