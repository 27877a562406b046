package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/workspace"
)

// A schema made with postgres.Portable uses nothing the distributed engines lack:
// no xid8 column, no pg_trgm extension or trigram index, and instances opening it
// at the same moment take turns through a locked row, not an advisory lock. Name
// searches still find what they should, without the index.
func TestPortableSchema(t *testing.T) {
	url, schema := pgtest.Schema(t)
	// A schema nobody has created yet: the instances race to create it too.
	schema += "_fresh"
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), url); err == nil {
			_, _ = c.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = c.Close(context.Background())
		}
	})
	opts := postgres.Portable
	opts.Schema = schema

	// Four instances migrate one fresh schema at once, creating it.
	stores := make([]*postgres.Store, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(ctx, url, opts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}

	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var xidType string
	if err := c.QueryRow(ctx, `SELECT data_type FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = 'tenancy_events' AND column_name = 'xid'`, schema).Scan(&xidType); err != nil {
		t.Fatal(err)
	}
	if xidType != "bigint" {
		t.Errorf("events.xid is %s, want bigint", xidType)
	}
	var trigram int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%gin_trgm_ops%'`, schema).Scan(&trigram); err != nil {
		t.Fatal(err)
	}
	if trigram != 0 {
		t.Errorf("%d trigram indexes in a portable schema", trigram)
	}
	var lockRows int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "tenancy_migration_lock"}.Sanitize()).Scan(&lockRows); err != nil {
		t.Fatal(err)
	}
	if lockRows != 1 {
		t.Errorf("migration lock table holds %d rows, want 1", lockRows)
	}

	// A schema without xid8 cannot serve the transaction-ID feed: refused, not broken.
	if _, err := postgres.Open(ctx, url, postgres.Options{Schema: schema}); !errors.Is(err, postgres.ErrSchema) {
		t.Errorf("the transaction-ID feed on a portable schema: %v, want ErrSchema", err)
	}
	for _, bad := range []postgres.Options{{Schema: schema, Feed: postgres.FeedHeadRow, Search: "fuzzy"}, {Schema: schema, Feed: postgres.FeedHeadRow, MigrationLock: "none"}} {
		if _, err := postgres.Open(ctx, url, bad); err == nil {
			t.Errorf("Open(%+v) accepted an unknown strategy", bad)
		}
	}

	// The scanning search (the backend's, as platform listings use it), past one
	// page of matches and across the table.
	m, err := tenancy.New(stores[0], tenancy.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	owner := tenancy.User("u_owner")
	if _, err := m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "u_owner", Email: "owner@example.com"}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		name := "Blue team"
		if i%3 == 0 {
			name = "Red team"
		}
		if _, err := m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	for needle, want := range map[string]int{"red": 10, "TEAM": 30, "green": 0, "e t": 20} {
		got := 0
		opts := workspace.ListOptions{NameContains: needle, Limit: 7}
		for {
			page, err := m.ListAllWorkspaces(ctx, tenancy.System(), opts) // through SearchWorkspaces
			if err != nil {
				t.Fatal(err)
			}
			got += len(page.Items)
			if !page.HasMore {
				break
			}
			opts.Cursor = page.NextCursor
		}
		if got != want {
			t.Errorf("name_contains %q: %d workspaces, want %d", needle, got, want)
		}
	}
	if findings, err := m.Verify(ctx); err != nil || len(findings) > 0 {
		t.Errorf("Verify: %v %v", findings, err)
	}
}

