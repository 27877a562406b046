package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/internal/indexkeys"
	"github.com/tenancykit/tenancy/storage/internal/wsindex"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// tx adapts a bbolt transaction to storage.ReadWriter; a View hands it out as a
// storage.Reader, and its writes refuse (ErrReadOnly) should a caller assert it
// back. Every value read is decoded into fresh Go memory before it is returned,
// since bbolt's bytes die with the transaction.
type tx struct {
	btx      *bbolt.Tx
	writable bool
	ended    bool
	commits  []func()
}

var _ storage.ReadWriter = (*tx)(nil)

func (t *tx) end() { t.ended = true }

func (t *tx) OnCommit(fn func()) {
	if t.writable && fn != nil {
		t.commits = append(t.commits, fn)
	}
}

func (t *tx) b(name []byte) *bbolt.Bucket { return t.btx.Bucket(name) }

func (t *tx) canRead() error {
	if t.ended {
		return fmt.Errorf("transaction already ended: %w", storage.ErrClosed)
	}
	return nil
}

func (t *tx) canWrite() error {
	if t.ended {
		return fmt.Errorf("transaction already ended: %w", storage.ErrClosed)
	}
	if !t.writable {
		return storage.ErrReadOnly
	}
	return nil
}

// join makes a composite key: parent, a zero byte, child. IDs never hold a zero byte
// (the Manager validates them), so a parent's children form one contiguous range.
func join(a, b string) []byte {
	k := make([]byte, 0, len(a)+1+len(b))
	k = append(k, a...)
	k = append(k, 0)
	return append(k, b...)
}

func notFound(kind, key string) error { return fmt.Errorf("%s %q: %w", kind, key, storage.ErrNotFound) }

func getRecord[V any](t *tx, bucket []byte, kind, key string, dec func([]byte) (V, error)) (V, error) {
	var zero V
	if err := t.canRead(); err != nil {
		return zero, err
	}
	v := t.b(bucket).Get([]byte(key))
	if v == nil {
		return zero, notFound(kind, key)
	}
	return dec(v)
}

// lookup follows a unique index to the primary key.
func (t *tx) lookup(index []byte, kind string, key []byte) (string, error) {
	if err := t.canRead(); err != nil {
		return "", err
	}
	id := t.b(index).Get(key)
	if id == nil {
		return "", fmt.Errorf("%s: %w", kind, storage.ErrNotFound)
	}
	return string(id), nil
}

// claim checks that a unique index entry is free for id, refusing a key held by
// another id with a ConflictError naming the index.
func claim(b *bbolt.Bucket, index string, key []byte, id string) error {
	if old := b.Get(key); old != nil && string(old) != id {
		return storage.Conflict(index)
	}
	return nil
}

// prior reads the record a Put replaces; a Create has none, and skips the read.
func prior[V any](create bool, get func(string) (V, error), id string) (V, error) {
	if create {
		var none V
		return none, storage.ErrNotFound
	}
	return get(id)
}

// writeFor checks a Create (the key must be free: index names the collision) or a
// Put (the record must exist: kind names the error).
func (t *tx) writeFor(create bool, bucket, key []byte, index, kind string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	switch has := t.b(bucket).Get(key) != nil; {
	case create && has:
		return storage.Conflict(index)
	case !create && !has:
		return notFound(kind, string(key))
	}
	return nil
}

