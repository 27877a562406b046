package tenancy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
)

// DeliverOptions configures the webhook deliverer (Manager.DeliverWebhooks).
type DeliverOptions struct {
	// Instance names this process in the deliverers' leases; empty means a random
	// name per call. With several instances on one database each endpoint is
	// delivered by one of them at a time.
	Instance string
	// Poll is how often the deliverer looks for new events and endpoints; 0 means 1 s.
	Poll time.Duration
	// Lease is how long an instance keeps an endpoint's deliverer without renewing
	// it; 0 means 30 s.
	Lease time.Duration
	// Batch is how many events one step delivers per endpoint at most; 0 means 100.
	Batch int
	// OnError receives failures that have no caller (a storage error); nil logs them
	// to Options.Logger. Failed deliveries are attempts, listed by ListWebhookAttempts.
	OnError func(endpointID string, err error)
}

// DeliveryStep says what one pass over the endpoints did.
type DeliveryStep struct {
	Endpoints int // enabled endpoints looked at
	Delivered int // events delivered (a 2xx answer)
	Failed    int // attempts that failed
	// Wait is how long until an endpoint has something due (a retry, a lease that
	// lapses); 0 when some endpoint may have more to deliver now.
	Wait time.Duration
}

// DeliverWebhooks delivers the feed to every enabled endpoint until ctx ends, then
// returns ctx.Err(): each endpoint in feed order, at least once, with the event's
// ID as webhook-id on every try, signed with each active secret. A 2xx answer
// delivers; 410 disables the endpoint; anything else, or no answer within
// Options.Webhooks.Timeout, is tried again on Options.Webhooks.Schedule, and when
// that runs out the endpoint is disabled (a webhook.disabled event says so).
// Every instance of a service may run it: one delivers each endpoint at a time.
func (m *Manager) DeliverWebhooks(ctx context.Context, opts DeliverOptions) error {
	if opts.Instance == "" {
		opts.Instance = randomInstance()
	}
	poll := cmpOr(opts.Poll, defaultPoll)
	for {
		res, err := m.DeliverWebhooksStep(ctx, opts)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := res.Wait
		if err != nil {
			m.deliverError(opts, "", err)
			wait = poll
		}
		if wait <= 0 && res.Delivered+res.Failed == 0 {
			wait = poll
		}
		wait = min(wait, poll)
		if wait <= 0 {
			continue
		}
		if err := m.feed.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (m *Manager) deliverError(opts DeliverOptions, endpointID string, err error) {
	if opts.OnError != nil {
		opts.OnError(endpointID, err)
		return
	}
	m.log.Warn("tenancy: webhook delivery", "webhook", endpointID, "error", err)
}

// DeliverWebhooksStep makes one pass over the enabled endpoints, delivering what
// is due to each: what DeliverWebhooks does between its waits, for a host with
// its own scheduler and for tests with a fake clock.
func (m *Manager) DeliverWebhooksStep(ctx context.Context, opts DeliverOptions) (_ DeliveryStep, err error) {
	ctx, span := m.tel.start(ctx, "DeliverWebhooksStep", System())
	defer func() { span.end(err) }()
	if opts.Batch < 0 || opts.Batch > 10000 || opts.Lease < 0 {
		return DeliveryStep{}, invalidf("batch must be 0-10000 and the lease not negative")
	}
	if opts.Instance == "" {
		opts.Instance = randomInstance()
	}
	var endpoints []webhook.Endpoint
	err = m.view(ctx, "list webhooks", func(tx storage.Reader) error {
		endpoints = endpoints[:0]
		return tx.ScanWebhooks("", func(e webhook.Endpoint) bool {
			if !e.Disabled {
				endpoints = append(endpoints, e)
			}
			return true
		})
	})
	if err != nil {
		return DeliveryStep{}, err
	}
	out := DeliveryStep{Endpoints: len(endpoints), Wait: -1}
	for _, e := range endpoints {
		if err := m.dropOldAttempts(ctx, e.ID); err != nil {
			m.deliverError(opts, e.ID, err)
		}
		d := m.deliverer(e, opts)
		res, err := m.step(ctx, d.spec)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if err != nil && !errors.Is(err, errLeaseLost) {
			m.deliverError(opts, e.ID, err)
		}
		out.Delivered += res.Handled
		if res.Failed != nil {
			out.Failed++
		}
		wait := res.Wait
		if err == nil && res.Leased && !res.CaughtUp && res.Failed == nil {
			wait = 0 // more to deliver now
		} else if wait <= 0 {
			continue // nothing due: the poll decides
		}
		if out.Wait < 0 || wait < out.Wait {
			out.Wait = wait
		}
	}
	out.Wait = max(out.Wait, 0)
	return out, nil
}

// errGone is a 410 answer: the receiver asks for no more deliveries.
var errGone = errors.New("the receiver answered 410 Gone")

// deliverer is one endpoint's consumer of the feed.
type deliverer struct {
	m    *Manager
	e    webhook.Endpoint
	spec consumeSpec
	last webhook.Attempt // the attempt handle made, for settle to record
	mu   sync.Mutex
}

func (m *Manager) deliverer(e webhook.Endpoint, opts DeliverOptions) *deliverer {
	d := &deliverer{m: m, e: e}
	schedule := m.hooks.Schedule
	if schedule == nil {
		schedule = webhook.DefaultSchedule
	}
	jitter := m.hooks.Jitter
	if jitter == nil {
		jitter = rand.Float64
	}
	d.spec = consumeSpec{
		name: webhookConsumerNS + e.ID, workspaceID: e.WorkspaceID, types: e.EventTypes,
		lease: cmpOr(opts.Lease, defaultLease), instance: opts.Instance, batch: cmpOr(opts.Batch, defaultBatch),
		wait:   func(n int) (time.Duration, bool) { return webhook.Backoff(schedule, n, jitter()) },
		handle: d.post,
		settle: d.settle,
		giveUp: d.giveUp,
	}
	return d
}

// Payload is the body of a delivery: the event as the REST API shows it, under the
// Standard Webhooks envelope's type and timestamp. It holds no secret and no email
// address (event data never does; keys naming one are dropped besides).
type Payload struct {
	Type      string       `json:"type"`
	Timestamp time.Time    `json:"timestamp"`
	Data      PayloadEvent `json:"data"`
}

// PayloadEvent is the event inside a Payload.
type PayloadEvent struct {
	EventID     string            `json:"event_id"`
	Position    string            `json:"position"`
	Type        string            `json:"type"`
	WorkspaceID string            `json:"workspace_id,omitempty"`
	Actor       string            `json:"actor"`
	Subject     string            `json:"subject,omitempty"`
	Data        map[string]string `json:"data,omitempty"`
	Time        time.Time         `json:"time"`
}

// NewPayload builds the delivery body of an event.
func NewPayload(e Event) Payload {
	var data map[string]string
	for k, v := range e.Data {
		if strings.Contains(strings.ToLower(k), "email") || strings.Contains(strings.ToLower(k), "secret") {
			continue
		}
		if data == nil {
			data = map[string]string{}
		}
		data[k] = v
	}
	return Payload{Type: e.Type, Timestamp: e.Time.UTC(), Data: PayloadEvent{EventID: e.ID, Position: e.Position, Type: e.Type,
		WorkspaceID: e.WorkspaceID, Actor: e.Actor, Subject: e.Subject, Data: data, Time: e.Time.UTC()}}
}

// post makes one delivery attempt of ev.
func (d *deliverer) post(ctx context.Context, ev Event) error {
	m := d.m
	now := m.now()
	a := webhook.Attempt{ID: attemptID(now, m), EndpointID: d.e.ID, EventID: ev.ID, Position: ev.Position,
		EventType: ev.Type, Time: now}
	err := d.send(ctx, ev, now, &a)
	d.mu.Lock()
	d.last = a
	d.mu.Unlock()
	return err
}

func (d *deliverer) send(ctx context.Context, ev Event, now time.Time, a *webhook.Attempt) error {
	m := d.m
	body, err := json.Marshal(NewPayload(ev))
	if err != nil {
		a.Error = "encode: " + err.Error()
		return errors.New(a.Error)
	}
	var secrets []string
	for _, s := range d.e.Secrets {
		if !s.Active(now) {
			continue
		}
		plain, err := m.sealer.Open(d.e.ID, s.Sealed)
		if err != nil {
			a.Error = "a signing secret does not open: was Options.SecretKey changed?"
			return errors.New(a.Error)
		}
		secrets = append(secrets, plain)
	}
	h, err := webhook.SignAll(secrets, ev.ID, now, body)
	if err != nil {
		a.Error = "sign: " + err.Error()
		return errors.New(a.Error)
	}
	if _, err := m.hooks.Policy.CheckURL(d.e.URL); err != nil {
		a.Error = err.Error()
		return err
	}
	timeout := cmpOr(m.hooks.Timeout, 15*time.Second)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, d.e.URL, bytes.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tenancy-webhooks/1")
	req.Header.Set("webhook-id", h.ID)
	req.Header.Set("webhook-timestamp", h.Timestamp)
	req.Header.Set("webhook-signature", h.Signature)
	client := m.hooks.Client
	if client == nil {
		client = m.webhookClient(timeout)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		a.Latency = time.Since(start)
		a.Error = trimError(err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errors.New(a.Error)
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, webhook.MaxResponse))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	_ = resp.Body.Close()
	a.Latency = time.Since(start)
	a.Status = resp.StatusCode
	a.Response = strings.ToValidUTF8(string(head), "\uFFFD")
	switch {
	case a.Delivered():
		return nil
	case resp.StatusCode == http.StatusGone:
		return errGone
	}
	return fmt.Errorf("the receiver answered %d", resp.StatusCode)
}

// trimError keeps a transport error readable: no URL (it may carry a token).
func trimError(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			err = inner
		}
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

func (m *Manager) webhookClient(timeout time.Duration) *http.Client {
	m.clientMu.Lock()
	defer m.clientMu.Unlock()
	if m.client == nil {
		m.client = m.hooks.Policy.Client(timeout)
	}
	return m.client
}

// attemptID is "wha_" and a ULID of now, so an endpoint's attempts sort by time.
func attemptID(now time.Time, m *Manager) string { return m.ids.next("wha_", now) }

// attemptsBefore is the smallest attempt ID of time t: every attempt made before t
// sorts below it.
func attemptsBefore(t time.Time) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t))
	return "wha_" + id.String()
}

