// Package memory is an in-memory tenancy storage backend, for tests and
// single-process applications.
//
// Every committed state is an immutable snapshot of copy-on-write B-trees
// (github.com/google/btree). Readers load the current snapshot with one atomic read
// and never lock; one writer at a time clones the trees (an O(1), lazy copy), writes
// to the clones and publishes them on commit. Rolling back is dropping the clones.
// Values are copied in and out, so callers never share memory with the store.
//
// The workspace indexes (slug, external ID, retention, status, name grams), the
// search over them and their consistency check are shared with the bolt backend
// (storage/internal/wsindex); this package supplies the trees they live in.
package memory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/internal/indexkeys"
	"github.com/tenancykit/tenancy/storage/internal/wsindex"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// Store is an in-memory storage.Storage. The zero value is not usable: call New.
type Store struct {
	mu     sync.Mutex // held by the one writer
	stamp  uint64     // the last write transaction's stamp (see appendLog); under mu
	undo   []undoer   // the running writer's in-place appends, to take back on rollback; under mu
	root   atomic.Pointer[snapshot]
	closed atomic.Bool
}

var _ storage.Storage = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.root.Store(newSnapshot())
	return s
}

// View runs fn against the latest committed snapshot, without locking.
func (s *Store) View(ctx context.Context, fn func(storage.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return storage.ErrClosed
	}
	return fn(s.root.Load())
}

// Update runs fn in the single write transaction and publishes its writes if fn
// returns nil. An error or a panic in fn discards every write.
func (s *Store) Update(ctx context.Context, fn func(storage.ReadWriter) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	commits, err := s.update(fn)
	if err != nil {
		return err
	}
	for _, f := range commits {
		f()
	}
	return nil
}

func (s *Store) update(fn func(storage.ReadWriter) error) ([]func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	s.stamp++
	// One undo list serves every transaction in turn (one writer at a time): it
	// grows once, not in every transaction.
	appended := &s.undo
	tx := &writeTx{snapshot: s.root.Load().clone(s.stamp, appended)}
	committed := false
	defer func() {
		tx.done = true
		if !committed { // an error or a panic: the shared logs lose this writer's entries
			for i := len(*appended) - 1; i >= 0; i-- {
				(*appended)[i].undo()
			}
		}
		clear(*appended) // the logs it names may be dropped now
		*appended = (*appended)[:0]
		if cap(*appended) > 1<<12 { // after a bulk load: do not keep its list's size
			*appended = nil
		}
	}()
	if err := fn(tx); err != nil {
		return nil, err
	}
	committed = true
	s.root.Store(tx.snapshot)
	return tx.commits, nil
}

// Close marks the store closed; later calls fail with storage.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return storage.ErrClosed
	}
	s.root.Store(newSnapshot()) // let the data be collected
	return nil
}

// item is a tree entry keyed by one string. It holds a pointer to an immutable
// value, so the B-tree's searches copy 24 bytes per comparison, not whole records.
type item[V any] struct {
	key string
	val *V
}

func lessItem[V any](a, b item[V]) bool { return a.key < b.key }

// pair is an entry keyed by two strings (a parent ID and a child ID), so a parent's
// children are one contiguous range.
type pair[V any] struct {
	a, b string
	val  *V
}

func lessPair[V any](x, y pair[V]) bool {
	if x.a != y.a {
		return x.a < y.a
	}
	return x.b < y.b
}

// duo is an entry of a child index: two strings, no value. A pair[struct{}]
// would carry a nil pointer in every entry, and these indexes hold one entry per
// membership, token and event.
type duo struct{ a, b string }

func lessDuo(x, y duo) bool {
	if x.a != y.a {
		return x.a < y.a
	}
	return x.b < y.b
}

const degree = 16

