package tenancy_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

var errInjected = errors.New("injected fault")

// faultStore wraps a backend and fails the Nth write of the next Update, or its
// commit.
type faultStore struct {
	storage.Storage
	mu         sync.Mutex
	failAt     int // fail the failAt-th write (1-based); 0: never
	failCommit bool
	writes     int
	fired      bool
}

func (f *faultStore) arm(n int, commit bool) {
	f.mu.Lock()
	f.failAt, f.failCommit, f.writes, f.fired = n, commit, 0, false
	f.mu.Unlock()
}

func (f *faultStore) write() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fired || f.failAt == 0 {
		return nil
	}
	f.writes++
	if f.writes == f.failAt {
		f.fired = true
		return errInjected
	}
	return nil
}

func (f *faultStore) Update(ctx context.Context, fn func(storage.ReadWriter) error) error {
	return f.Storage.Update(ctx, func(tx storage.ReadWriter) error {
		if err := fn(&faultTx{Reader: tx, tx: tx, f: f}); err != nil {
			return err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.failCommit && !f.fired {
			f.fired = true
			return errInjected // the backend rolls back as for any failing commit
		}
		return nil
	})
}

// faultTx fails writes on cue; reads pass through.
//
// It embeds only the storage.Reader half, so it satisfies storage.ReadWriter only by
// wrapping every write method itself: a write method added to the contract later
// stops this file compiling until it is wrapped.
type faultTx struct {
	storage.Reader
	tx storage.ReadWriter
	f  *faultStore
}

func (t *faultTx) OnCommit(fn func()) { t.tx.OnCommit(fn) }

var _ storage.ReadWriter = (*faultTx)(nil)

// w runs a write unless a fault is due.
func (t *faultTx) w(write func() error) error {
	if err := t.f.write(); err != nil {
		return err
	}
	return write()
}

func (t *faultTx) CreateUser(u member.User) error {
	return t.w(func() error { return t.tx.CreateUser(u) })
}
func (t *faultTx) ReplaceUser(u member.User) error {
	return t.w(func() error { return t.tx.ReplaceUser(u) })
}
func (t *faultTx) DeleteUser(id string) error {
	return t.w(func() error { return t.tx.DeleteUser(id) })
}
func (t *faultTx) CreateWorkspace(w workspace.Workspace) error {
	return t.w(func() error { return t.tx.CreateWorkspace(w) })
}
func (t *faultTx) ReplaceWorkspace(w workspace.Workspace) error {
	return t.w(func() error { return t.tx.ReplaceWorkspace(w) })
}
func (t *faultTx) PurgeWorkspace(id string) (n storage.PurgeCounts, err error) {
	err = t.w(func() error { n, err = t.tx.PurgeWorkspace(id); return err })
	return n, err
}
func (t *faultTx) CreateMember(m member.Member) error {
	return t.w(func() error { return t.tx.CreateMember(m) })
}
func (t *faultTx) ReplaceMember(m member.Member) error {
	return t.w(func() error { return t.tx.ReplaceMember(m) })
}
func (t *faultTx) DeleteMember(ws, u string) error {
	return t.w(func() error { return t.tx.DeleteMember(ws, u) })
}
func (t *faultTx) CreateInvitation(i member.Invitation) error {
	return t.w(func() error { return t.tx.CreateInvitation(i) })
}
func (t *faultTx) ReplaceInvitation(i member.Invitation) error {
	return t.w(func() error { return t.tx.ReplaceInvitation(i) })
}
func (t *faultTx) DeleteInvitation(id string) error {
	return t.w(func() error { return t.tx.DeleteInvitation(id) })
}
func (t *faultTx) CreateToken(k token.Token) error {
	return t.w(func() error { return t.tx.CreateToken(k) })
}
func (t *faultTx) ReplaceToken(k token.Token) error {
	return t.w(func() error { return t.tx.ReplaceToken(k) })
}
func (t *faultTx) TouchToken(id string, at time.Time) error {
	return t.w(func() error { return t.tx.TouchToken(id, at) })
}
func (t *faultTx) DeleteToken(id string) error {
	return t.w(func() error { return t.tx.DeleteToken(id) })
}
func (t *faultTx) CreateConsumer(c storage.Consumer) error {
	return t.w(func() error { return t.tx.CreateConsumer(c) })
}
func (t *faultTx) ReplaceConsumer(c storage.Consumer) error {
	return t.w(func() error { return t.tx.ReplaceConsumer(c) })
}
func (t *faultTx) DeleteConsumer(name string) error {
	return t.w(func() error { return t.tx.DeleteConsumer(name) })
}
func (t *faultTx) CreateWebhook(e webhook.Endpoint) error {
	return t.w(func() error { return t.tx.CreateWebhook(e) })
}
func (t *faultTx) ReplaceWebhook(e webhook.Endpoint) error {
	return t.w(func() error { return t.tx.ReplaceWebhook(e) })
}
func (t *faultTx) DeleteWebhook(id string) error {
	return t.w(func() error { return t.tx.DeleteWebhook(id) })
}
func (t *faultTx) CreateWebhookAttempt(a webhook.Attempt) error {
	return t.w(func() error { return t.tx.CreateWebhookAttempt(a) })
}
func (t *faultTx) DeleteWebhookAttempts(endpointID, before string) (n int, err error) {
	err = t.w(func() error { n, err = t.tx.DeleteWebhookAttempts(endpointID, before); return err })
	return n, err
}
func (t *faultTx) AppendEvent(e storage.Event) error {
	return t.w(func() error { return t.tx.AppendEvent(e) })
}
func (t *faultTx) AddCounter(name string, d int64) error {
	return t.w(func() error { return t.tx.AddCounter(name, d) })
}
func (t *faultTx) PutSetting(name string, v []byte) error {
	return t.w(func() error { return t.tx.PutSetting(name, v) })
}

// TestFaultTxWrapsEveryWrite: every method of storage.Reader is a read, so every
// write of a storage.ReadWriter goes through faultTx's own wrappers.
func TestFaultTxWrapsEveryWrite(t *testing.T) {
	reads := reflect.TypeOf((*storage.Reader)(nil)).Elem()
	for i := range reads.NumMethod() {
		name := reads.Method(i).Name
		if !slices.ContainsFunc([]string{"Get", "Scan", "Counter", "Setting", "FeedHead"}, func(p string) bool {
			return strings.HasPrefix(name, p)
		}) {
			t.Errorf("storage.Reader holds %s, which is not a read", name)
		}
	}
	txType := reflect.TypeOf((*storage.ReadWriter)(nil)).Elem()
	ft := reflect.TypeOf(&faultTx{})
	for i := range txType.NumMethod() {
		name := txType.Method(i).Name
		if _, isRead := reads.MethodByName(name); !isRead {
			if _, ok := ft.MethodByName(name); !ok {
				t.Errorf("faultTx does not wrap %s", name)
			}
		}
	}
}

// newFaultEnv is newEnv over a faultStore (disarmed).
func newFaultEnv(t *testing.T, b backend) (*env, *faultStore) {
	var fs *faultStore
	wrapped := backend{b.name, func(tb testing.TB) storage.Storage {
		fs = &faultStore{Storage: b.open(tb)}
		return fs
	}}
	return newEnv(t, wrapped), fs
}

// TestFaultsLeaveNothingPartial fails every write of every mutation in turn, and its
// commit: each time the call returns the error, storage is exactly as before, and
// the same call then succeeds.
func TestFaultsLeaveNothingPartial(t *testing.T) {
	type mutation struct {
		name string
		prep func(t *testing.T, e *env) string // state the operation needs
		op   func(e *env, arg string) error
	}
	member2 := func(t *testing.T, e *env) string { e.registerUser(t, "target"); return "target" }
	pending := func(t *testing.T, e *env) string {
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "target@example.com", Role: rbac.Editor})
		if err != nil {
			t.Fatal(err)
		}
		e.registerUser(t, "target")
		return sent.Invitation.ID + " " + sent.Secret
	}
	tok := func(t *testing.T, e *env) string {
		return e.newToken(t, editor, tenancy.NewToken{Name: "t", WorkspaceID: e.ws.ID}).Token.ID
	}
	mutations := []mutation{
		{"register user", nil, func(e *env, _ string) error {
			_, err := e.m.RegisterUser(ctx, system, tenancy.NewUser{ID: "n", Email: "n@example.com"})
			return err
		}},
		{"set platform", nil, func(e *env, _ string) error { _, err := e.m.SetPlatform(ctx, system, "viewer", true); return err }},
		{"create workspace", nil, func(e *env, _ string) error {
			_, err := e.m.CreateWorkspace(ctx, platform, tenancy.NewWorkspace{Name: "New", ExternalID: "x-1", StarterKit: "blank", OwnerID: "owner"})
			return err
		}},
		{"update workspace", nil, func(e *env, _ string) error {
			_, err := e.m.UpdateWorkspace(ctx, admin, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("N"), Slug: ptr("n")})
			return err
		}},
		{"deactivate", nil, func(e *env, _ string) error { _, err := e.m.DeactivateWorkspace(ctx, admin, e.ws.ID); return err }},
		{"delete", nil, func(e *env, _ string) error { _, err := e.m.DeleteWorkspace(ctx, owner, e.ws.ID); return err }},
		{"purge", tok, func(e *env, _ string) error { return e.m.PurgeWorkspace(ctx, platform, e.ws.ID) }},
		{"sync", nil, func(e *env, _ string) error {
			_, err := e.m.SyncWorkspaces(ctx, platform, []workspace.SyncItem{{ExternalID: "a", Name: "A"}, {ExternalID: "b", Name: "B"}}, tenancy.SyncOptions{})
			return err
		}},
		{"add member", member2, func(e *env, id string) error {
			_, err := e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: id, Role: rbac.Editor})
			return err
		}},
		{"invite", nil, func(e *env, _ string) error {
			_, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "x@example.com", Role: rbac.Viewer})
			return err
		}},
		{"accept", pending, func(e *env, arg string) error {
			_, err := e.m.AcceptInvitation(ctx, tenancy.User("target"), strings.Fields(arg)[1])
			return err
		}},
		{"revoke invitation", pending, func(e *env, arg string) error {
			_, err := e.m.RevokeInvitation(ctx, admin, strings.Fields(arg)[0])
			return err
		}},
		{"change role", nil, func(e *env, _ string) error {
			_, err := e.m.ChangeRole(ctx, admin, e.ws.ID, "viewer", rbac.Editor)
			return err
		}},
		{"remove member", tok, func(e *env, _ string) error { return e.m.RemoveMember(ctx, admin, e.ws.ID, "editor") }},
		{"leave", nil, func(e *env, _ string) error { return e.m.LeaveWorkspace(ctx, viewer, e.ws.ID) }},
		{"transfer", nil, func(e *env, _ string) error {
			_, err := e.m.TransferOwnership(ctx, owner, e.ws.ID, "admin")
			return err
		}},
		{"create token", nil, func(e *env, _ string) error {
			_, err := e.m.CreateToken(ctx, editor, tenancy.NewToken{Name: "t", WorkspaceID: e.ws.ID, Lifetime: time.Hour})
			return err
		}},
		{"revoke token", tok, func(e *env, id string) error { return e.m.RevokeToken(ctx, admin, id) }},
		{"rotate token", tok, func(e *env, id string) error { _, err := e.m.RotateToken(ctx, editor, id); return err }},
	}
	for _, b := range backends {
		for _, mu := range mutations {
			t.Run(b.name+"/"+mu.name, func(t *testing.T) {
				faults := 0
				for n := 1; ; n++ {
					commit := n == 1 // the first round fails the commit instead of a write
					e, fs := newFaultEnv(t, b)
					arg := ""
					if mu.prep != nil {
						arg = mu.prep(t, e)
					}
					before := e.dump(t)
					if commit {
						fs.arm(0, true)
					} else {
						fs.arm(n-1, false)
					}
					err := mu.op(e, arg)
					fs.arm(0, false)
					if err == nil {
						if commit {
							t.Fatal("a failed commit was reported as success")
						}
						if faults < 2 {
							t.Errorf("only %d faults were injected: the mutation wrote nothing?", faults)
						}
						return
					}
					faults++
					if !errors.Is(err, errInjected) {
						t.Fatalf("fault %d: got %v, want the injected fault", n, err)
					}
					if e.dump(t) != before {
						t.Fatalf("fault %d (commit %v): a failed call left changes behind", n, commit)
					}
					if err := mu.op(e, arg); err != nil {
						t.Fatalf("fault %d: the next call failed: %v", n, err)
					}
					if n > 60 {
						t.Fatal("the mutation never completed")
					}
				}
			})
		}
	}
}
