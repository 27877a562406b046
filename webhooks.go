package tenancy

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// WebhookOptions configures webhooks: which URLs endpoints may have and how
// deliveries are made. The zero value is the safe default for a hosted service.
type WebhookOptions struct {
	// Policy says which URLs an endpoint may have: https and public addresses only,
	// unless it allows plain http or private networks (a self-hosted product on its
	// own network). It is checked when an endpoint is registered or changed, and
	// again on every connection, after DNS.
	Policy webhook.Policy
	// Timeout bounds each delivery attempt; 0 means 15 s.
	Timeout time.Duration
	// Schedule is how long a failing event waits before each retry; nil means
	// webhook.DefaultSchedule (about a day). When it runs out the endpoint is
	// disabled and a webhook.disabled event records it.
	Schedule []time.Duration
	// RotationOverlap is how long a replaced secret still signs after a rotation,
	// so the receiver can switch; 0 means 24 hours.
	RotationOverlap time.Duration
	// AttemptRetention is how long delivery attempts are kept; 0 means 30 days.
	AttemptRetention time.Duration
	// Client makes the requests; nil means Policy.Client(Timeout). A host (or a
	// test) that passes its own takes on the address checks.
	Client *http.Client
	// Jitter returns a number in [0, 1) that moves each retry by up to ±10%; nil
	// means math/rand. Tests pass a constant.
	Jitter func() float64
}

// Webhook limits.
const (
	MaxWebhookDescription = 500
	MaxWebhookEventTypes  = 50
	maxEventTypeLen       = 100
)

// Webhook is an endpoint as callers see it: never a secret.
type Webhook struct {
	ID          string
	WorkspaceID string // empty: a platform endpoint, which receives every event
	URL         string
	Description string
	EventTypes  []string // empty: every type
	Disabled    bool
	// DisabledReason: "disabled" (by a person), "gone" (the receiver answered 410),
	// "failing" (the retry schedule ran out).
	DisabledReason string
	// Secrets are the signing secrets' times, newest first; a rotated-out one signs
	// until its ExpiresAt.
	Secrets   []WebhookSecret
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// WebhookSecret describes one signing secret, without it.
type WebhookSecret struct {
	CreatedAt time.Time
	ExpiresAt time.Time // zero: active until rotated
}

// CreatedWebhook is a registered (or re-keyed) endpoint with its new signing
// secret, shown this once: the receiver verifies deliveries with it.
type CreatedWebhook struct {
	Webhook
	Secret string
}

// NewWebhook is an endpoint to register.
type NewWebhook struct {
	// WorkspaceID makes a workspace's endpoint, which receives only that
	// workspace's events; its admins may register it. Empty makes a platform
	// endpoint (every event), which only platform users may register.
	WorkspaceID string
	URL         string
	Description string
	EventTypes  []string // empty: every type
}

// WebhookUpdate changes an endpoint; nil fields stay as they are.
type WebhookUpdate struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	// Disabled pauses (true) or resumes (false) deliveries. A resumed endpoint
	// delivers what it missed, from where it stopped.
	Disabled *bool
}

// WebhookListOptions selects a page of endpoints.
type WebhookListOptions struct {
	WorkspaceID string // whose endpoints; empty: the platform's
	Limit       int    // 1-100; 0 means 20
	Cursor      string
}

func toWebhook(e webhook.Endpoint) Webhook {
	w := Webhook{ID: e.ID, WorkspaceID: e.WorkspaceID, URL: e.URL, Description: e.Description,
		EventTypes: slices.Clone(e.EventTypes), Disabled: e.Disabled, DisabledReason: e.DisabledReason,
		CreatedBy: e.CreatedBy, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
	for _, s := range e.Secrets {
		w.Secrets = append(w.Secrets, WebhookSecret{CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt})
	}
	return w
}

func (m *Manager) validWebhookOptions() error {
	o := m.hooks
	if o.Timeout < 0 || o.RotationOverlap < 0 || o.AttemptRetention < 0 {
		return errors.New("tenancy: Options.Webhooks durations must not be negative")
	}
	for _, d := range o.Schedule {
		if d < 0 {
			return errors.New("tenancy: Options.Webhooks.Schedule waits must not be negative")
		}
	}
	return nil
}

// validWebhook checks what a caller may set on an endpoint.
func (m *Manager) validWebhook(url, description string, types []string) error {
	if _, err := m.hooks.Policy.CheckURL(url); err != nil {
		return invalidf("%s", strings.TrimPrefix(err.Error(), "webhook: "))
	}
	if utf8.RuneCountInString(description) > MaxWebhookDescription || !utf8.ValidString(description) || strings.ContainsRune(description, 0) {
		return invalidf("a description is at most %d characters of text", MaxWebhookDescription)
	}
	if len(types) > MaxWebhookEventTypes {
		return invalidf("at most %d event types", MaxWebhookEventTypes)
	}
	for _, t := range types {
		if t == "" || len(t) > maxEventTypeLen || strings.IndexFunc(t, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_')
		}) >= 0 {
			return invalidf("event type %q: lowercase letters, digits, '.' and '_'", t)
		}
	}
	return nil
}

