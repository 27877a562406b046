package tenancy

import "github.com/tenancykit/tenancy/rbac"

// Principal is who acts: a user, a token, or the host itself. Every Manager operation
// takes one. The zero Principal is nobody: every operation refuses it with
// ErrUnauthenticated.
type Principal struct {
	kind    principalKind
	userID  string
	tokenID string
	scope   string    // workspace of a workspace token
	cap     rbac.Role // role cap of a token; empty for none
}

type principalKind uint8

const (
	nobody principalKind = iota
	systemKind
	userKind
	tokenKind
)

// System is the host application itself, for bootstrap, background jobs and sync. It
// may do everything; never hand it to code acting for a user.
func System() Principal { return Principal{kind: systemKind} }

// User is a person the host has authenticated, by the host's user ID.
func User(userID string) Principal { return Principal{kind: userKind, userID: userID} }

// IsSystem reports whether p is the host itself.
func (p Principal) IsSystem() bool { return p.kind == systemKind }

// UserID returns the user p acts as (a token's creator for a token), or "".
func (p Principal) UserID() string { return p.userID }

// WorkspaceID returns the workspace a workspace token is bound to, or "".
func (p Principal) WorkspaceID() string { return p.scope }

// TokenID returns the token p authenticated with, or "".
func (p Principal) TokenID() string { return p.tokenID }

// String describes p for events and logs: "user:<id>", "token:<id>" or "system". It
// never contains a secret.
func (p Principal) String() string {
	switch p.kind {
	case systemKind:
		return "system"
	case userKind:
		return "user:" + p.userID
	case tokenKind:
		return "token:" + p.tokenID
	}
	return "nobody"
}
