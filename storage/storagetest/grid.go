package storagetest

import (
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// gridRow is one Manager method tried by every kind of principal. want has one
// letter per column of gridColumns, written from the authorization rules:
//
//	0 allowed   N not found   D permission denied   U unauthenticated
//	P failed precondition     I invalid argument
type gridRow struct {
	method string
	want   string
	write  bool // the method changes storage when allowed
	call   func(w *world, name string, p tenancy.Principal) error
	// action, when set, is the one workspace action the method checks: the
	// letters of the role columns (see roleColumns) are then worked out from the
	// policy, and with the default policy must equal the letters written here.
	action rbac.Action
	// atLeast, when set, is a role position (1 lowest) the actor must also reach:
	// the grant ceiling or the target's role.
	atLeast int
}

// gridRows: the columns are
//
//	system plain platform owner | wsViewer wsEditor wsAdmin | pUncapped pViewer pEditor pAdmin pPlatform | otherWs
//
// ws* are a's workspace tokens in W (a is W's admin); p* are personal tokens of padm,
// a platform user who is an admin of W; otherWs is a's admin token bound to W2.
var gridRows = []gridRow{
	{"Authorize", "0N00 D00 0D000 N", false, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.Authorize(ctx, p, w.W.ID, rbac.WriteContent)
	}, rbac.WriteContent, 0},
	{"AuthorizePlatform", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.AuthorizePlatform(ctx, p, rbac.ListAll)
	}, "", 0},
	{"CreateWorkspace", "I000 DDD 0DD00 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: "New"})
		return err
	}, "", 0},
	{"CreateWorkspace/for another user", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: "New", OwnerID: "v"})
		return err
	}, "", 0},
	{"CreateWorkspace/external ID", "ID0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: "New", ExternalID: "crm-1"})
		return err
	}, "", 0},
	{"CreateWorkspace/flags", "ID0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: "New", Flags: []string{"sources"}})
		return err
	}, "", 0},
	{"EnsureWorkspace", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, _, err := w.m.EnsureWorkspace(ctx, p, tenancy.NewWorkspace{Name: "New", ExternalID: "crm-2", OwnerID: "v"})
		return err
	}, "", 0},
	{"GetWorkspace", "0N00 000 00000 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetWorkspace(ctx, p, w.W.ID)
		return err
	}, rbac.ReadWorkspace, 0},
	{"GetWorkspaceBySlug", "0N00 000 00000 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetWorkspaceBySlug(ctx, p, w.W.Slug)
		return err
	}, rbac.ReadWorkspace, 0},
	{"ListWorkspaces", "0000 000 00000 0", false, func(w *world, name string, p tenancy.Principal) error {
		return w.checkList(name, p, workspace.ListOptions{})
	}, "", 0},
	{"ListWorkspaces/deleted", "0000 000 00000 0", false, func(w *world, name string, p tenancy.Principal) error {
		return w.checkList(name, p, workspace.ListOptions{Status: workspace.Deleted})
	}, "", 0},
	{"ListAllWorkspaces", "0D0D DDD 0DDD0 D", false, func(w *world, name string, p tenancy.Principal) error {
		pg, err := w.m.ListAllWorkspaces(ctx, p, workspace.ListOptions{})
		if err != nil {
			return err
		}
		var got []string
		for _, ws := range pg.Items {
			got = append(got, ws.ID)
		}
		return sameIDs("ListAllWorkspaces", got, w.visibleWorkspaces(name, ""))
	}, "", 0},
	{"ListUserWorkspaces", "0D0D 000 0DDD0 0", false, func(w *world, name string, p tenancy.Principal) error {
		return w.checkUserList(name, p)
	}, "", 0},
	{"UpdateWorkspace", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.UpdateWorkspace(ctx, p, w.W.ID, tenancy.WorkspaceUpdate{Name: ptr("Renamed")})
		return err
	}, rbac.UpdateWorkspace, 0},
	{"DeactivateWorkspace", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.DeactivateWorkspace(ctx, p, w.W.ID)
		return err
	}, rbac.ChangeStatus, 0},
	{"ReactivateWorkspace", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ReactivateWorkspace(ctx, p, w.W.ID)
		return err
	}, rbac.ChangeStatus, 0},
	{"DeleteWorkspace", "0N00 DDD 0DDD0 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.DeleteWorkspace(ctx, p, w.W.ID)
		return err
	}, rbac.DeleteWorkspace, 0},
	{"RestoreWorkspace", "0N00 NNN 0NNN0 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.RestoreWorkspace(ctx, p, w.D.ID)
		return err
	}, "", 0},
	{"PurgeWorkspace", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.PurgeWorkspace(ctx, p, w.W.ID)
	}, "", 0},
	{"PurgeDeleted", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.PurgeDeleted(ctx, p, 0)
		return err
	}, "", 0},
	// A store that cannot copy itself answers failed precondition, after the
	// same refusal: the letters are the allowed principals' either way.
	{"Backup", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.Backup(ctx, p, io.Discard)
		if errors.Is(err, tenancy.ErrNoBackup) {
			return nil
		}
		return err
	}, "", 0},
	{"Stats", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.Stats(ctx, p)
		return err
	}, "", 0},
	{"SetWorkspaceFlags", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.SetWorkspaceFlags(ctx, p, w.W.ID, map[string]bool{"sources": true})
		return err
	}, "", 0},
	{"SyncWorkspaces", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.SyncWorkspaces(ctx, p, []workspace.SyncItem{{ExternalID: "crm-3", Name: "S", OwnerID: "v"}}, tenancy.SyncOptions{})
		return err
	}, "", 0},
	{"AddMember", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.AddMember(ctx, p, w.W.ID, tenancy.NewMember{UserID: "p", Role: w.lo})
		return err
	}, rbac.ManageMembers, 0},
	{"GetMember", "0N00 000 00000 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetMember(ctx, p, w.W.ID, "v")
		return err
	}, rbac.ListMembers, 0},
	{"GrantableRoles", "0N00 000 00000 N", false, func(w *world, name string, p tenancy.Principal) error {
		roles, err := w.m.GrantableRoles(ctx, p, w.W.ID)
		if err == nil && (name == "wsViewer" || name == "pViewer") && len(roles) != 0 {
			return errors.New("GrantableRoles: a viewer grants nothing")
		}
		if err == nil && (name == "system" || name == "owner" || name == "wsAdmin") && len(roles) != 3 {
			return errors.New("GrantableRoles: an admin grants every member role")
		}
		return err
	}, rbac.ListMembers, 0},
	{"ListMembers", "0N00 000 00000 N", false, func(w *world, _ string, p tenancy.Principal) error {
		pg, err := w.m.ListMembers(ctx, p, w.W.ID, tenancy.MemberListOptions{})
		if err == nil && len(pg.Items) != 5 {
			return errors.New("ListMembers: want W's 5 members")
		}
		return err
	}, rbac.ListMembers, 0},
	{"ChangeRole", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ChangeRole(ctx, p, w.W.ID, "e", w.lo)
		return err
	}, rbac.ManageMembers, 2},
	{"RemoveMember", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.RemoveMember(ctx, p, w.W.ID, "v")
	}, rbac.ManageMembers, 0},
	{"LeaveWorkspace", "INNP DDD 0DDD0 N", true, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.LeaveWorkspace(ctx, p, w.W.ID)
	}, "", 0},
	{"TransferOwnership", "0N00 DDD 0DDD0 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.TransferOwnership(ctx, p, w.W.ID, "a")
		return err
	}, "", 0},
	{"InviteMember", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.InviteMember(ctx, p, w.W.ID, tenancy.NewInvitation{Email: "new@example.com", Role: w.lo})
		return err
	}, rbac.InviteMembers, 0},
	{"ResendInvitation", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ResendInvitation(ctx, p, w.inv)
		return err
	}, rbac.InviteMembers, 0},
	{"RevokeInvitation", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.RevokeInvitation(ctx, p, w.inv)
		return err
	}, rbac.ManageMembers, 0},
	{"ListInvitations", "0N00 DD0 0DD00 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ListInvitations(ctx, p, w.W.ID, tenancy.MemberListOptions{})
		return err
	}, rbac.ManageMembers, 0},
	{"AcceptInvitation", "U000 DDD 0DDD0 D", true, func(w *world, name string, p tenancy.Principal) error {
		secret := w.invites[w.userOf[name]]
		if secret == "" {
			secret = w.invites["p"] // System: any invitation
		}
		_, err := w.m.AcceptInvitation(ctx, p, secret)
		return err
	}, "", 0},
	{"CreateToken/personal", "I000 DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateToken(ctx, p, tenancy.NewToken{Name: "n", Lifetime: time.Hour})
		return err
	}, "", 0},
	{"CreateToken/workspace", "INP0 DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateToken(ctx, p, tenancy.NewToken{Name: "n", WorkspaceID: w.W.ID, Lifetime: time.Hour})
		return err
	}, "", 0},
	{"ListTokens/workspace", "0N00 000 00000 N", false, func(w *world, name string, p tenancy.Principal) error {
		return w.checkTokenList(name, p)
	}, "", 0},
	{"ListTokens/user", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ListTokens(ctx, p, tenancy.TokenListOptions{UserID: "a"})
		return err
	}, "", 0},
	{"GetToken", "0N00 NN0 0NN00 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetToken(ctx, p, w.target)
		return err
	}, "", 0},
	{"RevokeToken", "0N00 NN0 0NN00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.RevokeToken(ctx, p, w.target)
	}, "", 0},
	{"RotateToken", "0NDD NND DNNDD N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.RotateToken(ctx, p, w.target)
		return err
	}, "", 0},
	{"RegisterUser", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.RegisterUser(ctx, p, tenancy.NewUser{ID: "n", Email: "n@example.com", Name: "N"})
		return err
	}, "", 0},
	{"GetUser", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetUser(ctx, p, "v")
		return err
	}, "", 0},
	{"GetUserByEmail", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetUserByEmail(ctx, p, "v@example.com")
		return err
	}, "", 0},
	{"SetPlatform", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.SetPlatform(ctx, p, "v", true)
		return err
	}, "", 0},
	{"UpdateUser", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.UpdateUser(ctx, p, "v", tenancy.UserUpdate{Name: ptr("Renamed")})
		return err
	}, "", 0},
	{"UpdateUser/self", "000D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.UpdateUser(ctx, p, "p", tenancy.UserUpdate{Name: ptr("Renamed")})
		return err
	}, "", 0},
	// An address is set directly only by those who vouch for it; a person proves
	// their own (RequestEmailChange, ConfirmEmailChange).
	{"UpdateUser/self email", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.UpdateUser(ctx, p, "p", tenancy.UserUpdate{Email: ptr("p.new@example.com")})
		return err
	}, "", 0},
	{"RequestEmailChange", "000D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.RequestEmailChange(ctx, p, "p", "p.new@example.com")
		return err
	}, "", 0},
	// Each principal presents the code mailed for its own user's pending change.
	{"ConfirmEmailChange", "I000 DDD 0DDD0 D", true, func(w *world, name string, p tenancy.Principal) error {
		_, err := w.m.ConfirmEmailChange(ctx, p, w.emailCode[w.userOf[name]])
		return err
	}, "", 0},
	{"SuspendUser", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.SuspendUser(ctx, p, "v")
		return err
	}, "", 0},
	{"ReactivateUser", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ReactivateUser(ctx, p, "v") // v is active: allowed, and nothing changes
		return err
	}, "", 0},
	{"DeleteUser", "000D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.DeleteUser(ctx, p, "p")
		return err
	}, "", 0},
	{"DeleteUser/an owner", "PDPD DDD PDDDP D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.DeleteUser(ctx, p, "v") // v owns X
		return err
	}, "", 0},
	{"ListUsers", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ListUsers(ctx, p, tenancy.MemberListOptions{})
		return err
	}, "", 0},
	{"RenameRole", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.RenameRole(ctx, p, w.mid, w.lo)
		return err
	}, "", 0},
	{"ListEvents", "0N00 DD0 0DD00 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ListEvents(ctx, p, w.W.ID, tenancy.EventListOptions{})
		return err
	}, rbac.ReadAudit, 0},
	{"Feed", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.Feed(ctx, p, tenancy.EventListOptions{})
		return err
	}, "", 0},
	// Consumers: the whole feed is the platform's; one workspace's is its audit log.
	{"Consume", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		c, cancel := context.WithCancel(ctx)
		defer cancel()
		err := w.m.Consume(c, p, "grid", tenancy.ConsumeOptions{Instance: "grid"}, func(context.Context, tenancy.Event) error {
			cancel() // the first event shows it runs
			return nil
		})
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}, "", 0},
	{"ConsumeStep", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ConsumeStep(ctx, p, "grid", tenancy.ConsumeOptions{Instance: "grid"}, noEvent)
		return err
	}, "", 0},
	{"ConsumeStep/workspace", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ConsumeStep(ctx, p, "grid", tenancy.ConsumeOptions{Instance: "grid", WorkspaceID: w.W.ID}, noEvent)
		return err
	}, rbac.ReadAudit, 0},
	{"ConsumerStatus", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ConsumerStatus(ctx, p, "c1")
		return err
	}, "", 0},
	{"ResetConsumer", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.ResetConsumer(ctx, p, "c1", "")
	}, "", 0},
	// Webhooks: a workspace's admins manage its endpoints; only platform powers
	// manage the platform's, which others do not find.
	{"CreateWebhook", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateWebhook(ctx, p, tenancy.NewWebhook{WorkspaceID: w.W.ID, URL: "https://hooks.example.com/new"})
		return err
	}, rbac.ManageWebhooks, 0},
	{"CreateWebhook/platform", "0D0D DDD 0DDD0 D", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.CreateWebhook(ctx, p, tenancy.NewWebhook{URL: "https://hooks.example.com/new"})
		return err
	}, "", 0},
	{"GetWebhook", "0N00 DD0 0DD00 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetWebhook(ctx, p, w.hook)
		return err
	}, rbac.ManageWebhooks, 0},
	{"GetWebhook/platform", "0N0N NNN 0NNN0 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.GetWebhook(ctx, p, w.platHook)
		return err
	}, "", 0},
	{"ListWebhooks", "0N00 DD0 0DD00 N", false, func(w *world, _ string, p tenancy.Principal) error {
		pg, err := w.m.ListWebhooks(ctx, p, tenancy.WebhookListOptions{WorkspaceID: w.W.ID})
		if err == nil && (len(pg.Items) != 1 || pg.Items[0].ID != w.hook) {
			return errors.New("ListWebhooks: want W's one endpoint")
		}
		return err
	}, rbac.ManageWebhooks, 0},
	{"ListWebhooks/platform", "0D0D DDD 0DDD0 D", false, func(w *world, _ string, p tenancy.Principal) error {
		pg, err := w.m.ListWebhooks(ctx, p, tenancy.WebhookListOptions{})
		if err == nil && (len(pg.Items) != 1 || pg.Items[0].ID != w.platHook) {
			return errors.New("ListWebhooks: want the platform's one endpoint")
		}
		return err
	}, "", 0},
	{"UpdateWebhook", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.UpdateWebhook(ctx, p, w.hook, tenancy.WebhookUpdate{Description: ptr("changed")})
		return err
	}, rbac.ManageWebhooks, 0},
	{"DeleteWebhook", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.DeleteWebhook(ctx, p, w.hook)
	}, rbac.ManageWebhooks, 0},
	{"RotateWebhookSecret", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.RotateWebhookSecret(ctx, p, w.hook)
		return err
	}, rbac.ManageWebhooks, 0},
	{"ListWebhookAttempts", "0N00 DD0 0DD00 N", false, func(w *world, _ string, p tenancy.Principal) error {
		_, err := w.m.ListWebhookAttempts(ctx, p, w.hook, tenancy.AttemptListOptions{})
		return err
	}, rbac.ManageWebhooks, 0},
	{"ReplayWebhook", "0N00 DD0 0DD00 N", true, func(w *world, _ string, p tenancy.Principal) error {
		return w.m.ReplayWebhook(ctx, p, w.hook, "")
	}, rbac.ManageWebhooks, 0},
}

