package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/workspace"
)

// TestDecisionsFollowCommittedChanges runs readers (Authenticate, Authorize, list)
// against writers that revoke tokens, demote and remove members and deactivate the
// workspace. Each reader records which changes had finished before its call began;
// a grant that such a change forbids is a stale grant and fails the test. The owner
// and admin rules hold throughout (Verify runs at the end, as in every test).
func TestDecisionsFollowCommittedChanges(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		const n = 6
		type victim struct {
			user    string
			secret  string
			revoked atomic.Bool // its token's revocation has returned
			demoted atomic.Bool // its demotion to viewer has returned
			removed atomic.Bool // its removal has returned
		}
		victims := make([]*victim, n)
		for i := range victims {
			v := &victim{user: fmt.Sprintf("v%d", i)}
			e.registerUser(t, v.user)
			e.addMember(t, e.ws.ID, v.user, rbac.Editor)
			v.secret = e.newToken(t, tenancy.User(v.user), tenancy.NewToken{Name: "t", WorkspaceID: e.ws.ID}).Secret
			victims[i] = v
		}
		var inactive atomic.Bool
		var stop atomic.Bool
		var wg sync.WaitGroup
		var decisions atomic.Int64
		for r := 0; r < 4; r++ {
			wg.Add(1)
			go func(r int) {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					v := victims[(i+r)%n]
					wasRevoked, wasRemoved := v.revoked.Load(), v.removed.Load()
					wasDemoted, wasInactive := v.demoted.Load(), inactive.Load()
					p, err := e.m.Authenticate(ctx, v.secret)
					decisions.Add(1)
					if err == nil && (wasRevoked || wasRemoved) {
						t.Errorf("token of %s authenticated after its revocation or removal returned", v.user)
					}
					err = e.m.Authorize(ctx, tenancy.User(v.user), e.ws.ID, rbac.WriteContent)
					decisions.Add(1)
					if err == nil && (wasDemoted || wasRemoved || wasInactive) {
						t.Errorf("%s may write after a demotion, removal or deactivation returned", v.user)
					}
					if p.TokenID() != "" {
						err = e.m.Authorize(ctx, p, e.ws.ID, rbac.WriteContent)
						if err == nil && (wasRevoked || wasDemoted || wasRemoved || wasInactive) {
							t.Errorf("the token of %s may write after a change that forbids it returned", v.user)
						}
					}
					if _, err := e.m.ListWorkspaces(ctx, tenancy.User(v.user), workspace.ListOptions{}); err != nil {
						t.Errorf("list: %v", err)
					}
				}
			}(r)
		}
		// Writers: each change is flagged only after it has returned.
		var wwg sync.WaitGroup
		for i, v := range victims {
			wwg.Add(1)
			go func(i int, v *victim) {
				defer wwg.Done()
				switch i % 3 {
				case 0:
					p, err := e.m.Authenticate(ctx, v.secret)
					if err != nil {
						t.Error(err)
						return
					}
					if err := e.m.RevokeToken(ctx, admin, p.TokenID()); err != nil {
						t.Error(err)
					}
					v.revoked.Store(true)
				case 1:
					if _, err := e.m.ChangeRole(ctx, admin, e.ws.ID, v.user, rbac.Viewer); err != nil {
						t.Error(err)
					}
					v.demoted.Store(true)
				case 2:
					if err := e.m.RemoveMember(ctx, admin, e.ws.ID, v.user); err != nil {
						t.Error(err)
					}
					v.removed.Store(true)
				}
			}(i, v)
		}
		// Admins demoting each other meanwhile: the owner keeps the workspace governed.
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for i := 0; i < 10; i++ {
				_, err := e.m.ChangeRole(ctx, admin, e.ws.ID, "owner", rbac.Viewer)
				if !errors.Is(err, tenancy.ErrFailedPrecondition) {
					t.Errorf("demoting the owner: %v", err)
				}
			}
		}()
		wwg.Wait()
		if _, err := e.m.DeactivateWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		inactive.Store(true)
		// Let the readers make decisions after every change, too.
		for start := decisions.Load(); decisions.Load() < start+400; {
			runtime.Gosched()
		}
		stop.Store(true)
		wg.Wait()
	})
}

// orderStore records the workspace IDs its Updates create, in the order the
// writes ran, for a backend whose writers run one at a time (memory).
type orderStore struct {
	storage.Storage
	mu  sync.Mutex
	ids []string
}

type orderTx struct {
	storage.ReadWriter
	created *[]string
}

func (t orderTx) CreateWorkspace(w workspace.Workspace) error {
	if err := t.ReadWriter.CreateWorkspace(w); err != nil {
		return err
	}
	*t.created = append(*t.created, w.ID)
	return nil
}

func (s *orderStore) Update(ctx context.Context, fn func(storage.ReadWriter) error) error {
	return s.Storage.Update(ctx, func(tx storage.ReadWriter) error {
		var created []string
		if err := fn(orderTx{tx, &created}); err != nil {
			return err
		}
		// Still inside the one writer: this is the order the writes commit in.
		s.mu.Lock()
		s.ids = append(s.ids, created...)
		s.mu.Unlock()
		return nil
	})
}

// The Manager draws a new workspace's ID inside the write, so IDs reach the store
// in the order they grow even from concurrent creators. The memory backend relies
// on it to append a creation's gram entries and records instead of copying (an
// out-of-order ID is still correct, only slower), and bbolt to write at the end
// of its buckets.
func TestCreationIDsReachTheStoreInOrder(t *testing.T) {
	store := &orderStore{Storage: memory.New()}
	m, err := tenancy.New(store, tenancy.Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "owner", Email: "owner@example.com"}); err != nil {
		t.Fatal(err)
	}
	const callers, each = 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := m.CreateWorkspace(ctx, tenancy.User("owner"), tenancy.NewWorkspace{Name: fmt.Sprintf("Acme %d-%d", c, i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(store.ids) != callers*each {
		t.Fatalf("%d workspaces created, want %d", len(store.ids), callers*each)
	}
	if !slices.IsSorted(store.ids) {
		for i := 1; i < len(store.ids); i++ {
			if store.ids[i] < store.ids[i-1] {
				t.Fatalf("workspace %d reached the store as %q, after %q", i, store.ids[i], store.ids[i-1])
			}
		}
	}
}
