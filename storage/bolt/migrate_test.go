package bolt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/workspace"
)

// fixtureV1 describes testdata/v1.db, a store written by the schema-1 code (before
// feed positions and the retention index): 4 users (ops is platform), Acme (ada
// owns it; bob editor, cyd viewer through an accepted invitation, a pending
// invitation to dee), Beta (bob's, external ID crm-1, inactive), Gone (cyd's,
// deleted), a workspace token, a personal token and a revoked one, and 18 events.
type fixtureV1 struct {
	SecretKey         string   `json:"secret_key"`
	Acme              string   `json:"acme"`
	Beta              string   `json:"beta"`
	Gone              string   `json:"gone"`
	WorkspaceToken    string   `json:"workspace_token"`
	PersonalToken     string   `json:"personal_token"`
	RevokedToken      string   `json:"revoked_token"`
	PendingInvitation string   `json:"pending_invitation"`
	Events            []string `json:"events"` // "ID type", in feed order
}

// copyFixture copies the committed v1 file into a temp dir: tests never change it.
func copyFixture(t *testing.T) (string, fixtureV1) {
	t.Helper()
	b, err := os.ReadFile("testdata/v1.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v1.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var f fixtureV1
	j, err := os.ReadFile("testdata/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &f); err != nil {
		t.Fatal(err)
	}
	return path, f
}

func schemaOf(t *testing.T, path string) byte {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v byte
	_ = db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte("tenancy.meta")); b != nil {
			if s := b.Get([]byte("schema")); len(s) == 1 {
				v = s[0]
			}
		}
		return nil
	})
	return v
}

