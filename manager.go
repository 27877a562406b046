// Package tenancy gives a Go application multi-tenant workspaces: workspace
// lifecycle, members, roles and events, enforced by a casbin policy over pluggable
// storage.
//
// A host embeds a Manager over a storage backend (storage/memory for tests and
// single-process apps, storage/bolt for single-binary self-hosted products). Every
// operation takes a context and a Principal — who acts — and runs every rule inside
// one storage transaction, so a refused call changes nothing.
//
// Errors are *Error values whose kind (ErrNotFound, ErrInvalidArgument, …) is read
// with errors.Is.
package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// Options configures a Manager. The zero value is ready to use.
type Options struct {
	// Clock returns the current time; nil means time.Now. Tests pass a fake clock.
	Clock func() time.Time
	// Policy decides which role may do what; nil means the embedded default policy.
	Policy *rbac.Policy
	// StarterKits are the starter-kit names CreateWorkspace accepts. A new
	// workspace's starter kit is recorded in its workspace.created event, from which
	// the host provisions it.
	StarterKits []string
	// ReadActions are host-defined actions that only read, and so remain allowed in
	// an inactive workspace. Every other host action counts as a write there.
	ReadActions []rbac.Action
	// Entropy is the randomness for IDs; nil means crypto/rand. Secrets always come
	// from crypto/rand.
	Entropy io.Reader

	// SecretKey keys the BLAKE2b hash under which invitation and token secrets are
	// stored (32-64 bytes). Required with a durable backend (bolt): keep it outside
	// the database. With the memory backend a random key is made when it is nil.
	SecretKey []byte
	// SecretPrefix starts every secret, so scanners can find leaked ones: "tnc"
	// (the default) gives "tncp_…" personal tokens, "tncw_…" workspace tokens and
	// "tnci_…" invitations. 2-16 lowercase letters or digits.
	SecretPrefix string
	// InvitationTTL is how long an invitation stays valid; 0 means 7 days.
	InvitationTTL time.Duration
	// MaxInvitationTTL caps any invitation's lifetime; 0 means 30 days.
	MaxInvitationTTL time.Duration

	// MaxTokenLifetime caps API token lifetimes; 0 means one year.
	MaxTokenLifetime time.Duration
	// AllowNonExpiringTokens lets CreateToken make tokens that never expire.
	AllowNonExpiringTokens bool
	// TokenUsageFlushInterval is how often token last-used times are written; 0
	// means 30 seconds.
	TokenUsageFlushInterval time.Duration
}

// Manager runs every tenancy operation. It is safe for concurrent use.
type Manager struct {
	store        storage.Storage
	policy       *rbac.Policy
	clock        func() time.Time
	starterKits  map[string]bool
	readActions  map[rbac.Action]bool
	ids          idSource
	hasher       *token.Hasher
	prefix       string // e.g. "tnc"
	invTTL       time.Duration
	maxInvTTL    time.Duration
	maxTokenLife time.Duration
	allowNever   bool
	usage        *usageTracker
}

