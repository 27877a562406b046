package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
)

// The Tx suite, consumers and webhooks: the feed's checkpoints and leases, webhook
// endpoints by workspace, and their attempts.

func consumer(name string) storage.Consumer {
	return storage.Consumer{Name: name, Position: "p1", Failures: 2, RetryAt: t0.Add(time.Minute), Holder: "instance-a",
		LeaseUntil: t0.Add(30 * time.Second), UpdatedAt: t0}
}

func endpoint(id, wsID string) webhook.Endpoint {
	return webhook.Endpoint{ID: id, WorkspaceID: wsID, URL: "https://hooks.example.com/" + id, Description: "d",
		EventTypes: []string{"workspace.created"}, Secrets: []webhook.Secret{{Sealed: []byte{1, 2, 3}, CreatedAt: t0}},
		CreatedBy: "u1", CreatedAt: t0, UpdatedAt: t0}
}

func attempt(endpointID, id string) webhook.Attempt {
	return webhook.Attempt{ID: id, EndpointID: endpointID, EventID: "evt_1", Position: "p1", EventType: "workspace.created",
		Time: t0, Try: 1, Status: 500, Latency: 1500 * time.Microsecond, Response: "oops \x00 bytes", Error: ""}
}

func testConsumers(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.CreateConsumer(consumer("b")))
		return tx.CreateConsumer(consumer("a"))
	})
	refused(t, s, "CreateConsumer(a) again", storage.IndexConsumer, func(tx storage.ReadWriter) error { return tx.CreateConsumer(consumer("a")) })
	refused(t, s, "CreateConsumer(\"\")", storage.ErrInvalidKey, func(tx storage.ReadWriter) error { return tx.CreateConsumer(storage.Consumer{}) })
	refused(t, s, "ReplaceConsumer(missing)", storage.ErrNotFound, func(tx storage.ReadWriter) error { return tx.ReplaceConsumer(consumer("zz")) })
	update(t, s, func(tx storage.ReadWriter) error {
		c := consumer("a")
		c.Position, c.Failures, c.Holder = "p9", 0, ""
		must(tx.ReplaceConsumer(c))
		return nil
	})
	view(t, s, func(tx storage.Reader) error {
		got, err := tx.GetConsumer("a")
		want := consumer("a")
		want.Position, want.Failures, want.Holder = "p9", 0, ""
		if err != nil || !sameConsumer(got, want) {
			t.Errorf("GetConsumer(a) = %+v, %v; want %+v", got, err, want)
		}
		if got, err := tx.GetConsumer("b"); err != nil || !sameConsumer(got, consumer("b")) {
			t.Errorf("GetConsumer(b) = %+v, %v", got, err)
		}
		_, err = tx.GetConsumer("zz")
		wantKind(t, "GetConsumer(missing)", err, storage.ErrNotFound)
		var names []string
		must(tx.ScanConsumers("", func(c storage.Consumer) bool { names = append(names, c.Name); return true }))
		if fmt.Sprint(names) != "[a b]" {
			t.Errorf("ScanConsumers = %v, want [a b]", names)
		}
		names = nil
		must(tx.ScanConsumers("a", func(c storage.Consumer) bool { names = append(names, c.Name); return true }))
		if fmt.Sprint(names) != "[b]" {
			t.Errorf("ScanConsumers after a = %v, want [b]", names)
		}
		return nil
	})
	update(t, s, func(tx storage.ReadWriter) error { return tx.DeleteConsumer("a") })
	refused(t, s, "DeleteConsumer(a) again", storage.ErrNotFound, func(tx storage.ReadWriter) error { return tx.DeleteConsumer("a") })
	view(t, s, func(tx storage.Reader) error {
		_, err := tx.GetConsumer("a")
		wantKind(t, "GetConsumer(deleted)", err, storage.ErrNotFound)
		return nil
	})
}

