package tenancy

import (
	"context"
	"errors"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// NewInvitation describes an invitation to send.
type NewInvitation struct {
	Email string
	Role  rbac.Role // empty: Options.DefaultRole
	// TTL is how long it stays valid: 0 means Options.InvitationTTL (7 days by
	// default); at most Options.MaxInvitationTTL (30 days by default).
	TTL time.Duration
}

// SentInvitation is an invitation with its secret. The secret is returned only
// here, once: put it in the link you send; tenancy keeps only its keyed hash.
type SentInvitation struct {
	Invitation member.Invitation
	Secret     string
	Resent     bool // a pending invitation to this email was renewed
}

// InvitationInfo is an invitation as listed, with its state at the time of the list.
type InvitationInfo struct {
	member.Invitation
	State member.InvitationState
}

func (m *Manager) invitationPrefix() string { return m.prefix + "i" }

// newInvitationSecret makes a secret and its hash, outside any transaction.
func (m *Manager) newInvitationSecret() (string, []byte, error) {
	secret, err := token.NewSecret(m.invitationPrefix(), nil)
	if err != nil {
		return "", nil, err
	}
	return secret, m.hasher.Hash(secret), nil
}

func (m *Manager) invitationTTL(ttl time.Duration) (time.Duration, error) {
	switch {
	case ttl == 0:
		return m.invTTL, nil
	case ttl < 0 || ttl > m.maxInvTTL:
		return 0, invalidf("invitation lifetime must be between 1s and %s", m.maxInvTTL)
	}
	return ttl, nil
}

// scrub hides an invitation's secret hash from callers: it is an internal value.
func scrub(inv member.Invitation) member.Invitation {
	inv.SecretHash = nil
	return inv
}

// InviteMember invites someone by email to a workspace with a role: the email need
// not be a registered user yet. If that email already has a pending invitation to
// the workspace, it is resent: a new secret and expiry, and the old link stops
// working. Admins may, in an active workspace, up to their own role.
//
// Errors: ErrInvalidArgument (bad email, role or lifetime), ErrAlreadyExists (the
// email belongs to a member), ErrNotFound, ErrPermissionDenied (not an admin, above
// the grant ceiling), ErrFailedPrecondition (inactive or deleted workspace),
// ErrUnauthenticated.
func (m *Manager) InviteMember(ctx context.Context, p Principal, workspaceID string, in NewInvitation) (_ SentInvitation, err error) {
	ctx, span := m.tel.start(ctx, "InviteMember", p)
	defer func() { span.end(err) }()
	if in.Role == "" {
		in.Role = m.defaultRole
	}
	if err := m.checkRole(in.Role); err != nil {
		return SentInvitation{}, err
	}
	email, err := member.NormalizeEmail(in.Email)
	if err != nil {
		return SentInvitation{}, invalid(err)
	}
	ttl, err := m.invitationTTL(in.TTL)
	if err != nil {
		return SentInvitation{}, err
	}
	secret, hash, err := m.newInvitationSecret()
	if err != nil {
		return SentInvitation{}, err
	}
	now := m.now()
	id := m.ids.next("inv_", now)
	var out SentInvitation
	err = m.update(ctx, "invite member", func(tx storage.ReadWriter) error {
		_, a, err := m.workspaceFor(tx, p, workspaceID, rbac.InviteMembers)
		if err != nil {
			return err
		}
		if err := m.checkGrant(a, in.Role); err != nil {
			return err
		}
		switch u, err := tx.GetUserByEmail(email); {
		case err == nil:
			if _, err := tx.GetMember(workspaceID, u.ID); err == nil {
				return existsf("%s is already a member of this workspace", email)
			} else if !errors.Is(err, storage.ErrNotFound) {
				return internal("read member", err)
			}
		case !errors.Is(err, storage.ErrNotFound):
			return internal("read user", err)
		}
		inv := member.Invitation{ID: id, WorkspaceID: workspaceID, Email: email, Role: in.Role, InviterID: a.userID, CreatedAt: now}
		typ := "member.invited"
		out.Resent = false
		if pending, ok, err := pendingInvitation(tx, workspaceID, email, now); err != nil {
			return err
		} else if ok {
			inv, typ, out.Resent = pending, "invitation.resent", true
			inv.Role, inv.InviterID = in.Role, a.userID
		}
		inv.SecretHash, inv.Hint, inv.ExpiresAt = hash, token.Hint(secret), now.Add(ttl)
		write := tx.CreateInvitation
		if out.Resent {
			write = tx.ReplaceInvitation
		}
		if err := write(inv); err != nil {
			return internal("write invitation", err)
		}
		out.Invitation = scrub(inv)
		return m.record(tx, now, p, typ, workspaceID, inv.ID, map[string]string{"invitation": inv.ID, "role": string(inv.Role), "hint": inv.Hint})
	})
	if err != nil {
		return SentInvitation{}, err
	}
	out.Secret = secret
	return out, nil
}

// pendingInvitation finds the pending invitation of email to a workspace, if any.
func pendingInvitation(tx storage.Reader, wsID, email string, now time.Time) (member.Invitation, bool, error) {
	var found member.Invitation
	ok := false
	err := tx.ScanInvitations(wsID, "", func(inv member.Invitation) bool {
		if inv.Email == email && inv.State(now) == member.Pending {
			found, ok = inv, true
			return false
		}
		return true
	})
	if err != nil {
		return found, false, internal("scan invitations", err)
	}
	return found, ok, nil
}

// invitationFor loads an invitation by ID and checks p may perform action in its
// workspace. Someone who may not act in that workspace gets not-found, whatever
// workspace they administer.
func (m *Manager) invitationFor(tx storage.Reader, p Principal, id string, action rbac.Action) (member.Invitation, access, error) {
	act, err := m.resolve(tx, p)
	if err != nil {
		return member.Invitation{}, access{}, err
	}
	inv, err := tx.GetInvitation(id)
	if errors.Is(err, storage.ErrNotFound) {
		return inv, access{}, notFoundf("invitation %q not found", id)
	}
	if err != nil {
		return inv, access{}, internal("read invitation", err)
	}
	_, a, err := m.workspaceAs(tx, act, inv.WorkspaceID, action)
	if errors.Is(err, ErrNotFound) {
		return inv, a, notFoundf("invitation %q not found", id)
	}
	return inv, a, err
}

// ResendInvitation renews a pending or expired invitation: a new secret and expiry;
// the old link stops working. The grant ceiling is checked again, against the
// resender. Admins may, in an active workspace.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition (accepted or
// revoked; inactive or deleted workspace), ErrUnauthenticated.
func (m *Manager) ResendInvitation(ctx context.Context, p Principal, invitationID string) (_ SentInvitation, err error) {
	ctx, span := m.tel.start(ctx, "ResendInvitation", p)
	defer func() { span.end(err) }()
	secret, hash, err := m.newInvitationSecret()
	if err != nil {
		return SentInvitation{}, err
	}
	now := m.now()
	var out SentInvitation
	err = m.update(ctx, "resend invitation", func(tx storage.ReadWriter) error {
		inv, a, err := m.invitationFor(tx, p, invitationID, rbac.InviteMembers)
		if err != nil {
			return err
		}
		if err := m.checkGrant(a, inv.Role); err != nil {
			return err
		}
		switch inv.State(now) {
		case member.Accepted, member.Revoked:
			return preconditionf("invitation %q was %s: send a new one", invitationID, inv.State(now))
		}
		inv.SecretHash, inv.Hint, inv.ExpiresAt, inv.InviterID = hash, token.Hint(secret), now.Add(m.invTTL), a.userID
		if err := tx.ReplaceInvitation(inv); err != nil {
			return internal("put invitation", err)
		}
		out = SentInvitation{Invitation: scrub(inv), Resent: true}
		return m.record(tx, now, p, "invitation.resent", inv.WorkspaceID, inv.ID, map[string]string{"invitation": inv.ID, "hint": inv.Hint})
	})
	if err != nil {
		return SentInvitation{}, err
	}
	out.Secret = secret
	return out, nil
}

// RevokeInvitation kills a pending invitation; it stays listed as revoked. Admins
// may, in an active or inactive workspace.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition (already accepted
// or revoked; deleted workspace), ErrUnauthenticated.
func (m *Manager) RevokeInvitation(ctx context.Context, p Principal, invitationID string) (_ member.Invitation, err error) {
	ctx, span := m.tel.start(ctx, "RevokeInvitation", p)
	defer func() { span.end(err) }()
	now := m.now()
	var inv member.Invitation
	err = m.update(ctx, "revoke invitation", func(tx storage.ReadWriter) error {
		var err error
		if inv, _, err = m.invitationFor(tx, p, invitationID, rbac.ManageMembers); err != nil {
			return err
		}
		switch inv.State(now) {
		case member.Accepted, member.Revoked:
			return preconditionf("invitation %q was already %s", invitationID, inv.State(now))
		}
		inv.RevokedAt = now
		if err := tx.ReplaceInvitation(inv); err != nil {
			return internal("put invitation", err)
		}
		return m.record(tx, now, p, "invitation.revoked", inv.WorkspaceID, inv.ID, map[string]string{"invitation": inv.ID})
	})
	if err != nil {
		return member.Invitation{}, err
	}
	return scrub(inv), nil
}

// ListInvitations returns one page of a workspace's invitations, oldest first, each
// with its state now: pending, accepted, expired or revoked. Admins may.
//
// Errors: ErrInvalidArgument, ErrNotFound, ErrPermissionDenied,
// ErrFailedPrecondition (deleted workspace), ErrUnauthenticated.
func (m *Manager) ListInvitations(ctx context.Context, p Principal, workspaceID string, opts MemberListOptions) (_ workspace.Page[InvitationInfo], err error) {
	ctx, span := m.tel.start(ctx, "ListInvitations", p)
	defer func() { span.end(err) }()
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[InvitationInfo]{}, err
	}
	now := m.now()
	pg := pager[InvitationInfo]{limit: f.limit, key: func(i InvitationInfo) string { return i.ID }}
	err = m.view(ctx, "list invitations", func(tx storage.Reader) error {
		pg.page = workspace.Page[InvitationInfo]{}
		if _, _, err := m.workspaceFor(tx, p, workspaceID, rbac.ManageMembers); err != nil {
			return err
		}
		return tx.ScanInvitations(workspaceID, f.after, func(inv member.Invitation) bool {
			return pg.add(InvitationInfo{Invitation: scrub(inv), State: inv.State(now)})
		})
	})
	return pg.result(opts.Cursor, err)
}

