package console

import (
	"net/http"
	"strings"

	"github.com/tenancykit/tenancy"
)

// The invitation page, where accept links lead: /invite#token=…. The secret stays
// in the fragment (browsers never send it, so no access log holds it): the script
// moves it into the form, or the person pastes the link. Then the page says what
// the invitation is, and the person accepts it with their account, or signs up
// (when the host gave Options.SignUp). Secrets travel in POST bodies only.

func (c *Console) inviteRoutes() {
	c.mux.HandleFunc("GET /invite", c.invitePage)
	c.mux.HandleFunc("POST /invite", c.invitePreview)
	c.mux.HandleFunc("POST /invite/accept", c.inviteAccept)
	c.mux.HandleFunc("POST /invite/signup", c.inviteSignUp)
}

type inviteData struct {
	Info      tenancy.InvitationInfo
	Found     bool
	SignedIn  bool
	CanSignUp bool
}

// secretOf reads the code field: the secret itself, or a link holding it.
func secretOf(r *http.Request) string {
	return parseCode(r.FormValue("code"))
}

func parseCode(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "token="); i >= 0 {
		s = s[i+len("token="):]
	}
	if i := strings.IndexAny(s, "&# "); i >= 0 {
		s = s[:i]
	}
	return s
}

func (c *Console) invitePage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "invite", c.invitePageFor(w, r, inviteData{}))
}

func (c *Console) invitePageFor(w http.ResponseWriter, r *http.Request, d inviteData) page {
	pg := page{Title: "Invitation", Flash: c.takeFlash(w, r, "notice"), Error: c.takeFlash(w, r, "error")}
	if p, err := c.opts.Principal(r); err == nil && p != (tenancy.Principal{}) {
		pg.Principal, d.SignedIn = p.String(), true
	}
	d.CanSignUp = c.opts.SignUp != nil
	pg.Data = d
	return pg
}

// The secret, once opened, is kept in a sealed HttpOnly cookie for the accept and
// sign-up forms, so it is never in the page (its source, a hidden field) or a URL.
const inviteCookie = "invite"

func (c *Console) inviteSecret(r *http.Request) string {
	ck, err := r.Cookie("console_" + inviteCookie)
	if err != nil {
		return ""
	}
	return c.open(inviteCookie, ck.Value)
}

func (c *Console) invitePreview(w http.ResponseWriter, r *http.Request) {
	code := secretOf(r)
	info, err := c.m.InvitationBySecret(r.Context(), code)
	if err == nil {
		c.setCookie(w, r, inviteCookie, code, 15*60)
	}
	d := inviteData{Info: info, Found: err == nil}
	pg := c.invitePageFor(w, r, d)
	status := http.StatusOK
	if err != nil {
		pg.Error, status = message(err), http.StatusNotFound
		if tenancy.KindOf(err) == tenancy.ErrInvalidArgument {
			status = http.StatusBadRequest
		}
	}
	c.render(w, status, "invite", pg)
}

func (c *Console) inviteAccept(w http.ResponseWriter, r *http.Request) {
	p, err := c.opts.Principal(r)
	if err == nil && p == (tenancy.Principal{}) {
		err = tenancy.ErrUnauthenticated
	}
	wsID := ""
	if err == nil {
		joined, aerr := c.m.AcceptInvitation(r.Context(), p, c.inviteSecret(r))
		err, wsID = aerr, joined.WorkspaceID
	}
	if err != nil {
		c.renderInviteError(w, r, err)
		return
	}
	c.clearCookie(w, r, inviteCookie)
	c.redirect(w, r, "/w/"+wsID, "Welcome: you joined the workspace.")
}

func (c *Console) inviteSignUp(w http.ResponseWriter, r *http.Request) {
	if c.opts.SignUp == nil {
		http.NotFound(w, r)
		return
	}
	wsID, err := c.opts.SignUp(w, r, c.inviteSecret(r), strings.TrimSpace(r.FormValue("name")))
	if err != nil {
		c.renderInviteError(w, r, err)
		return
	}
	c.clearCookie(w, r, inviteCookie)
	c.redirect(w, r, "/w/"+wsID, "Welcome: your account is ready and you joined the workspace.")
}

// renderInviteError shows the invitation page again with the refusal, the code
// kept in the form (never in a URL).
func (c *Console) renderInviteError(w http.ResponseWriter, r *http.Request, err error) {
	info, ierr := c.m.InvitationBySecret(r.Context(), c.inviteSecret(r))
	pg := c.invitePageFor(w, r, inviteData{Info: info, Found: ierr == nil})
	pg.Error = message(err)
	c.render(w, http.StatusConflict, "invite", pg)
}
