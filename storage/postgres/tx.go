package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/internal/indexkeys"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// tx adapts a pgx transaction to storage.ReadWriter (a View hands it out as a storage.Reader; its writes refuse then). Scans read in pages and close their
// result before calling back, so a callback may query the same transaction.
type tx struct {
	s        *Store
	ctx      context.Context
	ptx      *pipe
	writable bool
	ended    bool
	failed   error // the first statement that failed: the transaction is aborted
	commits  []func()
	// wsStatus is the status of each workspace this transaction created, replaced
	// or read, for the membership rows it writes (migration 007): reading the
	// workspaces index inside a SERIALIZABLE transaction would make concurrent
	// creators of workspaces conflict with each other.
	wsStatus map[string]string
	// userFlags is the platform flag and suspension of each user this transaction
	// read or wrote, so a replace that changes neither leaves the memberships be.
	userFlags map[string]userFlags
	// fresh holds the workspaces this transaction inserted, each with the users it
	// made members of it. A membership of such a workspace cannot collide with a
	// committed row, only with one inserted here, so its insert is held to ride
	// with the COMMIT (see pipe) and a duplicate is refused from this map.
	fresh map[string]map[string]bool
}

type userFlags struct {
	platform  bool
	suspended time.Time
}

// knowUser remembers a user's decision fields as this transaction sees them.
func (t *tx) knowUser(u member.User) {
	if t.userFlags == nil {
		t.userFlags = map[string]userFlags{}
	}
	t.userFlags[u.ID] = userFlags{u.Platform, u.SuspendedAt}
}

// knowStatus remembers a workspace's status as this transaction sees it.
func (t *tx) knowStatus(id string, st workspace.Status) {
	if t.wsStatus == nil {
		t.wsStatus = map[string]string{}
	}
	t.wsStatus[id] = string(st)
}

var _ storage.ReadWriter = (*tx)(nil)
var _ storage.FullScanner = (*tx)(nil)

// scanPage is how many rows a scan reads per query, at most; firstPage is how many
// the first query of a scan reads (keyset).
const (
	scanPage  = 128
	firstPage = 16
)

func (t *tx) OnCommit(fn func()) {
	if t.writable && fn != nil {
		t.commits = append(t.commits, fn)
	}
}

func (t *tx) canRead() error {
	if t.ended {
		return fmt.Errorf("transaction already ended: %w", storage.ErrClosed)
	}
	return nil
}

func (t *tx) canWrite() error {
	if err := t.canRead(); err != nil {
		return err
	}
	if !t.writable {
		return storage.ErrReadOnly
	}
	return nil
}

// fail records a failed statement and maps the errors the contract names.
func (t *tx) fail(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if t.failed == nil {
			t.failed = err
		}
		if pgErr.Code == "23505" {
			if idx, ok := constraintIndex[pgErr.ConstraintName]; ok {
				return storage.Conflict(idx)
			}
		}
	}
	if t.ctx.Err() != nil {
		return t.ctx.Err()
	}
	return fmt.Errorf("postgres: %w", err)
}

// constraintIndex names the contract's unique index for each constraint.
var constraintIndex = map[string]string{
	"tenancy_users_pkey":                  storage.IndexUserID,
	"tenancy_users_email_key":             storage.IndexUserEmail,
	"tenancy_workspaces_pkey":             storage.IndexWorkspaceID,
	"tenancy_workspaces_slug_key":         storage.IndexWorkspaceSlug,
	"tenancy_workspaces_external_id_key":  storage.IndexWorkspaceExternalID,
	"tenancy_members_pkey":                storage.IndexMember,
	"tenancy_invitations_pkey":            storage.IndexInvitationID,
	"tenancy_invitations_secret_hash_key": storage.IndexInvitationHash,
	"tenancy_tokens_pkey":                 storage.IndexTokenID,
	"tenancy_tokens_hash_key":             storage.IndexTokenHash,
	"tenancy_consumers_pkey":              storage.IndexConsumer,
	"tenancy_webhooks_pkey":               storage.IndexWebhookID,
	"tenancy_webhook_attempts_pkey":       storage.IndexWebhookAttempt,
}

// unstorable reports whether a text argument is one no row can hold: U+0000 or
// bytes that are not UTF-8, which a text column refuses. PostgreSQL would fail
// the statement ("invalid byte sequence"); no key equals such text, so a read by it
// finds nothing, as on every other backend, and never becomes a storage fault.
func unstorable(args []any) bool {
	for _, a := range args {
		if s, ok := a.(string); ok && !storableText(s) {
			return true
		}
	}
	return false
}

func storableText(s string) bool { return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) }

func (t *tx) exec(sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.ptx.Exec(t.ctx, t.s.q(sql), args...)
	return tag, t.fail(err)
}

// execLater is exec for a write whose only answer is success: it goes to the server
// with the next statement that needs an answer, or with the COMMIT (see pipe). A
// write with text no row can hold goes at once, so its failure is the call's.
func (t *tx) execLater(sql string, args ...any) error {
	if unstorable(args) {
		_, err := t.exec(sql, args...)
		return err
	}
	t.ptx.hold(t.s.q(sql), args...)
	return nil
}