// snapshot is one state of the store. A committed snapshot is never modified.
type snapshot struct {
	users     tree[item[member.User]]
	userEmail tree[item[string]]
	ws        tree[item[workspace.Workspace]]
	members   tree[pair[memberRec]] // (workspace, user)
	invs      tree[item[member.Invitation]]
	invHash   tree[item[string]]
	invWs     tree[duo] // (workspace, invitation)
	toks      tree[item[token.Token]]
	tokHash   tree[item[string]]
	tokWs     tree[duo] // (workspace, token)
	tokUser   tree[duo] // (user, token)
	events    tree[item[eventRec]]
	evtWs     tree[duo] // (workspace, event)
	counters  tree[item[int64]]
	settings  tree[item[[]byte]]
	deleted   tree[item[string]] // indexkeys.DeletedKey -> workspace ID
	wsStatus  tree[duo]          // (status, workspace)
	consumers tree[item[storage.Consumer]]
	hooks     tree[item[webhook.Endpoint]]
	hookWs    tree[duo]                   // (workspace or "", endpoint)
	attempts  tree[pair[webhook.Attempt]] // (endpoint, attempt)
	evtSeq    uint64                      // the last event's sequence number

	// stamp is the stamp of the transaction that wrote this snapshot: which gram
	// list entries it sees (see appendLog). undo is set only in a writer's snapshot:
	// the in-place appends to take back if it rolls back.
	stamp uint64
	undo  *[]undoer

	// Hash indexes for the point lookups on the Authorize path; they share their
	// records with the trees above.
	userByID   hindex[string, *member.User]
	wsByID     hindex[string, *workspace.Workspace]
	memberByID hindex[memberKey, *memberRec]
	tokByID    hindex[string, *token.Token]
	tokByHash  hindex[hashKey, *token.Token]
	// The workspace slug and external ID indexes: looked up by key only, and a
	// hash index is cheaper to write than a B-tree path.
	wsSlug hindex[string, string]
	wsExt  hindex[string, string]
	// Each user's workspaces (see userws.go).
	userWs hindex[string, postings]
	// The workspace numbers the posting lists hold (see wsnums.go): wsIDs is
	// shared by every snapshot, wsNum is the snapshot's own.
	wsIDs *appendLog[string]
	wsNum hindex[string, uint32]
	// numsOrdered holds while every number was drawn for an ID that sorts after
	// all earlier ones, as the Manager's IDs do: then numbers compare as their IDs.
	numsOrdered bool
	// lastNum is the last number a writer drew or looked up (see numFor).
	lastNum struct {
		id string
		n  uint32
		ok bool
	}

	// The name-search index: each gram of the lowercased names, and the workspaces
	// that have it (see grams.go).
	grams hindex[gramKey, postings]
}

type memberKey struct{ ws, user string }

// hashKey keys the token-by-hash index inline: a lookup compares the key inside the
// map's own slot instead of following a pointer to the bytes, one cache miss less
// on every Authenticate. A hash of token.HashSize bytes (all the Manager makes) is
// its own key; any other length is keyed by its SHA-256, marked apart so it never
// equals a raw key, and checked against the token on lookup.
type hashKey struct {
	raw bool
	b   [token.HashSize]byte
}

func keyOfHash(h []byte) hashKey {
	if len(h) == token.HashSize {
		k := hashKey{raw: true}
		copy(k.b[:], h)
		return k
	}
	return hashKey{b: sha256.Sum256(h)}
}

// memberRec is how a membership is kept: member.Member with its times as
// nanoseconds, which puts the record in a smaller allocation class (96 bytes, not
// 128). Memberships are the most numerous records, so this is most of the memory
// backend's size.
type memberRec struct {
	ws, user, role, invitedBy string
	owner                     bool
	joined, updated           int64 // UnixNano; 0 for the zero time
}

func toRec(m member.Member) memberRec {
	return memberRec{ws: m.WorkspaceID, user: m.UserID, role: string(m.Role), invitedBy: m.InvitedBy, owner: m.Owner,
		joined: nanos(m.JoinedAt), updated: nanos(m.UpdatedAt)}
}

