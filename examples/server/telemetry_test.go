package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// serveForTest runs `server serve` with args on a fresh store and returns its
// address, the platform admin's token and a stop function that waits for it.
func serveForTest(t *testing.T, args ...string) (addr, tok string, stop func() int) {
	t.Helper()
	data := t.TempDir() + "/t.db"
	var setupOut bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, &setupOut, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	tok = regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(setupOut.String())[1]
	c, cancel := context.WithCancel(ctx)
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(c, append([]string{"serve", "-addr", "127.0.0.1:0", "-data", data}, args...), nil, io.Discard, logs, os.Getenv)
	}()
	for i := 0; i < 3000 && addr == ""; i++ { // up to 30 s: CI machines can be slow
		if m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("serve did not start: %s", logs.String())
	}
	stopped := false
	stop = func() int {
		if stopped {
			return 0
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return addr, tok, stop
}

func get(t *testing.T, url, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The server's /metrics, scraped as Prometheus does: HTTP request counts and
// latencies by route pattern and status, and the Manager's operation and storage
// series, with no tenant's ID or secret in any label. -metrics=false serves none.
func TestMetricsEndpoint(t *testing.T) {
	addr, tok, stop := serveForTest(t)
	base := "http://" + addr
	if code, _ := get(t, base+"/api/v1/user/workspaces", tok); code != 200 {
		t.Fatalf("list: %d", code)
	}
	const missing = "ws_01JZZZZZZZZZZZZZZZZZZZZZZZ"
	if code, _ := get(t, base+"/api/v1/workspaces/"+missing, tok); code != 404 {
		t.Fatalf("missing workspace: %d", code)
	}
	code, page := get(t, base+"/metrics", "")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, page)
	}
	series := func(name string, labels ...string) bool {
		for _, line := range strings.Split(page, "\n") {
			if !strings.HasPrefix(line, name+"{") {
				continue
			}
			all := true
			for _, l := range labels {
				all = all && strings.Contains(line, l)
			}
			if all {
				return true
			}
		}
		return false
	}
	for _, want := range []struct {
		name   string
		labels []string
	}{
		{"http_server_request_duration_seconds_count", []string{`http_route="GET /user/workspaces"`, `http_response_status_code="200"`, `http_request_method="GET"`}},
		{"http_server_request_duration_seconds_count", []string{`http_route="GET /workspaces/{id}"`, `http_response_status_code="404"`}},
		{"http_server_request_duration_seconds_bucket", []string{`http_route="GET /user/workspaces"`}},
		{"tenancy_operations_total", []string{`tenancy_operation="ListUserWorkspaces"`, `tenancy_outcome="ok"`, `tenancy_principal_kind="personal_token"`}},
		{"tenancy_operations_total", []string{`tenancy_operation="GetWorkspace"`, `tenancy_outcome="not_found"`}},
		{"tenancy_operation_duration_seconds_count", []string{`tenancy_operation="Authenticate"`}},
		{"tenancy_storage_transaction_duration_seconds_count", []string{`tenancy_transaction="read"`}},
	} {
		if !series(want.name, want.labels...) {
			t.Errorf("/metrics has no %s{%s}", want.name, strings.Join(want.labels, ","))
		}
	}
	for _, secret := range []string{tok, missing, "a@example.com"} {
		if strings.Contains(page, secret) {
			t.Errorf("/metrics holds %q", secret)
		}
	}
	if !strings.Contains(page, "go_goroutines") {
		t.Error("/metrics has no Go runtime series")
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}

	addr, _, _ = serveForTest(t, "-metrics=false")
	if _, page := get(t, "http://"+addr+"/metrics", ""); strings.Contains(page, "tenancy_operations_total") {
		t.Error("-metrics=false still serves metrics")
	}
}