// one runs a query for one row; no row is ErrNotFound.
func (t *tx) one(what string, scan func(pgx.Row) error, sql string, args ...any) error {
	if err := t.canRead(); err != nil {
		return err
	}
	if unstorable(args) {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	err := scan(t.ptx.QueryRow(t.ctx, t.s.q(sql), args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	return t.fail(err)
}

// keyset walks a keyset-paged query: it reads a page of rows, closes the result
// (so fn may query the same transaction) and calls fn for each, then asks next for
// the arguments of the page after the last row; a short page ends it. The query's
// last argument is its LIMIT: the first page is firstPage rows and each next one
// twice the last, up to scanPage, so a caller that wants one listing page (most
// do) does not make the database find, and send, a hundred rows it will not read.
func keyset[V any](t *tx, sql string, first []any, next func(last V) []any, scan func(pgx.Row) (V, error), fn func(V) bool) error {
	return keysetFrom(t, firstPage, sql, first, next, scan, fn)
}

// keysetFrom is keyset with a first page of limit rows: for queries whose cost does
// not follow their LIMIT (a trigram search collects and sorts every match), fewer,
// fuller pages are cheaper.
func keysetFrom[V any](t *tx, limit int, sql string, first []any, next func(last V) []any, scan func(pgx.Row) (V, error), fn func(V) bool) error {
	if err := t.canRead(); err != nil {
		return err
	}
	if unstorable(first) {
		return nil // no row holds such a key
	}
	args := first
	for {
		args[len(args)-1] = limit
		rows, err := t.ptx.Query(t.ctx, t.s.q(sql), args...)
		if err != nil {
			return t.fail(err)
		}
		var page []V
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				rows.Close()
				return t.fail(err)
			}
			page = append(page, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return t.fail(err)
		}
		for _, v := range page {
			if !fn(v) {
				return nil
			}
		}
		if len(page) < limit {
			return nil
		}
		args, limit = next(page[len(page)-1]), min(2*limit, scanPage)
	}
}

// paged is keyset over one string key: sql takes its fixed args, then the key to
// continue after, then the LIMIT.
func paged[V any](t *tx, sql string, after string, args []any, scan func(pgx.Row) (V, string, error), fn func(V) bool) error {
	with := func(key string) []any { return append(append(args[:len(args):len(args)], key), scanPage) }
	type keyed struct {
		v   V
		key string
	}
	return keyset(t, sql, with(after), func(last keyed) []any { return with(last.key) },
		func(r pgx.Row) (keyed, error) { v, k, err := scan(r); return keyed{v, k}, err },
		func(k keyed) bool { return fn(k.v) })
}

// Times: NULL is the zero time; everything comes back in UTC.

func tz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

type nullTime struct{ t *time.Time }

func (n nullTime) get() time.Time {
	if n.t == nil {
		return time.Time{}
	}
	return n.t.UTC()
}

func strmap(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func decodeMap(b []byte) (map[string]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", storage.ErrCorrupt, err)
	}
	return m, nil
}

// Users.

const userCols = "id, email, name, platform, created_at, updated_at, suspended_at"

// Each record has a dest function: the scan destinations of its columns, and a
// finish that turns them into the record. scanX scans one row of X; Prefetch
// scans several records from one joined row.

func userDest(u *member.User) ([]any, func() error) {
	var c, up, su *time.Time
	return []any{&u.ID, &u.Email, &u.Name, &u.Platform, &c, &up, &su}, func() error {
		u.CreatedAt, u.UpdatedAt, u.SuspendedAt = nullTime{c}.get(), nullTime{up}.get(), nullTime{su}.get()
		return nil
	}
}

func scanWith[V any](r pgx.Row, dest func(*V) ([]any, func() error)) (V, error) {
	var v V
	d, finish := dest(&v)
	if err := r.Scan(d...); err != nil {
		return v, err
	}
	return v, finish()
}

func scanUser(r pgx.Row) (member.User, error) { return scanWith(r, userDest) }

func (t *tx) GetUser(id string) (u member.User, err error) {
	err = t.one("user", func(r pgx.Row) error { u, err = scanUser(r); return err },
		"SELECT "+userCols+" FROM {p}users WHERE id = $1", id)
	if err == nil {
		t.knowUser(u)
	}
	return u, err
}

func (t *tx) GetUserByEmail(email string) (u member.User, err error) {
	err = t.one("user", func(r pgx.Row) error { u, err = scanUser(r); return err },
		"SELECT "+userCols+" FROM {p}users WHERE email = $1", email)
	if err == nil {
		t.knowUser(u)
	}
	return u, err
}

func (t *tx) CreateUser(u member.User) error {
	if err := t.writeCheck("user", []string{u.ID, u.Email}); err != nil {
		return err
	}
	_, err := t.exec("INSERT INTO {p}users ("+userCols+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		u.ID, u.Email, u.Name, u.Platform, tz(u.CreatedAt), tz(u.UpdatedAt), tz(u.SuspendedAt))
	return err
}

func (t *tx) ReplaceUser(u member.User) error {
	if err := t.writeCheck("user", []string{u.ID, u.Email}); err != nil {
		return err
	}
	if err := t.replaced("user", u.ID)(t.exec("UPDATE {p}users SET email = $2, name = $3, platform = $4, created_at = $5, updated_at = $6, suspended_at = $7 WHERE id = $1",
		u.ID, u.Email, u.Name, u.Platform, tz(u.CreatedAt), tz(u.UpdatedAt), tz(u.SuspendedAt))); err != nil {
		return err
	}
	// The user's memberships carry their platform flag and suspension (see
	// migration 007): unless this transaction saw them as they are now, rewrite the
	// rows that do not agree.
	was, known := t.userFlags[u.ID]
	t.knowUser(u)
	if known && was.platform == u.Platform && was.suspended.Equal(u.SuspendedAt) {
		return nil
	}
	return t.execLater(`UPDATE {p}members SET user_platform = $2, user_suspended_at = $3
		WHERE user_id = $1 AND (user_platform IS DISTINCT FROM $2 OR user_suspended_at IS DISTINCT FROM $3)`,
		u.ID, u.Platform, tz(u.SuspendedAt))
}

func (t *tx) DeleteUser(id string) error {
	if err := t.writeCheck("user", []string{id}); err != nil {
		return err
	}
	return t.replaced("user", id)(t.exec("DELETE FROM {p}users WHERE id = $1", id))
}

var _ storage.SuspendedUserScanner = (*tx)(nil)

// ScanSuspendedUsers walks the suspended users through a partial index.
func (t *tx) ScanSuspendedUsers(fn func(member.User) bool) error {
	return paged(t, "SELECT "+userCols+" FROM {p}users WHERE suspended_at IS NOT NULL AND id > $1 ORDER BY id LIMIT $2", "", nil,
		func(r pgx.Row) (member.User, string, error) { u, err := scanUser(r); return u, u.ID, err }, fn)
}

func (t *tx) ScanUsers(after string, fn func(member.User) bool) error {
	return paged(t, "SELECT "+userCols+" FROM {p}users WHERE id > $1 ORDER BY id LIMIT $2", after, nil,
		func(r pgx.Row) (member.User, string, error) { u, err := scanUser(r); return u, u.ID, err }, fn)
}

// writeCheck refuses a write in a read transaction and records without their keys.
func (t *tx) writeCheck(kind string, ids []string, hashes ...[]byte) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	return storage.CheckKeys(kind, ids, hashes...)
}

// replaced turns an UPDATE's result into the contract's: no row is ErrNotFound.
func (t *tx) replaced(kind, key string) func(pgconn.CommandTag, error) error {
	return func(tag pgconn.CommandTag, err error) error {
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%s %q: %w", kind, key, storage.ErrNotFound)
		}
		return nil
	}
}

