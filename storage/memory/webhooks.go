package memory

import (
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
)

// Consumers.

func (s *snapshot) GetConsumer(name string) (storage.Consumer, error) {
	return get(&s.consumers, "consumer", name)
}

func (s *snapshot) ScanConsumers(after string, fn func(storage.Consumer) bool) error {
	scan(&s.consumers, after, fn)
	return nil
}

func (t *writeTx) CreateConsumer(c storage.Consumer) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := storage.CheckKeys("consumer", []string{c.Name}); err != nil {
		return err
	}
	if t.consumers.Has(item[storage.Consumer]{key: c.Name}) {
		return storage.Conflict(storage.IndexConsumer)
	}
	t.consumers.ReplaceOrInsert(item[storage.Consumer]{key: c.Name, val: &c})
	return nil
}

func (t *writeTx) ReplaceConsumer(c storage.Consumer) error {
	if err := t.check(); err != nil {
		return err
	}
	if !t.consumers.Has(item[storage.Consumer]{key: c.Name}) {
		return notFound("consumer", c.Name)
	}
	t.consumers.ReplaceOrInsert(item[storage.Consumer]{key: c.Name, val: &c})
	return nil
}

func (t *writeTx) DeleteConsumer(name string) error {
	if err := t.check(); err != nil {
		return err
	}
	if _, ok := t.consumers.Delete(item[storage.Consumer]{key: name}); !ok {
		return notFound("consumer", name)
	}
	return nil
}

// Webhooks.

func (s *snapshot) GetWebhook(id string) (webhook.Endpoint, error) {
	e, err := get(&s.hooks, "webhook", id)
	return e.Clone(), err
}

func (s *snapshot) ScanWebhooks(after string, fn func(webhook.Endpoint) bool) error {
	scan(&s.hooks, after, func(e webhook.Endpoint) bool { return fn(e.Clone()) })
	return nil
}

func (s *snapshot) ScanWorkspaceWebhooks(workspaceID, after string, fn func(webhook.Endpoint) bool) error {
	return s.scanIndexed(&s.hookWs, workspaceID, after, func(id string) (bool, error) {
		e, err := s.GetWebhook(id)
		return err == nil && fn(e), err
	})
}

func (s *snapshot) ScanWebhookAttempts(endpointID, after string, fn func(webhook.Attempt) bool) error {
	s.attempts.AscendGreaterOrEqual(pair[webhook.Attempt]{a: endpointID, b: after}, func(p pair[webhook.Attempt]) bool {
		if p.a != endpointID {
			return false
		}
		if p.b == after {
			return true
		}
		return fn(*p.val)
	})
	return nil
}

func (t *writeTx) CreateWebhook(e webhook.Endpoint) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := storage.CheckKeys("webhook", []string{e.ID}); err != nil {
		return err
	}
	if t.hooks.Has(item[webhook.Endpoint]{key: e.ID}) {
		return storage.Conflict(storage.IndexWebhookID)
	}
	t.putWebhook(e)
	return nil
}

func (t *writeTx) ReplaceWebhook(e webhook.Endpoint) error {
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.hooks.Get(item[webhook.Endpoint]{key: e.ID})
	if !ok {
		return notFound("webhook", e.ID)
	}
	if old.val.WorkspaceID != e.WorkspaceID {
		return storage.ErrInvalidKey
	}
	t.putWebhook(e)
	return nil
}

func (t *writeTx) putWebhook(e webhook.Endpoint) {
	e = e.Clone()
	t.hooks.ReplaceOrInsert(item[webhook.Endpoint]{key: e.ID, val: &e})
	t.hookWs.ReplaceOrInsert(duo{a: e.WorkspaceID, b: e.ID})
}

func (t *writeTx) DeleteWebhook(id string) error {
	if err := t.check(); err != nil {
		return err
	}
	old, ok := t.hooks.Delete(item[webhook.Endpoint]{key: id})
	if !ok {
		return notFound("webhook", id)
	}
	t.hookWs.Delete(duo{a: old.val.WorkspaceID, b: id})
	t.deleteAttempts(id, "")
	return nil
}

// deleteAttempts removes an endpoint's attempts before the ID 'before' ("" for all).
func (t *writeTx) deleteAttempts(endpointID, before string) int {
	var ids []string
	t.attempts.AscendGreaterOrEqual(pair[webhook.Attempt]{a: endpointID}, func(p pair[webhook.Attempt]) bool {
		if p.a != endpointID || (before != "" && p.b >= before) {
			return false
		}
		ids = append(ids, p.b)
		return true
	})
	for _, id := range ids {
		t.attempts.Delete(pair[webhook.Attempt]{a: endpointID, b: id})
	}
	return len(ids)
}

func (t *writeTx) CreateWebhookAttempt(a webhook.Attempt) error {
	if err := t.check(); err != nil {
		return err
	}
	if err := storage.CheckKeys("webhook attempt", []string{a.EndpointID, a.ID}); err != nil {
		return err
	}
	if !t.hooks.Has(item[webhook.Endpoint]{key: a.EndpointID}) {
		return notFound("webhook", a.EndpointID)
	}
	if t.attempts.Has(pair[webhook.Attempt]{a: a.EndpointID, b: a.ID}) {
		return storage.Conflict(storage.IndexWebhookAttempt)
	}
	t.attempts.ReplaceOrInsert(pair[webhook.Attempt]{a: a.EndpointID, b: a.ID, val: &a})
	return nil
}

func (t *writeTx) DeleteWebhookAttempts(endpointID, before string) (int, error) {
	if err := t.check(); err != nil {
		return 0, err
	}
	if before == "" {
		return 0, nil
	}
	return t.deleteAttempts(endpointID, before), nil
}
