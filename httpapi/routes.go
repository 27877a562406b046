package httpapi

import (
	"net/http"

	"github.com/tenancykit/tenancy"
)

// routes is the API: every route it serves, in one table. New registers each one;
// the OpenAPI document must list exactly these (TestDocumentMatchesTheRoutes),
// so a route cannot be served undocumented or documented unserved.
var routes = []route{
	// Workspaces, in Airbyte Embedded's shapes (and Tell's /user/workspaces).
	{pattern: "GET /workspaces", authed: (*API).listWorkspaces},
	{pattern: "GET /workspaces/stats", authed: (*API).stats},
	{pattern: "POST /workspaces/sync", authed: (*API).sync},
	{pattern: "GET /workspaces/{id}", authed: (*API).getWorkspace},
	{pattern: "PUT /workspaces/{id}", authed: (*API).updateWorkspace},
	{pattern: "DELETE /workspaces/{id}", authed: (*API).deleteWorkspace},
	{pattern: "POST /workspaces/{id}/restore", authed: (*API).restoreWorkspace},
	{pattern: "POST /workspaces/{id}/transfer", authed: (*API).transfer},
	{pattern: "PATCH /workspaces/{id}/flags", authed: (*API).setFlags},
	{pattern: "GET /workspaces/{id}/events", authed: (*API).events},
	{pattern: "POST /user/workspaces", authed: (*API).createWorkspace},
	{pattern: "GET /user/workspaces", authed: (*API).myWorkspaces},
	{pattern: "GET /admin/workspaces", authed: (*API).listAllWorkspaces},
	{pattern: "DELETE /admin/workspaces/{id}", authed: (*API).purgeWorkspace},
	{pattern: "GET /admin/events", authed: (*API).feed},
	{pattern: "GET /admin/backup", raw: (*API).backup},

	// Members, in Tell's shapes: the admin routes name the workspace in X-Workspace-ID.
	{pattern: "POST /workspaces/{id}/members", authed: (*API).addMember},
	// System Initiative's shapes: the workspace in the path, the member in the body.
	{pattern: "GET /workspaces/{id}/members", authed: (*API).listWorkspaceMembers},
	{pattern: "PUT /workspaces/{id}/members", authed: (*API).updateMemberRole},
	{pattern: "DELETE /workspaces/{id}/members", authed: (*API).removeMemberByBody},
	{pattern: "POST /workspaces/{id}/leave", authed: (*API).leave},
	{pattern: "GET /admin/users", authed: (*API).listMembers},
	{pattern: "PUT /admin/users/{user_id}", authed: (*API).changeRole},
	{pattern: "DELETE /admin/users/{user_id}", authed: (*API).removeMember},

	// Invitations, in Tell's shapes. Secrets travel only in request and response
	// bodies, never in a URL a server would log.
	{pattern: "POST /admin/workspace/invites", authed: (*API).invite},
	{pattern: "POST /workspaces/{id}/invites", authed: (*API).inviteToWorkspace}, // System Initiative's inviteMember
	{pattern: "GET /admin/workspace/invites", authed: (*API).listInvites},
	{pattern: "DELETE /admin/workspace/invites/{id}", authed: (*API).revokeInvite},
	{pattern: "POST /admin/workspace/invites/{id}/resend", authed: (*API).resendInvite},
	{pattern: "POST /invites/preview", public: (*API).previewInvite},
	{pattern: "POST /invites/accept", public: (*API).accept},

	// Tokens, in System Initiative's shapes: workspace tokens under their workspace,
	// personal tokens under /user/tokens.
	{pattern: "POST /workspaces/{id}/tokens", authed: (*API).createWorkspaceToken},
	{pattern: "GET /workspaces/{id}/tokens", authed: (*API).listWorkspaceTokens},
	{pattern: "DELETE /workspaces/{id}/tokens/{token_id}", authed: (*API).revokeWorkspaceToken},
	{pattern: "POST /workspaces/{id}/tokens/{token_id}/rotate", authed: (*API).rotateWorkspaceToken},
	{pattern: "POST /user/tokens", authed: (*API).createPersonalToken},
	{pattern: "GET /user/tokens", authed: (*API).listPersonalTokens},
	{pattern: "DELETE /user/tokens/{token_id}", authed: (*API).revokePersonalToken},
	{pattern: "POST /user/tokens/{token_id}/rotate", authed: (*API).rotatePersonalToken},

	// Users: each user reads, changes and erases themselves at /user; platform users
	// manage everyone under /platform/users. Roles: anyone signed in reads the policy's
	// roles; platform users rename one for every member.
	{pattern: "GET /user", authed: (*API).me},
	{pattern: "PATCH /user", authed: (*API).updateMe},
	{pattern: "POST /user/email-change", authed: (*API).requestEmailChange},
	{pattern: "POST /user/email-change/confirm", authed: (*API).confirmEmailChange},
	{pattern: "DELETE /user", authed: (*API).deleteMe},
	{pattern: "GET /platform/users", authed: (*API).listUsers},
	{pattern: "POST /platform/users", authed: (*API).registerUser},
	{pattern: "GET /platform/users/{user_id}", authed: (*API).getUser},
	{pattern: "PUT /platform/users/{user_id}", authed: (*API).setPlatform},
	{pattern: "PATCH /platform/users/{user_id}", authed: (*API).updateUser},
	{pattern: "DELETE /platform/users/{user_id}", authed: (*API).deleteUser},
	{pattern: "POST /platform/users/{user_id}/suspend", authed: (*API).suspendUser},
	{pattern: "POST /platform/users/{user_id}/reactivate", authed: (*API).reactivateUser},
	{pattern: "GET /roles", authed: (*API).roles},
	{pattern: "GET /starter-kits", authed: (*API).starterKits},
	{pattern: "POST /platform/roles/{role}/rename", authed: (*API).renameRole},

	// Webhooks: endpoints of a workspace ("workspace_id" in the body or the query) or
	// of the platform (without one).
	{pattern: "POST /webhooks", authed: (*API).createWebhook},
	{pattern: "GET /webhooks", authed: (*API).listWebhooks},
	{pattern: "GET /webhooks/{id}", authed: (*API).getWebhook},
	{pattern: "PATCH /webhooks/{id}", authed: (*API).updateWebhook},
	{pattern: "DELETE /webhooks/{id}", authed: (*API).deleteWebhook},
	{pattern: "POST /webhooks/{id}/rotate-secret", authed: (*API).rotateWebhookSecret},
	{pattern: "GET /webhooks/{id}/attempts", authed: (*API).listWebhookAttempts},
	{pattern: "POST /webhooks/{id}/replay", authed: (*API).replayWebhook},
}

// route is one row of the table: a pattern for http.ServeMux and its handler,
// which runs with the request's Principal (authed) or without one (public: the
// request's secret is its credential).
type route struct {
	pattern string
	authed  func(*API, *http.Request, tenancy.Principal) (int, any, error)
	public  func(*API, *http.Request) (int, any, error)
	// raw, instead, writes its own answer (a stream) after it decided, with the
	// request's Principal; an error before it wrote is answered as JSON.
	raw func(*API, http.ResponseWriter, *http.Request, tenancy.Principal) error
}

// Routes returns the method and path of every route the API serves, such as
// "GET /workspaces/{id}", in the table's order: for tools and tests that hold the
// document to the served routes.
func Routes() []string {
	out := make([]string, 0, len(routes)+1)
	for _, r := range routes {
		out = append(out, r.pattern)
	}
	return append(out, openAPIRoute)
}

// openAPIRoute serves the document itself.
const openAPIRoute = "GET /openapi.json"
