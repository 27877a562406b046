// Package tenancy gives a Go application multi-tenant workspaces: workspace
// lifecycle, members, roles and events, enforced by a casbin policy over pluggable
// storage.
//
// A host embeds a Manager over a storage backend (storage/memory for tests and
// single-process apps, storage/bolt for single-binary self-hosted products,
// storage/postgres for several instances on one database). Every
// operation takes a context and a Principal — who acts — and runs every rule inside
// one storage transaction, so a refused call changes nothing.
//
// Errors are *Error values whose kind (ErrNotFound, ErrInvalidArgument, …) is read
// with errors.Is.
package tenancy

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// Options configures a Manager. The zero value is ready to use.
type Options struct {
	// Clock returns the current time; nil means time.Now. Tests pass a fake clock.
	Clock func() time.Time
	// Policy decides which role may do what; nil means the embedded default policy.
	// New refuses a policy that does not declare a role stored members hold
	// (ErrUndeclaredRole).
	Policy *rbac.Policy
	// RenameRoles renames stored roles (old name to new) while New opens the store,
	// in one transaction, before the check above: how a host deploys a policy that
	// renames a role. Renaming a role nobody holds does nothing, so it can stay set.
	RenameRoles map[rbac.Role]rbac.Role
	// StarterKits are the starter-kit names CreateWorkspace accepts. A new
	// workspace's starter kit is recorded in its workspace.created event, from which
	// the host provisions it.
	StarterKits []string
	// WorkspaceFlags are the names of the host's per-workspace flags (Airbyte
	// Embedded's "sources", "active_connections"), set with NewWorkspace.Flags and
	// SetWorkspaceFlags. Stats counts the workspaces in use that carry each, in
	// O(1), and the HTTP API reports the count as "workspaces_with_" + name. Names
	// follow workspace.ValidateFlagName; at most workspace.MaxFlags.
	WorkspaceFlags []string
	// SyncSource lists the workspaces "created outside", in the host's other
	// system, for a SyncWorkspaces call without items (Airbyte Embedded's
	// bodyless POST /workspaces/sync). It is called outside any transaction,
	// after the caller is found allowed to sync; an error fails the sync, changing
	// nothing. Nil: a sync must name its items.
	SyncSource func(ctx context.Context) ([]workspace.SyncItem, error)
	// DefaultRole is the role of an invitation or a direct addition that names
	// none (System Initiative's "add a user by email"). It must be one of the
	// policy's member roles; empty means the policy's lowest.
	DefaultRole rbac.Role
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

	// EmailChangeTTL is how long the secret of a self-service email change stays
	// valid; 0 means DefaultEmailChangeTTL (24 hours).
	EmailChangeTTL time.Duration

	// MaxTokenLifetime caps API token lifetimes; 0 means one year.
	MaxTokenLifetime time.Duration
	// AllowNonExpiringTokens lets CreateToken make tokens that never expire.
	AllowNonExpiringTokens bool
	// TokenUsageFlushInterval is how often token last-used times are written; 0
	// means 30 seconds.
	TokenUsageFlushInterval time.Duration

	// Webhooks configures webhook endpoints and their delivery.
	Webhooks WebhookOptions

	// Logger receives the failures of background work, which has no caller to
	// return them to (a token-usage flush that could not be written; it is tried
	// again at the next flush). Nil discards them.
	Logger *slog.Logger

	// TracerProvider makes the tracer of the Manager's spans: one per operation
	// (named by the method, "CreateWorkspace"), a child of any span in the call's
	// context, with the operation, the principal's kind and the outcome as
	// attributes, never an ID, a secret or an email. Nil means the global provider
	// (otel.GetTracerProvider), a no-op until the host installs an SDK.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the Manager's instruments: operation counts and
	// durations, storage transaction durations (and, on a store that retries,
	// commits, retries and ambiguous commits), webhook deliveries and lag,
	// consumer lag and token-usage flushes; the README lists them. Nil means the
	// global provider (otel.GetMeterProvider), a no-op until the host installs an
	// SDK.
	MeterProvider metric.MeterProvider
}

