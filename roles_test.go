package tenancy_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/memory"
)

// reopen opens another Manager over e's store, as a restart with new options would.
func (e *env) reopen(t *testing.T, opts tenancy.Options) (*tenancy.Manager, error) {
	t.Helper()
	opts.Clock, opts.SecretKey = e.clock.Now, testKey
	m, err := tenancy.New(e.store, opts)
	if err == nil {
		t.Cleanup(func() { _ = m.Close() })
	}
	return m, err
}

// A policy that drops a role stored members hold fails when the Manager opens,
// naming the role and how many hold it; RenameRoles moves them in the same open.
func TestPolicyThatDropsAHeldRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.registerUser(t, "ed2")
		e.addMember(t, e.ws.ID, "ed2", rbac.Editor)
		before := e.dump(t)
		_, err := e.reopen(t, tenancy.Options{Policy: tinybirdPolicy})
		if !errors.Is(err, tenancy.ErrUndeclaredRole) || !strings.Contains(err.Error(), `role "editor" is held by 2 member(s)`) {
			t.Fatalf("New with a policy without editor: %v", err)
		}
		if e.dump(t) != before {
			t.Error("a refused New changed storage")
		}
		// A rename that would succeed, beside a dropped role still held: refused as a
		// whole, nothing renamed.
		_, err = e.reopen(t, tenancy.Options{Policy: tinybirdPolicy, RenameRoles: map[rbac.Role]rbac.Role{rbac.Viewer: "guest"}})
		if !errors.Is(err, tenancy.ErrUndeclaredRole) || tenancy.KindOf(err) != nil {
			t.Errorf("a partial rename: %v (kind %v)", err, tenancy.KindOf(err))
		}
		if e.dump(t) != before {
			t.Error("a refused New with renames changed storage")
		}
		// Renaming to a role the policy does not declare is refused too.
		if _, err := e.reopen(t, tenancy.Options{Policy: tinybirdPolicy, RenameRoles: map[rbac.Role]rbac.Role{rbac.Editor: "helper"}}); !errors.Is(err, tenancy.ErrInvalidArgument) {
			t.Errorf("rename to an undeclared role: %v", err)
		}
		if e.dump(t) != before {
			t.Error("a refused rename changed storage")
		}
		m, err := e.reopen(t, tenancy.Options{Policy: tinybirdPolicy, RenameRoles: map[rbac.Role]rbac.Role{rbac.Editor: "guest"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"editor", "ed2"} {
			mb, err := m.GetMember(ctx, system, e.ws.ID, id)
			if err != nil || mb.Role != "guest" {
				t.Errorf("%s after the rename: %v, %v", id, mb.Role, err)
			}
		}
		if err := m.Authorize(ctx, tenancy.User("ed2"), e.ws.ID, rbac.WriteContent); err != nil {
			t.Errorf("a guest may write content: %v", err)
		}
		last := (&env{m: m}).lastEvent(t)
		if last.Type != "role.renamed" || last.Data["from"] != "editor" || last.Data["members"] != "2" {
			t.Errorf("the rename's event: %+v", last)
		}
		// Opened again with the same options: the rename finds nothing to do.
		if _, err := e.reopen(t, tenancy.Options{Policy: tinybirdPolicy, RenameRoles: map[rbac.Role]rbac.Role{rbac.Editor: "guest"}}); err != nil {
			t.Fatal(err)
		}
		e.m = m // Verify (at cleanup) under the new policy
	})
}

