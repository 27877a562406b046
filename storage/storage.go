// Package storage defines the transactional contract between tenancy's Manager and
// its backends.
//
// A backend stores records and keeps its indexes consistent; it holds no business
// rule. Every rule lives once, in the Manager, which runs each operation inside one
// View or Update. storage/storagetest is the conformance kit every backend passes.
//
// # The contract
//
// What the Manager relies on, and so what every backend must guarantee, with one
// writer or with many (several processes on one database):
//
//   - Isolation. View runs fn against one consistent snapshot: every read in it sees
//     the same committed state. Update behaves as if transactions ran one at a time
//     (serializable): a backend with concurrent writers detects conflicts and runs fn
//     again, or fails.
//   - Re-runs. Update may run fn more than once, but only when the earlier attempt
//     surely did not commit (a serialization failure, a group commit retried without a
//     failed member). After an ambiguous commit (the connection lost during COMMIT)
//     it reports an error instead: the caller cannot know, and must not be told
//     "not applied". So fn must be idempotent: make IDs, secrets and timestamps
//     before calling Update.
//   - Atomicity. If fn returns an error or panics, nothing it wrote is kept (a panic is
//     re-raised after the rollback); if it returns nil, everything is committed at once.
//   - Abandon on write errors. After a write method returns an error, fn must return
//     an error: the transaction may be unusable (a SQL transaction is aborted), and
//     its earlier writes are rolled back.
//   - Insert versus replace. Create… inserts a new record and fails with a
//     *ConflictError (errors.Is ErrExists) naming the unique index that collided;
//     Replace… replaces an existing record and fails with ErrNotFound when there is
//     none; PutSetting is the one upsert.
//     Uniqueness is decided by the backend, never by a Get followed by a write.
//   - The feed. AppendEvent gives each event a position: an opaque string, ordered
//     bytewise, such that no event committed later sorts before a position a reader
//     has already seen. A reader that resumes after the last position it read never
//     skips an event. A backend whose commits can finish out of order (a SQL database)
//     hides events above its oldest running transaction until it ends.
//   - Counters are commutative: AddCounter returns no value, so a backend may shard
//     them; Counter sums the shards.
//   - Token last-used times are written with TouchToken, which keeps the later of the
//     stored time and the new one: never a read-modify-write that could undo a
//     revocation committed in between.
//   - OnCommit functions run after the commit, only in the process that committed.
//   - Keys compare bytewise: every Scan walks keys in ascending byte order, starting
//     strictly after the given key ("" starts at the beginning), so a page costs the
//     same wherever it starts. IDs never contain a zero byte (CheckKeys).
//   - Times are kept to the microsecond, in UTC; the zero time stays zero. The Manager
//     writes only times truncated to the microsecond.
//   - Text never holds U+0000 (a PostgreSQL text column cannot), and the Manager never
//     writes it: names, descriptions, metadata and emails are validated before.
//   - Values go in and come out as copies: mutating a value after a write, or a
//     value returned by Get, never changes what is stored. A transaction is valid
//     only until fn returns.
//
// # Transactions
//
// View gives fn a Reader and Update a ReadWriter, each made of small per-record
// interfaces (UserReader, WorkspaceWriter, …). Create… inserts, Replace… replaces,
// Delete… removes, PutSetting is the one upsert. A function that reads takes a
// Reader, so the compiler keeps a read transaction from writing.
//
// # Optional capabilities
//
// Each is a separate interface, found with a type assertion; the Manager works
// without it, at the cost given:
//
//   - WorkspaceSearcher, on a Reader: filtered workspace lists (a name search, a
//     status) through indexes. Without it the Manager scans every workspace.
//   - Prefetcher, on the Storage: the records of one Authorize or Authenticate in
//     one round trip. Without it they are read in a View (one round trip per record
//     on a SQL backend).
//   - FullScanner, on a Reader: whole-table scans for Verify. Without it Verify
//     reaches records through their parents' indexes and cannot report orphans.
//   - SuspendedUserScanner, on a Reader: the suspended users through an index,
//     checked at every start. Without it the check runs once per store.
//   - Durable, on the Storage: the data outlives the process, so the Manager
//     requires a fixed secret key. Without it a random key is allowed.
//   - Checker, on the Storage: the backend's own integrity checks, run by Verify.
//     Without it Verify checks only the records.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// Errors returned by every backend. Backends wrap them with context (fmt.Errorf with
// %w), so test with errors.Is.
var (
	// ErrNotFound: no record has that key.
	ErrNotFound = errors.New("storage: not found")
	// ErrExists: a unique key or index entry (a slug, an email, a hash) is taken by
	// another record.
	ErrExists = errors.New("storage: already exists")
	// ErrReadOnly: a write was attempted in a View transaction (a Reader asserted to
	// a ReadWriter); backends whose read and write transactions share a type refuse
	// it at run time.
	ErrReadOnly = errors.New("storage: read-only transaction")
	// ErrClosed: the store was closed, or a transaction was used after it ended.
	ErrClosed = errors.New("storage: closed")
	// ErrCorrupt: stored data could not be decoded or the file is not a valid store.
	ErrCorrupt = errors.New("storage: corrupt data")
	// ErrInvalidKey: a record lacks a key it is stored under (an empty ID, slug,
	// email or hash), or an ID holds a zero byte, which composite keys reserve.
	ErrInvalidKey = errors.New("storage: invalid key")
)

