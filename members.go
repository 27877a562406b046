package tenancy

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// DefaultMemberLimit is the page size of member lists.
const DefaultMemberLimit = 50

// memberOf loads a membership for an operation, as not-found when absent.
func memberOf(tx storage.Reader, wsID, userID string) (member.Member, error) {
	mb, err := tx.GetMember(wsID, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return mb, notFoundf("user %q is not a member of workspace %q", userID, wsID)
	}
	if err != nil {
		return mb, internal("read member", err)
	}
	return mb, nil
}

// memberByRef finds a member by user ID or, when ref is an email address that is
// no member's ID, by the member's email. An email that is nobody's, or not a
// member's, answers the same not found, so the call tells nothing about accounts
// outside the workspace.
func memberByRef(tx storage.Reader, wsID, ref string) (member.Member, error) {
	mb, err := memberOf(tx, wsID, ref)
	if err == nil || !errors.Is(err, ErrNotFound) || !strings.Contains(ref, "@") {
		return mb, err
	}
	email, nerr := member.NormalizeEmail(ref)
	if nerr != nil {
		return mb, err
	}
	u, uerr := tx.GetUserByEmail(email)
	switch {
	case errors.Is(uerr, storage.ErrNotFound):
		return mb, notFoundf("no member of workspace %q has the email %q", wsID, email)
	case uerr != nil:
		return mb, internal("read user", uerr)
	}
	if mb, err = tx.GetMember(wsID, u.ID); errors.Is(err, storage.ErrNotFound) {
		return mb, notFoundf("no member of workspace %q has the email %q", wsID, email)
	} else if err != nil {
		return mb, internal("read member", err)
	}
	return mb, nil
}

// NewMember names a registered user to add to a workspace directly, by ID or email.
type NewMember struct {
	UserID string    // either this
	Email  string    // or this
	Role   rbac.Role // empty: Options.DefaultRole
}

// AddMember adds a registered user to a workspace with a role, without an
// invitation (System Initiative's "add user by email"). Admins may, in an active or
// inactive workspace, up to their own role.
//
// Errors: ErrInvalidArgument (bad role or email, neither or both of UserID and
// Email), ErrNotFound (no such workspace or user), ErrAlreadyExists (already a
// member), ErrPermissionDenied (not an admin, or above the grant ceiling),
// ErrFailedPrecondition (deleted workspace), ErrUnauthenticated.
func (m *Manager) AddMember(ctx context.Context, p Principal, workspaceID string, in NewMember) (_ member.Member, err error) {
	ctx, span := m.tel.start(ctx, "AddMember", p)
	defer func() { span.end(err) }()
	if in.Role == "" {
		in.Role = m.defaultRole
	}
	if err := m.checkRole(in.Role); err != nil {
		return member.Member{}, err
	}
	if (in.UserID == "") == (in.Email == "") {
		return member.Member{}, invalidf("name the user by ID or by email, not both")
	}
	email := ""
	if in.Email != "" {
		e, err := member.NormalizeEmail(in.Email)
		if err != nil {
			return member.Member{}, invalid(err)
		}
		email = e
	}
	now := m.now()
	var mb member.Member
	err = m.update(ctx, "add member", func(tx storage.ReadWriter) error {
		_, a, err := m.workspaceFor(tx, p, workspaceID, rbac.ManageMembers)
		if err != nil {
			return err
		}
		if err := m.checkGrant(a, in.Role); err != nil {
			return err
		}
		var u member.User
		if email != "" {
			u, err = tx.GetUserByEmail(email)
		} else {
			u, err = tx.GetUser(in.UserID)
		}
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("no registered user with that %s: invite them instead", map[bool]string{true: "email", false: "ID"}[email != ""])
		}
		if err != nil {
			return internal("read user", err)
		}
		mb = member.Member{WorkspaceID: workspaceID, UserID: u.ID, Role: in.Role, InvitedBy: a.userID, JoinedAt: now, UpdatedAt: now}
		if err := tx.CreateMember(mb); err != nil {
			if storage.ConflictIndex(err) == storage.IndexMember {
				return existsf("user %q is already a member", u.ID)
			}
			return internal("create member", err)
		}
		return m.record(tx, now, p, "member.added", workspaceID, u.ID, map[string]string{"role": string(in.Role)})
	})
	if err != nil {
		return member.Member{}, err
	}
	return mb, nil
}

// GetMember returns one member of a workspace, with role. Members may.
//
// Errors: ErrNotFound, ErrFailedPrecondition (deleted workspace), ErrUnauthenticated.
func (m *Manager) GetMember(ctx context.Context, p Principal, workspaceID, userID string) (_ member.Member, err error) {
	ctx, span := m.tel.start(ctx, "GetMember", p)
	defer func() { span.end(err) }()
	var mb member.Member
	err = m.view(ctx, "get member", func(tx storage.Reader) error {
		if _, _, err := m.workspaceFor(tx, p, workspaceID, rbac.ListMembers); err != nil {
			return err
		}
		var err error
		mb, err = memberOf(tx, workspaceID, userID)
		return err
	})
	if err != nil {
		return member.Member{}, err
	}
	return mb, nil
}

