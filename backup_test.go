package tenancy_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage/bolt"
)

// A backup of a live bbolt store, taken while writers keep writing, opens with the
// same key, passes Verify and serves the same tokens; only platform powers take
// one; the memory backend says it cannot.
func TestBackupOfALiveBoltStore(t *testing.T) {
	e := newEnv(t, backends[1]) // bolt
	tok, err := e.m.CreateToken(ctx, owner, tenancy.NewToken{Name: "kept", WorkspaceID: e.ws.ID, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: fmt.Sprintf("During %d", i)}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var buf bytes.Buffer
	n, err := e.m.Backup(ctx, platform, &buf)
	close(stop)
	wg.Wait()
	if err != nil || n == 0 || int64(buf.Len()) != n {
		t.Fatalf("backup: %d bytes, %v", n, err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := tenancy.New(store, tenancy.Options{SecretKey: testKey, Clock: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
		t.Errorf("the copy's Verify: %v %v", findings, err)
	}
	if p, err := m.Authenticate(ctx, tok.Secret); err != nil || p.TokenID() != tok.Token.ID {
		t.Errorf("a token in the copy: %v %v", p, err)
	}
	for _, p := range []tenancy.Principal{owner, admin, nobody} {
		if _, err := e.m.Backup(ctx, p, &bytes.Buffer{}); !errors.Is(err, tenancy.ErrPermissionDenied) && !errors.Is(err, tenancy.ErrUnauthenticated) {
			t.Errorf("backup by %v: %v", p, err)
		}
	}
	mem := newEnv(t, backends[0])
	_, err = mem.m.Backup(ctx, system, &bytes.Buffer{})
	wantErr(t, err, tenancy.ErrFailedPrecondition, "pg_dump")
	if !errors.Is(err, tenancy.ErrNoBackup) {
		t.Errorf("memory backup: %v, want ErrNoBackup", err)
	}
}
