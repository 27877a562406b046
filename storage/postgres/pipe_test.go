package postgres_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/workspace"
)

// The writes an Update holds back (counters, feed appends) ride with the next
// statement or the COMMIT. These tests pin what that must not change: a held write
// that fails fails the Update with nothing stored, a refused Update sends none of
// them, and the round trips are fewer than the statements.
func TestHeldWrites(t *testing.T) {
	ctx := context.Background()
	s, _ := openDefault(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(id string) storage.Event {
		return storage.Event{ID: id, Type: "workspace.created", WorkspaceID: "ws_1", Actor: "u1", Time: now, Data: map[string]string{"k": "v"}}
	}
	counter := func() int64 {
		var n int64
		if err := s.View(ctx, func(r storage.Reader) error { var err error; n, err = r.Counter("c"); return err }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	events := func() int {
		n := 0
		if err := s.View(ctx, func(r storage.Reader) error {
			return r.ScanEvents("", func(storage.Event) bool { n++; return true })
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("committed with the COMMIT", func(t *testing.T) {
		before := s.Stats()
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			if err := tx.CreateUser(member.User{ID: "u1", Email: "u1@example.com", CreatedAt: now}); err != nil {
				return err
			}
			if err := tx.AddCounter("c", 2); err != nil {
				return err
			}
			return tx.AppendEvent(ev("ev_1"))
		})
		if err != nil {
			t.Fatal(err)
		}
		after := s.Stats()
		// BEGIN rides with the insert; the counter and the event with the COMMIT.
		if st, rt := after.Statements-before.Statements, after.RoundTrips-before.RoundTrips; st != 5 || rt != 2 {
			t.Errorf("statements %d, round trips %d; want 5 and 2", st, rt)
		}
		if n := counter(); n != 2 {
			t.Errorf("counter = %d, want 2", n)
		}
		if n := events(); n != 1 {
			t.Errorf("events = %d, want 1", n)
		}
	})

	t.Run("a held write that fails fails the Update", func(t *testing.T) {
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			if err := tx.CreateWorkspace(workspace.Workspace{ID: "ws_2", Slug: "two", Name: "Two", Status: workspace.Active, OwnerID: "u1", CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			if err := tx.AppendEvent(ev("ev_2")); err != nil {
				return err
			}
			return tx.AddCounter("c", math.MaxInt64) // 2 + MaxInt64 overflows bigint
		})
		if err == nil {
			t.Fatal("an Update whose held counter overflows committed")
		}
		if errors.Is(err, postgres.ErrAmbiguousCommit) {
			t.Errorf("the server refused the commit, yet the error says ambiguous: %v", err)
		}
		if n := counter(); n != 2 {
			t.Errorf("counter = %d after a failed Update, want 2", n)
		}
		if n := events(); n != 1 {
			t.Errorf("events = %d after a failed Update, want 1", n)
		}
		err = s.View(ctx, func(r storage.Reader) error { _, err := r.GetWorkspace("ws_2"); return err })
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the workspace written before the failed held write: %v, want ErrNotFound", err)
		}
	})

	t.Run("a held write that fails answers the next read", func(t *testing.T) {
		var readErr error
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			if err := tx.AddCounter("c", math.MaxInt64); err != nil {
				return err
			}
			_, readErr = tx.GetUser("u1")
			return nil
		})
		if readErr == nil || errors.Is(readErr, storage.ErrNotFound) {
			t.Errorf("the read that carried the failing write answered %v, want the failure", readErr)
		}
		if err == nil {
			t.Fatal("the Update committed")
		}
		if n := counter(); n != 2 {
			t.Errorf("counter = %d, want 2", n)
		}
	})

	t.Run("a refused Update sends nothing it held", func(t *testing.T) {
		before := s.Stats()
		refused := errors.New("refused")
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			if err := tx.AddCounter("c", 7); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("Update = %v, want the refusal", err)
		}
		if rt := s.Stats().RoundTrips - before.RoundTrips; rt != 0 {
			t.Errorf("a refused Update that only held writes made %d round trips, want 0", rt)
		}
		if n := counter(); n != 2 {
			t.Errorf("counter = %d, want 2", n)
		}
	})

	// A membership of a workspace inserted in the same transaction is held too:
	// no committed row can collide with it, and one inserted here is refused at the
	// call.
	t.Run("a new workspace's memberships ride with the COMMIT", func(t *testing.T) {
		ws := workspace.Workspace{ID: "ws_3", Slug: "three", Name: "Three", Status: workspace.Active, OwnerID: "u1", CreatedAt: now, UpdatedAt: now}
		mb := member.Member{WorkspaceID: "ws_3", UserID: "u1", Role: "admin", Owner: true, JoinedAt: now, UpdatedAt: now}
		before := s.Stats()
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			if err := tx.CreateWorkspace(ws); err != nil {
				return err
			}
			if err := tx.CreateMember(mb); err != nil {
				return err
			}
			if err := tx.CreateMember(mb); storage.ConflictIndex(err) != storage.IndexMember {
				t.Errorf("a second insert of the same membership: %v, want a conflict on %s", err, storage.IndexMember)
			}
			return tx.AppendEvent(ev("ev_3"))
		})
		if err != nil {
			t.Fatal(err)
		}
		// BEGIN rides with the workspace's insert; the membership and the event with
		// the COMMIT.
		if rt := s.Stats().RoundTrips - before.RoundTrips; rt != 2 {
			t.Errorf("round trips %d, want 2", rt)
		}
		// In a transaction, what is held is what the next statement sees: a read, a
		// replace and a delete of the held membership, and an insert after the delete.
		err = s.Update(ctx, func(tx storage.ReadWriter) error {
			w4 := ws
			w4.ID, w4.Slug = "ws_4", "four"
			m4 := mb
			m4.WorkspaceID = "ws_4"
			if err := tx.CreateWorkspace(w4); err != nil {
				return err
			}
			if err := tx.CreateMember(m4); err != nil {
				return err
			}
			if got, err := tx.GetMember("ws_4", "u1"); err != nil || got.Role != "admin" {
				t.Errorf("GetMember of the held membership: %+v, %v", got, err)
			}
			m4.Role = "viewer"
			if err := tx.ReplaceMember(m4); err != nil {
				t.Errorf("ReplaceMember of the held membership: %v", err)
			}
			if err := tx.DeleteMember("ws_4", "u1"); err != nil {
				t.Errorf("DeleteMember of the held membership: %v", err)
			}
			return tx.CreateMember(m4)
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.View(ctx, func(r storage.Reader) error {
			for id, role := range map[string]string{"ws_3": "admin", "ws_4": "viewer"} {
				if got, err := r.GetMember(id, "u1"); err != nil || string(got.Role) != role {
					t.Errorf("%s's membership after commit: %+v, %v; want role %s", id, got, err, role)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a new workspace's held membership that collides fails the Update", func(t *testing.T) {
		// An orphan membership (no workspace holds it: only a hand edit makes one)
		// collides at the COMMIT; nothing of the Update stays.
		orphan := member.Member{WorkspaceID: "ws_5", UserID: "u1", Role: "viewer", JoinedAt: now, UpdatedAt: now}
		if err := s.Update(ctx, func(tx storage.ReadWriter) error { return tx.CreateMember(orphan) }); err != nil {
			t.Fatal(err)
		}
		err := s.Update(ctx, func(tx storage.ReadWriter) error {
			w5 := workspace.Workspace{ID: "ws_5", Slug: "five", Name: "Five", Status: workspace.Active, OwnerID: "u1", CreatedAt: now, UpdatedAt: now}
			if err := tx.CreateWorkspace(w5); err != nil {
				return err
			}
			return tx.CreateMember(member.Member{WorkspaceID: "ws_5", UserID: "u1", Role: "admin", Owner: true, JoinedAt: now, UpdatedAt: now})
		})
		if err == nil || errors.Is(err, postgres.ErrAmbiguousCommit) {
			t.Fatalf("an Update whose held membership collides: %v, want the server's refusal", err)
		}
		err = s.View(ctx, func(r storage.Reader) error { _, err := r.GetWorkspace("ws_5"); return err })
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the workspace of the failed Update: %v, want ErrNotFound", err)
		}
	})

	t.Run("a View is one round trip per read and the ROLLBACK", func(t *testing.T) {
		before := s.Stats()
		if err := s.View(ctx, func(r storage.Reader) error { _, err := r.GetUser("u1"); return err }); err != nil {
			t.Fatal(err)
		}
		if rt := s.Stats().RoundTrips - before.RoundTrips; rt != 2 {
			t.Errorf("round trips %d, want 2", rt)
		}
	})
}

// The name index takes inserts into a bounded pending list (migration 8), so a
// creation does not update the posting trees the most common grams share.
func TestNameIndexPendingList(t *testing.T) {
	ctx := context.Background()
	s, schema := openDefault(t)
	var opts []string
	err := s.Pool().QueryRow(ctx, `SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = 'tenancy_workspaces_name'`, schema).Scan(&opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(opts, "fastupdate=on") || !slices.Contains(opts, "gin_pending_list_limit=64") {
		t.Errorf("the name index's options are %q, want fastupdate=on and gin_pending_list_limit=64", opts)
	}
}

// openDefault opens a store with the default options on an empty, migrated schema
// of its own, closed when the test ends, and names the schema.
func openDefault(t *testing.T) (*postgres.Store, string) {
	url, schema := pgtest.StoreSchema(t)
	s, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, schema
}
