package console

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

func (c *Console) routes() {
	c.mux.HandleFunc("GET /static/", c.static)
	c.get("GET /{$}", c.switcher)
	c.post("POST /workspaces", c.createWorkspace)
	c.get("GET /w/{id}", c.settings)
	c.post("POST /w/{id}/settings", c.updateSettings)
	c.post("POST /w/{id}/status", c.changeStatus)
	c.post("POST /w/{id}/delete", c.deleteWorkspace)
	c.post("POST /w/{id}/restore", c.restoreWorkspace)
	c.post("POST /w/{id}/leave", c.leaveWorkspace)
	c.post("POST /w/{id}/transfer", c.transfer)
	c.get("GET /w/{id}/members", c.members)
	c.post("POST /w/{id}/members", c.addMember)
	c.post("POST /w/{id}/members/{user}/role", c.changeRole)
	c.post("POST /w/{id}/members/{user}/remove", c.removeMember)
	c.post("POST /w/{id}/invitations", c.invite)
	c.post("POST /w/{id}/invitations/{inv}/revoke", c.revokeInvitation)
	c.post("POST /w/{id}/invitations/{inv}/resend", c.resendInvitation)
	c.get("GET /w/{id}/tokens", c.workspaceTokens)
	c.post("POST /w/{id}/tokens", c.createWorkspaceToken)
	c.post("POST /w/{id}/tokens/{tok}/revoke", c.revokeToken)
	c.post("POST /w/{id}/tokens/{tok}/rotate", c.rotateToken)
	c.get("GET /w/{id}/audit", c.audit)
	c.get("GET /tokens", c.personalTokens)
	c.post("POST /tokens", c.createPersonalToken)
	c.post("POST /tokens/{tok}/revoke", c.revokeToken)
	c.post("POST /tokens/{tok}/rotate", c.rotateToken)
	c.platformRoutes()
	c.inviteRoutes()
}

// handler is a page or a form with the request's principal.
type handler func(w http.ResponseWriter, r *http.Request, p tenancy.Principal)

// get registers a page: the principal is resolved first; without one the person
// is sent to sign in.
func (c *Console) get(pattern string, h handler) { c.mux.HandleFunc(pattern, c.withPrincipal(h)) }

// post registers a form. Its answer is a redirect (POST-redirect-GET), to a page
// that shows what happened, or the Manager's refusal.
func (c *Console) post(pattern string, h handler) { c.mux.HandleFunc(pattern, c.withPrincipal(h)) }

func (c *Console) withPrincipal(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := c.opts.Principal(r)
		if err == nil && p == (tenancy.Principal{}) {
			err = tenancy.ErrUnauthenticated
		}
		if err != nil {
			if c.opts.SignInURL != "" {
				http.Redirect(w, r, c.opts.SignInURL, http.StatusSeeOther)
				return
			}
			c.render(w, http.StatusUnauthorized, "signin", page{Title: "Sign in", Error: message(err)})
			return
		}
		h(w, r, p)
	}
}

// message is what a person reads of an error: the Manager's message, or a
// generic one for faults (logged in full).
func message(err error) string {
	var e *tenancy.Error
	if errors.As(err, &e) && tenancy.KindOf(err) != nil {
		return e.Message
	}
	if errors.Is(err, tenancy.ErrUnauthenticated) {
		return "sign in to continue"
	}
	return "something went wrong on the server; try again"
}

// fail answers a refused form: back to the page it came from, with the refusal.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, back string, err error) {
	if tenancy.KindOf(err) == nil {
		c.log.Error("console", "path", r.URL.Path, "error", err)
	}
	c.setFlash(w, r, "error", message(err))
	http.Redirect(w, r, c.opts.Prefix+back, http.StatusSeeOther)
}