// MemberListOptions selects a page of members.
type MemberListOptions struct {
	Limit  int    // 1-100; 0 means 50
	Cursor string // from a previous page
}

// MemberInfo is a membership with the person it belongs to: the email and name an
// admin needs to know who their members are.
type MemberInfo struct {
	member.Member
	Email string // the user's email, normalised
	Name  string // the user's display name
}

// ListMembers returns one page of a workspace's members, by user ID, with role,
// owner flag, join time, who invited them, and each member's email and name.
// Members may. A page reads one user record per member.
//
// Errors: ErrInvalidArgument (limit, cursor), ErrNotFound, ErrFailedPrecondition
// (deleted workspace), ErrUnauthenticated.
func (m *Manager) ListMembers(ctx context.Context, p Principal, workspaceID string, opts MemberListOptions) (_ workspace.Page[MemberInfo], err error) {
	ctx, span := m.tel.start(ctx, "ListMembers", p)
	defer func() { span.end(err) }()
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, DefaultMemberLimit)
	if err != nil {
		return workspace.Page[MemberInfo]{}, err
	}
	pg := pager[MemberInfo]{limit: f.limit, key: func(mb MemberInfo) string { return mb.UserID }}
	err = m.view(ctx, "list members", func(tx storage.Reader) error {
		pg.page = workspace.Page[MemberInfo]{}
		if _, _, err := m.workspaceFor(tx, p, workspaceID, rbac.ListMembers); err != nil {
			return err
		}
		err := tx.ScanMembers(workspaceID, f.after, func(mb member.Member) bool { return pg.add(MemberInfo{Member: mb}) })
		if err != nil {
			return err
		}
		// The users are read after the scan: a backend may hold its cursor open
		// during one.
		for i := range pg.page.Items {
			u, err := tx.GetUser(pg.page.Items[i].UserID)
			if err != nil {
				return internal("read member's user", err)
			}
			pg.page.Items[i].Email, pg.page.Items[i].Name = u.Email, u.Name
		}
		return nil
	})
	return pg.result(opts.Cursor, err)
}

// ChangeRole gives a member a new role. userID may also be the member's email (when
// it is no member's ID). Admins may, up to their own role, and not on a member
// whose role is above theirs. The owner cannot be demoted: transfer
// ownership first. Because the owner is always an admin, a workspace always keeps at
// least one admin.
//
// Nobody changes their own role.
//
// Errors: ErrInvalidArgument (bad role, platform), ErrNotFound,
// ErrPermissionDenied, ErrFailedPrecondition (the owner; one's own role; deleted
// workspace), ErrUnauthenticated.
func (m *Manager) ChangeRole(ctx context.Context, p Principal, workspaceID, userID string, role rbac.Role) (_ member.Member, err error) {
	ctx, span := m.tel.start(ctx, "ChangeRole", p)
	defer func() { span.end(err) }()
	if err := m.checkRole(role); err != nil {
		return member.Member{}, err
	}
	now := m.now()
	var mb member.Member
	err = m.update(ctx, "change role", func(tx storage.ReadWriter) error {
		_, a, err := m.workspaceFor(tx, p, workspaceID, rbac.ManageMembers)
		if err != nil {
			return err
		}
		if err := m.checkGrant(a, role); err != nil {
			return err
		}
		if mb, err = memberByRef(tx, workspaceID, userID); err != nil {
			return err
		}
		if err := m.checkTarget(a, mb, "change"); err != nil {
			return err
		}
		if mb.Role == role {
			return nil
		}
		if mb.Owner {
			return preconditionf("the owner must stay an admin: transfer ownership first")
		}
		if !a.system && mb.UserID == a.userID {
			// Roles are given by someone else: an admin demoting themselves by
			// mistake would need another admin to undo it.
			return preconditionf("you cannot change your own role: ask another admin")
		}
		from := mb.Role
		mb.Role, mb.UpdatedAt = role, now
		if err := tx.ReplaceMember(mb); err != nil {
			return internal("put member", err)
		}
		return m.record(tx, now, p, "member.role_changed", workspaceID, userID, map[string]string{"from": string(from), "to": string(role)})
	})
	if err != nil {
		return member.Member{}, err
	}
	return mb, nil
}

// RemoveMember removes a member from a workspace, and revokes the workspace tokens
// they created there, in the same transaction. userID may also be the member's
// email (when it is no member's ID). Admins may, not on a member whose role
// is above theirs. The owner cannot be removed.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition (the owner; deleted
// workspace), ErrUnauthenticated.
func (m *Manager) RemoveMember(ctx context.Context, p Principal, workspaceID, userID string) (err error) {
	ctx, span := m.tel.start(ctx, "RemoveMember", p)
	defer func() { span.end(err) }()
	now := m.now()
	return m.update(ctx, "remove member", func(tx storage.ReadWriter) error {
		_, a, err := m.workspaceFor(tx, p, workspaceID, rbac.ManageMembers)
		if err != nil {
			return err
		}
		mb, err := memberByRef(tx, workspaceID, userID)
		if err != nil {
			return err
		}
		if err := m.checkTarget(a, mb, "remove"); err != nil {
			return err
		}
		if mb.Owner {
			return preconditionf("the owner cannot be removed: transfer ownership first")
		}
		return m.dropMember(tx, now, p, mb, "member.removed")
	})
}

