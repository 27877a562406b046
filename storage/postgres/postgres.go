// Package postgres is a PostgreSQL tenancy storage backend, over
// github.com/jackc/pgx/v5: for hosts that run several instances on one database.
//
// Every guarantee of the storage contract holds with many writers in many
// processes:
//
//   - View runs at REPEATABLE READ, READ ONLY: one snapshot. Update runs at
//     SERIALIZABLE and is run again on a serialization failure or a deadlock
//     (SQLSTATE 40001, 40P01), with bounded, jittered backoff. A commit whose outcome
//     is unknown (the connection lost during COMMIT) is never run again: it is
//     reported as ErrAmbiguousCommit.
//   - Unique indexes decide uniqueness; a violation is a storage.ConflictError naming
//     the index.
//   - The feed stays gap-free with many writers. By default each event records its
//     transaction ID (xid8) and a sequence number, and readers see only events below
//     the oldest running transaction, so a transaction that commits late is read
//     late, never skipped. Engines without xid8 (CockroachDB, YugabyteDB) use
//     FeedHeadRow: every appending transaction takes the next number from one row,
//     which orders commits at the cost of serializing event writers; a schema
//     created under it has no xid8 column at all.
//   - Counters are sharded by connection, so concurrent creators do not meet on one
//     row.
//
// Tables are named tenancy_*, optionally in a schema of the host's choosing
// (Options.Schema). The schema is created by embedded, versioned migrations applied
// at open under a transaction-scoped advisory lock, so several instances can start
// at once; a database written by a newer version is refused.
//
// # PostgreSQL-compatible engines
//
// Three options select SQL that distributed engines speaking PostgreSQL's protocol
// accept: Feed: FeedHeadRow (no xid8, no pg_current_snapshot), Search: SearchScan
// (no pg_trgm extension or GIN trigram index) and MigrationLock: LockRow (a locked
// row instead of an advisory lock). Portable sets all three. The whole conformance
// kit runs on PostgreSQL with Portable, so these paths are exercised by CI; the
// engines themselves cannot be installed where this package is tested, and the
// README lists what each is known to lack.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancykit/tenancy/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the newest schema this package writes.
const SchemaVersion = 8

// FeedStrategy chooses how event positions are assigned.
type FeedStrategy string

const (
	// FeedTransactionIDs orders events by (transaction ID, sequence) and hides
	// events above the oldest running transaction. PostgreSQL 13 or newer.
	FeedTransactionIDs FeedStrategy = "xid"
	// FeedHeadRow numbers events from a single head row that every appending
	// transaction updates: gap-free and in commit order on engines without xid8.
	FeedHeadRow FeedStrategy = "head-row"
)

// SearchStrategy chooses how a name search (storage.WorkspaceQuery.NameContains)
// finds its candidates.
type SearchStrategy string

const (
	// SearchTrigram indexes lowercased names with pg_trgm's GIN operator class (the
	// migration creates the extension): a search's cost follows the rows that hold
	// the needle's trigrams.
	SearchTrigram SearchStrategy = "trigram"
	// SearchScan needs no extension: a search reads workspaces in ID order and keeps
	// those whose name holds the needle, so its cost follows how far into the table
	// a page's matches lie. For engines without pg_trgm's GIN index.
	SearchScan SearchStrategy = "scan"
)

// LockStrategy chooses how instances opening one database at once take turns at
// the migrations.
type LockStrategy string

const (
	// LockAdvisory takes a transaction-scoped advisory lock (pg_advisory_xact_lock).
	LockAdvisory LockStrategy = "advisory"
	// LockRow locks a row of a table of its own (tenancy_migration_lock, SELECT …
	// FOR UPDATE), for engines without advisory locks.
	LockRow LockStrategy = "row"
)

// Portable is the Options for PostgreSQL-compatible engines that lack xid8,
// pg_trgm or advisory locks (CockroachDB, YugabyteDB): the head-row feed, the
// scanning name search and the row lock. Set Schema and the rest on the copy.
var Portable = Options{Feed: FeedHeadRow, Search: SearchScan, MigrationLock: LockRow}

