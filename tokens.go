package tenancy

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenancykit/tenancy/internal/text"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// NewToken describes an API token to create.
type NewToken struct {
	// Name says what the token is for, 1-100 characters.
	Name string
	// WorkspaceID binds the token to one workspace; empty makes a personal token,
	// which acts as its user in every workspace.
	WorkspaceID string
	// Role is a workspace token's role (empty: the creator's role, at most admin) or
	// a personal token's optional cap. Never above the creator's own role.
	Role rbac.Role
	// Lifetime is how long the token lives, at most Options.MaxTokenLifetime (one
	// year by default); parse "48h", "7d", "1w" or "1y" with token.ParseLifetime.
	// 0 means never expires, which only Options.AllowNonExpiringTokens permits.
	Lifetime time.Duration
}

// MinTokenLifetime is the shortest lifetime a token may have: anything shorter is
// a mistake (a "1ns" that expires before it is used), not a credential.
const MinTokenLifetime = time.Minute

// CreatedToken is a token with its secret. The secret is returned only here (and by
// RotateToken), once; tenancy keeps its keyed hash and a hint.
type CreatedToken struct {
	Token  token.Token
	Secret string
}

// TokenState says whether a token works, and if not, why.
type TokenState string

// Token states.
const (
	TokenActive  TokenState = "active"
	TokenRevoked TokenState = "revoked"
	TokenExpired TokenState = "expired"
)

// TokenInfo is a token as listed: never its hash, with its state now.
type TokenInfo struct {
	token.Token
	State TokenState
}

func tokenState(t token.Token, now time.Time) TokenState {
	switch {
	case !t.RevokedAt.IsZero():
		return TokenRevoked
	case !t.Active(now):
		return TokenExpired
	}
	return TokenActive
}

func infoOf(t token.Token, now time.Time) TokenInfo {
	t.Hash = nil
	return TokenInfo{Token: t, State: tokenState(t, now)}
}

func (m *Manager) tokenPrefix(k token.Kind) string {
	if k == token.Personal {
		return m.tokPrefixes[0]
	}
	return m.tokPrefixes[1]
}

// newTokenSecret makes a secret, its hash and hint, outside any transaction.
func (m *Manager) newTokenSecret(k token.Kind) (secret string, hash []byte, err error) {
	if secret, err = token.NewSecret(m.tokenPrefix(k), nil); err != nil {
		return "", nil, err
	}
	return secret, m.hasher.Hash(secret), nil
}

// CreateToken creates an API token for p's user. A workspace token needs the
// token:create permission in its workspace (editors and admins, in an active
// workspace) and carries a role no higher than its creator's; a personal token acts
// as its user everywhere, optionally capped. Tokens are the user's credentials: only
// the user or a personal token without a cap may create them.
//
// Errors: ErrInvalidArgument (name, lifetime, role), ErrNotFound (workspace),
// ErrPermissionDenied (viewer, a workspace or capped token acting, above the ceiling),
// ErrFailedPrecondition (inactive or deleted workspace), ErrUnauthenticated.
func (m *Manager) CreateToken(ctx context.Context, p Principal, in NewToken) (_ CreatedToken, err error) {
	ctx, span := m.tel.start(ctx, "CreateToken", p)
	defer func() { span.end(err) }()
	now := m.now()
	t, secret, err := m.newTokenRecord(in, now)
	if err != nil {
		return CreatedToken{}, err
	}
	kind := t.Kind
	err = m.update(ctx, "create token", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if a.system {
			return invalidf("tokens belong to users: create them as the user")
		}
		if err := requireSelf(a, "tokens"); err != nil {
			return err
		}
		t.UserID = a.user.ID
		if kind == token.Workspace {
			if t.Role, err = m.workspaceTokenRole(tx, a, in.WorkspaceID, t.Role); err != nil {
				return err
			}
		} else if t.Role != "" && !m.policy.CanGrant(m.ceiling(a.user), t.Role) {
			return deniedf("you can't give a token a role higher than your own")
		}
		if err := tx.CreateToken(t); err != nil {
			return internal("create token", err)
		}
		return m.record(tx, now, p, "token.created", t.WorkspaceID, t.ID, tokenEventData(t))
	})
	if err != nil {
		return CreatedToken{}, err
	}
	t.Hash = nil
	return CreatedToken{Token: t, Secret: secret}, nil
}