// dropOldAttempts ends an endpoint's attempts older than the retention, once per
// pass: a read of the oldest, and a write only when there is something to drop.
func (m *Manager) dropOldAttempts(ctx context.Context, endpointID string) error {
	bound := attemptsBefore(m.now().Add(-cmpOr(m.hooks.AttemptRetention, 30*24*time.Hour)))
	old := false
	err := m.view(ctx, "read webhook attempts", func(tx storage.Reader) error {
		return tx.ScanWebhookAttempts(endpointID, "", func(a webhook.Attempt) bool {
			old = a.ID < bound
			return false
		})
	})
	if err != nil || !old {
		return err
	}
	return m.update(ctx, "drop old webhook attempts", func(tx storage.ReadWriter) error {
		_, err := tx.DeleteWebhookAttempts(endpointID, bound)
		return err
	})
}

// settle records the attempt in the transaction that records the outcome; a 410
// disables the endpoint there too.
func (d *deliverer) settle(tx storage.ReadWriter, ev Event, herr error, now time.Time) error {
	d.mu.Lock()
	a := d.last
	d.mu.Unlock()
	if a.ID == "" {
		return nil
	}
	a.Try = 1
	if c, err := tx.GetConsumer(d.spec.name); err == nil {
		a.Try = c.Failures + 1
	}
	if err := tx.CreateWebhookAttempt(a); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return internal("record webhook attempt", err)
	}
	if errors.Is(herr, errGone) {
		return d.disable(tx, now, "gone")
	}
	return nil
}

// giveUp disables an endpoint whose retry schedule ran out.
func (d *deliverer) giveUp(tx storage.ReadWriter, _ Event, now time.Time) error {
	return d.disable(tx, now, "failing")
}

func (d *deliverer) disable(tx storage.ReadWriter, now time.Time, reason string) error {
	e, err := tx.GetWebhook(d.e.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return internal("read webhook", err)
	}
	if e.Disabled {
		return nil
	}
	e.Disabled, e.DisabledReason, e.UpdatedAt = true, reason, now
	if err := tx.ReplaceWebhook(e); err != nil {
		return internal("disable webhook", err)
	}
	return d.m.record(tx, now, System(), "webhook.disabled", e.WorkspaceID, e.ID, map[string]string{"webhook": e.ID, "reason": reason})
}
