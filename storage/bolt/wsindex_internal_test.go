package bolt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/internal/wsindex"
	"github.com/tenancykit/tenancy/workspace"
)

// Check finds damage to each workspace index, through the shared checks over
// bolt's buckets.
func TestCheckFindsWorkspaceIndexDamage(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		bucket []byte
		damage func(b *bbolt.Bucket) error
		want   string
	}{
		{"a slug pointing elsewhere", bWsSlug, func(b *bbolt.Bucket) error { return b.Put([]byte("acme"), []byte("ws_2")) }, "slug index"},
		{"a missing external ID", bWsExt, func(b *bbolt.Bucket) error { return b.Delete([]byte("crm-1")) }, "external ID index"},
		{"a stray status", bWsStatus, func(b *bbolt.Bucket) error { return b.Put(join("inactive", "ws_1"), nil) }, "status index"},
		{"a missing gram", bWsGram, func(b *bbolt.Bucket) error { return b.Delete(join("3acm", "ws_1")) }, "name gram index"},
		{"a gram count off", bWsGramN, func(b *bbolt.Bucket) error { return b.Put([]byte("3acm"), []byte{0, 0, 0, 0, 0, 0, 0, 9}) }, "name gram counts"},
		{"a deleted entry for a live workspace", bWsDeleted, func(b *bbolt.Bucket) error { return b.Put([]byte("00000000000000ffws_1"), []byte("ws_1")) }, "deleted index"},
		// The same workspaces with their names still pending (see wsindex.Pending).
		{"pending: a name that is not the workspace's", bWsPending, func(b *bbolt.Bucket) error { return b.Put([]byte("ws_1"), []byte("nglobex")) }, "pending names"},
		{"pending: a name without its workspace", bWsPending, func(b *bbolt.Bucket) error { return b.Put([]byte("ws_9"), []byte("ninitech")) }, "pending names"},
		{"pending: a missing name", bWsPending, func(b *bbolt.Bucket) error { return b.Delete([]byte("ws_1")) }, "name gram"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.Update(ctx, func(tx storage.ReadWriter) error {
				for _, w := range []workspace.Workspace{
					{ID: "ws_1", Slug: "acme", Name: "Acme", Status: workspace.Active, ExternalID: "crm-1", CreatedAt: t0},
					{ID: "ws_2", Slug: "globex", Name: "Globex", Status: workspace.Deleted, DeletedAt: t0, CreatedAt: t0},
				} {
					if err := tx.CreateWorkspace(w); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.bucket, bWsPending) { // file the grams, to damage them
				if err := s.db.Update(func(btx *bbolt.Tx) error { return wsindex.FilePending(&wsIndexes{btx: btx}) }); err != nil {
					t.Fatal(err)
				}
			}
			if lines, err := s.Check(ctx); err != nil || len(lines) != 0 {
				t.Fatalf("a sound store: %v %v", lines, err)
			}
			if err := s.db.Update(func(btx *bbolt.Tx) error { return c.damage(btx.Bucket(c.bucket)) }); err != nil {
				t.Fatal(err)
			}
			lines, err := s.Check(ctx)
			if err != nil || !strings.Contains(strings.Join(lines, "\n"), c.want) {
				t.Errorf("Check = %q, %v; want a line about the %s", lines, err, c.want)
			}
		})
	}
}

// However many workspaces one transaction creates, fewer than pendingBatch wait
// with their names pending afterwards, and every one is found by name.
func TestPendingNamesFiledInBatches(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 300
	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		for i := range n {
			w := workspace.Workspace{ID: fmt.Sprintf("ws_%04d", i), Slug: fmt.Sprintf("s%04d", i), Name: fmt.Sprintf("Acme %04d", i),
				Status: workspace.Active, CreatedAt: t0}
			if err := tx.CreateWorkspace(w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var pending int
	if err := s.db.View(func(btx *bbolt.Tx) error { pending = btx.Bucket(bWsPending).Stats().KeyN; return nil }); err != nil {
		t.Fatal(err)
	}
	if pending != n%pendingBatch {
		t.Errorf("%d names pending after %d creations, want %d", pending, n, n%pendingBatch)
	}
	if lines, err := s.Check(ctx); err != nil || len(lines) != 0 {
		t.Fatalf("Check = %q, %v", lines, err)
	}
	err = s.View(ctx, func(r storage.Reader) error {
		for _, i := range []int{0, 127, 128, 255, 256, 299} {
			var got []string
			q := storage.WorkspaceQuery{NameContains: fmt.Sprintf("acme %04d", i)}
			if err := r.(storage.WorkspaceSearcher).SearchWorkspaces(q, "", func(w workspace.Workspace) bool { got = append(got, w.ID); return true }); err != nil {
				return err
			}
			if want := fmt.Sprintf("ws_%04d", i); len(got) != 1 || got[0] != want {
				t.Errorf("search %q = %q, want [%s]", q.NameContains, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