// AcceptInvitation joins p to the workspace of the invitation whose secret is given,
// with its role, atomically with using the invitation up. p's email must be the
// invited one (after trimming and ASCII lowercasing only). It is refused when the
// invitation is used, revoked or expired, when the workspace is not active, and when
// the inviter no longer holds a role at least as high as the one invited.
//
// Errors: ErrInvalidArgument (not an invitation secret: rejected before any
// lookup), ErrNotFound (no such invitation), ErrPermissionDenied (another email),
// ErrAlreadyExists (already a member), ErrFailedPrecondition (used, revoked,
// expired, inactive workspace, inviter demoted), ErrUnauthenticated (nobody, System).
// Only the person or a personal token without a cap may accept: a workspace token or
// a capped token gets ErrPermissionDenied.
func (m *Manager) AcceptInvitation(ctx context.Context, p Principal, secret string) (_ member.Member, err error) {
	ctx, span := m.tel.start(ctx, "AcceptInvitation", p)
	defer func() { span.end(err) }()
	if _, err := token.Parse(secret, m.invitationPrefix()); err != nil {
		return member.Member{}, invalidf("this is not a valid invitation link")
	}
	hash := m.hasher.Hash(secret)
	now := m.now()
	var mb member.Member
	err = m.update(ctx, "accept invitation", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if a.system {
			return newErr(ErrUnauthenticated, "sign in as the invited person to accept an invitation")
		}
		if err := requireSelf(a, "memberships"); err != nil {
			return err
		}
		mb, err = m.acceptIn(tx, now, p, a.user, hash)
		return err
	})
	if err != nil {
		return member.Member{}, err
	}
	return mb, nil
}

