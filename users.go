package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// NewUser describes a user to register.
type NewUser struct {
	ID    string // the host's user ID
	Email string // normalised: trimmed, ASCII letters lowercased
	Name  string
}

// RegisterUser records a user of the host application. Only System and platform
// users register users; tenancy never authenticates people itself.
//
// Errors: ErrInvalidArgument (bad ID, email or name), ErrAlreadyExists (the ID or
// the email is taken), ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) RegisterUser(ctx context.Context, p Principal, in NewUser) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "RegisterUser", p)
	defer func() { span.end(err) }()
	email, err := member.NormalizeEmail(in.Email)
	if err != nil {
		return member.User{}, invalid(err)
	}
	if err := member.ValidateUserID(in.ID); err != nil {
		return member.User{}, invalid(err)
	}
	if err := member.ValidateName(in.Name); err != nil {
		return member.User{}, invalid(err)
	}
	now := m.now()
	u := member.User{ID: in.ID, Email: email, Name: in.Name, CreatedAt: now, UpdatedAt: now}
	err = m.update(ctx, "register user", func(tx storage.ReadWriter) error {
		if _, err := m.platformFor(tx, p, rbac.ManageUsers); err != nil {
			return err
		}
		if err := tx.CreateUser(u); err != nil {
			return userConflict(err, u)
		}
		return m.record(tx, now, p, "user.registered", "", u.ID, nil)
	})
	if err != nil {
		return member.User{}, err
	}
	return u, nil
}

// userConflict turns a failed insert of u into the Manager's error.
func userConflict(err error, u member.User) error {
	switch storage.ConflictIndex(err) {
	case storage.IndexUserID:
		return existsf("user %q already exists", u.ID)
	case storage.IndexUserEmail:
		return existsf("email %q is already registered", u.Email)
	}
	return internal("create user", err)
}

// GetUser returns a user by ID. Users may read themselves (with any of their tokens);
// System and platform users (signed in, or with a personal token that is uncapped or
// capped at platform) may read anyone.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) GetUser(ctx context.Context, p Principal, userID string) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "GetUser", p)
	defer func() { span.end(err) }()
	var u member.User
	err = m.view(ctx, "get user", func(tx storage.Reader) error {
		var err error
		u, err = m.readUser(tx, p, func() (member.User, error) { return tx.GetUser(userID) })
		return err
	})
	return u, err
}

// GetUserByEmail returns a user by email, normalised first. Same rules as GetUser.
//
// Errors: ErrInvalidArgument (not an email), ErrNotFound, ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) GetUserByEmail(ctx context.Context, p Principal, email string) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "GetUserByEmail", p)
	defer func() { span.end(err) }()
	e, err := member.NormalizeEmail(email)
	if err != nil {
		return member.User{}, invalid(err)
	}
	var u member.User
	err = m.view(ctx, "get user", func(tx storage.Reader) error {
		var err error
		u, err = m.readUser(tx, p, func() (member.User, error) { return tx.GetUserByEmail(e) })
		return err
	})
	return u, err
}

// SetPlatform grants (on) or withdraws (off) a user's platform attribute, which
// allows cross-workspace operations. Only System and platform users may: the grant
// ceiling means nobody below platform grants platform.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) SetPlatform(ctx context.Context, p Principal, userID string, on bool) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "SetPlatform", p)
	defer func() { span.end(err) }()
	now := m.now()
	var u member.User
	err = m.update(ctx, "set platform", func(tx storage.ReadWriter) error {
		if _, err := m.platformFor(tx, p, rbac.ManageUsers); err != nil {
			return err
		}
		var err error
		u, err = tx.GetUser(userID)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("user %q not found", userID)
		}
		if err != nil {
			return internal("read user", err)
		}
		if u.Platform == on {
			return nil
		}
		u.Platform, u.UpdatedAt = on, now
		if err := tx.ReplaceUser(u); err != nil {
			return internal("put user", err)
		}
		typ := "user.platform_granted"
		if !on {
			typ = "user.platform_revoked"
		}
		return m.record(tx, now, p, typ, "", u.ID, nil)
	})
	if err != nil {
		return member.User{}, err
	}
	return u, nil
}

// ListUsers returns one page of registered users, by ID. Only System and platform
// users may.
//
// Errors: ErrInvalidArgument (limit, cursor), ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) ListUsers(ctx context.Context, p Principal, opts MemberListOptions) (_ workspace.Page[member.User], err error) {
	ctx, span := m.tel.start(ctx, "ListUsers", p)
	defer func() { span.end(err) }()
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, DefaultMemberLimit)
	if err != nil {
		return workspace.Page[member.User]{}, err
	}
	pg := pager[member.User]{limit: f.limit, key: func(u member.User) string { return u.ID }}
	err = m.view(ctx, "list users", func(tx storage.Reader) error {
		pg.page = workspace.Page[member.User]{}
		if _, err := m.platformFor(tx, p, rbac.ManageUsers); err != nil {
			return err
		}
		return tx.ScanUsers(f.after, pg.add)
	})
	return pg.result(opts.Cursor, err)
}

