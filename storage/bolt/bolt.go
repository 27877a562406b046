// Package bolt is a tenancy storage backend on a bbolt file, for single-binary
// self-hosted deployments.
//
// Open owns the file: it refuses empty, truncated or foreign files with an error
// (bbolt itself would silently initialise an empty file and can panic on a truncated
// one), waits a bounded time for another process's file lock, and stores a schema
// version. New wraps a *bbolt.DB the host already owns; tenancy's buckets are all
// named "tenancy.*", so the host may keep its own buckets in the same file.
//
// Concurrent Updates are committed together (group commit): while one commit is
// being written, the writers that arrive queue up and the next commit carries them
// all, so throughput grows with concurrency while a lone writer never waits.
//
// The group commit (Update, commit, solo) does what bbolt's DB.Batch does with one
// change, and is written here rather than taken from it (no bbolt code is copied):
// DB.Batch gathers callers for up to MaxBatchDelay (10 ms) before it commits, so a
// lone writer waits that long, where here the first writer commits at once as the
// leader and those that arrive meanwhile ride the next commit. As in DB.Batch, a
// function that fails rolls its batch back, is run alone (its own answer is
// authoritative), and the others commit together.
//
// The workspace indexes (slug, external ID, retention, status, name grams), the
// search over them and their consistency check are shared with the memory backend
// (storage/internal/wsindex); this package supplies the buckets they live in.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/internal/indexkeys"
	"github.com/tenancykit/tenancy/workspace"
)

// SchemaVersion is the storage format this package writes.
const SchemaVersion = 7

// Bucket names.
var (
	bMeta      = []byte("tenancy.meta")
	bUsers     = []byte("tenancy.users")
	bUserEmail = []byte("tenancy.users.email")
	bWs        = []byte("tenancy.workspaces")
	bWsSlug    = []byte("tenancy.workspaces.slug")
	bWsExt     = []byte("tenancy.workspaces.external")
	bMembers   = []byte("tenancy.members")      // workspace \0 user -> member
	bUserWs    = []byte("tenancy.members.user") // user \0 workspace -> ""
	bInvs      = []byte("tenancy.invitations")  // id -> invitation
	bInvHash   = []byte("tenancy.invitations.hash")
	bInvWs     = []byte("tenancy.invitations.workspace") // workspace \0 id -> ""
	bToks      = []byte("tenancy.tokens")
	bTokHash   = []byte("tenancy.tokens.hash")      // hash -> token record (a copy, for Authenticate)
	bTokWs     = []byte("tenancy.tokens.workspace") // workspace \0 id -> ""
	bTokUser   = []byte("tenancy.tokens.user")      // user \0 id -> ""
	bUserSusp  = []byte("tenancy.users.suspended")  // id -> "" for each suspended user (schema 4)
	bEvents    = []byte("tenancy.events")
	bEvtWs     = []byte("tenancy.events.workspace") // workspace \0 id -> ""
	bCounters  = []byte("tenancy.counters")
	bWsDeleted = []byte("tenancy.workspaces.deleted") // indexkeys.DeletedKey -> workspace ID (schema 2)
	bWsStatus  = []byte("tenancy.workspaces.status")  // status \0 workspace -> "" (schema 3)
	bWsGram    = []byte("tenancy.workspaces.gram")    // gram \0 workspace -> "" (schema 3)
	bWsGramN   = []byte("tenancy.workspaces.gramn")   // gram -> uint64 count (schema 3)
	bConsumers = []byte("tenancy.consumers")          // name -> consumer (schema 6)
	bHooks     = []byte("tenancy.webhooks")           // id -> endpoint (schema 6)
	bHookWs    = []byte("tenancy.webhooks.workspace") // workspace (or "") \0 id -> "" (schema 6)
	bAttempts  = []byte("tenancy.webhooks.attempts")  // endpoint \0 attempt -> attempt (schema 6)
	bWsPending = []byte("tenancy.workspaces.pending") // workspace -> "n" + lowercased name, grams not filed yet (schema 7)

	allBuckets = [][]byte{bMeta, bUsers, bUserEmail, bWs, bWsSlug, bWsExt, bMembers, bUserWs, bInvs, bInvHash,
		bInvWs, bToks, bTokHash, bTokWs, bTokUser, bEvents, bEvtWs, bCounters, bWsDeleted, bWsStatus, bWsGram, bWsGramN, bUserSusp,
		bConsumers, bHooks, bHookWs, bAttempts, bWsPending}

	keySchema = []byte("schema")
)

