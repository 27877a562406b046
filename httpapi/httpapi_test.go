package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	legacyrouter "github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/httpapi"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/workspace"
)

var ctx = context.Background()

// loadDoc loads and validates the API's OpenAPI document with kin-openapi.
func loadDoc(t *testing.T, server string) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("the OpenAPI document does not load: %v", err)
	}
	// Examples are validated too: each must be an instance of its schema.
	if err := doc.Validate(ctx, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if server != "" {
		doc.Servers = openapi3.Servers{{URL: server}}
	}
	return doc
}

func TestOpenAPIDocumentIsValid(t *testing.T) { loadDoc(t, "") }

// apiEnv is the API mounted at /api/v1 over a memory store, with a platform admin
// (its token in admin) owning workspace ws, and a checker that validates every
// request and response against the OpenAPI document.
type apiEnv struct {
	m      *tenancy.Manager
	srv    *httptest.Server
	router routers.Router
	admin  string
	ws     string
	logs   *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newAPIEnv(t *testing.T) *apiEnv { t.Helper(); return newAPIEnvWith(t, nil) }

// newAPIEnvWith is newAPIEnv with the API's options adjusted by set.
func newAPIEnvWith(t *testing.T, set func(*httpapi.Options)) *apiEnv {
	t.Helper()
	return newAPIEnvManager(t, tenancy.Options{}, set)
}

// newAPIEnvManager is newAPIEnvWith over a Manager made with mopts.
func newAPIEnvManager(t *testing.T, mopts tenancy.Options, set func(*httpapi.Options)) *apiEnv {
	t.Helper()
	m, err := tenancy.New(memory.New(), mopts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	e := &apiEnv{m: m, logs: &syncBuf{}}
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	mux := http.NewServeMux()
	opts := httpapi.Options{Logger: log,
		AcceptURL: func(s string) string { return "https://app.example.com/invite#token=" + s }}
	if set != nil {
		set(&opts)
	}
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(m, opts)))
	e.srv = httptest.NewServer(httpapi.LogRequests(log)(mux))
	t.Cleanup(e.srv.Close)
	e.router, err = legacyrouter.NewRouter(loadDoc(t, e.srv.URL+"/api/v1"))
	if err != nil {
		t.Fatal(err)
	}
	sys := tenancy.System()
	if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "root", Email: "root@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetPlatform(ctx, sys, "root", true); err != nil {
		t.Fatal(err)
	}
	w, err := m.CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: "Main", OwnerID: "root"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.CreateToken(ctx, tenancy.User("root"), tenancy.NewToken{Name: "admin", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.admin, e.ws = tok.Secret, w.ID
	return e
}

// do sends a request and checks it and its answer against the OpenAPI document.
// body is JSON-encoded unless it is a string (sent as is); strict=false skips the
// request check, for requests that break the document on purpose.
func (e *apiEnv) do(t *testing.T, method, path, token string, body any, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	return e.send(t, true, method, path, token, body, headers...)
}

func (e *apiEnv) raw(t *testing.T, method, path, token string, body any, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	return e.send(t, false, method, path, token, body, headers...)
}

func (e *apiEnv) send(t *testing.T, strict bool, method, path, token string, body any, headers ...string) (*http.Response, map[string]any) {
	t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	default:
		data, _ = json.Marshal(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+"/api/v1"+path, bytes.NewReader(data))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	route, params, routeErr := e.router.FindRoute(req)
	var input *openapi3filter.RequestValidationInput
	if routeErr == nil {
		check := req.Clone(ctx)
		check.Body = io.NopCloser(bytes.NewReader(data))
		input = &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if strict {
			if err := openapi3filter.ValidateRequest(ctx, input); err != nil {
				t.Errorf("%s %s: the request does not match the OpenAPI document: %v", method, path, err)
			}
		}
	} else if strict {
		t.Errorf("%s %s: no route in the OpenAPI document: %v", method, path, routeErr)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if input != nil {
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: input, Status: resp.StatusCode, Header: resp.Header,
			Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(raw)
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s %s: the %d answer does not match the OpenAPI document: %v", method, path, resp.StatusCode, err)
		}
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s %s: no nosniff", method, path)
	}
	return resp, m
}

func wantStatus(t *testing.T, what string, resp *http.Response, body map[string]any, status int, msg string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s: status %d, want %d (%v)", what, resp.StatusCode, status, body)
		return
	}
	if status >= 400 && (body["error"] != http.StatusText(status) || !strings.Contains(body["message"].(string), msg)) {
		t.Errorf("%s: body %v, want error %q and a message with %q", what, body, http.StatusText(status), msg)
	}
}

