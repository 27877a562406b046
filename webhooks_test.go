package tenancy_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
)

// receiver is a webhook endpoint in the test process. It verifies every delivery
// with the Standard Webhooks reference library (code we did not write) against the
// secrets it was told, and answers as it is told: a status, or a hang.
type receiver struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	secrets []string
	got     []delivery
	answer  []int         // statuses to answer in turn; empty: 204
	hang    chan struct{} // when set, requests wait for it to close
	arrived chan struct{} // told (if set) when a request starts to hang
	clock   *fakeClock
}

type delivery struct {
	id, ts   string
	sigs     int
	payload  tenancy.Payload
	verified bool
}

func newReceiver(t *testing.T, clock *fakeClock) *receiver {
	r := &receiver{t: t, clock: clock}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(func() {
		r.mu.Lock()
		if r.hang != nil {
			close(r.hang)
			r.hang = nil
		}
		r.mu.Unlock()
		r.srv.Close()
	})
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	hang, arrived := r.hang, r.arrived
	secrets := slices.Clone(r.secrets)
	r.mu.Unlock()
	if hang != nil {
		if arrived != nil {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}
		<-hang
		return
	}
	d := delivery{id: req.Header.Get("webhook-id"), ts: req.Header.Get("webhook-timestamp"),
		sigs: len(strings.Fields(req.Header.Get("webhook-signature")))}
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			r.t.Errorf("receiver: secret %q: %v", s, err)
			continue
		}
		// The fake clock signs: check the timestamp against it, not the wall clock.
		if wh.VerifyIgnoringTimestamp(body, req.Header) == nil {
			d.verified = true
		}
	}
	if want := strconv.FormatInt(r.clock.Now().Unix(), 10); d.ts != want {
		r.t.Errorf("webhook-timestamp %s, want the clock's %s", d.ts, want)
	}
	if err := json.Unmarshal(body, &d.payload); err != nil {
		r.t.Errorf("receiver: payload %s: %v", body, err)
	}
	if strings.Contains(string(body), "@example.com") || strings.Contains(string(body), "whsec_") {
		r.t.Errorf("a payload holds an email or a secret: %s", body)
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	status := http.StatusNoContent
	if len(r.answer) > 0 {
		status, r.answer = r.answer[0], r.answer[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(status)
	_, _ = w.Write([]byte("answer body"))
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *receiver) trust(secret string) {
	r.mu.Lock()
	r.secrets = append(r.secrets, secret)
	r.mu.Unlock()
}

func (r *receiver) respond(statuses ...int) {
	r.mu.Lock()
	r.answer = append(r.answer, statuses...)
	r.mu.Unlock()
}

// hookEnv is an env whose webhooks may reach the test's receivers on loopback, with
// a retry schedule of three short waits and no jitter.
func hookEnv(t *testing.T, b backend) *env {
	return newEnvOpts(t, b, func(o *tenancy.Options) {
		o.Webhooks = tenancy.WebhookOptions{Policy: webhook.Policy{AllowHTTP: true, AllowPrivate: true},
			Schedule: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}, Jitter: func() float64 { return 0.5 },
			Timeout: 2 * time.Second}
	})
}

func eachHookBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, hookEnv(t, b)) })
	}
}

var deliverOpts = tenancy.DeliverOptions{Instance: "test"}

