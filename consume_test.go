package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
)

// collector is a consumer's function that records what it was given and fails on
// cue.
type collector struct {
	mu   sync.Mutex
	seen []string // "type ws"
	fail map[string]int
}

func (c *collector) fn(_ context.Context, e tenancy.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen = append(c.seen, e.Type+" "+e.WorkspaceID)
	if n := c.fail[e.Type]; n > 0 {
		c.fail[e.Type] = n - 1
		return fmt.Errorf("provisioning %s failed", e.Type)
	}
	return nil
}

func (c *collector) got() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

func TestConsumerFollowsTheFeedInOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		w2, err := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Second"})
		if err != nil {
			t.Fatal(err)
		}
		c := &collector{}
		opts := tenancy.ConsumeOptions{Types: []string{"workspace.created"}, Instance: "a"}
		res, err := e.m.ConsumeStep(ctx, system, "provisioner", opts, c.fn)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"workspace.created " + e.ws.ID, "workspace.created " + w2.ID}
		if got := c.got(); !slices.Equal(got, want) {
			t.Fatalf("handed out %v, want %v", got, want)
		}
		if !res.Leased || res.Handled != 2 || res.Passed == 0 || !res.CaughtUp || res.Failed != nil {
			t.Errorf("step result %+v", res)
		}
		// Nothing new: nothing handed out again.
		if _, err := e.m.ConsumeStep(ctx, system, "provisioner", opts, c.fn); err != nil {
			t.Fatal(err)
		}
		if got := c.got(); len(got) != 2 {
			t.Errorf("a second step handed out %v again", got[2:])
		}
		// A new workspace is handed out next, to another instance too once the
		// first one's lease lapsed: the checkpoint is in storage.
		w3, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Third"})
		e.clock.Advance(time.Minute)
		opts.Instance = "b"
		if _, err := e.m.ConsumeStep(ctx, system, "provisioner", opts, c.fn); err != nil {
			t.Fatal(err)
		}
		if got := c.got(); len(got) != 3 || got[2] != "workspace.created "+w3.ID {
			t.Errorf("after a restart the consumer handed out %v, want just %s", got[2:], w3.ID)
		}
		st, err := e.m.ConsumerStatus(ctx, platform, "provisioner")
		if err != nil || st.Holder != "b" || st.Position == "" || st.Failures != 0 {
			t.Errorf("status %+v, %v", st, err)
		}
	})
}

func TestConsumerRetriesAFailingEventAndNeverSkipsIt(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		w2, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Second"})
		c := &collector{fail: map[string]int{"workspace.created": 3}}
		opts := tenancy.ConsumeOptions{Types: []string{"workspace.created"}, Instance: "a",
			Retry: []time.Duration{time.Second, time.Minute}}
		step := func() tenancy.StepResult {
			t.Helper()
			res, err := e.m.ConsumeStep(ctx, system, "p", opts, c.fn)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		res := step()
		if res.Failed == nil || res.Wait != time.Second || res.Handled != 0 {
			t.Fatalf("first failure: %+v", res)
		}
		// Before the retry is due nothing is tried.
		if res := step(); res.Wait != time.Second || len(c.got()) != 1 {
			t.Errorf("a step before the retry: %+v, tried %d times", res, len(c.got()))
		}
		e.clock.Advance(time.Second)
		if res := step(); res.Failed == nil || res.Wait != time.Minute {
			t.Errorf("second failure: %+v (want the schedule's next wait)", res)
		}
		e.clock.Advance(time.Minute)
		if res := step(); res.Failed == nil || res.Wait != time.Minute {
			t.Errorf("third failure: %+v (the last wait repeats)", res)
		}
		e.clock.Advance(time.Minute)
		if res := step(); res.Failed != nil || res.Handled != 2 {
			t.Errorf("after the failures: %+v, want both workspaces handled", res)
		}
		want := []string{"workspace.created " + e.ws.ID, "workspace.created " + e.ws.ID, "workspace.created " + e.ws.ID,
			"workspace.created " + e.ws.ID, "workspace.created " + w2.ID}
		if got := c.got(); !slices.Equal(got, want) {
			t.Errorf("handed out %v, want %v (the failing event blocks the ones after it)", got, want)
		}
	})
}

