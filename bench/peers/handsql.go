package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy/token"
)

// handSchema is what a host would write by hand for the same data: the tables and
// indexes the checks and the creation need, nothing more.
const handSchema = `
CREATE TABLE workspaces (id text PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL,
  owner_id text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE memberships (workspace_id text NOT NULL REFERENCES workspaces, user_id text NOT NULL,
  role text NOT NULL, joined_at timestamptz NOT NULL, PRIMARY KEY (workspace_id, user_id));
CREATE TABLE tokens (hash bytea PRIMARY KEY, user_id text NOT NULL, workspace_id text NOT NULL,
  role text NOT NULL, expires_at timestamptz, revoked_at timestamptz);
CREATE TABLE events (seq bigserial PRIMARY KEY, type text NOT NULL, workspace_id text NOT NULL,
  at timestamptz NOT NULL);
CREATE TABLE counters (name text PRIMARY KEY, n bigint NOT NULL);
INSERT INTO counters VALUES ('workspaces', 0);
`

// openHandSQL fills the hand-written schema with COPY. Its check is one indexed
// read of the membership; its creation is one transaction of four statements
// (workspace, owner, event, counter), at PostgreSQL's default isolation.
func openHandSQL(pg *pgServer, d dataset) (*system, error) {
	url, err := pg.database("peers_hand")
	if err != nil {
		return nil, err
	}
	p, err := pool(url)
	if err != nil {
		return nil, err
	}
	if _, err := p.Exec(ctx, handSchema); err != nil {
		return nil, err
	}
	h, err := token.NewHasher(secretKey)
	if err != nil {
		return nil, err
	}
	ws := make([][]any, 0, d.n)
	for i := 0; i < d.n; i++ {
		ws = append(ws, []any{d.wsID(i), fmt.Sprintf("w-%08d", i), fmt.Sprintf("Workspace %d", i), d.userID(d.memberOf(i, 0)), "active", t0})
	}
	if _, err := p.CopyFrom(ctx, pgx.Identifier{"workspaces"}, []string{"id", "slug", "name", "owner_id", "status", "created_at"}, pgx.CopyFromRows(ws)); err != nil {
		return nil, err
	}
	ws = nil
	ms := make([][]any, 0, d.n*d.k)
	for i := 0; i < d.n; i++ {
		for j := 0; j < d.k; j++ {
			ms = append(ms, []any{d.wsID(i), d.userID(d.memberOf(i, j)), d.role(j), t0})
		}
	}
	if _, err := p.CopyFrom(ctx, pgx.Identifier{"memberships"}, []string{"workspace_id", "user_id", "role", "joined_at"}, pgx.CopyFromRows(ms)); err != nil {
		return nil, err
	}
	ms = nil
	var toks [][]any
	for i := 0; i < d.n; i += 10 {
		toks = append(toks, []any{h.Hash(secretOf(i)), d.userID(d.memberOf(i, 0)), d.wsID(i), "editor", t0.Add(100 * 365 * 24 * time.Hour)})
	}
	if _, err := p.CopyFrom(ctx, pgx.Identifier{"tokens"}, []string{"hash", "user_id", "workspace_id", "role", "expires_at"}, pgx.CopyFromRows(toks)); err != nil {
		return nil, err
	}
	if _, err := p.Exec(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	return &system{
		name:     "hand-sql",
		postgres: "peers_hand",
		check: func(q query) error {
			var role string
			if err := p.QueryRow(ctx, "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2", q.ws, q.user).Scan(&role); err != nil {
				return err
			}
			if role != "editor" && role != "admin" {
				return errors.New("hand-sql: no write role")
			}
			return nil
		},
		authenticate: func(secret string) error {
			var user, ws, role string
			var exp, rev *time.Time
			err := p.QueryRow(ctx, "SELECT user_id, workspace_id, role, expires_at, revoked_at FROM tokens WHERE hash = $1",
				h.Hash(secret)).Scan(&user, &ws, &role, &exp, &rev)
			if err == nil && (rev != nil || (exp != nil && exp.Before(time.Now()))) {
				err = errors.New("hand-sql: token not active")
			}
			return err
		},
		create: func(i int) error {
			return pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
				id, owner, now := d.wsID(i), d.userID(i%d.users), time.Now()
				if _, err := tx.Exec(ctx, "INSERT INTO workspaces (id, slug, name, owner_id, status, created_at) VALUES ($1, $2, $3, $4, 'active', $5)",
					id, fmt.Sprintf("w-%08d", i), fmt.Sprintf("Workspace %d", i), owner, now); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "INSERT INTO memberships (workspace_id, user_id, role, joined_at) VALUES ($1, $2, 'admin', $3)", id, owner, now); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "INSERT INTO events (type, workspace_id, at) VALUES ('workspace.created', $1, $2)", id, now); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "UPDATE counters SET n = n + 1 WHERE name = 'workspaces'")
				return err
			})
		},
		close: p.Close,
	}, nil
}

// openSelect1 is the floor: one round trip that reads nothing.
func openSelect1(pg *pgServer) (*system, error) {
	url, err := pg.database("peers_select1")
	if err != nil {
		return nil, err
	}
	p, err := pool(url)
	if err != nil {
		return nil, err
	}
	return &system{
		name:     "select-1",
		postgres: "peers_select1",
		check: func(query) error {
			var one int
			return p.QueryRow(ctx, "SELECT 1").Scan(&one)
		},
		close: p.Close,
	}, nil
}