// Options configures Open and New. The zero value is ready to use.
type Options struct {
	// Schema keeps the tables in this PostgreSQL schema (created if missing);
	// empty uses the connection's search_path.
	Schema string
	// Feed chooses the feed strategy; empty means FeedTransactionIDs. Every
	// instance on one database must use the same: the first open records it and
	// later opens with another are refused.
	Feed FeedStrategy
	// MaxRetries bounds how often Update runs fn again after a serialization
	// failure or deadlock; 0 means 30.
	MaxRetries int
	// CounterShards is how many rows each counter is spread over; 0 means 16.
	CounterShards int
	// Search chooses the name search; empty means SearchTrigram. A schema created
	// under SearchScan has no trigram index; opened later with SearchTrigram its
	// searches are right but unindexed.
	Search SearchStrategy
	// MigrationLock chooses how concurrent opens take turns at the migrations;
	// empty means LockAdvisory. Instances opening one database at the same moment
	// must use the same.
	MigrationLock LockStrategy
}

// ErrAmbiguousCommit is returned by Update when COMMIT was sent but its outcome is
// unknown (the connection broke): the transaction may or may not have committed,
// so it is not run again. It is storage.ErrAmbiguousCommit, so callers above the
// backend test for either.
var ErrAmbiguousCommit = storage.ErrAmbiguousCommit

// ErrSchema is returned when the database was written by a newer schema, or by
// instances using another feed strategy.
var ErrSchema = errors.New("postgres: unsupported schema")

// Store is a storage.Storage on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	owned   bool
	prefix  string // `tenancy_` or `"schema".tenancy_`
	feed    FeedStrategy
	search  SearchStrategy
	lock    LockStrategy
	xidType string // the events' xid column: "xid8", or "bigint" in a schema made for FeedHeadRow
	retries int
	shards  int
	closed  atomic.Bool
	sql     sync.Map // query text with {p} -> with the prefix
	stats   struct{ commits, retries, ambiguous, statements, roundTrips atomic.Int64 }
}

var (
	_ storage.Storage = (*Store)(nil)
	_ storage.Durable = (*Store)(nil)
	_ storage.Checker = (*Store)(nil)
)

// Open connects to the database at connString (a postgres:// URL or a key=value
// string) with a pool of its own, applies the migrations and returns the store.
// Close closes the pool.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := newStore(ctx, pool, opts, true)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New uses a pool the host owns (Close leaves it open). It applies the migrations,
// bounded by a one-minute timeout.
func New(pool *pgxpool.Pool, opts Options) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: New needs a non-nil *pgxpool.Pool")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return newStore(ctx, pool, opts, false)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, opts Options, owned bool) (*Store, error) {
	s := &Store{pool: pool, owned: owned, feed: opts.Feed, search: opts.Search, lock: opts.MigrationLock,
		retries: opts.MaxRetries, shards: opts.CounterShards, prefix: "tenancy_"}
	if s.feed == "" {
		s.feed = FeedTransactionIDs
	}
	if s.feed != FeedTransactionIDs && s.feed != FeedHeadRow {
		return nil, fmt.Errorf("postgres: unknown feed strategy %q", s.feed)
	}
	if s.search == "" {
		s.search = SearchTrigram
	}
	if s.search != SearchTrigram && s.search != SearchScan {
		return nil, fmt.Errorf("postgres: unknown search strategy %q", s.search)
	}
	if s.lock == "" {
		s.lock = LockAdvisory
	}
	if s.lock != LockAdvisory && s.lock != LockRow {
		return nil, fmt.Errorf("postgres: unknown migration lock %q", s.lock)
	}
	if s.retries <= 0 {
		s.retries = 30
	}
	if s.shards <= 0 {
		s.shards = 16
	}
	if opts.Schema != "" {
		s.prefix = pgx.Identifier{opts.Schema}.Sanitize() + ".tenancy_"
	}
	if err := s.migrate(ctx, opts.Schema); err != nil {
		return nil, err
	}
	return s, nil
}

// Table returns the qualified name of one of the store's tables ("members",
// "tokens", …: tenancy_<name> in the store's schema), for a host's own read-only
// queries and tools beside the store.
func (s *Store) Table(name string) string { return s.prefix + name }

