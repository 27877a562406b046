package tenancy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
)

// ErrUndeclaredRole is returned by New when stored memberships hold a role that
// Options.Policy does not declare: opening would leave those members with no
// permissions at all. Rename the role first (Options.RenameRoles, or RenameRole
// under a policy that declares both), or keep it in the policy.
var ErrUndeclaredRole = errors.New("tenancy: stored members hold a role the policy does not declare")

// settingRoles names the stored list of the member roles the store's records may
// hold: the roles of the last policy a Manager opened it with.
const settingRoles = "member_roles"

// legacyRoles are the roles a store written before policies declared their roles
// may hold: the only ones those versions accepted.
var legacyRoles = []rbac.Role{rbac.Viewer, rbac.Editor, rbac.Admin}

// checkRoles refuses a policy that drops a role stored members hold, after applying
// renames. It reads one setting when the policy's roles are the ones the store last
// saw and nothing is to be renamed; otherwise it renames, counts the memberships of
// dropped roles and records the new list in one transaction, so a refusal leaves the
// store as it was.
func (m *Manager) checkRoles(renames map[rbac.Role]rbac.Role) error {
	ctx := context.Background()
	want := m.policy.Roles()
	var stored []rbac.Role
	err := m.store.View(ctx, func(tx storage.Tx) (err error) {
		stored, err = storedRoles(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("tenancy: check the policy's roles against the store: %w", err)
	}
	if len(renames) == 0 && slices.Equal(stored, want) {
		return nil
	}
	var refusal error // ErrUndeclaredRole, kept apart from storage faults
	err = m.update(ctx, "check roles", func(tx storage.Tx) error {
		refusal = nil
		now := m.now()
		for _, from := range slices.Sorted(mapKeys(renames)) {
			if _, err := m.renameIn(tx, now, System(), from, renames[from]); err != nil {
				return fmt.Errorf("Options.RenameRoles: %w", err)
			}
		}
		stored, err := storedRoles(tx)
		if err != nil {
			return internal("read roles", err)
		}
		var dropped []rbac.Role
		for _, r := range stored {
			if !m.policy.IsMemberRole(r) {
				dropped = append(dropped, r)
			}
		}
		if len(dropped) > 0 {
			count := map[rbac.Role]int{}
			scan, err := scannerOf(tx)
			if err != nil {
				return internal("count roles", err)
			}
			err = scan.ScanAllMembers(func(mb member.Member) bool {
				if slices.Contains(dropped, mb.Role) {
					count[mb.Role]++
				}
				return true
			})
			if err != nil {
				return internal("count roles", err)
			}
			if held := slices.Sorted(mapKeys(count)); len(held) > 0 {
				r := held[0]
				refusal = fmt.Errorf("%w: role %q is held by %d member(s); the policy declares %s. Rename it (Options.RenameRoles, or Manager.RenameRole under a policy that declares both) or keep it in the policy",
					ErrUndeclaredRole, r, count[r], m.policy.RoleList(false))
				return refusal
			}
		}
		if slices.Equal(stored, want) {
			return nil
		}
		return tx.PutSetting(settingRoles, []byte(joinRoles(want, "\n")))
	})
	if refusal != nil {
		return refusal
	}
	if err != nil {
		return fmt.Errorf("tenancy: check the policy's roles against the store: %w", err)
	}
	return nil
}

// storedRoles reads the list of roles the store's records may hold.
func storedRoles(tx storage.Tx) ([]rbac.Role, error) {
	v, err := tx.Setting(settingRoles)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return legacyRoles, nil
	case err != nil:
		return nil, err
	}
	var out []rbac.Role
	for _, r := range strings.Split(string(v), "\n") {
		out = append(out, rbac.Role(r))
	}
	return out, nil
}

func joinRoles(rs []rbac.Role, sep string) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, sep)
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// RoleRename reports what RenameRole changed.
type RoleRename struct {
	From, To    rbac.Role
	Members     int // memberships now holding To
	Invitations int // invitations (in any state) now granting To
	Tokens      int // tokens whose role or cap is now To
}

// RenameRole gives every membership, invitation and token that holds role from the
// role to instead, in one transaction, and records a role.renamed event. It is how
// a host renames a role in its policy: open a Manager whose policy declares both,
// rename, then drop the old name from the policy (or pass Options.RenameRoles, which
// does the same while New opens the store). to must be a member role of the policy;
// from may be any role name, declared or not. Owners must keep the highest role, so
// renaming the role owners hold to a lower one is refused. Only System and platform
// users may (the platform:roles action).
//
// Errors: ErrInvalidArgument (to undeclared, from empty, the same, or platform),
// ErrFailedPrecondition (owners would leave the highest role), ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) RenameRole(ctx context.Context, p Principal, from, to rbac.Role) (RoleRename, error) {
	now := m.now()
	var out RoleRename
	err := m.update(ctx, "rename role", func(tx storage.Tx) error {
		if _, err := m.platformFor(tx, p, rbac.ManageRoles); err != nil {
			return err
		}
		var err error
		out, err = m.renameIn(tx, now, p, from, to)
		return err
	})
	if err != nil {
		return RoleRename{}, err
	}
	return out, nil
}

// renameIn renames role from to to for every record inside tx.
func (m *Manager) renameIn(tx storage.Tx, now time.Time, p Principal, from, to rbac.Role) (RoleRename, error) {
	out := RoleRename{From: from, To: to}
	switch {
	case !m.policy.IsMemberRole(to):
		return out, invalidf("role %q must be %s", truncate(string(to), 40), m.policy.RoleList(false))
	case from == "" || from == rbac.Platform || from == to || strings.ContainsRune(string(from), 0) || len(from) > 64:
		return out, invalidf("cannot rename role %q to %q: name another role", truncate(string(from), 40), to)
	}
	var members []member.Member
	var invs []member.Invitation
	var toks []token.Token
	scan, err := scannerOf(tx)
	if err == nil {
		err = scan.ScanAllMembers(func(mb member.Member) bool {
			if mb.Role == from {
				members = append(members, mb)
			}
			return true
		})
	}
	if err == nil {
		err = scan.ScanAllInvitations("", func(inv member.Invitation) bool {
			if inv.Role == from {
				invs = append(invs, inv)
			}
			return true
		})
	}
	if err == nil {
		err = scan.ScanTokens("", func(t token.Token) bool {
			if t.Role == from {
				toks = append(toks, t)
			}
			return true
		})
	}
	if err != nil {
		return out, internal("scan roles", err)
	}
	for _, mb := range members {
		if mb.Owner && to != m.policy.Top() {
			return out, preconditionf("the owner of workspace %q holds %s: owners hold the highest role, %s", mb.WorkspaceID, from, m.policy.Top())
		}
		mb.Role, mb.UpdatedAt = to, now
		if err := tx.PutMember(mb); err != nil {
			return out, internal("put member", err)
		}
	}
	for _, inv := range invs {
		inv.Role = to
		if err := tx.PutInvitation(inv); err != nil {
			return out, internal("put invitation", err)
		}
	}
	for _, t := range toks {
		t.Role = to
		if err := tx.PutToken(t); err != nil {
			return out, internal("put token", err)
		}
	}
	out.Members, out.Invitations, out.Tokens = len(members), len(invs), len(toks)
	if out.Members+out.Invitations+out.Tokens == 0 {
		return out, nil
	}
	return out, m.record(tx, now, p, "role.renamed", "", string(to), map[string]string{"from": string(from), "to": string(to),
		"members": fmt.Sprint(out.Members), "invitations": fmt.Sprint(out.Invitations), "tokens": fmt.Sprint(out.Tokens)})
}
