// Package token holds the API token record.
package token

import (
	"time"

	"github.com/tenancykit/tenancy/rbac"
)

// Kind tells what a token acts for.
type Kind string

// Token kinds.
const (
	Personal  Kind = "personal"  // acts as its user in every workspace
	Workspace Kind = "workspace" // bound to one workspace
)

// Token is an API token. The secret is shown once and stored only as a keyed hash.
type Token struct {
	ID          string // "tok_" + ULID
	Kind        Kind
	Name        string
	UserID      string    // the creator; a personal token acts as this user
	WorkspaceID string    // the workspace of a workspace token; empty for personal ones
	Role        rbac.Role // the token's role (workspace) or cap (personal, optional)
	Hash        []byte    // keyed hash of the secret
	Hint        string    // a few characters of the secret, for display
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never expires
	RevokedAt   time.Time
	LastUsedAt  time.Time
	// UserSuspended mirrors the suspension of the token's user. The Manager sets and
	// clears it in the transaction that suspends or reactivates the user, so
	// Authenticate refuses the token without reading the user: one lookup fewer on
	// every request, paid once per token at a (rare) suspension.
	UserSuspended bool
}

// Clone returns a copy of t that shares no memory with it.
func (t Token) Clone() Token {
	t.Hash = append([]byte(nil), t.Hash...)
	return t
}

// Active reports whether the token is neither revoked nor expired at time now.
func (t Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}
