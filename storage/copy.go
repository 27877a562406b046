package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// CopyOptions tunes Copy.
type CopyOptions struct {
	// Batch is how many records go in one transaction of the target; 0 means 1000.
	Batch int
	// Progress, when set, is told after each batch how many records are copied.
	Progress func(copied int)
}

// CopyCounts says what Copy copied.
type CopyCounts struct {
	Users, Workspaces, Members, Invitations, Tokens, Events, Counters, Settings, Consumers, Webhooks, Attempts int
}

// ErrTargetNotEmpty is returned by Copy when the target already holds records
// that no interrupted Copy left.
var ErrTargetNotEmpty = errors.New("storage: the copy's target is not empty")

// copyMark is the setting a Copy keeps in its target: "copying" from its first
// transaction, "done" in its last. A target marked "copying" is one an
// interrupted Copy left: Copy resumes it.
const copyMark = "storage_copy"

// Copy copies every record of src into dst, which must be empty: users,
// workspaces (deleted ones too), memberships, invitations, tokens, the feed in its
// order, counters, the settings the Manager keeps, consumers, webhooks and their
// attempts. It reads src in one View (one consistent state; src keeps serving) and
// writes dst in transactions of opts.Batch records. dst assigns its own feed
// positions; consumers' checkpoints and attempts are moved to the copied events'
// new positions, and leases are cleared (no instance of dst holds one yet). Tokens
// and invitations keep working when dst is opened with the same secret key: their
// hashes are copied as they are.
//
// It moves a store between backends (bbolt to PostgreSQL, memory to bbolt, …).
// Every transaction of dst is whole, so a Copy stopped midway (a crash, a kill)
// leaves dst marked as being copied; running Copy again with the same src resumes:
// records already in dst are passed over, the feed continues after the events
// already copied, and the counters are added once, in the last transaction.
func Copy(ctx context.Context, dst, src Storage, opts CopyOptions) (CopyCounts, error) {
	var n CopyCounts
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	empty := true
	err := dst.View(ctx, func(tx Reader) error {
		check := func(found bool) bool { empty = empty && !found; return false }
		if err := tx.ScanUsers("", func(member.User) bool { return check(true) }); err != nil {
			return err
		}
		if err := tx.ScanWorkspaces("", func(workspace.Workspace) bool { return check(true) }); err != nil {
			return err
		}
		return tx.ScanEvents("", func(Event) bool { return check(true) })
	})
	if err != nil {
		return n, fmt.Errorf("storage: copy: read the target: %w", err)
	}
	var mark []byte
	var copiedEvents int
	err = dst.View(ctx, func(tx Reader) error {
		var err error
		if mark, err = tx.Setting(copyMark); errors.Is(err, ErrNotFound) {
			err = nil
		}
		if err != nil {
			return err
		}
		return tx.ScanEvents("", func(Event) bool { copiedEvents++; return true })
	})
	if err != nil {
		return n, fmt.Errorf("storage: copy: read the target: %w", err)
	}
	resume := string(mark) == "copying"
	if !empty && !resume {
		return n, ErrTargetNotEmpty
	}
	if !resume {
		copiedEvents = 0
	}
	w := &copyWriter{ctx: ctx, dst: dst, batch: opts.Batch, progress: opts.Progress}
	w.add(func(t ReadWriter) error { return t.PutSetting(copyMark, []byte("copying")) })
	// once wraps a create: on a resumed copy, a record the interrupted one already
	// wrote is passed over.
	once := func(exists func(t ReadWriter) bool, create func(t ReadWriter) error) func(ReadWriter) error {
		if !resume {
			return create
		}
		return func(t ReadWriter) error {
			if exists(t) {
				return nil
			}
			return create(t)
		}
	}
	err = src.View(ctx, func(tx Reader) error {
		if err := tx.ScanUsers("", func(u member.User) bool {
			n.Users++
			return w.add(once(func(t ReadWriter) bool { _, err := t.GetUser(u.ID); return err == nil },
				func(t ReadWriter) error { return t.CreateUser(u) }))
		}); err != nil {
			return err
		}
		var wsIDs []string
		if err := scanAllWorkspaces(tx, func(ws workspace.Workspace) bool {
			n.Workspaces++
			wsIDs = append(wsIDs, ws.ID)
			return w.add(once(func(t ReadWriter) bool { _, err := t.GetWorkspace(ws.ID); return err == nil },
				func(t ReadWriter) error { return t.CreateWorkspace(ws) }))
		}); err != nil {
			return err
		}
		for _, id := range wsIDs {
			if err := tx.ScanMembers(id, "", func(m member.Member) bool {
				n.Members++
				return w.add(once(func(t ReadWriter) bool { _, err := t.GetMember(m.WorkspaceID, m.UserID); return err == nil },
					func(t ReadWriter) error { return t.CreateMember(m) }))
			}); err != nil {
				return err
			}
			if err := tx.ScanInvitations(id, "", func(i member.Invitation) bool {
				n.Invitations++
				return w.add(once(func(t ReadWriter) bool { _, err := t.GetInvitation(i.ID); return err == nil },
					func(t ReadWriter) error { return t.CreateInvitation(i) }))
			}); err != nil {
				return err
			}
		}
		if err := scanAllTokens(tx, wsIDs, func(k token.Token) bool {
			n.Tokens++
			return w.add(once(func(t ReadWriter) bool { _, err := t.GetToken(k.ID); return err == nil },
				func(t ReadWriter) error { return t.CreateToken(k) }))
		}); err != nil {
			return err
		}
		// The feed, in its order. dst gives each event its own position; remember
		// the old ones, in order, to move checkpoints.
		var old []string
		if err := tx.ScanEvents("", func(e Event) bool {
			n.Events++
			old = append(old, e.Position)
			if len(old) <= copiedEvents {
				return true // an interrupted copy appended it already
			}
			return w.add(func(t ReadWriter) error { return t.AppendEvent(e) })
		}); err != nil {
			return err
		}
		for _, name := range SettingNames {
			v, err := tx.Setting(name)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			n.Settings++
			w.add(func(t ReadWriter) error { return t.PutSetting(name, v) })
		}
		if err := w.flush(); err != nil {
			return err
		}
		// The new positions, in the same order as the old.
		var fresh []string
		if err := dst.View(ctx, func(d Reader) error {
			return d.ScanEvents("", func(e Event) bool { fresh = append(fresh, e.Position); return true })
		}); err != nil {
			return err
		}
		if len(fresh) != len(old) {
			return fmt.Errorf("storage: copy: %d events copied, %d in the target's feed (an older transaction may still hide some: retry when the target is idle)", len(old), len(fresh))
		}
		moved := func(pos string) string { return movePosition(old, fresh, pos) }
		if err := tx.ScanConsumers("", func(c Consumer) bool {
			n.Consumers++
			c.Position, c.Holder, c.LeaseUntil = moved(c.Position), "", time.Time{}
			return w.add(once(func(t ReadWriter) bool { _, err := t.GetConsumer(c.Name); return err == nil },
				func(t ReadWriter) error { return t.CreateConsumer(c) }))
		}); err != nil {
			return err
		}
		var hooks []string
		if err := tx.ScanWebhooks("", func(e webhook.Endpoint) bool {
			n.Webhooks++
			hooks = append(hooks, e.ID)
			return w.add(once(func(t ReadWriter) bool { _, err := t.GetWebhook(e.ID); return err == nil },
				func(t ReadWriter) error { return t.CreateWebhook(e) }))
		}); err != nil {
			return err
		}
		if err := w.flush(); err != nil { // attempts need their endpoints
			return err
		}
		for _, id := range hooks {
			if err := tx.ScanWebhookAttempts(id, "", func(a webhook.Attempt) bool {
				n.Attempts++
				a.Position = moved(a.Position)
				return w.add(once(func(t ReadWriter) bool {
					found := false
					_ = t.ScanWebhookAttempts(a.EndpointID, "", func(x webhook.Attempt) bool { found = x.ID == a.ID; return !found })
					return found
				}, func(t ReadWriter) error { return t.CreateWebhookAttempt(a) }))
			}); err != nil {
				return err
			}
		}
		if err := w.flush(); err != nil {
			return err
		}
		// The counters are sums: they go in the last transaction, with the mark
		// that the copy is done, so a resumed copy never adds them twice.
		var counters []func(ReadWriter) error
		if err := tx.ScanCounters(func(name string, v int64) bool {
			n.Counters++
			counters = append(counters, func(t ReadWriter) error { return t.AddCounter(name, v) })
			return true
		}); err != nil {
			return err
		}
		counters = append(counters, func(t ReadWriter) error { return t.PutSetting(copyMark, []byte("done")) })
		w.pending = counters
		w.batch = len(counters) + 1
		return w.flush()
	})
	if err == nil {
		err = w.err
	}
	if err != nil {
		return n, fmt.Errorf("storage: copy: %w", err)
	}
	return n, nil
}