func (r *memberRec) member() member.Member {
	return member.Member{WorkspaceID: r.ws, UserID: r.user, Role: rbac.Role(r.role), Owner: r.owner, InvitedBy: r.invitedBy,
		JoinedAt: fromNanos(r.joined), UpdatedAt: fromNanos(r.updated)}
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos gives times back in UTC, as the Manager stores them and as the bolt
// backend returns them.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func newTree[V any]() tree[item[V]]  { return newTreeOf(lessItem[V]) }
func newPairs[V any]() tree[pair[V]] { return newTreeOf(lessPair[V]) }
func newDuos() tree[duo]             { return newTreeOf(lessDuo) }

func newSnapshot() *snapshot {
	seed := maphash.MakeSeed()
	return &snapshot{
		userByID: newHindex[string, *member.User](seed), wsByID: newHindex[string, *workspace.Workspace](seed),
		memberByID: newHindex[memberKey, *memberRec](seed),
		tokByID:    newHindex[string, *token.Token](seed), tokByHash: newHindex[hashKey, *token.Token](seed),
		users: newTree[member.User](), userEmail: newTree[string](),
		ws: newTree[workspace.Workspace](), wsSlug: newHindex[string, string](seed), wsExt: newHindex[string, string](seed),
		members: newPairs[memberRec](), userWs: newHindex[string, postings](seed),
		invs: newTree[member.Invitation](), invHash: newTree[string](), invWs: newDuos(),
		toks: newTree[token.Token](), tokHash: newTree[string](), tokWs: newDuos(), tokUser: newDuos(),
		events: newTree[eventRec](), evtWs: newDuos(),
		counters: newTree[int64](), settings: newTree[[]byte](), deleted: newTree[string](),
		wsStatus: newDuos(), grams: newHindex[gramKey, postings](seed),
		wsIDs: newAppendLog[string](nil, 0), wsNum: newHindex[string, uint32](seed), numsOrdered: true,
		consumers: newTree[storage.Consumer](), hooks: newTree[webhook.Endpoint](), hookWs: newDuos(),
		attempts: newPairs[webhook.Attempt](),
	}
}

// clone returns a writable copy. btree's Clone is lazy: nodes are copied only when
// the clone writes to them, and the original stays untouched for its readers.
func (s *snapshot) clone(stamp uint64, undo *[]undoer) *snapshot {
	return &snapshot{stamp: stamp, undo: undo,
		users: s.users.clone(stamp, undo), userEmail: s.userEmail.clone(stamp, undo),
		ws: s.ws.clone(stamp, undo), wsSlug: s.wsSlug.forWrite(stamp, undo), wsExt: s.wsExt.forWrite(stamp, undo),
		members: s.members.clone(stamp, undo), userWs: s.userWs.forWrite(stamp, undo),
		invs: s.invs.clone(stamp, undo), invHash: s.invHash.clone(stamp, undo), invWs: s.invWs.clone(stamp, undo),
		toks: s.toks.clone(stamp, undo), tokHash: s.tokHash.clone(stamp, undo), tokWs: s.tokWs.clone(stamp, undo), tokUser: s.tokUser.clone(stamp, undo),
		events: s.events.clone(stamp, undo), evtWs: s.evtWs.clone(stamp, undo),
		counters: s.counters.clone(stamp, undo), settings: s.settings.clone(stamp, undo), deleted: s.deleted.clone(stamp, undo), evtSeq: s.evtSeq,
		wsStatus: s.wsStatus.clone(stamp, undo), grams: s.grams.forWrite(stamp, undo),
		wsIDs: s.wsIDs, wsNum: s.wsNum.forWrite(stamp, undo), numsOrdered: s.numsOrdered,
		consumers: s.consumers.clone(stamp, undo), hooks: s.hooks.clone(stamp, undo), hookWs: s.hookWs.clone(stamp, undo), attempts: s.attempts.clone(stamp, undo),
		userByID: s.userByID.forWrite(stamp, undo), wsByID: s.wsByID.forWrite(stamp, undo), memberByID: s.memberByID.forWrite(stamp, undo),
		tokByID: s.tokByID.forWrite(stamp, undo), tokByHash: s.tokByHash.forWrite(stamp, undo),
	}
}

func notFound(kind, key string) error { return fmt.Errorf("%s %q: %w", kind, key, storage.ErrNotFound) }

func get[V any](t *tree[item[V]], kind, key string) (V, error) {
	it, ok := t.Get(item[V]{key: key})
	if !ok {
		var zero V
		return zero, notFound(kind, key)
	}
	return *it.val, nil
}

// scan walks t in key order from just after 'after'.
func scan[V any](t *tree[item[V]], after string, fn func(V) bool) {
	t.AscendGreaterOrEqual(item[V]{key: after}, func(it item[V]) bool {
		if it.key == after {
			return true
		}
		return fn(*it.val)
	})
}

// scanChildren walks the b-keys of one a-key of an index, from just after 'after'.
func scanChildren(t *tree[duo], a, after string, fn func(b string) bool) {
	t.AscendGreaterOrEqual(duo{a: a, b: after}, func(p duo) bool {
		if p.a != a {
			return false
		}
		if p.b == after {
			return true
		}
		return fn(p.b)
	})
}

// Reads, shared by both kinds of transaction.

func (s *snapshot) GetUser(id string) (member.User, error) {
	if u, ok := s.userByID.get(id); ok {
		return *u, nil
	}
	return member.User{}, notFound("user", id)
}

func (s *snapshot) GetUserByEmail(email string) (member.User, error) {
	id, err := get(&s.userEmail, "user email", email)
	if err != nil {
		return member.User{}, err
	}
	return s.GetUser(id)
}

func (s *snapshot) ScanUsers(after string, fn func(member.User) bool) error {
	scan(&s.users, after, fn)
	return nil
}

var _ storage.SuspendedUserScanner = (*snapshot)(nil)

// ScanSuspendedUsers walks the suspended users. A memory store lives in one
// process, so a walk of every user, at start-up only, is its index.
func (s *snapshot) ScanSuspendedUsers(fn func(member.User) bool) error {
	scan(&s.users, "", func(u member.User) bool { return !u.Suspended() || fn(u) })
	return nil
}

func (s *snapshot) GetWorkspace(id string) (workspace.Workspace, error) {
	if w, ok := s.wsByID.get(id); ok {
		return w.Clone(), nil
	}
	return workspace.Workspace{}, notFound("workspace", id)
}

func (s *snapshot) GetWorkspaceBySlug(slug string) (workspace.Workspace, error) {
	id, ok := s.wsSlug.get(slug)
	if !ok {
		return workspace.Workspace{}, notFound("workspace slug", slug)
	}
	return s.GetWorkspace(id)
}

func (s *snapshot) GetWorkspaceByExternalID(ext string) (workspace.Workspace, error) {
	id, ok := s.wsExt.get(ext)
	if !ok {
		return workspace.Workspace{}, notFound("workspace external ID", ext)
	}
	return s.GetWorkspace(id)
}

func (s *snapshot) ScanWorkspaces(after string, fn func(workspace.Workspace) bool) error {
	scan(&s.ws, after, func(w workspace.Workspace) bool { return fn(w.Clone()) })
	return nil
}

func (s *snapshot) GetMember(wsID, userID string) (member.Member, error) {
	if m, ok := s.memberByID.get(memberKey{wsID, userID}); ok {
		return m.member(), nil
	}
	return member.Member{}, notFound("member", wsID+"/"+userID)
}

func (s *snapshot) ScanMembers(wsID, after string, fn func(member.Member) bool) error {
	s.members.AscendGreaterOrEqual(pair[memberRec]{a: wsID, b: after}, func(p pair[memberRec]) bool {
		if p.a != wsID {
			return false
		}
		if p.b == after {
			return true
		}
		return fn(p.val.member())
	})
	return nil
}

func (s *snapshot) ScanUserMemberships(userID, after string, fn func(member.Member) bool) error {
	return s.walkUserWs(userID, after, func(wsID string) (bool, error) {
		m, err := s.GetMember(wsID, userID)
		if err != nil {
			return false, err
		}
		return fn(m), nil
	})
}

func (s *snapshot) ScanAllMembers(fn func(member.Member) bool) error {
	s.members.Ascend(func(p pair[memberRec]) bool { return fn(p.val.member()) })
	return nil
}

func (s *snapshot) ScanAllInvitations(after string, fn func(member.Invitation) bool) error {
	scan(&s.invs, after, func(i member.Invitation) bool { return fn(i.Clone()) })
	return nil
}

func (s *snapshot) ScanTokens(after string, fn func(token.Token) bool) error {
	scan(&s.toks, after, func(t token.Token) bool { return fn(t.Clone()) })
	return nil
}

func (s *snapshot) GetInvitation(id string) (member.Invitation, error) {
	inv, err := get(&s.invs, "invitation", id)
	return inv.Clone(), err
}

func (s *snapshot) GetInvitationByHash(hash []byte) (member.Invitation, error) {
	id, err := get(&s.invHash, "invitation hash", string(hash))
	if err != nil {
		return member.Invitation{}, notFound("invitation", "by hash")
	}
	return s.GetInvitation(id)
}

func (s *snapshot) ScanInvitations(wsID, after string, fn func(member.Invitation) bool) error {
	return s.scanIndexed(&s.invWs, wsID, after, func(id string) (bool, error) {
		inv, err := s.GetInvitation(id)
		return err == nil && fn(inv), err
	})
}

func (s *snapshot) GetToken(id string) (token.Token, error) {
	if t, ok := s.tokByID.get(id); ok {
		return t.Clone(), nil
	}
	return token.Token{}, notFound("token", id)
}

func (s *snapshot) GetTokenByHash(hash []byte) (token.Token, error) {
	k := keyOfHash(hash)
	t, ok := s.tokByHash.get(k)
	if !ok || (!k.raw && !bytes.Equal(t.Hash, hash)) {
		return token.Token{}, notFound("token", "by hash")
	}
	// The stored hash equals the one asked for, so the caller's own slice stands in
	// for it: the stored one stays unshared, and Authenticate's lookup allocates
	// nothing.
	got := *t
	got.Hash = hash[:len(hash):len(hash)]
	return got, nil
}

func (s *snapshot) ScanWorkspaceTokens(wsID, after string, fn func(token.Token) bool) error {
	return s.scanTokens(&s.tokWs, wsID, after, fn)
}

func (s *snapshot) ScanUserTokens(userID, after string, fn func(token.Token) bool) error {
	return s.scanTokens(&s.tokUser, userID, after, fn)
}

func (s *snapshot) scanTokens(idx *tree[duo], parent, after string, fn func(token.Token) bool) error {
	return s.scanIndexed(idx, parent, after, func(id string) (bool, error) {
		t, err := s.GetToken(id)
		return err == nil && fn(t), err
	})
}

// scanIndexed walks the children of parent in idx, stopping at the first error.
func (s *snapshot) scanIndexed(idx *tree[duo], parent, after string, fn func(id string) (bool, error)) error {
	var err error
	scanChildren(idx, parent, after, func(id string) bool {
		var more bool
		more, err = fn(id)
		return more
	})
	return err
}

func (s *snapshot) FeedHead() (string, error) {
	if it, ok := s.events.Max(); ok {
		return it.key, nil
	}
	return "", nil
}

func (s *snapshot) ScanEvents(after string, fn func(storage.Event) bool) error {
	s.events.AscendGreaterOrEqual(item[eventRec]{key: after}, func(it item[eventRec]) bool {
		return it.key == after || fn(it.val.event(it.key))
	})
	return nil
}

func (s *snapshot) ScanWorkspaceEvents(wsID, after string, fn func(storage.Event) bool) error {
	return s.scanIndexed(&s.evtWs, wsID, after, func(id string) (bool, error) {
		e, err := get(&s.events, "event", id)
		return err == nil && fn(e.event(id)), err
	})
}

func (s *snapshot) Counter(name string) (int64, error) {
	if it, ok := s.counters.Get(item[int64]{key: name}); ok {
		return *it.val, nil
	}
	return 0, nil
}

func (s *snapshot) ScanCounters(fn func(string, int64) bool) error {
	s.counters.Ascend(func(it item[int64]) bool { return fn(it.key, *it.val) })
	return nil
}

var _ storage.WorkspaceSearcher = (*snapshot)(nil)

// SearchWorkspaces answers through the workspace indexes (see wsindex.Search).
func (s *snapshot) SearchWorkspaces(q storage.WorkspaceQuery, after string, fn func(workspace.Workspace) bool) error {
	return wsindex.Search(wsIndexes{s}, s, q, after, fn)
}

func (s *snapshot) ScanDeletedWorkspaces(cutoff time.Time, fn func(workspace.Workspace) bool) error {
	end := indexkeys.DeletedKey(cutoff, "\xff")
	var err error
	s.deleted.AscendLessThan(item[string]{key: end}, func(it item[string]) bool {
		var w workspace.Workspace
		if w, err = s.GetWorkspace(*it.val); err != nil {
			return false
		}
		return fn(w)
	})
	return err
}

func (s *snapshot) Setting(name string) ([]byte, error) {
	if it, ok := s.settings.Get(item[[]byte]{key: name}); ok {
		return append([]byte(nil), *it.val...), nil
	}
	return nil, notFound("setting", name)
}

// A View transaction is the snapshot itself: immutable, read without locking, and
// with no write methods to reach by a type assertion.
var _ storage.Reader = (*snapshot)(nil)

// writeTx is the Update transaction: it writes to a private clone of the snapshot.
type writeTx struct {
	*snapshot
	commits []func()
	done    bool
}

var _ storage.ReadWriter = (*writeTx)(nil)

func (t *writeTx) OnCommit(fn func()) {
	if fn != nil {
		t.commits = append(t.commits, fn)
	}
}

func (t *writeTx) check() error {
	if t.done {
		return fmt.Errorf("transaction already ended: %w", storage.ErrClosed)
	}
	return nil
}

// checkUnique reports whether key is free for id in idx, without writing.
func checkUnique(idx *tree[item[string]], index, key, id string) error {
	if old, ok := idx.Get(item[string]{key: key}); ok && *old.val != id {
		return storage.Conflict(index)
	}
	return nil
}

// setIndex points a unique index entry at id.
func setIndex(idx *tree[item[string]], key, id string) {
	idx.ReplaceOrInsert(item[string]{key: key, val: &id})
}

func (t *writeTx) CreateUser(u member.User) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.users.Has(item[member.User]{key: u.ID}) {
		return storage.Conflict(storage.IndexUserID)
	}
	return t.putUser(u)
}

