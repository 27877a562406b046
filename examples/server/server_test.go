package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
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
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

var ctx = context.Background()

// testServer is the real HTTP API over a bbolt file in a temp dir, on a loopback
// port, set up as `server setup` does.
type testServer struct {
	url   string
	admin string // the platform admin's personal token
	wsID  string // the setup workspace
	m     *tenancy.Manager
	data  string
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, nil, io.Discard)
}

// startServerWith is startServer with mail: mail makes the server's mailer once
// the Manager is open (nil: no mail), and the server logs to log.
func startServerWith(t *testing.T, mail func(*tenancy.Manager) *mailer, log io.Writer) *testServer {
	t.Helper()
	data := filepath.Join(t.TempDir(), "tenancy.db")
	var out bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "admin@example.com", "-data", data}, nil, &out, io.Discard, os.Getenv); code != 0 {
		t.Fatalf("setup exited %d: %s", code, out.String())
	}
	admin := regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(out.String())[1]
	wsID := regexp.MustCompile(`\((ws_\w+)\)`).FindStringSubmatch(out.String())[1]
	m, closeAll, err := openManager(&where{data: data, flags: listFlag{"sources", "active_connections"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	var ml *mailer
	if mail != nil {
		ml = mail(m)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: newHandler(m, base, slog.New(slog.NewTextHandler(log, nil)), nil, ml, defaultKits().desc, nil)}}
	srv.Start()
	t.Cleanup(func() { srv.Close(); closeAll() })
	return &testServer{url: base, admin: admin, wsID: wsID, m: m, data: data}
}

// call sends one request and decodes the JSON answer.
func (s *testServer) call(t *testing.T, method, path, tok string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.url+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	s.checkAnswer(t, req, resp, raw)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// want checks a status and, for errors, the error body's shape and message.
func want(t *testing.T, what string, status int, body map[string]any, wantStatus int, msg string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d (%v)", what, status, wantStatus, body)
		return
	}
	if status >= 400 {
		if body["error"] != http.StatusText(status) || !strings.Contains(fmt.Sprint(body["message"]), msg) {
			t.Errorf("%s: error body %v, want error %q and a message with %q", what, body, http.StatusText(status), msg)
		}
	}
}

// newUser invites email into ws with role and accepts without an account, which
// creates one; it returns the new user's ID and token.
func (s *testServer) newUser(t *testing.T, wsID, email, role string) (string, string) {
	t.Helper()
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": email, "workspace_id": wsID, "role": role})
	if st != http.StatusCreated {
		t.Fatalf("invite %s: %d %v", email, st, inv)
	}
	st, acc := s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": inv["token"].(string), "name": email})
	if st != http.StatusOK {
		t.Fatalf("accept %s: %d %v", email, st, acc)
	}
	return acc["user_id"].(string), acc["token"].(string)
}

func TestWorkspaceRoutes(t *testing.T) {
	s := startServer(t)
	// Create, with Tell's shape.
	st, w := s.call(t, "POST", "/api/v1/user/workspaces", s.admin, map[string]string{"name": "Staging", "slug": "staging"})
	want(t, "create", st, w, http.StatusCreated, "")
	id, _ := w["workspace_id"].(string)
	for _, k := range []string{"workspace_id", "name", "slug", "description", "status", "created_at", "updated_at"} {
		if _, ok := w[k]; !ok {
			t.Errorf("workspace JSON lacks %q: %v", k, w)
		}
	}
	if !strings.HasSuffix(w["created_at"].(string), "Z") {
		t.Errorf("created_at %v is not UTC RFC 3339", w["created_at"])
	}
	st, body := s.call(t, "POST", "/api/v1/user/workspaces", s.admin, map[string]string{"name": "Again", "slug": "staging"})
	want(t, "duplicate slug", st, body, http.StatusConflict, "already taken")
	st, body = s.call(t, "POST", "/api/v1/user/workspaces", s.admin, map[string]string{"name": "x", "slug": "Bad Slug"})
	want(t, "bad slug", st, body, http.StatusBadRequest, "lowercase letters")

	// Pagination across pages.
	for i := 0; i < 4; i++ {
		s.call(t, "POST", "/api/v1/user/workspaces", s.admin, map[string]string{"name": fmt.Sprintf("Demo %d", i)})
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/api/v1/workspaces?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		st, pg := s.call(t, "GET", path, s.admin, nil)
		want(t, "list page", st, pg, http.StatusOK, "")
		for _, it := range pg["data"].([]any) {
			seen[it.(map[string]any)["workspace_id"].(string)] = true
		}
		p := pg["pagination"].(map[string]any)
		if p["has_more"] != true {
			if p["next_cursor"] != nil {
				t.Errorf("last page has a next_cursor: %v", p)
			}
			break
		}
		cursor = p["next_cursor"].(string)
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
	}
	if len(seen) != 6 {
		t.Errorf("paging saw %d workspaces, want 6", len(seen))
	}
	st, pg := s.call(t, "GET", "/api/v1/workspaces?name_contains=DEMO&status=active", s.admin, nil)
	if st != 200 || len(pg["data"].([]any)) != 4 {
		t.Errorf("name_contains: %d %v", st, pg)
	}
	for _, bad := range []string{"limit=0", "limit=101", "limit=x", "cursor=garbage", "status=archived"} {
		st, body := s.call(t, "GET", "/api/v1/workspaces?"+bad, s.admin, nil)
		want(t, "list with "+bad, st, body, http.StatusBadRequest, "")
	}

	// Get, update, deactivate, delete, restore.
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+id, s.admin, nil)
	want(t, "get", st, body, 200, "")
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{"name": "Renamed"})
	if st != 200 || body["name"] != "Renamed" {
		t.Errorf("rename: %d %v", st, body)
	}
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{"status": "inactive"})
	if st != 200 || body["status"] != "inactive" {
		t.Errorf("deactivate: %d %v", st, body)
	}
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{"workspace_id": "ws_other"})
	want(t, "update workspace_id", st, body, http.StatusBadRequest, `"workspace_id" cannot be set`)
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{"status": "deleted"})
	want(t, "status deleted via PUT", st, body, http.StatusBadRequest, "active or inactive")
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, `{"name": 5}`)
	want(t, "wrong type", st, body, http.StatusBadRequest, `field "name" has the wrong type`)
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, `{"name": "a"} {"name": "b"}`)
	want(t, "two objects", st, body, http.StatusBadRequest, "one JSON object")
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, `{"name": "`+strings.Repeat("x", 2<<20)+`"}`)
	want(t, "2 MiB body", st, body, http.StatusRequestEntityTooLarge, "at most 1048576 bytes")
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{"status": "active"})
	want(t, "reactivate", st, body, 200, "")
	st, body = s.call(t, "DELETE", "/api/v1/workspaces/"+id, s.admin, nil)
	if st != 200 || body["workspace_id"] != id || body["status"] != "deleted" {
		t.Errorf("delete: %d %v", st, body)
	}
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+id+"/restore", s.admin, nil)
	if st != 200 || body["status"] != "active" {
		t.Errorf("restore: %d %v", st, body)
	}

	// Stats and sync (platform), and their refusals.
	st, body = s.call(t, "GET", "/api/v1/workspaces/stats", s.admin, nil)
	if st != 200 || body["total_workspaces"] != float64(6) || body["active_workspaces"] != float64(6) {
		t.Errorf("stats: %d %v", st, body)
	}
	sync := map[string]any{"workspaces": []map[string]string{{"external_id": "crm-1", "name": "Acme"}, {"external_id": "crm-2", "name": "Globex"}}}
	dry := map[string]any{"workspaces": sync["workspaces"], "dry_run": true}
	st, body = s.call(t, "POST", "/api/v1/workspaces/sync", s.admin, dry)
	if st != 200 || body["created_locally"] != float64(2) || body["dry_run"] != true {
		t.Errorf("dry-run sync: %d %v", st, body)
	}
	st, body = s.call(t, "POST", "/api/v1/workspaces/sync", s.admin, sync)
	if st != 200 || body["total_found"] != float64(2) || body["created_locally"] != float64(2) || body["already_existed"] != float64(0) {
		t.Errorf("sync: %d %v", st, body)
	}
	st, body = s.call(t, "POST", "/api/v1/workspaces/sync", s.admin, sync)
	if st != 200 || body["created_locally"] != float64(0) || body["already_existed"] != float64(2) {
		t.Errorf("second sync: %d %v", st, body)
	}
	_, userTok := s.newUser(t, s.wsID, "viewer@example.com", "viewer")
	st, body = s.call(t, "GET", "/api/v1/workspaces/stats", userTok, nil)
	want(t, "stats as a viewer", st, body, http.StatusForbidden, "only platform users")
	st, body = s.call(t, "GET", "/api/v1/admin/workspaces", userTok, nil)
	want(t, "admin list as a viewer", st, body, http.StatusForbidden, "only platform users")
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+id, userTok, nil)
	want(t, "get as a non-member", st, body, http.StatusNotFound, "not found")
	st, body = s.call(t, "GET", "/api/v1/workspaces", "", nil)
	want(t, "no token", st, body, http.StatusUnauthorized, "Bearer")
	st, body = s.call(t, "GET", "/api/v1/workspaces", "tncp_nonsense", nil)
	want(t, "bad token", st, body, http.StatusUnauthorized, "invalid token")
	st, body = s.call(t, "GET", "/api/v1/nothing", s.admin, nil)
	want(t, "unknown route", st, body, http.StatusNotFound, "no such route")

	// Platform: list everything, purge.
	st, body = s.call(t, "GET", "/api/v1/admin/workspaces?limit=100", s.admin, nil)
	if st != 200 || len(body["data"].([]any)) != 8 {
		t.Errorf("admin list: %d %v", st, len(body["data"].([]any)))
	}
	st, body = s.call(t, "DELETE", "/api/v1/admin/workspaces/"+id, userTok, nil)
	want(t, "purge as a viewer", st, body, http.StatusForbidden, "")
	st, body = s.call(t, "DELETE", "/api/v1/admin/workspaces/"+id, s.admin, nil)
	if st != 200 || body["purged"] != true {
		t.Errorf("purge: %d %v", st, body)
	}
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+id, s.admin, nil)
	want(t, "get purged", st, body, http.StatusNotFound, "")

	// Events.
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+s.wsID+"/events?limit=2", s.admin, nil)
	if st != 200 || len(body["data"].([]any)) != 2 || body["pagination"].(map[string]any)["has_more"] != true {
		t.Errorf("events: %d %v", st, body)
	}
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+s.wsID+"/events", userTok, nil)
	want(t, "events as a viewer", st, body, http.StatusForbidden, "audit log")
}