func deliver(t *testing.T, e *env) tenancy.DeliveryStep {
	t.Helper()
	res, err := e.m.DeliverWebhooksStep(ctx, deliverOpts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWebhookDeliversSignedEventsInOrder(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		hook, err := e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL + "/hooks", Description: "provisioning"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hook.Secret, "whsec_") || hook.WorkspaceID != e.ws.ID || hook.CreatedBy != "admin" {
			t.Fatalf("created %+v", hook)
		}
		r.trust(hook.Secret)
		// Events of this workspace after the registration, and another workspace's.
		other, _ := e.m.CreateWorkspace(ctx, outsider, tenancy.NewWorkspace{Name: "Elsewhere"})
		for _, name := range []string{"One", "Two", "Three"} {
			if _, err := e.m.UpdateWorkspace(ctx, owner, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr(name)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.m.UpdateWorkspace(ctx, outsider, other.ID, tenancy.WorkspaceUpdate{Name: ptr("Other")}); err != nil {
			t.Fatal(err)
		}
		res := deliver(t, e)
		got := r.deliveries()
		var types []string
		for _, d := range got {
			if !d.verified {
				t.Errorf("delivery %s does not verify with the endpoint's secret", d.id)
			}
			if d.payload.Data.WorkspaceID != e.ws.ID {
				t.Errorf("the workspace's endpoint received an event of %q", d.payload.Data.WorkspaceID)
			}
			if d.id != d.payload.Data.EventID || d.payload.Type != d.payload.Data.Type || d.payload.Timestamp.IsZero() {
				t.Errorf("delivery %s: payload %+v", d.id, d.payload)
			}
			types = append(types, d.payload.Type+":"+d.payload.Data.Data["name"])
		}
		want := []string{"webhook.created:", "workspace.updated:One", "workspace.updated:Two", "workspace.updated:Three"}
		if !slices.Equal(types, want) {
			t.Errorf("delivered %v, want %v", types, want)
		}
		if res.Delivered != len(want) || res.Failed != 0 {
			t.Errorf("step %+v", res)
		}
		for i := 1; i < len(got); i++ {
			if got[i].payload.Data.Position <= got[i-1].payload.Data.Position {
				t.Errorf("delivered out of feed order: %s after %s", got[i].payload.Data.Position, got[i-1].payload.Data.Position)
			}
		}
		// Nothing again.
		deliver(t, e)
		if n := len(r.deliveries()); n != len(want) {
			t.Errorf("a second pass delivered %d more", n-len(want))
		}
		page, err := e.m.ListWebhookAttempts(ctx, admin, hook.ID, tenancy.AttemptListOptions{Limit: 2})
		if err != nil || len(page.Items) != 2 || !page.HasMore || page.Items[0].Status != 204 || page.Items[0].Try != 1 || page.Items[0].Response != "" {
			t.Errorf("attempts page %+v, %v", page, err)
		}
		next, err := e.m.ListWebhookAttempts(ctx, admin, hook.ID, tenancy.AttemptListOptions{Cursor: page.NextCursor})
		if err != nil || len(next.Items) != 2 || next.HasMore {
			t.Errorf("attempts next page %+v, %v", next, err)
		}
	})
}

func TestWebhookRetriesWithTheSameIDThenDisables(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		hook, err := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: r.srv.URL, EventTypes: []string{"workspace.created"}})
		if err != nil {
			t.Fatal(err)
		}
		r.trust(hook.Secret)
		w, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Retried"})
		r.respond(500, 503, 500, 500)
		res := deliver(t, e)
		if res.Failed != 1 || res.Wait != 5*time.Second {
			t.Fatalf("first failure: %+v", res)
		}
		// Not due yet: nothing is sent.
		e.clock.Advance(4 * time.Second)
		deliver(t, e)
		if n := len(r.deliveries()); n != 1 {
			t.Fatalf("%d deliveries before the retry was due", n)
		}
		for _, wait := range []time.Duration{time.Second, 5 * time.Minute, 30 * time.Minute} {
			e.clock.Advance(wait)
			deliver(t, e)
		}
		got := r.deliveries()
		if len(got) != 4 {
			t.Fatalf("%d tries, want 4 (the first and three retries)", len(got))
		}
		for _, d := range got {
			if d.id != got[0].id || d.payload.Data.WorkspaceID != w.ID {
				t.Errorf("a retry changed webhook-id or event: %s %s", d.id, d.payload.Data.WorkspaceID)
			}
		}
		h, err := e.m.GetWebhook(ctx, platform, hook.ID)
		if err != nil || !h.Disabled || h.DisabledReason != "failing" {
			t.Fatalf("after the schedule ran out: %+v, %v", h, err)
		}
		attempts, _ := e.m.ListWebhookAttempts(ctx, platform, hook.ID, tenancy.AttemptListOptions{})
		var tries []int
		for _, a := range attempts.Items {
			tries = append(tries, a.Try)
			if a.Status < 500 || a.Response != "answer body" || a.EventID != got[0].id {
				t.Errorf("attempt %+v", a)
			}
		}
		if !slices.Equal(tries, []int{1, 2, 3, 4}) {
			t.Errorf("tries %v", tries)
		}
		feed, _ := e.m.Feed(ctx, system, tenancy.EventListOptions{Limit: 100})
		last := feed.Items[len(feed.Items)-1]
		if last.Type != "webhook.disabled" || last.Data["reason"] != "failing" {
			t.Errorf("the last event is %s %v, want webhook.disabled for failing", last.Type, last.Data)
		}
		// A disabled endpoint gets nothing; resumed, it delivers the failed event first.
		deliver(t, e)
		if n := len(r.deliveries()); n != 4 {
			t.Errorf("a disabled endpoint received %d more", n-4)
		}
		if _, err := e.m.UpdateWebhook(ctx, platform, hook.ID, tenancy.WebhookUpdate{Disabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		deliver(t, e)
		got = r.deliveries()
		if len(got) != 5 || got[4].id != got[0].id {
			t.Errorf("after resuming: %d deliveries, last %s; want the failed event again", len(got), got[len(got)-1].id)
		}
	})
}