func (t *writeTx) ReplaceUser(u member.User) error {
	if err := t.check(); err != nil {
		return err
	}
	if !t.users.Has(item[member.User]{key: u.ID}) {
		return notFound("user", u.ID)
	}
	return t.putUser(u)
}

func (t *writeTx) putUser(u member.User) error {
	if err := storage.CheckKeys("user", []string{u.ID, u.Email}); err != nil {
		return err
	}
	if err := checkUnique(&t.userEmail, storage.IndexUserEmail, u.Email, u.ID); err != nil {
		return err
	}
	if old, ok := t.users.Get(item[member.User]{key: u.ID}); ok && old.val.Email != u.Email {
		t.userEmail.Delete(item[string]{key: old.val.Email})
	}
	setIndex(&t.userEmail, u.Email, u.ID)
	t.users.ReplaceOrInsert(item[member.User]{key: u.ID, val: &u})
	t.userByID.set(u.ID, &u)
	return nil
}

func (t *writeTx) DeleteUser(id string) error {
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.users.Delete(item[member.User]{key: id})
	if !ok {
		return notFound("user", id)
	}
	t.userEmail.Delete(item[string]{key: old.val.Email})
	t.userByID.del(id)
	return nil
}

func (t *writeTx) CreateWorkspace(w workspace.Workspace) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.ws.Has(item[workspace.Workspace]{key: w.ID}) {
		return storage.Conflict(storage.IndexWorkspaceID)
	}
	return t.putWorkspace(w)
}

