package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
)

// Consumers and webhooks keep their records as JSON (migration 006).

func scanJSON[V any](kind string) func(pgx.Row) (V, string, error) {
	return func(r pgx.Row) (V, string, error) {
		var key string
		var b []byte
		var v V
		if err := r.Scan(&key, &b); err != nil {
			return v, "", err
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return v, "", fmt.Errorf("decode %s %q: %v: %w", kind, key, err, storage.ErrCorrupt)
		}
		return v, key, nil
	}
}

func getJSON[V any](t *tx, kind, sql string, args ...any) (V, error) {
	var v V
	var b []byte
	if err := t.one(kind, func(r pgx.Row) error { return r.Scan(&b) }, sql, args...); err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decode %s: %v: %w", kind, err, storage.ErrCorrupt)
	}
	return v, nil
}

// Consumers.

func (t *tx) GetConsumer(name string) (storage.Consumer, error) {
	return getJSON[storage.Consumer](t, fmt.Sprintf("consumer %q", name), "SELECT record FROM {p}consumers WHERE name = $1", name)
}

func (t *tx) ScanConsumers(after string, fn func(storage.Consumer) bool) error {
	return paged(t, "SELECT name, record FROM {p}consumers WHERE name > $1 ORDER BY name LIMIT $2", after, nil,
		scanJSON[storage.Consumer]("consumer"), fn)
}

func (t *tx) CreateConsumer(c storage.Consumer) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if err := storage.CheckKeys("consumer", []string{c.Name}); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = t.exec("INSERT INTO {p}consumers (name, record) VALUES ($1, $2)", c.Name, b)
	return err
}

func (t *tx) ReplaceConsumer(c storage.Consumer) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if unstorable([]any{c.Name}) {
		return fmt.Errorf("consumer %q: %w", c.Name, storage.ErrNotFound)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return t.replaced("consumer", c.Name)(t.exec("UPDATE {p}consumers SET record = $2 WHERE name = $1", c.Name, b))
}

func (t *tx) DeleteConsumer(name string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if unstorable([]any{name}) {
		return fmt.Errorf("consumer %q: %w", name, storage.ErrNotFound)
	}
	return t.replaced("consumer", name)(t.exec("DELETE FROM {p}consumers WHERE name = $1", name))
}

// Webhooks.

func (t *tx) GetWebhook(id string) (webhook.Endpoint, error) {
	return getJSON[webhook.Endpoint](t, fmt.Sprintf("webhook %q", id), "SELECT record FROM {p}webhooks WHERE id = $1", id)
}

func (t *tx) ScanWebhooks(after string, fn func(webhook.Endpoint) bool) error {
	return paged(t, "SELECT id, record FROM {p}webhooks WHERE id > $1 ORDER BY id LIMIT $2", after, nil,
		scanJSON[webhook.Endpoint]("webhook"), fn)
}

func (t *tx) ScanWorkspaceWebhooks(workspaceID, after string, fn func(webhook.Endpoint) bool) error {
	if unstorable([]any{workspaceID}) {
		return nil
	}
	return paged(t, "SELECT id, record FROM {p}webhooks WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3", after,
		[]any{workspaceID}, scanJSON[webhook.Endpoint]("webhook"), fn)
}

func (t *tx) ScanWebhookAttempts(endpointID, after string, fn func(webhook.Attempt) bool) error {
	if unstorable([]any{endpointID}) {
		return nil
	}
	return paged(t, "SELECT id, record FROM {p}webhook_attempts WHERE endpoint_id = $1 AND id > $2 ORDER BY id LIMIT $3", after,
		[]any{endpointID}, scanJSON[webhook.Attempt]("webhook attempt"), fn)
}

func (t *tx) CreateWebhook(e webhook.Endpoint) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if err := storage.CheckKeys("webhook", []string{e.ID}); err != nil {
		return err
	}
	if !storableText(e.WorkspaceID) {
		return fmt.Errorf("webhook: workspace %q: %w", e.WorkspaceID, storage.ErrInvalidKey)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = t.exec("INSERT INTO {p}webhooks (id, workspace_id, record) VALUES ($1, $2, $3)", e.ID, e.WorkspaceID, b)
	return err
}

func (t *tx) ReplaceWebhook(e webhook.Endpoint) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	old, err := t.GetWebhook(e.ID)
	if err != nil {
		return err
	}
	if old.WorkspaceID != e.WorkspaceID {
		return storage.ErrInvalidKey
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return t.replaced("webhook", e.ID)(t.exec("UPDATE {p}webhooks SET record = $2 WHERE id = $1", e.ID, b))
}

func (t *tx) DeleteWebhook(id string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if unstorable([]any{id}) {
		return fmt.Errorf("webhook %q: %w", id, storage.ErrNotFound)
	}
	// Its attempts go with it (ON DELETE CASCADE).
	return t.replaced("webhook", id)(t.exec("DELETE FROM {p}webhooks WHERE id = $1", id))
}

func (t *tx) CreateWebhookAttempt(a webhook.Attempt) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if err := storage.CheckKeys("webhook attempt", []string{a.EndpointID, a.ID}); err != nil {
		return err
	}
	if unstorable([]any{a.EndpointID, a.ID}) {
		return fmt.Errorf("webhook %q: %w", a.EndpointID, storage.ErrNotFound)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return t.replaced("webhook", a.EndpointID)(t.exec(`INSERT INTO {p}webhook_attempts (endpoint_id, id, record)
		SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM {p}webhooks WHERE id = $1)`, a.EndpointID, a.ID, b))
}

func (t *tx) DeleteWebhookAttempts(endpointID, before string) (int, error) {
	if err := t.canWrite(); err != nil {
		return 0, err
	}
	if before == "" || unstorable([]any{endpointID, before}) {
		return 0, nil
	}
	tag, err := t.exec("DELETE FROM {p}webhook_attempts WHERE endpoint_id = $1 AND id < $2", endpointID, before)
	return int(tag.RowsAffected()), err
}