func sameConsumer(a, b storage.Consumer) bool {
	return a.Name == b.Name && a.Position == b.Position && a.Failures == b.Failures && a.RetryAt.Equal(b.RetryAt) &&
		a.Holder == b.Holder && a.LeaseUntil.Equal(b.LeaseUntil) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func sameEndpoint(a, b webhook.Endpoint) bool {
	return fmt.Sprint(a.ID, a.WorkspaceID, a.URL, a.Description, a.EventTypes, a.Disabled, a.DisabledReason, a.CreatedBy, len(a.Secrets)) ==
		fmt.Sprint(b.ID, b.WorkspaceID, b.URL, b.Description, b.EventTypes, b.Disabled, b.DisabledReason, b.CreatedBy, len(b.Secrets)) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) && secretsEqual(a.Secrets, b.Secrets)
}

func secretsEqual(a, b []webhook.Secret) bool {
	for i := range a {
		if string(a[i].Sealed) != string(b[i].Sealed) || !a[i].CreatedAt.Equal(b[i].CreatedAt) || !a[i].ExpiresAt.Equal(b[i].ExpiresAt) {
			return false
		}
	}
	return true
}

func testWebhooks(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.CreateWebhook(endpoint("whk_b", "ws_1")))
		must(tx.CreateWebhook(endpoint("whk_a", "ws_1")))
		must(tx.CreateWebhook(endpoint("whk_c", "ws_2")))
		return tx.CreateWebhook(endpoint("whk_p", "")) // a platform endpoint
	})
	refused(t, s, "CreateWebhook(whk_a) again", storage.IndexWebhookID, func(tx storage.ReadWriter) error { return tx.CreateWebhook(endpoint("whk_a", "ws_2")) })
	refused(t, s, "CreateWebhook(\"\")", storage.ErrInvalidKey, func(tx storage.ReadWriter) error { return tx.CreateWebhook(webhook.Endpoint{}) })
	refused(t, s, "ReplaceWebhook(missing)", storage.ErrNotFound, func(tx storage.ReadWriter) error { return tx.ReplaceWebhook(endpoint("whk_z", "ws_1")) })
	refused(t, s, "ReplaceWebhook to another workspace", storage.ErrInvalidKey, func(tx storage.ReadWriter) error { return tx.ReplaceWebhook(endpoint("whk_a", "ws_2")) })
	update(t, s, func(tx storage.ReadWriter) error {
		e := endpoint("whk_a", "ws_1")
		e.Disabled, e.DisabledReason, e.EventTypes = true, "gone", nil
		e.Secrets = append([]webhook.Secret{{Sealed: []byte("new"), CreatedAt: t0.Add(time.Hour)}}, webhook.Secret{Sealed: []byte{1, 2, 3}, CreatedAt: t0, ExpiresAt: t0.Add(25 * time.Hour)})
		must(tx.ReplaceWebhook(e))
		return nil
	})
	view(t, s, func(tx storage.Reader) error {
		got, err := tx.GetWebhook("whk_a")
		want := endpoint("whk_a", "ws_1")
		want.Disabled, want.DisabledReason, want.EventTypes = true, "gone", nil
		want.Secrets = append([]webhook.Secret{{Sealed: []byte("new"), CreatedAt: t0.Add(time.Hour)}}, webhook.Secret{Sealed: []byte{1, 2, 3}, CreatedAt: t0, ExpiresAt: t0.Add(25 * time.Hour)})
		if err != nil || !sameEndpoint(got, want) {
			t.Errorf("GetWebhook(whk_a) = %+v, %v; want %+v", got, err, want)
		}
		_, err = tx.GetWebhook("whk_z")
		wantKind(t, "GetWebhook(missing)", err, storage.ErrNotFound)
		ids := func(scan func(fn func(webhook.Endpoint) bool) error) string {
			var out []string
			must(scan(func(e webhook.Endpoint) bool { out = append(out, e.ID); return true }))
			return fmt.Sprint(out)
		}
		for _, c := range []struct {
			what, got, want string
		}{
			{"ScanWebhooks", ids(func(fn func(webhook.Endpoint) bool) error { return tx.ScanWebhooks("", fn) }), "[whk_a whk_b whk_c whk_p]"},
			{"ScanWebhooks after whk_b", ids(func(fn func(webhook.Endpoint) bool) error { return tx.ScanWebhooks("whk_b", fn) }), "[whk_c whk_p]"},
			{"ScanWorkspaceWebhooks(ws_1)", ids(func(fn func(webhook.Endpoint) bool) error { return tx.ScanWorkspaceWebhooks("ws_1", "", fn) }), "[whk_a whk_b]"},
			{"ScanWorkspaceWebhooks(ws_1) after whk_a", ids(func(fn func(webhook.Endpoint) bool) error { return tx.ScanWorkspaceWebhooks("ws_1", "whk_a", fn) }), "[whk_b]"},
			{"ScanWorkspaceWebhooks(ws_2)", ids(func(fn func(webhook.Endpoint) bool) error { return tx.ScanWorkspaceWebhooks("ws_2", "", fn) }), "[whk_c]"},
			{"ScanWorkspaceWebhooks(platform)", ids(func(fn func(webhook.Endpoint) bool) error { return tx.ScanWorkspaceWebhooks("", "", fn) }), "[whk_p]"},
			{"ScanWorkspaceWebhooks(ws_9)", ids(func(fn func(webhook.Endpoint) bool) error { return tx.ScanWorkspaceWebhooks("ws_9", "", fn) }), "[]"},
		} {
			if c.got != c.want {
				t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
			}
		}
		return nil
	})
	// Values are copies: changing what was written or read changes nothing stored.
	e := endpoint("whk_d", "ws_1")
	update(t, s, func(tx storage.ReadWriter) error { return tx.CreateWebhook(e) })
	e.EventTypes[0], e.Secrets[0].Sealed[0] = "changed", 99
	view(t, s, func(tx storage.Reader) error {
		got, err := tx.GetWebhook("whk_d")
		if err != nil || !sameEndpoint(got, endpoint("whk_d", "ws_1")) {
			t.Errorf("mutating an endpoint after CreateWebhook changed the store: %+v", got)
		}
		got.EventTypes[0], got.Secrets[0].Sealed[0] = "changed", 99
		again, _ := tx.GetWebhook("whk_d")
		if !sameEndpoint(again, endpoint("whk_d", "ws_1")) {
			t.Errorf("mutating a read endpoint changed the store")
		}
		return nil
	})
	update(t, s, func(tx storage.ReadWriter) error { return tx.DeleteWebhook("whk_b") })
	refused(t, s, "DeleteWebhook(whk_b) again", storage.ErrNotFound, func(tx storage.ReadWriter) error { return tx.DeleteWebhook("whk_b") })
	view(t, s, func(tx storage.Reader) error {
		_, err := tx.GetWebhook("whk_b")
		wantKind(t, "GetWebhook(deleted)", err, storage.ErrNotFound)
		var out []string
		must(tx.ScanWorkspaceWebhooks("ws_1", "", func(e webhook.Endpoint) bool { out = append(out, e.ID); return true }))
		if fmt.Sprint(out) != "[whk_a whk_d]" {
			t.Errorf("ScanWorkspaceWebhooks(ws_1) after a delete = %v", out)
		}
		return nil
	})
}