// pageFor fills the parts every page shares.
func (c *Console) pageFor(w http.ResponseWriter, r *http.Request, p tenancy.Principal, title string) page {
	pg := page{Title: title, Principal: p.String(), Flash: c.takeFlash(w, r, "notice"), Error: c.takeFlash(w, r, "error")}
	pg.Platform = c.m.AuthorizePlatform(r.Context(), p, rbac.ListAll) == nil
	return pg
}

// showError renders an error page for a page that cannot be shown.
func (c *Console) showError(w http.ResponseWriter, r *http.Request, p tenancy.Principal, err error) {
	status := http.StatusInternalServerError
	switch tenancy.KindOf(err) {
	case tenancy.ErrNotFound:
		status = http.StatusNotFound
	case tenancy.ErrPermissionDenied:
		status = http.StatusForbidden
	case tenancy.ErrFailedPrecondition:
		status = http.StatusConflict
	case tenancy.ErrInvalidArgument:
		status = http.StatusBadRequest
	case tenancy.ErrUnauthenticated:
		status = http.StatusUnauthorized
	case nil:
		c.log.Error("console", "path", r.URL.Path, "error", err)
	}
	pg := c.pageFor(w, r, p, "Error")
	pg.Error = message(err)
	c.render(w, status, "error", pg)
}

// The workspace switcher.

type switcherData struct {
	Workspaces []workspace.Workspace
	Deleted    []workspace.Workspace // those the principal may restore
	Kits       []string
	CanCreate  bool
}

func (c *Console) switcher(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	pg, err := c.m.ListWorkspaces(r.Context(), p, workspace.ListOptions{Status: workspace.Active, Limit: 100})
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	d := switcherData{Workspaces: pg.Items, Kits: c.m.StarterKits(), CanCreate: p.TokenID() == "" || p.WorkspaceID() == ""}
	if del, err := c.m.ListWorkspaces(r.Context(), p, workspace.ListOptions{Status: workspace.Deleted, Limit: 100}); err == nil {
		d.Deleted = del.Items
	}
	out := c.pageFor(w, r, p, "Workspaces")
	out.Data = d
	c.render(w, http.StatusOK, "switcher", out)
}

func (c *Console) createWorkspace(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	ws, err := c.m.CreateWorkspace(r.Context(), p, tenancy.NewWorkspace{Name: strings.TrimSpace(r.FormValue("name")),
		Slug: strings.TrimSpace(r.FormValue("slug")), Description: r.FormValue("description"), StarterKit: r.FormValue("starter_kit")})
	if err != nil {
		c.fail(w, r, "/", err)
		return
	}
	c.redirect(w, r, "/w/"+url.PathEscape(ws.ID), "Workspace "+ws.Name+" created ("+ws.Slug+").")
}

// Workspace pages share a header: the workspace, its tabs, what the principal may do.

type wsView struct {
	W       workspace.Workspace
	Others  []workspace.Workspace // the principal's active workspaces, for the switcher
	Tab     string
	Can     map[string]bool
	IsOwner bool
}

func (c *Console) workspaceView(r *http.Request, p tenancy.Principal, id, tab string) (wsView, error) {
	ws, err := c.m.GetWorkspace(r.Context(), p, id)
	if err != nil {
		return wsView{}, err
	}
	v := wsView{W: ws, Tab: tab, Can: map[string]bool{}}
	if pg, err := c.m.ListWorkspaces(r.Context(), p, workspace.ListOptions{Status: workspace.Active, Limit: 100}); err == nil {
		v.Others = pg.Items
	}
	for name, a := range map[string]rbac.Action{"update": rbac.UpdateWorkspace, "status": rbac.ChangeStatus,
		"delete": rbac.DeleteWorkspace, "invite": rbac.InviteMembers, "manage": rbac.ManageMembers,
		"tokens": rbac.ManageTokens, "token": rbac.CreateToken, "audit": rbac.ReadAudit, "members": rbac.ListMembers} {
		v.Can[name] = c.m.Authorize(r.Context(), p, id, a) == nil
	}
	// Status changes are allowed while inactive; Authorize answers for the state now.
	v.IsOwner = p.UserID() != "" && ws.OwnerID == p.UserID()
	return v, nil
}

