package tenancy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/workspace"
)

// tenant is one workspace of the isolation grid, with what lives in it.
type tenant struct {
	ws       workspace.Workspace
	admin    string // its owner and admin; a member of no other workspace
	member   string // an editor
	invID    string
	tokID    string
	adminTok tenancy.Principal // a workspace token of its admin
	personal tenancy.Principal // a personal token of its admin
}

// TestTenantIsolationGrid acts from each workspace on each other one, by ID, with
// every operation and as three kinds of actor (the admin signed in, the admin's
// workspace token, the admin's personal token): every call fails with not-found or
// permission-denied and changes nothing.
func TestTenantIsolationGrid(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var tenants []tenant
		for i := 0; i < 3; i++ {
			tn := tenant{admin: fmt.Sprintf("adm%d", i), member: fmt.Sprintf("mem%d", i)}
			e.registerUser(t, tn.admin)
			e.registerUser(t, tn.member)
			var err error
			tn.ws, err = e.m.CreateWorkspace(ctx, system, tenancy.NewWorkspace{Name: fmt.Sprintf("T%d", i), ExternalID: fmt.Sprintf("ext-%d", i), OwnerID: tn.admin})
			if err != nil {
				t.Fatal(err)
			}
			e.addMember(t, tn.ws.ID, tn.member, rbac.Editor)
			sent, err := e.m.InviteMember(ctx, tenancy.User(tn.admin), tn.ws.ID, tenancy.NewInvitation{Email: fmt.Sprintf("x%d@example.com", i), Role: rbac.Viewer})
			if err != nil {
				t.Fatal(err)
			}
			tn.invID = sent.Invitation.ID
			tn.tokID = e.newToken(t, tenancy.User(tn.member), tenancy.NewToken{Name: "m", WorkspaceID: tn.ws.ID}).Token.ID
			tn.adminTok = e.auth(t, e.newToken(t, tenancy.User(tn.admin), tenancy.NewToken{Name: "a", WorkspaceID: tn.ws.ID}).Secret)
			tn.personal = e.auth(t, e.newToken(t, tenancy.User(tn.admin), tenancy.NewToken{Name: "p"}).Secret)
			tenants = append(tenants, tn)
		}
		type call struct {
			name string
			fn   func(p tenancy.Principal, b tenant) error
		}
		calls := []call{
			{"get", func(p tenancy.Principal, b tenant) error { _, err := e.m.GetWorkspace(ctx, p, b.ws.ID); return err }},
			{"get by slug", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.GetWorkspaceBySlug(ctx, p, b.ws.Slug)
				return err
			}},
			{"update", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.UpdateWorkspace(ctx, p, b.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("pwned")})
				return err
			}},
			{"deactivate", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.DeactivateWorkspace(ctx, p, b.ws.ID)
				return err
			}},
			{"reactivate", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.ReactivateWorkspace(ctx, p, b.ws.ID)
				return err
			}},
			{"delete", func(p tenancy.Principal, b tenant) error { _, err := e.m.DeleteWorkspace(ctx, p, b.ws.ID); return err }},
			{"restore", func(p tenancy.Principal, b tenant) error { _, err := e.m.RestoreWorkspace(ctx, p, b.ws.ID); return err }},
			{"purge", func(p tenancy.Principal, b tenant) error { return e.m.PurgeWorkspace(ctx, p, b.ws.ID) }},
			{"ensure by external ID", func(p tenancy.Principal, b tenant) error {
				_, _, err := e.m.EnsureWorkspace(ctx, p, tenancy.NewWorkspace{Name: "x", ExternalID: b.ws.ExternalID})
				return err
			}},
			{"list members", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.ListMembers(ctx, p, b.ws.ID, tenancy.MemberListOptions{})
				return err
			}},
			{"get member", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.GetMember(ctx, p, b.ws.ID, b.member)
				return err
			}},
			{"add member", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.AddMember(ctx, p, b.ws.ID, tenancy.NewMember{UserID: p.UserID(), Role: rbac.Admin})
				return err
			}},
			{"invite", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.InviteMember(ctx, p, b.ws.ID, tenancy.NewInvitation{Email: "evil@example.com", Role: rbac.Admin})
				return err
			}},
			{"resend invitation", func(p tenancy.Principal, b tenant) error { _, err := e.m.ResendInvitation(ctx, p, b.invID); return err }},
			{"revoke invitation", func(p tenancy.Principal, b tenant) error { _, err := e.m.RevokeInvitation(ctx, p, b.invID); return err }},
			{"list invitations", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.ListInvitations(ctx, p, b.ws.ID, tenancy.MemberListOptions{})
				return err
			}},
			{"change role", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.ChangeRole(ctx, p, b.ws.ID, b.member, rbac.Admin)
				return err
			}},
			{"remove member", func(p tenancy.Principal, b tenant) error { return e.m.RemoveMember(ctx, p, b.ws.ID, b.member) }},
			{"leave", func(p tenancy.Principal, b tenant) error { return e.m.LeaveWorkspace(ctx, p, b.ws.ID) }},
			{"transfer", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.TransferOwnership(ctx, p, b.ws.ID, b.member)
				return err
			}},
			{"events", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.ListEvents(ctx, p, b.ws.ID, tenancy.EventListOptions{})
				return err
			}},
			{"create token", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.CreateToken(ctx, p, tenancy.NewToken{Name: "x", WorkspaceID: b.ws.ID, Lifetime: time.Hour})
				return err
			}},
			{"list tokens", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.ListTokens(ctx, p, tenancy.TokenListOptions{WorkspaceID: b.ws.ID})
				return err
			}},
			{"get token", func(p tenancy.Principal, b tenant) error { _, err := e.m.GetToken(ctx, p, b.tokID); return err }},
			{"revoke token", func(p tenancy.Principal, b tenant) error { return e.m.RevokeToken(ctx, p, b.tokID) }},
			{"rotate token", func(p tenancy.Principal, b tenant) error { _, err := e.m.RotateToken(ctx, p, b.tokID); return err }},
			{"stats", func(p tenancy.Principal, b tenant) error { _, err := e.m.Stats(ctx, p); return err }},
			{"sync", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.SyncWorkspaces(ctx, p, []workspace.SyncItem{{ExternalID: "new", Name: "x"}}, tenancy.SyncOptions{})
				return err
			}},
			{"feed", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.Feed(ctx, p, tenancy.EventListOptions{})
				return err
			}},
			{"list another's switcher", func(p tenancy.Principal, b tenant) error {
				_, err := e.m.ListUserWorkspaces(ctx, p, b.member, workspace.ListOptions{})
				return err
			}},
		}
		for _, a := range rbac.MustLoadDefault().Actions() {
			a := a
			calls = append(calls, call{"authorize " + string(a), func(p tenancy.Principal, b tenant) error {
				return e.m.Authorize(ctx, p, b.ws.ID, a)
			}})
		}
		checked := 0
		// One dump a call: a call that changed anything ends the test, so the
		// state before every call is the state before the first.
		before := e.dump(t)
		for ai, from := range tenants {
			actors := map[string]tenancy.Principal{"admin": tenancy.User(from.admin), "workspace token": from.adminTok, "personal token": from.personal}
			for bi, to := range tenants {
				if ai == bi {
					continue
				}
				for kind, p := range actors {
					for _, c := range calls {
						err := c.fn(p, to)
						checked++
						if !errors.Is(err, tenancy.ErrNotFound) && !errors.Is(err, tenancy.ErrPermissionDenied) {
							t.Errorf("%s of T%d on T%d: %s gave %v, want not found or permission denied", kind, ai, bi, c.name, err)
						}
						if strings.Contains(fmt.Sprint(err), to.member) {
							t.Errorf("%s of T%d on T%d: %s names T%d's member: %v", kind, ai, bi, c.name, bi, err)
						}
						if e.dump(t) != before {
							t.Fatalf("%s of T%d on T%d: %s changed storage", kind, ai, bi, c.name)
						}
					}
				}
			}
		}
		if checked < 500 {
			t.Errorf("only %d cross-tenant calls were checked", checked)
		}
		// Listings never show another tenant's workspace.
		for i, tn := range tenants {
			pg, err := e.m.ListWorkspaces(ctx, tenancy.User(tn.admin), workspace.ListOptions{Limit: 100})
			if err != nil || len(pg.Items) != 1 || pg.Items[0].ID != tn.ws.ID {
				t.Errorf("T%d's admin lists %+v, %v", i, pg.Items, err)
			}
		}
	})
}