// movePosition maps a source feed position to the target's: the position of the
// same event, or of the last event before it ("" when there is none), so a
// checkpoint that pointed between events keeps its place.
func movePosition(old, fresh []string, pos string) string {
	if pos == "" {
		return ""
	}
	i := sort.SearchStrings(old, pos) // old is in feed order: bytewise ascending
	if i < len(old) && old[i] == pos {
		return fresh[i]
	}
	if i == 0 {
		return ""
	}
	return fresh[i-1]
}

// scanAllWorkspaces walks every workspace, deleted ones included.
func scanAllWorkspaces(tx Reader, fn func(workspace.Workspace) bool) error {
	return tx.ScanWorkspaces("", fn)
}

// scanAllTokens walks every token once: with a FullScanner, directly; else
// through the workspaces' and the users' indexes.
func scanAllTokens(tx Reader, wsIDs []string, fn func(token.Token) bool) error {
	if fs, ok := tx.(FullScanner); ok {
		return fs.ScanTokens("", fn)
	}
	seen := map[string]bool{}
	visit := func(k token.Token) bool {
		if seen[k.ID] {
			return true
		}
		seen[k.ID] = true
		return fn(k)
	}
	for _, id := range wsIDs {
		if err := tx.ScanWorkspaceTokens(id, "", visit); err != nil {
			return err
		}
	}
	var users []string
	if err := tx.ScanUsers("", func(u member.User) bool { users = append(users, u.ID); return true }); err != nil {
		return err
	}
	for _, id := range users {
		if err := tx.ScanUserTokens(id, "", visit); err != nil {
			return err
		}
	}
	return nil
}

