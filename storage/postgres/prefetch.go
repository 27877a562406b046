package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

var _ storage.Prefetcher = (*Store)(nil)

// The columns of each record for a LEFT JOIN, NULLs made zero values, after a flag
// that says whether the row exists.
const (
	pfUser = `u.id IS NOT NULL, coalesce(u.id, ''), coalesce(u.email, ''), coalesce(u.name, ''), coalesce(u.platform, false),
		u.created_at, u.updated_at, u.suspended_at`
	pfToken = `k.id IS NOT NULL, coalesce(k.id, ''), coalesce(k.kind, ''), coalesce(k.name, ''), coalesce(k.user_id, ''),
		coalesce(k.workspace_id, ''), coalesce(k.role, ''), coalesce(k.hash, ''::bytea), coalesce(k.hint, ''),
		k.created_at, k.expires_at, k.revoked_at, k.last_used_at, coalesce(k.user_suspended, false)`
	pfWorkspace = `w.id IS NOT NULL, coalesce(w.id, ''), coalesce(w.slug, ''), coalesce(w.name, ''), coalesce(w.description, ''),
		coalesce(w.status, ''), w.metadata, w.external_id, coalesce(w.starter_kit, ''), coalesce(w.owner_id, ''),
		w.created_at, w.updated_at, w.deleted_at, coalesce(w.deleted_from, ''), coalesce(w.flags, '{}')`
	pfMember = `m.user_id IS NOT NULL, coalesce(m.workspace_id, ''), coalesce(m.user_id, ''), coalesce(m.role, ''),
		coalesce(m.owner, false), coalesce(m.invited_by, ''), m.joined_at, m.updated_at`

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
	pu, pk, pw, pm := newPart(&u, userDest), newPart(&k, tokenDest), newPart(&w, workspaceDest), newPart(&m, memberDest)
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
		out.Member = &m
	}
	return out, nil
}
