// Package member holds users, memberships and invitations, and the email rule that
// binds an invitation to a person. It has no storage.
package member

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenancykit/tenancy/internal/text"
	"github.com/tenancykit/tenancy/rbac"
)

// User is a person of the host application. tenancy stores no passwords: the host
// authenticates people and refers to them by its own user ID.
type User struct {
	ID        string // the host's user ID
	Email     string // normalised (see NormalizeEmail), unique
	Name      string
	Platform  bool // may perform cross-workspace operations
	CreatedAt time.Time
	UpdatedAt time.Time
	// SuspendedAt is when the user was suspended; zero while active. A suspended
	// user, and every token they created, fails authentication; their memberships
	// are kept for their reactivation.
	SuspendedAt time.Time
}

// Suspended reports whether the user is suspended.
func (u User) Suspended() bool { return !u.SuspendedAt.IsZero() }

// Member is a user's membership of a workspace.
type Member struct {
	WorkspaceID string
	UserID      string
	Role        rbac.Role // Viewer, Editor or Admin
	Owner       bool      // exactly one admin of each workspace is its owner
	InvitedBy   string    // user ID of whoever added or invited them; empty for the creator
	JoinedAt    time.Time
	UpdatedAt   time.Time
}

// InvitationState is where an invitation stands.
type InvitationState string

// Invitation states.
const (
	Pending  InvitationState = "pending"
	Accepted InvitationState = "accepted"
	Expired  InvitationState = "expired"
	Revoked  InvitationState = "revoked"
)

// Invitation asks someone, by email, to join a workspace with a role. Its secret is
// shown once and stored only as a keyed hash.
type Invitation struct {
	ID          string // "inv_" + ULID
	WorkspaceID string
	Email       string // normalised
	Role        rbac.Role
	InviterID   string
	SecretHash  []byte // keyed hash of the secret; never the secret
	Hint        string // a few characters of the secret, for display
	CreatedAt   time.Time
	ExpiresAt   time.Time
	AcceptedAt  time.Time
	AcceptedBy  string
	RevokedAt   time.Time
}

// State reports the invitation's state at time now.
func (i Invitation) State(now time.Time) InvitationState {
	switch {
	case !i.AcceptedAt.IsZero():
		return Accepted
	case !i.RevokedAt.IsZero():
		return Revoked
	case !now.Before(i.ExpiresAt):
		return Expired
	}
	return Pending
}

// Clone returns a copy of i that shares no memory with it.
func (i Invitation) Clone() Invitation {
	i.SecretHash = append([]byte(nil), i.SecretHash...)
	return i
}

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid member field")

type validationError struct{ msg string }

func (e *validationError) Error() string        { return e.msg }
func (e *validationError) Is(target error) bool { return target == ErrInvalid }

func invalid(format string, args ...any) error {
	return &validationError{msg: fmt.Sprintf(format, args...)}
}

// MaxEmailLen is the longest email address accepted (RFC 5321's path limit).
const MaxEmailLen = 254

// NormalizeEmail trims white space and lowercases ASCII letters only. There is
// deliberately no Unicode case folding: "mıke@x.org" and "mike@x.org" stay different
// addresses, so an invitation can never be accepted by a look-alike. The result must
// have one '@' with text on both sides, no spaces or control characters, and at most
// 254 bytes.
func NormalizeEmail(email string) (string, error) {
	e := strings.TrimSpace(email)
	b := []byte(e)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	e = string(b)
	at := strings.IndexByte(e, '@')
	if e == "" || len(e) > MaxEmailLen || at <= 0 || at == len(e)-1 || strings.Count(e, "@") != 1 || !utf8.ValidString(e) {
		return "", invalid("email %q is not a valid address", text.Clip(email))
	}
	for _, r := range e {
		if r <= ' ' || r == 0x7f || r == ',' {
			return "", invalid("email %q is not a valid address", text.Clip(email))
		}
	}
	return e, nil
}

// MaxUserIDLen bounds host user IDs.
const MaxUserIDLen = 128

// ValidateUserID checks a host user ID: 1-128 bytes of printable UTF-8 with no
// spaces. Storage keys join IDs with a zero byte, which this rule keeps out.
func ValidateUserID(id string) error {
	if id == "" || len(id) > MaxUserIDLen || !utf8.ValidString(id) {
		return invalid("user ID must be 1-%d bytes of printable text", MaxUserIDLen)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f {
			return invalid("user ID %q must not contain spaces or control characters", text.Clip(id))
		}
	}
	return nil
}

// ValidateName checks a user's display name: at most 200 bytes of UTF-8 with no
// control or invisible format character (a bidirectional override such as U+202E,
// a zero-width space or joiner), which would let one person pass for another in a
// member list. It may be empty.
func ValidateName(name string) error {
	if len(name) > 200 || !utf8.ValidString(name) {
		return invalid("user name must be at most 200 bytes of UTF-8")
	}
	if r, bad := text.Hidden(name, text.Line); bad {
		return invalid("user name must not contain control characters or invisible format characters (found %s)", text.Describe(r))
	}
	return nil
}