// Workspaces.

const wsCols = "id, slug, name, description, status, metadata, external_id, starter_kit, owner_id, created_at, updated_at, deleted_at, deleted_from, flags"

func workspaceDest(w *workspace.Workspace) ([]any, func() error) {
	var md []byte
	var ext *string
	var status, from string
	var c, u, d *time.Time
	return []any{&w.ID, &w.Slug, &w.Name, &w.Description, &status, &md, &ext, &w.StarterKit, &w.OwnerID, &c, &u, &d, &from, &w.Flags}, func() error {
		if ext != nil {
			w.ExternalID = *ext
		}
		if len(w.Flags) == 0 {
			w.Flags = nil // as the other backends hold it
		}
		w.Status, w.DeletedFrom = workspace.Status(status), workspace.Status(from)
		w.CreatedAt, w.UpdatedAt, w.DeletedAt = nullTime{c}.get(), nullTime{u}.get(), nullTime{d}.get()
		var err error
		w.Metadata, err = decodeMap(md)
		return err
	}
}

// flagsArg is a workspace's flags as a text[] parameter: never NULL.
func flagsArg(f []string) []string {
	if f == nil {
		return []string{}
	}
	return f
}

func scanWorkspace(r pgx.Row) (workspace.Workspace, error) { return scanWith(r, workspaceDest) }

func wsArgs(w workspace.Workspace) []any {
	var ext any
	if w.ExternalID != "" {
		ext = w.ExternalID
	}
	return []any{w.ID, w.Slug, w.Name, w.Description, string(w.Status), strmap(w.Metadata), ext, w.StarterKit, w.OwnerID,
		tz(w.CreatedAt), tz(w.UpdatedAt), tz(w.DeletedAt), string(w.DeletedFrom), flagsArg(w.Flags), strings.ToLower(w.Name)}
}

func (t *tx) getWorkspace(where string, arg any) (w workspace.Workspace, err error) {
	err = t.one("workspace", func(r pgx.Row) error { w, err = scanWorkspace(r); return err },
		"SELECT "+wsCols+" FROM {p}workspaces WHERE "+where+" = $1", arg)
	if err == nil {
		t.knowStatus(w.ID, w.Status)
	}
	return w, err
}

func (t *tx) GetWorkspace(id string) (workspace.Workspace, error) { return t.getWorkspace("id", id) }

func (t *tx) GetWorkspaceBySlug(slug string) (workspace.Workspace, error) {
	return t.getWorkspace("slug", slug)
}

func (t *tx) GetWorkspaceByExternalID(ext string) (workspace.Workspace, error) {
	return t.getWorkspace("external_id", ext)
}

func (t *tx) CreateWorkspace(w workspace.Workspace) error {
	if err := t.writeCheck("workspace", []string{w.ID, w.Slug}); err != nil {
		return err
	}
	_, err := t.exec("INSERT INTO {p}workspaces ("+wsCols+", name_lower) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)", wsArgs(w)...)
	if err == nil {
		t.knowStatus(w.ID, w.Status)
		if t.fresh == nil {
			t.fresh = map[string]map[string]bool{}
		}
		t.fresh[w.ID] = map[string]bool{}
	}
	return err
}

func (t *tx) ReplaceWorkspace(w workspace.Workspace) error {
	if err := t.writeCheck("workspace", []string{w.ID, w.Slug}); err != nil {
		return err
	}
	if err := t.replaced("workspace", w.ID)(t.exec(`UPDATE {p}workspaces SET slug = $2, name = $3, description = $4, status = $5,
		metadata = $6, external_id = $7, starter_kit = $8, owner_id = $9, created_at = $10, updated_at = $11, deleted_at = $12,
		deleted_from = $13, flags = $14, name_lower = $15 WHERE id = $1`, wsArgs(w)...)); err != nil {
		return err
	}
	// The workspace's memberships and tokens carry its status (see migration 007):
	// unless this transaction saw it as it is now, rewrite the rows that do not agree.
	was, known := t.wsStatus[w.ID]
	t.knowStatus(w.ID, w.Status)
	if known && was == string(w.Status) {
		return nil
	}
	if err := t.execLater(`UPDATE {p}members SET ws_status = $2 WHERE workspace_id = $1 AND ws_status IS DISTINCT FROM $2`,
		w.ID, string(w.Status)); err != nil {
		return err
	}
	return t.execLater(`UPDATE {p}tokens SET ws_status = $2 WHERE workspace_id = $1 AND workspace_id <> '' AND ws_status IS DISTINCT FROM $2`,
		w.ID, string(w.Status))
}

func (t *tx) ScanWorkspaces(after string, fn func(workspace.Workspace) bool) error {
	return paged(t, "SELECT "+wsCols+" FROM {p}workspaces WHERE id > $1 ORDER BY id LIMIT $2", after, nil,
		func(r pgx.Row) (workspace.Workspace, string, error) { w, err := scanWorkspace(r); return w, w.ID, err }, fn)
}