func TestMemberRoutes(t *testing.T) {
	s := startServer(t)
	edID, edTok := s.newUser(t, s.wsID, "ed@example.com", "editor")
	st, body := s.call(t, "GET", "/api/v1/user/workspaces", edTok, nil)
	if st != 200 || len(body["data"].([]any)) != 1 || body["data"].([]any)[0].(map[string]any)["role"] != "editor" {
		t.Errorf("editor's workspaces: %d %v", st, body)
	}
	hdr := []string{"X-Workspace-ID", s.wsID}
	st, body = s.call(t, "GET", "/api/v1/admin/users?limit=50", s.admin, nil, hdr...)
	if st != 200 || len(body["data"].([]any)) != 2 {
		t.Errorf("members: %d %v", st, body)
	}
	st, body = s.call(t, "GET", "/api/v1/admin/users", s.admin, nil)
	want(t, "members without X-Workspace-ID", st, body, http.StatusBadRequest, "X-Workspace-ID")
	// The ceiling over HTTP: an editor cannot make anyone admin, an admin cannot make anyone platform.
	st, body = s.call(t, "POST", "/api/v1/admin/workspace/invites", edTok, map[string]string{"email": "x@example.com", "workspace_id": s.wsID, "role": "admin"}, hdr...)
	want(t, "editor invites an admin", st, body, http.StatusForbidden, "")
	adID, adTok := s.newUser(t, s.wsID, "ad@example.com", "admin")
	st, body = s.call(t, "PUT", "/api/v1/admin/users/"+edID, adTok, map[string]string{"role": "platform"}, hdr...)
	want(t, "admin grants platform", st, body, http.StatusForbidden, "higher than your own")
	st, body = s.call(t, "PUT", "/api/v1/admin/users/"+adID, adTok, map[string]string{"role": "viewer"}, hdr...)
	want(t, "self role change", st, body, http.StatusConflict, "your own role") // the Manager's rule now
	st, body = s.call(t, "PUT", "/api/v1/admin/users/"+edID, adTok, map[string]string{"role": "viewer", "user_id": "x"}, hdr...)
	want(t, "unknown field", st, body, http.StatusBadRequest, `"user_id" cannot be set`)
	st, body = s.call(t, "PUT", "/api/v1/admin/users/"+edID, adTok, map[string]string{"role": "admin"}, hdr...)
	if st != 200 || body["role"] != "admin" {
		t.Errorf("promote: %d %v", st, body)
	}
	// Direct add by email, leave, transfer, remove.
	s.newUser(t, s.wsID, "cy@example.com", "viewer")
	st, body = s.call(t, "POST", "/api/v1/user/workspaces", adTok, map[string]string{"name": "Ad's"})
	want(t, "admin creates a workspace", st, body, http.StatusCreated, "")
	other := body["workspace_id"].(string)
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+other+"/members", adTok, map[string]string{"email": "cy@example.com", "role": "editor"})
	want(t, "add by email", st, body, http.StatusCreated, "")
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+other+"/members", adTok, map[string]string{"email": "nobody@example.com", "role": "editor"})
	want(t, "add unknown email", st, body, http.StatusNotFound, "invite them instead")
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+other+"/leave", adTok, nil)
	want(t, "owner leaves", st, body, http.StatusConflict, "owner cannot leave")
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+other+"/transfer", adTok, map[string]string{"user_id": edID})
	want(t, "transfer to a non-member", st, body, http.StatusNotFound, "")
	cyID := s.memberID(t, other, "cy@example.com", adTok)
	st, body = s.call(t, "PUT", "/api/v1/admin/users/"+cyID, adTok, map[string]string{"role": "admin"}, "X-Workspace-ID", other)
	want(t, "promote cy in other", st, body, 200, "")
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+other+"/transfer", adTok, map[string]string{"user_id": cyID})
	if st != 200 || body["owner_id"] != cyID {
		t.Errorf("transfer: %d %v", st, body)
	}
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+other+"/leave", adTok, nil)
	if st != 200 || body["left"] != true {
		t.Errorf("the old owner leaves: %d %v", st, body)
	}
	st, body = s.call(t, "DELETE", "/api/v1/admin/users/"+edID, adTok, nil, hdr...)
	want(t, "remove", st, body, 200, "")
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+s.wsID, edTok, nil)
	want(t, "removed member reads", st, body, http.StatusNotFound, "")

	// Invitations: list, revoke, accept rules.
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "dee@example.com", "workspace_id": s.wsID, "role": "viewer"})
	// The secret travels in the link's fragment, which no server ever receives.
	if st != 201 || !strings.HasPrefix(inv["accept_url"].(string), s.url+"/invite#token=tnci_") || inv["state"] != "pending" {
		t.Fatalf("invite: %d %v", st, inv)
	}
	st, body = s.call(t, "GET", "/api/v1/admin/workspace/invites", s.admin, nil, hdr...)
	if st != 200 || len(body["data"].([]any)) < 4 {
		t.Errorf("list invites: %d %v", st, body)
	}
	for _, it := range body["data"].([]any) {
		if _, leak := it.(map[string]any)["token"]; leak {
			t.Error("a listed invitation shows its secret")
		}
	}
	st, body = s.call(t, "DELETE", "/api/v1/admin/workspace/invites/"+inv["invitation_id"].(string), s.admin, nil)
	if st != 200 || body["state"] != "revoked" {
		t.Errorf("revoke invite: %d %v", st, body)
	}
	st, body = s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": inv["token"].(string)})
	want(t, "accept revoked", st, body, http.StatusConflict, "revoked")
	st, body = s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": "tnci_bad"})
	want(t, "accept garbage", st, body, http.StatusBadRequest, "not a valid invitation link")
	// A refused acceptance without a token leaves no account behind: once the
	// workspace is active again, the same link still works.
	st, inv = s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "late@example.com", "workspace_id": s.wsID, "role": "viewer"})
	want(t, "invite late", st, inv, http.StatusCreated, "")
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+s.wsID, s.admin, map[string]string{"status": "inactive"})
	want(t, "deactivate", st, body, 200, "")
	st, body = s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": inv["token"].(string)})
	want(t, "accept into an inactive workspace", st, body, http.StatusConflict, "inactive")
	if _, err := s.m.GetUserByEmail(ctx, tenancy.System(), "late@example.com"); err == nil {
		t.Error("a refused acceptance left an account behind")
	}
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+s.wsID, s.admin, map[string]string{"status": "active"})
	want(t, "reactivate", st, body, 200, "")
	st, body = s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": inv["token"].(string)})
	want(t, "accept after reactivation", st, body, http.StatusOK, "")
	// An existing account must sign in to accept.
	st, inv = s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "ed@example.com", "workspace_id": other, "role": "viewer"})
	want(t, "invite an existing account", st, inv, http.StatusCreated, "")
	st, body = s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": inv["token"].(string)})
	want(t, "accept for an existing account without a token", st, body, http.StatusUnauthorized, "accept with your token")
	st, body = s.call(t, "POST", "/api/v1/invites/accept", edTok, map[string]string{"token": inv["token"].(string)})
	if m, _ := body["member"].(map[string]any); st != 200 || m["role"] != "viewer" {
		t.Errorf("accept signed in: %d %v", st, body)
	}
}

