package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy/storage"
)

// checks are anti-joins run in one snapshot: each row returned is a record whose
// parent is missing or an index that disagrees with its records. The unique
// indexes themselves are the database's to keep. (Events may outlive their
// workspace: a purge leaves its workspace.purged event.)
var checks = []struct{ what, sql string }{
	{"membership of a missing workspace", `SELECT m.workspace_id || '/' || m.user_id FROM {p}members m
		WHERE NOT EXISTS (SELECT 1 FROM {p}workspaces w WHERE w.id = m.workspace_id) LIMIT 100`},
	{"membership of a missing user", `SELECT m.workspace_id || '/' || m.user_id FROM {p}members m
		WHERE NOT EXISTS (SELECT 1 FROM {p}users u WHERE u.id = m.user_id) LIMIT 100`},
	{"invitation to a missing workspace", `SELECT i.id FROM {p}invitations i
		WHERE NOT EXISTS (SELECT 1 FROM {p}workspaces w WHERE w.id = i.workspace_id) LIMIT 100`},
	{"token of a missing user", `SELECT k.id FROM {p}tokens k
		WHERE NOT EXISTS (SELECT 1 FROM {p}users u WHERE u.id = k.user_id) LIMIT 100`},
	{"token of a missing workspace", `SELECT k.id FROM {p}tokens k WHERE k.workspace_id <> ''
		AND NOT EXISTS (SELECT 1 FROM {p}workspaces w WHERE w.id = k.workspace_id) LIMIT 100`},
	{"workspace owned by a missing user", `SELECT w.id FROM {p}workspaces w
		WHERE NOT EXISTS (SELECT 1 FROM {p}users u WHERE u.id = w.owner_id) LIMIT 100`},
	{"deleted workspace without a deletion time", `SELECT w.id FROM {p}workspaces w
		WHERE w.status = 'deleted' AND w.deleted_at IS NULL LIMIT 100`},
	{"membership whose decision columns disagree with its workspace or user", `SELECT m.workspace_id || '/' || m.user_id
		FROM {p}members m JOIN {p}workspaces w ON w.id = m.workspace_id JOIN {p}users u ON u.id = m.user_id
		WHERE m.ws_status IS DISTINCT FROM w.status OR m.user_platform IS DISTINCT FROM u.platform
		OR m.user_suspended_at IS DISTINCT FROM u.suspended_at LIMIT 100`},
	{"workspace token whose copy of the workspace's status disagrees with it", `SELECT k.id FROM {p}tokens k
		JOIN {p}workspaces w ON w.id = k.workspace_id WHERE k.workspace_id <> '' AND k.ws_status IS DISTINCT FROM w.status LIMIT 100`},
	{"personal token with a workspace status", `SELECT k.id FROM {p}tokens k WHERE k.workspace_id = '' AND k.ws_status IS NOT NULL LIMIT 100`},
	{"counter shard out of range", `SELECT name || '#' || shard FROM {p}counters WHERE shard < 0 LIMIT 100`},
}

// Check runs the anti-joins in one REPEATABLE READ snapshot and returns one line per
// problem; none means healthy.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	var out []string
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		for _, c := range checks {
			rows, err := tx.Query(ctx, s.q(c.sql))
			if err != nil {
				return err
			}
			subjects, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, sub := range subjects {
				out = append(out, fmt.Sprintf("postgres: %s: %s", c.what, sub))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: check: %w", err)
	}
	return out, nil
}

// MendCopies rewrites every copy a membership or a workspace token keeps of its
// workspace's status and its user's platform flag and suspension (migration 007)
// that disagrees with its source, in one transaction, and returns how many rows it
// changed. tenancy keeps the copies in step itself; a copy goes stale only when
// something else wrote the tables: an instance older than schema 7 still running
// after the migration (a rolling upgrade), or a hand edit. Check (so Verify)
// reports such copies; run this once every instance is on schema 7.
func (s *Store) MendCopies(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, storage.ErrClosed
	}
	var n int64
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error {
		for _, sql := range []string{
			`UPDATE {p}members m SET ws_status = w.status FROM {p}workspaces w
				WHERE w.id = m.workspace_id AND m.ws_status IS DISTINCT FROM w.status`,
			`UPDATE {p}members m SET user_platform = u.platform, user_suspended_at = u.suspended_at FROM {p}users u
				WHERE u.id = m.user_id AND (m.user_platform IS DISTINCT FROM u.platform OR m.user_suspended_at IS DISTINCT FROM u.suspended_at)`,
			`UPDATE {p}tokens k SET ws_status = w.status FROM {p}workspaces w
				WHERE w.id = k.workspace_id AND k.workspace_id <> '' AND k.ws_status IS DISTINCT FROM w.status`,
			`UPDATE {p}tokens SET ws_status = NULL WHERE workspace_id = '' AND ws_status IS NOT NULL`,
		} {
			tag, err := tx.Exec(ctx, s.q(sql))
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: mend copies: %w", err)
	}
	return n, nil
}