func (t *writeTx) ReplaceWorkspace(w workspace.Workspace) error {
	if err := t.check(); err != nil {
		return err
	}
	if !t.ws.Has(item[workspace.Workspace]{key: w.ID}) {
		return notFound("workspace", w.ID)
	}
	return t.putWorkspace(w)
}

func (t *writeTx) putWorkspace(w workspace.Workspace) error {
	if err := storage.CheckKeys("workspace", []string{w.ID, w.Slug}); err != nil {
		return err
	}
	var old *workspace.Workspace
	if it, ok := t.ws.Get(item[workspace.Workspace]{key: w.ID}); ok {
		old = it.val
	}
	if err := wsindex.Put(wsIndexes{t.snapshot}, old, w); err != nil {
		return err
	}
	w = w.Clone()
	t.ws.ReplaceOrInsert(item[workspace.Workspace]{key: w.ID, val: &w})
	t.wsByID.set(w.ID, &w)
	return nil
}

func (t *writeTx) PurgeWorkspace(id string) (storage.PurgeCounts, error) {
	var n storage.PurgeCounts
	if err := t.check(); err != nil {
		return n, err
	}
	old, ok := t.ws.Delete(item[workspace.Workspace]{key: id})
	if !ok {
		return n, notFound("workspace", id)
	}
	if err := wsindex.Drop(wsIndexes{t.snapshot}, *old.val); err != nil {
		return n, err
	}
	t.wsByID.del(id)
	var users, invs, toks, evts []string
	scanChildren2(&t.members, id, func(user string) { users = append(users, user) })
	scanChildren(&t.invWs, id, "", func(c string) bool { invs = append(invs, c); return true })
	scanChildren(&t.tokWs, id, "", func(c string) bool { toks = append(toks, c); return true })
	scanChildren(&t.evtWs, id, "", func(c string) bool { evts = append(evts, c); return true })
	for _, u := range users {
		t.members.Delete(pair[memberRec]{a: id, b: u})
		t.unpostUserWs(u, id)
		t.memberByID.del(memberKey{id, u})
	}
	for _, i := range invs {
		if it, ok := t.invs.Delete(item[member.Invitation]{key: i}); ok {
			t.invHash.Delete(item[string]{key: string(it.val.SecretHash)})
		}
		t.invWs.Delete(duo{a: id, b: i})
	}
	for _, k := range toks {
		if it, ok := t.toks.Delete(item[token.Token]{key: k}); ok {
			t.dropTokenIndexes(*it.val)
			t.tokByID.del(k)
		}
	}
	for _, e := range evts {
		t.evtWs.Delete(duo{a: id, b: e})
		t.events.Delete(item[eventRec]{key: e})
	}
	return storage.PurgeCounts{Members: len(users), Invitations: len(invs), Tokens: len(toks), Events: len(evts)}, nil
}