func TestWebhookGoneDisables(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		hook, _ := e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL})
		r.trust(hook.Secret)
		r.respond(http.StatusGone)
		deliver(t, e)
		h, _ := e.m.GetWebhook(ctx, admin, hook.ID)
		if !h.Disabled || h.DisabledReason != "gone" {
			t.Errorf("after a 410: %+v", h)
		}
	})
}

func TestWebhookTimeoutRetries(t *testing.T) {
	e := newEnvOpts(t, backends[0], func(o *tenancy.Options) {
		o.Webhooks = tenancy.WebhookOptions{Policy: webhook.Policy{AllowHTTP: true, AllowPrivate: true}, Timeout: 50 * time.Millisecond,
			Jitter: func() float64 { return 0.5 }}
	})
	r := newReceiver(t, e.clock)
	r.mu.Lock()
	r.hang = make(chan struct{})
	r.mu.Unlock()
	hook, _ := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: r.srv.URL})
	res := deliver(t, e)
	if res.Failed != 1 || res.Wait != webhook.DefaultSchedule[0] {
		t.Fatalf("a hanging receiver: %+v", res)
	}
	page, _ := e.m.ListWebhookAttempts(ctx, platform, hook.ID, tenancy.AttemptListOptions{})
	if len(page.Items) != 1 || page.Items[0].Status != 0 || page.Items[0].Error == "" {
		t.Errorf("attempt after a timeout: %+v", page.Items)
	}
}

func TestWebhookSecretRotation(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		hook, _ := e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL})
		rotated, err := e.m.RotateWebhookSecret(ctx, admin, hook.ID)
		if err != nil || rotated.Secret == hook.Secret || len(rotated.Secrets) != 2 || rotated.Secrets[1].ExpiresAt.IsZero() {
			t.Fatalf("rotated %+v, %v", rotated, err)
		}
		// Only the new secret is trusted: deliveries still verify (both are signed).
		r.trust(rotated.Secret)
		deliver(t, e)
		for _, d := range r.deliveries() {
			if !d.verified || d.sigs != 2 {
				t.Errorf("during the overlap: verified %v with %d signatures, want 2", d.verified, d.sigs)
			}
		}
		e.clock.Advance(25 * time.Hour)
		if _, err := e.m.UpdateWorkspace(ctx, owner, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("Later")}); err != nil {
			t.Fatal(err)
		}
		n := len(r.deliveries())
		deliver(t, e)
		got := r.deliveries()
		if len(got) != n+1 || got[n].sigs != 1 || !got[n].verified {
			t.Errorf("after the overlap: %+v, want one signature with the new secret", got[n:])
		}
	})
}