var _ storage.WorkspaceSearcher = (*tx)(nil)

// SearchWorkspaces answers a filtered list through the (status, id) index for a
// status and, for a name, in two phases, because the pg_trgm GIN index's cost
// follows the rows that hold the needle's trigrams, not the matches:
//
//   - While matches are dense, probes: each reads the next probeRows rows in id
//     order and keeps those containing the needle. A needle most names hold
//     ("workspace") fills a page from the first rows, whatever the store's size.
//   - Once a probe finds fewer than firstPage matches, the GIN index takes over. Its
//     condition is the needle's rarest word, by a count on the probe's rows, when
//     that word is rare there: a needle like "workspace 12345" then reads the posting
//     lists of "12345" only, not those of "workspace", which every row holds.
//     strpos on the whole needle keeps the answer exact.
//
// Each query is planned for its own pattern (QueryExecModeExec): a generic plan
// could not tell a rare needle from a common one. Under SearchScan (no trigram
// index) a search is the first phase only, to the end of the table if need be.
func (t *tx) SearchWorkspaces(q storage.WorkspaceQuery, after string, fn func(workspace.Workspace) bool) error {
	status, fixed := "status <> 'deleted'", []any{}
	if q.Status != "" {
		status, fixed = "status = $2", []any{string(q.Status)}
	}
	next := "$" + strconv.Itoa(len(fixed)+2) // the placeholder after id and status
	if q.NameContains == "" {
		sql := "SELECT " + wsCols + " FROM {p}workspaces WHERE id > $1 AND " + status + " ORDER BY id LIMIT " + next
		args := func(after string) []any {
			return append(append([]any{pgx.QueryExecModeExec, after}, fixed...), scanPage)
		}
		return keyset(t, sql, args(after), func(last workspace.Workspace) []any { return args(last.ID) }, scanWorkspace, fn)
	}
	if err := t.canRead(); err != nil {
		return err
	}
	needle := q.NameContains // lowercase: the Manager lowers it, as name_lower is
	if unstorable([]any{needle, after}) {
		return nil // no name holds it
	}
	if t.s.search == SearchScan {
		// No trigram index: walk the rows in ID order (the primary key, or the
		// (status, id) index) and keep the names that hold the needle.
		sql := "SELECT " + wsCols + " FROM {p}workspaces WHERE id > $1 AND " + status +
			" AND strpos(name_lower, " + next + ") > 0 ORDER BY id LIMIT $" + strconv.Itoa(len(fixed)+3)
		args := func(after string) []any {
			return append(append([]any{pgx.QueryExecModeExec, after}, fixed...), needle, scanPage)
		}
		return keyset(t, sql, args(after), func(last workspace.Workspace) []any { return args(last.ID) }, scanWorkspace, fn)
	}
	window := "SELECT * FROM {p}workspaces WHERE id > $1 AND " + status + " ORDER BY id LIMIT " + strconv.Itoa(probeRows)
	probe := "SELECT " + wsCols + " FROM (" + window + ") s WHERE strpos(name_lower, " + next + ") > 0 ORDER BY id LIMIT " + strconv.Itoa(scanPage)
	for {
		var page []workspace.Workspace
		rows, err := t.ptx.Query(t.ctx, t.s.q(probe), append(append([]any{pgx.QueryExecModeExec, after}, fixed...), needle)...)
		if err != nil {
			return t.fail(err)
		}
		for rows.Next() {
			w, err := scanWorkspace(rows)
			if err != nil {
				rows.Close()
				return t.fail(err)
			}
			page = append(page, w)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return t.fail(err)
		}
		if len(page) < firstPage {
			break // sparse from here: the index's turn (it finds these again)
		}
		for _, w := range page {
			if !fn(w) {
				return nil
			}
		}
		after = page[len(page)-1].ID
	}
	pattern, err := t.indexPattern(window, fixed, after, needle)
	if err != nil {
		return err
	}
	sql := "SELECT " + wsCols + " FROM {p}workspaces WHERE id > $1 AND " + status +
		" AND name_lower LIKE " + next + " AND strpos(name_lower, $" + strconv.Itoa(len(fixed)+3) + ") > 0" +
		" ORDER BY id LIMIT $" + strconv.Itoa(len(fixed)+4)
	args := func(after string) []any {
		return append(append([]any{pgx.QueryExecModeExec, after}, fixed...), pattern, needle, scanPage)
	}
	// A trigram search collects and sorts every candidate whatever its LIMIT: full
	// pages from the first query.
	return keysetFrom(t, scanPage, sql, args(after), func(last workspace.Workspace) []any { return args(last.ID) }, scanWorkspace, fn)
}

// probeRows is how many rows, in id order, a name search's probe reads.
const probeRows = 1024

// indexPattern is the LIKE pattern a name search gives the trigram index: the
// needle's rarest word (a run of letters and digits, three or more of them, so it
// has trigrams) when it is in at most 1% of the rows of window (a probe's window),
// else the whole needle. Any part of the needle finds a superset of its matches;
// the rarest part reads the fewest posting lists.
func (t *tx) indexPattern(window string, fixed []any, after, needle string) (string, error) {
	like := func(s string) string { return "%" + likeEscaper.Replace(s) + "%" }
	var words []string
	for _, w := range strings.FieldsFunc(needle, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if utf8.RuneCountInString(w) >= 3 && w != needle && !slices.Contains(words, w) && len(words) < 8 {
			words = append(words, w)
		}
	}
	if len(words) == 0 {
		return like(needle), nil
	}
	counts := make([]string, len(words)+1)
	args := append([]any{after}, fixed...)
	for i, w := range words {
		args = append(args, w)
		counts[i] = "count(*) FILTER (WHERE strpos(name_lower, $" + strconv.Itoa(len(args)) + ") > 0)"
	}
	counts[len(words)] = "count(*)"
	got := make([]int64, len(counts))
	dest := make([]any, len(counts))
	for i := range got {
		dest[i] = &got[i]
	}
	if err := t.ptx.QueryRow(t.ctx, t.s.q("SELECT "+strings.Join(counts, ", ")+" FROM ("+window+") s"), args...).Scan(dest...); err != nil {
		return "", t.fail(err)
	}
	best := 0
	for i := range words {
		if got[i] < got[best] || got[i] == got[best] && len(words[i]) > len(words[best]) {
			best = i
		}
	}
	if sampled := got[len(words)]; got[best]*100 > sampled {
		return like(needle), nil // no word is rare here: the whole needle's trigrams together
	}
	return like(words[best]), nil
}