// scanFrom walks a bucket's keys in order from just after 'after'; with a non-nil
// prefix it stops at the first key without it. fn gets the key less the prefix.
func (t *tx) scanFrom(bucket, prefix []byte, after string, fn func(k, v []byte) (bool, error)) error {
	if err := t.canRead(); err != nil {
		return err
	}
	c := t.b(bucket).Cursor()
	start := append(append([]byte(nil), prefix...), after...)
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if after != "" && bytes.Equal(k, start) {
			continue
		}
		more, err := fn(k[len(prefix):], v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// scanIndex walks the children of parent in an index bucket and loads each record.
func scanIndex[V any](t *tx, index []byte, parent, after string, load func(id string) (V, error), fn func(V) bool) error {
	return t.scanFrom(index, join(parent, ""), after, func(k, _ []byte) (bool, error) {
		rec, err := load(string(k))
		if err != nil {
			return false, err
		}
		return fn(rec), nil
	})
}

func scanRecords[V any](t *tx, bucket []byte, after string, dec func([]byte) (V, error), fn func(V) bool) error {
	return t.scanFrom(bucket, nil, after, func(_, v []byte) (bool, error) {
		rec, err := dec(v)
		if err != nil {
			return false, err
		}
		return fn(rec), nil
	})
}

// Users.

func (t *tx) GetUser(id string) (member.User, error) {
	return getRecord(t, bUsers, "user", id, decodeUser)
}

func (t *tx) GetUserByEmail(email string) (member.User, error) {
	id, err := t.lookup(bUserEmail, "user email", []byte(email))
	if err != nil {
		return member.User{}, err
	}
	return t.GetUser(id)
}

func (t *tx) CreateUser(u member.User) error { return t.putUser(true, u) }

func (t *tx) ReplaceUser(u member.User) error { return t.putUser(false, u) }

func (t *tx) putUser(create bool, u member.User) error {
	if err := storage.CheckKeys("user", []string{u.ID, u.Email}); err != nil {
		return err
	}
	if err := t.writeFor(create, bUsers, []byte(u.ID), storage.IndexUserID, "user"); err != nil {
		return err
	}
	emails := t.b(bUserEmail)
	if err := claim(emails, storage.IndexUserEmail, []byte(u.Email), u.ID); err != nil {
		return err
	}
	if old, err := prior(create, t.GetUser, u.ID); err == nil && old.Email != u.Email {
		if err := emails.Delete([]byte(old.Email)); err != nil {
			return err
		}
	}
	if err := emails.Put([]byte(u.Email), []byte(u.ID)); err != nil {
		return err
	}
	susp := t.b(bUserSusp).Delete
	if u.Suspended() {
		susp = func(k []byte) error { return t.b(bUserSusp).Put(k, nil) }
	}
	if err := susp([]byte(u.ID)); err != nil {
		return err
	}
	return t.b(bUsers).Put([]byte(u.ID), encodeUser(u))
}

func (t *tx) DeleteUser(id string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	u, err := t.GetUser(id)
	if err != nil {
		return err
	}
	if err := t.b(bUserEmail).Delete([]byte(u.Email)); err != nil {
		return err
	}
	if err := t.b(bUserSusp).Delete([]byte(id)); err != nil {
		return err
	}
	return t.b(bUsers).Delete([]byte(id))
}

var _ storage.SuspendedUserScanner = (*tx)(nil)

// ScanSuspendedUsers walks the suspended users through their index.
func (t *tx) ScanSuspendedUsers(fn func(member.User) bool) error {
	if err := t.canRead(); err != nil {
		return err
	}
	var ids []string
	if err := t.b(bUserSusp).ForEach(func(k, _ []byte) error { ids = append(ids, string(k)); return nil }); err != nil {
		return err
	}
	for _, id := range ids {
		u, err := t.GetUser(id)
		if err != nil {
			return err
		}
		if !fn(u) {
			return nil
		}
	}
	return nil
}

func (t *tx) ScanUsers(after string, fn func(member.User) bool) error {
	return scanRecords(t, bUsers, after, decodeUser, fn)
}

// Workspaces.

func (t *tx) GetWorkspace(id string) (workspace.Workspace, error) {
	return getRecord(t, bWs, "workspace", id, decodeWorkspace)
}

func (t *tx) GetWorkspaceBySlug(slug string) (workspace.Workspace, error) {
	id, err := t.lookup(bWsSlug, "workspace slug", []byte(slug))
	if err != nil {
		return workspace.Workspace{}, err
	}
	return t.GetWorkspace(id)
}

func (t *tx) GetWorkspaceByExternalID(ext string) (workspace.Workspace, error) {
	id, err := t.lookup(bWsExt, "workspace external ID", []byte(ext))
	if err != nil {
		return workspace.Workspace{}, err
	}
	return t.GetWorkspace(id)
}

func (t *tx) CreateWorkspace(w workspace.Workspace) error { return t.putWorkspace(true, w) }

func (t *tx) ReplaceWorkspace(w workspace.Workspace) error { return t.putWorkspace(false, w) }

func (t *tx) putWorkspace(create bool, w workspace.Workspace) error {
	if err := storage.CheckKeys("workspace", []string{w.ID, w.Slug}); err != nil {
		return err
	}
	if err := t.writeFor(create, bWs, []byte(w.ID), storage.IndexWorkspaceID, "workspace"); err != nil {
		return err
	}
	var old *workspace.Workspace
	if o, err := prior(create, t.GetWorkspace, w.ID); err == nil {
		old = &o
	}
	if err := wsindex.Put(t.wsIndexes(), old, w); err != nil {
		return err
	}
	return t.b(bWs).Put([]byte(w.ID), encodeWorkspace(w))
}

var _ storage.WorkspaceSearcher = (*tx)(nil)

// SearchWorkspaces answers through the workspace indexes (see wsindex.Search).
func (t *tx) SearchWorkspaces(q storage.WorkspaceQuery, after string, fn func(workspace.Workspace) bool) error {
	if err := t.canRead(); err != nil {
		return err
	}
	return wsindex.Search(t.wsIndexes(), t, q, after, fn)
}

// PurgeWorkspace removes a workspace and everything it owns in this transaction.
func (t *tx) PurgeWorkspace(id string) (storage.PurgeCounts, error) {
	var n storage.PurgeCounts
	if err := t.canWrite(); err != nil {
		return n, err
	}
	old, err := t.GetWorkspace(id)
	if err != nil {
		return n, err
	}
	if err := wsindex.Drop(t.wsIndexes(), old); err != nil {
		return n, err
	}
	if err := t.b(bWs).Delete([]byte(id)); err != nil {
		return n, err
	}
	children := func(bucket []byte) ([]string, error) {
		var out []string
		err := t.scanFrom(bucket, join(id, ""), "", func(k, _ []byte) (bool, error) {
			out = append(out, string(k))
			return true, nil
		})
		return out, err
	}
	users, err := children(bMembers)
	if err != nil {
		return n, err
	}
	for _, u := range users {
		if err := t.DeleteMember(id, u); err != nil {
			return n, err
		}
	}
	invs, err := children(bInvWs)
	if err != nil {
		return n, err
	}
	for _, i := range invs {
		if err := t.DeleteInvitation(i); err != nil {
			return n, err
		}
	}
	toks, err := children(bTokWs)
	if err != nil {
		return n, err
	}
	for _, k := range toks {
		if err := t.DeleteToken(k); err != nil {
			return n, err
		}
	}
	evts, err := children(bEvtWs)
	if err != nil {
		return n, err
	}
	for _, pos := range evts {
		if err := t.b(bEvtWs).Delete(join(id, pos)); err != nil {
			return n, err
		}
		if err := t.b(bEvents).Delete([]byte(pos)); err != nil {
			return n, err
		}
	}
	return storage.PurgeCounts{Members: len(users), Invitations: len(invs), Tokens: len(toks), Events: len(evts)}, nil
}

func (t *tx) ScanDeletedWorkspaces(cutoff time.Time, fn func(workspace.Workspace) bool) error {
	if err := t.canRead(); err != nil {
		return err
	}
	end := []byte(indexkeys.DeletedKey(cutoff, "\xff"))
	c := t.b(bWsDeleted).Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k, end) < 0; k, v = c.Next() {
		w, err := t.GetWorkspace(string(v))
		if err != nil {
			return err
		}
		if !fn(w) {
			return nil
		}
	}
	return nil
}

func (t *tx) ScanWorkspaces(after string, fn func(workspace.Workspace) bool) error {
	return scanRecords(t, bWs, after, decodeWorkspace, fn)
}

// Members.

func (t *tx) GetMember(wsID, userID string) (member.Member, error) {
	if err := t.canRead(); err != nil {
		return member.Member{}, err
	}
	var buf [160]byte // IDs are short: build the key on the stack
	k := append(append(append(buf[:0], wsID...), 0), userID...)
	v := t.b(bMembers).Get(k)
	if v == nil {
		return member.Member{}, notFound("member", wsID+"/"+userID)
	}
	return decodeMember(v)
}

func (t *tx) CreateMember(m member.Member) error { return t.putMember(true, m) }

func (t *tx) ReplaceMember(m member.Member) error { return t.putMember(false, m) }

func (t *tx) putMember(create bool, m member.Member) error {
	if err := storage.CheckKeys("member", []string{m.WorkspaceID, m.UserID}); err != nil {
		return err
	}
	key := join(m.WorkspaceID, m.UserID)
	if err := t.writeFor(create, bMembers, key, storage.IndexMember, "member"); err != nil {
		return err
	}
	if err := t.b(bMembers).Put(key, encodeMember(m)); err != nil {
		return err
	}
	return t.b(bUserWs).Put(join(m.UserID, m.WorkspaceID), nil)
}

func (t *tx) DeleteMember(wsID, userID string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	k := join(wsID, userID)
	if t.b(bMembers).Get(k) == nil {
		return notFound("member", wsID+"/"+userID)
	}
	if err := t.b(bMembers).Delete(k); err != nil {
		return err
	}
	return t.b(bUserWs).Delete(join(userID, wsID))
}

func (t *tx) ScanMembers(wsID, after string, fn func(member.Member) bool) error {
	return t.scanFrom(bMembers, join(wsID, ""), after, func(_, v []byte) (bool, error) {
		m, err := decodeMember(v)
		if err != nil {
			return false, err
		}
		return fn(m), nil
	})
}

func (t *tx) ScanUserMemberships(userID, after string, fn func(member.Member) bool) error {
	return scanIndex(t, bUserWs, userID, after, func(wsID string) (member.Member, error) {
		return t.GetMember(wsID, userID)
	}, fn)
}

func (t *tx) ScanAllMembers(fn func(member.Member) bool) error {
	return scanRecords(t, bMembers, "", decodeMember, fn)
}

// Invitations.

func (t *tx) ScanAllInvitations(after string, fn func(member.Invitation) bool) error {
	return scanRecords(t, bInvs, after, decodeInvitation, fn)
}

func (t *tx) GetInvitation(id string) (member.Invitation, error) {
	return getRecord(t, bInvs, "invitation", id, decodeInvitation)
}

func (t *tx) GetInvitationByHash(hash []byte) (member.Invitation, error) {
	id, err := t.lookup(bInvHash, "invitation", hash)
	if err != nil {
		return member.Invitation{}, err
	}
	return t.GetInvitation(id)
}

func (t *tx) CreateInvitation(inv member.Invitation) error { return t.putInvitation(true, inv) }

func (t *tx) ReplaceInvitation(inv member.Invitation) error { return t.putInvitation(false, inv) }

func (t *tx) putInvitation(create bool, inv member.Invitation) error {
	if err := storage.CheckKeys("invitation", []string{inv.ID, inv.WorkspaceID}, inv.SecretHash); err != nil {
		return err
	}
	if err := t.writeFor(create, bInvs, []byte(inv.ID), storage.IndexInvitationID, "invitation"); err != nil {
		return err
	}
	hashes := t.b(bInvHash)
	if err := claim(hashes, storage.IndexInvitationHash, inv.SecretHash, inv.ID); err != nil {
		return err
	}
	if old, err := prior(create, t.GetInvitation, inv.ID); err == nil {
		if err := t.dropInvitationIndexes(old); err != nil {
			return err
		}
	}
	if err := hashes.Put(inv.SecretHash, []byte(inv.ID)); err != nil {
		return err
	}
	if err := t.b(bInvWs).Put(join(inv.WorkspaceID, inv.ID), nil); err != nil {
		return err
	}
	return t.b(bInvs).Put([]byte(inv.ID), encodeInvitation(inv))
}

func (t *tx) dropInvitationIndexes(inv member.Invitation) error {
	if err := t.b(bInvHash).Delete(inv.SecretHash); err != nil {
		return err
	}
	return t.b(bInvWs).Delete(join(inv.WorkspaceID, inv.ID))
}

func (t *tx) DeleteInvitation(id string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	old, err := t.GetInvitation(id)
	if err != nil {
		return err
	}
	if err := t.dropInvitationIndexes(old); err != nil {
		return err
	}
	return t.b(bInvs).Delete([]byte(id))
}

func (t *tx) ScanInvitations(wsID, after string, fn func(member.Invitation) bool) error {
	return scanIndex(t, bInvWs, wsID, after, t.GetInvitation, fn)
}

// Tokens.

func (t *tx) ScanTokens(after string, fn func(token.Token) bool) error {
	return scanRecords(t, bToks, after, decodeToken, fn)
}

func (t *tx) GetToken(id string) (token.Token, error) {
	return getRecord(t, bToks, "token", id, decodeToken)
}

// GetTokenByHash is Authenticate's lookup, so the hash index holds a copy of the
// whole record: one B+tree descent instead of two.
func (t *tx) GetTokenByHash(hash []byte) (token.Token, error) {
	if err := t.canRead(); err != nil {
		return token.Token{}, err
	}
	v := t.b(bTokHash).Get(hash)
	if v == nil {
		return token.Token{}, fmt.Errorf("token: %w", storage.ErrNotFound)
	}
	return decodeToken(v)
}

func (t *tx) CreateToken(tok token.Token) error { return t.putToken(true, tok) }

func (t *tx) ReplaceToken(tok token.Token) error { return t.putToken(false, tok) }

// TouchToken moves a token's last-used time forward, never back.
func (t *tx) TouchToken(id string, at time.Time) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	tok, err := t.GetToken(id)
	if errors.Is(err, storage.ErrNotFound) || err == nil && !at.After(tok.LastUsedAt) {
		return nil
	}
	if err != nil {
		return err
	}
	tok.LastUsedAt = at
	return t.putToken(false, tok)
}