func TestWebhookReplay(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		hook, _ := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: r.srv.URL, EventTypes: []string{"workspace.created"}})
		r.trust(hook.Secret)
		if err := e.m.ReplayWebhook(ctx, platform, hook.ID, ""); err != nil {
			t.Fatal(err)
		}
		deliver(t, e)
		got := r.deliveries()
		if len(got) != 1 || got[0].payload.Data.WorkspaceID != e.ws.ID {
			t.Fatalf("replayed %d deliveries, want the one workspace.created before the endpoint existed", len(got))
		}
		if err := e.m.ReplayWebhook(ctx, platform, hook.ID, ""); err != nil {
			t.Fatal(err)
		}
		deliver(t, e)
		if again := r.deliveries(); len(again) != 2 || again[1].id != got[0].id {
			t.Errorf("a second replay: %d deliveries; the same webhook-id each time", len(again))
		}
	})
}

func TestWebhookAuthorization(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		mine, err := e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		plat, err := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: r.srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		before := e.dump(t)
		for _, c := range []struct {
			what string
			err  error
			kind error
			msg  string
		}{
			{"an editor registers", try(e.m.CreateWebhook(ctx, editor, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL})), tenancy.ErrPermissionDenied, "webhooks"},
			{"an outsider registers", try(e.m.CreateWebhook(ctx, outsider, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL})), tenancy.ErrNotFound, "not found"},
			{"an admin registers a platform endpoint", try(e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{URL: r.srv.URL})), tenancy.ErrPermissionDenied, "platform"},
			{"nobody registers", try(e.m.CreateWebhook(ctx, nobody, tenancy.NewWebhook{URL: r.srv.URL})), tenancy.ErrUnauthenticated, "authenticate"},
			{"an outsider reads", try(e.m.GetWebhook(ctx, outsider, mine.ID)), tenancy.ErrNotFound, "not found"},
			{"an admin reads a platform endpoint", try(e.m.GetWebhook(ctx, admin, plat.ID)), tenancy.ErrNotFound, "not found"},
			{"an editor reads", try(e.m.GetWebhook(ctx, editor, mine.ID)), tenancy.ErrPermissionDenied, "webhooks"},
			{"an outsider lists", try(e.m.ListWebhooks(ctx, outsider, tenancy.WebhookListOptions{WorkspaceID: e.ws.ID})), tenancy.ErrNotFound, "not found"},
			{"an admin lists the platform's", try(e.m.ListWebhooks(ctx, admin, tenancy.WebhookListOptions{})), tenancy.ErrPermissionDenied, "platform"},
			{"an outsider deletes", e.m.DeleteWebhook(ctx, outsider, mine.ID), tenancy.ErrNotFound, "not found"},
			{"an outsider rotates", try(e.m.RotateWebhookSecret(ctx, outsider, mine.ID)), tenancy.ErrNotFound, "not found"},
			{"an outsider replays", e.m.ReplayWebhook(ctx, outsider, mine.ID, ""), tenancy.ErrNotFound, "not found"},
			{"an outsider updates", try(e.m.UpdateWebhook(ctx, outsider, mine.ID, tenancy.WebhookUpdate{Disabled: ptr(true)})), tenancy.ErrNotFound, "not found"},
			{"an outsider reads attempts", try(e.m.ListWebhookAttempts(ctx, outsider, mine.ID, tenancy.AttemptListOptions{})), tenancy.ErrNotFound, "not found"},
			{"a missing endpoint", try(e.m.GetWebhook(ctx, platform, "whk_missing")), tenancy.ErrNotFound, "not found"},
		} {
			t.Run(c.what, func(t *testing.T) { wantErr(t, c.err, c.kind, c.msg) })
		}
		if after := e.dump(t); after != before {
			t.Error("a refused webhook call changed the store")
		}
		// The admin lists the workspace's endpoints; the platform user lists both.
		if pg, err := e.m.ListWebhooks(ctx, admin, tenancy.WebhookListOptions{WorkspaceID: e.ws.ID}); err != nil || len(pg.Items) != 1 || pg.Items[0].ID != mine.ID {
			t.Errorf("the admin's list: %+v, %v", pg.Items, err)
		}
		if pg, err := e.m.ListWebhooks(ctx, platform, tenancy.WebhookListOptions{}); err != nil || len(pg.Items) != 1 || pg.Items[0].ID != plat.ID {
			t.Errorf("the platform's list: %+v, %v", pg.Items, err)
		}
	})
}

