package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/console"
)

// envRequireBrowser, set to 1 (CI), turns a missing Chromium into a failure.
const envRequireBrowser = "TENANCY_REQUIRE_BROWSER"

// chromium finds Debian's Chromium, or skips (fails under TENANCY_REQUIRE_BROWSER=1).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "browser tests skipped: no Chromium (install it with `apt-get install chromium`)"
	if os.Getenv(envRequireBrowser) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startBrowser starts headless Chromium for the test, with the flags a closed
// network needs (no background connections), and stops it when the test ends.
func startBrowser(t *testing.T, bin string, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true)}, flags...)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	browser, cancelB := chromedp.NewContext(alloc)
	t.Cleanup(cancelB)
	if err := chromedp.Do(browser); err != nil {
		t.Fatal(err)
	}
	return browser
}

// browserSite is the console behind a test login: /login?as=ID sets the cookie the
// Principal func reads, as a host's own login would.
func browserSite(t *testing.T) (*site, string) {
	t.Helper()
	s := newSite(t)
	c, err := console.New(s.m, console.Options{Prefix: "/console", SignInURL: "/login", Principal: func(r *http.Request) (tenancy.Principal, error) {
		ck, err := r.Cookie("test_user")
		if err != nil {
			return tenancy.Principal{}, tenancy.ErrUnauthenticated
		}
		return tenancy.User(ck.Value), nil
	}, AcceptURL: func(secret string) string { return "https://app.example.com/invite#token=" + secret }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", c))
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "test_user", Value: r.URL.Query().Get("as"), Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/console/", http.StatusSeeOther)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// person is one browser context (its own cookies), failing the test on any
// JavaScript exception, console error or logged error (a Content-Security-Policy
// violation is one). Confirmation dialogs are accepted.
type person struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newPerson(t *testing.T, browser context.Context) *person {
	base, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// Subscribe before the first navigation: the subscriptions buffer events.
	exceptions := chromedp.Events(base, runtime.ExceptionThrown)
	consoleCalls := chromedp.Events(base, runtime.ConsoleAPICalled)
	entries := chromedp.Events(base, log.EntryAdded)
	dialogs := chromedp.Events(base, page.JavascriptDialogOpening)
	if err := chromedp.Do(base); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(base, log.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancelT := context.WithTimeout(base, 60*time.Second)
	t.Cleanup(cancelT)
	p := &person{t: t, ctx: ctx}
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			p.note("exception: " + ev.ExceptionDetails.Text)
		}
	}()
	go func() {
		for ev, err := range consoleCalls {
			if err != nil {
				return
			}
			if ev.Type == "error" {
				p.note("console error")
			}
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry.Level == log.EntryLevelError {
				p.note("log: " + ev.Entry.Text + " " + ev.Entry.URL)
			}
		}
	}()
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(base, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errs {
			t.Errorf("in the browser: %s", e)
		}
	})
	return p
}

func (p *person) note(s string) {
	// The favicon a browser asks for is not the console's to serve.
	if strings.Contains(s, "favicon") {
		return
	}
	p.mu.Lock()
	p.errs = append(p.errs, s)
	p.mu.Unlock()
}

func (p *person) run(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

func (p *person) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

func (p *person) value(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

func (p *person) html() string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// TestConsoleInABrowser walks the seeds' flows in headless Chromium: create from
// the switcher, a token shown once and gone after a reload, revoke to Inactive,
// invite and change a role in a second context, a viewer without write controls,
// the owner who cannot leave, delete with the workspace's name.
func TestConsoleInABrowser(t *testing.T) {
	bin := chromium(t)
	s, base := browserSite(t)
	browser := startBrowser(t, bin)

	ada := newPerson(t, browser)
	ada.run(chromedp.Navigate(base+"/login?as=ada"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := ada.text("h1"); h != "Your workspaces" {
		t.Fatalf("after login: %q", h)
	}
	// Create from the switcher: "+" opens the form.
	ada.run(chromedp.Click(chromedp.CSS("details.create summary")),
		chromedp.SendKeys(chromedp.ID("ws-name"), "Browser Made"),
		chromedp.Submit(chromedp.ID("ws-name")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if n := ada.text("p.notice"); !strings.Contains(n, "Browser Made created (browser-made)") {
		t.Errorf("after create: %q", n)
	}
	// The owner cannot leave: the button is disabled with the reason.
	if html := ada.html(); !strings.Contains(html, "The owner cannot leave") {
		t.Error("the owner's leave control does not say why it is disabled")
	}
	// A token, shown once.
	ada.run(chromedp.Navigate(base+"/console/w/"+s.ws.ID+"/tokens"),
		chromedp.SendKeys(chromedp.ID("tok-name"), "ci"),
		chromedp.Submit(chromedp.ID("tok-name")),
		chromedp.WaitVisible(chromedp.CSS(".secret input.copy")))
	secret := ada.value(".secret input.copy")
	if !strings.HasPrefix(secret, "tncw_") {
		t.Fatalf("the modal shows %q", secret)
	}
	ada.run(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("h1")))
	if html := ada.html(); strings.Contains(html, secret) {
		t.Error("the secret is on the page after a reload")
	}
	ada.run(chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("h1")))
	if html := ada.html(); strings.Contains(html, secret) {
		t.Error("the secret is on the page after going back")
	}
	// Revoke moves it to Inactive.
	ada.run(chromedp.Navigate(base+"/console/w/"+s.ws.ID+"/tokens"), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Click(chromedp.CSS(`form[action$="/revoke"] button`)),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if html := ada.html(); !strings.Contains(html, "revoked") || !strings.Contains(html, "No active token") {
		t.Error("after revoke the token is not listed as inactive")
	}
	if _, err := s.m.Authenticate(ctx, secret); err == nil {
		t.Error("the revoked token still authenticates")
	}
	// An admin in another context invites, and changes bob's role.
	cy := newPerson(t, browser)
	cy.run(chromedp.Navigate(base+"/login?as=cy"), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Navigate(base+"/console/w/"+s.ws.ID+"/members"), chromedp.WaitVisible(chromedp.ID("inv-email")),
		chromedp.SendKeys(chromedp.ID("inv-email"), "dan@example.com"),
		chromedp.Submit(chromedp.ID("inv-email")),
		chromedp.WaitVisible(chromedp.CSS(".secret input.copy")))
	link := cy.value(".secret input.copy")
	if !strings.Contains(link, "invite#token=tnci_") {
		t.Errorf("the invitation link: %q", link)
	}
	// The invitee opens the link in a second context: the page reads the secret
	// from the fragment, shows the invitation, and they accept it.
	if _, err := s.m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "dan", Email: "dan@example.com"}); err != nil {
		t.Fatal(err)
	}
	dan := newPerson(t, browser)
	fragment := link[strings.Index(link, "#"):]
	dan.run(chromedp.Navigate(base+"/login?as=dan"), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Navigate(base+"/console/invite"+fragment),
		chromedp.WaitVisible(chromedp.CSS(`form[action$="/invite/accept"] button`)))
	if html := dan.html(); !strings.Contains(html, "as <strong>viewer</strong>") || strings.Contains(html, "tnci_") {
		t.Errorf("the invitation page: shows the role %v, leaks the secret in the page %v", strings.Contains(html, "viewer"), strings.Contains(html, "value=\"tnci_"))
	}
	dan.run(chromedp.Click(chromedp.CSS(`form[action$="/invite/accept"] button`)), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if mb, err := s.m.GetMember(ctx, tenancy.System(), s.ws.ID, "dan"); err != nil || mb.Role != "viewer" {
		t.Errorf("dan after accepting: %v %v", mb.Role, err)
	}
	if html := cy.html(); strings.Contains(html, `value="platform"`) {
		t.Error("an admin is offered platform")
	}
	cy.run(chromedp.SetValue(chromedp.ID("role-bob"), "editor"),
		chromedp.Submit(chromedp.ID("role-bob")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if mb, err := s.m.GetMember(ctx, tenancy.System(), s.ws.ID, "bob"); err != nil || mb.Role != "editor" {
		t.Errorf("bob after the role change: %v %v", mb.Role, err)
	}
	// A viewer sees no write control.
	if _, err := s.m.ChangeRole(ctx, tenancy.System(), s.ws.ID, "bob", "viewer"); err != nil {
		t.Fatal(err)
	}
	bob := newPerson(t, browser)
	bob.run(chromedp.Navigate(base+"/login?as=bob"), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Navigate(base+"/console/w/"+s.ws.ID), chromedp.WaitVisible(chromedp.CSS("h1")))
	if html := bob.html(); strings.Contains(html, "Delete Acme") || strings.Contains(html, ">Save<") {
		t.Error("a viewer is shown write controls")
	}
	// Delete with the workspace's name.
	ada.run(chromedp.Navigate(base+"/console/w/"+s.ws.ID), chromedp.WaitVisible(chromedp.ID("confirm-delete")),
		chromedp.SendKeys(chromedp.ID("confirm-delete"), "Acme"),
		chromedp.Submit(chromedp.ID("confirm-delete")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if w, _ := s.m.GetWorkspace(ctx, tenancy.System(), s.ws.ID); w.Status != "deleted" {
		t.Errorf("after delete: %s", w.Status)
	}
}

// TestConsoleKeyboardAndForgery: a person who uses only the keyboard opens the
// create form and makes a workspace; a page on another origin that posts a form to
// the console is refused, and nothing changes.
func TestConsoleKeyboardAndForgery(t *testing.T) {
	bin := chromium(t)
	s, base := browserSite(t)
	browser := startBrowser(t, bin)
	ada := newPerson(t, browser)
	ada.run(chromedp.Navigate(base+"/login?as=ada"), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Focus(chromedp.CSS("details.create summary")),
		chromedp.KeyEvent("\r"), // Enter opens the form
		chromedp.WaitVisible(chromedp.ID("ws-name")),
		chromedp.Focus(chromedp.ID("ws-name")),
		chromedp.KeyEvent("Typed Only\r"), // type the name, Enter submits
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if n := ada.text("p.notice"); !strings.Contains(n, "Typed Only created") {
		t.Errorf("the keyboard-only create: %q", n)
	}

	// A page on another origin with a form aimed at the console.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><form method="post" action="` + base + `/console/w/` + s.ws.ID + `/settings">
<input name="name" value="Pwned"><button id="go" type="submit">go</button></form>`))
	}))
	defer evil.Close()
	forger := newPerson(t, browser)
	forger.run(chromedp.Navigate(base+"/login?as=ada"), chromedp.WaitVisible(chromedp.CSS("h1")),
		chromedp.Navigate(evil.URL), chromedp.WaitVisible(chromedp.ID("go")),
		chromedp.Click(chromedp.ID("go")))
	// Wait until the browser shows the console's answer: the refusal, 403.
	answer := ""
	for i := 0; i < 3000 && !strings.Contains(answer, "cross-origin"); i++ {
		if loc, err := chromedp.Run(forger.ctx, chromedp.Location()); err == nil && strings.HasPrefix(loc, base) {
			answer, _ = chromedp.Run(forger.ctx, chromedp.Text(chromedp.CSS("body")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(answer, "cross-origin") {
		t.Errorf("the forged form's answer: %q, want the cross-origin refusal", answer)
	}
	if w, _ := s.m.GetWorkspace(ctx, tenancy.System(), s.ws.ID); w.Name != "Acme" {
		t.Errorf("a cross-site form renamed the workspace to %q", w.Name)
	}
	forger.mu.Lock()
	forger.errs = nil // the refused request is logged by the browser as a 403: expected
	forger.mu.Unlock()
}