func TestConsumerSkipsOnlyWhenTold(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var seen []string
		fn := func(_ context.Context, ev tenancy.Event) error {
			seen = append(seen, ev.Type)
			if ev.Type == "workspace.created" {
				return fmt.Errorf("cannot provision: %w", tenancy.ErrSkipEvent)
			}
			return nil
		}
		res, err := e.m.ConsumeStep(ctx, system, "skipper", tenancy.ConsumeOptions{Instance: "a"}, fn)
		if err != nil || res.Failed != nil || !res.CaughtUp {
			t.Fatalf("step: %+v, %v", res, err)
		}
		again := len(seen)
		if _, err := e.m.ConsumeStep(ctx, system, "skipper", tenancy.ConsumeOptions{Instance: "a"}, fn); err != nil || len(seen) != again {
			t.Errorf("a skipped event came again (%v, %v)", seen[again:], err)
		}
	})
}

func TestConsumerFiltersByWorkspace(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		other, _ := e.m.CreateWorkspace(ctx, outsider, tenancy.NewWorkspace{Name: "Elsewhere"})
		if _, err := e.m.UpdateWorkspace(ctx, owner, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("Renamed")}); err != nil {
			t.Fatal(err)
		}
		var seen []string
		fn := func(_ context.Context, ev tenancy.Event) error { seen = append(seen, ev.WorkspaceID); return nil }
		// A workspace's admin may follow its events, and sees no other workspace's.
		opts := tenancy.ConsumeOptions{WorkspaceID: e.ws.ID, Instance: "a"}
		if _, err := e.m.ConsumeStep(ctx, admin, "ws-follower", opts, fn); err != nil {
			t.Fatal(err)
		}
		if len(seen) == 0 {
			t.Fatal("the workspace's events were not handed out")
		}
		for _, ws := range seen {
			if ws != e.ws.ID {
				t.Errorf("a workspace consumer was handed an event of %q", ws)
			}
		}
		_ = other
	})
}

func TestConsumerAuthorization(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		fn := func(context.Context, tenancy.Event) error { return nil }
		before := e.dump(t)
		for _, c := range []struct {
			p    tenancy.Principal
			opts tenancy.ConsumeOptions
			kind error
			msg  string
		}{
			{owner, tenancy.ConsumeOptions{}, tenancy.ErrPermissionDenied, "only platform users"},
			{outsider, tenancy.ConsumeOptions{WorkspaceID: e.ws.ID}, tenancy.ErrNotFound, "not found"},
			{viewer, tenancy.ConsumeOptions{WorkspaceID: e.ws.ID}, tenancy.ErrPermissionDenied, "audit"},
			{nobody, tenancy.ConsumeOptions{}, tenancy.ErrUnauthenticated, "authenticate"},
			{ghost, tenancy.ConsumeOptions{}, tenancy.ErrUnauthenticated, "unknown user"},
		} {
			_, err := e.m.ConsumeStep(ctx, c.p, "c", c.opts, fn)
			wantErr(t, err, c.kind, c.msg)
		}
		for _, name := range []string{"", "has space", "webhook:whk_1", string(make([]byte, 101))} {
			_, err := e.m.ConsumeStep(ctx, system, name, tenancy.ConsumeOptions{}, fn)
			wantErr(t, err, tenancy.ErrInvalidArgument, "consumer name")
		}
		_, err := e.m.ConsumeStep(ctx, system, "c", tenancy.ConsumeOptions{Retry: []time.Duration{-1}}, fn)
		wantErr(t, err, tenancy.ErrInvalidArgument, "retry")
		if after := e.dump(t); after != before {
			t.Error("a refused consumer changed the store")
		}
		_, err = e.m.ConsumerStatus(ctx, owner, "c")
		wantErr(t, err, tenancy.ErrPermissionDenied, "platform")
		err = e.m.ResetConsumer(ctx, owner, "c", "")
		wantErr(t, err, tenancy.ErrPermissionDenied, "platform")
		_, err = e.m.ConsumerStatus(ctx, platform, "c")
		wantErr(t, err, tenancy.ErrNotFound, "no consumer")
	})
}