func noEvent(context.Context, tenancy.Event) error { return nil }

// principalFree are the Manager's exported methods that take no Principal: a
// secret is their credential, or they are the host's own housekeeping.
var principalFree = []string{"Authenticate", "InvitationBySecret", "AcceptInvitationAsNewUser", "SignUpWithInvitation", "Verify",
	"FlushTokenUsage", "Close", "Policy", "StarterKits", "WorkspaceFlags", "DeliverWebhooks", "DeliverWebhooksStep", "Ping"}

var letterKind = map[byte]error{'N': tenancy.ErrNotFound, 'D': tenancy.ErrPermissionDenied,
	'U': tenancy.ErrUnauthenticated, 'P': tenancy.ErrFailedPrecondition, 'I': tenancy.ErrInvalidArgument}

// gridPolicies are the role sets the grid runs with: the default, Tinybird's
// (viewer < guest < admin, where a guest manages resources but not people), and the
// default with editors allowed to invite, whose letters differ from the default's.
// The grid's roles are positions in the policy's order; the letters of rows that
// name their action are worked out from the policy (gridRow.letters).
type gridPolicy struct {
	name   string
	policy string
}

var gridPolicies = []gridPolicy{{"default", ""}, {"tinybird", TinybirdPolicy}, {"editors invite", rbac.DefaultPolicy() + "\np, editor, member:invite\n"}}