func TestRenameRole(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tok, err := e.m.CreateToken(ctx, editor, tenancy.NewToken{Name: "ci", WorkspaceID: e.ws.ID, Role: rbac.Editor, Lifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com", Role: rbac.Editor})
		if err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		refused := []struct {
			name     string
			p        tenancy.Principal
			from, to rbac.Role
			kind     error
		}{
			{"by the owner", owner, rbac.Editor, rbac.Viewer, tenancy.ErrPermissionDenied},
			{"by an admin", admin, rbac.Editor, rbac.Viewer, tenancy.ErrPermissionDenied},
			{"by nobody", nobody, rbac.Editor, rbac.Viewer, tenancy.ErrUnauthenticated},
			{"to an undeclared role", system, rbac.Editor, "guest", tenancy.ErrInvalidArgument},
			{"to platform", system, rbac.Editor, rbac.Platform, tenancy.ErrInvalidArgument},
			{"from platform", system, rbac.Platform, rbac.Viewer, tenancy.ErrInvalidArgument},
			{"to itself", system, rbac.Editor, rbac.Editor, tenancy.ErrInvalidArgument},
			{"from nothing", system, "", rbac.Viewer, tenancy.ErrInvalidArgument},
			{"owners below the top", platform, rbac.Admin, rbac.Editor, tenancy.ErrFailedPrecondition},
		}
		for _, c := range refused {
			if _, err := e.m.RenameRole(ctx, c.p, c.from, c.to); !errors.Is(err, c.kind) {
				t.Errorf("%s: got %v, want %v", c.name, err, c.kind)
			}
			if e.dump(t) != before {
				t.Errorf("%s: refused but storage changed", c.name)
			}
		}
		got, err := e.m.RenameRole(ctx, platform, rbac.Editor, rbac.Viewer)
		if err != nil {
			t.Fatal(err)
		}
		if got.Members != 1 || got.Invitations != 1 || got.Tokens != 1 {
			t.Errorf("renamed %+v, want one membership, invitation and token", got)
		}
		if mb, _ := e.m.GetMember(ctx, system, e.ws.ID, "editor"); mb.Role != rbac.Viewer {
			t.Errorf("the editor is now %s", mb.Role)
		}
		if ti, _ := e.m.GetToken(ctx, system, tok.Token.ID); ti.Role != rbac.Viewer {
			t.Errorf("the token's role is now %s", ti.Role)
		}
		err = e.store.View(ctx, func(tx storage.Reader) error {
			inv, err := tx.GetInvitation(sent.Invitation.ID)
			if err == nil && inv.Role != rbac.Viewer {
				t.Errorf("the invitation grants %s", inv.Role)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing left holds editor: a second rename changes nothing.
		before = e.dump(t)
		if got, err := e.m.RenameRole(ctx, system, rbac.Editor, rbac.Viewer); err != nil || got.Members+got.Invitations+got.Tokens != 0 || e.dump(t) != before {
			t.Errorf("an empty rename: %+v, %v", got, err)
		}
	})
}

// Every path takes a host's own roles: invitations, additions, role changes,
// acceptance, workspace tokens and personal caps, all with Tinybird's guest.
func TestHostRolesOnEveryPath(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnvWith(t, b, tinybirdPolicy)
			if mb, err := e.m.GetMember(ctx, system, e.ws.ID, "owner"); err != nil || mb.Role != "admin" || !mb.Owner {
				t.Fatalf("the owner: %+v, %v", mb, err)
			}
			guest := tenancy.User("guest")
			sent, err := e.m.InviteMember(ctx, admin, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com", Role: "guest"})
			if err != nil {
				t.Fatal(err)
			}
			e.registerUser(t, "new")
			if mb, err := e.m.AcceptInvitation(ctx, tenancy.User("new"), sent.Secret); err != nil || mb.Role != "guest" {
				t.Fatalf("accept: %+v, %v", mb, err)
			}
			if _, err := e.m.ChangeRole(ctx, admin, e.ws.ID, "new", "viewer"); err != nil {
				t.Fatal(err)
			}
			e.registerUser(t, "added")
			if _, err := e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: "added", Role: "guest"}); err != nil {
				t.Fatal(err)
			}
			// A guest writes content and makes tokens, but does not manage people.
			if err := e.m.Authorize(ctx, guest, e.ws.ID, rbac.WriteContent); err != nil {
				t.Error(err)
			}
			if _, err := e.m.InviteMember(ctx, guest, e.ws.ID, tenancy.NewInvitation{Email: "x@example.com", Role: "viewer"}); !errors.Is(err, tenancy.ErrPermissionDenied) {
				t.Errorf("a guest invited: %v", err)
			}
			wt, err := e.m.CreateToken(ctx, guest, tenancy.NewToken{Name: "ci", WorkspaceID: e.ws.ID, Role: "guest", Lifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.CreateToken(ctx, guest, tenancy.NewToken{Name: "up", WorkspaceID: e.ws.ID, Role: "admin", Lifetime: time.Hour}); !errors.Is(err, tenancy.ErrPermissionDenied) {
				t.Errorf("a guest made an admin token: %v", err)
			}
			pt, err := e.m.CreateToken(ctx, admin, tenancy.NewToken{Name: "capped", Role: "guest", Lifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{wt.Secret, pt.Secret} {
				p, err := e.m.Authenticate(ctx, secret)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.m.Authorize(ctx, p, e.ws.ID, rbac.WriteContent); err != nil {
					t.Errorf("a guest token may write: %v", err)
				}
				if err := e.m.Authorize(ctx, p, e.ws.ID, rbac.ManageMembers); !errors.Is(err, tenancy.ErrPermissionDenied) {
					t.Errorf("a guest token managed members: %v", err)
				}
			}
			// Role names come only from the policy: the default's editor is unknown here.
			if _, err := e.m.AddMember(ctx, admin, e.ws.ID, tenancy.NewMember{UserID: "outsider", Role: rbac.Editor}); !errors.Is(err, tenancy.ErrInvalidArgument) ||
				!strings.Contains(err.Error(), "viewer, guest or admin") {
				t.Errorf("an undeclared role: %v", err)
			}
			// Ownership moves only to the highest role.
			if _, err := e.m.TransferOwnership(ctx, owner, e.ws.ID, "guest"); !errors.Is(err, tenancy.ErrFailedPrecondition) {
				t.Errorf("ownership moved to a guest: %v", err)
			}
			var held []member.Member
			_ = e.store.View(ctx, func(tx storage.Reader) error {
				return tx.ScanMembers(e.ws.ID, "", func(mb member.Member) bool { held = append(held, mb); return true })
			})
			for _, mb := range held {
				if !e.m.Policy().IsMemberRole(mb.Role) {
					t.Errorf("%s holds %q", mb.UserID, mb.Role)
				}
			}
		})
	}
}

// plainStore hides the backend's optional capabilities: its transactions offer only
// storage.Reader and storage.ReadWriter, as a third-party backend's might.
type plainStore struct{ storage.Storage }

type plainReader struct{ storage.Reader }

type plainTx struct{ storage.ReadWriter }

func (s plainStore) View(ctx context.Context, fn func(storage.Reader) error) error {
	return s.Storage.View(ctx, func(tx storage.Reader) error { return fn(plainReader{tx}) })
}

func (s plainStore) Update(ctx context.Context, fn func(storage.ReadWriter) error) error {
	return s.Storage.Update(ctx, func(tx storage.ReadWriter) error { return fn(plainTx{tx}) })
}

// Renames and erasures reach every record through the indexes when the backend has
// no whole-table scans.
func TestRenameAndEraseWithoutFullScans(t *testing.T) {
	m, err := tenancy.New(plainStore{memory.New()}, tenancy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, id := range []string{"ada", "bob"} {
		if _, err := m.RegisterUser(ctx, system, tenancy.NewUser{ID: id, Email: id + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.AddMember(ctx, tenancy.User("ada"), w.ID, tenancy.NewMember{UserID: "bob", Role: rbac.Editor}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.CreateToken(ctx, tenancy.User("bob"), tenancy.NewToken{Name: "ci", WorkspaceID: w.ID, Role: rbac.Editor, Lifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.InviteMember(ctx, tenancy.User("ada"), w.ID, tenancy.NewInvitation{Email: "cy@example.com", Role: rbac.Editor}); err != nil {
		t.Fatal(err)
	}
	got, err := m.RenameRole(ctx, system, rbac.Editor, rbac.Viewer)
	if err != nil || got.Members != 1 || got.Invitations != 1 || got.Tokens != 1 {
		t.Fatalf("rename without full scans: %+v, %v", got, err)
	}
	erased, err := m.DeleteUser(ctx, system, "bob")
	if err != nil || erased.Memberships != 1 || erased.Tokens != 1 {
		t.Fatalf("erase without full scans: %+v, %v", erased, err)
	}
	if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
		t.Errorf("Verify: %v %v", findings, err)
	}
}