// scanChildren2 lists the b-keys of one a-key of the members tree.
func scanChildren2(t *tree[pair[memberRec]], a string, fn func(b string)) {
	t.AscendGreaterOrEqual(pair[memberRec]{a: a}, func(p pair[memberRec]) bool {
		if p.a != a {
			return false
		}
		fn(p.b)
		return true
	})
}

func (t *writeTx) CreateMember(m member.Member) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := storage.CheckKeys("member", []string{m.WorkspaceID, m.UserID}); err != nil {
		return err
	}
	rec := toRec(m)
	if !t.memberByID.insert(memberKey{m.WorkspaceID, m.UserID}, &rec) {
		return storage.Conflict(storage.IndexMember)
	}
	t.members.ReplaceOrInsert(pair[memberRec]{a: m.WorkspaceID, b: m.UserID, val: &rec})
	t.postUserWs(m.UserID, m.WorkspaceID)
	return nil
}

func (t *writeTx) ReplaceMember(m member.Member) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, ok := t.memberByID.get(memberKey{m.WorkspaceID, m.UserID}); !ok {
		return notFound("member", m.WorkspaceID+"/"+m.UserID)
	}
	return t.putMember(m)
}

func (t *writeTx) putMember(m member.Member) error {
	if err := storage.CheckKeys("member", []string{m.WorkspaceID, m.UserID}); err != nil {
		return err
	}
	rec := toRec(m)
	t.members.ReplaceOrInsert(pair[memberRec]{a: m.WorkspaceID, b: m.UserID, val: &rec})
	t.memberByID.set(memberKey{m.WorkspaceID, m.UserID}, &rec)
	return nil
}

