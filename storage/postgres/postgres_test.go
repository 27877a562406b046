package postgres_test

import (
	"context"
	"errors"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/storage/storagetest"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// opener returns a newStore for the kit: each store gets a schema of its own, empty
// and fully migrated.
func opener(feed postgres.FeedStrategy) func(t *testing.T) storage.Storage {
	return openerWith(postgres.Options{Feed: feed})
}

// openerWith is opener for any options; schemas are recycled only between stores
// whose migrations make the same schema.
func openerWith(opts postgres.Options) func(t *testing.T) storage.Storage {
	flavor := string(opts.Feed) + "/" + string(opts.Search)
	return func(t *testing.T) storage.Storage {
		url, schema := pgtest.StoreSchemaOf(t, flavor)
		o := opts
		o.Schema = schema
		s, err := postgres.Open(context.Background(), url, o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// The principal grid runs once on PostgreSQL, under the portable options (the
// head-row feed among them): its rows run side by side, and the transaction-ID
// feed's watermark is the whole server's, so one row's open transaction would hold
// back what another row's dump of the feed shows. The grid tries authorization,
// which neither the feed strategy nor the search touches, so it runs once.
func TestConformance(t *testing.T) {
	storagetest.Run(t, opener(postgres.FeedTransactionIDs),
		storagetest.WithoutPrincipalGrid("TestConformancePortable runs the principal grid on PostgreSQL"), pgCapabilities)
}

// The head-row feed on a schema made for the transaction-ID feed (an xid8 column):
// how a database made before the portable options runs it.
func TestConformanceHeadRowFeed(t *testing.T) {
	storagetest.Run(t, headRowOnXid8,
		storagetest.WithoutPrincipalGrid("TestConformancePortable runs the principal grid on PostgreSQL"), pgCapabilities)
}

// headRowOnXid8 opens the head-row feed on a schema the default options made: the
// default open records its feed strategy, which is forgotten before the head-row
// open, as on a database made by a build before the portable options.
func headRowOnXid8(t *testing.T) storage.Storage {
	url, schema := pgtest.StoreSchemaOf(t, "head-row on xid8")
	first, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	_, err = first.Pool().Exec(context.Background(), "DELETE FROM "+first.Table("settings")+" WHERE name = 'feed_strategy'")
	_ = first.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema, Feed: postgres.FeedHeadRow})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The switches for PostgreSQL-compatible distributed engines (no xid8, no pg_trgm,
// no advisory locks), forced on over real PostgreSQL: the whole kit, principal grid
// included, on the SQL those engines are given. The grid runs under the default
// policy: the other two differ in the Manager's decisions, which memory and bolt
// try in full, and each costs PostgreSQL about 35 s of schemas.
func TestConformancePortable(t *testing.T) {
	storagetest.Run(t, openerWith(postgres.Portable), pgCapabilities, storagetest.WithGridPolicies("default"))
}

var pgCapabilities = storagetest.WithCapabilities(storagetest.Search | storagetest.Prefetch | storagetest.FullScan |
	storagetest.SuspendedScan | storagetest.Checks | storagetest.Durability)

type userT = member.User

func userRec(id, email string) member.User { return member.User{ID: id, Email: email} }

// sortBytes sorts as the contract orders keys: bytewise (Go compares strings so).
func sortBytes(s []string) { sort.Strings(s) }

// New uses the host's pool and leaves it open; a second open of the same schema
// with another feed strategy is refused.
func TestNewWithAHostPool(t *testing.T) {
	url, schema := pgtest.Schema(t)
	s1, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := postgres.New(s1.Pool(), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s1.Pool().Ping(context.Background()); err != nil {
		t.Errorf("New's Close closed the host's pool: %v", err)
	}
	if _, err := postgres.New(s1.Pool(), postgres.Options{Schema: schema, Feed: postgres.FeedHeadRow}); !errors.Is(err, postgres.ErrSchema) {
		t.Errorf("another feed strategy on the same schema: %v", err)
	}
	if _, err := postgres.New(nil, postgres.Options{}); err == nil {
		t.Error("New(nil) accepted")
	}
}

// Migration 3 gives the tokens of users suspended under schema 2 their mark, and
// migration 7 the memberships their decision columns.
func TestMigrationMarksSuspendedUsersTokens(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.Schema(t)
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		for i, id := range []string{"active", "suspended"} {
			u := userRec(id, id+"@example.com")
			if id == "suspended" {
				u.SuspendedAt = t0
			}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
			if err := tx.CreateToken(token.Token{ID: "tok_" + id, Kind: token.Personal, Name: "t", UserID: id,
				Hash: []byte{byte(i + 1)}, Hint: "h", CreatedAt: t0}); err != nil {
				return err
			}
		}
		if err := tx.CreateWorkspace(workspace.Workspace{ID: "ws_m", Slug: "m", Name: "M", Status: workspace.Inactive, OwnerID: "active", CreatedAt: t0}); err != nil {
			return err
		}
		for _, id := range []string{"active", "suspended"} {
			if err := tx.CreateMember(member.Member{WorkspaceID: "ws_m", UserID: id, Role: rbac.Editor, Owner: id == "active", JoinedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Back to schema 2: no column, no schema-4 column or index, no schema-6 tables, version 2.
	p := pgx.Identifier{schema}.Sanitize() + ".tenancy_"
	q := "ALTER TABLE " + p + "tokens DROP COLUMN user_suspended; ALTER TABLE " + p + "workspaces DROP COLUMN deleted_from; " +
		"ALTER TABLE " + p + "workspaces DROP COLUMN flags; " +
		"ALTER TABLE " + p + "members DROP COLUMN ws_status, DROP COLUMN user_platform, DROP COLUMN user_suspended_at; " +
		"ALTER TABLE " + p + "tokens DROP COLUMN ws_status; " +
		"DROP TABLE " + p + "webhook_attempts, " + p + "webhooks, " + p + "consumers; " +
		"DROP INDEX " + pgx.Identifier{schema}.Sanitize() + ".tenancy_users_suspended; UPDATE " + p + "schema_version SET version = 2"
	if _, err := s.Pool().Exec(ctx, q); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(ctx, func(tx storage.Reader) error {
		for id, want := range map[string]bool{"tok_active": false, "tok_suspended": true} {
			k, err := tx.GetToken(id)
			if err != nil || k.UserSuspended != want {
				t.Errorf("%s after migrating: marked %v, want %v (%v)", id, k.UserSuspended, want, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Migration 7 gives the memberships their decision columns: Check agrees, and a
	// member's prefetch (one row) sees the suspension and the workspace's status.
	if findings, err := s.Check(ctx); err != nil || len(findings) > 0 {
		t.Errorf("Check after migrating: %v %v", findings, err)
	}
	before := s.RoundTrips()
	got, err := s.Prefetch(ctx, storage.PrefetchKeys{UserID: "suspended", User: true, WorkspaceID: "ws_m"})
	if err != nil || got.User == nil || !got.User.SuspendedAt.Equal(t0) || got.Workspace == nil || got.Workspace.Status != workspace.Inactive ||
		got.Member == nil || got.Member.Role != rbac.Editor {
		t.Errorf("a migrated member's prefetch: %+v %v", got, err)
	}
	if n := s.RoundTrips() - before; n != 1 {
		t.Errorf("a migrated member's prefetch took %d round trips, want 1 (the membership row)", n)
	}
}
