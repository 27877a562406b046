package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/console"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/workspace"
)

var ctx = context.Background()

// site is the console mounted under /console over a memory store, with the
// principal read from a test header (a host's login would set it).
type site struct {
	m   *tenancy.Manager
	srv *httptest.Server
	ws  workspace.Workspace
}

func newSite(t *testing.T) *site {
	t.Helper()
	m, err := tenancy.New(memory.New(), tenancy.Options{StarterKits: []string{"web-analytics"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	sys := tenancy.System()
	for _, id := range []string{"ada", "bob", "cy", "eve"} {
		if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: id, Email: id + "@example.com", Name: strings.ToUpper(id[:1]) + id[1:]}); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	for id, role := range map[string]rbac.Role{"bob": rbac.Viewer, "cy": rbac.Admin} {
		if _, err := m.AddMember(ctx, tenancy.User("ada"), ws.ID, tenancy.NewMember{UserID: id, Role: role}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := console.New(m, console.Options{Prefix: "/console", Principal: func(r *http.Request) (tenancy.Principal, error) {
		if id := r.Header.Get("X-Test-User"); id != "" {
			return tenancy.User(id), nil
		}
		return tenancy.Principal{}, tenancy.ErrUnauthenticated
	}, AcceptURL: func(s string) string { return "https://app.example.com/invite#token=" + s }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", c))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &site{m: m, srv: srv, ws: ws}
}

// browser is one person's cookie jar.
type browser struct {
	t    *testing.T
	s    *site
	user string
	c    *http.Client
}

func (s *site) as(t *testing.T, user string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, s: s, user: user, c: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path string, form url.Values, headers ...string) (int, string, http.Header) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.s.srv.URL+"/console"+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.user != "" {
		req.Header.Set("X-Test-User", b.user)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	// A template that fails midway leaves a truncated page: every page must end.
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") && !strings.Contains(string(data), "</html>") {
		b.t.Errorf("%s %s: the page stops short (a template error):\n%s", method, path, data)
	}
	return resp.StatusCode, string(data), resp.Header
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	code, body, _ := b.do("GET", path, nil)
	return code, body
}

func (b *browser) post(path string, kv ...string) (int, string) {
	b.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Set(kv[i], kv[i+1])
	}
	code, body, _ := b.do("POST", path, form)
	return code, body
}

func contains(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s: the page lacks %q", what, w)
		}
	}
}

func lacks(t *testing.T, what, body string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(body, w) {
			t.Errorf("%s: the page shows %q", what, w)
		}
	}
}

func TestSecurityHeadersAndSignIn(t *testing.T) {
	s := newSite(t)
	code, _, h := s.as(t, "ada").do("GET", "/", nil)
	if code != 200 {
		t.Fatalf("switcher: %d", code)
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	for k, v := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if code, body := s.as(t, "").get("/"); code != http.StatusUnauthorized || !strings.Contains(body, "Sign in") {
		t.Errorf("without a principal: %d", code)
	}
	// A cross-site form post is refused before any Manager call.
	before, _ := s.m.ListWorkspaces(ctx, tenancy.User("ada"), workspace.ListOptions{})
	code, _, _ = s.as(t, "ada").do("POST", "/workspaces", url.Values{"name": {"Forged"}}, "Sec-Fetch-Site", "cross-site")
	after, _ := s.m.ListWorkspaces(ctx, tenancy.User("ada"), workspace.ListOptions{})
	if code != http.StatusForbidden || len(after.Items) != len(before.Items) {
		t.Errorf("a forged POST: %d, %d workspaces before and %d after", code, len(before.Items), len(after.Items))
	}
	code, _, h = s.as(t, "ada").do("GET", "/static/console.css", nil)
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", code, h.Get("Content-Type"))
	}
}

func TestSwitcherCreatesAWorkspace(t *testing.T) {
	s := newSite(t)
	ada := s.as(t, "ada")
	_, body := ada.get("/")
	contains(t, "switcher", body, "Acme", "Create new workspace", `<label for="ws-name">Name</label>`, "web-analytics")
	code, body := ada.post("/workspaces", "name", "Staging Area", "description", "for tests", "starter_kit", "web-analytics")
	if code != 200 {
		t.Fatalf("create: %d", code)
	}
	contains(t, "after create", body, "Workspace Staging Area created (staging-area).", "staging-area")
	// The Manager's refusal is shown.
	_, body = ada.post("/workspaces", "name", "")
	contains(t, "an empty name", body, `class="error"`)
}

func TestSettingsShowOnlyWhatThePrincipalMay(t *testing.T) {
	s := newSite(t)
	_, owner := s.as(t, "ada").get("/w/" + s.ws.ID)
	contains(t, "owner", owner, "Save", "Deactivate workspace", "Delete Acme", "The owner cannot leave")
	_, viewer := s.as(t, "bob").get("/w/" + s.ws.ID)
	lacks(t, "viewer", viewer, "Save", "Deactivate workspace", "Delete Acme", "Transfer")
	contains(t, "viewer", viewer, "Leave workspace")
	// A viewer's forged form is refused by the Manager, and nothing changes.
	_, body := s.as(t, "bob").post("/w/"+s.ws.ID+"/settings", "name", "Hacked")
	contains(t, "viewer's rename", body, `class="error"`)
	if w, _ := s.m.GetWorkspace(ctx, tenancy.System(), s.ws.ID); w.Name != "Acme" {
		t.Errorf("a viewer renamed the workspace to %q", w.Name)
	}
	// Delete asks for the name.
	_, body = s.as(t, "ada").post("/w/"+s.ws.ID+"/delete", "confirm", "acme?")
	contains(t, "a wrong confirmation", body, "type the workspace&#39;s name, Acme, to confirm")
	_, body = s.as(t, "ada").post("/w/"+s.ws.ID+"/delete", "confirm", "Acme")
	contains(t, "delete", body, "Workspace Acme deleted")
	if w, _ := s.m.GetWorkspace(ctx, tenancy.System(), s.ws.ID); w.Status != "deleted" {
		t.Errorf("after delete: %s", w.Status)
	}
}

func TestMembersPageOffersOnlyGrantableRoles(t *testing.T) {
	s := newSite(t)
	_, body := s.as(t, "cy").get("/w/" + s.ws.ID + "/members")
	contains(t, "admin", body, "Ada", "bob@example.com", "Add member", "Invite", `<option value="viewer"`)
	lacks(t, "admin", body, `value="platform"`)
	_, body = s.as(t, "bob").get("/w/" + s.ws.ID + "/members")
	lacks(t, "viewer", body, "Add member", "Invite", "Change role", "Remove")
	// Invite: the link is shown once.
	_, body = s.as(t, "cy").post("/w/"+s.ws.ID+"/invitations", "email", "dan@example.com", "role", "viewer")
	contains(t, "invite", body, "Invited dan@example.com as viewer.", "https://app.example.com/invite#token=tnci_", "pending")
	_, again := s.as(t, "cy").get("/w/" + s.ws.ID + "/members")
	lacks(t, "reload after invite", again, "invite#token=")
	// Change a role, remove a member.
	_, body = s.as(t, "cy").post("/w/"+s.ws.ID+"/members/bob/role", "role", "editor")
	contains(t, "change role", body, "Role changed to editor.")
	_, body = s.as(t, "cy").post("/w/" + s.ws.ID + "/members/bob/remove")
	contains(t, "remove", body, "Member removed.")
	if _, err := s.m.GetMember(ctx, tenancy.System(), s.ws.ID, "bob"); err == nil {
		t.Error("bob is still a member")
	}
}

func TestTokenShownOnceThenInactiveAfterRevoke(t *testing.T) {
	s := newSite(t)
	ada := s.as(t, "ada")
	code, body := ada.post("/w/"+s.ws.ID+"/tokens", "name", "ci", "expires_in", "48h")
	if code != 200 {
		t.Fatalf("create token: %d", code)
	}
	secret := regexp.MustCompile(`value="(tncw_[^"]+)"`).FindStringSubmatch(body)
	if secret == nil {
		t.Fatalf("the new token's secret is not on the page:\n%s", body)
	}
	if _, err := s.m.Authenticate(ctx, secret[1]); err != nil {
		t.Errorf("the shown secret does not authenticate: %v", err)
	}
	_, reload := ada.get("/w/" + s.ws.ID + "/tokens")
	lacks(t, "reload", reload, secret[1], "shown only this one time")
	contains(t, "reload", reload, "ci", "Active")
	id := regexp.MustCompile(`/tokens/(tok_\w+)/revoke`).FindStringSubmatch(reload)
	if id == nil {
		t.Fatal("no revoke form")
	}
	_, body = ada.post("/w/" + s.ws.ID + "/tokens/" + id[1] + "/revoke")
	contains(t, "revoke", body, "Token revoked", "revoked")
	if _, err := s.m.Authenticate(ctx, secret[1]); err == nil {
		t.Error("a revoked token still authenticates")
	}
	// Personal tokens.
	_, body = ada.post("/tokens", "name", "laptop", "expires_in", "1y")
	contains(t, "personal token", body, "tncp_", "My API tokens")
	_, body = ada.post("/tokens", "name", "bad", "expires_in", "forever")
	contains(t, "a bad lifetime", body, `class="error"`)
}

func TestAuditLogPages(t *testing.T) {
	s := newSite(t)
	for i := range 60 {
		name := "Acme " + string(rune('A'+i%26))
		if _, err := s.m.UpdateWorkspace(ctx, tenancy.User("ada"), s.ws.ID, tenancy.WorkspaceUpdate{Name: &name}); err != nil {
			t.Fatal(err)
		}
	}
	_, body := s.as(t, "ada").get("/w/" + s.ws.ID + "/audit")
	contains(t, "audit", body, "workspace.created", "Older events")
	next := regexp.MustCompile(`audit\?cursor=([^"]+)"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no cursor link")
	}
	code, body := s.as(t, "ada").get("/w/" + s.ws.ID + "/audit?cursor=" + next[1])
	if code != 200 || strings.Contains(body, "workspace.created") {
		t.Errorf("the second page: %d", code)
	}
	if code, _ := s.as(t, "bob").get("/w/" + s.ws.ID + "/audit"); code != http.StatusForbidden {
		t.Errorf("a viewer's audit log: %d", code)
	}
	if code, _ := s.as(t, "eve").get("/w/" + s.ws.ID); code != http.StatusNotFound {
		t.Errorf("an outsider's view: %d", code)
	}
}

func TestPlatformPages(t *testing.T) {
	s := newSite(t)
	if _, err := s.m.SetPlatform(ctx, tenancy.System(), "eve", true); err != nil {
		t.Fatal(err)
	}
	eve := s.as(t, "eve")
	_, body := eve.get("/")
	contains(t, "a platform user's header", body, "Every workspace", "Users")
	_, body = eve.get("/platform/workspaces?name_contains=acm")
	contains(t, "every workspace", body, "Acme", "1 in use")
	_, body = eve.get("/platform/workspaces?name_contains=zzz")
	lacks(t, "a filter that matches nothing", body, ">Acme<")
	_, body = eve.post("/platform/users/bob/suspend")
	contains(t, "suspend", body, "Suspended bob@example.com", "suspended")
	if code, _ := s.as(t, "bob").get("/"); code != http.StatusUnauthorized && code != http.StatusOK {
		t.Errorf("a suspended user: %d", code)
	}
	_, body = eve.post("/platform/users/bob/reactivate")
	contains(t, "reactivate", body, "Reactivated bob@example.com")
	// Nobody else sees or uses them.
	_, body = s.as(t, "ada").get("/")
	lacks(t, "a member's header", body, "Every workspace")
	if code, _ := s.as(t, "ada").get("/platform/workspaces"); code != http.StatusForbidden {
		t.Errorf("a member's platform page: %d", code)
	}
	_, body = s.as(t, "ada").post("/platform/users/bob/suspend")
	contains(t, "a member's suspend", body, `class="error"`)
	if u, _ := s.m.GetUser(ctx, tenancy.System(), "bob"); u.Suspended() {
		t.Error("a member suspended bob")
	}
}

func TestInvitationMailAndRestore(t *testing.T) {
	m, err := tenancy.New(memory.New(), tenancy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sys := tenancy.System()
	for _, id := range []string{"ada", "bob"} {
		if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: id, Email: id + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	ws, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Mailed"})
	var mailed []string
	fail := false
	c, err := console.New(m, console.Options{
		Principal: func(r *http.Request) (tenancy.Principal, error) {
			return tenancy.User(r.Header.Get("X-Test-User")), nil
		},
		SendInvitation: func(_ context.Context, inv tenancy.SentInvitation, link string) error {
			if fail {
				return io.ErrUnexpectedEOF
			}
			mailed = append(mailed, inv.Invitation.Email+" "+link)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("", c))
	defer srv.Close()
	s := &site{m: m, srv: srv, ws: ws}
	ada := s.as(t, "ada")
	ada.s.srv = srv
	post := func(path string, kv ...string) string {
		form := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			form.Set(kv[i], kv[i+1])
		}
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Test-User", "ada")
		resp, err := ada.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := post("/w/"+ws.ID+"/invitations", "email", "bob@example.com", "role", "viewer")
	contains(t, "mailed invitation", body, "We mailed them the link.", "tnci_")
	if len(mailed) != 1 || !strings.HasPrefix(mailed[0], "bob@example.com tnci_") {
		t.Errorf("mailed %v", mailed)
	}
	fail = true
	body = post("/w/"+ws.ID+"/invitations", "email", "carl@example.com", "role", "viewer")
	contains(t, "a failed mail", body, "The mail could not be sent", "tnci_")
	// A deleted workspace is listed for its owner to restore.
	body = post("/w/"+ws.ID+"/delete", "confirm", "Mailed")
	contains(t, "after delete", body, "Deleted workspaces", "Restore Mailed")
	body = post("/w/" + ws.ID + "/restore")
	contains(t, "after restore", body, "Workspace Mailed restored.")
	if w, _ := m.GetWorkspace(ctx, sys, ws.ID); w.Status != "active" {
		t.Errorf("after restore: %s", w.Status)
	}
}

// A platform user opens a deleted workspace from the platform list and restores it.
func TestPlatformRestoresADeletedWorkspace(t *testing.T) {
	s := newSite(t)
	if _, err := s.m.SetPlatform(ctx, tenancy.System(), "eve", true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.m.DeleteWorkspace(ctx, tenancy.User("ada"), s.ws.ID); err != nil {
		t.Fatal(err)
	}
	eve := s.as(t, "eve")
	_, body := eve.get("/platform/workspaces?status=deleted")
	contains(t, "deleted list", body, "Acme", "deleted")
	_, body = eve.get("/w/" + s.ws.ID)
	contains(t, "a deleted workspace's page", body, "Restore Acme")
	_, body = eve.post("/w/" + s.ws.ID + "/restore")
	contains(t, "restore", body, "Workspace Acme restored.")
	// A member who is not the owner is not shown the page of a deleted workspace.
	if _, err := s.m.DeleteWorkspace(ctx, tenancy.User("ada"), s.ws.ID); err != nil {
		t.Fatal(err)
	}
	if code, body := s.as(t, "bob").get("/w/" + s.ws.ID); code == http.StatusOK || strings.Contains(body, "Restore Acme") {
		t.Errorf("a viewer is shown a deleted workspace: %d", code)
	}
}