func TestBearerAuthentication(t *testing.T) {
	e := newAPIEnv(t)
	resp, body := e.do(t, "GET", "/user/workspaces", "", nil)
	wantStatus(t, "no token", resp, body, 401, "Authorization: Bearer")
	if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("401 without a Bearer challenge: %q", resp.Header.Get("WWW-Authenticate"))
	}
	// The scheme is case-insensitive.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/user/workspaces", nil)
	req.Header.Set("Authorization", "bearer "+e.admin)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 200 {
		t.Errorf("lowercase scheme: %v %v", r.StatusCode, err)
	}
	// Exactly one Authorization header.
	req, _ = http.NewRequest("GET", e.srv.URL+"/api/v1/user/workspaces", nil)
	req.Header.Add("Authorization", "Bearer "+e.admin)
	req.Header.Add("Authorization", "Bearer "+e.admin)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != 401 {
		t.Errorf("two Authorization headers: %v %v", r.StatusCode, err)
	}
	resp, body = e.do(t, "GET", "/user/workspaces", "tncp_"+strings.Repeat("x", 37), nil)
	wantStatus(t, "a bad token", resp, body, 401, "invalid token")
	if !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("challenge for a bad token: %q", resp.Header.Get("WWW-Authenticate"))
	}
	// The request log names the route and the kind of principal, never the secret.
	if logs := e.logs.String(); strings.Contains(logs, e.admin) || !strings.Contains(logs, "route=\"GET /user/workspaces\"") ||
		!strings.Contains(logs, "principal=personal_token") {
		t.Errorf("request log: %s", logs)
	}
}

func TestStrictRequests(t *testing.T) {
	e := newAPIEnv(t)
	path := "/workspaces/" + e.ws
	resp, body := e.raw(t, "DELETE", "/user/workspaces", e.admin, nil)
	wantStatus(t, "wrong method", resp, body, 405, "GET")
	if !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Errorf("405 without Allow: %q", resp.Header.Get("Allow"))
	}
	resp, body = e.raw(t, "GET", "/nowhere/"+strings.Repeat("z", 5000), e.admin, nil)
	wantStatus(t, "unknown route", resp, body, 404, "no such route")
	if strings.Contains(body["message"].(string), "zzz") {
		t.Errorf("the 404 echoes the path: %v", body)
	}
	padded := `{"name": "x"}` + strings.Repeat(" ", 2<<20)
	resp, body = e.raw(t, "PUT", path, e.admin, padded)
	wantStatus(t, "2 MiB of padding", resp, body, 413, "at most")
	resp, body = e.raw(t, "PUT", path, e.admin, `{"name":"x"}}`)
	wantStatus(t, "trailing garbage", resp, body, 400, "one JSON object")
	resp, body = e.raw(t, "PUT", path, e.admin, `[]`)
	wantStatus(t, "an array", resp, body, 400, "a JSON object")
	if strings.Contains(body["message"].(string), "Go") || strings.Contains(body["message"].(string), "struct") {
		t.Errorf("a Go type name in %v", body)
	}
	resp, body = e.raw(t, "PUT", path, e.admin, `{"name":"x"}`, "Content-Type", "text/plain")
	wantStatus(t, "text/plain", resp, body, 415, "JSON")
	resp, body = e.raw(t, "PUT", path, e.admin, `{"name": 5}`)
	wantStatus(t, "wrong type", resp, body, 400, `field "name" has the wrong type`)
	resp, body = e.raw(t, "PUT", path, e.admin, `{"`+strings.Repeat("k", 5000)+`": 1}`)
	wantStatus(t, "unknown field", resp, body, 400, "cannot be set")
	if len(body["message"].(string)) > 200 {
		t.Errorf("a %d-byte message echoes the field", len(body["message"].(string)))
	}
	resp, body = e.raw(t, "GET", "/workspaces/"+strings.Repeat("w", 100000), e.admin, nil)
	wantStatus(t, "a huge ID", resp, body, 404, "not found")
	if len(body["message"].(string)) > 200 {
		t.Errorf("a %d-byte message", len(body["message"].(string)))
	}
}