// The membership row's decision columns (the workspace's status, the user's
// platform flag and suspension) and a workspace token's copy of its workspace's
// status follow every change through the Manager; a member's Authorize and an
// Authenticate read one row; Check reports a row that disagrees with its sources.
func TestMemberDecisionColumns(t *testing.T) {
	url, schema := pgtest.Schema(t)
	m, s := openManager(t, url, schema)
	for _, id := range []string{"own", "ed"} {
		if _, err := m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: id, Email: id + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := m.CreateWorkspace(ctx, tenancy.User("own"), tenancy.NewWorkspace{Name: "W"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddMember(ctx, tenancy.User("own"), w.ID, tenancy.NewMember{UserID: "ed", Role: rbac.Editor}); err != nil {
		t.Fatal(err)
	}
	// oneRow makes a decision and checks its outcome, that it took one round trip
	// (the row that carries the copies), and that every copy agrees with its source.
	oneRow := func(what string, want error, decide func() error) {
		t.Helper()
		before := s.RoundTrips()
		err := decide()
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
		if n := s.RoundTrips() - before; n != 1 {
			t.Errorf("%s took %d round trips, want 1", what, n)
		}
		if findings, err := s.Check(ctx); err != nil || len(findings) > 0 {
			t.Errorf("Check after %s: %v %v", what, findings, err)
		}
	}
	authorizeTo := func(action rbac.Action, want error) {
		t.Helper()
		oneRow("a member's Authorize", want, func() error { return m.Authorize(ctx, tenancy.User("ed"), w.ID, action) })
	}
	authorize := func(want error) { t.Helper(); authorizeTo(rbac.WriteContent, want) }
	authorize(nil)
	if _, err := m.DeactivateWorkspace(ctx, tenancy.User("own"), w.ID); err != nil {
		t.Fatal(err)
	}
	authorize(tenancy.ErrFailedPrecondition)
	if _, err := m.ReactivateWorkspace(ctx, tenancy.User("own"), w.ID); err != nil {
		t.Fatal(err)
	}
	authorize(nil)
	if _, err := m.SuspendUser(ctx, tenancy.System(), "ed"); err != nil {
		t.Fatal(err)
	}
	authorize(tenancy.ErrUnauthenticated)
	if _, err := m.ReactivateUser(ctx, tenancy.System(), "ed"); err != nil {
		t.Fatal(err)
	}
	authorize(nil)
	// Platform powers reach a member's decision too, and leave with the flag.
	authorizeTo(rbac.ManageMembers, tenancy.ErrPermissionDenied)
	if _, err := m.SetPlatform(ctx, tenancy.System(), "ed", true); err != nil {
		t.Fatal(err)
	}
	authorizeTo(rbac.ManageMembers, nil)
	if _, err := m.SetPlatform(ctx, tenancy.System(), "ed", false); err != nil {
		t.Fatal(err)
	}
	authorizeTo(rbac.ManageMembers, tenancy.ErrPermissionDenied)

	// A workspace token carries its workspace's status: Authenticate reads its row
	// alone and sees a deletion and a restore.
	tok, err := m.CreateToken(ctx, tenancy.User("own"), tenancy.NewToken{Name: "ci", WorkspaceID: w.ID, Lifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	authenticate := func(want error) {
		t.Helper()
		oneRow("Authenticate", want, func() error { _, err := m.Authenticate(ctx, tok.Secret); return err })
	}
	authenticate(nil)
	if _, err := m.DeleteWorkspace(ctx, tenancy.User("own"), w.ID); err != nil {
		t.Fatal(err)
	}
	authenticate(tenancy.ErrUnauthenticated)
	if _, err := m.RestoreWorkspace(ctx, tenancy.User("own"), w.ID); err != nil {
		t.Fatal(err)
	}
	authenticate(nil)
	before := s.RoundTrips()
	if _, err := m.Authenticate(ctx, "tnc_"+strings.Repeat("x", 40)); !errors.Is(err, tenancy.ErrUnauthenticated) || s.RoundTrips()-before > 1 {
		t.Errorf("Authenticate of junk: %v in %d round trips", err, s.RoundTrips()-before)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE "+s.Table("tokens")+" SET ws_status = 'active' WHERE workspace_id <> ''"); err != nil {
		t.Fatal(err)
	}
	if findings, err := s.Check(ctx); err != nil || len(findings) != 0 {
		t.Errorf("Check with the tokens' copies right: %v %v", findings, err)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE "+s.Table("tokens")+" SET ws_status = 'deleted' WHERE workspace_id <> ''"); err != nil {
		t.Fatal(err)
	}
	if findings, err := s.Check(ctx); err != nil || len(findings) != 1 || !strings.Contains(findings[0], "workspace token") {
		t.Errorf("Check of a damaged token row: %v %v", findings, err)
	}
	if _, err := s.Pool().Exec(ctx, "UPDATE "+s.Table("tokens")+" SET ws_status = 'active' WHERE workspace_id <> ''"); err != nil {
		t.Fatal(err)
	}

	// A row that disagrees with its workspace is reported.
	if _, err := s.Pool().Exec(ctx, "UPDATE "+s.Table("members")+" SET ws_status = 'inactive' WHERE user_id = 'ed'"); err != nil {
		t.Fatal(err)
	}
	findings, err := s.Check(ctx)
	if err != nil || len(findings) != 1 || !strings.Contains(findings[0], "decision columns") {
		t.Errorf("Check of a damaged membership row: %v %v", findings, err)
	}
	// With a stale token copy too (as an older instance would leave), MendCopies
	// rewrites both and nothing else; then Check is clean and decisions right.
	if _, err := s.Pool().Exec(ctx, "UPDATE "+s.Table("tokens")+" SET ws_status = 'deleted' WHERE workspace_id <> ''"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MendCopies(ctx); err != nil || n != 2 {
		t.Errorf("MendCopies: %d rows, %v; want 2", n, err)
	}
	authorize(nil)
	authenticate(nil)
	if n, err := s.MendCopies(ctx); err != nil || n != 0 {
		t.Errorf("MendCopies of healthy copies: %d rows, %v; want 0", n, err)
	}
}
