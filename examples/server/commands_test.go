package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
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