func TestTokenRoutes(t *testing.T) {
	s := startServer(t)
	_, edTok := s.newUser(t, s.wsID, "ed@example.com", "editor")
	st, b := s.call(t, "POST", "/api/v1/user/workspaces", s.admin, map[string]string{"name": "B"})
	want(t, "create B", st, b, http.StatusCreated, "")
	wsB := b["workspace_id"].(string)

	st, tok := s.call(t, "POST", "/api/v1/workspaces/"+s.wsID+"/tokens", edTok, map[string]string{"name": "ci", "expires_in": "48h"})
	if st != 201 || !strings.HasPrefix(tok["token"].(string), "tncw_") || tok["role"] != "editor" || tok["state"] != "active" {
		t.Fatalf("create token: %d %v", st, tok)
	}
	secret, tokID := tok["token"].(string), tok["token_id"].(string)
	// The workspace token works in its workspace, not in another (even for an admin's token).
	st, body := s.call(t, "GET", "/api/v1/workspaces/"+s.wsID, secret, nil)
	want(t, "workspace token reads its workspace", st, body, 200, "")
	st, adm := s.call(t, "POST", "/api/v1/workspaces/"+s.wsID+"/tokens", s.admin, map[string]string{"name": "ops", "expires_in": "1d"})
	want(t, "admin's workspace token", st, adm, http.StatusCreated, "")
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+wsB, adm["token"].(string), nil)
	want(t, "token of A on B", st, body, http.StatusNotFound, "")
	// A workspace token lists only its own workspace, on both list routes, even when
	// its creator is a platform user who belongs to more.
	for _, tk := range []string{secret, adm["token"].(string)} {
		for _, path := range []string{"/api/v1/workspaces", "/api/v1/user/workspaces", "/api/v1/workspaces?status=deleted"} {
			st, list := s.call(t, "GET", path, tk, nil)
			data, _ := list["data"].([]any)
			wantN := 1
			if strings.Contains(path, "deleted") {
				wantN = 0
			}
			if st != http.StatusOK || len(data) != wantN {
				t.Errorf("GET %s with a workspace token: %d %v, want %d workspace(s)", path, st, list, wantN)
				continue
			}
			if wantN == 1 && data[0].(map[string]any)["workspace_id"] != s.wsID {
				t.Errorf("GET %s with a workspace token lists %v", path, data[0])
			}
		}
	}
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+s.wsID+"/tokens", secret, map[string]string{"name": "x", "expires_in": "1h"})
	want(t, "a workspace token mints", st, body, http.StatusForbidden, "a workspace token cannot act on its user's tokens")
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+s.wsID+"/tokens", edTok, map[string]string{"name": "x", "expires_in": "1h", "role": "admin"})
	want(t, "editor asks an admin token", st, body, http.StatusForbidden, "higher than your own")
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+s.wsID+"/tokens", edTok, map[string]string{"name": "x", "expires_in": "2y"})
	want(t, "two years", st, body, http.StatusBadRequest, "at most 365 days")
	st, body = s.call(t, "POST", "/api/v1/workspaces/"+s.wsID+"/tokens", edTok, map[string]string{"name": "x", "expires_in": "soon"})
	want(t, "bad lifetime", st, body, http.StatusBadRequest, "48h, 7d, 1w or 1y")
	st, body = s.call(t, "POST", "/api/v1/user/tokens", edTok, map[string]string{"name": "laptop", "expires_in": "1w"})
	if st != 201 || !strings.HasPrefix(body["token"].(string), "tncp_") {
		t.Errorf("personal token: %d %v", st, body)
	}
	// Lists by state; revoke.
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+s.wsID+"/tokens?state=active", s.admin, nil)
	if st != 200 || len(body["data"].([]any)) != 2 {
		t.Errorf("active tokens: %d %v", st, body)
	}
	st, body = s.call(t, "DELETE", "/api/v1/workspaces/"+wsB+"/tokens/"+tokID, s.admin, nil)
	want(t, "revoke through the wrong workspace", st, body, http.StatusNotFound, "")
	st, body = s.call(t, "DELETE", "/api/v1/workspaces/"+s.wsID+"/tokens/"+tokID, edTok, nil)
	want(t, "revoke", st, body, 200, "")
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+s.wsID, secret, nil)
	want(t, "revoked token", st, body, http.StatusUnauthorized, "revoked")
	st, body = s.call(t, "GET", "/api/v1/workspaces/"+s.wsID+"/tokens?state=inactive", s.admin, nil)
	if st != 200 || len(body["data"].([]any)) != 1 || body["data"].([]any)[0].(map[string]any)["state"] != "revoked" {
		t.Errorf("inactive tokens: %d %v", st, body)
	}
	for _, it := range body["data"].([]any) {
		if _, leak := it.(map[string]any)["token"]; leak {
			t.Error("a listed token shows its secret")
		}
	}
}