// CreateWebhook registers an endpoint and returns it with its signing secret,
// "whsec_…", shown this once. Deliveries start with the events committed after
// it. A workspace's admins may register that workspace's endpoints; platform users
// may register any, and only they register platform endpoints (every event).
//
// Errors: ErrInvalidArgument (URL, description, event types), ErrNotFound (no
// such workspace, or p is not a member), ErrPermissionDenied, ErrFailedPrecondition
// (the workspace is inactive or deleted), ErrUnauthenticated.
func (m *Manager) CreateWebhook(ctx context.Context, p Principal, in NewWebhook) (_ CreatedWebhook, err error) {
	ctx, span := m.tel.start(ctx, "CreateWebhook", p)
	defer func() { span.end(err) }()
	types := dedupe(in.EventTypes)
	if err := m.validWebhook(in.URL, in.Description, types); err != nil {
		return CreatedWebhook{}, err
	}
	secret, err := webhook.NewSecret(nil)
	if err != nil {
		return CreatedWebhook{}, internal("make secret", err)
	}
	now := m.now()
	id := m.ids.next("whk_", now)
	sealed, err := m.sealer.Seal(id, secret)
	if err != nil {
		return CreatedWebhook{}, internal("seal secret", err)
	}
	e := webhook.Endpoint{ID: id, WorkspaceID: in.WorkspaceID, URL: in.URL, Description: in.Description, EventTypes: types,
		Secrets: []webhook.Secret{{Sealed: sealed, CreatedAt: now}}, CreatedAt: now, UpdatedAt: now}
	err = m.update(ctx, "create webhook", func(tx storage.ReadWriter) error {
		a, err := m.webhookActor(tx, p, in.WorkspaceID)
		if err != nil {
			return err
		}
		e.CreatedBy = a.user.ID
		if err := tx.CreateWebhook(e); err != nil {
			return internal("create webhook", err)
		}
		head, err := tx.FeedHead()
		if err != nil {
			return internal("read feed head", err)
		}
		c := storage.Consumer{Name: webhookConsumerNS + id, Position: head, UpdatedAt: now}
		if err := tx.CreateConsumer(c); err != nil {
			return internal("create webhook deliverer", err)
		}
		return m.record(tx, now, p, "webhook.created", in.WorkspaceID, id, webhookEventData(e))
	})
	if err != nil {
		return CreatedWebhook{}, err
	}
	return CreatedWebhook{Webhook: toWebhook(e), Secret: secret}, nil
}

func dedupe(types []string) []string {
	if len(types) == 0 {
		return nil
	}
	out := slices.Clone(types)
	slices.Sort(out)
	return slices.Compact(out)
}

func webhookEventData(e webhook.Endpoint) map[string]string {
	d := map[string]string{"webhook": e.ID}
	if len(e.EventTypes) > 0 {
		d["event_types"] = strings.Join(e.EventTypes, ",")
	}
	return d
}

// GetWebhook returns an endpoint, without its secret.
//
// Errors: ErrNotFound (no such endpoint, or p may not see it), ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) GetWebhook(ctx context.Context, p Principal, id string) (_ Webhook, err error) {
	ctx, span := m.tel.start(ctx, "GetWebhook", p)
	defer func() { span.end(err) }()
	var e webhook.Endpoint
	err = m.view(ctx, "get webhook", func(tx storage.Reader) error {
		var err error
		e, err = m.webhookFor(tx, p, id)
		return err
	})
	return toWebhook(e), err
}