// likeEscaper makes a needle literal in a LIKE pattern (backslash is the escape).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (t *tx) ScanDeletedWorkspaces(cutoff time.Time, fn func(workspace.Workspace) bool) error {
	// Keyset paging on (deleted_at, id) through the partial index of deleted
	// workspaces; the zero time (NULL) counts as -infinity, first.
	const at = "coalesce(deleted_at, '-infinity')"
	sql := `SELECT ` + wsCols + ` FROM {p}workspaces
		WHERE status = 'deleted' AND ` + at + ` <= $1 AND (` + at + `, id) > ($2::timestamptz, $3)
		ORDER BY ` + at + `, id LIMIT $4`
	next := func(last workspace.Workspace) []any {
		var after any = "-infinity"
		if !last.DeletedAt.IsZero() {
			after = last.DeletedAt
		}
		return []any{cutoff, after, last.ID, scanPage}
	}
	return keyset(t, sql, []any{cutoff, "-infinity", "", scanPage}, next, scanWorkspace, fn)
}

func (t *tx) PurgeWorkspace(id string) (storage.PurgeCounts, error) {
	var n storage.PurgeCounts
	if err := t.canWrite(); err != nil {
		return n, err
	}
	if unstorable([]any{id}) {
		return n, fmt.Errorf("workspace %q: %w", id, storage.ErrNotFound)
	}
	var found int
	err := t.ptx.QueryRow(t.ctx, t.s.q(`WITH
		w AS (DELETE FROM {p}workspaces WHERE id = $1 RETURNING 1),
		m AS (DELETE FROM {p}members WHERE workspace_id = $1 RETURNING 1),
		i AS (DELETE FROM {p}invitations WHERE workspace_id = $1 RETURNING 1),
		k AS (DELETE FROM {p}tokens WHERE workspace_id = $1 AND workspace_id <> '' RETURNING 1),
		e AS (DELETE FROM {p}events WHERE workspace_id = $1 AND workspace_id <> '' RETURNING 1)
		SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM m), (SELECT count(*) FROM i),
		       (SELECT count(*) FROM k), (SELECT count(*) FROM e)`), id).
		Scan(&found, &n.Members, &n.Invitations, &n.Tokens, &n.Events)
	if err != nil {
		return n, t.fail(err)
	}
	if found == 0 {
		return storage.PurgeCounts{}, t.abandon(fmt.Errorf("workspace %q: %w", id, storage.ErrNotFound))
	}
	delete(t.fresh, id)
	return n, nil
}

// abandon makes a refused write end the transaction, as the contract allows: the
// statement may already have changed rows (a purge of a missing workspace deletes
// orphans), and nothing of it may commit.
func (t *tx) abandon(err error) error {
	if t.failed == nil {
		t.failed = err
	}
	return err
}

// Members.

const memberCols = "workspace_id, user_id, role, owner, invited_by, joined_at, updated_at"

func memberDest(m *member.Member) ([]any, func() error) {
	var role string
	var j, u *time.Time
	return []any{&m.WorkspaceID, &m.UserID, &role, &m.Owner, &m.InvitedBy, &j, &u}, func() error {
		m.Role, m.JoinedAt, m.UpdatedAt = rbac.Role(role), nullTime{j}.get(), nullTime{u}.get()
		return nil
	}
}

func scanMember(r pgx.Row) (member.Member, error) { return scanWith(r, memberDest) }

func (t *tx) GetMember(wsID, userID string) (m member.Member, err error) {
	err = t.one("member", func(r pgx.Row) error { m, err = scanMember(r); return err },
		"SELECT "+memberCols+" FROM {p}members WHERE workspace_id = $1 AND user_id = $2", wsID, userID)
	return m, err
}

func (t *tx) CreateMember(m member.Member) error {
	if err := t.writeCheck("member", []string{m.WorkspaceID, m.UserID}); err != nil {
		return err
	}
	// The decision columns (migration 007) hold what this transaction sees of the
	// workspace and the user: the workspace's status as this transaction wrote or
	// read it (every caller has; read otherwise), the user's read in the statement.
	status := "(SELECT status FROM {p}workspaces WHERE id = $1)"
	args := []any{m.WorkspaceID, m.UserID, string(m.Role), m.Owner, m.InvitedBy, tz(m.JoinedAt), tz(m.UpdatedAt)}
	if st, ok := t.wsStatus[m.WorkspaceID]; ok {
		status, args = "$8", append(args, st)
	}
	insert := "INSERT INTO {p}members (" + memberCols + `, ws_status, user_platform, user_suspended_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, ` + status + `,
		(SELECT platform FROM {p}users WHERE id = $2), (SELECT suspended_at FROM {p}users WHERE id = $2))`
	if users, ok := t.fresh[m.WorkspaceID]; ok { // a workspace this transaction inserted: see tx.fresh
		if users[m.UserID] {
			return storage.Conflict(storage.IndexMember)
		}
		if err := t.execLater(insert, args...); err != nil {
			return err
		}
		users[m.UserID] = true
		return nil
	}
	_, err := t.exec(insert, args...)
	return err
}