// Manager runs every tenancy operation. It is safe for concurrent use.
type Manager struct {
	store        storage.Storage
	policy       *rbac.Policy
	clock        func() time.Time
	starterKits  map[string]bool
	kitOrder     []string // Options.StarterKits as given, without repeats
	defaultRole  rbac.Role
	syncSource   func(ctx context.Context) ([]workspace.SyncItem, error)
	flagSet      map[string]bool
	flagOrder    []string // Options.WorkspaceFlags as given, without repeats
	readActions  map[rbac.Action]bool
	ids          idSource
	hasher       *token.Hasher
	prefix       string    // e.g. "tnc"
	tokPrefixes  [2]string // personal and workspace token prefixes, e.g. "tncp" and "tncw": built once, for Authenticate
	invTTL       time.Duration
	emailTTL     time.Duration
	maxInvTTL    time.Duration
	maxTokenLife time.Duration
	allowNever   bool
	usage        *usageTracker
	log          *slog.Logger
	sealer       *webhook.Sealer // seals webhook signing secrets at rest
	hooks        WebhookOptions
	feed         feedSignal
	notifyFeed   func() // feed.notify, made once: record registers it on every event
	clientMu     sync.Mutex
	client       *http.Client   // the deliveries' client, made on first use from hooks.Policy
	healing      sync.Map       // user ID → true while healSuspension marks their tokens
	background   sync.WaitGroup // healSuspension's goroutines, waited for by Close
	tel          *telemetry     // spans and instruments (no-ops without an SDK)
}

