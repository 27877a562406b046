// Package storage defines the transactional contract between tenancy's Manager and
// its backends.
//
// A backend stores records and keeps its indexes consistent; it holds no business
// rule. Every rule lives once, in the Manager, which runs each operation inside one
// View or Update. storage/storagetest is the conformance suite every backend passes.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/token"
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
	// ErrReadOnly: a write was attempted in a View transaction.
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

// Storage is a transactional store of tenancy's records.
//
// fn runs with a Tx valid only until fn returns. If fn returns an error or panics,
// everything it wrote is rolled back (a panic is re-raised after the rollback); if it
// returns nil, Update commits atomically and then runs the OnCommit functions.
// Update may run fn more than once (backends may batch concurrent writers into one
// commit and retry a batch without a failed member), so fn must be idempotent: make
// IDs, secrets and timestamps before calling Update, not inside fn.
type Storage interface {
	View(ctx context.Context, fn func(Tx) error) error
	Update(ctx context.Context, fn func(Tx) error) error
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

// Scan callbacks return false to stop the scan.
//
// Every Scan walks keys in ascending order, starting strictly after the given key
// ("" starts at the beginning), so a page costs the same wherever it starts.

// Tx is one transaction. Records go in and come out as copies: mutating a value after
// Put, or a value returned by Get, never changes what is stored.
type Tx interface {
	// Writable reports whether this is an Update transaction.
	Writable() bool

	// OnCommit registers fn to run after this transaction commits, in order. It never
	// runs if the transaction rolls back, nor for a read transaction.
	OnCommit(fn func())

	// GetUser returns the user with that ID, or ErrNotFound.
	GetUser(id string) (member.User, error)
	// GetUserByEmail looks a user up by normalised email, or returns ErrNotFound.
	GetUserByEmail(email string) (member.User, error)
	// PutUser inserts or replaces a user; ErrExists if another user has its email.
	PutUser(u member.User) error
	// ScanUsers walks users by ID.
	ScanUsers(after string, fn func(member.User) bool) error

	// GetWorkspace returns the workspace with that ID, or ErrNotFound.
	GetWorkspace(id string) (workspace.Workspace, error)
	// GetWorkspaceBySlug returns the workspace holding a slug, or ErrNotFound.
	GetWorkspaceBySlug(slug string) (workspace.Workspace, error)
	// GetWorkspaceByExternalID returns the workspace with that external ID, or ErrNotFound.
	GetWorkspaceByExternalID(externalID string) (workspace.Workspace, error)
	// PutWorkspace inserts or replaces a workspace and its slug and external-ID index
	// entries; ErrExists if another workspace holds its slug or external ID.
	PutWorkspace(w workspace.Workspace) error
	// DeleteWorkspace removes a workspace record and its index entries; ErrNotFound
	// if absent. It does not cascade: the Manager removes what the workspace owns.
	DeleteWorkspace(id string) error
	// ScanWorkspaces walks workspaces by ID.
	ScanWorkspaces(after string, fn func(workspace.Workspace) bool) error

	// GetMember returns a membership, or ErrNotFound.
	GetMember(workspaceID, userID string) (member.Member, error)
	// PutMember inserts or replaces a membership and its user→workspace index entry.
	PutMember(m member.Member) error
	// DeleteMember removes a membership; ErrNotFound if absent.
	DeleteMember(workspaceID, userID string) error
	// ScanMembers walks a workspace's members by user ID.
	ScanMembers(workspaceID, afterUserID string, fn func(member.Member) bool) error
	// ScanUserMemberships walks a user's memberships by workspace ID.
	ScanUserMemberships(userID, afterWorkspaceID string, fn func(member.Member) bool) error
	// ScanAllMembers walks every membership, by workspace then user: for checks.
	ScanAllMembers(fn func(member.Member) bool) error

	// GetInvitation returns an invitation by ID, or ErrNotFound.
	GetInvitation(id string) (member.Invitation, error)
	// GetInvitationByHash returns the invitation whose SecretHash is hash, or ErrNotFound.
	GetInvitationByHash(hash []byte) (member.Invitation, error)
	// PutInvitation inserts or replaces an invitation and its hash and workspace index
	// entries; ErrExists if another invitation has the same hash.
	PutInvitation(inv member.Invitation) error
	// DeleteInvitation removes an invitation; ErrNotFound if absent.
	DeleteInvitation(id string) error
	// ScanInvitations walks a workspace's invitations by ID.
	ScanInvitations(workspaceID, afterID string, fn func(member.Invitation) bool) error
	// ScanAllInvitations walks every invitation by ID: for checks.
	ScanAllInvitations(afterID string, fn func(member.Invitation) bool) error

	// GetToken returns a token by ID, or ErrNotFound.
	GetToken(id string) (token.Token, error)
	// GetTokenByHash returns the token whose Hash is hash, or ErrNotFound.
	GetTokenByHash(hash []byte) (token.Token, error)
	// PutToken inserts or replaces a token and its hash, workspace and user index
	// entries; ErrExists if another token has the same hash.
	PutToken(t token.Token) error
	// DeleteToken removes a token; ErrNotFound if absent.
	DeleteToken(id string) error
	// ScanWorkspaceTokens walks the tokens bound to a workspace by ID.
	ScanWorkspaceTokens(workspaceID, afterID string, fn func(token.Token) bool) error
	// ScanUserTokens walks the tokens created by a user by ID.
	ScanUserTokens(userID, afterID string, fn func(token.Token) bool) error
	// ScanTokens walks every token by ID: for checks.
	ScanTokens(afterID string, fn func(token.Token) bool) error

	// AppendEvent stores an event; ErrExists if its ID is taken. Event IDs are ULIDs,
	// so the global feed is in time order.
	AppendEvent(e Event) error
	// DeleteWorkspaceEvents removes every event of a workspace, from the feed and from
	// its audit log: purge uses it so that nothing of a purged workspace remains but
	// the purge event itself.
	DeleteWorkspaceEvents(workspaceID string) error
	// ScanEvents walks every event by ID: the durable feed.
	ScanEvents(afterID string, fn func(Event) bool) error
	// ScanWorkspaceEvents walks one workspace's events by ID: its audit log.
	ScanWorkspaceEvents(workspaceID, afterID string, fn func(Event) bool) error

	// Setting returns a small named value the Manager keeps about the store itself
	// (such as the check value of its secret key), or ErrNotFound.
	Setting(name string) ([]byte, error)
	// PutSetting inserts or replaces a named value.
	PutSetting(name string, value []byte) error

	// Counter returns a named counter; 0 if it was never set.
	Counter(name string) (int64, error)
	// AddCounter adds delta to a named counter and returns the new value.
	AddCounter(name string, delta int64) (int64, error)
}

// Event is one entry of the audit log and the provisioning feed.
type Event struct {
	ID          string            // "evt_" + ULID
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