// TinybirdPolicy is Tinybird's role set as a policy: viewer < guest < admin, where a
// guest writes the workspace's resources and makes tokens but does not manage people.
// Test suites of hosts run their own checks with it beside the default roles.
const TinybirdPolicy = `
g, guest, viewer
g, admin, guest
p, viewer, workspace:read
p, viewer, member:list
p, viewer, content:read
p, guest, content:write
p, guest, token:create
p, admin, workspace:update
p, admin, workspace:status
p, admin, member:invite
p, admin, member:manage
p, admin, token:manage
p, admin, audit:read
`

// roleColumns are the grid's columns whose letters follow from a role: the owner (o,
// the highest role with the owner flag), a's workspace tokens (a holds the highest
// role in W) and padm's capped personal tokens (padm holds the highest role in W),
// as positions in the policy's order (1 lowest).
var roleColumns = map[string]struct {
	pos   int
	owner bool
}{"owner": {3, true}, "wsViewer": {1, false}, "wsEditor": {2, false}, "wsAdmin": {3, false},
	"pViewer": {1, false}, "pEditor": {2, false}, "pAdmin": {3, false}}

// fixedActions are the actions the rows without an action (whose letters are
// written, not worked out) depend on: a policy must grant them as the default does,
// position by position, for those letters to hold.
var fixedActions = []rbac.Action{rbac.ReadWorkspace, rbac.CreateToken, rbac.ManageTokens, rbac.DeleteWorkspace}