// newTokenRecord validates a token request and makes the token and its secret,
// outside any transaction; the caller sets the user.
func (m *Manager) newTokenRecord(in NewToken, now time.Time) (token.Token, string, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 100 || !utf8.ValidString(name) {
		return token.Token{}, "", invalidf("token name must be 1-100 printable characters")
	}
	if r, bad := text.Hidden(name, text.Line); bad {
		return token.Token{}, "", invalidf("token name must not contain control characters or invisible format characters (found %s)", text.Describe(r))
	}
	if in.Role != "" {
		if err := m.checkRole(in.Role); err != nil {
			return token.Token{}, "", err
		}
	}
	switch {
	case in.Lifetime < 0 || in.Lifetime > 0 && in.Lifetime < MinTokenLifetime:
		return token.Token{}, "", invalidf("token lifetime must be at least %s", MinTokenLifetime)
	case in.Lifetime == 0 && !m.allowNever:
		return token.Token{}, "", invalidf("a token needs a lifetime (at most %s): tokens that never expire are not enabled", lifetimeText(m.maxTokenLife))
	case in.Lifetime > m.maxTokenLife:
		return token.Token{}, "", invalidf("token lifetime must be at most %s", lifetimeText(m.maxTokenLife))
	}
	kind := token.Personal
	if in.WorkspaceID != "" {
		kind = token.Workspace
	}
	secret, hash, err := m.newTokenSecret(kind)
	if err != nil {
		return token.Token{}, "", err
	}
	t := token.Token{ID: m.ids.next("tok_", now), Kind: kind, Name: name, WorkspaceID: in.WorkspaceID, Role: in.Role,
		Hash: hash, Hint: token.Hint(secret), CreatedAt: now}
	if in.Lifetime > 0 {
		t.ExpiresAt = now.Add(in.Lifetime)
	}
	return t, secret, nil
}

func tokenEventData(t token.Token) map[string]string {
	d := map[string]string{"token": t.ID, "hint": t.Hint, "kind": string(t.Kind), "name": t.Name}
	if t.Role != "" {
		d["role"] = string(t.Role)
	}
	return d
}

func lifetimeText(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// prefixKind is the kind of token a (parsed, so known) prefix names.
func (m *Manager) prefixKind(prefix string) token.Kind {
	if prefix == m.tokPrefixes[0] {
		return token.Personal
	}
	return token.Workspace
}

// TokenListOptions selects a page of tokens: those of a workspace (WorkspaceID) or
// those a user created (UserID).
type TokenListOptions struct {
	WorkspaceID string
	UserID      string
	// State filters: TokenActive, or "inactive" for revoked and expired ones; empty
	// lists all.
	State  TokenState
	Limit  int    // 1-100; 0 means 20
	Cursor string // from a previous page
}

// TokenInactive selects revoked and expired tokens in TokenListOptions.State.
const TokenInactive TokenState = "inactive"

// ListTokens returns one page of tokens, oldest first, split by state. For a
// workspace, those who may manage its tokens (admins) see every token, other members
// their own, and a workspace or capped token only itself; for a user, users (signed
// in or with an uncapped personal token) see their own and platform users anyone's.
//
// Errors: ErrInvalidArgument (neither or both of WorkspaceID and UserID, bad state,
// limit, cursor), ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) ListTokens(ctx context.Context, p Principal, opts TokenListOptions) (_ workspace.Page[TokenInfo], err error) {
	ctx, span := m.tel.start(ctx, "ListTokens", p)
	defer func() { span.end(err) }()
	if (opts.WorkspaceID == "") == (opts.UserID == "") {
		return workspace.Page[TokenInfo]{}, invalidf("list the tokens of a workspace or of a user, not both")
	}
	switch opts.State {
	case "", TokenActive, TokenInactive:
	default:
		return workspace.Page[TokenInfo]{}, invalidf("state %q must be active or inactive", string(opts.State))
	}
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[TokenInfo]{}, err
	}
	now := m.now()
	pg := pager[TokenInfo]{limit: f.limit, key: func(t TokenInfo) string { return t.ID }}
	keep := func(t token.Token) bool {
		switch opts.State {
		case TokenActive:
			return tokenState(t, now) == TokenActive
		case TokenInactive:
			return tokenState(t, now) != TokenActive
		}
		return true
	}
	err = m.view(ctx, "list tokens", func(tx storage.Reader) error {
		pg.page = workspace.Page[TokenInfo]{}
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if opts.WorkspaceID != "" {
			w, ac, err := m.workspaceAs(tx, a, opts.WorkspaceID, rbac.ReadWorkspace)
			if err != nil {
				return err
			}
			// The same rule as GetToken: every token for whoever may manage them, else
			// the user's own (for the user or an uncapped personal token), else itself.
			all := m.allowed(ac, w, rbac.ManageTokens) == nil
			return tx.ScanWorkspaceTokens(opts.WorkspaceID, f.after, func(t token.Token) bool {
				mine := t.ID == p.tokenID || (a.self && t.UserID == a.user.ID)
				return !(all || mine) || !keep(t) || pg.add(infoOf(t, now))
			})
		}
		if !a.platform {
			if a.user.ID != opts.UserID {
				return deniedf("users may only list their own tokens")
			}
			if err := requireSelf(a, "tokens"); err != nil {
				return err
			}
		}
		return tx.ScanUserTokens(opts.UserID, f.after, func(t token.Token) bool {
			return !keep(t) || pg.add(infoOf(t, now))
		})
	})
	return pg.result(opts.Cursor, err)
}