func (t *writeTx) DeleteMember(wsID, userID string) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, ok := t.members.Delete(pair[memberRec]{a: wsID, b: userID}); !ok {
		return notFound("member", wsID+"/"+userID)
	}
	t.unpostUserWs(userID, wsID)
	t.memberByID.del(memberKey{wsID, userID})
	return nil
}

func (t *writeTx) CreateInvitation(inv member.Invitation) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.invs.Has(item[member.Invitation]{key: inv.ID}) {
		return storage.Conflict(storage.IndexInvitationID)
	}
	return t.putInvitation(inv)
}

func (t *writeTx) ReplaceInvitation(inv member.Invitation) error {
	if err := t.check(); err != nil {
		return err
	}
	if !t.invs.Has(item[member.Invitation]{key: inv.ID}) {
		return notFound("invitation", inv.ID)
	}
	return t.putInvitation(inv)
}

func (t *writeTx) putInvitation(inv member.Invitation) error {
	if err := storage.CheckKeys("invitation", []string{inv.ID, inv.WorkspaceID}, inv.SecretHash); err != nil {
		return err
	}
	if err := checkUnique(&t.invHash, storage.IndexInvitationHash, string(inv.SecretHash), inv.ID); err != nil {
		return err
	}
	if old, ok := t.invs.Get(item[member.Invitation]{key: inv.ID}); ok {
		t.invHash.Delete(item[string]{key: string(old.val.SecretHash)})
		t.invWs.Delete(duo{a: old.val.WorkspaceID, b: inv.ID})
	}
	setIndex(&t.invHash, string(inv.SecretHash), inv.ID)
	t.invWs.ReplaceOrInsert(duo{a: inv.WorkspaceID, b: inv.ID})
	inv = inv.Clone()
	t.invs.ReplaceOrInsert(item[member.Invitation]{key: inv.ID, val: &inv})
	return nil
}