// letters returns a row's expectations under policy: the written ones, with the
// role columns of a row that names its action worked out from the policy.
func (r gridRow) letters(policy *rbac.Policy) []byte {
	want := []byte(strings.ReplaceAll(r.want, " ", ""))
	if r.action == "" {
		return want
	}
	roles := policy.Roles()
	for i, col := range gridColumns {
		rc, ok := roleColumns[col]
		if !ok || want[i] != '0' && want[i] != 'D' {
			continue // not a role's letter: not-found, invalid, a precondition
		}
		role := roles[rc.pos-1]
		if policy.Allowed(role, rc.owner, r.action) && rc.pos >= r.atLeast {
			want[i] = '0'
		} else {
			want[i] = 'D'
		}
	}
	return want
}

// testPrincipalGrid runs the grid with each of gridPolicies, or with those named
// in only.
func testPrincipalGrid(t *testing.T, newStore func(t *testing.T) storage.Storage, only []string) {
	for _, name := range only {
		if !slices.ContainsFunc(gridPolicies, func(gp gridPolicy) bool { return gp.name == name }) {
			t.Fatalf("WithGridPolicies: no grid policy is named %q", name)
		}
	}
	def := rbac.MustLoadDefault()
	for _, r := range gridRows { // the rules, worked out, agree with the table as written
		if got, want := string(r.letters(def)), strings.ReplaceAll(r.want, " ", ""); got != want {
			t.Fatalf("%s: the default policy works out to %s, the table says %s", r.method, got, want)
		}
	}
	for _, gp := range gridPolicies {
		if len(only) > 0 && !slices.Contains(only, gp.name) {
			continue
		}
		t.Run(gp.name, func(t *testing.T) {
			policy, err := rbac.Load(rbac.Options{Policy: gp.policy})
			if err != nil {
				t.Fatal(err)
			}
			roles, defRoles := policy.Roles(), def.Roles()
			if len(roles) != len(defRoles) {
				t.Fatalf("the grid's cast holds %d member roles, the policy has %d", len(defRoles), len(roles))
			}
			for _, a := range fixedActions {
				for i := range roles {
					for _, owner := range []bool{false, true} {
						if policy.Allowed(roles[i], owner, a) != def.Allowed(defRoles[i], owner, a) {
							t.Fatalf("%s (owner %v) differs from %s on %s, which the written rows depend on", roles[i], owner, defRoles[i], a)
						}
					}
				}
			}
			principalGrid(t, newStore, policy)
		})
	}
}