// CheckKeys returns ErrInvalidKey (wrapped, naming kind) unless every ID is
// non-empty and free of zero bytes (composite keys join IDs with one), and every hash
// is non-empty (hashes are whole keys, so any byte may appear in them). Backends
// call it before each write, so all of them refuse the same records.
func CheckKeys(kind string, ids []string, hashes ...[]byte) error {
	for _, k := range ids {
		if k == "" || strings.IndexByte(k, 0) >= 0 {
			return fmt.Errorf("%s: empty key or zero byte in %q: %w", kind, k, ErrInvalidKey)
		}
	}
	for _, h := range hashes {
		if len(h) == 0 {
			return fmt.Errorf("%s: empty hash: %w", kind, ErrInvalidKey)
		}
	}
	return nil
}

// Backuper is an optional interface of a Storage that can write a consistent copy
// of itself while it serves (bbolt's Tx.WriteTo): what tenancy's backup writes.
// The copy opens with the same backend and the same secret key.
type Backuper interface {
	// Backup writes the copy to w and returns how many bytes it wrote.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// Pinger is an optional interface of a Storage that depends on a server: Ping
// reports whether that server answers now (for readiness checks).
type Pinger interface {
	Ping(ctx context.Context) error
}

// TxCounter is an optional interface of a Storage that retries transactions
// (PostgreSQL): TxCounts reports its running totals, which the Manager exports as
// metrics.
type TxCounter interface {
	TxCounts() TxCounts
}

// TxCounts are a store's transaction totals since it opened.
type TxCounts struct {
	Commits   int64 // write transactions committed
	Retries   int64 // attempts run again after a serialization failure or a deadlock
	Ambiguous int64 // commits whose outcome is unknown (ErrAmbiguousCommit), never retried
}

// ErrAmbiguousCommit is an Update whose COMMIT was sent but whose outcome is
// unknown: the connection was lost before the answer. The transaction may or may
// not have committed, so it is never retried blindly; a caller checks (reads what
// it wrote) before it tries again. Backends that talk to a server return it
// wrapped (errors.Is).
var ErrAmbiguousCommit = errors.New("storage: the commit's outcome is unknown (connection lost during COMMIT)")

// Storage is a transactional store of tenancy's records. The package doc states
// the contract its transactions keep.
type Storage interface {
	// View runs fn in a read-only transaction over one consistent snapshot.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a serializable read-write transaction and commits it if fn
	// returns nil. fn may run more than once, only when an earlier attempt surely did
	// not commit.
	Update(ctx context.Context, fn func(ReadWriter) error) error
	// Close releases the store. Later calls fail with ErrClosed.
	Close() error
}

// Durable is implemented by backends whose data outlives the process (bolt). The
// Manager then requires a fixed secret-hashing key: a random per-process key would
// make every stored invitation and token unusable after a restart.
type Durable interface {
	Durable() bool
}

// Checker is implemented by backends that can check their own structures: every
// index entry has its record and every record its index entries, and (bolt) the file's
// pages are sound. Check returns one line per problem found; none means healthy.
// Manager.Verify runs it when the backend has it.
type Checker interface {
	Check(ctx context.Context) ([]string, error)
}

// FullScanner is implemented by a Reader that can walk whole tables, for Manager.Verify's
// orphan checks. A backend without it still works; Verify then checks what it can
// reach through the indexes.
type FullScanner interface {
	// ScanAllMembers walks every membership, by workspace then user.
	ScanAllMembers(fn func(member.Member) bool) error
	// ScanAllInvitations walks every invitation by ID.
	ScanAllInvitations(afterID string, fn func(member.Invitation) bool) error
	// ScanTokens walks every token by ID.
	ScanTokens(afterID string, fn func(token.Token) bool) error
}

// SuspendedUserScanner is implemented by a Reader that finds the suspended users
// through an index, so the Manager can check at every start that their tokens carry
// the suspension (token.Token.UserSuspended), whatever wrote the suspension: an
// older version, a copy, a host's own tool. Without it the Manager makes that check
// once per store.
type SuspendedUserScanner interface {
	// ScanSuspendedUsers walks the users whose SuspendedAt is set, by ID.
	ScanSuspendedUsers(fn func(member.User) bool) error
}

// WorkspaceSearcher is implemented by a Reader that answers filtered workspace lists
// through indexes, so a search or a status filter costs what it finds, not the
// number of workspaces. The Manager falls back to scanning every workspace when the
// Reader lacks it.
type WorkspaceSearcher interface {
	// SearchWorkspaces walks, in ID order and strictly after the given ID, every
	// workspace that matches q: fn returns false to stop.
	SearchWorkspaces(q WorkspaceQuery, after string, fn func(workspace.Workspace) bool) error
}

// WorkspaceQuery is a filtered list of workspaces.
type WorkspaceQuery struct {
	// NameContains keeps workspaces whose name, lowercased with strings.ToLower,
	// contains it (the Manager lowercases it the same way); "" keeps all.
	NameContains string
	// Status keeps workspaces in that status; "" keeps active and inactive ones.
	Status workspace.Status
}

// Match reports whether w matches q: the definition every index must agree with.
func (q WorkspaceQuery) Match(w workspace.Workspace) bool {
	if q.Status == "" {
		if w.Status == workspace.Deleted {
			return false
		}
	} else if w.Status != q.Status {
		return false
	}
	return q.NameContains == "" || strings.Contains(strings.ToLower(w.Name), q.NameContains)
}

// Prefetcher is implemented by backends that can read, in one round trip, the few
// records one authorization or authentication decision needs (a backend may take a
// second for the rarer cases: PostgreSQL does for a user acting where they hold no
// membership). The Manager then decides from them with its usual rules, and falls
// back to a View when a rule needs a record outside them. The records returned must
// come from one consistent snapshot (one SQL statement is).
type Prefetcher interface {
	Prefetch(ctx context.Context, keys PrefetchKeys) (Prefetched, error)
}

// PrefetchKeys names the records to read. Empty keys are not read.
type PrefetchKeys struct {
	UserID      string // the user acting: their membership in WorkspaceID
	User        bool   // also the user record of UserID
	TokenID     string // the token acting
	WorkspaceID string // the workspace of the decision
	TokenHash   []byte // the token with this hash, and the workspace it is bound to
}

// Prefetched holds what Prefetch found: nil where there is no such record. A record
// holds at least the fields an authorization decision reads, and a backend may leave
// the others zero: a user's ID, Platform and SuspendedAt; a token's ID, Kind, UserID,
// WorkspaceID, Role, ExpiresAt, RevokedAt and UserSuspended; a workspace's ID and
// Status; a membership's WorkspaceID, UserID, Role and Owner.
type Prefetched struct {
	User      *member.User
	Token     *token.Token // by TokenID, or by TokenHash
	Workspace *workspace.Workspace
	Member    *member.Member
}

// The unique indexes a Create… or Replace… may collide on, as named by ConflictError.
const (
	IndexUserID              = "user.id"
	IndexUserEmail           = "user.email"
	IndexWorkspaceID         = "workspace.id"
	IndexWorkspaceSlug       = "workspace.slug"
	IndexWorkspaceExternalID = "workspace.external_id"
	IndexMember              = "member"
	IndexInvitationID        = "invitation.id"
	IndexInvitationHash      = "invitation.hash"
	IndexTokenID             = "token.id"
	IndexTokenHash           = "token.hash"
	IndexConsumer            = "consumer"
	IndexWebhookID           = "webhook.id"
	IndexWebhookAttempt      = "webhook_attempt"
)

// ConflictError is the error of a write that collided with a unique index. It
// matches ErrExists with errors.Is; Index says which index.
type ConflictError struct {
	Index string // one of the Index… names
}

// Error names the index.
func (e *ConflictError) Error() string { return "storage: " + e.Index + " already exists" }

// Is makes errors.Is(err, ErrExists) hold.
func (e *ConflictError) Is(target error) bool { return target == ErrExists }

// Conflict returns the error of a collision on a unique index.
func Conflict(index string) error { return &ConflictError{Index: index} }

// ConflictIndex returns the index a write collided with, or "" when err is not a
// ConflictError.
func ConflictIndex(err error) string {
	if err == nil {
		return "" // before errors.As, whose target escapes: no allocation on success
	}
	var c *ConflictError
	if errors.As(err, &c) {
		return c.Index
	}
	return ""
}

// PurgeCounts says what PurgeWorkspace removed besides the workspace itself.
type PurgeCounts struct {
	Members, Invitations, Tokens, Events int
}

// A transaction is a Reader (View) or a ReadWriter (Update), each built from small
// per-record interfaces, so a function that only reads users says so in its
// signature (a UserReader), and a read transaction cannot be asked to write: the
// compiler refuses it. Records go in and come out as copies. Every Scan walks keys
// in ascending byte order, starting strictly after the given key ("" starts at the
// beginning); its callback returns false to stop.
//
// Names say what a write does: Create… inserts (a ConflictError when a unique key
// is taken), Replace… replaces an existing record (ErrNotFound when there is none),
// Delete… removes, and PutSetting is the one upsert.

// UserReader reads users.
type UserReader interface {
	// GetUser returns the user with that ID, or ErrNotFound.
	GetUser(id string) (member.User, error)
	// GetUserByEmail looks a user up by normalised email, or returns ErrNotFound.
	GetUserByEmail(email string) (member.User, error)
	// ScanUsers walks users by ID.
	ScanUsers(after string, fn func(member.User) bool) error
}

// UserWriter writes users.
type UserWriter interface {
	// CreateUser inserts a user; a ConflictError on IndexUserID or IndexUserEmail.
	CreateUser(u member.User) error
	// ReplaceUser replaces a user; ErrNotFound if absent, a ConflictError on
	// IndexUserEmail if another user has its email.
	ReplaceUser(u member.User) error
	// DeleteUser removes a user and frees their email; ErrNotFound if absent. What
	// refers to the user (memberships, tokens, invitations) is the caller's to remove
	// first, in the same transaction.
	DeleteUser(id string) error
}

// WorkspaceReader reads workspaces.
type WorkspaceReader interface {
	// GetWorkspace returns the workspace with that ID, or ErrNotFound.
	GetWorkspace(id string) (workspace.Workspace, error)
	// GetWorkspaceBySlug returns the workspace holding a slug, or ErrNotFound.
	GetWorkspaceBySlug(slug string) (workspace.Workspace, error)
	// GetWorkspaceByExternalID returns the workspace with that external ID, or ErrNotFound.
	GetWorkspaceByExternalID(externalID string) (workspace.Workspace, error)
	// ScanWorkspaces walks workspaces by ID.
	ScanWorkspaces(after string, fn func(workspace.Workspace) bool) error
	// ScanDeletedWorkspaces walks the deleted workspaces whose DeletedAt is at or
	// before cutoff, oldest deletion first, through an index: its cost follows the
	// number of matches, not the number of workspaces.
	ScanDeletedWorkspaces(cutoff time.Time, fn func(workspace.Workspace) bool) error
}

// WorkspaceWriter writes workspaces.
type WorkspaceWriter interface {
	// CreateWorkspace inserts a workspace with its slug and external-ID index
	// entries; a ConflictError on IndexWorkspaceID, IndexWorkspaceSlug or
	// IndexWorkspaceExternalID.
	CreateWorkspace(w workspace.Workspace) error
	// ReplaceWorkspace replaces a workspace and moves its index entries; ErrNotFound
	// if absent, a ConflictError if another workspace holds its slug or external ID.
	ReplaceWorkspace(w workspace.Workspace) error
	// PurgeWorkspace removes a workspace and everything it owns (members,
	// invitations, workspace tokens, events) with their index entries, and says how
	// many of each it removed; ErrNotFound if absent. A backend may do it in one
	// statement.
	PurgeWorkspace(id string) (PurgeCounts, error)
}

// MemberReader reads memberships.
type MemberReader interface {
	// GetMember returns a membership, or ErrNotFound.
	GetMember(workspaceID, userID string) (member.Member, error)
	// ScanMembers walks a workspace's members by user ID.
	ScanMembers(workspaceID, afterUserID string, fn func(member.Member) bool) error
	// ScanUserMemberships walks a user's memberships by workspace ID.
	ScanUserMemberships(userID, afterWorkspaceID string, fn func(member.Member) bool) error
}

// MemberWriter writes memberships.
type MemberWriter interface {
	// CreateMember inserts a membership and its user→workspace index entry; a
	// ConflictError on IndexMember if the user is already a member.
	CreateMember(m member.Member) error
	// ReplaceMember replaces a membership; ErrNotFound if absent.
	ReplaceMember(m member.Member) error
	// DeleteMember removes a membership; ErrNotFound if absent.
	DeleteMember(workspaceID, userID string) error
}

// InvitationReader reads invitations.
type InvitationReader interface {
	// GetInvitation returns an invitation by ID, or ErrNotFound.
	GetInvitation(id string) (member.Invitation, error)
	// GetInvitationByHash returns the invitation whose SecretHash is hash, or ErrNotFound.
	GetInvitationByHash(hash []byte) (member.Invitation, error)
	// ScanInvitations walks a workspace's invitations by ID.
	ScanInvitations(workspaceID, afterID string, fn func(member.Invitation) bool) error
}

// InvitationWriter writes invitations.
type InvitationWriter interface {
	// CreateInvitation inserts an invitation with its hash and workspace index
	// entries; a ConflictError on IndexInvitationID or IndexInvitationHash.
	CreateInvitation(inv member.Invitation) error
	// ReplaceInvitation replaces an invitation; ErrNotFound if absent, a
	// ConflictError on IndexInvitationHash if another invitation has the same hash.
	ReplaceInvitation(inv member.Invitation) error
	// DeleteInvitation removes an invitation; ErrNotFound if absent.
	DeleteInvitation(id string) error
}

// TokenReader reads API tokens.
type TokenReader interface {
	// GetToken returns a token by ID, or ErrNotFound.
	GetToken(id string) (token.Token, error)
	// GetTokenByHash returns the token whose Hash is hash, or ErrNotFound.
	GetTokenByHash(hash []byte) (token.Token, error)
	// ScanWorkspaceTokens walks the tokens bound to a workspace by ID.
	ScanWorkspaceTokens(workspaceID, afterID string, fn func(token.Token) bool) error
	// ScanUserTokens walks the tokens created by a user (personal and workspace
	// tokens) by ID.
	ScanUserTokens(userID, afterID string, fn func(token.Token) bool) error
}

// TokenWriter writes API tokens.
type TokenWriter interface {
	// CreateToken inserts a token with its hash, workspace and user index entries; a
	// ConflictError on IndexTokenID or IndexTokenHash.
	CreateToken(t token.Token) error
	// ReplaceToken replaces a token; ErrNotFound if absent, a ConflictError on
	// IndexTokenHash if another token has the same hash.
	ReplaceToken(t token.Token) error
	// TouchToken sets a token's LastUsedAt to at when at is later than the stored
	// time, and leaves it otherwise: commutative, so concurrent flushes and a
	// revocation never undo each other. A token that no longer exists is skipped
	// (nil).
	TouchToken(id string, at time.Time) error
	// DeleteToken removes a token; ErrNotFound if absent.
	DeleteToken(id string) error
}

// EventReader reads the feed and the audit logs.
type EventReader interface {
	// ScanEvents walks every event after a position, in position order: the durable
	// feed. Events of transactions that may still commit below a later position are
	// not shown yet.
	ScanEvents(afterPosition string, fn func(Event) bool) error
	// ScanWorkspaceEvents walks one workspace's events by position: its audit log.
	ScanWorkspaceEvents(workspaceID, afterPosition string, fn func(Event) bool) error
	// FeedHead returns the position of the newest event ScanEvents shows now, ""
	// when it shows none: a consumer that starts there sees only what commits later.
	FeedHead() (string, error)
}

// EventWriter appends events.
type EventWriter interface {
	// AppendEvent stores an event and gives it its feed position (e.Position is
	// ignored): see the contract.
	AppendEvent(e Event) error
}

// CounterReader reads counters.
type CounterReader interface {
	// Counter returns a named counter; 0 if it was never changed.
	Counter(name string) (int64, error)
	// ScanCounters walks every counter by name.
	ScanCounters(fn func(name string, value int64) bool) error
}

// CounterWriter changes counters.
type CounterWriter interface {
	// AddCounter adds delta to a named counter. It returns no value, so a backend
	// may shard counters (see the contract).
	AddCounter(name string, delta int64) error
}

// SettingReader reads settings.
type SettingReader interface {
	// Setting returns a small named value the Manager keeps about the store itself
	// (such as the check value of its secret key), or ErrNotFound.
	Setting(name string) ([]byte, error)
}

// SettingWriter writes settings.
type SettingWriter interface {
	// PutSetting inserts or replaces a named value: the contract's one upsert.
	PutSetting(name string, value []byte) error
}

// ConsumerReader reads the checkpoints of the feed's consumers.
type ConsumerReader interface {
	// GetConsumer returns a consumer by name, or ErrNotFound.
	GetConsumer(name string) (Consumer, error)
	// ScanConsumers walks every consumer by name.
	ScanConsumers(after string, fn func(Consumer) bool) error
}

// ConsumerWriter writes consumers.
type ConsumerWriter interface {
	// CreateConsumer inserts a consumer (a conflict on IndexConsumer if its name is
	// taken).
	CreateConsumer(c Consumer) error
	// ReplaceConsumer replaces the consumer of c.Name (ErrNotFound without one).
	ReplaceConsumer(c Consumer) error
	// DeleteConsumer removes a consumer (ErrNotFound without one).
	DeleteConsumer(name string) error
}

// WebhookReader reads webhook endpoints and their delivery attempts.
type WebhookReader interface {
	// GetWebhook returns an endpoint by ID, or ErrNotFound.
	GetWebhook(id string) (webhook.Endpoint, error)
	// ScanWebhooks walks every endpoint by ID.
	ScanWebhooks(after string, fn func(webhook.Endpoint) bool) error
	// ScanWorkspaceWebhooks walks one workspace's endpoints by ID; "" walks the
	// platform's (those of no workspace).
	ScanWorkspaceWebhooks(workspaceID, after string, fn func(webhook.Endpoint) bool) error
	// ScanWebhookAttempts walks one endpoint's attempts by attempt ID (time order).
	ScanWebhookAttempts(endpointID, after string, fn func(webhook.Attempt) bool) error
}

// WebhookWriter writes webhook endpoints and attempts.
type WebhookWriter interface {
	// CreateWebhook inserts an endpoint (a conflict on IndexWebhookID if its ID is
	// taken).
	CreateWebhook(e webhook.Endpoint) error
	// ReplaceWebhook replaces the endpoint of e.ID (ErrNotFound without one). Its
	// workspace never changes: a different WorkspaceID is ErrInvalidKey.
	ReplaceWebhook(e webhook.Endpoint) error
	// DeleteWebhook removes an endpoint and all its attempts (ErrNotFound without
	// it).
	DeleteWebhook(id string) error
	// CreateWebhookAttempt stores an attempt of an existing endpoint (ErrNotFound
	// without it; a conflict on IndexWebhookAttempt if the endpoint has an attempt
	// of that ID).
	CreateWebhookAttempt(a webhook.Attempt) error
	// DeleteWebhookAttempts removes an endpoint's attempts whose IDs sort before
	// 'before' (attempt IDs are time-ordered, so this ends the older ones) and
	// says how many it removed.
	DeleteWebhookAttempts(endpointID, before string) (int, error)
}

// Consumer is a named follower of the feed (an in-process consumer, or one
// endpoint's webhook deliverer): how far it has got, how its current event is
// failing, and which instance holds its lease.
type Consumer struct {
	Name     string
	Position string // the feed position of the last event it finished; "" before the first
	// Failures counts the failed attempts at the event after Position; RetryAt is
	// when that event may be tried again.
	Failures int
	RetryAt  time.Time
	// Holder names the instance that runs the consumer until LeaseUntil; another
	// instance may take it over only after that.
	Holder     string
	LeaseUntil time.Time
	UpdatedAt  time.Time
}

// Reader is a read transaction: what View gives. It is valid only until View's
// function returns.
type Reader interface {
	UserReader
	WorkspaceReader
	MemberReader
	InvitationReader
	TokenReader
	EventReader
	CounterReader
	SettingReader
	ConsumerReader
	WebhookReader
}

// ReadWriter is a read-write transaction: what Update gives. It is valid only until
// Update's function returns.
type ReadWriter interface {
	Reader
	UserWriter
	WorkspaceWriter
	MemberWriter
	InvitationWriter
	TokenWriter
	EventWriter
	CounterWriter
	SettingWriter
	ConsumerWriter
	WebhookWriter

	// OnCommit registers fn to run after this transaction commits, in order, in this
	// process. It never runs if the transaction rolls back.
	OnCommit(fn func())
}

// SettingNames are the settings the Manager keeps, so tools (and storagetest.Dump)
// can read them all.
var SettingNames = []string{"secret_key_check"}

// Event is one entry of the audit log and the provisioning feed.
type Event struct {
	ID          string            // "evt_" + ULID: the event's name
	Position    string            // its place in the feed, given by the backend: ordered bytewise, opaque
	Type        string            // e.g. "workspace.created"
	WorkspaceID string            // empty for events outside a workspace (user.registered)
	Actor       string            // who acted: "user:<id>", "token:<id>" or "system"
	Subject     string            // what it acted on, e.g. a user ID; optional
	Data        map[string]string // small details; never a secret
	Time        time.Time
}

// Clone returns a copy of e that shares no memory with it.
func (e Event) Clone() Event {
	if e.Data != nil {
		d := make(map[string]string, len(e.Data))
		for k, v := range e.Data {
			d[k] = v
		}
		e.Data = d
	}
	return e
}
