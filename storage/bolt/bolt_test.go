package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, openTemp, storagetest.WithReopen(reopen),
		storagetest.WithCapabilities(storagetest.Search|storagetest.FullScan|storagetest.SuspendedScan|storagetest.Checks|storagetest.Durability))
}

func openTemp(t *testing.T) storage.Storage {
	s, err := bolt.Open(filepath.Join(t.TempDir(), "tenancy.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func reopen(t *testing.T, s storage.Storage) storage.Storage {
	path := s.(*bolt.Store).DB().Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s2
}

// makeDB writes a small valid store and returns its path and bytes.
func makeDB(t *testing.T) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tenancy.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(context.Background(), func(tx storage.ReadWriter) error {
		for _, id := range []string{"a", "b", "c", "d"} {
			u := member.User{ID: id, Email: id + "@example.com", Name: strings.Repeat("n", 3000)}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestOpenRefusesDamagedFiles(t *testing.T) {
	_, good := makeDB(t)
	pageSize := 4096
	cases := []struct {
		name    string
		content []byte
		want    string
	}{
		{"zero length", nil, "is empty"},
		{"garbage", []byte(strings.Repeat("not a database ", 1000)), "not a bbolt database"},
		{"truncated to half", good[:len(good)/2], "truncated"},
		{"truncated inside the meta pages", good[:pageSize+100], ""},
		{"both meta pages flipped", flip(flip(good, 16+20), pageSize+16+20), "meta pages are damaged"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.db")
			if err := os.WriteFile(path, c.content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a damaged file")
			}
			if !errors.Is(err, storage.ErrCorrupt) {
				t.Errorf("error %v does not match storage.ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(c.content) {
				t.Error("Open modified the damaged file")
			}
		})
	}
}

func TestOpenSurvivesOneFlippedMetaPage(t *testing.T) {
	path, good := makeDB(t)
	if err := os.WriteFile(path, flip(good, 16+20), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("one damaged meta page should still open from the other: %v", err)
	}
	defer s.Close()
	err = s.View(context.Background(), func(tx storage.Reader) error {
		_, err := tx.GetUser("a")
		return err
	})
	if err != nil {
		t.Errorf("read after recovery: %v", err)
	}
}

func flip(b []byte, off int) []byte {
	c := append([]byte(nil), b...)
	c[off] ^= 0xff
	return c
}

func TestOpenRefusesForeignBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// An empty but valid bbolt file is adopted; a newer schema is refused.
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("open an empty bbolt file: %v", err)
	}
	s.Close()
	db, _ = bbolt.Open(path, 0o600, nil)
	_ = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("tenancy.meta")).Put([]byte("schema"), []byte{99}) })
	db.Close()
	if _, err := bolt.Open(path, bolt.Options{}); !errors.Is(err, bolt.ErrSchema) {
		t.Errorf("newer schema: got %v, want ErrSchema", err)
	}
}

func TestNewSharesAHostOwnedDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("host")); return err }); err != nil {
		t.Fatal(err)
	}
	s, err := bolt.New(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The host's database stays open and keeps its own bucket.
	if err := db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte("host")) == nil {
			return errors.New("host bucket lost")
		}
		return nil
	}); err != nil {
		t.Fatalf("host DB after tenancy Close: %v", err)
	}
	if _, err := bolt.New(nil); err == nil {
		t.Error("New(nil) accepted")
	}
}

// TestLockedByAnotherProcess runs the test binary as a child that holds the file, and
// checks that Open gives up after its timeout with ErrLocked.
func TestLockedByAnotherProcess(t *testing.T) {
	if path := os.Getenv("TENANCY_HOLD_DB"); path != "" {
		s, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		time.Sleep(30 * time.Second) // the parent kills us long before
		s.Close()
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "locked.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedByAnotherProcess$")
	cmd.Env = append(os.Environ(), "TENANCY_HOLD_DB="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("child did not take the lock: %q %v", buf, err)
	}
	_, err = bolt.Open(path, bolt.Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, bolt.ErrLocked) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("unclear message: %v", err)
	}
}

func TestCorruptRecordIsAnErrorNotAPanic(t *testing.T) {
	path, _ := makeDB(t)
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("tenancy.users")).Put([]byte("a"), []byte{1, 200}) })
	db.Close()
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(context.Background(), func(tx storage.Reader) error { _, err := tx.GetUser("a"); return err })
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Errorf("got %v, want ErrCorrupt", err)
	}
}

// Check runs beside writers: bbolt's page check reads the list of free pages that
// every commit changes, so it must not run beside a commit (the race detector
// caught it in a server verifying itself while serving).
func TestCheckBesideWriters(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t).(*bolt.Store)
	defer s.Close()
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := s.Update(ctx, func(tx storage.ReadWriter) error {
				u := member.User{ID: fmt.Sprintf("u%05d", i%50), Email: fmt.Sprintf("u%05d@example.com", i%50), Name: strings.Repeat("n", 500+i%7)}
				if i < 50 {
					return tx.CreateUser(u)
				}
				return tx.ReplaceUser(u)
			})
			if err != nil {
				done <- err
				return
			}
		}
	}()
	for range 5 {
		lines, err := s.Check(ctx)
		if err != nil || len(lines) > 0 {
			t.Errorf("Check beside writers = %q, %v", lines, err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
