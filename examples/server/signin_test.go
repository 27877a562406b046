package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
)

// The server's console: sign in by pasting a personal token, kept in an HttpOnly,
// SameSite=Strict cookie; a revoked token ends the session at the next request;
// sign out clears it; a workspace token does not sign in.
func TestConsoleSignIn(t *testing.T) {
	s := startServer(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		resp, err := c.PostForm(s.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("/")
	if resp.Request.URL.Path != "/signin" || !strings.Contains(body, "Your user auth token") {
		t.Fatalf("signed out, / led to %s", resp.Request.URL)
	}
	resp, body = post("/signin", url.Values{"token": {"tncp_wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
		t.Errorf("a wrong token: %d", resp.StatusCode)
	}
	wsTok, err := s.m.CreateToken(ctx, tenancy.User(adminID(t, s)), tenancy.NewToken{Name: "ws", WorkspaceID: s.wsID, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body = post("/signin", url.Values{"token": {wsTok.Secret}}); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "personal token") {
		t.Errorf("a workspace token signed in: %d", resp.StatusCode)
	}
	resp, body = post("/signin", url.Values{"token": {s.admin}})
	if resp.Request.URL.Path != "/" || !strings.Contains(body, "Your workspaces") {
		t.Fatalf("after signing in: %s %d", resp.Request.URL, resp.StatusCode)
	}
	u, _ := url.Parse(s.url)
	var session *http.Cookie
	for _, ck := range jar.Cookies(u) {
		if ck.Name == sessionCookie {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	// The cookie's attributes are on the Set-Cookie header (the jar drops them).
	req, _ := http.NewRequest("POST", s.url+"/signin", strings.NewReader(url.Values{"token": {s.admin}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	raw, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw.Body.Close()
	if sc := raw.Header.Get("Set-Cookie"); !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Strict") {
		t.Errorf("Set-Cookie %q", sc)
	}
	// Revoke the token: the next page asks to sign in again.
	p, err := s.m.Authenticate(ctx, s.admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.m.RevokeToken(ctx, tenancy.System(), p.TokenID()); err != nil {
		t.Fatal(err)
	}
	if resp, _ = get("/"); resp.Request.URL.Path != "/signin" {
		t.Errorf("a revoked token's session still shows %s", resp.Request.URL)
	}
	if resp, _ = post("/signout", url.Values{}); resp.Request.URL.Path != "/signin" {
		t.Errorf("sign out led to %s", resp.Request.URL)
	}
	for _, ck := range jar.Cookies(u) {
		if ck.Name == sessionCookie {
			t.Error("the session cookie survived sign-out")
		}
	}
}

func adminID(t *testing.T, s *testServer) string {
	t.Helper()
	p, err := s.m.Authenticate(ctx, s.admin)
	if err != nil {
		t.Fatal(err)
	}
	return p.UserID()
}
