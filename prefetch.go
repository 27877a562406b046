package tenancy

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// errNotPrefetched: a rule needed a record the prefetch did not read, so the
// decision is made again in a full View.
var errNotPrefetched = errors.New("tenancy: not prefetched")

// prefetchTx serves the records a storage.Prefetcher read as an authReader, so
// Authorize and Authenticate run their usual code (one set of rules) over one
// round trip's worth of records. A read of another record answers
// errNotPrefetched, and the decision is made again in a View.
type prefetchTx struct {
	keys storage.PrefetchKeys
	got  storage.Prefetched
}

var _ authReader = prefetchTx{}

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