// ListWebhooks returns one page of a workspace's endpoints (opts.WorkspaceID), or
// of the platform's, by ID.
//
// Errors: ErrInvalidArgument (limit, cursor), ErrNotFound, ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) ListWebhooks(ctx context.Context, p Principal, opts WebhookListOptions) (_ workspace.Page[Webhook], err error) {
	ctx, span := m.tel.start(ctx, "ListWebhooks", p)
	defer func() { span.end(err) }()
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[Webhook]{}, err
	}
	pg := pager[Webhook]{limit: f.limit, key: func(w Webhook) string { return w.ID }}
	err = m.view(ctx, "list webhooks", func(tx storage.Reader) error {
		pg.page = workspace.Page[Webhook]{}
		if _, err := m.webhookActor(tx, p, opts.WorkspaceID); err != nil {
			return err
		}
		return tx.ScanWorkspaceWebhooks(opts.WorkspaceID, f.after, func(e webhook.Endpoint) bool { return pg.add(toWebhook(e)) })
	})
	return pg.result(opts.Cursor, err)
}

// UpdateWebhook changes an endpoint's URL, description, event types, or pauses and
// resumes it. Resuming an endpoint that the retry schedule or a 410 disabled
// delivers from where it stopped, the failed event first.
//
// Errors: ErrInvalidArgument, ErrNotFound, ErrPermissionDenied,
// ErrFailedPrecondition, ErrUnauthenticated.
func (m *Manager) UpdateWebhook(ctx context.Context, p Principal, id string, u WebhookUpdate) (_ Webhook, err error) {
	ctx, span := m.tel.start(ctx, "UpdateWebhook", p)
	defer func() { span.end(err) }()
	now := m.now()
	var out webhook.Endpoint
	err = m.update(ctx, "update webhook", func(tx storage.ReadWriter) error {
		e, err := m.webhookFor(tx, p, id)
		if err != nil {
			return err
		}
		var changed []string
		if u.URL != nil && *u.URL != e.URL {
			e.URL, changed = *u.URL, append(changed, "url")
		}
		if u.Description != nil && *u.Description != e.Description {
			e.Description, changed = *u.Description, append(changed, "description")
		}
		if u.EventTypes != nil {
			if t := dedupe(*u.EventTypes); !slices.Equal(t, e.EventTypes) {
				e.EventTypes, changed = t, append(changed, "event_types")
			}
		}
		if err := m.validWebhook(e.URL, e.Description, e.EventTypes); err != nil {
			return err
		}
		typ := "webhook.updated"
		if u.Disabled != nil && *u.Disabled != e.Disabled {
			e.Disabled = *u.Disabled
			e.DisabledReason = ""
			typ = "webhook.enabled"
			if e.Disabled {
				e.DisabledReason, typ = "disabled", "webhook.disabled"
			}
			changed = append(changed, "disabled")
		}
		out = e
		if len(changed) == 0 {
			return nil
		}
		e.UpdatedAt = now
		out = e
		if err := tx.ReplaceWebhook(e); err != nil {
			return internal("update webhook", err)
		}
		data := webhookEventData(e)
		data["changed"] = strings.Join(changed, ",")
		if e.Disabled {
			data["reason"] = e.DisabledReason
		}
		return m.record(tx, now, p, typ, e.WorkspaceID, e.ID, data)
	})
	return toWebhook(out), err
}

// DeleteWebhook removes an endpoint, its attempts and its delivery checkpoint.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) DeleteWebhook(ctx context.Context, p Principal, id string) (err error) {
	ctx, span := m.tel.start(ctx, "DeleteWebhook", p)
	defer func() { span.end(err) }()
	now := m.now()
	return m.update(ctx, "delete webhook", func(tx storage.ReadWriter) error {
		e, err := m.webhookFor(tx, p, id)
		if err != nil {
			return err
		}
		if err := m.dropWebhook(tx, e.ID); err != nil {
			return err
		}
		return m.record(tx, now, p, "webhook.deleted", e.WorkspaceID, e.ID, map[string]string{"webhook": e.ID})
	})
}

// dropWebhook removes an endpoint and its deliverer's checkpoint.
func (m *Manager) dropWebhook(tx storage.ReadWriter, id string) error {
	if err := tx.DeleteWebhook(id); err != nil {
		return internal("delete webhook", err)
	}
	if err := tx.DeleteConsumer(webhookConsumerNS + id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return internal("delete webhook deliverer", err)
	}
	return nil
}