func (c *Console) settings(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	v, err := c.workspaceView(r, p, r.PathValue("id"), "settings")
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	out := c.pageFor(w, r, p, v.W.Name)
	out.Data = v
	c.render(w, http.StatusOK, "settings", out)
}

func (c *Console) updateSettings(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	name, desc := strings.TrimSpace(r.FormValue("name")), r.FormValue("description")
	ws, err := c.m.UpdateWorkspace(r.Context(), p, id, tenancy.WorkspaceUpdate{Name: &name, Description: &desc})
	if err != nil {
		c.fail(w, r, "/w/"+url.PathEscape(id), err)
		return
	}
	c.redirect(w, r, "/w/"+url.PathEscape(id), "Saved "+ws.Name+".")
}

func (c *Console) changeStatus(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	var err error
	switch r.FormValue("to") {
	case "inactive":
		_, err = c.m.DeactivateWorkspace(r.Context(), p, id)
	case "active":
		_, err = c.m.ReactivateWorkspace(r.Context(), p, id)
	default:
		err = &tenancy.Error{Kind: tenancy.ErrInvalidArgument, Message: "choose active or inactive"}
	}
	if err != nil {
		c.fail(w, r, "/w/"+url.PathEscape(id), err)
		return
	}
	c.redirect(w, r, "/w/"+url.PathEscape(id), "The workspace is now "+r.FormValue("to")+".")
}

func (c *Console) deleteWorkspace(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	ws, err := c.m.GetWorkspace(r.Context(), p, id)
	if err == nil && strings.TrimSpace(r.FormValue("confirm")) != ws.Name {
		err = &tenancy.Error{Kind: tenancy.ErrInvalidArgument, Message: "type the workspace's name, " + ws.Name + ", to confirm"}
	}
	if err == nil {
		_, err = c.m.DeleteWorkspace(r.Context(), p, id)
	}
	if err != nil {
		c.fail(w, r, "/w/"+url.PathEscape(id), err)
		return
	}
	c.redirect(w, r, "/", "Workspace "+ws.Name+" deleted. Its owner or a platform user can restore it.")
}

func (c *Console) restoreWorkspace(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	ws, err := c.m.RestoreWorkspace(r.Context(), p, id)
	if err != nil {
		c.fail(w, r, "/", err)
		return
	}
	c.redirect(w, r, "/w/"+url.PathEscape(id), "Workspace "+ws.Name+" restored.")
}

func (c *Console) leaveWorkspace(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	if err := c.m.LeaveWorkspace(r.Context(), p, id); err != nil {
		c.fail(w, r, "/w/"+url.PathEscape(id), err)
		return
	}
	c.redirect(w, r, "/", "You left the workspace.")
}

func (c *Console) transfer(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	if _, err := c.m.TransferOwnership(r.Context(), p, id, r.FormValue("user_id")); err != nil {
		c.fail(w, r, "/w/"+url.PathEscape(id), err)
		return
	}
	c.redirect(w, r, "/w/"+url.PathEscape(id), "Ownership transferred.")
}

// Members and invitations.

type membersData struct {
	wsView
	Members     []tenancy.MemberInfo
	Invitations []tenancy.InvitationInfo
	Roles       []rbac.Role // the roles the principal may grant
	Me          string
	AcceptLink  string // a new invitation's link, shown once
}

