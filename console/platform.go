package console

import (
	"net/http"
	"net/url"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/workspace"
)

// The platform pages: every workspace (with the API's name and status filters and
// cursor paging), the statistics, and the users. The Manager refuses them to
// anyone without platform powers.

func (c *Console) platformRoutes() {
	c.get("GET /platform/workspaces", c.platformWorkspaces)
	c.get("GET /platform/users", c.platformUsers)
	c.post("POST /platform/users/{user}/suspend", c.suspendUser)
	c.post("POST /platform/users/{user}/reactivate", c.reactivateUser)
}

type platformWorkspacesData struct {
	Stats        workspace.Stats
	Workspaces   []workspace.Workspace
	NameContains string
	Status       string
	Next         string // the next page's query string
}

func (c *Console) platformWorkspaces(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	q := r.URL.Query()
	d := platformWorkspacesData{NameContains: q.Get("name_contains"), Status: q.Get("status")}
	stats, err := c.m.Stats(r.Context(), p)
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	d.Stats = stats
	pg, err := c.m.ListAllWorkspaces(r.Context(), p, workspace.ListOptions{Limit: 50, Cursor: q.Get("cursor"),
		NameContains: d.NameContains, Status: workspace.Status(d.Status)})
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	d.Workspaces = pg.Items
	if pg.HasMore {
		d.Next = url.Values{"name_contains": {d.NameContains}, "status": {d.Status}, "cursor": {pg.NextCursor}}.Encode()
	}
	out := c.pageFor(w, r, p, "Every workspace")
	out.Data = d
	c.render(w, http.StatusOK, "platform_workspaces", out)
}

type platformUsersData struct {
	Users []member.User
	Next  string
}

func (c *Console) platformUsers(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	pg, err := c.m.ListUsers(r.Context(), p, tenancy.MemberListOptions{Limit: 100, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	d := platformUsersData{Users: pg.Items}
	if pg.HasMore {
		d.Next = pg.NextCursor
	}
	out := c.pageFor(w, r, p, "Users")
	out.Data = d
	c.render(w, http.StatusOK, "platform_users", out)
}

func (c *Console) suspendUser(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	u, err := c.m.SuspendUser(r.Context(), p, r.PathValue("user"))
	if err != nil {
		c.fail(w, r, "/platform/users", err)
		return
	}
	c.redirect(w, r, "/platform/users", "Suspended "+u.Email+": every token of theirs stops working.")
}

func (c *Console) reactivateUser(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	u, err := c.m.ReactivateUser(r.Context(), p, r.PathValue("user"))
	if err != nil {
		c.fail(w, r, "/platform/users", err)
		return
	}
	c.redirect(w, r, "/platform/users", "Reactivated "+u.Email+".")
}