func TestSetupRefusesTwice(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	args := []string{"setup", "-email", "a@example.com", "-data", data}
	if code := run(ctx, args, nil, io.Discard, io.Discard, os.Getenv); code != 0 {
		t.Fatalf("first setup exited %d", code)
	}
	var errOut bytes.Buffer
	if code := run(ctx, args, nil, io.Discard, &errOut, os.Getenv); code == 0 || !strings.Contains(errOut.String(), "already set up") {
		t.Errorf("second setup: %q", errOut.String())
	}
	if st, err := os.Stat(data + ".key"); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", st, err)
	}
	os.Remove(data + ".key")
	if code := run(ctx, []string{"serve", "-data", data}, nil, io.Discard, &errOut, os.Getenv); code == 0 || !strings.Contains(errOut.String(), "key file") {
		t.Errorf("serving without the key file: %q", errOut.String())
	}
}

// A host's own roles: -policy loads them, a policy that drops a held role is refused
// with the role named, and -rename-roles moves the holders while opening.
func TestServePolicyFlags(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "t.db")
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, io.Discard, io.Discard, os.Getenv); code != 0 {
		t.Fatalf("setup exited %d", code)
	}
	m, closeAll, err := openManager(&where{data: data})
	if err != nil {
		t.Fatal(err)
	}
	sys := tenancy.System()
	if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "ed", Email: "ed@example.com"}); err != nil {
		t.Fatal(err)
	}
	pg, err := m.ListWorkspaces(ctx, sys, workspace.ListOptions{})
	if err != nil || len(pg.Items) != 1 {
		t.Fatalf("the setup workspace: %v", err)
	}
	if _, err := m.AddMember(ctx, sys, pg.Items[0].ID, tenancy.NewMember{UserID: "ed", Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	closeAll()
	policy := filepath.Join(dir, "roles.csv")
	text := "g, guest, viewer\ng, admin, guest\np, viewer, workspace:read\np, guest, content:write\np, admin, member:manage\n"
	if err := os.WriteFile(policy, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = openManager(&where{data: data, policy: policy})
	if !errors.Is(err, tenancy.ErrUndeclaredRole) || !strings.Contains(err.Error(), `"editor" is held by 1 member(s)`) {
		t.Fatalf("a policy without editor: %v", err)
	}
	if _, _, err := openManager(&where{data: data, policy: policy, renames: "editor"}); err == nil {
		t.Error("a malformed -rename-roles was accepted")
	}
	m, closeAll, err = openManager(&where{data: data, policy: policy, renames: "editor=guest"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	if mb, err := m.GetMember(ctx, sys, pg.Items[0].ID, "ed"); err != nil || mb.Role != "guest" {
		t.Errorf("after the rename: %+v, %v", mb, err)
	}
}

// TestCLI drives the client commands non-interactively (flags and environment), and
// once interactively (prompts answered on stdin).
func TestCLI(t *testing.T) {
	s := startServer(t)
	env := func(k string) string {
		return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": s.admin}[k]
	}
	cli := func(stdin string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, env)
		return code, out.String(), errOut.String()
	}
	// The README's own order: the name first, flags after it.
	code, out, errs := cli("", "workspace", "create", "From CLI", "--slug", "from-cli")
	if code != 0 || !strings.Contains(out, `** Workspace 'From CLI' has been created (slug from-cli`) {
		t.Fatalf("workspace create: %d %q %q", code, out, errs)
	}
	id := regexp.MustCompile(`id (ws_\w+)`).FindStringSubmatch(out)[1]
	code, out, _ = cli("", "workspace", "list")
	if code != 0 || !strings.Contains(out, "from-cli") || !strings.Contains(out, "default") {
		t.Errorf("workspace list: %d %q", code, out)
	}
	code, out, _ = cli("", "invite", "--workspace", id, "--email", "new@example.com", "--role", "editor")
	if code != 0 || !strings.Contains(out, "/invite#token=tnci_") {
		t.Errorf("invite: %d %q", code, out)
	}
	code, out, _ = cli("", "token", "create", "--workspace", id, "--name", "deploy", "--expires-in", "7d")
	if code != 0 || !strings.Contains(out, "tncw_") {
		t.Fatalf("token create: %d %q", code, out)
	}
	tokID := regexp.MustCompile(`token (tok_\w+)`).FindStringSubmatch(out)[1]
	secret := regexp.MustCompile(`tncw_\w+`).FindString(out)
	// Lists never show a secret; rotation shows the new one once.
	if !strings.Contains(out, "expires 20") {
		t.Errorf("token create prints no expiry: %q", out)
	}
	code, out, _ = cli("", "token", "list", "--workspace", id)
	if code != 0 || !strings.Contains(out, tokID) || strings.Contains(out, secret) || !strings.Contains(out, secret[:5]+"…"+secret[len(secret)-4:]) ||
		strings.Contains(out, "……") || !strings.Contains(out, "WORKSPACE") {
		t.Errorf("token list: %d %q", code, out)
	}
	// A workspace token's ID, as the list printed it, works without --workspace,
	// flags after the argument.
	code, out, errs = cli("", "token", "rotate", tokID)
	if code != 0 || !strings.Contains(out, "tncw_") || strings.Contains(out, secret) {
		t.Errorf("token rotate: %d %q %q", code, out, errs)
	}
	// A flag that does not apply to a command is refused, not ignored.
	if code, _, errs = cli("", "token", "rotate", tokID, "--yes"); code != 2 || !strings.Contains(errs, "flag provided but not defined: -yes") {
		t.Errorf("token rotate --yes: %d %q", code, errs)
	}
	code, _, errs = cli("", "token", "create", "--workspace", id, "--name", "m", "--expires-in", "1m")
	if code != 1 || !strings.Contains(errs, "30d") || !strings.Contains(errs, "60min") {
		t.Errorf("an ambiguous 1m: %d %q", code, errs)
	}
	code, out, _ = cli("", "token", "revoke", tokID)
	if code != 0 || !strings.Contains(out, "revoked token "+tokID) {
		t.Errorf("token revoke: %d %q", code, out)
	}
	// Personal tokens too.
	code, out, _ = cli("", "token", "create", "--name", "laptop", "--expires-in", "1d")
	if code != 0 || !strings.Contains(out, "tncp_") {
		t.Fatalf("personal token create: %d %q", code, out)
	}
	personal := regexp.MustCompile(`token (tok_\w+)`).FindStringSubmatch(out)[1]
	code, out, _ = cli("", "token", "list")
	if code != 0 || !strings.Contains(out, personal) || !strings.Contains(out, "personal") {
		t.Errorf("personal token list: %d %q", code, out)
	}
	code, out, _ = cli("", "token", "revoke", personal)
	if code != 0 || !strings.Contains(out, "revoked token "+personal) {
		t.Errorf("personal token revoke: %d %q", code, out)
	}
	code, _, errs = cli("", "token", "create", "--name", "x", "--expires-in", "1ns")
	if code != 1 || !strings.Contains(errs, "at least") {
		t.Errorf("a 1ns token: %d %q", code, errs)
	}
	// With flags it never prompts: a missing value is an error, not a hang.
	code, _, errs = cli("", "workspace", "delete", "--url", s.url, id)
	if code != 2 || !strings.Contains(errs, "pass --yes") {
		t.Errorf("delete in flag mode without --yes: %d %q", code, errs)
	}
	code, _, errs = cli("", "invite", "--workspace", id)
	if code != 2 || !strings.Contains(errs, "missing value: email") {
		t.Errorf("invite without email: %d %q", code, errs)
	}
	// A flag typo: exit 2, said once, and the token from the environment is not in
	// the usage text (it would land in CI logs).
	code, _, errs = cli("", "workspace", "list", "--bogus")
	if code != 2 || strings.Contains(errs, s.admin) || strings.Count(errs, "flag provided but not defined") != 1 {
		t.Errorf("a flag typo: %d %q", code, errs)
	}
	// Users: a platform user suspends, reactivates and erases one.
	code, out, errs = cli("", "user", "suspend", "nobody-here")
	if code != 1 || !strings.Contains(errs, "not found") {
		t.Errorf("suspend an unknown user: %d %q %q", code, out, errs)
	}
	if st, body := s.call(t, "POST", "/api/v1/platform/users", s.admin, map[string]string{"user_id": "u_cli", "email": "cli@example.com"}); st != 201 {
		t.Fatalf("register a user to suspend: %d %v", st, body)
	}
	for _, sub := range []string{"suspend", "reactivate"} {
		code, out, errs = cli("", "user", sub, "u_cli")
		if code != 0 || !strings.Contains(out, sub+": done (user u_cli)") {
			t.Errorf("user %s: %d %q %q", sub, code, out, errs)
		}
	}
	code, out, errs = cli("", "user", "delete", "--yes", "u_cli")
	if code != 0 || !strings.Contains(out, "erased user u_cli (0 memberships, 0 tokens)") {
		t.Errorf("user delete: %d %q %q", code, out, errs)
	}
	code, out, _ = cli("", "workspace", "delete", "from-cli", "--yes")
	if code != 0 || !strings.Contains(out, "** Workspace 'From CLI' has been deleted") || !strings.Contains(out, "soft delete") ||
		!strings.Contains(out, "server workspace restore "+id) {
		t.Errorf("delete --yes by slug: %d %q", code, out)
	}
	code, out, _ = cli("", "workspace", "restore", id)
	if code != 0 || !strings.Contains(out, "** Workspace 'From CLI' has been restored (active") {
		t.Errorf("restore: %d %q", code, out)
	}
	// Interactive: no flags, answers at the prompts, defaults offered.
	code, out, errs = cli("\nPrompted\n", "workspace", "create")
	if code != 0 || !regexp.MustCompile(`Workspace name \[new_workspace_\d{4}\]: `).MatchString(out) || !strings.Contains(out, "** Workspace 'Prompted' has been created") {
		t.Errorf("interactive create: %d %q %q", code, out, errs)
	}
	code, out, errs = cli("y\n", "workspace", "leave", "From CLI")
	if code != 1 || !strings.Contains(errs, "owner") {
		t.Errorf("the owner leaves: %d %q %q", code, out, errs)
	}
	code, out, errs = cli("n\n", "workspace", "leave", "Prompted")
	if code != 1 || !strings.Contains(out, `Are you sure you want to leave workspace "Prompted"`) || !strings.Contains(errs, "cancelled") {
		t.Errorf("interactive leave, answered no: %d %q %q", code, out, errs)
	}
	code, _, errs = cli("\n", "workspace", "leave")
	if code != 2 || !strings.Contains(errs, "is required") {
		t.Errorf("interactive leave with an empty answer: %d %q", code, errs)
	}
	// Errors from the server are shown with their message.
	code, _, errs = cli("", "token", "revoke", "--workspace", id, "tok_nope")
	if code != 1 || !strings.Contains(errs, "Not Found") {
		t.Errorf("revoke unknown: %d %q", code, errs)
	}
	// setup and serve refuse stray arguments instead of ignoring every flag after them.
	code, _, errs = cli("", "serve", "now", "-addr", "127.0.0.1:0")
	if code != 2 || !strings.Contains(errs, `unexpected argument "now"`) {
		t.Errorf("serve with a stray argument: %d %q", code, errs)
	}
}

// memberID finds a member's user ID by email, through the admin routes: the invited
// accounts' IDs are made by the server.
func (s *testServer) memberID(t *testing.T, wsID, email, tok string) string {
	t.Helper()
	u, err := s.m.GetUserByEmail(ctx, tenancy.System(), email)
	if err != nil {
		t.Fatal(err)
	}
	st, body := s.call(t, "GET", "/api/v1/admin/users?limit=100", tok, nil, "X-Workspace-ID", wsID)
	if st != 200 {
		t.Fatalf("members: %d %v", st, body)
	}
	for _, it := range body["data"].([]any) {
		if it.(map[string]any)["user_id"] == u.ID {
			return u.ID
		}
	}
	t.Fatalf("%s is not a member of %s", email, wsID)
	return ""
}

// TestServeShutsDownGracefully runs the real serve command, makes a request, then
// cancels it as SIGTERM would: serve returns cleanly and releases the file.
func TestServeShutsDownGracefully(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	var setupOut bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, &setupOut, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	tok := regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(setupOut.String())[1]
	c, cancel := context.WithCancel(ctx)
	logs := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(c, []string{"serve", "-addr", "127.0.0.1:0", "-data", data}, nil, io.Discard, logs, os.Getenv)
	}()
	var addr string
	for i := 0; i < 3000 && addr == ""; i++ { // up to 30 s: CI machines can be slow
		if m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if addr == "" {
		t.Fatalf("serve did not start: %s", logs.String())
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/user/workspaces", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request to the running server: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("no clean stop in the log: %s", logs.String())
	}
	// The store was closed: the file opens again at once.
	m, closeAll, err := openManager(&where{data: data})
	if err != nil {
		t.Fatalf("reopen after shutdown: %v", err)
	}
	defer closeAll()
	if _, err := m.Stats(ctx, tenancy.System()); err != nil {
		t.Error(err)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve refuses a store whose invariants are broken.
func TestServeRefusesADamagedStore(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, io.Discard, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	store, key, err := openStore(&where{data: data})
	if err != nil {
		t.Fatal(err)
	}
	_ = key
	err = store.Update(ctx, func(tx storage.ReadWriter) error { return tx.AddCounter(tenancy.CounterActiveWorkspaces, 5) })
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	// With -verify (today's blocking check) it refuses to serve.
	var logs bytes.Buffer
	code := run(ctx, []string{"serve", "-verify", "-addr", "127.0.0.1:0", "-data", data}, nil, io.Discard, &logs, os.Getenv)
	if code == 0 || !strings.Contains(logs.String(), "failed verification") || !strings.Contains(logs.String(), "counter") {
		t.Errorf("serve -verify on a damaged store: exit %d, log %s", code, logs.String())
	}
	// By default it serves at once and reports the damage on /readyz and in the log.
	addr, logs2, stop := serveInBackground(t, "-data", data)
	ready, code := waitVerified(t, addr)
	if code != http.StatusServiceUnavailable {
		t.Errorf("readyz on a damaged store: %d", code)
	}
	if ready.Status != "damaged" || ready.Findings == 0 {
		t.Errorf("readyz on a damaged store: %+v", ready)
	}
	if l := logs2.String(); !strings.Contains(l, "verify failed") || !strings.Contains(l, "counter") {
		t.Errorf("log on a damaged store: %s", l)
	}
	if code := stop(); code != 0 {
		t.Errorf("serve exited %d", code)
	}
}

// waitVerified polls /readyz until the store's check is no longer running, and
// returns what it last said.
func waitVerified(t *testing.T, addr string) (readyState, int) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var ready readyState
		_ = json.NewDecoder(resp.Body).Decode(&ready)
		resp.Body.Close()
		if ready.Status != "verifying" || i == 3000 { // up to 30 s: CI machines can be slow
			return ready, resp.StatusCode
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveInBackground runs the real serve command and waits until it listens. stop
// cancels it, as SIGTERM would, and returns its exit code.
func serveInBackground(t *testing.T, args ...string) (addr string, logs *syncBuffer, stop func() int) {
	t.Helper()
	c, cancel := context.WithCancel(ctx)
	logs = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(c, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...), nil, io.Discard, logs, os.Getenv)
	}()
	stop = func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
	for i := 0; i < 3000; i++ { // up to 30 s: CI machines can be slow
		if m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String()); m != nil {
			return m[1], logs, stop
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	t.Fatalf("serve did not start: %s", logs.String())
	return "", nil, nil
}

// A sound store reports ready on /readyz once the background check is done, and
// -verify=false reports that nothing was checked.
func TestReadyz(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, io.Discard, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	for _, c := range []struct{ flag, want string }{{"-verify=background", "ready"}, {"-verify=false", "unchecked"}, {"-verify=true", "ready"}} {
		addr, logs, stop := serveInBackground(t, c.flag, "-data", data)
		ready, code := waitVerified(t, addr)
		if ready.Status != c.want || code != http.StatusOK {
			t.Errorf("%s: readyz %d %+v; log %s", c.flag, code, ready, logs.String())
		}
		if code := stop(); code != 0 {
			t.Errorf("%s: serve exited %d", c.flag, code)
		}
	}
	var errOut bytes.Buffer
	if code := run(ctx, []string{"serve", "-verify=maybe", "-data", data}, nil, io.Discard, &errOut, os.Getenv); code == 0 || !strings.Contains(errOut.String(), "background, true or false") {
		t.Errorf("-verify=maybe: exit %d, %s", code, errOut.String())
	}
}

// The link an invitation hands out leads to a page the server serves, with the
// secret in the fragment (never sent to the server); /healthz answers.
func TestInviteLinkAndHealth(t *testing.T) {
	s := startServer(t)
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "z@example.com", "workspace_id": s.wsID, "role": "viewer"})
	want(t, "invite", st, inv, http.StatusCreated, "")
	link := inv["accept_url"].(string)
	page, _, _ := strings.Cut(link, "#")
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "Invitation link or code") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET %s: %d %s", page, resp.StatusCode, b)
	}
	resp, err = http.Get(s.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp, err)
	}
}

