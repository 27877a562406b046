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

	// prefetchMember answers a user's Authorize on a workspace they belong to
	// from the membership row alone: it carries the workspace's status and the
	// user's platform flag and suspension (migration 007). No row (not a member,
	// or the columns not known) sends the joined statement instead.
	prefetchMember = `SELECT m.role, m.owner, m.ws_status, m.user_platform, m.user_suspended_at FROM {p}members m
		WHERE m.workspace_id = $1 AND m.user_id = $2 AND m.ws_status IS NOT NULL AND m.user_platform IS NOT NULL`

	// prefetchToken answers an Authenticate from the token's row alone: a
	// workspace token carries its workspace's status (migration 007). No row is
	// no token; a workspace token whose copy is NULL (the last column) sends
	// prefetchByHash instead.
	prefetchToken = `SELECT true, k.id, k.kind, k.user_id, k.workspace_id, k.role, k.expires_at, k.revoked_at, k.user_suspended,
		k.workspace_id <> '', k.workspace_id, coalesce(k.ws_status, ''), k.workspace_id <> '' AND k.ws_status IS NULL
		FROM {p}tokens k WHERE k.hash = $1`

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

// prefetchRow holds everything one prefetch scans into, so a call makes one
// allocation for its records and their destinations (the returned Prefetched points
// into it), not one per record and column.
type prefetchRow struct {
	u                            member.User
	k                            token.Token
	w                            workspace.Workspace
	m                            member.Member
	fu, fk, fw, fm               bool // each record's "found" flag
	su, ke, kr                   pgtype.Timestamptz
	kkind, krole, wstatus, mrole string
	buf                          [20]any
}

// dest returns the scan destinations for the records in want, in the order the
// statements select them (user, token, workspace, member; see the pf* columns).
func (r *prefetchRow) dest(want int) []any {
	d := r.buf[:0]
	if want&wantUser != 0 {
		d = append(d, &r.fu, &r.u.ID, &r.u.Platform, &r.su)
	}
	if want&wantToken != 0 {
		d = append(d, &r.fk, &r.k.ID, &r.kkind, &r.k.UserID, &r.k.WorkspaceID, &r.krole, &r.ke, &r.kr, &r.k.UserSuspended)
	}
	if want&wantWorkspace != 0 {
		d = append(d, &r.fw, &r.w.ID, &r.wstatus)
	}
	if want&wantMember != 0 {
		d = append(d, &r.fm, &r.mrole, &r.m.Owner)
	}
	return d
}

// Prefetch reads the records of one Authorize (user, token, workspace, membership)
// or one Authenticate (the token with a hash and its workspace) in one statement:
// one round trip, one snapshot. A user's Authorize on a workspace they belong to
// reads the membership row alone (prefetchMember); one who does not belong there
// takes a second round trip, the joined statement.
func (s *Store) Prefetch(ctx context.Context, keys storage.PrefetchKeys) (storage.Prefetched, error) {
	var out storage.Prefetched
	if s.closed.Load() {
		return out, storage.ErrClosed
	}
	want := 0
	if keys.User && keys.UserID != "" {
		want |= wantUser
	}
	if keys.TokenID != "" {
		want |= wantToken
	}
	if keys.WorkspaceID != "" {
		want |= wantWorkspace
		if keys.UserID != "" {
			want |= wantMember
		}
	}
	r := &prefetchRow{}
	var sql string
	var args []any
	switch {
	case len(keys.TokenHash) > 0:
		// The token's row first; the joined statement only when its copy of the
		// workspace's status is not known.
		found, err := s.prefetchToken(ctx, keys, r)
		if err != nil {
			return out, err
		}
		if found {
			return r.answer(keys), nil
		}
		want = wantToken | wantWorkspace
		sql, args = prefetchByHash, []any{keys.TokenHash}
	case want == 0:
		return out, nil
	default:
		// A user's Authorize where they belong: the membership row first.
		if want == wantUser|wantWorkspace|wantMember {
			found, err := s.prefetchMember(ctx, keys, r)
			if err != nil {
				return out, err
			}
			if found {
				return r.answer(keys), nil
			}
		}
		// A key no row can hold (U+0000, not UTF-8) finds nothing, as on every
		// backend; PostgreSQL would refuse the statement. The empty key is never
		// stored either.
		findable := func(k string) string {
			if storableText(k) {
				return k
			}
			return ""
		}
		sql, args = prefetchByID(want), []any{findable(keys.UserID), findable(keys.TokenID), findable(keys.WorkspaceID)}
	}
	s.stats.roundTrips.Add(1)
	if err := s.pool.QueryRow(ctx, s.q(sql), args...).Scan(r.dest(want)...); err != nil {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if err == pgx.ErrNoRows {
			return out, fmt.Errorf("postgres: prefetch: no row")
		}
		return out, fmt.Errorf("postgres: prefetch: %w", err)
	}
	return r.answer(keys), nil
}