// UserUpdate changes a user's name or email; nil fields stay as they are.
type UserUpdate struct {
	Name *string
	// Email is normalised like RegisterUser's and must stay unique. Only System and
	// platform users set it directly, vouching for the address as the host does at
	// registration; a person changing their own proves the new address with
	// RequestEmailChange and ConfirmEmailChange.
	Email *string
}

// UpdateUser changes a user's name or email and records a user.updated event that
// names the changed fields, never their values. The user (signed in, or with a
// personal token without a cap), System and platform users may change the name.
// Only System and platform users may set the email directly, and the event says
// so ("email_set_by": "system" or "platform"); the address then counts as proven,
// and a pending self-service change is dropped. A user's own change of email is
// refused here (ErrPermissionDenied, naming RequestEmailChange): an address must be
// proven before invitations compare with it. Pending invitations stay bound to the
// address they were sent to.
//
// Errors: ErrInvalidArgument (bad email or name), ErrAlreadyExists (the email is
// another user's), ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) UpdateUser(ctx context.Context, p Principal, userID string, in UserUpdate) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "UpdateUser", p)
	defer func() { span.end(err) }()
	var email string
	if in.Email != nil {
		e, err := member.NormalizeEmail(*in.Email)
		if err != nil {
			return member.User{}, invalid(err)
		}
		email = e
	}
	if in.Name != nil {
		if err := member.ValidateName(*in.Name); err != nil {
			return member.User{}, invalid(err)
		}
	}
	now := m.now()
	var u member.User
	err = m.update(ctx, "update user", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if u, err = m.userFor(tx, a, userID); err != nil {
			return err
		}
		var changed []string
		data := map[string]string{}
		if in.Email != nil && email != u.Email {
			switch {
			case a.system:
				data["email_set_by"] = "system"
			case a.platform:
				data["email_set_by"] = "platform"
			default:
				return deniedf("an email address must be proven before it counts: change your own with RequestEmailChange (POST /user/email-change), which sends a secret to the new address")
			}
			if err := clearEmailChange(tx, u.ID); err != nil {
				return err
			}
			u.Email = email
			changed = append(changed, "email")
		}
		if in.Name != nil && *in.Name != u.Name {
			u.Name = *in.Name
			changed = append(changed, "name")
		}
		if len(changed) == 0 {
			return nil
		}
		u.UpdatedAt = now
		if err := tx.ReplaceUser(u); err != nil {
			if storage.ConflictIndex(err) == storage.IndexUserEmail {
				return existsf("email %q is already registered", u.Email)
			}
			return internal("put user", err)
		}
		data["fields"] = strings.Join(changed, ",")
		return m.record(tx, now, p, "user.updated", "", u.ID, data)
	})
	if err != nil {
		return member.User{}, err
	}
	return u, nil
}

// SuspendUser suspends a user: from the next call on, the user and every token
// they created fail authentication (ErrUnauthenticated), while their memberships,
// tokens and ownerships are kept for ReactivateUser. Only System and platform users
// may, and nobody suspends themselves. Suspending a suspended user changes nothing.
//
// Errors: ErrNotFound, ErrInvalidArgument (oneself), ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) SuspendUser(ctx context.Context, p Principal, userID string) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "SuspendUser", p)
	defer func() { span.end(err) }()
	return m.setSuspended(ctx, p, userID, true)
}

// ReactivateUser lifts a suspension: the user's tokens work again, as they were.
// Only System and platform users may. Reactivating an active user changes nothing.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) ReactivateUser(ctx context.Context, p Principal, userID string) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "ReactivateUser", p)
	defer func() { span.end(err) }()
	return m.setSuspended(ctx, p, userID, false)
}