// TestOpensASchema1File opens a file written by the previous schema: the migration
// runs once, in one transaction, and every record, secret and the feed's order
// survive it.
func TestOpensASchema1File(t *testing.T) {
	ctx := context.Background()
	path, f := copyFixture(t)
	if v := schemaOf(t, path); v != 1 {
		t.Fatalf("the fixture has schema %d, want 1", v)
	}
	// Read-only, the old file is refused with a clear error, not misread.
	ro, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bolt.New(ro); !errors.Is(err, bolt.ErrSchema) || !strings.Contains(err.Error(), "migrate") {
		t.Errorf("a read-only schema-1 file: %v", err)
	}
	_ = ro.Close()

	open := func() (*tenancy.Manager, *bolt.Store) {
		s, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		m, err := tenancy.New(s, tenancy.Options{SecretKey: []byte(f.SecretKey)})
		if err != nil {
			t.Fatal(err)
		}
		return m, s
	}
	m, s := open()
	if v := schemaOf2(t, s); v != bolt.SchemaVersion {
		t.Errorf("after opening: schema %d, want %d", v, bolt.SchemaVersion)
	}
	check := func(m *tenancy.Manager) {
		t.Helper()
		findings, err := m.Verify(ctx)
		if err != nil || len(findings) != 0 {
			t.Fatalf("Verify: %v %v", findings, err)
		}
		sys := tenancy.System()
		// The feed keeps its order, every event once, with positions now.
		var got []string
		cursor := ""
		for {
			pg, err := m.Feed(ctx, sys, tenancy.EventListOptions{Limit: 7, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range pg.Items {
				got = append(got, e.ID+" "+e.Type)
			}
			cursor = pg.NextCursor
			if !pg.HasMore {
				break
			}
		}
		if strings.Join(got[:len(f.Events)], "\n") != strings.Join(f.Events, "\n") {
			t.Errorf("feed after migration:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(f.Events, "\n"))
		}
		// Secrets still verify; the revoked one is still revoked.
		for _, secret := range []string{f.WorkspaceToken, f.PersonalToken} {
			if _, err := m.Authenticate(ctx, secret); err != nil {
				t.Errorf("a token of the old file: %v", err)
			}
		}
		if _, err := m.Authenticate(ctx, f.RevokedToken); !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("the revoked token: %v", err)
		}
		if info, err := m.InvitationBySecret(ctx, f.PendingInvitation); err != nil || info.Email != "dee@example.com" {
			t.Errorf("the pending invitation: %+v %v", info, err)
		}
		st, err := m.Stats(ctx, sys)
		if err != nil || st.Active != 1 || st.Inactive != 1 || st.Deleted != 1 {
			t.Errorf("stats: %+v %v", st, err)
		}
		// The retention index was built: the deleted workspace is found through it.
		del, err := m.ListWorkspaces(ctx, sys, workspace.ListOptions{Status: workspace.Deleted})
		if err != nil || len(del.Items) != 1 || del.Items[0].ID != f.Gone {
			t.Errorf("deleted workspaces: %+v %v", del.Items, err)
		}
	}
	check(m)
	// New events sort after the migrated ones.
	if _, err := m.UpdateWorkspace(ctx, tenancy.User("ada"), f.Acme, tenancy.WorkspaceUpdate{Name: ptr("Acme 2")}); err != nil {
		t.Fatal(err)
	}
	pg, err := m.ListEvents(ctx, tenancy.User("ada"), f.Acme, tenancy.EventListOptions{Limit: 100})
	if err != nil || len(pg.Items) == 0 || pg.Items[len(pg.Items)-1].Type != "workspace.updated" {
		t.Errorf("the audit log after a new event: %+v %v", pg.Items, err)
	}
	_ = m.Close()
	_ = s.Close()

	// The migration ran once: reopening the store needs no write at all.
	before, _ := os.ReadFile(path)
	s2, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s2.Close()
	if after, _ := os.ReadFile(path); string(before) != string(after) {
		t.Error("reopening a migrated file wrote to it")
	}
	m, s = open()
	check(m)
	_ = m.Close()
	_ = s.Close()
	// Retention purges the deleted workspace through the new index.
	m, s = open()
	defer s.Close()
	defer m.Close()
	if n, err := m.PurgeDeleted(ctx, tenancy.System(), 0); err != nil || n != 1 {
		t.Errorf("PurgeDeleted: %d %v", n, err)
	}
}

func schemaOf2(t *testing.T, s *bolt.Store) byte {
	t.Helper()
	var v byte
	_ = s.DB().View(func(tx *bbolt.Tx) error {
		v = tx.Bucket([]byte("tenancy.meta")).Get([]byte("schema"))[0]
		return nil
	})
	return v
}

func ptr[T any](v T) *T { return &v }

// A schema-2 file with enough workspaces for the schema-3 migration to build its
// indexes in many passes (statuses mixed, names sharing grams and not) comes out
// with indexes the store's own check, and searches, agree with.
func TestMigratesSchema2SearchIndexesInPasses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		if err := tx.CreateUser(member.User{ID: "u1", Email: "u1@example.com"}); err != nil {
			return err
		}
		for i := range 600 {
			w := workspace.Workspace{ID: fmt.Sprintf("ws_%04d", i), Slug: fmt.Sprintf("s-%04d", i), Name: fmt.Sprintf("Workspace %d", i),
				Status: workspace.Active, OwnerID: "u1"}
			switch {
			case i%7 == 0:
				w.Name = fmt.Sprintf("Ünïcode Straße %d", i)
			case i%5 == 0:
				w.Status = workspace.Inactive
			case i%11 == 0:
				w.Status = workspace.Deleted
			}
			if err := tx.CreateWorkspace(w); err != nil {
				return err
			}
		}
		return nil
	})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Back to schema 2: no search indexes.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range []string{"tenancy.workspaces.status", "tenancy.workspaces.gram", "tenancy.workspaces.gramn"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("tenancy.meta")).Put([]byte("schema"), []byte{2})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	migrateAndCheck(t, path)
	// A migration a crash stopped half-way: schema 2, indexes partly written (here,
	// entries no workspace has). The next open builds them again from empty.
	db, err = bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket([]byte("tenancy.workspaces.gram")).Put([]byte("3zzz\x00ws_9999"), nil); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("tenancy.workspaces.gramn")).Put([]byte("3zzz"), []byte{0, 0, 0, 0, 0, 0, 0, 1}); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("tenancy.workspaces.status")).Put([]byte("active\x00ws_9999"), nil); err != nil {
			return err
		}
		return tx.Bucket([]byte("tenancy.meta")).Put([]byte("schema"), []byte{2})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	migrateAndCheck(t, path)
}

// migrateAndCheck opens a schema-2 file at path, so it migrates in small passes,
// and checks its indexes: the store's own check, and searches against scans.
func migrateAndCheck(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	defer bolt.SetMigrateBatch(200)()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if findings, err := s.Check(ctx); err != nil || len(findings) != 0 {
		t.Fatalf("Check after migration: %v %v", findings, err)
	}
	err = s.View(ctx, func(tx storage.Reader) error {
		for _, q := range []storage.WorkspaceQuery{{NameContains: "workspace 12"}, {NameContains: "straße 7"}, {Status: workspace.Inactive}, {NameContains: "ace 5", Status: workspace.Deleted}} {
			var got, want []string
			if err := tx.(storage.WorkspaceSearcher).SearchWorkspaces(q, "", func(w workspace.Workspace) bool { got = append(got, w.ID); return true }); err != nil {
				return err
			}
			if err := tx.ScanWorkspaces("", func(w workspace.Workspace) bool {
				if q.Match(w) {
					want = append(want, w.ID)
				}
				return true
			}); err != nil {
				return err
			}
			if len(want) == 0 || !slices.Equal(got, want) {
				t.Errorf("%+v: search %v, scan %v", q, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