func TestWorkspaceUpdateIsOneTransaction(t *testing.T) {
	e := newAPIEnv(t)
	path := "/workspaces/" + e.ws
	resp, body := e.do(t, "PUT", path, e.admin, map[string]any{"status": "inactive"})
	wantStatus(t, "deactivate", resp, body, 200, "")
	// Renaming an inactive workspace while reactivating it works, in one step.
	resp, body = e.do(t, "PUT", path, e.admin, map[string]any{"status": "active", "name": "Renamed", "metadata": map[string]string{"plan": "pro"}})
	wantStatus(t, "rename while reactivating", resp, body, 200, "")
	if body["name"] != "Renamed" || body["status"] != "active" {
		t.Errorf("after the update: %v", body)
	}
	if _, err := e.m.CreateWorkspace(ctx, tenancy.User("root"), tenancy.NewWorkspace{Name: "Other", Slug: "taken"}); err != nil {
		t.Fatal(err)
	}
	resp, body = e.do(t, "PUT", path, e.admin, map[string]any{"status": "inactive", "slug": "taken"})
	wantStatus(t, "a partial update", resp, body, 409, "")
	w, _ := e.m.GetWorkspace(ctx, tenancy.System(), e.ws)
	if w.Status != "active" || w.Slug == "taken" {
		t.Errorf("a refused update changed the workspace: %+v", w)
	}
	resp, body = e.do(t, "GET", "/workspaces/stats", e.admin, nil)
	if resp.StatusCode != 200 || body["total_workspaces"].(float64) != body["active_workspaces"].(float64)+body["inactive_workspaces"].(float64) {
		t.Errorf("stats: %v (total = active + inactive)", body)
	}
}

