package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The self-hosted server delivers webhooks from serve: an endpoint registered with
// the CLI receives the workspace a person then creates, signed with the secret the
// CLI printed once (checked by the Standard Webhooks reference library).
func TestServeDeliversWebhooks(t *testing.T) {
	data := filepath.Join(t.TempDir(), "t.db")
	var out bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, &out, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	admin := regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(out.String())[1]
	var mu sync.Mutex
	var secret string
	got := make(chan map[string]any, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		s := secret
		mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil || wh.Verify(body, r.Header) != nil {
			t.Errorf("a delivery does not verify: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var p map[string]any
		_ = json.Unmarshal(body, &p)
		got <- p
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()

	// Without -webhook-allow-private a loopback endpoint is refused.
	addr, _, stop := serveInBackground(t, "-data", data)
	base := "http://" + addr
	var cliOut, cliErr bytes.Buffer
	if code := run(ctx, []string{"webhook", "create", recv.URL, "--url", base, "--token", admin}, nil, &cliOut, &cliErr, os.Getenv); code == 0 ||
		!strings.Contains(cliErr.String(), "https") {
		t.Errorf("a loopback http endpoint on a default server: exit %d, %s", code, cliErr.String())
	}
	stop()

	addr, logs, stop := serveInBackground(t, "-data", data, "-webhook-allow-private")
	defer stop()
	base = "http://" + addr
	cliOut.Reset()
	if code := run(ctx, []string{"webhook", "create", recv.URL, "--url", base, "--token", admin, "--event-type", "workspace.created",
		"--description", "provisioning"}, nil, &cliOut, &cliErr, os.Getenv); code != 0 {
		t.Fatalf("webhook create: %s", cliErr.String())
	}
	m := regexp.MustCompile(`(?s)webhook (whk_\w+) registered.*\n(whsec_\S+)`).FindStringSubmatch(cliOut.String())
	if m == nil {
		t.Fatalf("webhook create printed %q", cliOut.String())
	}
	id := m[1]
	mu.Lock()
	secret = m[2]
	mu.Unlock()
	req, _ := http.NewRequest("POST", base+"/api/v1/user/workspaces", strings.NewReader(`{"name":"Provisioned"}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create a workspace: %v %v", resp, err)
	}
	resp.Body.Close()
	select {
	case p := <-got:
		data, _ := p["data"].(map[string]any)
		if p["type"] != "workspace.created" || data["type"] != "workspace.created" {
			t.Errorf("delivered %v", p)
		}
	case <-time.After(30 * time.Second): // the deliverer polls every second; CI machines are slow
		t.Fatalf("no delivery within 30 s; server log:\n%s", logs.String())
	}
	cliOut.Reset()
	if code := run(ctx, []string{"webhook", "list", "--url", base, "--token", admin}, nil, &cliOut, &cliErr, os.Getenv); code != 0 ||
		!strings.Contains(cliOut.String(), id) || !strings.Contains(cliOut.String(), "workspace.created") || !strings.Contains(cliOut.String(), "enabled") {
		t.Errorf("webhook list: %s %s", cliOut.String(), cliErr.String())
	}
	cliOut.Reset()
	if code := run(ctx, []string{"webhook", "rotate", id, "--url", base, "--token", admin}, nil, &cliOut, &cliErr, os.Getenv); code != 0 ||
		!regexp.MustCompile(`whsec_\S+`).MatchString(cliOut.String()) {
		t.Errorf("webhook rotate: %s %s", cliOut.String(), cliErr.String())
	}
	cliErr.Reset()
	if code := run(ctx, []string{"webhook", "delete", id, "--url", base, "--token", admin}, strings.NewReader(""), &cliOut, &cliErr, os.Getenv); code == 0 {
		t.Errorf("webhook delete without confirmation succeeded")
	}
	cliOut.Reset()
	if code := run(ctx, []string{"webhook", "delete", id, "--yes", "--url", base, "--token", admin}, nil, &cliOut, &cliErr, os.Getenv); code != 0 ||
		!strings.Contains(cliOut.String(), "deleted webhook "+id) {
		t.Errorf("webhook delete: %s %s", cliOut.String(), cliErr.String())
	}
	for _, args := range [][]string{{"webhook"}, {"webhook", "nope"}, {"webhook", "rotate"}, {"webhook", "list", "extra"}} {
		cliErr.Reset()
		if code := run(ctx, append(args, "--token", admin, "--url", base), nil, io.Discard, &cliErr, os.Getenv); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, cliErr.String())
		}
	}
}