func (c *Console) members(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	v, err := c.workspaceView(r, p, id, "members")
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	d := membersData{wsView: v, Me: p.UserID(), AcceptLink: c.takeFlash(w, r, "secret")}
	mp, err := c.m.ListMembers(r.Context(), p, id, tenancy.MemberListOptions{Limit: 100})
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	d.Members = mp.Items
	if v.Can["manage"] || v.Can["invite"] {
		if ip, err := c.m.ListInvitations(r.Context(), p, id, tenancy.MemberListOptions{Limit: 100}); err == nil {
			d.Invitations = ip.Items
		}
		d.Roles, _ = c.m.GrantableRoles(r.Context(), p, id)
	}
	out := c.pageFor(w, r, p, v.W.Name+": members")
	out.Data = d
	c.render(w, http.StatusOK, "members", out)
}

func (c *Console) addMember(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	back := "/w/" + url.PathEscape(id) + "/members"
	mb, err := c.m.AddMember(r.Context(), p, id, tenancy.NewMember{Email: strings.TrimSpace(r.FormValue("email")), Role: rbac.Role(r.FormValue("role"))})
	if err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.redirect(w, r, back, "Added "+r.FormValue("email")+" as "+string(mb.Role)+".")
}

func (c *Console) changeRole(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	back := "/w/" + url.PathEscape(id) + "/members"
	mb, err := c.m.ChangeRole(r.Context(), p, id, r.PathValue("user"), rbac.Role(r.FormValue("role")))
	if err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.redirect(w, r, back, "Role changed to "+string(mb.Role)+".")
}

func (c *Console) removeMember(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	back := "/w/" + url.PathEscape(id) + "/members"
	if err := c.m.RemoveMember(r.Context(), p, id, r.PathValue("user")); err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.redirect(w, r, back, "Member removed.")
}

func (c *Console) invite(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	back := "/w/" + url.PathEscape(id) + "/members"
	sent, err := c.m.InviteMember(r.Context(), p, id, tenancy.NewInvitation{Email: strings.TrimSpace(r.FormValue("email")), Role: rbac.Role(r.FormValue("role"))})
	if err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.setFlash(w, r, "secret", c.acceptLink(sent.Secret))
	c.redirect(w, r, back, "Invited "+sent.Invitation.Email+" as "+string(sent.Invitation.Role)+"."+c.mail(r, sent))
}

// mail sends an invitation's link where the host configured mail, and says how it
// went, for the notice.
func (c *Console) mail(r *http.Request, sent tenancy.SentInvitation) string {
	if c.opts.SendInvitation == nil {
		return ""
	}
	if err := c.opts.SendInvitation(r.Context(), sent, c.acceptLink(sent.Secret)); err != nil {
		c.log.Error("console: invitation mail", "error", err)
		return " The mail could not be sent: pass the link on yourself."
	}
	return " We mailed them the link."
}

func (c *Console) acceptLink(secret string) string {
	if c.opts.AcceptURL != nil {
		return c.opts.AcceptURL(secret)
	}
	return secret
}

func (c *Console) revokeInvitation(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	back := "/w/" + url.PathEscape(id) + "/members"
	if _, err := c.m.RevokeInvitation(r.Context(), p, r.PathValue("inv")); err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.redirect(w, r, back, "Invitation revoked.")
}

func (c *Console) resendInvitation(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	back := "/w/" + url.PathEscape(id) + "/members"
	sent, err := c.m.ResendInvitation(r.Context(), p, r.PathValue("inv"))
	if err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.setFlash(w, r, "secret", c.acceptLink(sent.Secret))
	c.redirect(w, r, back, "Invitation renewed: the old link no longer works."+c.mail(r, sent))
}

// Tokens: a workspace's, and the principal's personal ones.

type tokensData struct {
	wsView
	Personal bool
	Active   []tenancy.TokenInfo
	Inactive []tenancy.TokenInfo
	Roles    []rbac.Role
	Secret   string // a new token's secret: shown on this one page view only
	Base     string // the form actions' base path
}

func (c *Console) workspaceTokens(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	v, err := c.workspaceView(r, p, id, "tokens")
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	c.showTokens(w, r, p, tokensData{wsView: v, Base: "/w/" + url.PathEscape(id) + "/tokens"}, tenancy.TokenListOptions{WorkspaceID: id})
}

