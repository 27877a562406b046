package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
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
		wantErr(t, e.m.RemoveMember(ctx, viewer, e.ws.ID, "editor@example.com"), tenancy.ErrPermissionDenied, "the viewer role may not manage members in workspace")
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
		wantErr(t, second(e.m.GetMember(ctx, admin, e.ws.ID, "viewer")), tenancy.ErrNotFound, `user "viewer" is not a member of workspace`)
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
		wantErr(t, second(m.SyncWorkspaces(ctx, admin, nil, tenancy.SyncOptions{})), tenancy.ErrPermissionDenied, "only platform users may sync workspaces")
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

// Host flags (Airbyte's workspaces_with_sources): set at creation or by the host's
// own call, counted O(1) over the workspaces in use, through deletion, restore and
// purge; members cannot set them, undeclared names are refused, and every refusal
// leaves storage as it was.
func TestWorkspaceFlags(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		m, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now,
			WorkspaceFlags: []string{"sources", "active_connections", "sources"}})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if got := m.WorkspaceFlags(); strings.Join(got, ",") != "sources,active_connections" {
			t.Errorf("WorkspaceFlags = %v", got)
		}
		counts := func(want string) {
			t.Helper()
			st, err := m.Stats(ctx, system)
			if err != nil {
				t.Fatal(err)
			}
			if st.Flags.String() != want {
				t.Errorf("flag counts = %q, want %q", st.Flags, want)
			}
		}
		counts("sources=0, active_connections=0")

		a, err := m.CreateWorkspace(ctx, platform, tenancy.NewWorkspace{Name: "A", Flags: []string{"sources", "sources"}})
		if err != nil || strings.Join(a.Flags, ",") != "sources" {
			t.Fatalf("create with flags: %+v %v", a, err)
		}
		b, err := m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "B"})
		if err != nil {
			t.Fatal(err)
		}
		counts("sources=1, active_connections=0")

		before := e.dump(t)
		wantErr(t, second(m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "C", Flags: []string{"sources"}})), tenancy.ErrPermissionDenied, "flags")
		wantErr(t, second(m.CreateWorkspace(ctx, platform, tenancy.NewWorkspace{Name: "C", Flags: []string{"trials"}})), tenancy.ErrInvalidArgument, `"trials" is not declared`)
		wantErr(t, second(m.SetWorkspaceFlags(ctx, owner, b.ID, map[string]bool{"sources": true})), tenancy.ErrPermissionDenied, "only platform users may sync workspaces")
		wantErr(t, second(m.SetWorkspaceFlags(ctx, system, b.ID, map[string]bool{"sources": true, "trials": true})), tenancy.ErrInvalidArgument, "declared: sources, active_connections")
		wantErr(t, second(m.SetWorkspaceFlags(ctx, system, b.ID, map[string]bool{"Bad Name": false})), tenancy.ErrInvalidArgument, "lowercase")
		wantErr(t, second(m.SetWorkspaceFlags(ctx, system, "ws_missing", map[string]bool{"sources": true})), tenancy.ErrNotFound, `workspace "ws_missing" not found`)
		wantErr(t, second(e.m.SetWorkspaceFlags(ctx, system, b.ID, map[string]bool{"sources": true})), tenancy.ErrInvalidArgument, "declares no workspace flags")
		if e.dump(t) != before {
			t.Fatal("a refused call changed storage")
		}

		w, err := m.SetWorkspaceFlags(ctx, system, b.ID, map[string]bool{"sources": true, "active_connections": true})
		if err != nil || strings.Join(w.Flags, ",") != "active_connections,sources" {
			t.Fatalf("set flags: %+v %v", w, err)
		}
		if got, _ := m.GetWorkspace(ctx, owner, b.ID); !got.HasFlag("sources") || !got.HasFlag("active_connections") {
			t.Errorf("stored flags = %v", got.Flags)
		}
		counts("sources=2, active_connections=1")
		// Asking for what is already so writes nothing.
		before = e.dump(t)
		if _, err := m.SetWorkspaceFlags(ctx, platform, b.ID, map[string]bool{"sources": true, "trials": false}); err != nil {
			t.Fatal(err)
		}
		if e.dump(t) != before {
			t.Error("an idempotent flag change wrote")
		}
		ev, err := m.ListEvents(ctx, owner, b.ID, tenancy.EventListOptions{})
		if err != nil || len(ev.Items) != 2 || ev.Items[1].Type != "workspace.updated" || ev.Items[1].Data["flags"] != "active_connections,sources" {
			t.Errorf("last event = %+v %v", ev.Items, err)
		}

		// An inactive workspace still counts and its flags still change; a deleted
		// one leaves the counts and comes back with them.
		if _, err := m.DeactivateWorkspace(ctx, owner, b.ID); err != nil {
			t.Fatal(err)
		}
		counts("sources=2, active_connections=1")
		if _, err := m.SetWorkspaceFlags(ctx, system, b.ID, map[string]bool{"active_connections": false}); err != nil {
			t.Fatal(err)
		}
		counts("sources=2, active_connections=0")
		if _, err := m.DeleteWorkspace(ctx, owner, b.ID); err != nil {
			t.Fatal(err)
		}
		counts("sources=1, active_connections=0")
		before = e.dump(t)
		wantErr(t, second(m.SetWorkspaceFlags(ctx, system, b.ID, map[string]bool{"active_connections": true})), tenancy.ErrFailedPrecondition, "deleted")
		if e.dump(t) != before {
			t.Fatal("a refused call changed storage")
		}
		if _, err := m.RestoreWorkspace(ctx, owner, b.ID); err != nil {
			t.Fatal(err)
		}
		counts("sources=2, active_connections=0")
		if err := m.PurgeWorkspace(ctx, system, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.DeleteWorkspace(ctx, owner, b.ID); err != nil {
			t.Fatal(err)
		}
		if err := m.PurgeWorkspace(ctx, system, b.ID); err != nil {
			t.Fatal(err)
		}
		counts("sources=0, active_connections=0")
		if f, err := m.Verify(ctx); err != nil || len(f) != 0 {
			t.Errorf("Verify: %v %v", f, err)
		}
	})
}