func (t *tx) putToken(create bool, tok token.Token) error {
	if err := storage.CheckKeys("token", []string{tok.ID, tok.UserID}, tok.Hash); err != nil {
		return err
	}
	if err := t.writeFor(create, bToks, []byte(tok.ID), storage.IndexTokenID, "token"); err != nil {
		return err
	}
	hashes := t.b(bTokHash)
	if old := hashes.Get(tok.Hash); old != nil && recordID(old) != tok.ID {
		return storage.Conflict(storage.IndexTokenHash)
	}
	if old, err := prior(create, t.GetToken, tok.ID); err == nil {
		if err := t.dropTokenIndexes(old); err != nil {
			return err
		}
	}
	rec := encodeToken(tok)
	if err := hashes.Put(tok.Hash, rec); err != nil {
		return err
	}
	if tok.WorkspaceID != "" {
		if err := t.b(bTokWs).Put(join(tok.WorkspaceID, tok.ID), nil); err != nil {
			return err
		}
	}
	if err := t.b(bTokUser).Put(join(tok.UserID, tok.ID), nil); err != nil {
		return err
	}
	return t.b(bToks).Put([]byte(tok.ID), rec)
}

func (t *tx) dropTokenIndexes(tok token.Token) error {
	if err := t.b(bTokHash).Delete(tok.Hash); err != nil {
		return err
	}
	if tok.WorkspaceID != "" {
		if err := t.b(bTokWs).Delete(join(tok.WorkspaceID, tok.ID)); err != nil {
			return err
		}
	}
	return t.b(bTokUser).Delete(join(tok.UserID, tok.ID))
}