// New returns a Manager over store. It reads a few settings, not the store: opening a
// Manager over a million workspaces costs what it costs over ten. The one exception
// is a policy that drops a role the store's records may hold: New then counts the
// memberships holding it, once, and refuses the policy while any do
// (ErrUndeclaredRole).
func New(store storage.Storage, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("tenancy: New needs a storage backend")
	}
	m := &Manager{store: store, policy: opts.Policy, clock: opts.Clock,
		starterKits: map[string]bool{}, readActions: map[rbac.Action]bool{}}
	tel, err := newTelemetry(opts.TracerProvider, opts.MeterProvider, store)
	if err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	m.tel = tel
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
	m.defaultRole, m.syncSource = opts.DefaultRole, opts.SyncSource
	if m.defaultRole == "" {
		m.defaultRole = m.policy.Roles()[0]
	} else if !m.policy.IsMemberRole(m.defaultRole) {
		return nil, fmt.Errorf("tenancy: Options.DefaultRole %q is not one of the policy's member roles (%s)", m.defaultRole, m.policy.RoleList(false))
	}
	for _, k := range opts.StarterKits {
		if err := workspace.ValidateSlug(k); err != nil {
			return nil, errors.New("tenancy: starter kit names follow the slug rules: " + err.Error())
		}
		if !m.starterKits[k] {
			m.kitOrder = append(m.kitOrder, k)
		}
		m.starterKits[k] = true
	}
	if err := m.declareFlags(opts.WorkspaceFlags); err != nil {
		return nil, err
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
	d, ok := store.(storage.Durable)
	durable := ok && d.Durable()
	if key == nil {
		if durable {
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
	if m.sealer, err = webhook.NewSealer(key); err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	m.hooks = opts.Webhooks
	m.notifyFeed = m.feed.notify
	if err := m.validWebhookOptions(); err != nil {
		return nil, err
	}
	if durable {
		if err := m.checkSecretKey(); err != nil {
			return nil, err
		}
	}
	m.prefix = opts.SecretPrefix
	if m.prefix == "" {
		m.prefix = "tnc"
	}
	if err := token.ValidatePrefix(m.prefix); err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	m.tokPrefixes = [2]string{m.prefix + "p", m.prefix + "w"}
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
	m.emailTTL = opts.EmailChangeTTL
	if m.emailTTL == 0 {
		m.emailTTL = DefaultEmailChangeTTL
	}
	if m.emailTTL < 0 {
		return nil, errors.New("tenancy: EmailChangeTTL must be positive")
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
	if err := m.checkRoles(opts.RenameRoles); err != nil {
		return nil, err
	}
	if err := m.markSuspendedTokens(); err != nil {
		return nil, err
	}
	m.usage = newUsageTracker(flush)
	m.log = opts.Logger
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m, nil
}

// ErrSecretKeyMismatch is returned by New when a durable store was first used with
// another Options.SecretKey: every stored token and invitation hash was made with
// that key, so with this one none of them would ever verify.
var ErrSecretKeyMismatch = errors.New("tenancy: Options.SecretKey is not the key this store was created with")

// settingKeyCheck names the stored check value of the secret key.
const settingKeyCheck = "secret_key_check"

// checkSecretKey compares a keyed hash of a fixed label (never the key itself) with
// the one the store remembers, and records it on first use. Several instances
// starting at once on one database agree: the first commit wins and the others read
// it.
func (m *Manager) checkSecretKey() error {
	want := m.hasher.Hash("tenancy secret key check v1")
	compare := func(got []byte, err error) (missing bool, _ error) {
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return true, nil
		case err != nil:
			return false, err
		case !bytes.Equal(got, want):
			return false, ErrSecretKeyMismatch
		}
		return false, nil
	}
	// Read first: an existing store is opened without a commit (and its fsync).
	var missing bool
	err := m.store.View(context.Background(), func(tx storage.Reader) (err error) {
		missing, err = compare(tx.Setting(settingKeyCheck))
		return err
	})
	if err == nil && missing {
		// A new store: record it, unless another instance did meanwhile.
		err = m.store.Update(context.Background(), func(tx storage.ReadWriter) error {
			missing, err := compare(tx.Setting(settingKeyCheck))
			if err != nil || !missing {
				return err
			}
			return tx.PutSetting(settingKeyCheck, want)
		})
	}
	if errors.Is(err, ErrSecretKeyMismatch) {
		return fmt.Errorf("%w: pass the key the store was created with (rotating the key would invalidate every token and invitation)", ErrSecretKeyMismatch)
	}
	if err != nil {
		return fmt.Errorf("tenancy: check the secret key against the store: %w", err)
	}
	return nil
}

// Policy returns the permission policy in force.
func (m *Manager) Policy() *rbac.Policy { return m.policy }

// StarterKits returns the starter-kit names CreateWorkspace accepts
// (Options.StarterKits), in the order given: the order a CLI numbers them in.
func (m *Manager) StarterKits() []string { return slices.Clone(m.kitOrder) }

// now is the one timestamp of an operation: UTC, to the microsecond (what every
// backend keeps, a SQL database included), without a monotonic reading, so every
// backend stores and returns the same value.
func (m *Manager) now() time.Time { return m.clock().UTC().Truncate(time.Microsecond) }

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

// The counters the Manager keeps the workspace statistics in (storage's
// AddCounter), named for tools that load records straight into a store and must
// keep the counts in step (examples/scale), and for tests that damage them.
// CounterForFlag names a host flag's counter.
const (
	CounterActiveWorkspaces   = "workspaces.active"
	CounterInactiveWorkspaces = "workspaces.inactive"
	CounterDeletedWorkspaces  = "workspaces.deleted"
)

const (
	counterActive   = CounterActiveWorkspaces
	counterInactive = CounterInactiveWorkspaces
	counterDeleted  = CounterDeletedWorkspaces
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
	case rbac.ManageWebhooks:
		return "manage webhooks"
	case rbac.Backup:
		return "back up the store"
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

// record appends an event in the running transaction. Its ID only names it; its
// feed position is the backend's (see the storage contract), so a consumer resuming
// from a cursor never skips an event committed after it read.
func (m *Manager) record(tx storage.ReadWriter, now time.Time, p Principal, typ, wsID, subject string, data map[string]string) error {
	e := storage.Event{ID: m.ids.next("evt_", now), Type: typ, WorkspaceID: wsID, Actor: p.String(),
		Subject: subject, Data: data, Time: now}
	if err := tx.AppendEvent(e); err != nil {
		return internal("record event", err)
	}
	tx.OnCommit(m.notifyFeed)
	return nil
}

// Ping reports whether the store answers now: for a store that depends on a
// server (PostgreSQL, storage.Pinger), one round trip; for the others, nil. It is
// what a readiness check asks; it takes no Principal and reads nothing.
func (m *Manager) Ping(ctx context.Context) error {
	if p, ok := m.store.(storage.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// update runs fn in a write transaction, mapping storage faults.
func (m *Manager) update(ctx context.Context, op string, fn func(tx storage.ReadWriter) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var start time.Time
	measure := m.tel.txEnabled()
	if measure {
		start = time.Now()
	}
	err := m.store.Update(ctx, fn)
	if measure {
		m.tel.transaction("write", start, err)
	}
	if err != nil {
		return storageErr(op, err)
	}
	return nil
}

func (m *Manager) view(ctx context.Context, op string, fn func(tx storage.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var start time.Time
	measure := m.tel.txEnabled()
	if measure {
		start = time.Now()
	}
	err := m.store.View(ctx, fn)
	if measure {
		m.tel.transaction("read", start, err)
	}
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