// acceptIn uses the invitation whose secret hashes to hash for user u, inside tx:
// every rule of AcceptInvitation, and the membership, the used invitation and the
// event written together.
func (m *Manager) acceptIn(tx storage.ReadWriter, now time.Time, p Principal, u member.User, hash []byte) (member.Member, error) {
	inv, err := tx.GetInvitationByHash(hash)
	if errors.Is(err, storage.ErrNotFound) {
		return member.Member{}, notFoundf("invitation not found: the link may have been replaced by a newer one")
	}
	if err != nil {
		return member.Member{}, internal("read invitation", err)
	}
	switch inv.State(now) {
	case member.Accepted:
		return member.Member{}, preconditionf("this invitation was already used")
	case member.Revoked:
		return member.Member{}, preconditionf("this invitation was revoked")
	case member.Expired:
		return member.Member{}, preconditionf("this invitation expired on %s: ask for a new one", inv.ExpiresAt.Format(time.DateOnly))
	}
	if u.Email != inv.Email {
		return member.Member{}, deniedf("this invitation was sent to another email address")
	}
	w, err := tx.GetWorkspace(inv.WorkspaceID)
	if err != nil {
		return member.Member{}, internal("read workspace", err)
	}
	if w.Status != workspace.Active {
		return member.Member{}, preconditionf("workspace %q is %s: invitations cannot be accepted", w.ID, w.Status)
	}
	if err := m.inviterStillMay(tx, inv); err != nil {
		return member.Member{}, err
	}
	mb := member.Member{WorkspaceID: w.ID, UserID: u.ID, Role: inv.Role, InvitedBy: inv.InviterID, JoinedAt: now, UpdatedAt: now}
	if err := tx.CreateMember(mb); err != nil {
		if storage.ConflictIndex(err) == storage.IndexMember {
			return member.Member{}, existsf("you are already a member of this workspace")
		}
		return mb, internal("create member", err)
	}
	inv.AcceptedAt, inv.AcceptedBy = now, u.ID
	if err := tx.ReplaceInvitation(inv); err != nil {
		return mb, internal("put invitation", err)
	}
	return mb, m.record(tx, now, p, "invitation.accepted", w.ID, u.ID, map[string]string{"invitation": inv.ID, "role": string(inv.Role)})
}

