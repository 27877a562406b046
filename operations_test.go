package tenancy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/workspace"
)

// A rename and a reactivation are one transaction: an inactive workspace is renamed
// while it is reactivated, and a refused part changes nothing.
func TestUpdateWorkspaceWithStatus(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		if _, err := e.m.DeactivateWorkspace(ctx, admin, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.m.UpdateWorkspace(ctx, admin, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("Renamed")})
		wantErr(t, err, tenancy.ErrFailedPrecondition, "inactive")
		active := workspace.Active
		w, err := e.m.UpdateWorkspace(ctx, admin, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("Renamed"), Status: &active})
		if err != nil || w.Name != "Renamed" || w.Status != workspace.Active {
			t.Fatalf("rename while reactivating: %+v %v", w, err)
		}
		// A taken slug refuses the whole update: the status does not change either.
		other, err := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Other", Slug: "taken"})
		if err != nil {
			t.Fatal(err)
		}
		inactive := workspace.Inactive
		before := e.dump(t)
		// Fields change only in the status the update ends in: not in an inactive one.
		_, err = e.m.UpdateWorkspace(ctx, admin, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("N"), Status: &inactive})
		wantErr(t, err, tenancy.ErrFailedPrecondition, "inactive")
		if e.dump(t) != before {
			t.Error("a refused update changed storage (the deactivation must roll back with the name)")
		}
		if _, err := e.m.DeactivateWorkspace(ctx, admin, other.ID); err != nil {
			t.Fatal(err)
		}
		before = e.dump(t)
		_, err = e.m.UpdateWorkspace(ctx, admin, other.ID, tenancy.WorkspaceUpdate{Slug: ptr(e.ws.Slug), Status: &active})
		wantErr(t, err, tenancy.ErrAlreadyExists, "taken")
		deleted := workspace.Deleted
		_, err = e.m.UpdateWorkspace(ctx, admin, e.ws.ID, tenancy.WorkspaceUpdate{Status: &deleted})
		wantErr(t, err, tenancy.ErrInvalidArgument, "active or inactive")
		_, err = e.m.UpdateWorkspace(ctx, editor, e.ws.ID, tenancy.WorkspaceUpdate{Status: &inactive})
		wantErr(t, err, tenancy.ErrPermissionDenied, "the editor role may not change the workspace's status in workspace")
		if e.dump(t) != before {
			t.Error("a refused update changed storage (the reactivation must roll back with the slug)")
		}
		st, err := e.m.Stats(ctx, system)
		if err != nil || st.Total != st.Active+st.Inactive || st.Active != 1 || st.Inactive != 1 {
			t.Errorf("stats: %+v %v (total is active + inactive)", st, err)
		}
	})
}

// Signing up by invitation makes the account, the membership and the first token
// together, or nothing.
func TestSignUpWithInvitation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com", Role: rbac.Editor})
		if err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		_, err = e.m.SignUpWithInvitation(ctx, sent.Secret, tenancy.NewUser{ID: "new"}, tenancy.NewToken{Name: "first", Lifetime: time.Second})
		wantErr(t, err, tenancy.ErrInvalidArgument, "at least")
		_, err = e.m.SignUpWithInvitation(ctx, sent.Secret, tenancy.NewUser{ID: "admin"}, tenancy.NewToken{Name: "first", Lifetime: time.Hour})
		wantErr(t, err, tenancy.ErrAlreadyExists, `user "admin" already exists`)
		if e.dump(t) != before {
			t.Error("a refused sign-up left something behind")
		}
		s, err := e.m.SignUpWithInvitation(ctx, sent.Secret, tenancy.NewUser{ID: "new", Name: "New"}, tenancy.NewToken{Name: "first", Lifetime: time.Hour})
		if err != nil || s.Member.Role != rbac.Editor || !strings.HasPrefix(s.Token.Secret, "tncp_") {
			t.Fatalf("sign-up: %+v %v", s, err)
		}
		p := e.auth(t, s.Token.Secret)
		wantErr(t, e.m.Authorize(ctx, p, e.ws.ID, rbac.WriteContent), nil, "")
	})
}

func TestRoleAndLifetimeRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		_, err := e.m.ChangeRole(ctx, admin, e.ws.ID, "admin", rbac.Viewer)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "your own role")
		_, err = e.m.CreateToken(ctx, editor, tenancy.NewToken{Name: "x", Lifetime: time.Nanosecond})
		wantErr(t, err, tenancy.ErrInvalidArgument, "at least 1m0s")
	})
}