// New returns a Manager over store. It never reads the whole store: opening a Manager
// over a million workspaces costs what it costs over ten.
func New(store storage.Storage, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("tenancy: New needs a storage backend")
	}
	m := &Manager{store: store, policy: opts.Policy, clock: opts.Clock,
		starterKits: map[string]bool{}, readActions: map[rbac.Action]bool{}}
	if m.policy == nil {
		p, err := rbac.Load(rbac.Options{})
		if err != nil {
			return nil, err
		}
		m.policy = p
	}
	if m.clock == nil {
		m.clock = time.Now
	}
	for _, k := range opts.StarterKits {
		if err := workspace.ValidateSlug(k); err != nil {
			return nil, errors.New("tenancy: starter kit names follow the slug rules: " + err.Error())
		}
		m.starterKits[k] = true
	}
	for _, a := range []rbac.Action{rbac.ReadWorkspace, rbac.ListMembers, rbac.ReadContent, rbac.ReadAudit} {
		m.readActions[a] = true
	}
	for _, a := range opts.ReadActions {
		m.readActions[a] = true
	}
	entropy := opts.Entropy
	if entropy == nil {
		entropy = rand.Reader
	}
	m.ids.entropy = ulid.Monotonic(entropy, 0)

	key := opts.SecretKey
	if key == nil {
		if d, ok := store.(storage.Durable); ok && d.Durable() {
			return nil, errors.New("tenancy: a durable backend needs Options.SecretKey (32-64 random bytes kept outside the database), or stored invitations and tokens would not survive a restart")
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("tenancy: make a secret key: %w", err)
		}
	}
	h, err := token.NewHasher(key)
	if err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	m.hasher = h
	m.prefix = opts.SecretPrefix
	if m.prefix == "" {
		m.prefix = "tnc"
	}
	if err := token.ValidatePrefix(m.prefix); err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	m.invTTL, m.maxInvTTL = opts.InvitationTTL, opts.MaxInvitationTTL
	if m.maxInvTTL == 0 {
		m.maxInvTTL = 30 * 24 * time.Hour
	}
	if m.invTTL == 0 {
		m.invTTL = min(7*24*time.Hour, m.maxInvTTL)
	}
	if m.invTTL < 0 || m.maxInvTTL < 0 || m.invTTL > m.maxInvTTL {
		return nil, errors.New("tenancy: InvitationTTL must be positive and at most MaxInvitationTTL")
	}
	m.maxTokenLife, m.allowNever = opts.MaxTokenLifetime, opts.AllowNonExpiringTokens
	if m.maxTokenLife == 0 {
		m.maxTokenLife = 365 * 24 * time.Hour
	}
	flush := opts.TokenUsageFlushInterval
	if flush == 0 {
		flush = 30 * time.Second
	}
	if m.maxTokenLife < 0 || flush < 0 {
		return nil, errors.New("tenancy: MaxTokenLifetime and TokenUsageFlushInterval must be positive")
	}
	m.usage = newUsageTracker(flush)
	return m, nil
}

// Policy returns the permission policy in force.
func (m *Manager) Policy() *rbac.Policy { return m.policy }

// now is the one timestamp of an operation: UTC, without a monotonic reading, so
// every backend stores and returns the same value.
func (m *Manager) now() time.Time { return m.clock().UTC().Round(0) }

// idSource makes prefixed ULIDs that never go backwards, even when the clock does.
type idSource struct {
	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	last    uint64
}

func (s *idSource) next(prefix string, t time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := ulid.Timestamp(t)
	if ms < s.last {
		ms = s.last
	}
	id, err := ulid.New(ms, s.entropy)
	if err != nil { // monotonic entropy exhausted within one millisecond: move on one
		ms++
		id = ulid.MustNew(ms, s.entropy)
	}
	s.last = ms
	return prefix + id.String()
}

// Counter names for the workspace statistics.
const (
	counterActive   = "workspaces.active"
	counterInactive = "workspaces.inactive"
	counterDeleted  = "workspaces.deleted"
)

func counterFor(s workspace.Status) string {
	switch s {
	case workspace.Active:
		return counterActive
	case workspace.Inactive:
		return counterInactive
	}
	return counterDeleted
}

// access is what a principal may do in one workspace.
type access struct {
	system   bool
	userID   string
	platform bool
	member   bool
	role     rbac.Role // effective role: Platform for platform users
	owner    bool
}

// caller resolves a principal to its user, refusing nobody and unknown users.
// System has no user.
func (m *Manager) caller(tx storage.Tx, p Principal) (member.User, error) {
	switch p.kind {
	case systemKind:
		return member.User{}, nil
	case userKind, tokenKind:
		if p.kind == tokenKind {
			if err := m.checkTokenInUse(tx, p); err != nil {
				return member.User{}, err
			}
		}
		u, err := tx.GetUser(p.userID)
		if errors.Is(err, storage.ErrNotFound) {
			return u, newErr(ErrUnauthenticated, "unknown user %q", p.userID)
		}
		if err != nil {
			return u, internal("read user", err)
		}
		return u, nil
	}
	return member.User{}, newErr(ErrUnauthenticated, "no principal: authenticate first")
}