func try[T any](_ T, err error) error { return err }

func TestWebhookValidation(t *testing.T) {
	e := newEnv(t, backends[0]) // the default policy: https and public addresses only
	for _, c := range []struct {
		in  tenancy.NewWebhook
		msg string
	}{
		{tenancy.NewWebhook{URL: "http://hooks.example.com/x"}, "https"},
		{tenancy.NewWebhook{URL: "https://127.0.0.1/x"}, "not a public address"},
		{tenancy.NewWebhook{URL: "https://169.254.169.254/latest"}, "not a public address"},
		{tenancy.NewWebhook{URL: "https://localhost/x"}, "public host"},
		{tenancy.NewWebhook{URL: "not a url"}, "https"},
		{tenancy.NewWebhook{URL: "https://hooks.example.com", Description: strings.Repeat("x", 501)}, "description"},
		{tenancy.NewWebhook{URL: "https://hooks.example.com", EventTypes: []string{"Workspace Created"}}, "event type"},
		{tenancy.NewWebhook{URL: "https://hooks.example.com", EventTypes: []string{""}}, "event type"},
	} {
		_, err := e.m.CreateWebhook(ctx, platform, c.in)
		wantErr(t, err, tenancy.ErrInvalidArgument, c.msg)
	}
	h, err := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: "https://hooks.example.com/tenancy", EventTypes: []string{"workspace.created", "workspace.created"}})
	if err != nil || len(h.EventTypes) != 1 {
		t.Fatalf("a valid endpoint: %+v, %v", h, err)
	}
	_, err = e.m.UpdateWebhook(ctx, platform, h.ID, tenancy.WebhookUpdate{URL: ptr("https://10.0.0.1/")})
	wantErr(t, err, tenancy.ErrInvalidArgument, "not a public address")
}

// An endpoint whose stored URL the policy no longer allows (written here straight
// into storage, as a tampered row or a stricter policy would leave it) is refused
// on delivery, before connecting: the receiver gets nothing. The check made on
// every connection after DNS (against rebinding) is webhook's
// TestClientChecksEveryConnection.
func TestWebhookRefusesPrivateAddressesOnConnect(t *testing.T) {
	e := newEnvOpts(t, backends[0], func(o *tenancy.Options) {
		o.Webhooks = tenancy.WebhookOptions{Policy: webhook.Policy{AllowHTTP: true}, Jitter: func() float64 { return 0.5 }}
	})
	r := newReceiver(t, e.clock)
	h, err := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: "http://hooks.example.com/x"})
	if err != nil {
		t.Fatal(err)
	}
	err = e.store.Update(ctx, func(tx storage.ReadWriter) error {
		ep, err := tx.GetWebhook(h.ID)
		if err != nil {
			return err
		}
		ep.URL = strings.Replace(r.srv.URL, "127.0.0.1", "localhost", 1) // a name that resolves to loopback
		return tx.ReplaceWebhook(ep)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.ReplayWebhook(ctx, platform, h.ID, ""); err != nil {
		t.Fatal(err)
	}
	res := deliver(t, e)
	if res.Failed != 1 || len(r.deliveries()) != 0 {
		t.Fatalf("a private address: %+v, %d deliveries", res, len(r.deliveries()))
	}
	page, _ := e.m.ListWebhookAttempts(ctx, platform, h.ID, tenancy.AttemptListOptions{})
	if len(page.Items) != 1 || !strings.Contains(page.Items[0].Error, "not a public host") {
		t.Errorf("the refused attempt: %+v", page.Items)
	}
}

func TestWebhookDeleteAndPurge(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		a, _ := e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL})
		b, _ := e.m.CreateWebhook(ctx, admin, tenancy.NewWebhook{WorkspaceID: e.ws.ID, URL: r.srv.URL})
		deliver(t, e)
		if err := e.m.DeleteWebhook(ctx, admin, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.GetWebhook(ctx, admin, a.ID); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("a deleted endpoint: %v", err)
		}
		// Purging the workspace removes its endpoints.
		if _, err := e.m.DeleteWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.m.PurgeWorkspace(ctx, platform, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.GetWebhook(ctx, platform, b.ID); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("an endpoint of a purged workspace: %v", err)
		}
	})
}