// checkAnswer checks an answer of the REST API against its OpenAPI document, so the
// document cannot drift from what the server does. (Requests are not checked here:
// these tests send malformed ones on purpose; httpapi's tests check every request.)
func (s *testServer) checkAnswer(t *testing.T, req *http.Request, resp *http.Response, raw []byte) {
	t.Helper()
	if !strings.HasPrefix(req.URL.Path, "/api/v1/") {
		return
	}
	openAPIOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI())
		if err == nil {
			doc.Servers = openapi3.Servers{{URL: "http://localhost/api/v1"}}
			openAPIRouter, err = legacyrouter.NewRouter(doc)
		}
		openAPIErr = err
	})
	if openAPIErr != nil {
		t.Fatalf("the OpenAPI document: %v", openAPIErr)
	}
	probe := req.Clone(ctx)
	probe.URL.Scheme, probe.URL.Host, probe.Host = "http", "localhost", "localhost"
	route, params, err := openAPIRouter.FindRoute(probe)
	if err != nil {
		return // an unknown route on purpose: its 404 or 405 is checked by its test
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 resp.StatusCode, Header: resp.Header, Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	in.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		t.Errorf("%s %s: the %d answer does not match the OpenAPI document: %v", req.Method, req.URL.Path, resp.StatusCode, err)
	}
}