func (t *writeTx) DeleteInvitation(id string) error {
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.invs.Delete(item[member.Invitation]{key: id})
	if !ok {
		return notFound("invitation", id)
	}
	t.invHash.Delete(item[string]{key: string(old.val.SecretHash)})
	t.invWs.Delete(duo{a: old.val.WorkspaceID, b: id})
	return nil
}

func (t *writeTx) CreateToken(tok token.Token) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, ok := t.tokByID.get(tok.ID); ok {
		return storage.Conflict(storage.IndexTokenID)
	}
	return t.putToken(tok)
}

func (t *writeTx) ReplaceToken(tok token.Token) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, ok := t.tokByID.get(tok.ID); !ok {
		return notFound("token", tok.ID)
	}
	return t.putToken(tok)
}

func (t *writeTx) putToken(tok token.Token) error {
	if err := storage.CheckKeys("token", []string{tok.ID, tok.UserID}, tok.Hash); err != nil {
		return err
	}
	if err := checkUnique(&t.tokHash, storage.IndexTokenHash, string(tok.Hash), tok.ID); err != nil {
		return err
	}
	if old, ok := t.toks.Get(item[token.Token]{key: tok.ID}); ok {
		t.dropTokenIndexes(*old.val)
	}
	setIndex(&t.tokHash, string(tok.Hash), tok.ID)
	if tok.WorkspaceID != "" {
		t.tokWs.ReplaceOrInsert(duo{a: tok.WorkspaceID, b: tok.ID})
	}
	t.tokUser.ReplaceOrInsert(duo{a: tok.UserID, b: tok.ID})
	tok = tok.Clone()
	t.toks.ReplaceOrInsert(item[token.Token]{key: tok.ID, val: &tok})
	t.tokByID.set(tok.ID, &tok)
	t.tokByHash.set(keyOfHash(tok.Hash), &tok)
	return nil
}

func (t *writeTx) TouchToken(id string, at time.Time) error {
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.tokByID.get(id)
	if !ok || !at.After(old.LastUsedAt) {
		return nil
	}
	tok := old.Clone()
	tok.LastUsedAt = at
	return t.putToken(tok)
}

func (t *writeTx) dropTokenIndexes(tok token.Token) {
	t.tokHash.Delete(item[string]{key: string(tok.Hash)})
	t.tokByHash.del(keyOfHash(tok.Hash))
	if tok.WorkspaceID != "" {
		t.tokWs.Delete(duo{a: tok.WorkspaceID, b: tok.ID})
	}
	t.tokUser.Delete(duo{a: tok.UserID, b: tok.ID})
}

func (t *writeTx) DeleteToken(id string) error {
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.toks.Delete(item[token.Token]{key: id})
	if !ok {
		return notFound("token", id)
	}
	t.dropTokenIndexes(*old.val)
	t.tokByID.del(id)
	return nil
}

// AppendEvent numbers the event in the one writer's sequence: commits happen in
// sequence order, so a later commit never sorts before a position already read.
func (t *writeTx) AppendEvent(e storage.Event) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := storage.CheckKeys("event", []string{e.ID}); err != nil {
		return err
	}
	t.evtSeq++
	pos := indexkeys.SequencePosition(t.evtSeq)
	rec := toEventRec(e)
	t.events.ReplaceOrInsert(item[eventRec]{key: pos, val: &rec})
	if e.WorkspaceID != "" {
		t.evtWs.ReplaceOrInsert(duo{a: e.WorkspaceID, b: pos})
	}
	return nil
}

func (t *writeTx) PutSetting(name string, value []byte) error {
	if err := t.check(); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("setting: empty name: %w", storage.ErrInvalidKey)
	}
	v := append([]byte(nil), value...)
	t.settings.ReplaceOrInsert(item[[]byte]{key: name, val: &v})
	return nil
}

func (t *writeTx) AddCounter(name string, delta int64) error {
	if err := t.check(); err != nil {
		return err
	}
	n, _ := t.Counter(name)
	n += delta
	t.counters.ReplaceOrInsert(item[int64]{key: name, val: &n})
	return nil
}