func testWebhookAttempts(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.CreateWebhook(endpoint("whk_1", "ws_1")))
		must(tx.CreateWebhook(endpoint("whk_2", "ws_1")))
		for i := 1; i <= 5; i++ {
			must(tx.CreateWebhookAttempt(attempt("whk_1", fmt.Sprintf("wha_%d", i))))
		}
		return tx.CreateWebhookAttempt(attempt("whk_2", "wha_1"))
	})
	refused(t, s, "CreateWebhookAttempt again", storage.IndexWebhookAttempt, func(tx storage.ReadWriter) error { return tx.CreateWebhookAttempt(attempt("whk_1", "wha_3")) })
	refused(t, s, "CreateWebhookAttempt of a missing endpoint", storage.ErrNotFound, func(tx storage.ReadWriter) error { return tx.CreateWebhookAttempt(attempt("whk_9", "wha_1")) })
	refused(t, s, "CreateWebhookAttempt without an ID", storage.ErrInvalidKey, func(tx storage.ReadWriter) error { return tx.CreateWebhookAttempt(attempt("whk_1", "")) })
	ids := func(endpointID, after string) string {
		var out []string
		view(t, s, func(tx storage.Reader) error {
			return tx.ScanWebhookAttempts(endpointID, after, func(a webhook.Attempt) bool { out = append(out, a.ID); return true })
		})
		return fmt.Sprint(out)
	}
	if got := ids("whk_1", ""); got != "[wha_1 wha_2 wha_3 wha_4 wha_5]" {
		t.Errorf("attempts of whk_1 = %s", got)
	}
	if got := ids("whk_1", "wha_3"); got != "[wha_4 wha_5]" {
		t.Errorf("attempts of whk_1 after wha_3 = %s", got)
	}
	view(t, s, func(tx storage.Reader) error {
		return tx.ScanWebhookAttempts("whk_1", "wha_4", func(a webhook.Attempt) bool {
			want := attempt("whk_1", "wha_5")
			if a.EventID != want.EventID || a.Status != want.Status || a.Latency != want.Latency || a.Response != want.Response ||
				a.Try != want.Try || !a.Time.Equal(want.Time) || a.EventType != want.EventType || a.Position != want.Position {
				t.Errorf("attempt read back %+v, want %+v", a, want)
			}
			return false
		})
	})
	update(t, s, func(tx storage.ReadWriter) error {
		n, err := tx.DeleteWebhookAttempts("whk_1", "wha_3")
		if err != nil || n != 2 {
			t.Errorf("DeleteWebhookAttempts(before wha_3) = %d, %v; want 2", n, err)
		}
		if n, err := tx.DeleteWebhookAttempts("whk_1", ""); err != nil || n != 0 {
			t.Errorf("DeleteWebhookAttempts with no bound = %d, %v; want 0", n, err)
		}
		return nil
	})
	if got := ids("whk_1", ""); got != "[wha_3 wha_4 wha_5]" {
		t.Errorf("attempts of whk_1 after deleting the old ones = %s", got)
	}
	if got := ids("whk_2", ""); got != "[wha_1]" {
		t.Errorf("another endpoint's attempts changed: %s", got)
	}
	update(t, s, func(tx storage.ReadWriter) error { return tx.DeleteWebhook("whk_1") })
	if got := ids("whk_1", ""); got != "[]" {
		t.Errorf("a deleted endpoint's attempts = %s, want none", got)
	}
	update(t, s, func(tx storage.ReadWriter) error { return tx.CreateWebhook(endpoint("whk_1", "ws_1")) })
	if got := ids("whk_1", ""); got != "[]" {
		t.Errorf("a re-created endpoint inherits attempts: %s", got)
	}
}

// refused runs a write that must fail, alone in its Update (a failed statement
// aborts a SQL transaction), and checks that it failed as want says and changed
// nothing: want is an error kind, or the name of the unique index a conflict names.
func refused(t *testing.T, s storage.Storage, what string, want any, fn func(storage.ReadWriter) error) {
	t.Helper()
	before := dump(t, s)
	err := s.Update(ctx, fn)
	switch w := want.(type) {
	case string:
		wantKind(t, what, err, storage.ErrExists)
		if got := storage.ConflictIndex(err); got != w {
			t.Errorf("%s: the conflict names index %q, want %q", what, got, w)
		}
	case error:
		wantKind(t, what, err, w)
	}
	if after := dump(t, s); after != before {
		t.Errorf("%s changed the store", what)
	}
}
