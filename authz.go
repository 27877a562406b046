package tenancy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// The authorization core: every rule of access, in this one file. Every Manager
// method resolves its Principal once, with resolve, into an actor, and decides every
// question of access through the functions here: no other file reads a user's
// platform flag or compares role ranks. The rules, in the one table of them
// (AUTHORIZATION.md links here and says the rest in prose):
//
//	principal                    platform powers  own memberships/credentials  in a workspace
//	System                       yes              (has none)                   everything
//	user                         if platform      yes                          its membership's role
//	personal token, uncapped     if platform      yes                          as its user
//	personal token, cap platform if platform      yes                          as its user
//	personal token, cap < plat.  never            only itself                  min(cap, role)
//	workspace token of W         never            only itself                  min(role, creator's role), in W only
//
// "Own memberships and credentials" covers leaving a workspace, accepting an
// invitation, and creating, listing, rotating or revoking the user's tokens; any
// token may read and revoke itself. A token capped below admin never keeps the owner
// flag; a workspace token never has it.

// actor is a principal resolved against storage: who acts and what powers apply.
type actor struct {
	p        Principal
	user     member.User // the acting user; zero for System
	system   bool
	platform bool      // cross-workspace powers
	self     bool      // may act on its user's own memberships and credentials
	scope    string    // the workspace a workspace token is bound to
	cap      rbac.Role // a token's role cap; "" for none
}

// authReader is what an authorization decision reads: the acting user, the token
// (by ID, or by hash when authenticating), the workspace and the membership. A View's
// storage.Reader satisfies it, and so do the records a storage.Prefetcher read in
// one round trip (prefetchTx), so both paths run the same rules.
type authReader interface {
	GetUser(id string) (member.User, error)
	GetToken(id string) (token.Token, error)
	GetTokenByHash(hash []byte) (token.Token, error)
	GetWorkspace(id string) (workspace.Workspace, error)
	GetMember(workspaceID, userID string) (member.Member, error)
}

// resolve checks a principal once per call: nobody is refused, a token must still
// exist, belong to its user and be neither revoked nor expired, and the user must be
// registered.
func (m *Manager) resolve(tx authReader, p Principal) (actor, error) {
	switch p.kind {
	case systemKind:
		return actor{p: p, system: true, platform: true}, nil
	case userKind, tokenKind:
	default:
		return actor{}, newErr(ErrUnauthenticated, "no principal: authenticate first")
	}
	var tok token.Token
	if p.kind == tokenKind {
		var err error
		if tok, err = m.checkTokenInUse(tx, p); err != nil {
			return actor{}, err
		}
	}
	u, err := tx.GetUser(p.userID)
	if errors.Is(err, storage.ErrNotFound) {
		return actor{}, newErr(ErrUnauthenticated, "unknown user %q", p.userID)
	}
	if err != nil {
		return actor{}, internal("read user", err)
	}
	if u.Suspended() {
		if p.kind == tokenKind && !tok.UserSuspended {
			m.healSuspension(u.ID) // written without the mark: Authenticate would pass it
		}
		return actor{}, newErr(ErrUnauthenticated, "user %q is suspended", p.userID)
	}
	a := actor{p: p, user: u}
	if p.kind == userKind {
		a.platform, a.self = u.Platform, true
		return a, nil
	}
	a.scope, a.cap = p.scope, p.cap
	// Only a personal token that caps nothing (no cap, or the top of the order) acts
	// fully as its user.
	full := p.scope == "" && (p.cap == "" || p.cap == rbac.Platform)
	a.platform, a.self = full && u.Platform, full
	return a, nil
}

// kindText names the actor for refusals.
func (a actor) kindText() string {
	switch {
	case a.p.kind == tokenKind && a.scope != "":
		return "a workspace token"
	case a.p.kind == tokenKind:
		return "a personal token capped at " + string(a.cap)
	}
	return "you"
}

// requirePlatform refuses anyone without platform powers, for cross-workspace
// operations.
func (m *Manager) requirePlatform(a actor, action rbac.Action) error {
	if a.system {
		return nil
	}
	if !a.platform || !m.policy.Allowed(rbac.Platform, false, action) {
		return deniedf("only platform users may %s", actionText(action))
	}
	return nil
}