func (t *tx) ReplaceMember(m member.Member) error {
	if err := t.writeCheck("member", []string{m.WorkspaceID, m.UserID}); err != nil {
		return err
	}
	return t.replaced("member", m.WorkspaceID+"/"+m.UserID)(t.exec(`UPDATE {p}members SET role = $3, owner = $4, invited_by = $5,
		joined_at = $6, updated_at = $7 WHERE workspace_id = $1 AND user_id = $2`,
		m.WorkspaceID, m.UserID, string(m.Role), m.Owner, m.InvitedBy, tz(m.JoinedAt), tz(m.UpdatedAt)))
}

func (t *tx) DeleteMember(wsID, userID string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if unstorable([]any{wsID, userID}) {
		return fmt.Errorf("member %q: %w", wsID+"/"+userID, storage.ErrNotFound)
	}
	if err := t.replaced("member", wsID+"/"+userID)(t.exec("DELETE FROM {p}members WHERE workspace_id = $1 AND user_id = $2", wsID, userID)); err != nil {
		return err
	}
	delete(t.fresh[wsID], userID)
	return nil
}

func (t *tx) ScanMembers(wsID, after string, fn func(member.Member) bool) error {
	return paged(t, "SELECT "+memberCols+" FROM {p}members WHERE workspace_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
		after, []any{wsID}, func(r pgx.Row) (member.Member, string, error) { m, err := scanMember(r); return m, m.UserID, err }, fn)
}

func (t *tx) ScanUserMemberships(userID, after string, fn func(member.Member) bool) error {
	return paged(t, "SELECT "+memberCols+" FROM {p}members WHERE user_id = $1 AND workspace_id > $2 ORDER BY workspace_id LIMIT $3",
		after, []any{userID}, func(r pgx.Row) (member.Member, string, error) {
			m, err := scanMember(r)
			return m, m.WorkspaceID, err
		}, fn)
}

func (t *tx) ScanAllMembers(fn func(member.Member) bool) error {
	// Keyset paging on the composite key, encoded as "workspace\x00user" (IDs never
	// hold a zero byte).
	return paged(t, `SELECT `+memberCols+` FROM {p}members WHERE (workspace_id, user_id) > (split_part($1, chr(1), 1), split_part($1, chr(1), 2))
		ORDER BY workspace_id, user_id LIMIT $2`, "", nil,
		func(r pgx.Row) (member.Member, string, error) {
			m, err := scanMember(r)
			return m, m.WorkspaceID + "\x01" + m.UserID, err
		}, fn)
}

// Invitations.

const invCols = "id, workspace_id, email, role, inviter_id, secret_hash, hint, created_at, expires_at, accepted_at, accepted_by, revoked_at"

func scanInvitation(r pgx.Row) (member.Invitation, error) {
	var i member.Invitation
	var role string
	var c, e, a, rv *time.Time
	err := r.Scan(&i.ID, &i.WorkspaceID, &i.Email, &role, &i.InviterID, &i.SecretHash, &i.Hint, &c, &e, &a, &i.AcceptedBy, &rv)
	i.Role = rbac.Role(role)
	i.CreatedAt, i.ExpiresAt, i.AcceptedAt, i.RevokedAt = nullTime{c}.get(), nullTime{e}.get(), nullTime{a}.get(), nullTime{rv}.get()
	return i, err
}

func invArgs(i member.Invitation) []any {
	return []any{i.ID, i.WorkspaceID, i.Email, string(i.Role), i.InviterID, i.SecretHash, i.Hint, tz(i.CreatedAt), tz(i.ExpiresAt),
		tz(i.AcceptedAt), i.AcceptedBy, tz(i.RevokedAt)}
}

func (t *tx) GetInvitation(id string) (i member.Invitation, err error) {
	err = t.one("invitation", func(r pgx.Row) error { i, err = scanInvitation(r); return err },
		"SELECT "+invCols+" FROM {p}invitations WHERE id = $1", id)
	return i, err
}

func (t *tx) GetInvitationByHash(hash []byte) (i member.Invitation, err error) {
	err = t.one("invitation", func(r pgx.Row) error { i, err = scanInvitation(r); return err },
		"SELECT "+invCols+" FROM {p}invitations WHERE secret_hash = $1", hash)
	return i, err
}

func (t *tx) CreateInvitation(i member.Invitation) error {
	if err := t.writeCheck("invitation", []string{i.ID, i.WorkspaceID}, i.SecretHash); err != nil {
		return err
	}
	_, err := t.exec("INSERT INTO {p}invitations ("+invCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)", invArgs(i)...)
	return err
}

func (t *tx) ReplaceInvitation(i member.Invitation) error {
	if err := t.writeCheck("invitation", []string{i.ID, i.WorkspaceID}, i.SecretHash); err != nil {
		return err
	}
	return t.replaced("invitation", i.ID)(t.exec(`UPDATE {p}invitations SET workspace_id = $2, email = $3, role = $4, inviter_id = $5,
		secret_hash = $6, hint = $7, created_at = $8, expires_at = $9, accepted_at = $10, accepted_by = $11, revoked_at = $12
		WHERE id = $1`, invArgs(i)...))
}

func (t *tx) DeleteInvitation(id string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if unstorable([]any{id}) {
		return fmt.Errorf("invitation %q: %w", id, storage.ErrNotFound)
	}
	return t.replaced("invitation", id)(t.exec("DELETE FROM {p}invitations WHERE id = $1", id))
}

func (t *tx) ScanInvitations(wsID, after string, fn func(member.Invitation) bool) error {
	return paged(t, "SELECT "+invCols+" FROM {p}invitations WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3",
		after, []any{wsID}, func(r pgx.Row) (member.Invitation, string, error) { i, err := scanInvitation(r); return i, i.ID, err }, fn)
}

func (t *tx) ScanAllInvitations(after string, fn func(member.Invitation) bool) error {
	return paged(t, "SELECT "+invCols+" FROM {p}invitations WHERE id > $1 ORDER BY id LIMIT $2",
		after, nil, func(r pgx.Row) (member.Invitation, string, error) { i, err := scanInvitation(r); return i, i.ID, err }, fn)
}

