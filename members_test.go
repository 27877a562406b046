package tenancy_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
)

// registerUser adds a user straight through the Manager.
func (e *env) registerUser(t testing.TB, id string) tenancy.Principal {
	t.Helper()
	if _, err := e.m.RegisterUser(ctx, system, tenancy.NewUser{ID: id, Email: id + "@example.com"}); err != nil {
		t.Fatal(err)
	}
	return tenancy.User(id)
}

// putInvitation stores an invitation from inviterID straight through storage and
// returns its secret.
func (e *env) putInvitation(t testing.TB, wsID, email, inviterID string, role rbac.Role) (string, string) {
	t.Helper()
	secret, err := token.NewSecret("tnci", nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := token.NewHasher(testKey)
	id := fmt.Sprintf("inv_%s_%s", email, role)
	now := e.clock.Now()
	err = e.store.Update(ctx, func(tx storage.Tx) error {
		return tx.CreateInvitation(member.Invitation{ID: id, WorkspaceID: wsID, Email: email, Role: role, InviterID: inviterID,
			SecretHash: h.Hash(secret), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, secret
}

// The outcomes the design gives (AUTHORIZATION.md), written out. Actors act in env.ws; R is the target
// role of each operation.
type outcome = error

var (
	ok       outcome = nil
	denied           = tenancy.ErrPermissionDenied
	notFound         = tenancy.ErrNotFound
	invalid          = tenancy.ErrInvalidArgument
	precond          = tenancy.ErrFailedPrecondition
)

// expectGrant is the outcome of granting role R by invitation, addition or role
// change: members below admin may not manage members at all; admins grant up to
// admin; platform is a user attribute, so granting it as a membership is refused as
// above the ceiling for members and as invalid for platform and System.
func expectGrant(actor string, r rbac.Role) outcome {
	switch actor {
	case "outsider":
		return notFound
	case "viewer", "editor":
		return denied
	case "admin", "owner":
		if r == rbac.Platform {
			return denied
		}
		return ok
	}
	if r == rbac.Platform { // platform, system
		return invalid
	}
	return ok
}

// expectManage is the outcome of changing or removing a member who holds R.
func expectManage(actor string) outcome {
	switch actor {
	case "outsider":
		return notFound
	case "viewer", "editor":
		return denied
	}
	return ok
}

// expectAccept is the outcome of accepting an invitation to role R sent by actor:
// the ceiling is checked again against the inviter's role at acceptance.
func expectAccept(actor string, r rbac.Role) outcome {
	rank := map[string]rbac.Role{"viewer": rbac.Viewer, "editor": rbac.Editor, "admin": rbac.Admin, "owner": rbac.Admin,
		"platform": rbac.Platform, "system": rbac.Platform}[actor]
	if !rbac.CanGrant(rank, r) {
		return precond
	}
	return ok
}

func TestEscalationMatrix(t *testing.T) {
	actors := []string{"viewer", "editor", "admin", "owner", "platform", "outsider", "system"}
	principal := map[string]tenancy.Principal{"viewer": viewer, "editor": editor, "admin": admin, "owner": owner,
		"platform": platform, "outsider": outsider, "system": system}
	userOf := map[string]string{"viewer": "viewer", "editor": "editor", "admin": "admin", "owner": "owner",
		"platform": "plat", "outsider": "outsider", "system": ""}
	roles := []rbac.Role{rbac.Viewer, rbac.Editor, rbac.Admin, rbac.Platform}
	lowerOrRemove := func(a string, _ rbac.Role) outcome { return expectManage(a) }
	// Each operation sets its case up (returning what the call needs), then calls.
	type op struct {
		name   string
		member bool // R must be a membership role
		want   func(actor string, r rbac.Role) outcome
		setup  func(t *testing.T, e *env, actor string, r rbac.Role) string
		call   func(e *env, p tenancy.Principal, r rbac.Role, arg string) error
	}
	target := func(t *testing.T, e *env, role rbac.Role) string {
		e.registerUser(t, "target")
		if role != "" {
			e.addMember(t, e.ws.ID, "target", role)
		}
		return "target"
	}
	ops := []op{
		{"invite", false, expectGrant, func(*testing.T, *env, string, rbac.Role) string { return "" },
			func(e *env, p tenancy.Principal, r rbac.Role, _ string) error {
				_, err := e.m.InviteMember(ctx, p, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com", Role: r})
				return err
			}},
		{"add by ID", false, expectGrant, func(t *testing.T, e *env, _ string, _ rbac.Role) string { return target(t, e, "") },
			func(e *env, p tenancy.Principal, r rbac.Role, id string) error {
				_, err := e.m.AddMember(ctx, p, e.ws.ID, tenancy.NewMember{UserID: id, Role: r})
				return err
			}},
		{"add by email", false, expectGrant, func(t *testing.T, e *env, _ string, _ rbac.Role) string { return target(t, e, "") },
			func(e *env, p tenancy.Principal, r rbac.Role, _ string) error {
				_, err := e.m.AddMember(ctx, p, e.ws.ID, tenancy.NewMember{Email: " TARGET@example.com", Role: r})
				return err
			}},
		{"raise a viewer to R", false, expectGrant, func(t *testing.T, e *env, _ string, _ rbac.Role) string { return target(t, e, rbac.Viewer) },
			func(e *env, p tenancy.Principal, r rbac.Role, id string) error {
				_, err := e.m.ChangeRole(ctx, p, e.ws.ID, id, r)
				return err
			}},
		{"lower an R to viewer", true, lowerOrRemove, func(t *testing.T, e *env, _ string, r rbac.Role) string { return target(t, e, r) },
			func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
				_, err := e.m.ChangeRole(ctx, p, e.ws.ID, id, rbac.Viewer)
				return err
			}},
		{"remove an R", true, lowerOrRemove, func(t *testing.T, e *env, _ string, r rbac.Role) string { return target(t, e, r) },
			func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
				return e.m.RemoveMember(ctx, p, e.ws.ID, id)
			}},
		{"resend an R invitation", true, expectGrant, func(t *testing.T, e *env, _ string, r rbac.Role) string {
			id, _ := e.putInvitation(t, e.ws.ID, "new@example.com", "", r)
			return id
		}, func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
			_, err := e.m.ResendInvitation(ctx, p, id)
			return err
		}},
		{"revoke an R invitation", true, lowerOrRemove, func(t *testing.T, e *env, _ string, r rbac.Role) string {
			id, _ := e.putInvitation(t, e.ws.ID, "new@example.com", "", r)
			return id
		}, func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
			_, err := e.m.RevokeInvitation(ctx, p, id)
			return err
		}},
		{"accept an R invitation sent by the actor", true, expectAccept, func(t *testing.T, e *env, actor string, r rbac.Role) string {
			target(t, e, "")
			_, secret := e.putInvitation(t, e.ws.ID, "target@example.com", userOf[actor], r)
			return secret
		}, func(e *env, _ tenancy.Principal, _ rbac.Role, secret string) error {
			_, err := e.m.AcceptInvitation(ctx, tenancy.User("target"), secret)
			return err
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			cases := 0
			for _, o := range ops {
				for _, actor := range actors {
					for _, r := range roles {
						if o.member && r == rbac.Platform {
							continue // platform is never a membership or invitation role
						}
						want := o.want(actor, r)
						if o.name == "accept an R invitation sent by the actor" && actor == "outsider" {
							want = precond // an outsider holds no role: its invitation must not pass
						}
						e := newEnv(t, b)
						arg := o.setup(t, e, actor, r)
						before := e.dump(t)
						err := o.call(e, principal[actor], r, arg)
						cases++
						if want == nil && err != nil || want != nil && !errors.Is(err, want) {
							t.Errorf("%s by %s, R=%s: got %v, want %v", o.name, actor, r, err, want)
						}
						if err != nil && e.dump(t) != before {
							t.Errorf("%s by %s, R=%s: refused (%v) but storage changed", o.name, actor, r, err)
						}
						noop := r == rbac.Viewer && strings.Contains(o.name, "viewer") // viewer to viewer
						if err == nil && !noop && e.dump(t) == before {
							t.Errorf("%s by %s, R=%s: succeeded but changed nothing", o.name, actor, r)
						}
					}
				}
			}
			if cases < 200 {
				t.Errorf("only %d cases ran", cases)
			}
		})
	}
}
