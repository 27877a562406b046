package tenancy

import (
	"context"
	"sync"
	"time"

	"github.com/tenancykit/tenancy/storage"
)

// usageTracker keeps token last-used times in memory, so Authenticate writes
// nothing. A background goroutine (started by the first note) writes them in one
// transaction every interval, and Close writes the rest.
//
// A note is an append to a small buffer: Authenticate pays for a lock nobody else
// holds (the buffers are sharded by the token hash's first byte, uniformly random)
// and a write to a cache line it has just used, never a lookup in a large map.
// Coalescing notes to each token's latest time happens off the request path: when a
// buffer is half full the background goroutine is woken to sweep every buffer into
// the pending map, and a buffer found full (the goroutine is behind) is swept by the
// note that fills it, so memory stays bounded.
//
// Lock order: mu, then a shard's mu. A sweep holds mu from taking buffers to merging
// them, so a flush never misses a note that is between a buffer and the map.
type usageTracker struct {
	shards   [32]usageShard
	mu       sync.Mutex           // guards pending and every sweep
	pending  map[string]time.Time // token ID → latest use, coalesced
	kick     chan struct{}        // wakes the goroutine to sweep; capacity 1
	interval time.Duration
	start    sync.Once
	stop     chan struct{}
	done     chan struct{}
	closed   sync.Once
}

// usageBuffer is how many notes a shard holds before they must be coalesced; the
// goroutine is woken at half of it.
const usageBuffer = 256

type usageShard struct {
	mu    sync.Mutex
	notes []usageNote // appended to by note, taken by a sweep
	spare []usageNote // an emptied buffer to swap in, so sweeping allocates nothing
	_     [8]byte     // keep shards on separate cache lines
}

// usageNote is one use of a token.
type usageNote struct {
	tokenID string
	at      time.Time
}

func newUsageTracker(interval time.Duration) *usageTracker {
	u := &usageTracker{pending: map[string]time.Time{}, kick: make(chan struct{}, 1), interval: interval,
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := range u.shards {
		u.shards[i].notes = make([]usageNote, 0, usageBuffer)
		u.shards[i].spare = make([]usageNote, 0, usageBuffer)
	}
	return u
}

// note records that the token with hash (as Authenticate computed it) and ID
// tokenID was used at t.
func (u *usageTracker) note(m *Manager, hash []byte, tokenID string, t time.Time) {
	s := &u.shards[int(hash[0])%len(u.shards)]
	s.mu.Lock()
	s.notes = append(s.notes, usageNote{tokenID: tokenID, at: t})
	n := len(s.notes)
	s.mu.Unlock()
	switch {
	case n == usageBuffer/2:
		select {
		case u.kick <- struct{}{}:
		default: // a sweep is already asked for
		}
	case n >= usageBuffer:
		u.sweep() // the goroutine is behind: coalesce here rather than grow
	}
	u.start.Do(func() { go u.loop(m) })
}

// sweep coalesces every shard's notes into pending.
func (u *usageTracker) sweep() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := range u.shards {
		s := &u.shards[i]
		s.mu.Lock()
		notes := s.notes
		s.notes, s.spare = s.spare, nil
		s.mu.Unlock()
		for _, n := range notes {
			u.keepLocked(n.tokenID, n.at)
		}
		clear(notes) // hold no token IDs
		s.mu.Lock()
		s.spare = notes[:0]
		s.mu.Unlock()
	}
}

// keepLocked holds the latest use of a token until the next flush. u.mu is held.
func (u *usageTracker) keepLocked(tokenID string, t time.Time) {
	if prev, ok := u.pending[tokenID]; !ok || t.After(prev) {
		u.pending[tokenID] = t
	}
}

func (u *usageTracker) loop(m *Manager) {
	defer close(u.done)
	tick := time.NewTicker(u.interval)
	defer tick.Stop()
	for {
		select {
		case <-u.kick:
			u.sweep()
		case <-tick.C:
			if err := u.flush(context.Background(), m); err != nil {
				m.log.Error("tenancy: write token last-used times (kept for the next flush)", "err", err)
			}
		case <-u.stop:
			return
		}
	}
}

// drain takes every note made so far, coalesced.
func (u *usageTracker) drain() map[string]time.Time {
	u.sweep()
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.pending
	u.pending = map[string]time.Time{}
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
	err := m.store.Update(ctx, func(tx storage.ReadWriter) error {
		for id, at := range pending {
			// A commutative touch, never Get + Put: a revocation committed meanwhile
			// is never overwritten, and a token deleted meanwhile is skipped.
			if err := tx.TouchToken(id, at.UTC().Truncate(time.Microsecond)); err != nil {
				return err
			}
		}
		return nil
	})
	m.tel.flush(len(pending), err)
	if err != nil {
		u.mu.Lock()
		for id, at := range pending {
			u.keepLocked(id, at)
		}
		u.mu.Unlock()
	}
	return err
}

// FlushTokenUsage writes the token last-used times noted so far. The Manager does
// this in the background and on Close; call it when you need them stored now. It is
// bookkeeping, not a change anyone made, so it records no audit event.
func (m *Manager) FlushTokenUsage(ctx context.Context) (err error) {
	ctx, span := m.tel.start(ctx, "FlushTokenUsage", System())
	defer func() { span.end(err) }()
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
		m.background.Wait()
		err = m.FlushTokenUsage(context.Background())
	})
	return err
}
