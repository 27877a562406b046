package pgtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// StoreSchema is Schema for a test that opens a tenancy store in the schema and
// changes it only through the store: it may hand out a schema an earlier test
// used, emptied to what the store's migrations leave, so the store opens without
// migrating. Migrating a fresh schema costs about 70 ms, emptying a used one a few,
// and the conformance kit and the grids open hundreds of stores. Tests that alter
// the schema itself (migration tests) take theirs from Schema.
func StoreSchema(t testing.TB) (url, schema string) {
	t.Helper()
	return StoreSchemaOf(t, "")
}

// StoreSchemaOf is StoreSchema for stores whose migrations make another schema
// (the PostgreSQL backend's portable options, say): schemas are only handed again
// to a test asking for the same flavor.
func StoreSchemaOf(t testing.TB, flavor string) (url, schema string) {
	t.Helper()
	url = URL(t)
	stores.mu.Lock()
	if n := len(stores.free[flavor]); n > 0 {
		schema = stores.free[flavor][n-1]
		stores.free[flavor] = stores.free[flavor][:n-1]
	}
	stores.mu.Unlock()
	if schema == "" {
		url, schema = newSchema(t, "s_")
		stores.mu.Lock()
		stores.url, stores.uses[schema] = url, 0
		stores.mu.Unlock()
	}
	t.Cleanup(func() {
		stores.mu.Lock()
		stores.uses[schema]++
		n := stores.uses[schema]
		stores.mu.Unlock()
		if err := empty(url, schema, n%32 == 0); err != nil {
			// Not reused; dropped with the others at Stop.
			t.Logf("pgtest: schema %s is not reused: %v", schema, err)
			return
		}
		stores.mu.Lock()
		stores.free[flavor] = append(stores.free[flavor], schema)
		stores.mu.Unlock()
	})
	return url, schema
}

var stores = storePool{uses: map[string]int{}, free: map[string][]string{}}

type storePool struct {
	mu   sync.Mutex
	url  string
	free map[string][]string // flavor -> emptied schemas
	uses map[string]int      // schema -> times emptied, for the occasional TRUNCATE
}

// empty brings a store's schema back to what its migrations leave: every table but
// tenancy_schema_version emptied, every sequence restarted, tenancy_feed_head's one
// row at 0. (The one row a migration inserts; a migration that seeds another must
// be mirrored here, or the kit fails on the second store in a schema.) DELETE costs
// a tenth of TRUNCATE on these small tables but leaves dead rows (autovacuum is off
// on the throwaway server), so every 32nd emptying truncates.
func empty(url, schema string, truncate bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	names := func(sql string) ([]string, error) {
		rows, err := c.Query(ctx, sql, schema)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	tables, err := names(`SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
		WHERE schemaname = $1 AND tablename NOT IN ('tenancy_schema_version', 'tenancy_feed_head')`)
	if err != nil {
		return err
	}
	seqs, err := names("SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences WHERE schemaname = $1")
	if err != nil {
		return err
	}
	var head bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'tenancy_feed_head')", schema).Scan(&head); err != nil {
		return err
	}
	if len(tables) == 0 || !head {
		return fmt.Errorf("no tenancy tables: no store was opened in it")
	}
	var sql strings.Builder
	if truncate {
		sql.WriteString("TRUNCATE " + strings.Join(tables, ", ") + ";")
	} else {
		for _, t := range tables {
			sql.WriteString("DELETE FROM " + t + ";")
		}
	}
	for _, s := range seqs {
		sql.WriteString("ALTER SEQUENCE " + s + " RESTART;")
	}
	sql.WriteString("UPDATE " + pgx.Identifier{schema, "tenancy_feed_head"}.Sanitize() + " SET last = 0;")
	_, err = c.Exec(ctx, sql.String())
	return err
}

// dropAll drops every schema the pool made, so a server named by
// TENANCY_POSTGRES_URL is left as it was found.
func (p *storePool) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.uses) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	for s := range p.uses {
		_, _ = c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{s}.Sanitize()+" CASCADE")
	}
	p.uses, p.free = map[string]int{}, map[string][]string{}
}