// q returns a query with {p} replaced by the table prefix (cached).
func (s *Store) q(sql string) string {
	s.stats.statements.Add(1) // every statement's text comes through here once per send
	if v, ok := s.sql.Load(sql); ok {
		return v.(string)
	}
	out := strings.ReplaceAll(sql, "{p}", s.prefix)
	s.sql.Store(sql, out)
	return out
}

// migrate applies the embedded migrations newer than the database's version, in one
// transaction under an advisory lock, so instances starting together take turns.
func (s *Store) migrate(ctx context.Context, schema string) error {
	files, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name() < files[j].Name() })
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if s.lock == LockAdvisory {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "tenancy migrate "+s.prefix); err != nil {
			return fmt.Errorf("postgres: migrate: lock: %w", err)
		}
	}
	if s.lock == LockRow {
		if err := s.lockRow(ctx, tx, schema); err != nil {
			return err
		}
	} else if schema != "" {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("postgres: migrate: create schema: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, s.q("CREATE TABLE IF NOT EXISTS {p}schema_version (version integer NOT NULL)")); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	version := 0
	if err := tx.QueryRow(ctx, s.q("SELECT coalesce(max(version), 0) FROM {p}schema_version")).Scan(&version); err != nil {
		return fmt.Errorf("postgres: migrate: read version: %w", err)
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: the database has schema %d, this build knows %d", ErrSchema, version, SchemaVersion)
	}
	for _, f := range files {
		n, err := strconv.Atoi(strings.SplitN(f.Name(), "_", 2)[0])
		if err != nil || n <= version {
			continue
		}
		body, err := migrationFiles.ReadFile("migrations/" + f.Name())
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, s.q(s.render(string(body)))); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", f.Name(), err)
		}
		if _, err := tx.Exec(ctx, s.q("DELETE FROM {p}schema_version; INSERT INTO {p}schema_version VALUES ("+strconv.Itoa(n)+")")); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", f.Name(), err)
		}
	}
	// Every instance must number the feed the same way.
	var recorded string
	err = tx.QueryRow(ctx, s.q("SELECT convert_from(value, 'UTF8') FROM {p}settings WHERE name = 'feed_strategy'")).Scan(&recorded)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, s.q("INSERT INTO {p}settings (name, value) VALUES ('feed_strategy', convert_to($1, 'UTF8'))"), string(s.feed)); err != nil {
			return fmt.Errorf("postgres: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("postgres: migrate: %w", err)
	case recorded != string(s.feed):
		return fmt.Errorf("%w: the database's feed uses strategy %q, not %q", ErrSchema, recorded, s.feed)
	}
	// The xid column's type says which feeds the schema can hold: a schema made for
	// the head-row feed has no xid8 (engines without it could not have made one).
	rows, err := tx.Query(ctx, s.q("SELECT xid FROM {p}events LIMIT 0"))
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	oid := rows.FieldDescriptions()[0].DataTypeOID
	rows.Close()
	switch oid {
	case pgtype.XID8OID:
		s.xidType = "xid8"
	case pgtype.Int8OID:
		s.xidType = "bigint"
		if s.feed == FeedTransactionIDs {
			return fmt.Errorf("%w: the schema was made for the head-row feed (no xid8 column)", ErrSchema)
		}
	default:
		return fmt.Errorf("%w: the events' xid column has type OID %d", ErrSchema, oid)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: commit: %w", err)
	}
	return nil
}

// lockRow takes LockRow's lock: a row of tenancy_migration_lock, locked until the
// migration transaction ends, creating the schema and the table first if need be.
// Two instances creating them at the same moment may collide on the catalog (a
// unique violation); the loser finds them on its next try.
func (s *Store) lockRow(ctx context.Context, tx pgx.Tx, schema string) error {
	create := ""
	if schema != "" {
		create = "CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize() + "; "
	}
	for attempt := 0; ; attempt++ {
		_, err := tx.Exec(ctx, "SAVEPOINT tenancy_lock; "+create+
			s.q("CREATE TABLE IF NOT EXISTS {p}migration_lock (one boolean PRIMARY KEY DEFAULT true CHECK (one)); "+
				"INSERT INTO {p}migration_lock (one) VALUES (true) ON CONFLICT (one) DO NOTHING; "+
				"SELECT one FROM {p}migration_lock FOR UPDATE; ")+
			"RELEASE SAVEPOINT tenancy_lock")
		if err == nil {
			return nil
		}
		if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT tenancy_lock"); rerr != nil || attempt >= 5 || ctx.Err() != nil {
			return fmt.Errorf("postgres: migrate: lock: %w", err)
		}
		time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
	}
}