var (
	openAPIOnce   sync.Once
	openAPIRouter routers.Router
	openAPIErr    error
)

// Tinybird's `tb workspace create`, as its document shows it: interactively (the
// token, the starter-kit table, the name) and in one line of flags.
func TestCLITinybirdCreateTranscript(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	var out bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, &out, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	admin := regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(out.String())[1]
	addr, _, stop := serveInBackground(t, "-data", data,
		"-starter-kit", "web-analytics=Starting workspace ready to track visits and custom events")
	defer stop()
	env := func(k string) string { return map[string]string{"TENANCY_URL": "http://" + addr}[k] }

	out.Reset()
	var errOut bytes.Buffer
	code := run(ctx, []string{"workspace", "create"}, strings.NewReader(admin+"\n2\ninternal_creating_new_workspaces_example\n"), &out, &errOut, env)
	if code != 0 {
		t.Fatalf("interactive create: %d %q", code, errOut.String())
	}
	want := regexp.MustCompile(`(?s)^In order to create a new workspace we need your user token\. [^\n]*\n` +
		`Your token: ` +
		`-+\n` +
		`\| Idx \| Id            \| Description\n` +
		`-+\n` +
		`\|   1 \| blank         \| Empty workspace\n` +
		`\|   2 \| web-analytics \| Starting workspace ready to track visits and custom events\n` +
		`-+\n` +
		`\[0\] to cancel\n` +
		`Use starter kit \[1\]: ` +
		`Workspace name \[new_workspace_\d{4}\]: ` +
		`\*\* Workspace 'internal_creating_new_workspaces_example' has been created \(slug [a-z0-9-]+, id ws_\w+\)\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("the transcript:\n%s", out.String())
	}
	s := &testServer{url: "http://" + addr, admin: admin}
	id := regexp.MustCompile(`id (ws_\w+)`).FindStringSubmatch(out.String())[1]
	if st, w := s.call(t, "GET", "/api/v1/workspaces/"+id, admin, nil); st != http.StatusOK || w["name"] != "internal_creating_new_workspaces_example" {
		t.Errorf("the workspace: %d %v", st, w)
	}

	// The one-line form, with Tinybird's flag names, flags before the name.
	out.Reset()
	errOut.Reset()
	code = run(ctx, []string{"workspace", "create", "--user_token", admin, "--starter-kit", "1", "internal_creating"}, strings.NewReader(""), &out, &errOut, env)
	if code != 0 || !strings.HasPrefix(out.String(), "** Workspace 'internal_creating' has been created") || strings.Contains(out.String(), "Idx") {
		t.Errorf("flag create: %d %q %q", code, out.String(), errOut.String())
	}
	// [0] cancels, and a kit that is not listed is refused.
	out.Reset()
	errOut.Reset()
	if code := run(ctx, []string{"workspace", "create"}, strings.NewReader(admin+"\n0\n"), &out, &errOut, env); code != 1 || !strings.Contains(errOut.String(), "cancelled") {
		t.Errorf("cancel at the table: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"workspace", "create", "--user_token", admin, "--starter-kit", "9", "x"}, strings.NewReader(""), io.Discard, &errOut, env); code != 2 || !strings.Contains(errOut.String(), "choose 1 to 2") {
		t.Errorf("kit 9: %d %q", code, errOut.String())
	}
}

// The seeds' requests as their documents write them, end to end.
func TestSeedShapes(t *testing.T) {
	s := startServer(t)
	// System Initiative: createWorkspace {displayName, description, instanceUrl}.
	st, w := s.call(t, "POST", "/api/v1/user/workspaces", s.admin, map[string]string{
		"displayName": "Production Workspace", "description": "prod", "instanceUrl": "app.systeminit.com"})
	want(t, "SI create", st, w, http.StatusCreated, "")
	id, _ := w["workspace_id"].(string)
	if w["name"] != "Production Workspace" || w["description"] != "prod" || w["instance_url"] != "app.systeminit.com" {
		t.Errorf("SI create: %v", w)
	}
	// updateWorkspace {displayName, description, instanceUrl}.
	st, w = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{
		"displayName": "Prod", "description": "production", "instanceUrl": "https://si.example.com"})
	if st != http.StatusOK || w["name"] != "Prod" || w["instance_url"] != "https://si.example.com" {
		t.Errorf("SI update: %d %v", st, w)
	}
	st, body := s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{"name": "A", "displayName": "B"})
	want(t, "two names that disagree", st, body, http.StatusBadRequest, "send one")
	st, body = s.call(t, "PUT", "/api/v1/workspaces/"+id, s.admin, map[string]string{"instanceUrl": "not a url"})
	want(t, "a bad instance URL", st, body, http.StatusBadRequest, "instance URL")

	// inviteMember {email} alone: the lowest role.
	st, inv := s.call(t, "POST", "/api/v1/workspaces/"+id+"/invites", s.admin, map[string]string{"email": "ana@example.com"})
	want(t, "SI invite", st, inv, http.StatusCreated, "")
	if inv["role"] != "viewer" {
		t.Errorf("SI invite role: %v", inv)
	}
	st, acc := s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": inv["token"].(string), "name": "Ana"})
	want(t, "accept", st, acc, http.StatusOK, "")
	anaID := acc["user_id"].(string)

	// listMembers: each member's email, name and userId.
	st, list := s.call(t, "GET", "/api/v1/workspaces/"+id+"/members", s.admin, nil)
	want(t, "SI list members", st, list, http.StatusOK, "")
	var ana map[string]any
	for _, m := range list["data"].([]any) {
		if m := m.(map[string]any); m["userId"] == anaID {
			ana = m
		}
	}
	if ana == nil || ana["email"] != "ana@example.com" || ana["name"] != "Ana" || ana["user_id"] != anaID {
		t.Fatalf("Ana in the list: %v", list)
	}
	// Tell's listing carries them too.
	st, list = s.call(t, "GET", "/api/v1/admin/users", s.admin, nil, "X-Workspace-ID", id)
	if st != http.StatusOK || !strings.Contains(fmt.Sprint(list), "ana@example.com") {
		t.Errorf("Tell's member list: %d %v", st, list)
	}

	// updateMemberRole {userId, role}; then by email on Tell's route.
	st, mb := s.call(t, "PUT", "/api/v1/workspaces/"+id+"/members", s.admin, map[string]string{"userId": anaID, "role": "editor"})
	if st != http.StatusOK || mb["role"] != "editor" {
		t.Errorf("SI updateMemberRole: %d %v", st, mb)
	}
	st, mb = s.call(t, "PUT", "/api/v1/admin/users/ana@example.com", s.admin, map[string]string{"role": "viewer"}, "X-Workspace-ID", id)
	if st != http.StatusOK || mb["role"] != "viewer" || mb["user_id"] != anaID {
		t.Errorf("role change by email: %d %v", st, mb)
	}
	// The member, not their account, is what an email names: an address with no
	// account and one that is not a member answer alike.
	st, body = s.call(t, "DELETE", "/api/v1/workspaces/"+id+"/members", s.admin, map[string]string{"email": "nobody@example.com"})
	want(t, "remove a stranger by email", st, body, http.StatusNotFound, "no member")
	// removeMember {email}.
	st, body = s.call(t, "DELETE", "/api/v1/workspaces/"+id+"/members", s.admin, map[string]string{"email": "Ana@Example.com"})
	if st != http.StatusOK || body["removed"] != true {
		t.Errorf("SI removeMember: %d %v", st, body)
	}

	// Airbyte's stats: the host's flags, set by its own systems, counted under
	// Airbyte's names.
	st, w = s.call(t, "PATCH", "/api/v1/workspaces/"+id+"/flags", s.admin, map[string]any{"flags": map[string]bool{"sources": true, "active_connections": true}})
	if st != http.StatusOK || fmt.Sprint(w["flags"]) != "[active_connections sources]" {
		t.Errorf("set flags: %d %v", st, w)
	}
	st, w = s.call(t, "PATCH", "/api/v1/workspaces/"+s.wsID+"/flags", s.admin, map[string]any{"flags": map[string]bool{"sources": true}})
	want(t, "set flags", st, w, http.StatusOK, "")
	st, body = s.call(t, "PATCH", "/api/v1/workspaces/"+id+"/flags", s.admin, map[string]any{"flags": map[string]bool{"trials": true}})
	want(t, "an undeclared flag", st, body, http.StatusBadRequest, "not declared")
	st, body = s.call(t, "PATCH", "/api/v1/workspaces/"+id+"/flags", s.admin, map[string]any{})
	want(t, "no flags", st, body, http.StatusBadRequest, `"flags" is required`)
	st, stats := s.call(t, "GET", "/api/v1/workspaces/stats", s.admin, nil)
	if st != http.StatusOK || stats["workspaces_with_sources"] != 2.0 || stats["workspaces_with_active_connections"] != 1.0 || stats["total_workspaces"] != 2.0 {
		t.Errorf("Airbyte stats: %d %v", st, stats)
	}

	// Airbyte: DELETE answers {"workspace_id", "deleted": true}.
	st, del := s.call(t, "DELETE", "/api/v1/workspaces/"+id, s.admin, nil)
	if st != http.StatusOK || del["workspace_id"] != id || del["deleted"] != true {
		t.Errorf("Airbyte delete: %d %v", st, del)
	}
	if _, stats = s.call(t, "GET", "/api/v1/workspaces/stats", s.admin, nil); stats["workspaces_with_sources"] != 1.0 || stats["workspaces_with_active_connections"] != 0.0 {
		t.Errorf("stats after the delete: %v", stats)
	}

	// An existing user accepting with a bad token is challenged, as everywhere.
	req, _ := http.NewRequest("POST", s.url+"/api/v1/invites/accept", strings.NewReader(`{"token":"tnci_x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer tncp_not-a-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("accept with a bad bearer: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

// serve on a port in use fails before it writes anything; a file that is not a
// store says so before anything about keys.
func TestServeFailsBeforeWriting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "t.db")
	var errOut bytes.Buffer
	if code := run(ctx, []string{"serve", "-addr", ln.Addr().String(), "-data", data}, nil, io.Discard, &errOut, os.Getenv); code == 0 {
		t.Fatal("serve on a port in use succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("serve on a port in use left %d files behind: %v", len(entries), entries)
	}
	junk := filepath.Join(dir, "notes.db")
	if err := os.WriteFile(junk, []byte("not a database, just some notes that are long enough to be a page or so"), 0o600); err != nil {
		t.Fatal(err)
	}
	errOut.Reset()
	code := run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-data", junk}, nil, io.Discard, &errOut, os.Getenv)
	if code == 0 || strings.Contains(errOut.String(), "key") {
		t.Errorf("serve on a file that is not a store: %d %q", code, errOut.String())
	}
	if _, err := os.Stat(junk + ".key"); err == nil {
		t.Error("a key was written beside a file that is not a store")
	}
}

// What New refuses is said in the command's terms: its flags, not the library's
// option names.
func TestMessagesInFlagTerms(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, io.Discard, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	if err := os.WriteFile(data+".key", bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	code := run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-data", data}, nil, io.Discard, &errOut, os.Getenv)
	if code == 0 || !strings.Contains(errOut.String(), "-key-file") || strings.Contains(errOut.String(), "Options.") {
		t.Errorf("serve with the wrong key: %d %q", code, errOut.String())
	}
}

// An existing account accepts an invitation from the CLI with its own token: the
// link from the mail is read from stdin as it is, never from the command line; a
// link for another address is refused and joins nothing.
func TestCLIInviteAcceptExistingAccount(t *testing.T) {
	s := startServer(t)
	// Bo signs up by a first invitation and gets a token.
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "bo@example.com", "workspace_id": s.wsID, "role": "viewer"})
	want(t, "first invite", st, inv, http.StatusCreated, "")
	st, acc := s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": inv["token"].(string), "name": "Bo"})
	want(t, "sign up", st, acc, http.StatusOK, "")
	bo := acc["token"].(string)
	// A second workspace invites Bo, who already has an account.
	st, w := s.call(t, "POST", "/api/v1/user/workspaces", s.admin, map[string]string{"name": "Second"})
	want(t, "create", st, w, http.StatusCreated, "")
	second := w["workspace_id"].(string)
	st, inv = s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "bo@example.com", "workspace_id": second, "role": "editor"})
	want(t, "second invite", st, inv, http.StatusCreated, "")
	link := inv["accept_url"].(string)
	if !strings.Contains(link, "#token=") {
		t.Fatalf("accept link %q", link)
	}
	cli := func(tok, stdin string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		env := func(k string) string { return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": tok}[k] }
		code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, env)
		return code, out.String(), errOut.String()
	}
	if code, _, errs := cli(bo, "", "invite", "accept", link); code != 2 || !strings.Contains(errs, "unexpected argument") {
		t.Errorf("a link on the command line: %d %q", code, errs)
	}
	// The admin's token is not Bo's: the invitation is for bo@example.com.
	if code, _, errs := cli(s.admin, link+"\n", "invite", "accept"); code != 1 || errs == "" {
		t.Errorf("accept as someone else: %d %q", code, errs)
	}
	code, out, errs := cli(bo, link+"\n", "invite", "accept")
	if code != 0 || out != "Invitation link or code: you joined workspace "+second+" as editor\n" {
		t.Fatalf("invite accept: %d %q %q", code, out, errs)
	}
	st, list := s.call(t, "GET", "/api/v1/workspaces/"+second+"/members", s.admin, nil)
	found := false
	for _, m := range list["data"].([]any) {
		m := m.(map[string]any)
		found = found || m["user_id"] == acc["user_id"] && m["role"] == "editor" && m["email"] == "bo@example.com"
	}
	if st != http.StatusOK || !found {
		t.Errorf("Bo is not an editor of the second workspace: %d %v", st, list)
	}
}

