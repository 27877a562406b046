package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

var _ storage.Prefetcher = (*Store)(nil)

// The columns of each record for a LEFT JOIN, NULLs made zero values, after a flag
// that says whether the row exists: only what an authorization decision reads
// (storage.Prefetched says which fields), so no metadata is decoded and few values
// are allocated.
const (
	pfUser      = `u.id IS NOT NULL, coalesce(u.id, ''), coalesce(u.platform, false), u.suspended_at`
	pfToken     = `k.id IS NOT NULL, coalesce(k.id, ''), coalesce(k.kind, ''), coalesce(k.user_id, ''), coalesce(k.workspace_id, ''), coalesce(k.role, ''), k.expires_at, k.revoked_at, coalesce(k.user_suspended, false)`
	pfWorkspace = `w.id IS NOT NULL, coalesce(w.id, ''), coalesce(w.status, '')`
	pfMember    = `m.user_id IS NOT NULL, coalesce(m.role, ''), coalesce(m.owner, false)`

	prefetchByHash = `SELECT ` + pfToken + `, ` + pfWorkspace + `
		FROM (SELECT 1) one
		LEFT JOIN {p}tokens k ON k.hash = $1
		LEFT JOIN {p}workspaces w ON w.id = k.workspace_id AND k.workspace_id <> ''`
)

// prefetchQueries are the statements for each set of records by ID, built once:
// every index lookup costs server time, so only what is asked for is read.
var prefetchQueries sync.Map // bitmask -> SQL

const (
	wantUser = 1 << iota
	wantToken
	wantWorkspace
	wantMember
)

func prefetchByID(want int) string {
	if q, ok := prefetchQueries.Load(want); ok {
		return q.(string)
	}
	var cols, joins []string
	if want&wantUser != 0 {
		cols, joins = append(cols, pfUser), append(joins, "LEFT JOIN {p}users u ON u.id = $1")
	}
	if want&wantToken != 0 {
		cols, joins = append(cols, pfToken), append(joins, "LEFT JOIN {p}tokens k ON k.id = $2")
	}
	if want&wantWorkspace != 0 {
		cols, joins = append(cols, pfWorkspace), append(joins, "LEFT JOIN {p}workspaces w ON w.id = $3")
	}
	if want&wantMember != 0 {
		cols, joins = append(cols, pfMember), append(joins, "LEFT JOIN {p}members m ON m.workspace_id = $3 AND m.user_id = $1")
	}
	// Every statement takes all three parameters, typed, whether it uses them or not.
	q := "SELECT " + strings.Join(cols, ", ") + " FROM (SELECT $1::text, $2::text, $3::text) one " + strings.Join(joins, " ")
	prefetchQueries.Store(want, q)
	return q
}

// part is one record of a joined row: its existence flag and its columns.
type part struct {
	found  bool
	dest   []any
	finish func() error
}

func newPart[V any](v *V, dest func(*V) ([]any, func() error)) *part {
	d, f := dest(v)
	return &part{dest: d, finish: f}
}

// Prefetch reads the records of one Authorize (user, token, workspace, membership)
// or one Authenticate (the token with a hash and its workspace) in one statement:
// one round trip, one snapshot.
func (s *Store) Prefetch(ctx context.Context, keys storage.PrefetchKeys) (storage.Prefetched, error) {
	var out storage.Prefetched
	if s.closed.Load() {
		return out, storage.ErrClosed
	}
	var u member.User
	var k token.Token
	var w workspace.Workspace
	var m member.Member
	pu, pk, pw, pm := newPart(&u, pfUserDest), newPart(&k, pfTokenDest), newPart(&w, pfWorkspaceDest), newPart(&m, pfMemberDest)
	var parts []*part
	want := 0
	for _, c := range []struct {
		on   bool
		bit  int
		part *part
	}{
		{keys.User && keys.UserID != "", wantUser, pu},
		{keys.TokenID != "", wantToken, pk},
		{keys.WorkspaceID != "", wantWorkspace, pw},
		{keys.WorkspaceID != "" && keys.UserID != "", wantMember, pm},
	} {
		if c.on {
			want |= c.bit
			parts = append(parts, c.part)
		}
	}
	// A key no row can hold (U+0000, not UTF-8) finds nothing, as on every backend;
	// PostgreSQL would refuse the statement. The empty key is never stored either.
	findable := func(k string) string {
		if storableText(k) {
			return k
		}
		return ""
	}
	sql, args := prefetchByID(want), []any{findable(keys.UserID), findable(keys.TokenID), findable(keys.WorkspaceID)}
	if len(keys.TokenHash) > 0 {
		parts = []*part{pk, pw}
		sql, args = prefetchByHash, []any{keys.TokenHash}
	} else if want == 0 {
		return out, nil
	}
	var dest []any
	for _, p := range parts {
		dest = append(append(dest, &p.found), p.dest...)
	}
	s.stats.roundTrips.Add(1)
	if err := s.pool.QueryRow(ctx, s.q(sql), args...).Scan(dest...); err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if err == pgx.ErrNoRows {
			return out, fmt.Errorf("postgres: prefetch: no row")
		}
		return out, fmt.Errorf("postgres: prefetch: %w", err)
	}
	for _, p := range parts {
		if p.found {
			if err := p.finish(); err != nil {
				return out, err
			}
		}
	}
	if pu.found {
		out.User = &u
	}
	if pk.found {
		out.Token = &k
	}
	if pw.found {
		out.Workspace = &w
	}
	if pm.found {
		m.WorkspaceID, m.UserID = keys.WorkspaceID, keys.UserID
		out.Member = &m
	}
	return out, nil
}

// The destinations of the prefetch columns, record by record. Times scan into
// pgtype values, which allocate nothing.

func pfUserDest(u *member.User) ([]any, func() error) {
	var su pgtype.Timestamptz
	return []any{&u.ID, &u.Platform, &su}, func() error {
		u.SuspendedAt = pgTime(su)
		return nil
	}
}

func pfTokenDest(k *token.Token) ([]any, func() error) {
	var kind, role string
	var e, rv pgtype.Timestamptz
	return []any{&k.ID, &kind, &k.UserID, &k.WorkspaceID, &role, &e, &rv, &k.UserSuspended}, func() error {
		k.Kind, k.Role, k.ExpiresAt, k.RevokedAt = token.Kind(kind), rbac.Role(role), pgTime(e), pgTime(rv)
		return nil
	}
}

func pfWorkspaceDest(w *workspace.Workspace) ([]any, func() error) {
	var status string
	return []any{&w.ID, &status}, func() error {
		w.Status = workspace.Status(status)
		return nil
	}
}

func pfMemberDest(m *member.Member) ([]any, func() error) {
	var role string
	return []any{&role, &m.Owner}, func() error {
		m.Role = rbac.Role(role)
		return nil
	}
}

// pgTime is a nullable timestamp as the records hold it: zero for NULL, else UTC.
func pgTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
