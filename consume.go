package tenancy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
)

// ErrSkipEvent, returned (or wrapped) by a consumer's function, passes over the
// event it was given: the checkpoint moves past it as if it had been handled. Any
// other error retries the event later; a consumer never skips one on its own.
var ErrSkipEvent = errors.New("tenancy: skip this event")

// ConsumeOptions configures a consumer of the feed. The zero value follows every
// event from the start of the feed.
type ConsumeOptions struct {
	// Types, when set, are the event types the function is called for; the others
	// are passed over.
	Types []string
	// WorkspaceID, when set, limits the consumer to one workspace's events; then the
	// principal needs to read that workspace's audit log instead of platform powers.
	WorkspaceID string
	// StartAtEnd makes a consumer seen for the first time start after the newest
	// event instead of at the oldest. It has no effect once a checkpoint exists.
	StartAtEnd bool
	// Retry is how long a failing event waits before each next try: the first wait,
	// the second, …, and the last one again for every try after. Nil means 1 s, 5 s,
	// 30 s, 2 min, then every 10 min.
	Retry []time.Duration
	// Lease is how long an instance keeps the consumer without renewing it: with
	// several instances on one database one of them runs a consumer at a time, and
	// another takes over once the lease of a stopped one lapses. 0 means 30 s.
	Lease time.Duration
	// Poll is how often Consume looks for new events after catching up. 0 means 1 s.
	Poll time.Duration
	// Instance names this process in the lease; empty means a random name per call.
	Instance string
	// Batch is how many events one step reads; 0 means 100.
	Batch int
	// OnError receives the failures Consume keeps going through (a storage error,
	// a handler's error); nil logs them to Options.Logger.
	OnError func(name string, err error)
}

// Default consumer settings.
var defaultRetry = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}

const (
	defaultLease      = 30 * time.Second
	defaultPoll       = time.Second
	defaultBatch      = 100
	maxConsumerName   = 100
	webhookConsumerNS = "webhook:" // the names of the webhook deliverers' consumers
)

// StepResult says what one step of a consumer did.
type StepResult struct {
	// Handled is how many events the function was called for and accepted (or
	// skipped with ErrSkipEvent); Passed is how many the filters passed over.
	Handled, Passed int
	// Leased is false when another instance holds the consumer's lease.
	Leased bool
	// Failed is the error of the event that failed this step, if one did; it is
	// tried again after Wait.
	Failed error
	// Position is the checkpoint after the step.
	Position string
	// Wait is how long to wait before the next step is useful: until the lease
	// lapses, until a failing event's retry, or 0 when more events may be waiting.
	// After catching up it is 0 with CaughtUp set.
	Wait     time.Duration
	CaughtUp bool
}

// ConsumerStatus is a consumer's checkpoint as stored.
type ConsumerStatus = storage.Consumer

