package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy"
)

// The usage lists every client command, each command has its own help with an
// example, list commands print JSON with --json, and mistakes exit 2.
func TestCommandTable(t *testing.T) {
	var out bytes.Buffer
	if code := run(ctx, []string{"help"}, nil, &out, io.Discard, os.Getenv); code != 0 {
		t.Fatalf("help: %d", code)
	}
	for _, c := range commands {
		if !strings.Contains(out.String(), "server "+c.name) {
			t.Errorf("the usage does not list %q", c.name)
		}
		var help bytes.Buffer
		if code := run(ctx, append([]string{"help"}, strings.Fields(c.name)...), nil, &help, io.Discard, os.Getenv); code != 0 ||
			!strings.Contains(help.String(), "example:\n  "+c.example) || !strings.Contains(help.String(), "-url") ||
			!strings.Contains(help.String(), "exit status") {
			t.Errorf("help %s: %d %q", c.name, code, help.String())
		}
	}
	if !strings.Contains(out.String(), "exit status: 0 done; 1") {
		t.Error("the usage does not document the exit codes")
	}
	for _, args := range [][]string{{"nope"}, {"workspace"}, {"workspace", "nope"}, {"help", "nope"}, {"token", "list", "extra", "--token", "x"}} {
		var errOut bytes.Buffer
		if code := run(ctx, args, nil, io.Discard, &errOut, os.Getenv); code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut.String())
		}
	}

	s := startServer(t)
	env := func(k string) string { return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": s.admin}[k] }
	for _, args := range [][]string{{"workspace", "list", "--json"}, {"token", "list", "--json"}, {"webhook", "list", "--json"}} {
		var o, e bytes.Buffer
		if code := run(ctx, args, nil, &o, &e, env); code != 0 {
			t.Errorf("%v: %d %s", args, code, e.String())
			continue
		}
		var v []map[string]any
		if err := json.Unmarshal(o.Bytes(), &v); err != nil {
			t.Errorf("%v: not a JSON array: %v %q", args, err, o.String())
		}
		if args[0] != "webhook" && len(v) == 0 {
			t.Errorf("%v: empty", args)
		}
	}
	var o bytes.Buffer
	if code := run(ctx, []string{"workspace", "list"}, nil, &o, io.Discard, env); code != 0 || !strings.Contains(o.String(), "SLUG") {
		t.Errorf("workspace list as a table: %d %q", code, o.String())
	}
}

// Every CLI request goes through the generated client (httpapi/client): an error
// answer keeps tenancy's kind for errors.Is and prints the server's words, and an
// answer that is not the API's (another server at --url) is an error, not a panic.
func TestCLIThroughTheGeneratedClient(t *testing.T) {
	s := startServer(t)
	env := func(k string) string { return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": s.admin}[k] }
	err := clientCmd(ctx, []string{"workspace", "restore", "ws_01NOSUCHWORKSPACE0000000000"}, strings.NewReader(""), io.Discard, io.Discard, env)
	if !errors.Is(err, tenancy.ErrNotFound) || !strings.HasPrefix(err.Error(), "Not Found: ") {
		t.Errorf("restore of a missing workspace: %v", err)
	}
	err = clientCmd(ctx, []string{"token", "list"}, strings.NewReader(""), io.Discard, io.Discard,
		func(k string) string {
			return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": "tncu_wrong"}[k]
		})
	if !errors.Is(err, tenancy.ErrUnauthenticated) {
		t.Errorf("a wrong token: %v", err)
	}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html>not tenancy</html>")
	}))
	defer other.Close()
	for _, args := range [][]string{{"workspace", "list"}, {"token", "list"}, {"workspace", "restore", "ws_x"}, {"token", "create", "--name", "n", "--expires-in", "1d"}} {
		var errOut bytes.Buffer
		code := run(ctx, args, strings.NewReader(""), io.Discard, &errOut,
			func(k string) string {
				return map[string]string{"TENANCY_URL": other.URL, "TENANCY_TOKEN": "tncu_x"}[k]
			})
		if code != 1 || !strings.Contains(errOut.String(), "not the API's JSON") {
			t.Errorf("%v against another server: exit %d, %q", args, code, errOut.String())
		}
	}
}