// LeaveWorkspace removes p's own membership, revoking the workspace tokens p created
// there. The owner cannot leave: transfer ownership first. A membership is the
// user's own: only the user or a personal token without a cap may leave.
//
// Errors: ErrNotFound (not a member), ErrPermissionDenied (a workspace or capped
// token), ErrFailedPrecondition (the owner; deleted workspace), ErrUnauthenticated.
func (m *Manager) LeaveWorkspace(ctx context.Context, p Principal, workspaceID string) (err error) {
	ctx, span := m.tel.start(ctx, "LeaveWorkspace", p)
	defer func() { span.end(err) }()
	now := m.now()
	return m.update(ctx, "leave workspace", func(tx storage.ReadWriter) error {
		act, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		_, a, err := m.workspaceAs(tx, act, workspaceID, rbac.ReadWorkspace)
		if err != nil {
			return err
		}
		if err := requireSelf(act, "memberships"); err != nil {
			return err
		}
		if !a.member {
			return notFoundf("you are not a member of workspace %q", workspaceID)
		}
		mb, err := memberOf(tx, workspaceID, a.userID)
		if err != nil {
			return err
		}
		if mb.Owner {
			return preconditionf("the owner cannot leave: transfer ownership first")
		}
		return m.dropMember(tx, now, p, mb, "member.left")
	})
}

// dropMember deletes a membership and revokes the workspace tokens its user made in
// that workspace.
func (m *Manager) dropMember(tx storage.ReadWriter, now time.Time, p Principal, mb member.Member, typ string) error {
	if err := tx.DeleteMember(mb.WorkspaceID, mb.UserID); err != nil {
		return internal("delete member", err)
	}
	revoked, err := m.revokeUserTokensIn(tx, now, mb.UserID, mb.WorkspaceID)
	if err != nil {
		return err
	}
	data := map[string]string{"role": string(mb.Role)}
	if len(revoked) > 0 {
		data["tokens_revoked"] = strings.Join(revoked, ",")
	}
	return m.record(tx, now, p, typ, mb.WorkspaceID, mb.UserID, data)
}

// revokeUserTokensIn revokes the active workspace tokens userID created in wsID and
// returns their IDs.
func (m *Manager) revokeUserTokensIn(tx storage.ReadWriter, now time.Time, userID, wsID string) ([]string, error) {
	var toks []token.Token
	if err := tx.ScanUserTokens(userID, "", func(t token.Token) bool {
		if t.WorkspaceID == wsID && t.RevokedAt.IsZero() {
			toks = append(toks, t)
		}
		return true
	}); err != nil {
		return nil, internal("scan tokens", err)
	}
	ids := make([]string, 0, len(toks))
	for _, t := range toks {
		t.RevokedAt = now
		if err := tx.ReplaceToken(t); err != nil {
			return nil, internal("revoke token", err)
		}
		ids = append(ids, t.ID)
	}
	return ids, nil
}

// TransferOwnership makes another admin of the workspace its owner; the old owner
// stays an admin. The owner and platform users may.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition (the new owner is
// not an admin; deleted workspace), ErrUnauthenticated.
func (m *Manager) TransferOwnership(ctx context.Context, p Principal, workspaceID, toUserID string) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "TransferOwnership", p)
	defer func() { span.end(err) }()
	now := m.now()
	var w workspace.Workspace
	err = m.update(ctx, "transfer ownership", func(tx storage.ReadWriter) error {
		var err error
		if w, _, err = m.workspaceFor(tx, p, workspaceID, rbac.DeleteWorkspace); err != nil {
			return err
		}
		if w.Status == workspace.Deleted {
			return preconditionf("workspace %q is deleted: restore it first", workspaceID)
		}
		to, err := memberOf(tx, workspaceID, toUserID)
		if err != nil {
			return err
		}
		if to.Owner {
			return nil
		}
		if top := m.ownerRole(); to.Role != top {
			return preconditionf("ownership can only move to a member of the highest role, %s: make %q %s first", top, toUserID, top)
		}
		from, err := memberOf(tx, workspaceID, w.OwnerID)
		if err != nil {
			return internal("read owner", err)
		}
		from.Owner, from.UpdatedAt = false, now
		to.Owner, to.UpdatedAt = true, now
		prev := w.OwnerID
		w.OwnerID, w.UpdatedAt = toUserID, now
		for _, err := range []error{tx.ReplaceMember(from), tx.ReplaceMember(to), tx.ReplaceWorkspace(w)} {
			if err != nil {
				return internal("transfer ownership", err)
			}
		}
		return m.record(tx, now, p, "workspace.ownership_transferred", workspaceID, toUserID, map[string]string{"from": prev})
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}