func (t *tx) DeleteToken(id string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	old, err := t.GetToken(id)
	if err != nil {
		return err
	}
	if err := t.dropTokenIndexes(old); err != nil {
		return err
	}
	return t.b(bToks).Delete([]byte(id))
}

func (t *tx) ScanWorkspaceTokens(wsID, after string, fn func(token.Token) bool) error {
	return scanIndex(t, bTokWs, wsID, after, t.GetToken, fn)
}

func (t *tx) ScanUserTokens(userID, after string, fn func(token.Token) bool) error {
	return scanIndex(t, bTokUser, userID, after, t.GetToken, fn)
}

// Events.

// AppendEvent numbers the event with the events bucket's sequence, inside bbolt's
// single writer: commits happen in sequence order, so a later commit never sorts
// before a position already read.
func (t *tx) AppendEvent(e storage.Event) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if err := storage.CheckKeys("event", []string{e.ID}); err != nil {
		return err
	}
	events := t.b(bEvents)
	seq, err := events.NextSequence()
	if err != nil {
		return err
	}
	pos := indexkeys.SequencePosition(seq)
	if err := events.Put([]byte(pos), encodeEvent(e)); err != nil {
		return err
	}
	if e.WorkspaceID != "" {
		return t.b(bEvtWs).Put(join(e.WorkspaceID, pos), nil)
	}
	return nil
}