// requireSelf refuses a token that may not act on its user's own memberships and
// credentials (a workspace token, or a personal token with a cap).
func requireSelf(a actor, what string) error {
	if a.self {
		return nil
	}
	if a.system {
		return invalidf("System has no %s: act as the user", what)
	}
	return deniedf("%s cannot act on its user's %s: sign in, or use a personal token without a cap", a.kindText(), what)
}

// access is what an actor may do in one workspace.
type access struct {
	system   bool
	userID   string
	platform bool
	member   bool
	role     rbac.Role // effective role: Platform with platform powers
	owner    bool
}

// accessWith works out what a may do in workspace w, given the acting user's
// membership there (mb is nil when there is none).
func (m *Manager) accessWith(a actor, w workspace.Workspace, mb *member.Member) access {
	if a.system {
		return access{system: true, role: rbac.Platform}
	}
	ac := access{userID: a.user.ID}
	if a.scope != "" && a.scope != w.ID {
		return ac // a workspace token knows no other workspace
	}
	if mb != nil {
		ac.member, ac.role, ac.owner = true, mb.Role, mb.Owner
	}
	if a.platform {
		ac.platform, ac.role = true, rbac.Platform
	}
	if a.scope != "" {
		ac.owner = false
	}
	if a.cap != "" {
		if ac.role != "" {
			ac.role = m.policy.Min(a.cap, ac.role)
		}
		if m.cappedBelowOwner(a) {
			ac.owner = false
		}
	}
	return ac
}

// accessIn reads the acting user's membership in w and works out the access.
func (m *Manager) accessIn(tx authReader, a actor, w workspace.Workspace) (access, error) {
	if a.system || (a.scope != "" && a.scope != w.ID) {
		return m.accessWith(a, w, nil), nil
	}
	mb, err := tx.GetMember(w.ID, a.user.ID)
	switch {
	case err == nil:
		return m.accessWith(a, w, &mb), nil
	case errors.Is(err, storage.ErrNotFound):
		return m.accessWith(a, w, nil), nil
	}
	return access{}, internal("read membership", err)
}

// allowed checks action against the policy and the workspace's status table:
//
//	active    everything the role allows
//	inactive  reads, member management, token revocation, status changes, delete
//	deleted   only restore (DeleteWorkspace) and purge, and reading the record to
//	          offer a restore
//
// Non-members learn nothing: they get ErrNotFound, as if the workspace did not exist.
func (m *Manager) allowed(a access, w workspace.Workspace, action rbac.Action) error {
	if !a.system {
		if !a.member && !a.platform {
			return notFoundf("workspace %q not found", w.ID)
		}
		if !m.policy.Allowed(a.role, a.owner, action) {
			return deniedf("the %s role may not %s in workspace %q", describeRole(a), actionText(action), w.ID)
		}
	}
	switch w.Status {
	case workspace.Deleted:
		if action == rbac.DeleteWorkspace || action == rbac.PurgeWorkspaces {
			return nil
		}
		if action == rbac.ReadWorkspace && (a.system || m.policy.Allowed(a.role, a.owner, rbac.DeleteWorkspace)) {
			return nil
		}
		return preconditionf("workspace %q is deleted: restore it first", w.ID)
	case workspace.Inactive:
		if m.readActions[action] || slices.Contains(inactiveAllowed, action) {
			return nil
		}
		return preconditionf("workspace %q is inactive: reactivate it to %s", w.ID, actionText(action))
	}
	return nil
}

// inactiveAllowed are the non-read actions an inactive workspace still permits.
var inactiveAllowed = []rbac.Action{rbac.ManageMembers, rbac.ManageTokens, rbac.ChangeStatus, rbac.DeleteWorkspace, rbac.PurgeWorkspaces}

// visible reports whether an actor with access ac sees w in a listing: exactly when
// it may read w.
func (m *Manager) visible(ac access, w workspace.Workspace) bool {
	return m.allowed(ac, w, rbac.ReadWorkspace) == nil
}

// workspaceAs loads a workspace and checks that a may perform action on it.
func (m *Manager) workspaceAs(tx authReader, a actor, id string, action rbac.Action) (workspace.Workspace, access, error) {
	w, err := tx.GetWorkspace(id)
	if errors.Is(err, storage.ErrNotFound) {
		return w, access{}, notFoundf("workspace %q not found", id)
	}
	if err != nil {
		return w, access{}, internal("read workspace", err)
	}
	ac, err := m.accessIn(tx, a, w)
	if err != nil {
		return w, ac, err
	}
	return w, ac, m.allowed(ac, w, action)
}

