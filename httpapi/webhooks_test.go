package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/webhook"
)

// The webhook routes, each request and answer checked against the OpenAPI
// document: register (the secret once), list, read, change, rotate, attempts,
// replay, delete; a workspace's endpoint with workspace_id in the body.
func TestWebhookRoutes(t *testing.T) {
	e := newAPIEnvManager(t, tenancy.Options{Webhooks: tenancy.WebhookOptions{Policy: webhook.Policy{}}}, nil)
	resp, body := e.do(t, "POST", "/webhooks", e.admin, map[string]any{"workspace_id": e.ws, "url": "https://hooks.example.com/t",
		"description": "provisioning", "event_types": []string{"workspace.created"}})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, body)
	}
	id, _ := body["webhook_id"].(string)
	secret, _ := body["secret"].(string)
	if !strings.HasPrefix(id, "whk_") || !strings.HasPrefix(secret, "whsec_") || body["workspace_id"] != e.ws {
		t.Fatalf("create answered %v", body)
	}
	resp, body = e.do(t, "GET", "/webhooks/"+id, e.admin, nil)
	if resp.StatusCode != 200 || body["secret"] != nil || body["description"] != "provisioning" {
		t.Errorf("get: %d %v (the secret must not come back)", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/webhooks?workspace_id="+e.ws, e.admin, nil)
	if data, _ := body["data"].([]any); resp.StatusCode != 200 || len(data) != 1 {
		t.Errorf("list: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/webhooks", e.admin, nil) // the platform's: none
	if data, _ := body["data"].([]any); resp.StatusCode != 200 || len(data) != 0 {
		t.Errorf("list the platform's: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "PATCH", "/webhooks/"+id, e.admin, map[string]any{"disabled": true, "description": "paused"})
	if resp.StatusCode != 200 || body["disabled"] != true || body["disabled_reason"] != "disabled" {
		t.Errorf("patch: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "PATCH", "/webhooks/"+id, e.admin, map[string]any{"url": "http://hooks.example.com/t"})
	if resp.StatusCode != 400 || !strings.Contains(body["message"].(string), "https") {
		t.Errorf("patch to http: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/webhooks/"+id+"/rotate-secret", e.admin, nil)
	if s, _ := body["secret"].(string); resp.StatusCode != 200 || !strings.HasPrefix(s, "whsec_") || s == secret {
		t.Errorf("rotate: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/webhooks/"+id+"/attempts?limit=10", e.admin, nil)
	if data, _ := body["data"].([]any); resp.StatusCode != 200 || len(data) != 0 {
		t.Errorf("attempts: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/webhooks/"+id+"/replay", e.admin, map[string]any{"from_position": ""})
	if resp.StatusCode != http.StatusAccepted || body["webhook_id"] != id {
		t.Errorf("replay: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/webhooks/"+id+"/replay", e.admin, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("replay without a body: %d %v", resp.StatusCode, body)
	}
	resp, body = e.do(t, "POST", "/webhooks", e.admin, map[string]any{"url": "https://10.0.0.1/x"})
	if resp.StatusCode != 400 || !strings.Contains(body["message"].(string), "not a public address") {
		t.Errorf("a private address: %d %v", resp.StatusCode, body)
	}
	resp, body = e.raw(t, "POST", "/webhooks", e.admin, map[string]any{"description": "no url"})
	if resp.StatusCode != 400 {
		t.Errorf("no url: %d %v", resp.StatusCode, body)
	}
	// Someone else's token sees nothing.
	if _, err := e.m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "eve", Email: "eve@example.com"}); err != nil {
		t.Fatal(err)
	}
	eve, err := e.m.CreateToken(ctx, tenancy.User("eve"), tenancy.NewToken{Name: "eve", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/webhooks/" + id}, {"DELETE", "/webhooks/" + id},
		{"GET", "/webhooks/" + id + "/attempts"}, {"POST", "/webhooks/" + id + "/rotate-secret"}, {"GET", "/webhooks?workspace_id=" + e.ws}} {
		if resp, body := e.do(t, c.method, c.path, eve.Secret, nil); resp.StatusCode != 404 {
			t.Errorf("%s %s as an outsider: %d %v", c.method, c.path, resp.StatusCode, body)
		}
	}
	resp, body = e.do(t, "DELETE", "/webhooks/"+id, e.admin, nil)
	if resp.StatusCode != 200 || body["deleted"] != true {
		t.Errorf("delete: %d %v", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, "GET", "/webhooks/"+id, e.admin, nil); resp.StatusCode != 404 {
		t.Errorf("get after delete: %d", resp.StatusCode)
	}
}

// GET /admin/backup streams the store for platform users; others get the API's
// JSON refusal before any byte; a memory store answers 409.
func TestBackupRoute(t *testing.T) {
	e := newAPIEnv(t)
	resp, body := e.raw(t, "GET", "/admin/backup", e.admin, nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body["message"].(string), "pg_dump") {
		t.Errorf("a memory store's backup: %d %v", resp.StatusCode, body)
	}
	if _, err := e.m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "eve", Email: "eve@example.com"}); err != nil {
		t.Fatal(err)
	}
	eve, _ := e.m.CreateToken(ctx, tenancy.User("eve"), tenancy.NewToken{Name: "eve", Lifetime: time.Hour})
	if resp, body := e.raw(t, "GET", "/admin/backup", eve.Secret, nil); resp.StatusCode != http.StatusForbidden || body["kind"] != "permission_denied" {
		t.Errorf("a member's backup: %d %v", resp.StatusCode, body)
	}
}