func (c *Console) personalTokens(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	c.showTokens(w, r, p, tokensData{Personal: true, Base: "/tokens"}, tenancy.TokenListOptions{UserID: p.UserID()})
}

func (c *Console) showTokens(w http.ResponseWriter, r *http.Request, p tenancy.Principal, d tokensData, opts tenancy.TokenListOptions) {
	d.Secret = c.takeFlash(w, r, "secret")
	for _, st := range []tenancy.TokenState{tenancy.TokenActive, tenancy.TokenInactive} {
		opts.State, opts.Limit = st, 100
		pg, err := c.m.ListTokens(r.Context(), p, opts)
		if err != nil {
			c.showError(w, r, p, err)
			return
		}
		if st == tenancy.TokenActive {
			d.Active = pg.Items
		} else {
			d.Inactive = pg.Items
		}
	}
	if !d.Personal {
		d.Roles, _ = c.m.GrantableRoles(r.Context(), p, d.W.ID)
	}
	title := "API tokens"
	if !d.Personal {
		title = d.W.Name + ": API tokens"
	}
	out := c.pageFor(w, r, p, title)
	out.Data = d
	c.render(w, http.StatusOK, "tokens", out)
}

func (c *Console) createToken(w http.ResponseWriter, r *http.Request, p tenancy.Principal, wsID, back string) {
	life, err := token.ParseLifetime(strings.TrimSpace(r.FormValue("expires_in")))
	if err != nil {
		c.fail(w, r, back, &tenancy.Error{Kind: tenancy.ErrInvalidArgument, Message: err.Error()})
		return
	}
	ct, err := c.m.CreateToken(r.Context(), p, tenancy.NewToken{Name: strings.TrimSpace(r.FormValue("name")), WorkspaceID: wsID,
		Role: rbac.Role(r.FormValue("role")), Lifetime: life})
	if err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.setFlash(w, r, "secret", ct.Secret)
	c.redirect(w, r, back, "Token "+ct.Token.Name+" created.")
}

func (c *Console) createWorkspaceToken(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	c.createToken(w, r, p, id, "/w/"+url.PathEscape(id)+"/tokens")
}

func (c *Console) createPersonalToken(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	c.createToken(w, r, p, "", "/tokens")
}

func tokensBack(r *http.Request) string {
	if id := r.PathValue("id"); id != "" {
		return "/w/" + url.PathEscape(id) + "/tokens"
	}
	return "/tokens"
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	back := tokensBack(r)
	if err := c.m.RevokeToken(r.Context(), p, r.PathValue("tok")); err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.redirect(w, r, back, "Token revoked: it is now inactive.")
}

func (c *Console) rotateToken(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	back := tokensBack(r)
	ct, err := c.m.RotateToken(r.Context(), p, r.PathValue("tok"))
	if err != nil {
		c.fail(w, r, back, err)
		return
	}
	c.setFlash(w, r, "secret", ct.Secret)
	c.redirect(w, r, back, "Token "+ct.Token.Name+" rotated: the old secret no longer works.")
}

// The audit log.

type auditData struct {
	wsView
	Events []tenancy.Event
	Next   string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, p tenancy.Principal) {
	id := r.PathValue("id")
	v, err := c.workspaceView(r, p, id, "audit")
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	pg, err := c.m.ListEvents(r.Context(), p, id, tenancy.EventListOptions{Limit: 50, Cursor: r.URL.Query().Get("cursor")})
	if err != nil {
		c.showError(w, r, p, err)
		return
	}
	d := auditData{wsView: v, Events: pg.Items}
	if pg.HasMore {
		d.Next = pg.NextCursor
	}
	out := c.pageFor(w, r, p, v.W.Name+": audit log")
	out.Data = d
	c.render(w, http.StatusOK, "audit", out)
}