// workspaceFor resolves p and loads a workspace it may perform action on.
func (m *Manager) workspaceFor(tx authReader, p Principal, id string, action rbac.Action) (workspace.Workspace, access, error) {
	a, err := m.resolve(tx, p)
	if err != nil {
		return workspace.Workspace{}, access{}, err
	}
	return m.workspaceAs(tx, a, id, action)
}

// mayReadUser reports whether a may read user u: itself always, anyone with
// platform powers. A workspace token never has platform powers, so it reads only its
// own user, who is a member of its workspace.
func (a actor) mayReadUser(u member.User) bool {
	return a.platform || (!a.system && u.ID == a.user.ID)
}

// tokenAs loads a token that a may see and revoke: System and platform powers see
// every token; a token sees itself; the user (or an uncapped personal token) sees
// all of the user's tokens; whoever may manage a workspace's tokens sees that
// workspace's tokens. Anyone else gets not-found: a token ID is only a name.
func (m *Manager) tokenAs(tx authReader, a actor, id string) (token.Token, error) {
	t, err := tx.GetToken(id)
	if errors.Is(err, storage.ErrNotFound) {
		return t, notFoundf("token %q not found", id)
	}
	if err != nil {
		return t, internal("read token", err)
	}
	if a.platform || t.ID == a.p.tokenID || (a.self && t.UserID == a.user.ID) {
		return t, nil
	}
	if t.WorkspaceID != "" {
		_, _, err := m.workspaceAs(tx, a, t.WorkspaceID, rbac.ManageTokens)
		if err == nil {
			return t, nil
		}
		if KindOf(err) == nil {
			return token.Token{}, err // a storage fault, not a refusal
		}
	}
	return token.Token{}, notFoundf("token %q not found", id)
}

// ceiling is the highest role user u may grant outside a workspace (a personal
// token's cap): platform for platform users, the highest member role otherwise.
func (m *Manager) ceiling(u member.User) rbac.Role {
	if u.Platform {
		return rbac.Platform
	}
	return m.policy.Top()
}

// platformFor resolves p and requires platform powers for action.
func (m *Manager) platformFor(tx authReader, p Principal, action rbac.Action) (actor, error) {
	a, err := m.resolve(tx, p)
	if err != nil {
		return a, err
	}
	return a, m.requirePlatform(a, action)
}

// Authorize reports whether p may perform action in the workspace with ID
// workspaceID: nil if so. It applies the member's role through the policy, the
// platform rule and the workspace's status, and writes nothing.
//
// Errors: ErrUnauthenticated (nobody, unknown user), ErrNotFound (no such workspace,
// or p is not a member), ErrPermissionDenied (the role does not allow it),
// ErrFailedPrecondition (the workspace is inactive or deleted).
func (m *Manager) Authorize(ctx context.Context, p Principal, workspaceID string, action rbac.Action) (err error) {
	ctx, span := m.tel.start(ctx, "Authorize", p)
	defer func() { span.end(err) }()
	if pf, ok := m.store.(storage.Prefetcher); ok {
		// One round trip: the backend reads the few records the rules need, and the
		// same rules decide from them.
		if err := ctx.Err(); err != nil {
			return err
		}
		// The user (who may be suspended), the token if one acts, the workspace and
		// the membership.
		keys := storage.PrefetchKeys{UserID: p.userID, User: p.userID != "", TokenID: p.tokenID, WorkspaceID: workspaceID}
		got, err := pf.Prefetch(ctx, keys)
		if err != nil {
			return storageErr("authorize", err)
		}
		c := authCall{m: m, p: p, workspaceID: workspaceID, action: action}
		if err := c.run(prefetchTx{keys: keys, got: got}); !errors.Is(err, errNotPrefetched) {
			if err != nil {
				return storageErr("authorize", err)
			}
			return nil
		}
	}
	c := authCalls.Get().(*authCall)
	c.m, c.p, c.workspaceID, c.action = m, p, workspaceID, action
	err = m.store.View(ctx, c.fn)
	*c = authCall{fn: c.fn}
	authCalls.Put(c)
	if err != nil {
		return storageErr("authorize", err)
	}
	return nil
}

// authCall carries one Authorize into its transaction. Its fn is bound once, when
// the pool makes it, so the hot path allocates no closure.
type authCall struct {
	m           *Manager
	p           Principal
	workspaceID string
	action      rbac.Action
	fn          func(storage.Reader) error
}