func (m *Manager) setSuspended(ctx context.Context, p Principal, userID string, on bool) (member.User, error) {
	now := m.now()
	var u member.User
	err := m.update(ctx, "suspend user", func(tx storage.ReadWriter) error {
		a, err := m.platformFor(tx, p, rbac.ManageUsers)
		if err != nil {
			return err
		}
		if on && !a.system && a.user.ID == userID {
			return invalidf("you cannot suspend yourself")
		}
		u, err = tx.GetUser(userID)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("user %q not found", userID)
		}
		if err != nil {
			return internal("read user", err)
		}
		if u.Suspended() == on {
			return nil
		}
		u.SuspendedAt, u.UpdatedAt = time.Time{}, now
		typ := "user.reactivated"
		if on {
			u.SuspendedAt, typ = now, "user.suspended"
		}
		if err := tx.ReplaceUser(u); err != nil {
			return internal("put user", err)
		}
		if err := m.markTokens(tx, u.ID, on); err != nil {
			return err
		}
		return m.record(tx, now, p, typ, "", u.ID, nil)
	})
	if err != nil {
		return member.User{}, err
	}
	return u, nil
}

// UserErasure reports what DeleteUser removed.
type UserErasure struct {
	UserID      string
	Memberships int // memberships removed
	Tokens      int // tokens removed, personal and workspace ones they created
	// InvitationsRevoked are pending invitations the user had sent, revoked: an
	// invitation stands on its inviter's role, and the inviter is gone.
	InvitationsRevoked int
	// InvitationsDeleted are invitations addressed to the user's email or accepted
	// by them: they hold the email, so they go with the person.
	InvitationsDeleted int
}

// DeleteUser erases a user (the GDPR right to erasure): in one transaction it
// removes their memberships, every token they created and the user record, and
// deletes the invitations that hold their email (sent to it, or accepted by them).
// Invitations they sent stay listed under their workspaces without an inviter;
// pending ones are revoked first. It is refused while the user owns a workspace,
// deleted ones included: transfer (or purge) it first. Events never carry a user's
// email or name, only IDs, so the log keeps no personal data; the user.deleted
// event names the ID and the counts. It reads every invitation of the store, to
// find those holding the email. The user (signed in, or with a personal token
// without a cap), System and platform users may.
//
// Errors: ErrFailedPrecondition (owns a workspace), ErrNotFound,
// ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) DeleteUser(ctx context.Context, p Principal, userID string) (_ UserErasure, err error) {
	ctx, span := m.tel.start(ctx, "DeleteUser", p)
	defer func() { span.end(err) }()
	now := m.now()
	var out UserErasure
	err = m.update(ctx, "delete user", func(tx storage.ReadWriter) error {
		out = UserErasure{UserID: userID}
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		u, err := m.userFor(tx, a, userID)
		if err != nil {
			return err
		}
		var mbs []member.Member
		if err := tx.ScanUserMemberships(u.ID, "", func(mb member.Member) bool { mbs = append(mbs, mb); return true }); err != nil {
			return internal("read memberships", err)
		}
		for _, mb := range mbs {
			if mb.Owner {
				return preconditionf("user %q owns workspace %q: transfer ownership first", u.ID, mb.WorkspaceID)
			}
		}
		var toks []string
		if err := tx.ScanUserTokens(u.ID, "", func(t token.Token) bool { toks = append(toks, t.ID); return true }); err != nil {
			return internal("read tokens", err)
		}
		var drop, sent []member.Invitation
		scan, err := scannerOf(tx)
		if err != nil {
			return internal("read invitations", err)
		}
		if err := scan.ScanAllInvitations("", func(inv member.Invitation) bool {
			switch {
			case inv.Email == u.Email || inv.AcceptedBy == u.ID:
				drop = append(drop, inv)
			case inv.InviterID == u.ID:
				sent = append(sent, inv)
			}
			return true
		}); err != nil {
			return internal("read invitations", err)
		}
		for _, mb := range mbs {
			if err := tx.DeleteMember(mb.WorkspaceID, mb.UserID); err != nil {
				return internal("delete membership", err)
			}
		}
		for _, id := range toks {
			if err := tx.DeleteToken(id); err != nil {
				return internal("delete token", err)
			}
		}
		for _, inv := range drop {
			if err := tx.DeleteInvitation(inv.ID); err != nil {
				return internal("delete invitation", err)
			}
		}
		for _, inv := range sent {
			if inv.State(now) == member.Pending {
				inv.RevokedAt = now
				out.InvitationsRevoked++
			}
			inv.InviterID = ""
			if err := tx.ReplaceInvitation(inv); err != nil {
				return internal("put invitation", err)
			}
		}
		if err := clearEmailChange(tx, u.ID); err != nil {
			return err
		}
		if err := tx.DeleteUser(u.ID); err != nil {
			return internal("delete user", err)
		}
		out.Memberships, out.Tokens, out.InvitationsDeleted = len(mbs), len(toks), len(drop)
		return m.record(tx, now, p, "user.deleted", "", u.ID, map[string]string{
			"memberships": strconv.Itoa(out.Memberships), "tokens": strconv.Itoa(out.Tokens),
			"invitations_revoked": strconv.Itoa(out.InvitationsRevoked), "invitations_deleted": strconv.Itoa(out.InvitationsDeleted)})
	})
	if err != nil {
		return UserErasure{}, err
	}
	return out, nil
}