// Consume follows the feed as the consumer called name: it calls fn for each event,
// in feed order, from the consumer's durable checkpoint, and moves the checkpoint
// past an event only once fn accepted it, so after a crash it resumes where it
// stopped (an event fn handled just before a crash may come again: at least once,
// never skipped). A failing event is retried after opts.Retry's waits, blocking the
// events after it, until fn accepts it or returns ErrSkipEvent. With several
// instances on one database, one runs the consumer at a time (a lease kept in
// storage); the others wait and take over when its lease lapses.
//
// Consume blocks until ctx ends, and then returns ctx.Err(). p must have platform
// powers (rbac.ListAll), or, with opts.WorkspaceID, may read that workspace's audit
// log; it is checked at every step, so a principal that loses the right stops the
// consumer (with the error). Names are 1-100 letters, digits and ".-_:", and may
// not start with "webhook:", which the webhook deliverers use.
//
// Errors: ErrInvalidArgument (name, options), ErrPermissionDenied,
// ErrUnauthenticated, or ctx.Err().
func (m *Manager) Consume(ctx context.Context, p Principal, name string, opts ConsumeOptions, fn func(context.Context, Event) error) error {
	if err := validConsumerName(name); err != nil {
		return err
	}
	if opts.Instance == "" {
		opts.Instance = randomInstance()
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = defaultPoll
	}
	for {
		res, err := m.ConsumeStep(ctx, p, name, opts, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var e *Error
		if errors.As(err, &e) && (e.Kind == ErrPermissionDenied || e.Kind == ErrUnauthenticated || e.Kind == ErrInvalidArgument) {
			return err
		}
		if err != nil {
			m.consumeError(opts, name, err)
		} else if res.Failed != nil {
			m.consumeError(opts, name, res.Failed)
		}
		var wait time.Duration
		switch {
		case err != nil:
			wait = poll
		case !res.Leased || res.Failed != nil || res.Wait > 0:
			wait = res.Wait // until the lease lapses, or the failing event's next try
		case res.CaughtUp:
			wait = poll
		}
		if wait <= 0 {
			continue
		}
		if err := m.feed.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// feedSignal wakes this process's consumers and deliverers when one of its
// transactions commits an event, so they start at once instead of at their next
// poll (other instances' commits are found by polling).
type feedSignal struct {
	mu sync.Mutex
	ch chan struct{} // closed by the next commit; nil while nobody waits
}

func (f *feedSignal) notify() {
	f.mu.Lock()
	if f.ch != nil {
		close(f.ch)
		f.ch = nil
	}
	f.mu.Unlock()
}

// sleep waits d, or until this process commits an event, or ctx ends.
func (f *feedSignal) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	if f.ch == nil {
		f.ch = make(chan struct{})
	}
	woken := f.ch
	f.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-woken:
	}
	return nil
}

func (m *Manager) consumeError(opts ConsumeOptions, name string, err error) {
	if opts.OnError != nil {
		opts.OnError(name, err)
		return
	}
	m.log.Warn("tenancy: consumer", "name", name, "error", err)
}

// ConsumeStep runs one step of the consumer called name, as Consume does between
// its waits: it takes or renews the lease, then hands fn up to opts.Batch events
// after the checkpoint, stopping at the first that fails. It is what a host with
// its own scheduler calls, and what tests drive with a fake clock. opts.Instance
// names the caller in the lease; give the same name at every step.
//
// Errors: as Consume, without ctx's; an error leaves the checkpoint where it was.
func (m *Manager) ConsumeStep(ctx context.Context, p Principal, name string, opts ConsumeOptions, fn func(context.Context, Event) error) (_ StepResult, err error) {
	ctx, span := m.tel.start(ctx, "ConsumeStep", p)
	defer func() { span.end(err) }()
	if err := validConsumerName(name); err != nil {
		return StepResult{}, err
	}
	if fn == nil {
		return StepResult{}, invalidf("a consumer needs a function")
	}
	if err := m.authorizeConsumer(ctx, p, opts.WorkspaceID); err != nil {
		return StepResult{}, err
	}
	spec, err := m.consumerSpec(name, opts)
	if err != nil {
		return StepResult{}, err
	}
	spec.handle = func(ctx context.Context, e Event) error { return fn(ctx, e) }
	return m.step(ctx, spec)
}

// ConsumerStatus returns the stored checkpoint of the consumer called name.
// Platform users may read it.
//
// Errors: ErrNotFound (no such consumer), ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) ConsumerStatus(ctx context.Context, p Principal, name string) (_ ConsumerStatus, err error) {
	ctx, span := m.tel.start(ctx, "ConsumerStatus", p)
	defer func() { span.end(err) }()
	var c storage.Consumer
	err = m.view(ctx, "read consumer", func(tx storage.Reader) error {
		if _, err := m.platformFor(tx, p, rbac.ListAll); err != nil {
			return err
		}
		var err error
		if c, err = tx.GetConsumer(name); errors.Is(err, storage.ErrNotFound) {
			return notFoundf("no consumer %q", name)
		}
		return err
	})
	return c, err
}

// ResetConsumer moves the checkpoint of the consumer called name to position (a
// feed position from an Event, or "" for the start of the feed): the events after
// it are handed out again. It clears a failing event's retry. Platform users may.
//
// Errors: ErrNotFound (no such consumer), ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) ResetConsumer(ctx context.Context, p Principal, name, position string) (err error) {
	ctx, span := m.tel.start(ctx, "ResetConsumer", p)
	defer func() { span.end(err) }()
	now := m.now()
	return m.update(ctx, "reset consumer", func(tx storage.ReadWriter) error {
		if _, err := m.platformFor(tx, p, rbac.ListAll); err != nil {
			return err
		}
		c, err := tx.GetConsumer(name)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("no consumer %q", name)
		}
		if err != nil {
			return internal("read consumer", err)
		}
		c.Position, c.Failures, c.RetryAt, c.UpdatedAt = position, 0, time.Time{}, now
		if err := tx.ReplaceConsumer(c); err != nil {
			return internal("reset consumer", err)
		}
		return nil
	})
}

func validConsumerName(name string) error {
	if name == "" || len(name) > maxConsumerName {
		return invalidf("a consumer name is 1-%d characters", maxConsumerName)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:", r)) {
			return invalidf("consumer name %q: only letters, digits and .-_: are allowed", name)
		}
	}
	if strings.HasPrefix(name, webhookConsumerNS) {
		return invalidf("consumer names starting with %q are the webhook deliverers'", webhookConsumerNS)
	}
	return nil
}

func randomInstance() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "instance-" + hex.EncodeToString(b[:])
}

