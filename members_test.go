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
	"github.com/tenancykit/tenancy/storage/storagetest"
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
	err = e.store.Update(ctx, func(tx storage.ReadWriter) error {
		return tx.CreateInvitation(member.Invitation{ID: id, WorkspaceID: wsID, Email: email, Role: role, InviterID: inviterID,
			SecretHash: h.Hash(secret), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, secret
}

// The outcomes the design gives (AUTHORIZATION.md), worked out from the policy.
// Actors act in env.ws: one per member role, the owner, a platform user, an
// outsider and System; R is the target role of each operation.
type outcome = error

var (
	ok       outcome = nil
	denied           = tenancy.ErrPermissionDenied
	notFound         = tenancy.ErrNotFound
	invalid          = tenancy.ErrInvalidArgument
	precond          = tenancy.ErrFailedPrecondition
)

// matrixRules derives each operation's expected outcome from a policy.
type matrixRules struct{ p *rbac.Policy }

// role is the role an actor holds in env.ws ("" for none), and whether it is the
// owner.
func (x matrixRules) role(actor string) (rbac.Role, bool) {
	switch actor {
	case "owner":
		return x.p.Top(), true
	case "platform", "system":
		return rbac.Platform, false
	case "outsider":
		return "", false
	}
	return rbac.Role(actor), false
}

// grant is the outcome of granting R by invitation, addition or role change, which
// needs action: refused to whoever the policy does not allow it; nobody grants above
// their own role; platform is a user attribute, so granting it as a membership is
// refused as above the ceiling for members and as invalid for platform and System.
func (x matrixRules) grant(action rbac.Action) func(string, rbac.Role) outcome {
	return func(actor string, r rbac.Role) outcome {
		role, owner := x.role(actor)
		switch {
		case actor == "outsider":
			return notFound
		case role == rbac.Platform:
			if r == rbac.Platform {
				return invalid
			}
			return ok
		case !x.p.Allowed(role, owner, action):
			return denied
		case r == rbac.Platform, !x.p.CanGrant(role, r):
			return denied
		}
		return ok
	}
}

// manage is the outcome of changing or removing a member who holds R (or revoking
// an invitation to R): the action must be allowed and R must not be above the
// actor's role.
func (x matrixRules) manage(action rbac.Action, checkTarget bool) func(string, rbac.Role) outcome {
	return func(actor string, r rbac.Role) outcome {
		role, owner := x.role(actor)
		switch {
		case actor == "outsider":
			return notFound
		case role == rbac.Platform:
			return ok
		case !x.p.Allowed(role, owner, action):
			return denied
		case checkTarget && x.p.Rank(r) > x.p.Rank(role):
			return denied
		}
		return ok
	}
}

// accept is the outcome of accepting an invitation to role R sent by actor: the
// ceiling is checked again against the inviter's role at acceptance.
func (x matrixRules) accept(actor string, r rbac.Role) outcome {
	role, _ := x.role(actor)
	if !x.p.CanGrant(role, r) {
		return precond
	}
	return ok
}

// tinybirdPolicy is Tinybird's role set: a guest manages resources, not people.
var tinybirdPolicy = func() *rbac.Policy {
	p, err := rbac.Load(rbac.Options{Policy: storagetest.TinybirdPolicy})
	if err != nil {
		panic(err)
	}
	return p
}()

// The matrix runs with the default roles on every backend, and with Tinybird's on
// memory and bolt: the policies differ in the Manager's decisions, not in what a
// backend stores, and each run of the matrix costs PostgreSQL a schema per case.
func TestEscalationMatrix(t *testing.T) {
	for _, pol := range []struct {
		name     string
		p        *rbac.Policy
		postgres bool
	}{{"default", rbac.MustLoadDefault(), true}, {"tinybird", tinybirdPolicy, false}} {
		t.Run(pol.name, func(t *testing.T) { escalationMatrix(t, pol.p, pol.postgres) })
	}
}

func escalationMatrix(t *testing.T, policy *rbac.Policy, onPostgres bool) {
	x := matrixRules{policy}
	lowest := policy.Roles()[0]
	var actors []string
	principal := map[string]tenancy.Principal{"owner": owner, "platform": platform, "outsider": outsider, "system": system}
	userOf := map[string]string{"owner": "owner", "platform": "plat", "outsider": "outsider", "system": ""}
	for _, r := range policy.Roles() {
		actors = append(actors, string(r))
		principal[string(r)], userOf[string(r)] = tenancy.User(string(r)), string(r)
	}
	actors = append(actors, "owner", "platform", "outsider", "system")
	roles := append(policy.Roles(), rbac.Platform)
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
		{"invite", false, x.grant(rbac.InviteMembers), func(*testing.T, *env, string, rbac.Role) string { return "" },
			func(e *env, p tenancy.Principal, r rbac.Role, _ string) error {
				_, err := e.m.InviteMember(ctx, p, e.ws.ID, tenancy.NewInvitation{Email: "new@example.com", Role: r})
				return err
			}},
		{"add by ID", false, x.grant(rbac.ManageMembers), func(t *testing.T, e *env, _ string, _ rbac.Role) string { return target(t, e, "") },
			func(e *env, p tenancy.Principal, r rbac.Role, id string) error {
				_, err := e.m.AddMember(ctx, p, e.ws.ID, tenancy.NewMember{UserID: id, Role: r})
				return err
			}},
		{"add by email", false, x.grant(rbac.ManageMembers), func(t *testing.T, e *env, _ string, _ rbac.Role) string { return target(t, e, "") },
			func(e *env, p tenancy.Principal, r rbac.Role, _ string) error {
				_, err := e.m.AddMember(ctx, p, e.ws.ID, tenancy.NewMember{Email: " TARGET@example.com", Role: r})
				return err
			}},
		{"raise the lowest role to R", false, x.grant(rbac.ManageMembers), func(t *testing.T, e *env, _ string, _ rbac.Role) string { return target(t, e, lowest) },
			func(e *env, p tenancy.Principal, r rbac.Role, id string) error {
				_, err := e.m.ChangeRole(ctx, p, e.ws.ID, id, r)
				return err
			}},
		{"lower an R to the lowest role", true, x.manage(rbac.ManageMembers, true), func(t *testing.T, e *env, _ string, r rbac.Role) string { return target(t, e, r) },
			func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
				_, err := e.m.ChangeRole(ctx, p, e.ws.ID, id, lowest)
				return err
			}},
		{"remove an R", true, x.manage(rbac.ManageMembers, true), func(t *testing.T, e *env, _ string, r rbac.Role) string { return target(t, e, r) },
			func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
				return e.m.RemoveMember(ctx, p, e.ws.ID, id)
			}},
		{"resend an R invitation", true, x.grant(rbac.InviteMembers), func(t *testing.T, e *env, _ string, r rbac.Role) string {
			id, _ := e.putInvitation(t, e.ws.ID, "new@example.com", "", r)
			return id
		}, func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
			_, err := e.m.ResendInvitation(ctx, p, id)
			return err
		}},
		{"revoke an R invitation", true, x.manage(rbac.ManageMembers, false), func(t *testing.T, e *env, _ string, r rbac.Role) string {
			id, _ := e.putInvitation(t, e.ws.ID, "new@example.com", "", r)
			return id
		}, func(e *env, p tenancy.Principal, _ rbac.Role, id string) error {
			_, err := e.m.RevokeInvitation(ctx, p, id)
			return err
		}},
		{"accept an R invitation sent by the actor", true, func(a string, r rbac.Role) outcome { return x.accept(a, r) }, func(t *testing.T, e *env, actor string, r rbac.Role) string {
			target(t, e, "")
			_, secret := e.putInvitation(t, e.ws.ID, "target@example.com", userOf[actor], r)
			return secret
		}, func(e *env, _ tenancy.Principal, _ rbac.Role, secret string) error {
			_, err := e.m.AcceptInvitation(ctx, tenancy.User("target"), secret)
			return err
		}},
	}
	for _, b := range backends {
		if b.name == "postgres" && !onPostgres {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			// The backends run side by side (each one case at a time, so no two
			// PostgreSQL transactions overlap and its feed reads the same in
			// every dump); each case is a subtest, so its store is closed, and
			// PostgreSQL's schema handed on, as soon as it ends.
			t.Parallel()
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
						cases++
						t.Run(strings.ReplaceAll(fmt.Sprintf("%s by %s R=%s", o.name, actor, r), " ", "_"), func(t *testing.T) {
							e := newEnvWith(t, b, policy)
							arg := o.setup(t, e, actor, r)
							before := e.dump(t)
							err := o.call(e, principal[actor], r, arg)
							if want == nil && err != nil || want != nil && !errors.Is(err, want) {
								t.Errorf("%s by %s, R=%s: got %v, want %v", o.name, actor, r, err, want)
							}
							if err != nil && e.dump(t) != before {
								t.Errorf("%s by %s, R=%s: refused (%v) but storage changed", o.name, actor, r, err)
							}
							noop := r == lowest && strings.Contains(o.name, "lowest") // lowest to lowest
							if err == nil && !noop && e.dump(t) == before {
								t.Errorf("%s by %s, R=%s: succeeded but changed nothing", o.name, actor, r)
							}
						})
					}
				}
			}
			if cases < 200 {
				t.Errorf("only %d cases ran", cases)
			}
		})
	}
}
