package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// startServe runs `serve` with args until the test ends and returns its address.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	addr, _, stop := serveInBackground(t, args...)
	t.Cleanup(func() { stop() })
	return addr
}

// Two serve processes on one PostgreSQL database, as two replicas behind a load
// balancer: what one writes the other reads, and a token revoked through one fails
// on the other at once.
func TestTwoServersOnOneDatabase(t *testing.T) {
	url, schema := pgtest.Schema(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db := url + sep + "search_path=" + schema
	key := filepath.Join(t.TempDir(), "tenancy.key")
	var out bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "admin@example.com", "-database", db, "-key-file", key}, nil, &out, io.Discard, os.Getenv); code != 0 {
		t.Fatalf("setup exited %d: %s", code, out.String())
	}
	admin := regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(out.String())[1]
	a := &testServer{url: "http://" + startServe(t, "-database", db, "-key-file", key)}
	// The second instance finds the database through the environment.
	t.Setenv("TENANCY_DATABASE_URL", db)
	b := &testServer{url: "http://" + startServe(t, "-key-file", key)}

	st, w := a.call(t, "POST", "/api/v1/user/workspaces", admin, map[string]string{"name": "Made on A"})
	want(t, "create on A", st, w, http.StatusCreated, "")
	st, got := b.call(t, "GET", "/api/v1/workspaces/"+w["workspace_id"].(string), admin, nil)
	want(t, "read on B", st, got, http.StatusOK, "")
	if got["name"] != "Made on A" {
		t.Errorf("B reads %v", got)
	}
	wsID := w["workspace_id"].(string)
	st, tok := b.call(t, "POST", "/api/v1/workspaces/"+wsID+"/tokens", admin, map[string]string{"name": "ci", "expires_in": "1d"})
	want(t, "token on B", st, tok, http.StatusCreated, "")
	secret := tok["token"].(string)
	st, body := a.call(t, "GET", "/api/v1/user/workspaces", secret, nil)
	want(t, "the token on A", st, body, http.StatusOK, "")
	st, body = b.call(t, "DELETE", "/api/v1/workspaces/"+wsID+"/tokens/"+tok["token_id"].(string), admin, nil)
	if st >= 300 {
		t.Fatalf("revoke on B: %d %v", st, body)
	}
	st, body = a.call(t, "GET", "/api/v1/user/workspaces", secret, nil)
	want(t, "the revoked token on A", st, body, http.StatusUnauthorized, "revoked")
}
