package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/workspace"
)

// writeOutcome is what one write through the Manager returned.
type writeOutcome int

const (
	wrote     writeOutcome = iota // success: it must be there
	ambiguous                     // ErrAmbiguousCommit: it may be there, once
	refused                       // any other error: it must not be there
)

// A primary with a synchronous hot standby; writers create workspaces through a
// Manager on a multi-host URL (target_session_attrs=read-write); the primary is
// SIGKILLed mid-load and the standby promoted. Then: every write that returned
// success is there; a write in flight at the kill either reports
// ErrAmbiguousCommit (there at most once: never retried) or an error that means
// it did not commit, and is then absent; no write is there twice; Ping fails
// while no primary answers; the Manager writes again by itself after the
// promotion, with no restart; the feed holds one workspace.created event per
// workspace, in order; Verify finds nothing.
func TestFailoverLosesNothing(t *testing.T) {
	c := pgtest.NewCluster(t)
	store, err := postgres.Open(ctx, c.URL(), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sys := tenancy.System()
	if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "owner", Email: "owner@example.com"}); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		outcomes = map[string]writeOutcome{} // workspace name → outcome
		ids      = map[string]string{}       // name → ID, for the writes that succeeded
		phase    atomic.Int32                // 0 before the kill, 1 after it, 2 after the promotion
		after    atomic.Int32                // successes after the promotion
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	const writers = 4
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w-%d-%d", g, i)
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				w, err := m.CreateWorkspace(wctx, sys, tenancy.NewWorkspace{Name: name, OwnerID: "owner"})
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					outcomes[name], ids[name] = wrote, w.ID
					if phase.Load() == 2 {
						after.Add(1)
					}
				case errors.Is(err, storage.ErrAmbiguousCommit):
					outcomes[name] = ambiguous
				default:
					outcomes[name] = refused
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // the database is away: do not spin
				}
			}
		}()
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	waitFor := func(what string, limit time.Duration, ok func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !ok() {
			if time.Since(start) > limit {
				t.Fatalf("%s: not within %v", what, limit)
			}
			time.Sleep(10 * time.Millisecond)
		}
		return time.Since(start)
	}
	successes := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(ids)
	}
	waitFor("writes before the kill", time.Minute, func() bool { return successes() >= 40 })

	// Make the kill land while commits are in flight, every time: with the
	// standby paused, the primary's synchronous commits wait for its
	// acknowledgement (SyncRep) until every writer is waiting in one.
	c.Standby.Pause(t)
	direct, err := pgx.Connect(ctx, c.Primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	waitFor("every writer waiting in COMMIT", time.Minute, func() bool {
		var n int
		err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").Scan(&n)
		return err == nil && n == writers
	})
	_ = direct.Close(ctx)
	c.Primary.Kill(t)
	phase.Store(1)
	c.Standby.Resume(t)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := m.Ping(pctx); err == nil {
		t.Error("Ping answered with the primary killed and the standby not promoted")
	}
	cancel()
	c.Standby.Promote(t)
	phase.Store(2)
	// The Manager finds the new primary by itself: the pool's next connections
	// skip the dead host and take the one that now accepts writes.
	recovered := waitFor("writes after the promotion", 90*time.Second, func() bool { return after.Load() >= writers*5 })
	close(stop)
	wg.Wait()
	t.Logf("writes again %v after the promotion", recovered.Round(time.Millisecond))

	// What is stored, read from the new primary.
	stored := map[string]int{}
	for cursor := ""; ; {
		page, err := m.ListWorkspaces(ctx, sys, workspace.ListOptions{Limit: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range page.Items {
			stored[w.Name]++
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	counts := map[writeOutcome]int{}
	for name, o := range outcomes {
		counts[o]++
		switch n := stored[name]; {
		case n > 1:
			t.Errorf("%s is stored %d times", name, n)
		case o == wrote && n == 0:
			t.Errorf("%s was acknowledged but is lost", name)
		case o == refused && n == 1:
			t.Errorf("%s failed with an error that says it did not commit, but it is stored", name)
		}
	}
	for name := range stored {
		if _, ok := outcomes[name]; !ok {
			t.Errorf("%s is stored but nobody wrote it", name)
		}
	}
	t.Logf("%d acknowledged, %d ambiguous, %d refused; %d stored", counts[wrote], counts[ambiguous], counts[refused], len(stored))
	// The writers killed in COMMIT cannot know whether it took: each says so.
	if counts[ambiguous] < writers {
		t.Errorf("%d writes reported ErrAmbiguousCommit; %d were in COMMIT when the primary died", counts[ambiguous], writers)
	}

	// The feed: one workspace.created per stored workspace, positions in order.
	created, last := 0, ""
	for pos := ""; ; {
		page, err := m.Feed(ctx, sys, tenancy.EventListOptions{Limit: 100, Cursor: pos})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Items {
			if last != "" && e.Position <= last {
				t.Fatalf("feed position %s after %s", e.Position, last)
			}
			last = e.Position
			if e.Type == "workspace.created" {
				created++
			}
		}
		if !page.HasMore {
			break
		}
		pos = page.NextCursor
	}
	if created != len(stored) {
		t.Errorf("the feed has %d workspace.created events for %d workspaces", created, len(stored))
	}
	findings, err := m.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("verify: %v", f)
	}
}