// settingSuspensionMarks records that every token of a suspended user carries
// token.UserSuspended. Every write of this version keeps that true; New makes it
// true, once, of a store written before, and then records this setting.
const settingSuspensionMarks = "token_user_suspension_marks"

// markTokens sets the UserSuspended mark of every token userID created to on, in the
// transaction that suspends or reactivates them, so Authenticate can refuse a
// suspended user's token from the token alone.
func (m *Manager) markTokens(tx storage.ReadWriter, userID string, on bool) error {
	var change []token.Token
	if err := tx.ScanUserTokens(userID, "", func(t token.Token) bool {
		if t.UserSuspended != on {
			change = append(change, t)
		}
		return true
	}); err != nil {
		return internal("scan tokens", err)
	}
	for _, t := range change {
		t.UserSuspended = on
		if err := tx.ReplaceToken(t); err != nil {
			return internal("put token", err)
		}
	}
	return nil
}

// markSuspendedTokens makes every token of a suspended user carry the mark, from
// New. A suspension written without it (by a version before the mark, still running
// beside this one on a shared database; by a copy; by a host's own tool) would
// otherwise let the user's tokens pass Authenticate. Where the backend finds the
// suspended users through an index (storage.SuspendedUserScanner: every backend of
// this module), this runs at every start and reads only those users and their
// tokens, usually none; elsewhere it walks every user once per store, guarded by a
// setting. resolve mends the same gap when it meets it (healSuspension).
func (m *Manager) markSuspendedTokens() error {
	ctx := context.Background()
	indexed, done := false, false
	var need []string // suspended users with an unmarked token
	err := m.store.View(ctx, func(tx storage.Reader) error {
		need = need[:0]
		if sc, ok := tx.(storage.SuspendedUserScanner); ok {
			indexed = true
			var ids []string
			if err := sc.ScanSuspendedUsers(func(u member.User) bool { ids = append(ids, u.ID); return true }); err != nil {
				return err
			}
			for _, id := range ids {
				unmarked := false
				if err := tx.ScanUserTokens(id, "", func(t token.Token) bool { unmarked = !t.UserSuspended; return !unmarked }); err != nil {
					return err
				}
				if unmarked {
					need = append(need, id)
				}
			}
			return nil
		}
		_, err := tx.Setting(settingSuspensionMarks)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		done = err == nil
		return err
	})
	switch {
	case err != nil:
	case indexed && len(need) > 0:
		err = m.update(ctx, "mark suspended users' tokens", func(tx storage.ReadWriter) error {
			for _, id := range need {
				if err := m.markIfSuspended(tx, id); err != nil {
					return err
				}
			}
			return nil
		})
	case !indexed && !done:
		err = m.update(ctx, "mark suspended users' tokens", func(tx storage.ReadWriter) error {
			var suspended []string
			if err := tx.ScanUsers("", func(u member.User) bool {
				if u.Suspended() {
					suspended = append(suspended, u.ID)
				}
				return true
			}); err != nil {
				return internal("scan users", err)
			}
			for _, id := range suspended {
				if err := m.markTokens(tx, id, true); err != nil {
					return err
				}
			}
			return tx.PutSetting(settingSuspensionMarks, []byte("1"))
		})
	}
	if err != nil {
		return fmt.Errorf("tenancy: mark the tokens of suspended users: %w", err)
	}
	return nil
}

// markIfSuspended marks userID's tokens when the user is (still) suspended, in tx.
func (m *Manager) markIfSuspended(tx storage.ReadWriter, userID string) error {
	u, err := tx.GetUser(userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // erased meanwhile: the tokens went with them
	}
	if err != nil {
		return internal("read user", err)
	}
	if !u.Suspended() {
		return nil
	}
	return m.markTokens(tx, userID, true)
}

// healSuspension marks the tokens of a suspended user whose token resolve found
// unmarked, in the background (resolve may run in a read-only transaction), once at
// a time per user. Close waits for it.
func (m *Manager) healSuspension(userID string) {
	if _, busy := m.healing.LoadOrStore(userID, true); busy {
		return
	}
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		defer m.healing.Delete(userID)
		err := m.update(context.Background(), "mark suspended user's tokens", func(tx storage.ReadWriter) error {
			return m.markIfSuspended(tx, userID)
		})
		if err != nil && m.log != nil {
			m.log.Error("tenancy: mark a suspended user's tokens", "user", userID, "error", err)
		}
	}()
}