// GetToken returns one token by ID, with its state; never its secret or hash. Who
// may see a token is who may revoke it (see RevokeToken).
//
// Errors: ErrNotFound (missing, or not p's to see), ErrUnauthenticated.
func (m *Manager) GetToken(ctx context.Context, p Principal, tokenID string) (_ TokenInfo, err error) {
	ctx, span := m.tel.start(ctx, "GetToken", p)
	defer func() { span.end(err) }()
	var info TokenInfo
	err = m.view(ctx, "get token", func(tx storage.Reader) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		t, err := m.tokenAs(tx, a, tokenID)
		info = infoOf(t, m.now())
		return err
	})
	if err != nil {
		return TokenInfo{}, err
	}
	return info, nil
}

// RevokeToken revokes a token at once; it stays listed as revoked. Its creator
// (signed in, or with an uncapped personal token), admins of its workspace, platform
// users and System may; any token may revoke itself.
//
// Errors: ErrNotFound, ErrFailedPrecondition (already revoked), ErrUnauthenticated.
func (m *Manager) RevokeToken(ctx context.Context, p Principal, tokenID string) (err error) {
	ctx, span := m.tel.start(ctx, "RevokeToken", p)
	defer func() { span.end(err) }()
	now := m.now()
	return m.update(ctx, "revoke token", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		t, err := m.tokenAs(tx, a, tokenID)
		if err != nil {
			return err
		}
		if !t.RevokedAt.IsZero() {
			return preconditionf("token %s was already revoked", t.ID)
		}
		t.RevokedAt = now
		if err := tx.ReplaceToken(t); err != nil {
			return internal("put token", err)
		}
		return m.record(tx, now, p, "token.revoked", t.WorkspaceID, t.ID, tokenEventData(t))
	})
}

// RotateToken gives a token a new secret, keeping its name, role and lifetime (from
// now); the old secret stops working at once. Only its creator (signed in, or with an
// uncapped personal token) and System may, and the grant ceiling is checked again
// against the creator's role.
//
// Errors: ErrNotFound, ErrPermissionDenied (the creator's role is now below the
// token's), ErrFailedPrecondition (revoked or expired; inactive or deleted
// workspace), ErrUnauthenticated.
func (m *Manager) RotateToken(ctx context.Context, p Principal, tokenID string) (_ CreatedToken, err error) {
	ctx, span := m.tel.start(ctx, "RotateToken", p)
	defer func() { span.end(err) }()
	now := m.now()
	var t token.Token
	var secret string
	err = m.update(ctx, "rotate token", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if t, err = m.tokenAs(tx, a, tokenID); err != nil {
			return err
		}
		if !a.system && (!a.self || t.UserID != a.user.ID) {
			return deniedf("only the token's creator, signed in or with a personal token without a cap, may rotate it")
		}
		if st := tokenState(t, now); st != TokenActive {
			return preconditionf("token %s is %s: create a new one", t.ID, st)
		}
		// The ceiling again, for every kind of token, against the creator as they are
		// now: a token can never outlive the role that allowed it.
		creator, err := m.resolve(tx, User(t.UserID))
		if err != nil {
			return preconditionf("the token's creator is no longer a user")
		}
		if t.Kind == token.Workspace {
			if _, err := m.workspaceTokenRole(tx, creator, t.WorkspaceID, t.Role); err != nil {
				return err
			}
		} else if t.Role != "" && !m.policy.CanGrant(m.ceiling(creator.user), t.Role) {
			return deniedf("you can't keep a token with a role higher than your own (%s): create a new one", m.ceiling(creator.user))
		}
		// The secret is made here so that a retried transaction still returns the
		// secret whose hash it stored.
		var hash []byte
		if secret, hash, err = m.newTokenSecret(t.Kind); err != nil {
			return err
		}
		if !t.ExpiresAt.IsZero() {
			t.ExpiresAt = now.Add(t.ExpiresAt.Sub(t.CreatedAt))
		}
		t.Hash, t.Hint, t.CreatedAt = hash, token.Hint(secret), now
		if err := tx.ReplaceToken(t); err != nil {
			return internal("put token", err)
		}
		return m.record(tx, now, p, "token.rotated", t.WorkspaceID, t.ID, tokenEventData(t))
	})
	if err != nil {
		return CreatedToken{}, err
	}
	t.Hash = nil
	return CreatedToken{Token: t, Secret: secret}, nil
}
