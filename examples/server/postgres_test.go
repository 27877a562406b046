package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/postgres"
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
	db := url + sep + "search_path=" + schema + ",public" // public: where pg_trgm may already live
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

// A PostgreSQL store is backed up with pg_dump of its schema: restored into
// another database (with the pg_trgm extension the schema's name index uses), it
// passes Verify and serves the same tokens with the same key.
func TestPgDumpRestore(t *testing.T) {
	url, schema := pgtest.Schema(t)
	dumps, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if len(dumps) == 0 {
		t.Skip("no pg_dump (Debian's postgresql-client)")
	}
	sort.Strings(dumps)
	bin := filepath.Dir(dumps[len(dumps)-1])
	key := bytes.Repeat([]byte{9}, 32)
	store, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	sys := tenancy.System()
	if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "u1", Email: "u1@example.com"}); err != nil {
		t.Fatal(err)
	}
	w, err := m.CreateWorkspace(ctx, tenancy.User("u1"), tenancy.NewWorkspace{Name: "Dumped"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.CreateToken(ctx, tenancy.User("u1"), tenancy.NewToken{Name: "kept", WorkspaceID: w.ID, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	store.Close()

	dump := filepath.Join(t.TempDir(), "dump.sql")
	if out, err := exec.Command(filepath.Join(bin, "pg_dump"), "--dbname="+url, "--schema="+schema, "--no-owner", "--file="+dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	// The restore goes to a fresh database on the same server.
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := "restore_" + strings.TrimPrefix(schema, "t_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)") })
	cfg, _ := pgx.ParseConfig(url)
	restored := strings.Replace(url, "/"+cfg.Database+"?", "/"+db+"?", 1)
	if restored == url {
		restored = strings.Replace(url, "/"+cfg.Database, "/"+db, 1)
	}
	if out, err := exec.Command(filepath.Join(bin, "psql"), "--dbname="+restored, "-v", "ON_ERROR_STOP=1", "-q",
		"-c", "CREATE EXTENSION IF NOT EXISTS pg_trgm", "-f", dump).CombinedOutput(); err != nil {
		t.Fatalf("psql restore: %v: %s", err, out)
	}
	store, err = postgres.Open(ctx, restored, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err = tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
		t.Errorf("the restored store: %v %v", findings, err)
	}
	if p, err := m.Authenticate(ctx, tok.Secret); err != nil || p.TokenID() != tok.Token.ID {
		t.Errorf("the token in the restored store: %v %v", p, err)
	}
}

// server migrate moves a bbolt store to PostgreSQL and back: each target passes
// Verify and serves the setup's admin token with the same key.
func TestMigrateBoltToPostgresAndBack(t *testing.T) {
	url, schema := pgtest.Schema(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db := url + sep + "search_path=" + schema + ",public" // public: where pg_trgm may already live
	dir := t.TempDir()
	data := filepath.Join(dir, "t.db")
	admin := setupBolt(t, data)
	var o, e bytes.Buffer
	if code := run(ctx, []string{"migrate", "-from", "bolt:" + data, "-to", db}, nil, &o, &e, os.Getenv); code != 0 || !strings.Contains(o.String(), "passes Verify") {
		t.Fatalf("bolt to postgres: %d %s %s", code, o.String(), e.String())
	}
	back := filepath.Join(dir, "back.db")
	o.Reset()
	if code := run(ctx, []string{"migrate", "-from", db, "-to", "bolt:" + back, "-key-file", data + ".key"}, nil, &o, &e, os.Getenv); code != 0 {
		t.Fatalf("postgres to bolt: %d %s %s", code, o.String(), e.String())
	}
	e.Reset()
	if code := run(ctx, []string{"migrate", "-from", "bolt:" + data, "-to", db}, nil, io.Discard, &e, os.Getenv); code == 0 || !strings.Contains(e.String(), "not empty") {
		t.Errorf("a migration into a full target: %d %s", code, e.String())
	}
	key, _ := os.ReadFile(data + ".key")
	store, err := bolt.Open(back, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Authenticate(ctx, admin); err != nil {
		t.Errorf("the admin token after two moves: %v", err)
	}
}

// /readyz answers 503 while the database does not answer (a primary down) and 200
// again once it does, without restarting the server.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	url, schema := pgtest.Schema(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db := url + sep + "search_path=" + schema + ",public"
	key := filepath.Join(t.TempDir(), "tenancy.key")
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-database", db, "-key-file", key}, nil, io.Discard, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	addr := startServe(t, "-database", db, "-key-file", key, "-verify=false")
	status := func() int {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != http.StatusOK {
		t.Fatalf("readyz with the database up: %d", s)
	}
	if err := pgtest.Kill(); err != nil {
		t.Skipf("the test server is not this process's to kill: %v", err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = pgtest.Restart()
		}
	}()
	if s := status(); s != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down: %d, want 503", s)
	}
	if err := pgtest.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	for i := 0; status() != http.StatusOK; i++ { // the pool reconnects on its own
		if i == 300 {
			t.Fatal("readyz did not come back within 30 s of the database")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