// accessTo works out what p may do in workspace w.
func (m *Manager) accessTo(tx storage.Tx, p Principal, w workspace.Workspace) (access, error) {
	if p.kind == systemKind {
		return access{system: true, role: rbac.Platform}, nil
	}
	u, err := m.caller(tx, p)
	if err != nil {
		return access{}, err
	}
	a := access{userID: u.ID, platform: u.Platform}
	mem, err := tx.GetMember(w.ID, u.ID)
	switch {
	case err == nil:
		a.member, a.role, a.owner = true, mem.Role, mem.Owner
	case !errors.Is(err, storage.ErrNotFound):
		return access{}, internal("read membership", err)
	}
	if u.Platform {
		a.role = rbac.Platform
	}
	if p.kind == tokenKind {
		a = tokenAccess(p, w, a)
	}
	return a, nil
}

// tokenAccess narrows a creator's access to what their token may do: a workspace
// token works only in its workspace, never with its creator's owner or platform
// powers; every token acts with min(its role, its creator's current role). A personal
// token acts as its user, so it keeps ownership unless capped below admin.
func tokenAccess(p Principal, w workspace.Workspace, a access) access {
	if p.scope != "" {
		if p.scope != w.ID || (!a.member && !a.platform) {
			return access{userID: a.userID} // not found
		}
		a.member, a.platform, a.owner = true, false, false
	}
	if p.cap != "" && p.cap.Rank() < rbac.Admin.Rank() {
		a.owner = false
	}
	if p.cap != "" && a.role != "" {
		a.role = rbac.Min(p.cap, a.role)
	}
	if a.role != rbac.Platform {
		a.platform = false
	}
	return a
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

// actionText words an action for error messages.
func actionText(a rbac.Action) string {
	switch a {
	case rbac.ReadWorkspace:
		return "read the workspace"
	case rbac.ListMembers:
		return "list members"
	case rbac.ReadContent:
		return "read content"
	case rbac.WriteContent:
		return "write content"
	case rbac.CreateToken:
		return "create tokens"
	case rbac.UpdateWorkspace:
		return "update the workspace"
	case rbac.ChangeStatus:
		return "change the workspace's status"
	case rbac.InviteMembers:
		return "invite members"
	case rbac.ManageMembers:
		return "manage members"
	case rbac.ManageTokens:
		return "manage the workspace's tokens"
	case rbac.ReadAudit:
		return "read the audit log"
	case rbac.DeleteWorkspace:
		return "delete or restore the workspace"
	case rbac.ListAll:
		return "list every workspace"
	case rbac.ReadStats:
		return "read workspace statistics"
	case rbac.SyncWorkspaces:
		return "sync workspaces"
	case rbac.PurgeWorkspaces:
		return "purge workspaces"
	case rbac.ManageUsers:
		return "manage users"
	}
	return string(a)
}

func describeRole(a access) string {
	if a.owner {
		return "owner"
	}
	return string(a.role)
}

// workspaceFor loads a workspace and checks that p may perform action on it.
func (m *Manager) workspaceFor(tx storage.Tx, p Principal, id string, action rbac.Action) (workspace.Workspace, access, error) {
	w, err := tx.GetWorkspace(id)
	if errors.Is(err, storage.ErrNotFound) {
		// Check the principal first, so that nobody learns more than "not found".
		if _, cerr := m.caller(tx, p); cerr != nil {
			return w, access{}, cerr
		}
		return w, access{}, notFoundf("workspace %q not found", id)
	}
	if err != nil {
		return w, access{}, internal("read workspace", err)
	}
	a, err := m.accessTo(tx, p, w)
	if err != nil {
		return w, a, err
	}
	return w, a, m.allowed(a, w, action)
}

// Authorize reports whether p may perform action in the workspace with ID
// workspaceID: nil if so. It applies the member's role through the policy, the
// platform rule and the workspace's status, and writes nothing.
//
// Errors: ErrUnauthenticated (nobody, unknown user), ErrNotFound (no such workspace,
// or p is not a member), ErrPermissionDenied (the role does not allow it),
// ErrFailedPrecondition (the workspace is inactive or deleted).
func (m *Manager) Authorize(ctx context.Context, p Principal, workspaceID string, action rbac.Action) error {
	c := authCalls.Get().(*authCall)
	c.m, c.p, c.workspaceID, c.action = m, p, workspaceID, action
	err := m.store.View(ctx, c.fn)
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
	fn          func(storage.Tx) error
}

var authCalls = sync.Pool{New: func() any {
	c := &authCall{}
	c.fn = c.run
	return c
}}

func (c *authCall) run(tx storage.Tx) error {
	if c.p.kind == userKind {
		if done, err := c.m.authorizeMember(tx, c.p, c.workspaceID, c.action); done {
			return err
		}
	}
	_, _, err := c.m.workspaceFor(tx, c.p, c.workspaceID, c.action)
	return err
}

// authorizeMember is Authorize's fast path for a user whose membership alone allows
// the action: the platform flag can only add permissions, so the user record need not
// be read (a membership implies the user exists). It answers done=false whenever the
// full check is needed.
func (m *Manager) authorizeMember(tx storage.Tx, p Principal, workspaceID string, action rbac.Action) (done bool, err error) {
	mb, err := tx.GetMember(workspaceID, p.userID)
	if err != nil || !m.policy.Allowed(mb.Role, mb.Owner, action) {
		return false, nil
	}
	w, err := tx.GetWorkspace(workspaceID)
	if err != nil {
		return false, nil
	}
	return true, m.allowed(access{userID: p.userID, member: true, role: mb.Role, owner: mb.Owner}, w, action)
}

// AuthorizePlatform reports whether p may perform a cross-workspace action (such as
// rbac.ListAll): nil for System and for platform users acting as themselves or with
// an uncapped personal token.
//
// Errors: ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) AuthorizePlatform(ctx context.Context, p Principal, action rbac.Action) error {
	return m.view(ctx, "authorize", func(tx storage.Tx) error {
		_, err := m.requirePlatform(tx, p, action)
		return err
	})
}