// AcceptInvitationAsNewUser registers the invited person and accepts the
// invitation for them, in one transaction: if they cannot join, no account is left
// behind. The secret is the credential (it was sent to that email), so no principal is
// needed; the account's email is the invited one, and in.Email, when set, must match
// it. An email that already has an account is refused: that person must sign in and
// use AcceptInvitation, so a leaked link cannot take an account over.
//
// Errors: ErrInvalidArgument (not an invitation secret; bad user ID or name; another
// email), ErrAlreadyExists (the email or user ID already has an account), and those
// of AcceptInvitation.
func (m *Manager) AcceptInvitationAsNewUser(ctx context.Context, secret string, in NewUser) (_ member.User, _ member.Member, err error) {
	ctx, span := m.tel.start(ctx, "AcceptInvitationAsNewUser", Principal{})
	defer func() { span.end(err) }()
	s, err := m.signUp(ctx, secret, in, nil)
	return s.User, s.Member, err
}

// SignUp is what SignUpWithInvitation made: the account, its membership and its
// first personal token (with the secret, shown once).
type SignUp struct {
	User   member.User
	Member member.Member
	Token  CreatedToken
}

// SignUpWithInvitation is AcceptInvitationAsNewUser that also issues the person's
// first personal token, in the same transaction: if anything fails, there is no
// account, no membership and no token, so nobody is left with an account they
// cannot sign in to. first is validated as CreateToken validates it (a personal
// token: no workspace).
//
// Errors: as AcceptInvitationAsNewUser, and CreateToken's ErrInvalidArgument.
func (m *Manager) SignUpWithInvitation(ctx context.Context, secret string, in NewUser, first NewToken) (_ SignUp, err error) {
	ctx, span := m.tel.start(ctx, "SignUpWithInvitation", Principal{})
	defer func() { span.end(err) }()
	if first.WorkspaceID != "" {
		return SignUp{}, invalidf("the first token is a personal token: leave WorkspaceID empty")
	}
	return m.signUp(ctx, secret, in, &first)
}