// The invitation page, in the console: the link opens it, and a person without an
// account signs up and joins in one step, signed in afterwards; a signed-in person
// accepts with their account. The secret never lands in the page.
func TestInvitePageSignsUpAndAccepts(t *testing.T) {
	s := startServer(t)
	invite := func(email string) string {
		t.Helper()
		st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": email, "workspace_id": s.wsID, "role": "viewer"})
		if st != http.StatusCreated {
			t.Fatalf("invite: %d %v", st, inv)
		}
		return inv["accept_url"].(string)
	}
	open := func(c *http.Client, link string) string {
		t.Helper()
		_, secret, _ := strings.Cut(link, "#token=")
		resp, err := c.PostForm(s.url+"/invite", url.Values{"code": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), secret) {
			t.Error("the invitation page holds the secret")
		}
		return string(b)
	}
	jar, _ := cookiejar.New(nil)
	newcomer := &http.Client{Jar: jar}
	page := open(newcomer, invite("new@example.com"))
	for _, want := range []string{"as <strong>viewer</strong>", "new@example.com", "Create my account and accept", "Sign in"} {
		if !strings.Contains(page, want) {
			t.Errorf("the invitation page lacks %q", want)
		}
	}
	resp, err := newcomer.PostForm(s.url+"/invite/signup", url.Values{"name": {"New Person"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "your account is ready") || resp.Request.URL.Path != "/w/"+s.wsID {
		t.Errorf("after signing up: %s %d", resp.Request.URL, resp.StatusCode)
	}
	// A signed-in person accepts with their account.
	if _, err := s.m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "old", Email: "old@example.com"}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.m.CreateToken(ctx, tenancy.User("old"), tenancy.NewToken{Name: "t", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	jar2, _ := cookiejar.New(nil)
	old := &http.Client{Jar: jar2}
	if _, err := old.PostForm(s.url+"/signin", url.Values{"token": {tok.Secret}}); err != nil {
		t.Fatal(err)
	}
	page = open(old, invite("old@example.com"))
	if !strings.Contains(page, "Accept with my account") {
		t.Fatal("a signed-in person is not offered to accept")
	}
	resp, err = old.PostForm(s.url+"/invite/accept", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if mb, err := s.m.GetMember(ctx, tenancy.System(), s.wsID, "old"); err != nil || mb.Role != "viewer" {
		t.Errorf("after accepting: %v %v", mb, err)
	}
}