var authCalls = sync.Pool{New: func() any {
	c := &authCall{}
	c.fn = func(tx storage.Reader) error { return c.run(tx) }
	return c
}}

func (c *authCall) run(tx authReader) error {
	if c.p.kind == userKind {
		if done, err := c.m.authorizeMember(tx, c.p, c.workspaceID, c.action); done {
			return err
		}
	}
	_, _, err := c.m.workspaceFor(tx, c.p, c.workspaceID, c.action)
	return err
}

// authorizeMember is Authorize's fast path for a user whose membership alone allows
// the action: the platform flag can only add permissions, so only the user's
// suspension is read of the user record. It answers done=false whenever the full
// check is needed.
func (m *Manager) authorizeMember(tx authReader, p Principal, workspaceID string, action rbac.Action) (done bool, err error) {
	mb, err := tx.GetMember(workspaceID, p.userID)
	if err != nil || !m.policy.Allowed(mb.Role, mb.Owner, action) {
		return false, nil
	}
	if u, err := tx.GetUser(p.userID); err != nil || u.Suspended() {
		return false, nil // resolve says why
	}
	w, err := tx.GetWorkspace(workspaceID)
	if err != nil {
		return false, nil
	}
	return true, m.allowed(access{userID: p.userID, member: true, role: mb.Role, owner: mb.Owner}, w, action)
}

// AuthorizePlatform reports whether p may perform a cross-workspace action (such as
// rbac.ListAll): nil for System and for platform users acting as themselves or with
// a personal token that is uncapped or capped at platform. It is the same rule every
// cross-workspace method applies.
//
// Errors: ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) AuthorizePlatform(ctx context.Context, p Principal, action rbac.Action) (err error) {
	ctx, span := m.tel.start(ctx, "AuthorizePlatform", p)
	defer func() { span.end(err) }()
	return m.view(ctx, "authorize", func(tx storage.Reader) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		return m.requirePlatform(a, action)
	})
}

