package bolt

import (
	"encoding/json"
	"fmt"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
)

// The records of consumers and webhooks are few and small beside memberships, so
// they are kept as JSON, which schema changes extend without a migration.

func decodeJSON[V any](kind string) func([]byte) (V, error) {
	return func(b []byte) (V, error) {
		var v V
		if err := json.Unmarshal(b, &v); err != nil {
			return v, fmt.Errorf("bolt: decode %s: %v: %w", kind, err, storage.ErrCorrupt)
		}
		return v, nil
	}
}

var (
	decodeConsumer = decodeJSON[storage.Consumer]("consumer")
	decodeEndpoint = decodeJSON[webhook.Endpoint]("webhook")
	decodeAttempt  = decodeJSON[webhook.Attempt]("webhook attempt")
)

// Consumers.

func (t *tx) GetConsumer(name string) (storage.Consumer, error) {
	return getRecord(t, bConsumers, "consumer", name, decodeConsumer)
}

func (t *tx) ScanConsumers(after string, fn func(storage.Consumer) bool) error {
	return scanRecords(t, bConsumers, after, decodeConsumer, fn)
}

func (t *tx) CreateConsumer(c storage.Consumer) error { return t.putConsumer(true, c) }

func (t *tx) ReplaceConsumer(c storage.Consumer) error { return t.putConsumer(false, c) }

func (t *tx) putConsumer(create bool, c storage.Consumer) error {
	if err := storage.CheckKeys("consumer", []string{c.Name}); err != nil {
		return err
	}
	if err := t.writeFor(create, bConsumers, []byte(c.Name), storage.IndexConsumer, "consumer"); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return t.b(bConsumers).Put([]byte(c.Name), b)
}

func (t *tx) DeleteConsumer(name string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if t.b(bConsumers).Get([]byte(name)) == nil {
		return notFound("consumer", name)
	}
	return t.b(bConsumers).Delete([]byte(name))
}

// Webhooks.

func (t *tx) GetWebhook(id string) (webhook.Endpoint, error) {
	return getRecord(t, bHooks, "webhook", id, decodeEndpoint)
}

func (t *tx) ScanWebhooks(after string, fn func(webhook.Endpoint) bool) error {
	return scanRecords(t, bHooks, after, decodeEndpoint, fn)
}

func (t *tx) ScanWorkspaceWebhooks(workspaceID, after string, fn func(webhook.Endpoint) bool) error {
	return scanIndex(t, bHookWs, workspaceID, after, t.GetWebhook, fn)
}

func (t *tx) ScanWebhookAttempts(endpointID, after string, fn func(webhook.Attempt) bool) error {
	return t.scanFrom(bAttempts, join(endpointID, ""), after, func(_, v []byte) (bool, error) {
		a, err := decodeAttempt(v)
		if err != nil {
			return false, err
		}
		return fn(a), nil
	})
}

func (t *tx) CreateWebhook(e webhook.Endpoint) error { return t.putWebhook(true, e) }

func (t *tx) ReplaceWebhook(e webhook.Endpoint) error { return t.putWebhook(false, e) }

func (t *tx) putWebhook(create bool, e webhook.Endpoint) error {
	if err := storage.CheckKeys("webhook", []string{e.ID}); err != nil {
		return err
	}
	if err := t.writeFor(create, bHooks, []byte(e.ID), storage.IndexWebhookID, "webhook"); err != nil {
		return err
	}
	if !create {
		old, err := t.GetWebhook(e.ID)
		if err != nil {
			return err
		}
		if old.WorkspaceID != e.WorkspaceID {
			return storage.ErrInvalidKey
		}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := t.b(bHookWs).Put(join(e.WorkspaceID, e.ID), nil); err != nil {
		return err
	}
	return t.b(bHooks).Put([]byte(e.ID), b)
}

func (t *tx) DeleteWebhook(id string) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	old, err := t.GetWebhook(id)
	if err != nil {
		return err
	}
	if _, err := t.deleteAttempts(id, ""); err != nil {
		return err
	}
	if err := t.b(bHookWs).Delete(join(old.WorkspaceID, id)); err != nil {
		return err
	}
	return t.b(bHooks).Delete([]byte(id))
}

func (t *tx) CreateWebhookAttempt(a webhook.Attempt) error {
	if err := t.canWrite(); err != nil {
		return err
	}
	if err := storage.CheckKeys("webhook attempt", []string{a.EndpointID, a.ID}); err != nil {
		return err
	}
	if t.b(bHooks).Get([]byte(a.EndpointID)) == nil {
		return notFound("webhook", a.EndpointID)
	}
	key := join(a.EndpointID, a.ID)
	if t.b(bAttempts).Get(key) != nil {
		return storage.Conflict(storage.IndexWebhookAttempt)
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return t.b(bAttempts).Put(key, b)
}

func (t *tx) DeleteWebhookAttempts(endpointID, before string) (int, error) {
	if err := t.canWrite(); err != nil {
		return 0, err
	}
	if before == "" {
		return 0, nil
	}
	return t.deleteAttempts(endpointID, before)
}

// deleteAttempts removes an endpoint's attempts with IDs before 'before' ("": all).
func (t *tx) deleteAttempts(endpointID, before string) (int, error) {
	prefix := join(endpointID, "")
	var keys [][]byte
	c := t.b(bAttempts).Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
		if before != "" && string(k[len(prefix):]) >= before {
			break
		}
		keys = append(keys, append([]byte(nil), k...))
	}
	for _, k := range keys {
		if err := t.b(bAttempts).Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