// render fits a migration to the store's options: {xid8} is the events' position
// type (bigint under the head-row feed, which needs no transaction IDs), and the
// lines between "-- trigram:begin" and "-- trigram:end" create pg_trgm's index, left
// out under SearchScan.
func (s *Store) render(sql string) string {
	xid := "xid8"
	if s.feed == FeedHeadRow {
		xid = "bigint"
	}
	sql = strings.ReplaceAll(sql, "{xid8}", xid)
	if s.search != SearchScan {
		return sql
	}
	var out strings.Builder
	skip := false
	for line := range strings.SplitAfterSeq(sql, "\n") {
		switch l := strings.TrimSpace(line); {
		case strings.HasPrefix(l, "-- trigram:begin"):
			skip = true
			continue
		case strings.HasPrefix(l, "-- trigram:end"):
			skip = false
			continue
		}
		if !skip {
			out.WriteString(line)
		}
	}
	return out.String()
}

// Durable reports true: the data outlives the process.
func (s *Store) Durable() bool { return true }

// Pool returns the connection pool, for the host's own queries and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool if Open made it. Later calls fail with storage.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return storage.ErrClosed
	}
	if s.owned {
		s.pool.Close()
	}
	return nil
}

// Stats counts commits and serialization retries since the store was opened.
type Stats struct {
	Commits int64 // Updates committed
	Retries int64 // attempts run again after a serialization failure or deadlock
	// Statements counts the statements the store sent: every statement, and each
	// BEGIN, COMMIT and ROLLBACK.
	Statements int64
	// RoundTrips counts the times the store waited for the server: statements that
	// need no answer of their own travel with the next one (see Update), so there
	// are fewer round trips than statements.
	RoundTrips int64
}

// Stats returns the commit, retry and statement counts.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.stats.commits.Load(), Retries: s.stats.retries.Load(), Statements: s.stats.statements.Load(),
		RoundTrips: s.stats.roundTrips.Load()}
}

// TxCounts reports the commits, retries and ambiguous commits since the store
// opened (storage.TxCounter), for the Manager's metrics.
func (s *Store) TxCounts() storage.TxCounts {
	return storage.TxCounts{Commits: s.stats.commits.Load(), Retries: s.stats.retries.Load(), Ambiguous: s.stats.ambiguous.Load()}
}

// Ping reports whether the database answers: a round trip on a pooled
// connection, for readiness checks (a failed-over primary, a pooler that lost it).
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return storage.ErrClosed
	}
	return s.pool.Ping(ctx)
}

var _ storage.Pinger = (*Store)(nil)

// RoundTrips returns Stats().RoundTrips: how the conformance kit
// (storagetest.RoundTripCounter) checks that one Authorize or Authenticate is one
// round trip.
func (s *Store) RoundTrips() int64 { return s.stats.roundTrips.Load() }