// ErrLocked is returned by Open when another process holds the file's lock for
// longer than Options.LockTimeout.
var ErrLocked = errors.New("bolt: database file is locked by another process")

// ErrSchema is returned when the file was written by a newer, unknown schema.
var ErrSchema = errors.New("bolt: unsupported schema version")

// Options configures Open. The zero value is ready to use.
type Options struct {
	// LockTimeout bounds the wait for another process's file lock. 0 means 1 second;
	// Open never waits forever.
	LockTimeout time.Duration
	// NoSync skips fsync on commit: faster, and a crash may lose recent commits. Off
	// unless asked for.
	NoSync bool
	// Mode is the file mode for a new file; 0 means 0600.
	Mode os.FileMode
}

// Backup writes a consistent copy of the database to w, from one read
// transaction (bbolt's Tx.WriteTo), while the store keeps serving: writers are
// not blocked. The copy is a bbolt file that Open reads with the same secret key.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	return n, err
}

// ctxWriter stops a copy whose context ended.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

var _ storage.Backuper = (*Store)(nil)

// Store is a storage.Storage on a bbolt database.
type Store struct {
	db     *bbolt.DB
	owned  bool        // Open made db, so Close closes it
	closed atomic.Bool // read without a lock: View takes none
	mu     sync.Mutex  // guards the group-commit queue
	queue  []*call
	busy   bool           // a leader is committing
	wg     sync.WaitGroup // Updates in flight, so Close waits for them
}

var _ storage.Storage = (*Store)(nil)

// Open opens or creates the tenancy store at path. It refuses a zero-length,
// truncated or non-bbolt file with an error wrapping storage.ErrCorrupt, a file held
// by another process with ErrLocked, and a newer schema with ErrSchema.
func Open(path string, opts Options) (*Store, error) {
	if err := checkFile(path); err != nil {
		return nil, err
	}
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	mode := opts.Mode
	if mode == 0 {
		mode = 0o600
	}
	db, err := openBolt(path, mode, &bbolt.Options{Timeout: timeout, NoSync: opts.NoSync, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	s, err := newStore(db, true)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt calls bbolt.Open, turning its panics on damaged files into errors.
func openBolt(path string, mode os.FileMode, o *bbolt.Options) (db *bbolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bolt: open %s: %v: %w", path, p, storage.ErrCorrupt)
		}
	}()
	db, err = bbolt.Open(path, mode, o)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s (waited %s; is another server running on it?)", ErrLocked, path, o.Timeout)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("bolt: open %s: %v: %w", path, err, storage.ErrCorrupt)
	}
	return nil, fmt.Errorf("bolt: open %s: %w", path, err)
}

// New wraps a bbolt database the host already opened. Close does not close db.
// It creates tenancy's buckets if they are missing.
func New(db *bbolt.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("bolt: New needs a non-nil *bbolt.DB")
	}
	return newStore(db, false)
}

func newStore(db *bbolt.DB, owned bool) (s *Store, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bolt: read %s: %v: %w", db.Path(), p, storage.ErrCorrupt)
		}
	}()
	// An up-to-date store needs no write: opening must not cost a commit and an fsync.
	ready := false
	err = db.View(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return nil
			}
		}
		if v := tx.Bucket(bMeta).Get(keySchema); len(v) == 1 && v[0] >= 1 && v[0] < SchemaVersion {
			return nil // an older schema, or a migration a crash stopped: migrate
		}
		ready = true
		return checkSchema(tx, SchemaVersion)
	})
	if err != nil {
		return nil, err
	}
	if db.IsReadOnly() && !ready {
		err = db.View(func(tx *bbolt.Tx) error { return checkSchema(tx, SchemaVersion) })
	} else if !ready {
		// A new file, or one an older version wrote: create what is missing and
		// migrate in one transaction, so a crash leaves the old file as it was. The
		// search indexes of schema 3 are the exception: they are built after it in
		// bounded transactions (see buildSearchIndexes), under schema 2 until done.
		buildIndexes := false
		err = db.Update(func(tx *bbolt.Tx) error {
			meta, err := tx.CreateBucketIfNotExists(bMeta)
			if err != nil {
				return fmt.Errorf("bolt: create bucket %s: %w", bMeta, err)
			}
			version := byte(SchemaVersion)
			if v := meta.Get(keySchema); v != nil {
				if err := checkSchema(tx, 1); err != nil {
					return err
				}
				version = v[0]
			}
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return fmt.Errorf("bolt: create bucket %s: %w", name, err)
				}
			}
			for ; version < SchemaVersion; version++ {
				if err := migrations[version](tx); err != nil {
					return fmt.Errorf("bolt: migrate schema %d to %d: %w", version, version+1, err)
				}
				buildIndexes = buildIndexes || version == 2
			}
			if buildIndexes {
				return meta.Put(keySchema, []byte{2}) // schema 3 once the indexes are built
			}
			return meta.Put(keySchema, []byte{SchemaVersion})
		})
		if err == nil && buildIndexes {
			if err = buildSearchIndexes(db); err != nil {
				err = fmt.Errorf("bolt: migrate schema 2 to 3: %w", err)
			} else {
				err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bMeta).Put(keySchema, []byte{SchemaVersion}) })
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return &Store{db: db, owned: owned}, nil
}