// consumeSpec is one consumer as the stepping engine runs it: a host's, or a
// webhook endpoint's deliverer.
type consumeSpec struct {
	name        string
	workspaceID string
	types       []string
	startAtEnd  bool
	lease       time.Duration
	instance    string
	batch       int
	// wait gives the wait before the next try after the n-th failure in a row;
	// false: stop trying (giveUp runs).
	wait   func(failures int) (time.Duration, bool)
	handle func(ctx context.Context, e Event) error
	// settle, when set, writes in the transaction that records an event's outcome
	// (err nil: handled): the webhook deliverer's attempt records.
	settle func(tx storage.ReadWriter, e Event, err error, now time.Time) error
	// giveUp runs in that transaction when wait says stop: the event stays
	// unhandled, and giveUp decides what becomes of the consumer.
	giveUp func(tx storage.ReadWriter, e Event, now time.Time) error
}

func (m *Manager) consumerSpec(name string, opts ConsumeOptions) (consumeSpec, error) {
	if opts.Batch < 0 || opts.Batch > 10000 {
		return consumeSpec{}, invalidf("batch must be 0-10000")
	}
	if opts.Lease < 0 || opts.Poll < 0 {
		return consumeSpec{}, invalidf("lease and poll must not be negative")
	}
	retry := opts.Retry
	if retry == nil {
		retry = defaultRetry
	}
	for _, d := range retry {
		if d < 0 {
			return consumeSpec{}, invalidf("retry waits must not be negative")
		}
	}
	if len(retry) == 0 {
		retry = []time.Duration{0}
	}
	instance := opts.Instance
	if instance == "" {
		instance = randomInstance()
	}
	return consumeSpec{
		name: name, workspaceID: opts.WorkspaceID, types: slices.Clone(opts.Types), startAtEnd: opts.StartAtEnd,
		lease: cmpOr(opts.Lease, defaultLease), instance: instance, batch: cmpOr(opts.Batch, defaultBatch),
		wait: func(n int) (time.Duration, bool) { return retry[min(n, len(retry))-1], true },
	}, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// wants reports whether the consumer's function is called for e.
func (s consumeSpec) wants(e Event) bool {
	if s.workspaceID != "" && e.WorkspaceID != s.workspaceID {
		return false
	}
	return len(s.types) == 0 || slices.Contains(s.types, e.Type)
}

// errLeaseLost stops a step whose lease another instance took over meanwhile.
var errLeaseLost = errors.New("tenancy: the consumer's lease was taken over")

// step runs one step of a consumer: lease, read, hand out, record.
func (m *Manager) step(ctx context.Context, s consumeSpec) (StepResult, error) {
	c, res, err := m.lease(ctx, s)
	if err != nil || !res.Leased {
		return res, err
	}
	now := m.now()
	if now.Before(c.RetryAt) {
		res.Wait = c.RetryAt.Sub(now)
		return res, nil
	}
	var events []Event
	err = m.view(ctx, "read feed", func(tx storage.Reader) error {
		events = events[:0]
		return tx.ScanEvents(c.Position, func(e Event) bool {
			events = append(events, e)
			return len(events) < s.batch
		})
	})
	if err != nil {
		return res, err
	}
	passed := "" // the last passed-over position not yet stored
	for _, e := range events {
		if !s.wants(e) {
			passed = e.Position
			res.Passed++
			continue
		}
		herr := s.handle(ctx, e)
		if ctx.Err() != nil {
			return res, ctx.Err() // the event counts as not handled: it comes again
		}
		m.observeHandled(s, e, herr)
		if herr != nil && errors.Is(herr, ErrSkipEvent) {
			herr = nil
		}
		c, err = m.settle(ctx, s, c, e, herr)
		if err != nil {
			return res, err
		}
		passed = ""
		res.Position = c.Position
		if herr != nil {
			res.Failed = herr
			res.Wait = max(c.RetryAt.Sub(m.now()), 0)
			return res, nil
		}
		res.Handled++
	}
	if passed != "" {
		if c, err = m.advance(ctx, s, c, passed); err != nil {
			return res, err
		}
	}
	res.Position = c.Position
	res.CaughtUp = len(events) < s.batch
	return res, nil
}

// lease takes or renews the consumer's lease for s.instance, creating the
// consumer on first use.
func (m *Manager) lease(ctx context.Context, s consumeSpec) (storage.Consumer, StepResult, error) {
	var c storage.Consumer
	var res StepResult
	now := m.now()
	err := m.update(ctx, "lease consumer", func(tx storage.ReadWriter) error {
		res = StepResult{}
		var err error
		c, err = tx.GetConsumer(s.name)
		if errors.Is(err, storage.ErrNotFound) {
			c = storage.Consumer{Name: s.name}
			if s.startAtEnd {
				if c.Position, err = tx.FeedHead(); err != nil {
					return internal("read feed head", err)
				}
			}
			c.Holder, c.LeaseUntil, c.UpdatedAt = s.instance, now.Add(s.lease), now
			res.Leased = true
			if err := tx.CreateConsumer(c); err != nil {
				return internal("create consumer", err)
			}
			return nil
		}
		if err != nil {
			return internal("read consumer", err)
		}
		if c.Holder != "" && c.Holder != s.instance && now.Before(c.LeaseUntil) {
			res.Wait = c.LeaseUntil.Sub(now)
			return nil
		}
		res.Leased = true
		if c.Holder == s.instance && c.LeaseUntil.Sub(now) > s.lease/2 {
			return nil // held, and far from lapsing: no write
		}
		c.Holder, c.LeaseUntil, c.UpdatedAt = s.instance, now.Add(s.lease), now
		if err := tx.ReplaceConsumer(c); err != nil {
			return internal("renew lease", err)
		}
		return nil
	})
	res.Position = c.Position
	return c, res, err
}

// settle records an event's outcome: past it when herr is nil, else one more
// failure and the time of the next try. The lease must still be this instance's.
func (m *Manager) settle(ctx context.Context, s consumeSpec, c storage.Consumer, e Event, herr error) (storage.Consumer, error) {
	now := m.now()
	err := m.update(ctx, "record consumer progress", func(tx storage.ReadWriter) error {
		cur, err := m.heldConsumer(tx, s, c.Position)
		if err != nil {
			return err
		}
		if s.settle != nil {
			if err := s.settle(tx, e, herr, now); err != nil {
				return err
			}
		}
		if herr == nil {
			cur.Position, cur.Failures, cur.RetryAt = e.Position, 0, time.Time{}
		} else {
			cur.Failures++
			wait, ok := s.wait(cur.Failures)
			if !ok {
				if s.giveUp != nil {
					if err := s.giveUp(tx, e, now); err != nil {
						return err
					}
				}
				wait = 0
				cur.Failures = 0 // a re-enabled endpoint starts its schedule again
			}
			cur.RetryAt = now.Add(wait)
		}
		cur.LeaseUntil, cur.UpdatedAt = now.Add(s.lease), now
		c = cur
		if err := tx.ReplaceConsumer(cur); err != nil {
			return internal("record consumer progress", err)
		}
		return nil
	})
	return c, err
}

// advance moves the checkpoint past events the filters passed over.
func (m *Manager) advance(ctx context.Context, s consumeSpec, from storage.Consumer, position string) (storage.Consumer, error) {
	c := from
	now := m.now()
	err := m.update(ctx, "advance consumer", func(tx storage.ReadWriter) error {
		cur, err := m.heldConsumer(tx, s, from.Position)
		if err != nil {
			return err
		}
		if cur.Failures == 0 && cur.Position < position {
			cur.Position = position
		}
		cur.LeaseUntil, cur.UpdatedAt = now.Add(s.lease), now
		c = cur
		if err := tx.ReplaceConsumer(cur); err != nil {
			return internal("advance consumer", err)
		}
		return nil
	})
	return c, err
}

// heldConsumer reads the consumer and checks that this instance still holds it and
// that its checkpoint is still at position (ResetConsumer may have moved it: the
// step's events are then not the ones to hand out).
func (m *Manager) heldConsumer(tx storage.Reader, s consumeSpec, position string) (storage.Consumer, error) {
	c, err := tx.GetConsumer(s.name)
	if errors.Is(err, storage.ErrNotFound) {
		return c, fmt.Errorf("consumer %q was removed: %w", s.name, errLeaseLost)
	}
	if err != nil {
		return c, internal("read consumer", err)
	}
	if c.Holder != s.instance {
		return c, fmt.Errorf("consumer %q is now run by %q: %w", s.name, c.Holder, errLeaseLost)
	}
	if c.Position != position {
		return c, fmt.Errorf("consumer %q was moved to %q: %w", s.name, c.Position, errLeaseLost)
	}
	return c, nil
}

// observeHandled records how far behind the feed a consumer handled an event, or
// a webhook delivery attempt and its outcome. A webhook's consumer is named by the
// endpoint's ID, which stays out of the metrics' attributes.
func (m *Manager) observeHandled(s consumeSpec, e Event, herr error) {
	now := m.clock()
	if !strings.HasPrefix(s.name, webhookConsumerNS) {
		m.tel.consumed(s.name, e.Time, now)
		return
	}
	outcome := "delivered"
	switch {
	case errors.Is(herr, errGone):
		outcome = "gone"
	case herr != nil:
		outcome = "failed"
	}
	m.tel.delivered(outcome, e.Time, now)
}