// requirePlatform checks that p is System or a platform user, for cross-workspace
// operations.
func (m *Manager) requirePlatform(tx storage.Tx, p Principal, action rbac.Action) (member.User, error) {
	u, err := m.caller(tx, p)
	if err != nil || p.kind == systemKind {
		return u, err
	}
	tokenOK := p.kind != tokenKind || p.scope == "" && (p.cap == "" || p.cap == rbac.Platform)
	if !u.Platform || !tokenOK || !m.policy.Allowed(rbac.Platform, false, action) {
		return u, deniedf("only platform users may %s", actionText(action))
	}
	return u, nil
}

// record appends an event in the running transaction. Its ID is made here, inside
// the transaction, so the feed's order is the commit order and a consumer resuming
// from a cursor never skips an event committed after it read.
func (m *Manager) record(tx storage.Tx, now time.Time, p Principal, typ, wsID, subject string, data map[string]string) error {
	e := storage.Event{ID: m.ids.next("evt_", now), Type: typ, WorkspaceID: wsID, Actor: p.String(),
		Subject: subject, Data: data, Time: now}
	if err := tx.AppendEvent(e); err != nil {
		return internal("record event", err)
	}
	return nil
}

// update runs fn in a write transaction, mapping storage faults.
func (m *Manager) update(ctx context.Context, op string, fn func(tx storage.Tx) error) error {
	err := m.store.Update(ctx, fn)
	if err != nil {
		return storageErr(op, err)
	}
	return nil
}

func (m *Manager) view(ctx context.Context, op string, fn func(tx storage.Tx) error) error {
	err := m.store.View(ctx, fn)
	if err != nil {
		return storageErr(op, err)
	}
	return nil
}

// storageErr keeps Manager errors and context errors as they are and wraps the rest.
func storageErr(op string, err error) error {
	var e *Error
	if errors.As(err, &e) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return internal(op, err)
}