// checkTokenInUse re-checks a token principal's token at every use: it must exist,
// belong to the principal's user, and be neither revoked nor expired.
func (m *Manager) checkTokenInUse(tx authReader, p Principal) (token.Token, error) {
	t, err := tx.GetToken(p.tokenID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && t.UserID != p.userID {
		return t, newErr(ErrUnauthenticated, "token %s is not valid", p.tokenID)
	}
	if err != nil {
		return t, internal("read token", err)
	}
	switch tokenState(t, m.clock()) {
	case TokenRevoked:
		return t, newErr(ErrUnauthenticated, "token %s was revoked", t.ID)
	case TokenExpired:
		return t, newErr(ErrUnauthenticated, "token %s expired", t.ID)
	}
	return t, nil
}

// workspaceTokenRole checks that a's user may hold a workspace token with role want
// ("" for the user's own role) in workspace wsID, and returns the role. A workspace
// token acts as its creator's membership there, never with platform powers, so the
// check is made as that token would act: the creator must be a member allowed to
// create tokens, and want must not exceed their membership role.
func (m *Manager) workspaceTokenRole(tx authReader, a actor, wsID string, want rbac.Role) (rbac.Role, error) {
	scoped := a
	scoped.scope, scoped.platform = wsID, false
	_, ac, err := m.workspaceAs(tx, scoped, wsID, rbac.CreateToken)
	if errors.Is(err, ErrNotFound) && a.platform {
		return "", preconditionf("a workspace token acts with its creator's membership role: become a member of workspace %q first", wsID)
	}
	if err != nil {
		return "", err
	}
	if want == "" {
		want = ac.role
	}
	if err := m.checkGrant(ac, want); err != nil {
		return "", err
	}
	return want, nil
}

// Authenticate turns a token secret into a Principal. A malformed secret or a bad
// checksum is refused before storage is touched; otherwise it costs one keyed hash
// and one indexed lookup, and writes nothing: the last-used time is noted in memory
// and flushed in the background (and by Close). Revoked and expired tokens, tokens
// of deleted workspaces and tokens whose creator left the workspace are refused.
// Tokens of inactive workspaces authenticate; their writes are refused later.
//
// Errors: ErrUnauthenticated, with a message that never contains the secret.
func (m *Manager) Authenticate(ctx context.Context, secret string) (_ Principal, err error) {
	ctx, span := m.tel.start(ctx, "Authenticate", Principal{})
	defer func() { span.end(err) }()
	prefix, err := token.Parse(secret, m.tokPrefixes[:]...)
	if err != nil {
		return Principal{}, newErr(ErrUnauthenticated, "invalid token: %s", strings.TrimPrefix(err.Error(), token.ErrMalformed.Error()+": "))
	}
	a := authReads.Get().(*authRead)
	defer a.release()
	a.m, a.hash, a.prefix, a.now = m, m.hasher.AppendHash(a.sum[:0], secret), prefix, m.clock() // one clock reading for the checks and the note
	err = errNotPrefetched
	if pf, ok := m.store.(storage.Prefetcher); ok && ctx.Err() == nil {
		keys := storage.PrefetchKeys{TokenHash: a.hash}
		var got storage.Prefetched
		if got, err = pf.Prefetch(ctx, keys); err == nil {
			a.p, err = m.authenticateIn(prefetchTx{keys: keys, got: got}, a.hash, a.prefix, a.now)
		}
	}
	if errors.Is(err, errNotPrefetched) {
		err = m.store.View(ctx, a.read)
	}
	if err != nil {
		return Principal{}, storageErr("authenticate", err)
	}
	m.usage.note(m, a.hash, a.p.tokenID, a.now)
	return a.p, nil
}

// authRead is one Authenticate's reading, pooled with its read function bound
// once: a closure over the call's variables would cost two allocations a call.
type authRead struct {
	m      *Manager
	sum    [token.HashSize]byte // hash's storage, so hashing allocates nothing
	hash   []byte
	prefix string
	now    time.Time
	p      Principal
	read   func(storage.Reader) error
}

var authReads = sync.Pool{New: func() any {
	a := new(authRead)
	a.read = func(tx storage.Reader) (err error) {
		a.p, err = a.m.authenticateIn(tx, a.hash, a.prefix, a.now)
		return err
	}
	return a
}}

func (a *authRead) release() {
	read := a.read
	*a = authRead{read: read} // keep nothing of the call, not even the manager
	authReads.Put(a)
}

// authenticateIn finds the token whose hash is hash and checks it can act now.
func (m *Manager) authenticateIn(tx authReader, hash []byte, prefix string, now time.Time) (Principal, error) {
	t, err := tx.GetTokenByHash(hash)
	if errors.Is(err, storage.ErrNotFound) {
		return Principal{}, newErr(ErrUnauthenticated, "invalid token: no such token")
	}
	if err != nil {
		return Principal{}, internal("read token", err)
	}
	if t.Kind != m.prefixKind(prefix) {
		return Principal{}, newErr(ErrUnauthenticated, "invalid token: no such token")
	}
	switch tokenState(t, now) {
	case TokenRevoked:
		return Principal{}, newErr(ErrUnauthenticated, "token %s was revoked", t.ID)
	case TokenExpired:
		return Principal{}, newErr(ErrUnauthenticated, "token %s expired", t.ID)
	}
	// A suspended user's tokens fail at once: the suspension marked them in its own
	// transaction, so the user need not be read. An erased user has no tokens left.
	if t.UserSuspended {
		return Principal{}, newErr(ErrUnauthenticated, "token %s belongs to a suspended user", t.ID)
	}
	// A creator's removal revokes their workspace tokens in the same transaction,
	// and every later use re-reads the creator's role, so no membership read is
	// needed here.
	if t.Kind == token.Workspace {
		w, err := tx.GetWorkspace(t.WorkspaceID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return Principal{}, internal("read workspace", err) // a fault, not a verdict
		}
		if err != nil || w.Status == workspace.Deleted {
			return Principal{}, newErr(ErrUnauthenticated, "token %s belongs to a deleted workspace", t.ID)
		}
	}
	return Principal{kind: tokenKind, userID: t.UserID, tokenID: t.ID, scope: t.WorkspaceID, cap: t.Role}, nil
}

// checkRole validates a role named for a membership or a token, before any lookup:
// one of the policy's roles (or platform, which checkGrant then refuses as a
// membership role with its own message).
func (m *Manager) checkRole(role rbac.Role) error {
	if m.policy.Rank(role) == 0 {
		return invalidf("role %q must be %s", string(role), m.policy.RoleList(false))
	}
	return nil
}

// checkGrant applies the grant ceiling: nobody grants a role above their own, only
// platform grants platform, and platform is never a membership role.
func (m *Manager) checkGrant(a access, role rbac.Role) error {
	if role == rbac.Platform {
		if a.system || a.role == rbac.Platform {
			return invalidf("platform is a user attribute, not a membership role: make the user a platform user instead")
		}
		return deniedf("you can't assign a role higher than your own: only platform users grant platform")
	}
	if !m.policy.IsMemberRole(role) {
		return invalidf("role %q must be %s", string(role), m.policy.RoleList(false))
	}
	if !a.system && !m.policy.CanGrant(a.role, role) {
		return deniedf("you can't assign a role higher than your own (%s)", a.role)
	}
	return nil
}

// checkTarget refuses acting on a member whose role is above one's own.
func (m *Manager) checkTarget(a access, target member.Member, verb string) error {
	if !a.system && m.policy.Rank(target.Role) > m.policy.Rank(a.role) {
		return deniedf("you can't %s a member whose role is above your own", verb)
	}
	return nil
}

// inviterStillMay re-checks the grant ceiling at acceptance, as if the inviter
// granted the role now: resolved as themselves (an erased or suspended inviter
// grants nothing), with their current access in the workspace (platform powers
// included), under the same ceiling as checkGrant. System invitations always pass.
func (m *Manager) inviterStillMay(tx authReader, inv member.Invitation) error {
	if inv.InviterID == "" {
		return nil
	}
	refuse := preconditionf("the person who invited you can no longer grant the %s role: ask for a new invitation", inv.Role)
	a, err := m.resolve(tx, User(inv.InviterID))
	if err != nil {
		return refuse
	}
	w, err := tx.GetWorkspace(inv.WorkspaceID)
	if err != nil {
		return refuse
	}
	ac, err := m.accessIn(tx, a, w)
	if err != nil {
		return err
	}
	if m.checkGrant(ac, inv.Role) != nil {
		return refuse
	}
	return nil
}

// checkCreate decides whether a may create the workspace in describes: not a
// workspace token, nor a token capped below the highest role (the creator becomes
// the owner, of that role); only platform powers set an external ID or host flags,
// or name another owner. It returns the owner's user ID.
func (m *Manager) checkCreate(a actor, in NewWorkspace) (ownerID string, err error) {
	switch {
	case a.scope != "":
		return "", deniedf("a workspace token cannot create workspaces")
	case m.cappedBelowOwner(a):
		return "", deniedf("%s cannot create workspaces", a.kindText())
	case in.ExternalID != "" && !a.platform:
		return "", deniedf("only platform users may set an external ID")
	case len(in.Flags) > 0 && !a.platform:
		return "", deniedf("only platform users may set workspace flags")
	}
	ownerID = in.OwnerID
	switch {
	case ownerID == "" && a.system:
		return "", invalidf("an owner is required when System creates a workspace")
	case ownerID == "":
		ownerID = a.user.ID
	case ownerID != a.user.ID && !a.platform:
		return "", deniedf("only platform users may create a workspace for someone else")
	}
	return ownerID, nil
}

// ownerRole is the role an owner holds: the policy's highest.
func (m *Manager) ownerRole() rbac.Role { return m.policy.Top() }

// cappedBelowOwner reports whether a is a token capped below the owner's role: it
// never uses the owner's powers, and cannot create a workspace (whose creator
// becomes its owner).
func (m *Manager) cappedBelowOwner(a actor) bool {
	return a.cap != "" && m.policy.Rank(a.cap) < m.policy.Rank(m.ownerRole())
}

func (m *Manager) readUser(tx storage.Reader, p Principal, load func() (member.User, error)) (member.User, error) {
	a, err := m.resolve(tx, p)
	if err != nil {
		return member.User{}, err
	}
	u, err := load()
	if errors.Is(err, storage.ErrNotFound) {
		if a.platform {
			return u, notFoundf("user not found")
		}
		return u, deniedf("users may only read their own record")
	}
	if err != nil {
		return u, internal("read user", err)
	}
	if !a.mayReadUser(u) {
		return member.User{}, deniedf("users may only read their own record")
	}
	return u, nil
}

// userFor loads a user that a may change: itself (with self powers), or anyone with
// platform powers. Others learn nothing of the user.
func (m *Manager) userFor(tx storage.Reader, a actor, userID string) (member.User, error) {
	self := !a.system && a.user.ID == userID
	switch {
	case a.system:
	case self && a.self:
	case a.platform && m.policy.Allowed(rbac.Platform, false, rbac.ManageUsers):
	case self:
		return member.User{}, requireSelf(a, "account")
	default:
		return member.User{}, deniedf("users may only change their own account")
	}
	u, err := tx.GetUser(userID)
	if errors.Is(err, storage.ErrNotFound) {
		return u, notFoundf("user %q not found", userID)
	}
	if err != nil {
		return u, internal("read user", err)
	}
	return u, nil
}

// webhookActor resolves p and checks it may manage the endpoints of workspaceID:
// the workspace's admins (rbac.ManageWebhooks) and platform powers; for the
// platform's endpoints (workspaceID empty), which receive every event, the feed's
// rule: platform powers (rbac.ListAll), under any policy.
func (m *Manager) webhookActor(tx authReader, p Principal, workspaceID string) (actor, error) {
	a, err := m.resolve(tx, p)
	if err != nil {
		return a, err
	}
	if workspaceID == "" {
		return a, m.requirePlatform(a, rbac.ListAll)
	}
	_, _, err = m.workspaceAs(tx, a, workspaceID, m.webhookAction(a))
	return a, err
}

// webhookAction is what managing a workspace's endpoints takes: rbac.ManageWebhooks
// by the policy, except for platform powers, which already see every event (a
// platform endpoint), so need only read the workspace.
func (m *Manager) webhookAction(a actor) rbac.Action {
	if m.requirePlatform(a, rbac.ListAll) == nil {
		return rbac.ReadWorkspace
	}
	return rbac.ManageWebhooks
}

// webhookFor loads an endpoint p may manage. One p may not manage is not found,
// whatever the reason, so an endpoint's existence is not told to outsiders.
func (m *Manager) webhookFor(tx storage.Reader, p Principal, id string) (webhook.Endpoint, error) {
	a, err := m.resolve(tx, p)
	if err != nil {
		return webhook.Endpoint{}, err
	}
	e, err := tx.GetWebhook(id)
	if errors.Is(err, storage.ErrNotFound) {
		return e, notFoundf("webhook %q not found", id)
	}
	if err != nil {
		return e, internal("read webhook", err)
	}
	if e.WorkspaceID == "" {
		if m.requirePlatform(a, rbac.ListAll) != nil {
			return webhook.Endpoint{}, notFoundf("webhook %q not found", id)
		}
		return e, nil
	}
	_, ac, err := m.workspaceAs(tx, a, e.WorkspaceID, m.webhookAction(a))
	if err != nil {
		if !ac.member && !a.platform {
			return webhook.Endpoint{}, notFoundf("webhook %q not found", id)
		}
		return webhook.Endpoint{}, err
	}
	return e, nil
}

// authorizeConsumer is the consumer's rule: the feed is the platform's; one
// workspace's events are its audit log.
func (m *Manager) authorizeConsumer(ctx context.Context, p Principal, workspaceID string) error {
	if workspaceID == "" {
		return m.AuthorizePlatform(ctx, p, rbac.ListAll)
	}
	return m.view(ctx, "authorize consumer", func(tx storage.Reader) error {
		_, _, err := m.workspaceFor(tx, p, workspaceID, rbac.ReadAudit)
		return err
	})
}

// GrantableRoles returns the member roles p may give in the workspace (adding a
// member, inviting, changing a role), lowest first: the grant ceiling's answer, so
// a console offers only what the server would accept. It is empty when p may
// neither manage members nor invite there. Members may ask (rbac.ListMembers).
//
// Errors: ErrNotFound (no such workspace, or p is not a member),
// ErrPermissionDenied, ErrFailedPrecondition, ErrUnauthenticated.
func (m *Manager) GrantableRoles(ctx context.Context, p Principal, workspaceID string) (_ []rbac.Role, err error) {
	ctx, span := m.tel.start(ctx, "GrantableRoles", p)
	defer func() { span.end(err) }()
	var out []rbac.Role
	err = m.view(ctx, "grantable roles", func(tx storage.Reader) error {
		w, ac, err := m.workspaceFor(tx, p, workspaceID, rbac.ListMembers)
		if err != nil {
			return err
		}
		if m.allowed(ac, w, rbac.ManageMembers) != nil && m.allowed(ac, w, rbac.InviteMembers) != nil {
			return nil
		}
		for _, r := range m.policy.Roles() {
			if m.policy.IsMemberRole(r) && m.checkGrant(ac, r) == nil {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}
