package tenancy

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// errNotPrefetched: a rule needed a record the prefetch did not read, so the
// decision is made again in a full View.
var errNotPrefetched = errors.New("tenancy: not prefetched")

// prefetchTx serves the records a storage.Prefetcher read, as a read-only Tx, so
// Authorize and Authenticate run their usual code (one set of rules) over one
// round trip's worth of records. Any other read answers errNotPrefetched.
type prefetchTx struct {
	keys storage.PrefetchKeys
	got  storage.Prefetched
}

var _ storage.Tx = prefetchTx{}

func (p prefetchTx) notFound(kind string) error {
	return fmt.Errorf("%s: %w", kind, storage.ErrNotFound)
}

// GetUser serves the acting user.
func (p prefetchTx) GetUser(id string) (member.User, error) {
	want := ""
	if p.keys.User {
		want = p.keys.UserID
	}
	switch {
	case id != want || id == "":
		return member.User{}, errNotPrefetched
	case p.got.User == nil:
		return member.User{}, p.notFound("user")
	}
	return *p.got.User, nil
}

func (p prefetchTx) GetToken(id string) (token.Token, error) {
	switch {
	case id != p.keys.TokenID || id == "":
		return token.Token{}, errNotPrefetched
	case p.got.Token == nil:
		return token.Token{}, p.notFound("token")
	}
	return p.got.Token.Clone(), nil
}

func (p prefetchTx) GetTokenByHash(hash []byte) (token.Token, error) {
	switch {
	case len(p.keys.TokenHash) == 0 || !bytes.Equal(hash, p.keys.TokenHash):
		return token.Token{}, errNotPrefetched
	case p.got.Token == nil:
		return token.Token{}, p.notFound("token")
	}
	return p.got.Token.Clone(), nil
}

// GetWorkspace serves the workspace of the decision, or the one the prefetched
// token is bound to.
func (p prefetchTx) GetWorkspace(id string) (workspace.Workspace, error) {
	want := p.keys.WorkspaceID
	if want == "" && p.got.Token != nil {
		want = p.got.Token.WorkspaceID
	}
	switch {
	case id != want || id == "":
		return workspace.Workspace{}, errNotPrefetched
	case p.got.Workspace == nil:
		return workspace.Workspace{}, p.notFound("workspace")
	}
	return p.got.Workspace.Clone(), nil
}

func (p prefetchTx) GetMember(wsID, userID string) (member.Member, error) {
	switch {
	case wsID != p.keys.WorkspaceID || userID != p.keys.UserID || wsID == "" || userID == "":
		return member.Member{}, errNotPrefetched
	case p.got.Member == nil:
		return member.Member{}, p.notFound("member")
	}
	return *p.got.Member, nil
}

// Everything else is outside the prefetch.

func (prefetchTx) Writable() bool  { return false }
func (prefetchTx) OnCommit(func()) {}
func (prefetchTx) GetUserByEmail(string) (member.User, error) {
	return member.User{}, errNotPrefetched
}
func (prefetchTx) CreateUser(member.User) error                   { return errNotPrefetched }
func (prefetchTx) PutUser(member.User) error                      { return errNotPrefetched }
func (prefetchTx) DeleteUser(string) error                        { return errNotPrefetched }
func (prefetchTx) ScanUsers(string, func(member.User) bool) error { return errNotPrefetched }
func (prefetchTx) CreateWorkspace(workspace.Workspace) error      { return errNotPrefetched }
func (prefetchTx) PutWorkspace(workspace.Workspace) error         { return errNotPrefetched }
func (prefetchTx) PurgeWorkspace(string) (storage.PurgeCounts, error) {
	return storage.PurgeCounts{}, errNotPrefetched
}
func (prefetchTx) GetWorkspaceBySlug(string) (workspace.Workspace, error) {
	return workspace.Workspace{}, errNotPrefetched
}
func (prefetchTx) GetWorkspaceByExternalID(string) (workspace.Workspace, error) {
	return workspace.Workspace{}, errNotPrefetched
}
func (prefetchTx) ScanWorkspaces(string, func(workspace.Workspace) bool) error {
	return errNotPrefetched
}
func (prefetchTx) ScanDeletedWorkspaces(time.Time, func(workspace.Workspace) bool) error {
	return errNotPrefetched
}
func (prefetchTx) CreateMember(member.Member) error  { return errNotPrefetched }
func (prefetchTx) PutMember(member.Member) error     { return errNotPrefetched }
func (prefetchTx) DeleteMember(string, string) error { return errNotPrefetched }
func (prefetchTx) ScanMembers(string, string, func(member.Member) bool) error {
	return errNotPrefetched
}
func (prefetchTx) ScanUserMemberships(string, string, func(member.Member) bool) error {
	return errNotPrefetched
}
func (prefetchTx) GetInvitation(string) (member.Invitation, error) {
	return member.Invitation{}, errNotPrefetched
}
func (prefetchTx) GetInvitationByHash([]byte) (member.Invitation, error) {
	return member.Invitation{}, errNotPrefetched
}
func (prefetchTx) CreateInvitation(member.Invitation) error { return errNotPrefetched }
func (prefetchTx) PutInvitation(member.Invitation) error    { return errNotPrefetched }
func (prefetchTx) DeleteInvitation(string) error            { return errNotPrefetched }
func (prefetchTx) ScanInvitations(string, string, func(member.Invitation) bool) error {
	return errNotPrefetched
}
func (prefetchTx) CreateToken(token.Token) error      { return errNotPrefetched }
func (prefetchTx) PutToken(token.Token) error         { return errNotPrefetched }
func (prefetchTx) TouchToken(string, time.Time) error { return errNotPrefetched }
func (prefetchTx) DeleteToken(string) error           { return errNotPrefetched }
func (prefetchTx) ScanWorkspaceTokens(string, string, func(token.Token) bool) error {
	return errNotPrefetched
}
func (prefetchTx) ScanUserTokens(string, string, func(token.Token) bool) error {
	return errNotPrefetched
}
func (prefetchTx) AppendEvent(storage.Event) error { return errNotPrefetched }
func (prefetchTx) ScanEvents(string, func(storage.Event) bool) error {
	return errNotPrefetched
}
func (prefetchTx) ScanWorkspaceEvents(string, string, func(storage.Event) bool) error {
	return errNotPrefetched
}
func (prefetchTx) Counter(string) (int64, error)               { return 0, errNotPrefetched }
func (prefetchTx) AddCounter(string, int64) error              { return errNotPrefetched }
func (prefetchTx) ScanCounters(func(string, int64) bool) error { return errNotPrefetched }
func (prefetchTx) Setting(string) ([]byte, error)              { return nil, errNotPrefetched }
func (prefetchTx) PutSetting(string, []byte) error             { return errNotPrefetched }