// copyWriter gathers writes into transactions of dst.
type copyWriter struct {
	ctx      context.Context
	dst      Storage
	batch    int
	pending  []func(ReadWriter) error
	copied   int
	progress func(int)
	err      error
}

// add queues a write; it reports whether to go on (false after a failed batch).
func (w *copyWriter) add(fn func(ReadWriter) error) bool {
	if w.err != nil {
		return false
	}
	w.pending = append(w.pending, fn)
	if len(w.pending) >= w.batch {
		w.err = w.flush()
	}
	return w.err == nil
}

func (w *copyWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.pending) == 0 {
		return nil
	}
	writes := w.pending
	err := w.dst.Update(w.ctx, func(t ReadWriter) error {
		for _, fn := range writes {
			if err := fn(t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.err = err
		return err
	}
	w.copied += len(writes)
	w.pending = w.pending[:0]
	if w.progress != nil {
		w.progress(w.copied)
	}
	return nil
}

// Count counts the records of s as Copy counts what it copies, in one View: after
// a Copy, Count of the target equals Count of the source (the settings aside: a
// target also holds the copy's own mark), which is how a move between backends is
// checked. Counters counts the counter names.
func Count(ctx context.Context, s Storage) (CopyCounts, error) {
	var n CopyCounts
	err := s.View(ctx, func(tx Reader) error {
		if err := tx.ScanUsers("", func(member.User) bool { n.Users++; return true }); err != nil {
			return err
		}
		var wsIDs []string
		if err := scanAllWorkspaces(tx, func(ws workspace.Workspace) bool {
			n.Workspaces++
			wsIDs = append(wsIDs, ws.ID)
			return true
		}); err != nil {
			return err
		}
		for _, id := range wsIDs {
			if err := tx.ScanMembers(id, "", func(member.Member) bool { n.Members++; return true }); err != nil {
				return err
			}
			if err := tx.ScanInvitations(id, "", func(member.Invitation) bool { n.Invitations++; return true }); err != nil {
				return err
			}
		}
		if err := scanAllTokens(tx, wsIDs, func(token.Token) bool { n.Tokens++; return true }); err != nil {
			return err
		}
		if err := tx.ScanEvents("", func(Event) bool { n.Events++; return true }); err != nil {
			return err
		}
		for _, name := range SettingNames {
			if _, err := tx.Setting(name); err == nil {
				n.Settings++
			} else if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		if err := tx.ScanConsumers("", func(Consumer) bool { n.Consumers++; return true }); err != nil {
			return err
		}
		var hooks []string
		if err := tx.ScanWebhooks("", func(e webhook.Endpoint) bool { n.Webhooks++; hooks = append(hooks, e.ID); return true }); err != nil {
			return err
		}
		for _, id := range hooks {
			if err := tx.ScanWebhookAttempts(id, "", func(webhook.Attempt) bool { n.Attempts++; return true }); err != nil {
				return err
			}
		}
		return tx.ScanCounters(func(string, int64) bool { n.Counters++; return true })
	})
	if err != nil {
		return n, fmt.Errorf("storage: count: %w", err)
	}
	return n, nil
}

// Total is the number of records counted, counters and settings included.
func (n CopyCounts) Total() int {
	return n.Users + n.Workspaces + n.Members + n.Invitations + n.Tokens + n.Events + n.Counters + n.Settings +
		n.Consumers + n.Webhooks + n.Attempts
}