func TestInvitationsAndPersonalTokens(t *testing.T) {
	e := newAPIEnv(t)
	resp, inv := e.do(t, "POST", "/admin/workspace/invites", e.admin, map[string]string{"email": "new@example.com", "workspace_id": e.ws, "role": "editor"})
	wantStatus(t, "invite", resp, inv, 201, "")
	if resp.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(inv["accept_url"].(string), "https://app.example.com/invite#token=tnci_") {
		t.Errorf("invite: %v %v", resp.Header, inv)
	}
	secret := inv["token"].(string)
	resp, body := e.do(t, "POST", "/invites/preview", "", map[string]string{"token": secret})
	if resp.StatusCode != 200 || body["email"] != "new@example.com" || body["state"] != "pending" {
		t.Errorf("preview: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/admin/workspace/invites/"+inv["invitation_id"].(string)+"/resend", e.admin, nil)
	wantStatus(t, "resend", resp, body, 200, "")
	resp, body = e.do(t, "POST", "/invites/accept", "", map[string]string{"token": secret})
	wantStatus(t, "the old link after a resend", resp, body, 404, "")
	resp, body = e.do(t, "POST", "/admin/workspace/invites/"+inv["invitation_id"].(string)+"/resend", e.admin, nil)
	wantStatus(t, "resend again", resp, body, 200, "")
	newSecret := body["token"].(string)
	resp, body = e.do(t, "POST", "/invites/accept", "", map[string]string{"token": newSecret, "name": "New"})
	wantStatus(t, "sign up", resp, body, 200, "")
	first := body["token"].(string)
	// The new account's token lists, rotates and revokes its own tokens.
	resp, body = e.do(t, "POST", "/user/tokens", first, map[string]string{"name": "laptop", "expires_in": "7d"})
	wantStatus(t, "create", resp, body, 201, "")
	laptop := body["token_id"].(string)
	resp, body = e.do(t, "GET", "/user/tokens", first, nil)
	if resp.StatusCode != 200 || len(body["data"].([]any)) != 2 {
		t.Errorf("list my tokens: %d %v", resp.StatusCode, body)
	}
	for _, tk := range body["data"].([]any) {
		if _, leaked := tk.(map[string]any)["token"]; leaked {
			t.Errorf("a listed token carries its secret: %v", tk)
		}
	}
	resp, body = e.do(t, "POST", "/user/tokens/"+laptop+"/rotate", first, nil)
	wantStatus(t, "rotate", resp, body, 200, "")
	resp, body = e.do(t, "DELETE", "/user/tokens/"+laptop, first, nil)
	wantStatus(t, "revoke", resp, body, 200, "")
	resp, body = e.do(t, "GET", "/user", first, nil)
	if resp.StatusCode != 200 || body["email"] != "new@example.com" {
		t.Errorf("me: %d %v", resp.StatusCode, body)
	}
	// Platform users manage users.
	resp, body = e.do(t, "POST", "/platform/users", e.admin, map[string]string{"email": "ops@example.com", "name": "Ops"})
	wantStatus(t, "register", resp, body, 201, "")
	resp, body = e.do(t, "PUT", "/platform/users/"+body["user_id"].(string), e.admin, map[string]any{"platform": true})
	if resp.StatusCode != 200 || body["platform"] != true {
		t.Errorf("grant platform: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/platform/users", first, nil)
	wantStatus(t, "a non-platform user lists users", resp, body, 403, "")
	resp, body = e.do(t, "GET", "/admin/events?limit=5", e.admin, nil)
	if resp.StatusCode != 200 || len(body["data"].([]any)) != 5 {
		t.Errorf("feed: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/openapi.json", "", nil)
	if resp.StatusCode != 200 || body["openapi"] != "3.1.0" {
		t.Errorf("openapi.json: %d", resp.StatusCode)
	}
}

// Require guards a host route by path value, header or slug.
func TestRequireFindsTheWorkspace(t *testing.T) {
	e := newAPIEnv(t)
	w, _ := e.m.GetWorkspace(ctx, tenancy.System(), e.ws)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpapi.WorkspaceIDFrom(r.Context())
		_, _ = io.WriteString(w, id)
	})
	for name, c := range map[string]struct {
		from httpapi.WorkspaceFrom
		path string
		hdr  string
	}{
		"path":   {httpapi.PathWorkspace("ws"), "/x/" + e.ws, ""},
		"header": {httpapi.HeaderWorkspace("X-Workspace-ID"), "/x/none", e.ws},
		"slug":   {httpapi.PathSlug("ws"), "/x/" + w.Slug, ""},
	} {
		mux := http.NewServeMux()
		mux.Handle("GET /x/{ws}", httpapi.Authenticate(e.m)(httpapi.Require(e.m, rbac.ReadContent, c.from)(ok)))
		req := httptest.NewRequest("GET", c.path, nil)
		req.Header.Set("Authorization", "Bearer "+e.admin)
		if c.hdr != "" {
			req.Header.Set("X-Workspace-ID", c.hdr)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != e.ws {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body.String())
		}
	}
	// Without Authenticate in front, Require refuses.
	rec := httptest.NewRecorder()
	httpapi.Require(e.m, rbac.ReadContent, httpapi.PathWorkspace("ws"))(ok).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 401 {
		t.Errorf("no principal: %d", rec.Code)
	}
}

// The life of a user over HTTP: change, suspend (the tokens fail at once),
// reactivate, erase; and the roles: read them, rename one.
func TestUserLifecycleAndRoles(t *testing.T) {
	e := newAPIEnv(t)
	resp, body := e.do(t, "POST", "/platform/users", e.admin, map[string]string{"user_id": "ann", "email": "ann@example.com", "name": "Ann"})
	wantStatus(t, "register", resp, body, 201, "")
	if body["suspended_at"] != nil {
		t.Errorf("a new user is suspended: %v", body)
	}
	if _, err := e.m.AddMember(ctx, tenancy.System(), e.ws, tenancy.NewMember{UserID: "ann", Role: rbac.Editor}); err != nil {
		t.Fatal(err)
	}
	tok, err := e.m.CreateToken(ctx, tenancy.User("ann"), tenancy.NewToken{Name: "laptop", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ann := tok.Secret
	resp, body = e.do(t, "PATCH", "/user", ann, map[string]string{"email": "Ann.New@example.com"})
	wantStatus(t, "change my email without proof", resp, body, 403, "/user/email-change")
	resp, body = e.do(t, "POST", "/user/email-change", ann, map[string]string{"email": "Ann.New@example.com"})
	wantStatus(t, "email change without mail", resp, body, 409, "cannot send mail")
	resp, body = e.do(t, "PATCH", "/platform/users/ann", e.admin, map[string]string{"email": "Ann.New@example.com"})
	if resp.StatusCode != 200 || body["email"] != "ann.new@example.com" || body["name"] != "Ann" {
		t.Errorf("a platform admin sets the email: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "PATCH", "/platform/users/root", ann, map[string]string{"name": "Mallory"})
	wantStatus(t, "change someone else", resp, body, 403, "")
	resp, body = e.do(t, "GET", "/roles", ann, nil)
	if resp.StatusCode != 200 || fmt.Sprint(body["roles"]) != "[viewer editor admin]" || body["highest"] != "admin" {
		t.Errorf("roles: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/platform/users/ann/suspend", ann, nil)
	wantStatus(t, "suspend by a non-platform user", resp, body, 403, "")
	resp, body = e.do(t, "POST", "/platform/users/ann/suspend", e.admin, nil)
	if resp.StatusCode != 200 || body["suspended_at"] == nil {
		t.Errorf("suspend: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/user", ann, nil)
	wantStatus(t, "a suspended user's token", resp, body, 401, "suspended")
	resp, body = e.do(t, "POST", "/platform/users/ann/reactivate", e.admin, nil)
	wantStatus(t, "reactivate", resp, body, 200, "")
	resp, body = e.do(t, "GET", "/user", ann, nil)
	wantStatus(t, "after reactivation", resp, body, 200, "")
	resp, body = e.do(t, "POST", "/platform/roles/editor/rename", ann, map[string]string{"to": "viewer"})
	wantStatus(t, "rename by a non-platform user", resp, body, 403, "")
	resp, body = e.do(t, "POST", "/platform/roles/editor/rename", e.admin, map[string]string{"to": "guest"})
	wantStatus(t, "rename to an undeclared role", resp, body, 400, "viewer, editor or admin")
	resp, body = e.do(t, "POST", "/platform/roles/editor/rename", e.admin, map[string]string{"to": "viewer"})
	if resp.StatusCode != 200 || body["members"] != float64(1) {
		t.Errorf("rename: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "DELETE", "/platform/users/root", ann, nil)
	wantStatus(t, "erase someone else", resp, body, 403, "")
	resp, body = e.do(t, "DELETE", "/user", ann, nil)
	if resp.StatusCode != 200 || body["user_id"] != "ann" || body["memberships"] != float64(1) || body["tokens"] != float64(1) {
		t.Errorf("erase myself: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/user", ann, nil)
	wantStatus(t, "an erased user's token", resp, body, 401, "")
	resp, body = e.do(t, "DELETE", "/platform/users/root", e.admin, nil)
	wantStatus(t, "erase a workspace owner", resp, body, 409, "transfer ownership first")
}

// TestMailedSecrets: with SendMail set, an invitation's link and an email change's
// secret go to the addressee; the email change's answer never holds the secret, and
// a failed send is reported without undoing the invitation.
func TestMailedSecrets(t *testing.T) {
	var mu sync.Mutex
	var outbox []httpapi.Mail
	fail := false
	e := newAPIEnvWith(t, func(o *httpapi.Options) {
		o.ConfirmEmailURL = func(s string) string { return "https://app.example.com/email#token=" + s }
		o.SendMail = func(_ context.Context, m httpapi.Mail) error {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				return errors.New("relay said no")
			}
			outbox = append(outbox, m)
			return nil
		}
	})
	last := func() httpapi.Mail {
		mu.Lock()
		defer mu.Unlock()
		if len(outbox) == 0 {
			t.Fatal("no mail")
		}
		return outbox[len(outbox)-1]
	}
	resp, body := e.do(t, "POST", "/admin/workspace/invites", e.admin, map[string]string{"email": "bo@example.com", "workspace_id": e.ws, "role": "editor"})
	wantStatus(t, "invite", resp, body, 201, "")
	mail := last()
	if mail.Kind != httpapi.KindInvitation || mail.To != "bo@example.com" || mail.Secret != body["token"] || !strings.Contains(mail.URL, mail.Secret) {
		t.Errorf("invitation mail %+v for %v", mail, body)
	}
	if m, _ := body["mail"].(map[string]any); m["sent"] != true {
		t.Errorf("invite answer's mail: %v", body["mail"])
	}
	fail = true
	resp, body = e.do(t, "POST", "/admin/workspace/invites/"+body["invitation_id"].(string)+"/resend", e.admin, nil)
	wantStatus(t, "resend with a failing relay", resp, body, 200, "")
	if m, _ := body["mail"].(map[string]any); m["sent"] != false || !strings.Contains(fmt.Sprint(m["error"]), "relay said no") {
		t.Errorf("a failed send is not reported: %v", body["mail"])
	}
	if strings.Contains(e.logs.String(), body["token"].(string)) || !strings.Contains(e.logs.String(), "mail not sent") {
		t.Errorf("log after a failed send: %s", e.logs.String())
	}
	fail = false

	resp, body = e.do(t, "POST", "/user/email-change", e.admin, map[string]string{"email": "Root.New@example.com"})
	wantStatus(t, "request an email change", resp, body, 202, "")
	mail = last()
	if mail.Kind != httpapi.KindEmailChange || mail.To != "root.new@example.com" || mail.UserID != "root" || !strings.Contains(mail.URL, mail.Secret) {
		t.Errorf("email-change mail %+v", mail)
	}
	raw, _ := json.Marshal(body)
	if strings.Contains(string(raw), mail.Secret) {
		t.Errorf("the answer holds the secret: %s", raw)
	}
	_, body = e.do(t, "GET", "/user", e.admin, nil)
	if body["email"] != "root@example.com" {
		t.Errorf("changed before the proof: %v", body)
	}
	resp, body = e.do(t, "POST", "/user/email-change/confirm", e.admin, map[string]string{"token": mail.Secret})
	if resp.StatusCode != 200 || body["email"] != "root.new@example.com" {
		t.Errorf("confirm: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/user/email-change/confirm", e.admin, map[string]string{"token": mail.Secret})
	wantStatus(t, "confirm twice", resp, body, 404, "no pending email change")
	fail = true
	resp, body = e.do(t, "POST", "/user/email-change", e.admin, map[string]string{"email": "third@example.com"})
	wantStatus(t, "email change, relay down", resp, body, 202, "")
	if m, _ := body["mail"].(map[string]any); m["sent"] != false {
		t.Errorf("a failed send is not reported: %v", body)
	}
}

// Airbyte's sync is a POST without a body: the Manager's sync source lists the
// workspaces; without a source the answer says what to configure.
func TestBodylessSync(t *testing.T) {
	e := newAPIEnv(t)
	resp, body := e.do(t, "POST", "/workspaces/sync", e.admin, nil)
	wantStatus(t, "bodyless sync, no source", resp, body, 400, "sync source")

	calls := 0
	e = newAPIEnvManager(t, tenancy.Options{SyncSource: func(context.Context) ([]workspace.SyncItem, error) {
		calls++
		return []workspace.SyncItem{{ExternalID: "crm-1", Name: "Acme", OwnerID: "root"}, {ExternalID: "crm-2", Name: "Globex", OwnerID: "root"}}, nil
	}}, nil)
	resp, body = e.do(t, "POST", "/workspaces/sync", e.admin, nil)
	wantStatus(t, "bodyless sync", resp, body, 200, "")
	if body["total_found"] != float64(2) || body["created_locally"] != float64(2) || body["already_existed"] != float64(0) {
		t.Errorf("first sync: %v", body)
	}
	resp, body = e.do(t, "POST", "/workspaces/sync", e.admin, nil)
	if resp.StatusCode != 200 || body["created_locally"] != float64(0) || body["already_existed"] != float64(2) {
		t.Errorf("second sync: %d %v", resp.StatusCode, body)
	}
	// The body form still works beside the source.
	resp, body = e.do(t, "POST", "/workspaces/sync", e.admin, map[string]any{"workspaces": []map[string]string{{"external_id": "crm-3", "name": "Initech"}}})
	if resp.StatusCode != 200 || body["created_locally"] != float64(1) {
		t.Errorf("sync with a body: %d %v", resp.StatusCode, body)
	}
	if calls != 2 {
		t.Errorf("the source was called %d times, want 2", calls)
	}
}

// TestDocumentMatchesTheRoutes: the OpenAPI document's operations are exactly the
// routes the API serves, both ways, so nothing is served undocumented and nothing
// documented is missing.
func TestDocumentMatchesTheRoutes(t *testing.T) {
	doc := loadDoc(t, "")
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range httpapi.Routes() {
		if served[r] {
			t.Errorf("route %s is in the table twice", r)
		}
		served[r] = true
		if !documented[r] {
			t.Errorf("served but not in the document: %s", r)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("in the document but not served: %s", op)
		}
	}
	if len(served) < 60 {
		t.Errorf("only %d routes: the table is not being read", len(served))
	}
}

// TestOperationsReadWellInGenerators: camelCase verb operation IDs, each unique; a
// default error answer on every operation (so generators make one error type); only the
// statuses an operation can give (413 and 415 only with a body); an example on
// every parameter and request body (loadDoc checks each against its schema); a
// description on every operation.
func TestOperationsReadWellInGenerators(t *testing.T) {
	doc := loadDoc(t, "")
	camel := regexp.MustCompile(`^(list|get|create|update|delete|restore|transfer|sync|purge|read|add|change|remove|leave|invite|revoke|resend|preview|accept|rotate|request|confirm|register|set|suspend|reactivate|rename|replay|backup)[A-Z][A-Za-z]*$`)
	ids := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if prev, dup := ids[op.OperationID]; dup {
				t.Errorf("%s and %s share operationId %q", where, prev, op.OperationID)
			}
			ids[op.OperationID] = where
			if !camel.MatchString(op.OperationID) {
				t.Errorf("%s: operationId %q is not a camelCase verb", where, op.OperationID)
			}
			if op.Description == "" {
				t.Errorf("%s: no description", where)
			}
			if op.Responses.Default() == nil {
				t.Errorf("%s: no default error answer", where)
			}
			if op.RequestBody == nil && (op.Responses.Status(413) != nil || op.Responses.Status(415) != nil) {
				t.Errorf("%s: 413 or 415 without a request body", where)
			}
			for _, p := range append(op.Parameters, item.Parameters...) {
				if p.Value != nil && p.Value.Example == nil && len(p.Value.Examples) == 0 {
					t.Errorf("%s: parameter %s has no example", where, p.Value.Name)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt == nil || (mt.Example == nil && len(mt.Examples) == 0) {
					t.Errorf("%s: the request body has no example", where)
				}
			}
		}
	}
}
