package bolt_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage/bolt"
)

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "tenancy-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := bolt.Open(filepath.Join(dir, "tenancy.db"), bolt.Options{})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	// The secret-hashing key lives outside the database (a file, a secret manager).
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		panic(err)
	}
	_, _ = m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "ada", Email: "ada@example.com"})
	w, err := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Self-hosted"})
	fmt.Println(w.Slug, err)

	// A second opener gives up after its lock timeout instead of hanging.
	_, err = bolt.Open(filepath.Join(dir, "tenancy.db"), bolt.Options{LockTimeout: 50 * time.Millisecond})
	fmt.Println(errors.Is(err, bolt.ErrLocked))
	// Output:
	// self-hosted <nil>
	// true
}
