package tenancy

import (
	"errors"
	"slices"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// The authorization core. Every Manager method resolves its Principal once, with
// resolve, into an actor, and decides every question of access from that actor:
// no method reads a user's platform flag or memberships on its own. The rules, in
// one table (AUTHORIZATION.md says the same in prose):
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
		if m.policy.Rank(a.cap) < m.policy.Rank(m.policy.Top()) {
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