func (m *Manager) signUp(ctx context.Context, secret string, in NewUser, first *NewToken) (SignUp, error) {
	if _, err := token.Parse(secret, m.invitationPrefix()); err != nil {
		return SignUp{}, invalidf("this is not a valid invitation link")
	}
	if err := member.ValidateUserID(in.ID); err != nil {
		return SignUp{}, invalid(err)
	}
	if err := member.ValidateName(in.Name); err != nil {
		return SignUp{}, invalid(err)
	}
	hash := m.hasher.Hash(secret)
	now := m.now()
	var out SignUp
	var tok token.Token
	var tokSecret string
	if first != nil {
		var err error
		if tok, tokSecret, err = m.newTokenRecord(*first, now); err != nil {
			return SignUp{}, err
		}
	}
	err := m.update(ctx, "accept invitation", func(tx storage.ReadWriter) error {
		inv, err := tx.GetInvitationByHash(hash)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("invitation not found: the link may have been replaced by a newer one")
		}
		if err != nil {
			return internal("read invitation", err)
		}
		if in.Email != "" {
			if e, err := member.NormalizeEmail(in.Email); err != nil || e != inv.Email {
				return invalidf("the account's email must be the invited one")
			}
		}
		u := member.User{ID: in.ID, Email: inv.Email, Name: in.Name, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateUser(u); err != nil {
			if storage.ConflictIndex(err) == storage.IndexUserEmail {
				return existsf("this email already has an account: sign in to accept")
			}
			return userConflict(err, u)
		}
		p := User(u.ID)
		if err := m.record(tx, now, p, "user.registered", "", u.ID, map[string]string{"via": "invitation"}); err != nil {
			return err
		}
		mb, err := m.acceptIn(tx, now, p, u, hash)
		if err != nil {
			return err
		}
		out = SignUp{User: u, Member: mb}
		if first == nil {
			return nil
		}
		t := tok
		t.UserID = u.ID
		if err := tx.CreateToken(t); err != nil {
			return internal("create token", err)
		}
		t.Hash = nil
		out.Token = CreatedToken{Token: t, Secret: tokSecret}
		return m.record(tx, now, p, "token.created", "", t.ID, tokenEventData(t))
	})
	if err != nil {
		return SignUp{}, err
	}
	return out, nil
}

// InvitationBySecret returns the invitation a secret opens, with its state, so an
// acceptance page can say "you are invited to … as …" before anyone signs in. The
// secret itself is the credential: no principal is needed.
//
// Errors: ErrInvalidArgument (not an invitation secret: rejected before any
// lookup), ErrNotFound.
func (m *Manager) InvitationBySecret(ctx context.Context, secret string) (_ InvitationInfo, err error) {
	ctx, span := m.tel.start(ctx, "InvitationBySecret", Principal{})
	defer func() { span.end(err) }()
	if _, err := token.Parse(secret, m.invitationPrefix()); err != nil {
		return InvitationInfo{}, invalidf("this is not a valid invitation link")
	}
	hash := m.hasher.Hash(secret)
	now := m.now()
	var info InvitationInfo
	err = m.view(ctx, "read invitation", func(tx storage.Reader) error {
		inv, err := tx.GetInvitationByHash(hash)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("invitation not found: the link may have been replaced by a newer one")
		}
		if err != nil {
			return internal("read invitation", err)
		}
		info = InvitationInfo{Invitation: scrub(inv), State: inv.State(now)}
		return nil
	})
	return info, err
}