// checkSchema refuses a file without tenancy's meta bucket, a damaged version
// record, and a version outside min..SchemaVersion.
func checkSchema(tx *bbolt.Tx, min byte) error {
	meta := tx.Bucket(bMeta)
	if meta == nil {
		return fmt.Errorf("bolt: %s has no tenancy data: %w", tx.DB().Path(), storage.ErrCorrupt)
	}
	v := meta.Get(keySchema)
	if len(v) != 1 {
		return fmt.Errorf("bolt: schema version record is damaged: %w", storage.ErrCorrupt)
	}
	if v[0] > SchemaVersion || v[0] < min {
		return fmt.Errorf("%w %d (this build reads %d to %d; open it writable once to migrate it)", ErrSchema, v[0], min, SchemaVersion)
	}
	return nil
}

// migrations[v] moves a file from schema v to v+1, inside the opening transaction
// (from 2, buildSearchIndexes finishes the move after it).
var migrations = map[byte]func(*bbolt.Tx) error{
	1: migrate1to2,
	2: migrate2to3,
	3: migrate3to4,
	4: migrate4to5,
	5: migrate5to6,
	6: migrate6to7,
}

// migrate6to7 changes nothing: schema 7 adds the bucket of pending names (created
// with the others, empty), which schema-6 builds do not know to search or check.
func migrate6to7(*bbolt.Tx) error { return nil }

// migrate5to6 changes nothing: schema 6 adds the buckets of the feed's consumers and
// of webhooks (created with the others), which schema-5 builds do not know to copy,
// check or purge; the version tells them to stay away.
func migrate5to6(*bbolt.Tx) error { return nil }

// migrate4to5 changes nothing: schema 5 adds a field a workspace record holds only
// when it is set (the host's flags), which schema-4 builds would refuse as damage;
// the version tells them to stay away.
func migrate4to5(*bbolt.Tx) error { return nil }

// migrate3to4 fills the index of suspended users (the bucket exists by then). It
// changes no record: schema 4 also adds a field a record holds only when it is set
// (a deleted workspace's earlier status), which schema-3 builds would refuse as
// damage; the version tells them to stay away.
func migrate3to4(btx *bbolt.Tx) error {
	susp := btx.Bucket(bUserSusp)
	return btx.Bucket(bUsers).ForEach(func(k, v []byte) error {
		u, err := decodeUser(v)
		if err != nil || !u.Suspended() {
			return err
		}
		return susp.Put(k, nil)
	})
}

// migrate2to3 empties the search indexes of schema 3 (workspaces by status, and by
// the grams of their lowercased names, with each gram's count), inside the opening
// transaction; buildSearchIndexes then fills them in transactions of its own, and
// only then is the file marked schema 3. A crash on the way leaves a schema-2 file
// with partial indexes, which the next open empties and builds again.
func migrate2to3(btx *bbolt.Tx) error {
	// The grams of every workspace are filed below, so none is pending (a file of
	// schema 2 has no pending names; one whose migration a crash stopped may).
	for _, name := range [][]byte{bWsStatus, bWsGram, bWsGramN, bWsPending} {
		if btx.Bucket(name) != nil {
			if err := btx.DeleteBucket(name); err != nil {
				return err
			}
		}
		if _, err := btx.CreateBucket(name); err != nil {
			return err
		}
	}
	return nil
}