// A deliverer stopped after a receiver got an event but before the delivery was
// recorded (a crash) delivers it again when it comes back: at least once, with the
// same webhook-id, nothing lost.
func TestWebhookRedeliversAfterACrash(t *testing.T) {
	eachHookBackend(t, func(t *testing.T, e *env) {
		r := newReceiver(t, e.clock)
		hook, _ := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: r.srv.URL, EventTypes: []string{"workspace.created"}})
		r.trust(hook.Secret)
		w, _ := e.m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "Crash"})
		// The receiver takes the delivery, then the deliverer's context ends before
		// it reads the answer.
		cctx, cancel := context.WithCancel(ctx)
		hang, arrived := make(chan struct{}), make(chan struct{}, 1)
		r.mu.Lock()
		r.hang, r.arrived = hang, arrived
		r.mu.Unlock()
		done := make(chan error, 1)
		go func() {
			_, err := e.m.DeliverWebhooksStep(cctx, tenancy.DeliverOptions{Instance: "dead"})
			done <- err
		}()
		<-arrived
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("the interrupted pass: %v", err)
		}
		r.mu.Lock()
		close(hang)
		r.hang, r.arrived = nil, nil
		r.mu.Unlock()
		// Another instance takes over once the dead one's lease lapses.
		e.clock.Advance(time.Minute)
		if _, err := e.m.DeliverWebhooksStep(ctx, tenancy.DeliverOptions{Instance: "alive"}); err != nil {
			t.Fatal(err)
		}
		got := r.deliveries()
		if len(got) != 1 || got[0].payload.Data.WorkspaceID != w.ID || !got[0].verified {
			t.Fatalf("after the crash: %+v, want the workspace.created of %s", got, w.ID)
		}
	})
}

// Attempts are kept for Options.Webhooks.AttemptRetention, then dropped.
func TestWebhookAttemptRetention(t *testing.T) {
	e := newEnvOpts(t, backends[0], func(o *tenancy.Options) {
		o.Webhooks = tenancy.WebhookOptions{Policy: webhook.Policy{AllowHTTP: true, AllowPrivate: true}, AttemptRetention: time.Hour}
	})
	r := newReceiver(t, e.clock)
	hook, _ := e.m.CreateWebhook(ctx, platform, tenancy.NewWebhook{URL: r.srv.URL})
	deliver(t, e) // webhook.created
	count := func() int {
		pg, err := e.m.ListWebhookAttempts(ctx, platform, hook.ID, tenancy.AttemptListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(pg.Items)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d attempts, want 1", n)
	}
	e.clock.Advance(30 * time.Minute)
	if _, err := e.m.UpdateWorkspace(ctx, owner, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("Half")}); err != nil {
		t.Fatal(err)
	}
	deliver(t, e)
	if n := count(); n != 2 {
		t.Fatalf("%d attempts within the hour, want 2", n)
	}
	e.clock.Advance(45 * time.Minute) // the first is 75 minutes old, the second 45
	deliver(t, e)
	if n := count(); n != 1 {
		t.Errorf("%d attempts after the first passed the retention, want 1", n)
	}
}