// A flag counter out of step with the records is a Verify finding.
func TestWorkspaceFlagCounterVerified(t *testing.T) {
	e := newEnv(t, backends[0])
	m, err := tenancy.New(e.store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now, WorkspaceFlags: []string{"sources"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.SetWorkspaceFlags(ctx, system, e.ws.ID, map[string]bool{"sources": true}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Update(ctx, func(tx storage.ReadWriter) error { return tx.AddCounter(tenancy.CounterForFlag("sources"), 5) }); err != nil {
		t.Fatal(err)
	}
	f, err := m.Verify(ctx)
	if err != nil || len(f) != 1 || f[0].Check != "counter" || !strings.Contains(f[0].Detail, "counter says 6, records say 1") {
		t.Errorf("Verify = %v, %v", f, err)
	}
	e.skipVerify = true
}

// Stats stays comparable with ==, whatever flags it counts.
func TestFlagCounts(t *testing.T) {
	var f workspace.FlagCounts
	f = f.With("sources", 3).With("active_connections", 1).With("sources", 4).With("Bad Name", 9)
	if f.String() != "sources=4, active_connections=1" || f.Len() != 2 {
		t.Errorf("FlagCounts = %q (%d)", f, f.Len())
	}
	if n, ok := f.Get("active_connections"); !ok || n != 1 {
		t.Errorf("Get = %d %v", n, ok)
	}
	if _, ok := f.Get("missing"); ok {
		t.Error("Get of a missing flag")
	}
	a := workspace.Stats{Total: 1, Flags: f}
	b := workspace.Stats{Total: 1, Flags: workspace.FlagCounts{}.With("sources", 4).With("active_connections", 1)}
	if a != b {
		t.Error("equal stats differ")
	}
}