// buildSearchIndexes fills the indexes migrate2to3 emptied.
//
// It writes every bucket in key order, and in transactions of bounded size. bbolt
// splits a node only at commit, so keys put out of order into a bucket that starts
// empty all land in one growing node, each insert shifting the ones after it:
// quadratic, hours at a million workspaces. In order, each put appends. And a
// transaction holds every key it writes in memory until it commits, so one
// transaction for every gram of a million workspaces (some twenty-five each) held
// gigabytes. The grams go in passes: a first pass counts keys by their first two
// bytes (length tag and first letter); each later pass, a transaction, collects,
// sorts and writes one run of those prefixes, up to migrateBatch keys.
func buildSearchIndexes(db *bbolt.DB) error {
	each := func(btx *bbolt.Tx, fn func(id string, e migrateEntry)) error {
		return btx.Bucket(bWs).ForEach(func(k, v []byte) error {
			w, err := decodeWorkspace(v)
			if err != nil {
				return err
			}
			fn(string(k), migrateEntry{string(w.Status), strings.ToLower(w.Name)})
			return nil
		})
	}
	// Status: one list per status, each already in id order; and the gram counts.
	var perPrefix [1 << 16]int
	err := db.Update(func(btx *bbolt.Tx) error {
		byStatus := map[string][]string{}
		if err := each(btx, func(id string, e migrateEntry) {
			byStatus[e.status] = append(byStatus[e.status], id)
			for _, g := range indexkeys.Grams(e.name) {
				perPrefix[uint16(g[0])<<8|uint16(g[1])]++
			}
		}); err != nil {
			return err
		}
		statuses := make([]string, 0, len(byStatus))
		for st := range byStatus {
			statuses = append(statuses, st)
		}
		slices.Sort(statuses)
		for _, st := range statuses {
			for _, id := range byStatus[st] {
				if err := btx.Bucket(bWsStatus).Put(join(st, id), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Grams, a run of prefixes per pass.
	for lo := 0; lo < len(perPrefix); {
		hi, n := lo, 0
		for hi < len(perPrefix) && (n == 0 || n+perPrefix[hi] <= migrateBatch) {
			n += perPrefix[hi]
			hi++
		}
		if n > 0 {
			err := db.Update(func(btx *bbolt.Tx) error {
				return migrateGrams(btx, func(fn func(string, migrateEntry)) error { return each(btx, fn) }, lo, hi, n)
			})
			if err != nil {
				return err
			}
		}
		lo = hi
	}
	return nil
}

// migrateEntry is what migrate2to3 needs of a workspace.
type migrateEntry struct{ status, name string }

// migrateBatch bounds the gram keys one pass of migrate2to3 holds (about 50 bytes each).
var migrateBatch = 2 << 20 // a variable for the tests, which use small passes

// migrateGrams writes the gram keys, and the counts, of grams whose first two
// bytes are in [lo, hi), in key order.
func migrateGrams(btx *bbolt.Tx, each func(func(id string, e migrateEntry)) error, lo, hi, n int) error {
	keys := make([]string, 0, n)
	if err := each(func(id string, e migrateEntry) {
		for _, g := range indexkeys.Grams(e.name) {
			if p := int(uint16(g[0])<<8 | uint16(g[1])); p >= lo && p < hi {
				keys = append(keys, g+"\x00"+id)
			}
		}
	}); err != nil {
		return err
	}
	slices.Sort(keys)
	grams, counts := btx.Bucket(bWsGram), btx.Bucket(bWsGramN)
	for i := 0; i < len(keys); {
		g := keys[i][:1+int(keys[i][0]-'0')] // a length tag, then that many bytes
		j := i
		for ; j < len(keys) && strings.HasPrefix(keys[j], g+"\x00"); j++ {
			if err := grams.Put([]byte(keys[j]), nil); err != nil {
				return err
			}
		}
		if err := counts.Put([]byte(g), binary.BigEndian.AppendUint64(nil, uint64(j-i))); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// migrate1to2: schema 1 keyed events by their ULID and found deleted workspaces by
// scanning them all. Schema 2 keys events by a feed position from the events
// bucket's sequence (in the old ULID order, so the feed keeps its order) and indexes
// deleted workspaces by deletion time for retention.
func migrate1to2(tx *bbolt.Tx) error {
	type rec struct{ k, v []byte }
	var evts []rec
	if err := tx.Bucket(bEvents).ForEach(func(k, v []byte) error {
		evts = append(evts, rec{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	for _, name := range [][]byte{bEvents, bEvtWs} {
		if err := tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	events, byWs := tx.Bucket(bEvents), tx.Bucket(bEvtWs)
	for _, r := range evts {
		e, err := decodeEvent(r.v)
		if err != nil {
			return err
		}
		seq, err := events.NextSequence()
		if err != nil {
			return err
		}
		pos := indexkeys.SequencePosition(seq)
		if err := events.Put([]byte(pos), r.v); err != nil {
			return err
		}
		if e.WorkspaceID != "" {
			if err := byWs.Put(join(e.WorkspaceID, pos), nil); err != nil {
				return err
			}
		}
	}
	deleted := tx.Bucket(bWsDeleted)
	return tx.Bucket(bWs).ForEach(func(k, v []byte) error {
		w, err := decodeWorkspace(v)
		if err != nil {
			return err
		}
		if w.Status != workspace.Deleted {
			return nil
		}
		return deleted.Put([]byte(indexkeys.DeletedKey(w.DeletedAt, w.ID)), []byte(w.ID))
	})
}

// Durable reports true: the data outlives the process (see storage.Durable).
func (s *Store) Durable() bool { return true }

// DB returns the underlying bbolt database, for backups (tx.WriteTo) and checks.
func (s *Store) DB() *bbolt.DB { return s.db }

// View runs fn in a read-only bbolt transaction. bbolt readers do not block each
// other or the writer.
//
// It takes no lock of its own, so readers on every core proceed in parallel. A View
// racing Close either finishes first (bbolt's Close waits for open read
// transactions) or fails with storage.ErrClosed.
func (s *Store) View(ctx context.Context, fn func(storage.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return storage.ErrClosed
	}
	err := s.db.View(func(btx *bbolt.Tx) error {
		t := &tx{btx: btx}
		defer t.end()
		return fn(t)
	})
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return storage.ErrClosed
	}
	return err
}

// call is one Update waiting in the group-commit queue.
type call struct {
	ctx     context.Context
	fn      func(storage.ReadWriter) error
	done    chan struct{}
	err     error
	panic   any // re-raised in the caller's goroutine
	commits []func()
}

// panicked carries a panic out of a batch, so it can be re-raised by its caller.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.v) }

// Update runs fn in a write transaction, committed together with any concurrent
// Updates. fn may run more than once (see storage.Storage).
func (s *Store) Update(ctx context.Context, fn func(storage.ReadWriter) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{ctx: ctx, fn: fn, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return storage.ErrClosed
	}
	s.wg.Add(1)
	s.queue = append(s.queue, c)
	if !s.busy {
		// Become the leader: commit batches until the queue is empty.
		s.busy = true
		for len(s.queue) > 0 {
			batch := s.queue
			s.queue = nil
			s.mu.Unlock()
			s.commit(batch)
			s.mu.Lock()
		}
		s.busy = false
	}
	s.mu.Unlock()
	<-c.done
	s.wg.Done()
	if c.panic != nil {
		panic(c.panic)
	}
	if c.err != nil {
		return c.err
	}
	for _, f := range c.commits {
		f()
	}
	return nil
}

// commit runs a batch in one bbolt transaction. If one call fails, the transaction
// is rolled back, that call is run alone (its own result is authoritative) and the
// rest are retried together.
func (s *Store) commit(batch []*call) {
	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	for len(live) > 0 {
		if len(live) == 1 {
			s.solo(live[0])
			return
		}
		failed := -1
		err := s.db.Update(func(btx *bbolt.Tx) error {
			for i, c := range live {
				if err := run(c, btx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, c := range live {
				close(c.done)
			}
			return
		}
		if failed < 0 { // the commit itself failed: every call shares the error
			for _, c := range live {
				c.err, c.commits = fmt.Errorf("bolt: commit: %w", err), nil
				close(c.done)
			}
			return
		}
		s.solo(live[failed])
		live = append(live[:failed:failed], live[failed+1:]...)
	}
}

// solo runs one call in its own transaction and reports its outcome.
func (s *Store) solo(c *call) {
	err := s.db.Update(func(btx *bbolt.Tx) error { return run(c, btx) })
	var p panicked
	switch {
	case errors.As(err, &p):
		c.panic, c.commits = p.v, nil
	case err != nil:
		c.err, c.commits = err, nil
	}
	close(c.done)
}

// run calls c.fn with a fresh Tx over btx, catching a panic as an error.
func run(c *call, btx *bbolt.Tx) (err error) {
	t := &tx{btx: btx, writable: true}
	defer func() {
		t.end()
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	if err := c.fn(t); err != nil {
		return err
	}
	c.commits = t.commits
	return nil
}

// Close waits for transactions in flight, then closes the file if Open opened it.
// Later calls fail with storage.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return storage.ErrClosed
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.owned {
		return s.db.Close()
	}
	return nil
}