// One instance runs a consumer at a time: another waits for the lease, takes over
// once it lapses, and the first, coming back, cannot move the checkpoint.
func TestConsumerLease(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a, b := &collector{}, &collector{}
		optsA := tenancy.ConsumeOptions{Instance: "a", Lease: 30 * time.Second, Types: []string{"workspace.created"}}
		optsB := optsA
		optsB.Instance = "b"
		if _, err := e.m.ConsumeStep(ctx, system, "leased", optsA, a.fn); err != nil {
			t.Fatal(err)
		}
		_, _ = e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "New"})
		res, err := e.m.ConsumeStep(ctx, system, "leased", optsB, b.fn)
		if err != nil || res.Leased || res.Wait <= 0 || len(b.got()) != 0 {
			t.Fatalf("b while a holds the lease: %+v, %v, handed %v", res, err, b.got())
		}
		e.clock.Advance(31 * time.Second)
		res, err = e.m.ConsumeStep(ctx, system, "leased", optsB, b.fn)
		if err != nil || !res.Leased || len(b.got()) != 1 {
			t.Fatalf("b after a's lease lapsed: %+v, %v, handed %v", res, err, b.got())
		}
		// a is back: b holds the lease now.
		res, err = e.m.ConsumeStep(ctx, system, "leased", optsA, a.fn)
		if err != nil || res.Leased || len(a.got()) != 1 {
			t.Errorf("a while b holds the lease: %+v, %v", res, err)
		}
	})
}

func TestConsumerStartAtEndAndReset(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c := &collector{}
		opts := tenancy.ConsumeOptions{Instance: "a", StartAtEnd: true, Types: []string{"workspace.created"}}
		if res, err := e.m.ConsumeStep(ctx, system, "late", opts, c.fn); err != nil || len(c.got()) != 0 {
			t.Fatalf("a consumer starting at the end was handed %v (%+v, %v)", c.got(), res, err)
		}
		w, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "After"})
		if _, err := e.m.ConsumeStep(ctx, system, "late", opts, c.fn); err != nil {
			t.Fatal(err)
		}
		if got := c.got(); !slices.Equal(got, []string{"workspace.created " + w.ID}) {
			t.Fatalf("handed %v, want only the workspace made after it started", got)
		}
		// Reset to the start: everything again.
		if err := e.m.ResetConsumer(ctx, platform, "late", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.ConsumeStep(ctx, system, "late", opts, c.fn); err != nil {
			t.Fatal(err)
		}
		if got := c.got(); len(got) != 3 || got[1] != "workspace.created "+e.ws.ID {
			t.Errorf("after a reset: %v", got)
		}
	})
}

// Consume runs until its context ends, handing out new events as they commit.
func TestConsumeRunsUntilCanceled(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		seen := make(chan string, 16)
		done := make(chan error, 1)
		go func() {
			done <- e.m.Consume(ctx, system, "runner", tenancy.ConsumeOptions{Poll: time.Millisecond, Types: []string{"workspace.created"}},
				func(_ context.Context, ev tenancy.Event) error { seen <- ev.WorkspaceID; return nil })
		}()
		if got := <-seen; got != e.ws.ID {
			t.Fatalf("first event for %s, want %s", got, e.ws.ID)
		}
		w, err := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Live"})
		if err != nil {
			t.Fatal(err)
		}
		if got := <-seen; got != w.ID {
			t.Fatalf("next event for %s, want %s", got, w.ID)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Consume returned %v, want context.Canceled", err)
		}
	})
}