// View runs fn in a REPEATABLE READ, READ ONLY transaction: one snapshot.
func (s *Store) View(ctx context.Context, fn func(storage.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return storage.ErrClosed
	}
	s.stats.statements.Add(2) // BEGIN, and the ROLLBACK that ends it
	ptx, err := s.begin(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	if err != nil {
		return s.connErr(ctx, err)
	}
	t := &tx{s: s, ctx: ctx, ptx: ptx}
	defer func() {
		t.ended = true
		ptx.release(ctx)
	}()
	if err := fn(t); err != nil {
		return err
	}
	return t.failed
}

// Update runs fn in a SERIALIZABLE transaction and commits it; see the package doc
// for when fn runs again.
func (s *Store) Update(ctx context.Context, fn func(storage.ReadWriter) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.closed.Load() {
			return storage.ErrClosed
		}
		commits, err := s.attempt(ctx, fn)
		if err == nil {
			s.stats.commits.Add(1)
			for _, f := range commits {
				f()
			}
			return nil
		}
		if !retryable(err) || attempt >= s.retries {
			if errors.Is(err, ErrAmbiguousCommit) {
				s.stats.ambiguous.Add(1)
			}
			return err
		}
		s.stats.retries.Add(1)
		// Bounded exponential backoff with full jitter: 0.5 ms doubling to 64 ms.
		d := time.Duration(500<<min(attempt, 7)) * time.Microsecond
		select {
		case <-time.After(rand.N(d) + time.Microsecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// attempt runs fn once; a panic rolls back and is re-raised.
func (s *Store) attempt(ctx context.Context, fn func(storage.ReadWriter) error) (commits []func(), err error) {
	s.stats.statements.Add(2) // BEGIN, and the COMMIT or ROLLBACK that ends it
	ptx, err := s.begin(ctx, "BEGIN ISOLATION LEVEL SERIALIZABLE")
	if err != nil {
		return nil, s.connErr(ctx, err)
	}
	t := &tx{s: s, ctx: ctx, ptx: ptx, writable: true}
	defer func() {
		t.ended = true
		ptx.release(ctx)
	}()
	ferr := fn(t)
	// A failed statement aborted the transaction: what fn made of the error, the
	// failure decides (a serialization failure is run again).
	if t.failed != nil && (ferr == nil || retryable(t.failed)) {
		return nil, t.failed
	}
	if ferr != nil {
		return nil, ferr
	}
	// The writes held back (see pipe) go with the COMMIT: a failure among them is
	// the server's answer, so nothing was committed.
	if err := ptx.commit(ctx); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) || errors.Is(err, errRolledBack) {
			return nil, fmt.Errorf("postgres: commit: %w", err) // the server said no: not committed
		}
		if ctx.Err() != nil && pgconn.SafeToRetry(err) {
			return nil, ctx.Err()
		}
		// Only a lost connection leaves the outcome unknown: pgx closes the
		// connection when a send or a read fails. A failure that leaves it open
		// happened before anything was sent (a held statement's arguments that
		// could not be encoded), so nothing was committed.
		if ptx.conn != nil && !ptx.conn.Conn().IsClosed() {
			return nil, fmt.Errorf("postgres: commit: %w", err)
		}
		return nil, fmt.Errorf("%w: %v", ErrAmbiguousCommit, err)
	}
	return t.commits, nil
}

// retryable reports a serialization failure or a deadlock: the transaction surely
// did not commit and may run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

func (s *Store) connErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if s.closed.Load() {
		return storage.ErrClosed
	}
	return fmt.Errorf("postgres: begin: %w", err)
}

// FeedLag says how far the feed's watermark trails: events committed but not yet
// shown because an older transaction is still running, and how long the oldest
// running transaction in the database has been open. A lag that keeps growing
// points at a stuck transaction.
type FeedLag struct {
	Hidden            int64         // committed events above the watermark
	OldestTransaction time.Duration // age of the oldest transaction holding an ID; 0 if none
}

// FeedLag measures the feed's lag now. With FeedHeadRow nothing is ever hidden.
func (s *Store) FeedLag(ctx context.Context) (FeedLag, error) {
	var lag FeedLag
	var age float64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM max(now() - xact_start)), 0)::float8 FROM pg_stat_activity
		WHERE backend_xid IS NOT NULL AND datname = current_database()`).Scan(&age)
	if err != nil {
		return lag, fmt.Errorf("postgres: feed lag: %w", err)
	}
	lag.OldestTransaction = time.Duration(age * float64(time.Second))
	if s.feed == FeedTransactionIDs {
		err = s.pool.QueryRow(ctx, s.q(`SELECT count(*) FROM {p}events WHERE xid >= pg_snapshot_xmin(pg_current_snapshot())`)).Scan(&lag.Hidden)
		if err != nil {
			return lag, fmt.Errorf("postgres: feed lag: %w", err)
		}
	}
	return lag, nil
}