// RotateWebhookSecret gives an endpoint a new signing secret, shown this once. The
// old ones keep signing for Options.Webhooks.RotationOverlap (24 hours by
// default), so deliveries carry both signatures while the receiver switches.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition,
// ErrUnauthenticated.
func (m *Manager) RotateWebhookSecret(ctx context.Context, p Principal, id string) (_ CreatedWebhook, err error) {
	ctx, span := m.tel.start(ctx, "RotateWebhookSecret", p)
	defer func() { span.end(err) }()
	secret, err := webhook.NewSecret(nil)
	if err != nil {
		return CreatedWebhook{}, internal("make secret", err)
	}
	now := m.now()
	var out webhook.Endpoint
	err = m.update(ctx, "rotate webhook secret", func(tx storage.ReadWriter) error {
		e, err := m.webhookFor(tx, p, id)
		if err != nil {
			return err
		}
		sealed, err := m.sealer.Seal(e.ID, secret)
		if err != nil {
			return internal("seal secret", err)
		}
		until := now.Add(cmpOr(m.hooks.RotationOverlap, 24*time.Hour))
		keep := []webhook.Secret{{Sealed: sealed, CreatedAt: now}}
		for _, s := range e.Secrets {
			if !s.Active(now) {
				continue // long expired: dropped
			}
			if s.ExpiresAt.IsZero() || s.ExpiresAt.After(until) {
				s.ExpiresAt = until
			}
			keep = append(keep, s)
		}
		e.Secrets, e.UpdatedAt = keep, now
		out = e
		if err := tx.ReplaceWebhook(e); err != nil {
			return internal("rotate webhook secret", err)
		}
		return m.record(tx, now, p, "webhook.secret_rotated", e.WorkspaceID, e.ID, map[string]string{"webhook": e.ID})
	})
	if err != nil {
		return CreatedWebhook{}, err
	}
	return CreatedWebhook{Webhook: toWebhook(out), Secret: secret}, nil
}

// AttemptListOptions selects a page of an endpoint's delivery attempts.
type AttemptListOptions struct {
	Limit  int // 1-100; 0 means 20
	Cursor string
}

// ListWebhookAttempts returns one page of an endpoint's delivery attempts, oldest
// first. They are kept for Options.Webhooks.AttemptRetention (30 days by default).
//
// Errors: ErrInvalidArgument, ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) ListWebhookAttempts(ctx context.Context, p Principal, id string, opts AttemptListOptions) (_ workspace.Page[webhook.Attempt], err error) {
	ctx, span := m.tel.start(ctx, "ListWebhookAttempts", p)
	defer func() { span.end(err) }()
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[webhook.Attempt]{}, err
	}
	pg := pager[webhook.Attempt]{limit: f.limit, key: func(a webhook.Attempt) string { return a.ID }}
	err = m.view(ctx, "list webhook attempts", func(tx storage.Reader) error {
		pg.page = workspace.Page[webhook.Attempt]{}
		if _, err := m.webhookFor(tx, p, id); err != nil {
			return err
		}
		return tx.ScanWebhookAttempts(id, f.after, pg.add)
	})
	return pg.result(opts.Cursor, err)
}

// ReplayWebhook delivers again every event after position (an event's Position;
// "" replays the whole feed the endpoint may see), with the same webhook-id each
// had before: receivers deduplicate by it.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition,
// ErrUnauthenticated.
func (m *Manager) ReplayWebhook(ctx context.Context, p Principal, id, position string) (err error) {
	ctx, span := m.tel.start(ctx, "ReplayWebhook", p)
	defer func() { span.end(err) }()
	now := m.now()
	return m.update(ctx, "replay webhook", func(tx storage.ReadWriter) error {
		e, err := m.webhookFor(tx, p, id)
		if err != nil {
			return err
		}
		name := webhookConsumerNS + e.ID
		c, err := tx.GetConsumer(name)
		if errors.Is(err, storage.ErrNotFound) {
			c = storage.Consumer{Name: name, Position: position, UpdatedAt: now}
			err = tx.CreateConsumer(c)
		} else if err == nil {
			c.Position, c.Failures, c.RetryAt, c.UpdatedAt = position, 0, time.Time{}, now
			err = tx.ReplaceConsumer(c)
		}
		if err != nil {
			return internal("replay webhook", err)
		}
		return m.record(tx, now, p, "webhook.replayed", e.WorkspaceID, e.ID, map[string]string{"webhook": e.ID, "from": position})
	})
}
