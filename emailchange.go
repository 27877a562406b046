package tenancy

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
)

// An address counts for invitations (and whatever a host grants by email) only once
// its owner has proven it. An address the host registers (RegisterUser, or an
// UpdateUser by System or a platform user) counts as proven: the host vouches for it.
// A person changing their own address proves the new one in two steps:
// RequestEmailChange makes a single-use secret that the host sends to the new
// address, never to the caller; ConfirmEmailChange, given that secret by the same
// person, makes the change. Until then the account keeps its old address, so a
// leaked invitation link to somebody else's address cannot be opened by setting
// one's own address to it.

// DefaultEmailChangeTTL is how long an email-change secret stays valid when
// Options.EmailChangeTTL is zero.
const DefaultEmailChangeTTL = 24 * time.Hour

// EmailChange is a pending change of a user's email, as RequestEmailChange made it.
// Secret is shown once: send it (say, in a link) to Email, the new address, and
// never show it to the caller, or the proof proves nothing. Only its keyed hash is
// stored.
type EmailChange struct {
	UserID    string
	Email     string // the new address, normalised: where the secret must go
	Secret    string // "tnce_…": single use, valid until ExpiresAt
	ExpiresAt time.Time
}

// settingEmailChange names the setting that holds userID's pending email change:
// the secret's hash, the new address and the expiry. An empty value means none.
func settingEmailChange(userID string) string { return "email_change/" + userID }

type pendingEmailChange struct {
	hash    []byte
	email   string
	expires time.Time
}

func (c pendingEmailChange) encode() []byte {
	return []byte(hex.EncodeToString(c.hash) + "\n" + c.email + "\n" + strconv.FormatInt(c.expires.UnixMicro(), 10))
}

func decodeEmailChange(v []byte) (pendingEmailChange, bool) {
	parts := strings.Split(string(v), "\n")
	if len(parts) != 3 {
		return pendingEmailChange{}, false
	}
	h, err1 := hex.DecodeString(parts[0])
	us, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || len(h) == 0 {
		return pendingEmailChange{}, false
	}
	return pendingEmailChange{hash: h, email: parts[1], expires: time.UnixMicro(us).UTC()}, true
}

func (m *Manager) emailChangePrefix() string { return m.prefix + "e" }

// RequestEmailChange starts a change of userID's email to email: it makes a
// single-use secret, valid for Options.EmailChangeTTL (24 hours by default), and
// returns it for the host to send to the new address. The account keeps its
// current address until ConfirmEmailChange. A new request replaces a pending one,
// whose secret then no longer works. The user.email_change_requested event names
// the user, never an address. The user (signed in, or with a personal token
// without a cap) may, as may System and platform users, though they can set an
// address directly with UpdateUser.
//
// Errors: ErrInvalidArgument (not an email, or the current one), ErrAlreadyExists
// (another user's address), ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) RequestEmailChange(ctx context.Context, p Principal, userID, email string) (_ EmailChange, err error) {
	ctx, span := m.tel.start(ctx, "RequestEmailChange", p)
	defer func() { span.end(err) }()
	e, err := member.NormalizeEmail(email)
	if err != nil {
		return EmailChange{}, invalid(err)
	}
	secret, err := token.NewSecret(m.emailChangePrefix(), nil)
	if err != nil {
		return EmailChange{}, internal("make secret", err)
	}
	now := m.now()
	out := EmailChange{UserID: userID, Email: e, Secret: secret, ExpiresAt: now.Add(m.emailTTL)}
	err = m.update(ctx, "request email change", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		u, err := m.userFor(tx, a, userID)
		if err != nil {
			return err
		}
		if u.Email == e {
			return invalidf("%q is already the account's email", e)
		}
		if other, err := tx.GetUserByEmail(e); err == nil && other.ID != u.ID {
			return existsf("email %q is already registered", e)
		} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return internal("read user", err)
		}
		pending := pendingEmailChange{hash: m.hasher.Hash(secret), email: e, expires: out.ExpiresAt}
		if err := tx.PutSetting(settingEmailChange(u.ID), pending.encode()); err != nil {
			return internal("put email change", err)
		}
		return m.record(tx, now, p, "user.email_change_requested", "", u.ID, map[string]string{"expires_at": out.ExpiresAt.Format(time.RFC3339)})
	})
	if err != nil {
		return EmailChange{}, err
	}
	return out, nil
}

// ConfirmEmailChange completes the change RequestEmailChange started: given the
// secret sent to the new address, by the same user (signed in, or with a personal
// token without a cap), it sets the account's email to that address and uses the
// secret up. Pending invitations to the new address then open for the user; those to
// the old one no longer do. The user.email_changed event names the user, never an
// address.
//
// Errors: ErrInvalidArgument (malformed secret), ErrNotFound (no pending change, or
// another secret), ErrFailedPrecondition (expired), ErrAlreadyExists (the address was
// registered meanwhile), ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) ConfirmEmailChange(ctx context.Context, p Principal, secret string) (_ member.User, err error) {
	ctx, span := m.tel.start(ctx, "ConfirmEmailChange", p)
	defer func() { span.end(err) }()
	if _, err := token.Parse(secret, m.emailChangePrefix()); err != nil {
		return member.User{}, invalidf("not an email-change secret: %v", err)
	}
	hash := m.hasher.Hash(secret)
	now := m.now()
	var u member.User
	err = m.update(ctx, "confirm email change", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if a.system {
			return invalidf("System has no email to change: the user confirms it")
		}
		if !a.self {
			return requireSelf(a, "email")
		}
		u, err = tx.GetUser(a.user.ID)
		if err != nil {
			return internal("read user", err)
		}
		v, err := tx.Setting(settingEmailChange(u.ID))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return internal("read email change", err)
		}
		pending, ok := decodeEmailChange(v)
		if !ok || subtle.ConstantTimeCompare(pending.hash, hash) != 1 {
			return notFoundf("no pending email change has this secret: request a new one")
		}
		if !now.Before(pending.expires) {
			return preconditionf("the email-change secret expired at %s: request a new one", pending.expires.Format(time.RFC3339))
		}
		if err := tx.PutSetting(settingEmailChange(u.ID), nil); err != nil {
			return internal("clear email change", err)
		}
		u.Email, u.UpdatedAt = pending.email, now
		if err := tx.ReplaceUser(u); err != nil {
			if storage.ConflictIndex(err) == storage.IndexUserEmail {
				return existsf("email %q was registered meanwhile", pending.email)
			}
			return internal("put user", err)
		}
		return m.record(tx, now, p, "user.email_changed", "", u.ID, map[string]string{"proof": "secret"})
	})
	if err != nil {
		return member.User{}, err
	}
	return u, nil
}

// clearEmailChange drops userID's pending email change, which holds an address, in
// tx: on erasure, and when the address is set directly.
func clearEmailChange(tx storage.ReadWriter, userID string) error {
	if _, err := tx.Setting(settingEmailChange(userID)); errors.Is(err, storage.ErrNotFound) {
		return nil
	} else if err != nil {
		return internal("read email change", err)
	}
	if err := tx.PutSetting(settingEmailChange(userID), nil); err != nil {
		return internal("clear email change", err)
	}
	return nil
}
