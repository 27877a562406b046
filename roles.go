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

// ErrOwnerRole is returned by New when workspace owners would not hold the policy's
// highest role: a policy that adds a role above the owners' or reorders the roles.
// Owners would silently lose delete, restore and transfer, and Verify would report
// every workspace. Pass Options.RenameRoles moving the owners' role to the new
// highest one, in the same New.
var ErrOwnerRole = errors.New("tenancy: workspace owners would not hold the policy's highest role")

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
	err := m.store.View(ctx, func(tx storage.Reader) (err error) {
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
	err = m.update(ctx, "check roles", func(tx storage.ReadWriter) error {
		refusal = nil
		now := m.now()
		if len(renames) > 0 {
			if _, err := m.renameIn(tx, now, System(), renames); err != nil {
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
		// One walk of the memberships, only when the policy's roles changed (or
		// renames ran): the dropped roles still held, and the owners who would
		// not hold the highest role, without which they lose delete, restore and
		// transfer.
		count := map[rbac.Role]int{}
		var lowOwner *member.Member
		lowOwners := 0
		scan, err := scannerOf(tx)
		if err != nil {
			return internal("count roles", err)
		}
		top := m.ownerRole()
		err = scan.ScanAllMembers(func(mb member.Member) bool {
			if slices.Contains(dropped, mb.Role) {
				count[mb.Role]++
			}
			if mb.Owner && mb.Role != top {
				if lowOwner == nil {
					lowOwner = &mb
				}
				lowOwners++
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
		if lowOwner != nil {
			refusal = fmt.Errorf("%w: the highest role of the policy is %q, but %d workspace owner(s) hold %q (workspace %q): owners must hold the highest role. Move them with Options.RenameRoles (%s=%s), or keep %q highest",
				ErrOwnerRole, top, lowOwners, lowOwner.Role, lowOwner.WorkspaceID, lowOwner.Role, top, lowOwner.Role)
			return refusal
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
func storedRoles(tx storage.Reader) ([]rbac.Role, error) {
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
func (m *Manager) RenameRole(ctx context.Context, p Principal, from, to rbac.Role) (_ RoleRename, err error) {
	ctx, span := m.tel.start(ctx, "RenameRole", p)
	defer func() { span.end(err) }()
	now := m.now()
	var out RoleRename
	err = m.update(ctx, "rename role", func(tx storage.ReadWriter) error {
		if _, err := m.platformFor(tx, p, rbac.ManageRoles); err != nil {
			return err
		}
		outs, err := m.renameIn(tx, now, p, map[rbac.Role]rbac.Role{from: to})
		if len(outs) == 1 {
			out = outs[0]
		} else {
			out = RoleRename{From: from, To: to}
		}
		return err
	})
	if err != nil {
		return RoleRename{}, err
	}
	return out, nil
}

// renameIn applies renames (old role to new) inside tx as one simultaneous
// mapping: every membership, invitation and token is read once and moved once, by
// the role it held before any rename, so {viewer: editor, editor: viewer} swaps the
// two instead of merging them. A rename that names a role both as a target and as a
// source is refused all the same: a host writing {a: b, b: c} most likely meant a
// chain, which a simultaneous map would not do, so it must say which it means with
// two deploys. It reports each rename that changed something, by old name.
func (m *Manager) renameIn(tx storage.ReadWriter, now time.Time, p Principal, renames map[rbac.Role]rbac.Role) ([]RoleRename, error) {
	froms := slices.Sorted(mapKeys(renames))
	for _, from := range froms {
		to := renames[from]
		switch {
		case !m.policy.IsMemberRole(to):
			return nil, invalidf("role %q must be %s", string(to), m.policy.RoleList(false))
		case from == "" || from == rbac.Platform || from == to || strings.ContainsRune(string(from), 0) || len(from) > 64:
			return nil, invalidf("cannot rename role %q to %q: name another role", string(from), to)
		}
		if _, chained := renames[to]; chained {
			return nil, invalidf("cannot rename %q to %q while %q is itself renamed: renames apply at once, not in sequence; rename in two steps", string(from), to, to)
		}
	}
	var members []member.Member
	var invs []member.Invitation
	var toks []token.Token
	scan, err := scannerOf(tx)
	if err == nil {
		err = scan.ScanAllMembers(func(mb member.Member) bool {
			if _, ok := renames[mb.Role]; ok {
				members = append(members, mb)
			}
			return true
		})
	}
	if err == nil {
		err = scan.ScanAllInvitations("", func(inv member.Invitation) bool {
			if _, ok := renames[inv.Role]; ok {
				invs = append(invs, inv)
			}
			return true
		})
	}
	if err == nil {
		err = scan.ScanTokens("", func(t token.Token) bool {
			if _, ok := renames[t.Role]; ok {
				toks = append(toks, t)
			}
			return true
		})
	}
	if err != nil {
		return nil, internal("scan roles", err)
	}
	outs := map[rbac.Role]*RoleRename{}
	for _, from := range froms {
		outs[from] = &RoleRename{From: from, To: renames[from]}
	}
	for _, mb := range members {
		from := mb.Role
		to := renames[from]
		if mb.Owner && to != m.ownerRole() {
			return nil, preconditionf("the owner of workspace %q holds %s: owners hold the highest role, %s", mb.WorkspaceID, from, m.ownerRole())
		}
		mb.Role, mb.UpdatedAt = to, now
		if err := tx.ReplaceMember(mb); err != nil {
			return nil, internal("put member", err)
		}
		outs[from].Members++
	}
	for _, inv := range invs {
		from := inv.Role
		inv.Role = renames[from]
		if err := tx.ReplaceInvitation(inv); err != nil {
			return nil, internal("put invitation", err)
		}
		outs[from].Invitations++
	}
	for _, t := range toks {
		from := t.Role
		t.Role = renames[from]
		if err := tx.ReplaceToken(t); err != nil {
			return nil, internal("put token", err)
		}
		outs[from].Tokens++
	}
	var done []RoleRename
	for _, from := range froms {
		out := *outs[from]
		if out.Members+out.Invitations+out.Tokens == 0 {
			continue
		}
		done = append(done, out)
		if err := m.record(tx, now, p, "role.renamed", "", string(out.To), map[string]string{"from": string(out.From), "to": string(out.To),
			"members": fmt.Sprint(out.Members), "invitations": fmt.Sprint(out.Invitations), "tokens": fmt.Sprint(out.Tokens)}); err != nil {
			return nil, err
		}
	}
	return done, nil
}
