package tenancy

import (
	"context"
	"sync"
	"time"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
)

// usageTracker keeps token last-used times in memory, so Authenticate writes
// nothing. Notes for one token coalesce to its latest time; a background goroutine
// (started by the first note) writes them all in one transaction every interval, and
// Close writes the rest. The map is sharded so parallel Authenticates do not meet on
// one lock.
//
// Notes are keyed by the token's hash, which Authenticate has just computed and
// which is unique per token: picking the shard and finding the entry read only that
// hot buffer, never the token ID's bytes, and the hash is uniformly random, so its
// first byte is the shard.
type usageTracker struct {
	shards   [32]usageShard
	interval time.Duration
	start    sync.Once
	stop     chan struct{}
	done     chan struct{}
	closed   sync.Once
}

type usageShard struct {
	mu   sync.Mutex
	last map[usageKey]usageNote
	_    [48]byte // keep shards on separate cache lines
}

// usageKey is a token's hash.
type usageKey [token.HashSize]byte

// usageNote is the latest use of one token.
type usageNote struct {
	tokenID string
	at      time.Time
}

func newUsageTracker(interval time.Duration) *usageTracker {
	u := &usageTracker{interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	for i := range u.shards {
		u.shards[i].last = map[usageKey]usageNote{}
	}
	return u
}

// note records that the token with hash (as Authenticate computed it) and ID
// tokenID was used at t.
func (u *usageTracker) note(m *Manager, hash []byte, tokenID string, t time.Time) {
	var k usageKey
	copy(k[:], hash)
	u.keep(k, usageNote{tokenID: tokenID, at: t})
	u.start.Do(func() { go u.loop(m) })
}

// keep holds the latest use of a token until the next flush.
func (u *usageTracker) keep(k usageKey, n usageNote) {
	s := &u.shards[int(k[0])%len(u.shards)]
	s.mu.Lock()
	if prev, ok := s.last[k]; !ok || n.at.After(prev.at) {
		s.last[k] = n
	}
	s.mu.Unlock()
}

func (u *usageTracker) loop(m *Manager) {
	defer close(u.done)
	tick := time.NewTicker(u.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := u.flush(context.Background(), m); err != nil {
				m.log.Error("tenancy: write token last-used times (kept for the next flush)", "err", err)
			}
		case <-u.stop:
			return
		}
	}
}

// drain takes every pending note.
func (u *usageTracker) drain() map[usageKey]usageNote {
	out := map[usageKey]usageNote{}
	for i := range u.shards {
		s := &u.shards[i]
		s.mu.Lock()
		for k, v := range s.last {
			out[k] = v
		}
		s.last = map[usageKey]usageNote{}
		s.mu.Unlock()
	}
	return out
}

// flush writes pending last-used times in one transaction. A token deleted in the
// meantime is skipped; a time older than the stored one is ignored. If the write
// fails, the times are put back, so the next flush tries them again.
func (u *usageTracker) flush(ctx context.Context, m *Manager) error {
	pending := u.drain()
	if len(pending) == 0 {
		return nil
	}
	err := m.store.Update(ctx, func(tx storage.Tx) error {
		for _, n := range pending {
			// A commutative touch, never Get + Put: a revocation committed meanwhile
			// is never overwritten, and a token deleted meanwhile is skipped.
			if err := tx.TouchToken(n.tokenID, n.at.UTC().Truncate(time.Microsecond)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for k, n := range pending {
			u.keep(k, n)
		}
	}
	return err
}

// FlushTokenUsage writes the token last-used times noted so far. The Manager does
// this in the background and on Close; call it when you need them stored now. It is
// bookkeeping, not a change anyone made, so it records no audit event.
func (m *Manager) FlushTokenUsage(ctx context.Context) error {
	if err := m.usage.flush(ctx, m); err != nil {
		return storageErr("flush token usage", err)
	}
	return nil
}

// Close stops the Manager's background work and writes the pending token last-used
// times. It does not close the storage, which the host owns. Call it before closing
// the store.
func (m *Manager) Close() error {
	var err error
	m.usage.closed.Do(func() {
		close(m.usage.stop)
		started := true
		m.usage.start.Do(func() { started = false })
		if started {
			<-m.usage.done
		}
		err = m.FlushTokenUsage(context.Background())
	})
	return err
}