// Tokens.

const tokCols = "id, kind, name, user_id, workspace_id, role, hash, hint, created_at, expires_at, revoked_at, last_used_at, user_suspended"

func tokenDest(k *token.Token) ([]any, func() error) {
	var kind, role string
	var c, e, rv, lu *time.Time
	return []any{&k.ID, &kind, &k.Name, &k.UserID, &k.WorkspaceID, &role, &k.Hash, &k.Hint, &c, &e, &rv, &lu, &k.UserSuspended}, func() error {
		k.Kind, k.Role = token.Kind(kind), rbac.Role(role)
		k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt = nullTime{c}.get(), nullTime{e}.get(), nullTime{rv}.get(), nullTime{lu}.get()
		return nil
	}
}

func scanToken(r pgx.Row) (token.Token, error) { return scanWith(r, tokenDest) }

func tokArgs(k token.Token) []any {
	return []any{k.ID, string(k.Kind), k.Name, k.UserID, k.WorkspaceID, string(k.Role), k.Hash, k.Hint, tz(k.CreatedAt),
		tz(k.ExpiresAt), tz(k.RevokedAt), tz(k.LastUsedAt), k.UserSuspended}
}

func (t *tx) GetToken(id string) (k token.Token, err error) {
	err = t.one("token", func(r pgx.Row) error { k, err = scanToken(r); return err },
		"SELECT "+tokCols+" FROM {p}tokens WHERE id = $1", id)
	return k, err
}

func (t *tx) GetTokenByHash(hash []byte) (k token.Token, err error) {
	err = t.one("token", func(r pgx.Row) error { k, err = scanToken(r); return err },
		"SELECT "+tokCols+" FROM {p}tokens WHERE hash = $1", hash)
	return k, err
}

func (t *tx) CreateToken(k token.Token) error {
	if err := t.writeCheck("token", []string{k.ID, k.UserID}, k.Hash); err != nil {
		return err
	}
	// A workspace token carries its workspace's status (migration 007), as for
	// CreateMember: as this transaction wrote or read it, else read here.
	status, args := "NULL", tokArgs(k)
	if k.WorkspaceID != "" {
		status = "(SELECT status FROM {p}workspaces WHERE id = $5)"
		if st, ok := t.wsStatus[k.WorkspaceID]; ok {
			status, args = "$14", append(args, st)
		}
	}
	_, err := t.exec("INSERT INTO {p}tokens ("+tokCols+", ws_status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "+status+")", args...)
	return err
}

func (t *tx) ReplaceToken(k token.Token) error {
	if err := t.writeCheck("token", []string{k.ID, k.UserID}, k.Hash); err != nil {
		return err
	}
	return t.replaced("token", k.ID)(t.exec(`UPDATE {p}tokens SET kind = $2, name = $3, user_id = $4, workspace_id = $5, role = $6,
		hash = $7, hint = $8, created_at = $9, expires_at = $10, revoked_at = $11, last_used_at = $12,
		user_suspended = $13 WHERE id = $1`, tokArgs(k)...))
}

// TouchToken is one conditional UPDATE: it moves last_used_at forward and never
// reads the row into the process, so nothing committed meanwhile is overwritten.
func (t *tx) TouchToken(id string, at time.Time) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if unstorable([]any{id}) {
		return nil // no such token: a touch skips a token that is gone
	}
	_, err := t.exec("UPDATE {p}tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)", id, at)
	return err
}

func (t *tx) DeleteToken(id string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if unstorable([]any{id}) {
		return fmt.Errorf("token %q: %w", id, storage.ErrNotFound)
	}
	return t.replaced("token", id)(t.exec("DELETE FROM {p}tokens WHERE id = $1", id))
}

func (t *tx) ScanWorkspaceTokens(wsID, after string, fn func(token.Token) bool) error {
	if wsID == "" {
		return nil // personal tokens belong to no workspace
	}
	return paged(t, "SELECT "+tokCols+" FROM {p}tokens WHERE workspace_id = $1 AND workspace_id <> '' AND id > $2 ORDER BY id LIMIT $3",
		after, []any{wsID}, func(r pgx.Row) (token.Token, string, error) { k, err := scanToken(r); return k, k.ID, err }, fn)
}

func (t *tx) ScanUserTokens(userID, after string, fn func(token.Token) bool) error {
	return paged(t, "SELECT "+tokCols+" FROM {p}tokens WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
		after, []any{userID}, func(r pgx.Row) (token.Token, string, error) { k, err := scanToken(r); return k, k.ID, err }, fn)
}

func (t *tx) ScanTokens(after string, fn func(token.Token) bool) error {
	return paged(t, "SELECT "+tokCols+" FROM {p}tokens WHERE id > $1 ORDER BY id LIMIT $2",
		after, nil, func(r pgx.Row) (token.Token, string, error) { k, err := scanToken(r); return k, k.ID, err }, fn)
}

// Events. A position is the event's (xid, seq) as two 16-digit hex numbers, so byte
// order is (xid, seq) order.

func position(xid, seq uint64) string {
	return indexkeys.SequencePosition(xid) + indexkeys.SequencePosition(seq)
}

// parsePosition reads a position; "" is the start.
func parsePosition(p string) (xid, seq uint64, err error) {
	if p == "" {
		return 0, 0, nil
	}
	if len(p) != 32 {
		return 0, 0, fmt.Errorf("postgres: feed position %q is not 32 hex digits", p)
	}
	if xid, err = strconv.ParseUint(p[:16], 16, 64); err == nil {
		seq, err = strconv.ParseUint(p[16:], 16, 64)
	}
	return xid, seq, err
}

// The xid is read as text under another name: "ORDER BY xid" must mean the
// column, not this output (which would sort as text).
const eventCols = "xid::text AS xid_text, seq, id, type, workspace_id, actor, subject, data, time"