func (t *tx) getEvent(pos string) (storage.Event, error) {
	e, err := getRecord(t, bEvents, "event", pos, decodeEvent)
	e.Position = pos
	return e, err
}

func (t *tx) FeedHead() (string, error) {
	if err := t.canRead(); err != nil {
		return "", err
	}
	k, _ := t.b(bEvents).Cursor().Last()
	return string(k), nil
}

func (t *tx) ScanEvents(after string, fn func(storage.Event) bool) error {
	return t.scanFrom(bEvents, nil, after, func(k, v []byte) (bool, error) {
		e, err := decodeEvent(v)
		if err != nil {
			return false, err
		}
		e.Position = string(k)
		return fn(e), nil
	})
}

func (t *tx) ScanWorkspaceEvents(wsID, after string, fn func(storage.Event) bool) error {
	return scanIndex(t, bEvtWs, wsID, after, t.getEvent, fn)
}

// Counters.

func (t *tx) Counter(name string) (int64, error) {
	if err := t.canRead(); err != nil {
		return 0, err
	}
	v := t.b(bCounters).Get([]byte(name))
	if v == nil {
		return 0, nil
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("counter %q: %w", name, storage.ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func (t *tx) AddCounter(name string, delta int64) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	n, err := t.Counter(name)
	if err != nil {
		return err
	}
	n += delta
	return t.b(bCounters).Put([]byte(name), binary.BigEndian.AppendUint64(nil, uint64(n)))
}

func (t *tx) ScanCounters(fn func(string, int64) bool) error {
	return t.scanFrom(bCounters, nil, "", func(k, v []byte) (bool, error) {
		if len(v) != 8 {
			return false, fmt.Errorf("counter %q: %w", k, storage.ErrCorrupt)
		}
		return fn(string(k), int64(binary.BigEndian.Uint64(v))), nil
	})
}

// Settings live in the meta bucket, beside the schema version, under a prefix.

func settingKey(name string) []byte { return append([]byte("setting:"), name...) }

func (t *tx) Setting(name string) ([]byte, error) {
	if err := t.canRead(); err != nil {
		return nil, err
	}
	v := t.b(bMeta).Get(settingKey(name))
	if v == nil {
		return nil, fmt.Errorf("setting %q: %w", name, storage.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

func (t *tx) PutSetting(name string, value []byte) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("setting: empty name: %w", storage.ErrInvalidKey)
	}
	return t.b(bMeta).Put(settingKey(name), append([]byte{}, value...))
}