// answer turns the scanned values into the records found, which point into r.
func (r *prefetchRow) answer(keys storage.PrefetchKeys) storage.Prefetched {
	var out storage.Prefetched
	if r.fu {
		r.u.SuspendedAt = pgTime(r.su)
		out.User = &r.u
	}
	if r.fk {
		r.k.Kind, r.k.Role, r.k.ExpiresAt, r.k.RevokedAt = token.Kind(r.kkind), rbac.Role(r.krole), pgTime(r.ke), pgTime(r.kr)
		out.Token = &r.k
	}
	if r.fw {
		r.w.Status = workspace.Status(r.wstatus)
		out.Workspace = &r.w
	}
	if r.fm {
		r.m.WorkspaceID, r.m.UserID, r.m.Role = keys.WorkspaceID, keys.UserID, rbac.Role(r.mrole)
		out.Member = &r.m
	}
	return out
}

// prefetchToken reads an Authenticate's token, and a workspace token's workspace
// status, from the token's row into r. found is false only when a workspace
// token's copy of the status is not known (Check reports such a row): the caller
// then reads the records themselves.
func (s *Store) prefetchToken(ctx context.Context, keys storage.PrefetchKeys, r *prefetchRow) (found bool, err error) {
	var unknown bool
	s.stats.roundTrips.Add(1)
	err = s.pool.QueryRow(ctx, s.q(prefetchToken), keys.TokenHash).Scan(append(r.dest(wantToken|wantWorkspace), &unknown)...)
	switch {
	case err == pgx.ErrNoRows:
		*r = prefetchRow{}
		return true, nil // no token has the hash
	case err != nil:
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("postgres: prefetch: %w", err)
	case unknown:
		*r = prefetchRow{}
		return false, nil
	}
	return true, nil
}

// prefetchMember reads a member's decision from their membership row into r (for
// answer); found is false when there is no such row (or its copies are not known).
func (s *Store) prefetchMember(ctx context.Context, keys storage.PrefetchKeys, r *prefetchRow) (found bool, err error) {
	if !storableText(keys.UserID) || !storableText(keys.WorkspaceID) {
		return false, nil // no row holds such a key; the joined statement says so
	}
	s.stats.roundTrips.Add(1)
	err = s.pool.QueryRow(ctx, s.q(prefetchMember), keys.WorkspaceID, keys.UserID).
		Scan(&r.mrole, &r.m.Owner, &r.wstatus, &r.u.Platform, &r.su)
	switch {
	case err == pgx.ErrNoRows:
		return false, nil
	case err != nil:
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, fmt.Errorf("postgres: prefetch: %w", err)
	}
	r.u.ID, r.w.ID = keys.UserID, keys.WorkspaceID
	r.fu, r.fw, r.fm = true, true, true // a membership row implies its user and workspace (Check)
	return true, nil
}

// pgTime is a nullable timestamp as the records hold it: zero for NULL, else UTC.
func pgTime(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}