func scanEvent(r pgx.Row) (storage.Event, error) {
	var e storage.Event
	var xid string
	var seq int64
	var data []byte
	var at *time.Time
	if err := r.Scan(&xid, &seq, &e.ID, &e.Type, &e.WorkspaceID, &e.Actor, &e.Subject, &data, &at); err != nil {
		return e, err
	}
	x, err := strconv.ParseUint(xid, 10, 64)
	if err != nil {
		return e, fmt.Errorf("%w: event xid %q", storage.ErrCorrupt, xid)
	}
	e.Position, e.Time = position(x, uint64(seq)), nullTime{at}.get()
	e.Data, err = decodeMap(data)
	return e, err
}

// AppendEvent stores an event under (this transaction's ID, the next sequence
// number), or with FeedHeadRow under (0, the head row's next number).
func (t *tx) AppendEvent(e storage.Event) error {
	if err := t.writeCheck("event", []string{e.ID}); err != nil {
		return err
	}
	xid, seq := "pg_current_xact_id()", "nextval('{p}events_seq')"
	if t.s.feed == FeedHeadRow {
		// The head row's next number; the row stays locked until this transaction
		// ends, so numbers are taken in commit order.
		xid = "'0'::" + t.s.xidType
		var n int64
		if err := t.ptx.QueryRow(t.ctx, t.s.q("UPDATE {p}feed_head SET last = last + 1 RETURNING last")).Scan(&n); err != nil {
			return t.fail(err)
		}
		seq = strconv.FormatInt(n, 10)
	}
	return t.execLater("INSERT INTO {p}events (xid, seq, id, type, workspace_id, actor, subject, data, time) VALUES ("+
		xid+", "+seq+", $1, $2, $3, $4, $5, $6, $7)",
		e.ID, e.Type, e.WorkspaceID, e.Actor, e.Subject, strmap(maps.Clone(e.Data)), tz(e.Time)) // sent later: a copy
}

// visible is the feed's watermark: with transaction IDs, only events below the
// oldest transaction still running, so none can commit later behind a reader.
func (t *tx) visible() string {
	if t.s.feed == FeedHeadRow {
		return "true"
	}
	return "xid < pg_snapshot_xmin(pg_current_snapshot())"
}

func (t *tx) scanEvents(where string, args []any, after string, fn func(storage.Event) bool) error {
	xid, seq, err := parsePosition(after)
	if err != nil {
		return err
	}
	n := len(args)
	sql := "SELECT " + eventCols + " FROM {p}events WHERE " + where + " AND " + t.visible() +
		" AND (xid, seq) > ($" + strconv.Itoa(n+1) + "::text::" + t.s.xidType + ", $" + strconv.Itoa(n+2) + ") ORDER BY xid, seq LIMIT $" + strconv.Itoa(n+3)
	from := func(xid, seq uint64) []any {
		return append(append(args[:n:n], strconv.FormatUint(xid, 10)), int64(seq), scanPage)
	}
	next := func(last storage.Event) []any {
		x, s, _ := parsePosition(last.Position)
		return from(x, s)
	}
	return keyset(t, sql, from(xid, seq), next, scanEvent, fn)
}

func (t *tx) FeedHead() (string, error) {
	var xid string
	var seq int64
	err := t.one("feed head", func(r pgx.Row) error { return r.Scan(&xid, &seq) },
		"SELECT xid::text, seq FROM {p}events WHERE "+t.visible()+" ORDER BY xid DESC, seq DESC LIMIT 1")
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	x, err := strconv.ParseUint(xid, 10, 64)
	if err != nil {
		return "", fmt.Errorf("postgres: feed head: %w", err)
	}
	return position(x, uint64(seq)), nil
}

func (t *tx) ScanEvents(after string, fn func(storage.Event) bool) error {
	return t.scanEvents("true", nil, after, fn)
}

func (t *tx) ScanWorkspaceEvents(wsID, after string, fn func(storage.Event) bool) error {
	if wsID == "" {
		return nil
	}
	return t.scanEvents("workspace_id = $1 AND workspace_id <> ''", []any{wsID}, after, fn)
}

// Counters: a writer adds to the shard of its connection; readers sum.

func (t *tx) Counter(name string) (n int64, err error) {
	if err := t.canRead(); err != nil {
		return 0, err
	}
	if !storableText(name) {
		return 0, nil // no counter has such a name
	}
	err = t.ptx.QueryRow(t.ctx, t.s.q("SELECT coalesce(sum(value), 0)::bigint FROM {p}counters WHERE name = $1"), name).Scan(&n)
	return n, t.fail(err)
}

func (t *tx) AddCounter(name string, delta int64) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	return t.execLater(`INSERT INTO {p}counters (name, shard, value) VALUES ($1, pg_backend_pid() % $3, $2)
		ON CONFLICT (name, shard) DO UPDATE SET value = {p}counters.value + EXCLUDED.value`, name, delta, t.s.shards)
}

func (t *tx) ScanCounters(fn func(string, int64) bool) error {
	type counter struct {
		name string
		n    int64
	}
	return paged(t, "SELECT name, sum(value)::bigint FROM {p}counters WHERE name > $1 GROUP BY name ORDER BY name LIMIT $2", "", nil,
		func(r pgx.Row) (counter, string, error) {
			var c counter
			err := r.Scan(&c.name, &c.n)
			return c, c.name, err
		}, func(c counter) bool { return fn(c.name, c.n) })
}

// Settings.

func (t *tx) Setting(name string) (v []byte, err error) {
	err = t.one("setting", func(r pgx.Row) error { return r.Scan(&v) }, "SELECT value FROM {p}settings WHERE name = $1", name)
	return v, err
}

func (t *tx) PutSetting(name string, value []byte) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("setting: empty name: %w", storage.ErrInvalidKey)
	}
	if value == nil {
		value = []byte{}
	}
	_, err := t.exec("INSERT INTO {p}settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", name, value)
	return err
}