// principalGrid tries every Manager method with every kind of principal and
// compares the outcome with gridRows. Every refusal must leave storage exactly as it
// was; every allowed listing must hold exactly what the principal may see.
func principalGrid(t *testing.T, newStore func(t *testing.T) storage.Storage, policy *rbac.Policy) {
	// The grid must cover every exported method that takes a Principal.
	covered := map[string]bool{}
	for _, r := range gridRows {
		covered[strings.Split(r.method, "/")[0]] = true
	}
	mt := reflect.TypeOf(&tenancy.Manager{})
	for i := range mt.NumMethod() {
		name := mt.Method(i).Name
		if !covered[name] && !slices.Contains(principalFree, name) {
			t.Errorf("the principal grid does not try %s", name)
		}
	}
	for _, r := range gridRows {
		want := string(r.letters(policy))
		if len(want) != len(gridColumns) {
			t.Fatalf("%s: %d expectations for %d columns", r.method, len(want), len(gridColumns))
		}
		t.Run(strings.ReplaceAll(r.method, " ", "_"), func(t *testing.T) {
			// Each row builds its own worlds, so rows run side by side: on
			// PostgreSQL most of a row's time is round trips.
			t.Parallel()
			w := newWorld(t, newStore, policy)
			// A world changes only when a write is allowed (then a fresh one is
			// made), so the dump after a refusal is the next call's "before": one
			// dump per world and one per refusal, not two per call.
			before := ""
			for i, name := range gridColumns {
				if before == "" {
					before = Dump(t, w.store)
				}
				err := r.call(w, name, w.who[name])
				wantKind := letterKind[want[i]]
				switch {
				case wantKind == nil && err != nil:
					t.Errorf("%s by %s: got %v, want it allowed", r.method, name, err)
				case wantKind != nil && !errors.Is(err, wantKind):
					t.Errorf("%s by %s: got %v, want %v", r.method, name, err, wantKind)
				}
				if err != nil {
					if after := Dump(t, w.store); after != before {
						t.Errorf("%s by %s: refused (%v) but storage changed", r.method, name, err)
						before = after
					}
				}
				if err == nil && r.write {
					w = newWorld(t, newStore, policy) // the next principal starts from the same world
					before = ""
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// visibleWorkspaces is what each principal may read, by the rules: platform powers
// see every workspace; a user their memberships (a deleted one only as its owner);
// a workspace token only its workspace.
func (w *world) visibleWorkspaces(name string, status workspace.Status) []string {
	all := map[workspace.Status][]string{"": {w.W.ID, w.W2.ID, w.X.ID}, workspace.Deleted: {w.D.ID}}
	switch name {
	case "system", "platform", "pUncapped", "pPlatform":
		return all[status]
	case "owner":
		if status == workspace.Deleted {
			return []string{w.D.ID}
		}
		return []string{w.W.ID}
	case "wsViewer", "wsEditor", "wsAdmin", "pViewer", "pEditor", "pAdmin":
		if status == "" {
			return []string{w.W.ID}
		}
	case "otherWs":
		if status == "" {
			return []string{w.W2.ID}
		}
	}
	return nil
}

func (w *world) checkList(name string, p tenancy.Principal, opts workspace.ListOptions) error {
	pg, err := w.m.ListWorkspaces(ctx, p, opts)
	if err != nil {
		return err
	}
	var got []string
	for _, ws := range pg.Items {
		got = append(got, ws.ID)
	}
	return sameIDs("ListWorkspaces", got, w.visibleWorkspaces(name, opts.Status))
}

// checkUserList lists a's workspaces (W and W2) and checks what p sees of them.
func (w *world) checkUserList(name string, p tenancy.Principal) error {
	pg, err := w.m.ListUserWorkspaces(ctx, p, "a", workspace.ListOptions{})
	if err != nil {
		return err
	}
	var got []string
	for _, uw := range pg.Items {
		got = append(got, uw.Workspace.ID)
	}
	want := []string{w.W.ID, w.W2.ID}
	switch name {
	case "wsViewer", "wsEditor", "wsAdmin":
		want = []string{w.W.ID}
	case "otherWs":
		want = []string{w.W2.ID}
	}
	return sameIDs("ListUserWorkspaces", got, want)
}

// checkTokenList lists W's tokens: whoever may manage them sees all four of a's
// tokens there; a token that may not sees only itself; padm's capped tokens, which
// may not act on padm's credentials and have none in W, see none.
func (w *world) checkTokenList(name string, p tenancy.Principal) error {
	pg, err := w.m.ListTokens(ctx, p, tenancy.TokenListOptions{WorkspaceID: w.W.ID})
	if err != nil {
		return err
	}
	var got []string
	for _, t := range pg.Items {
		got = append(got, t.ID)
	}
	var want []string
	switch name {
	case "wsViewer", "wsEditor":
		want = []string{p.TokenID()}
	case "pViewer", "pEditor":
	default:
		want = []string{w.who["wsViewer"].TokenID(), w.who["wsEditor"].TokenID(), w.who["wsAdmin"].TokenID(), w.target}
	}
	return sameIDs("ListTokens", got, want)
}

func sameIDs(what string, got, want []string) error {
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return errors.New(what + ": listed " + strings.Join(got, ",") + ", want " + strings.Join(want, ","))
	}
	return nil
}
