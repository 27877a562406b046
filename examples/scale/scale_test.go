package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestScaleSmoke runs the program at its smallest size and checks the table it prints.
func TestScaleSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("measures throughput for a few seconds")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, args := os.Stdout, os.Args
	os.Stdout, os.Args = w, []string{"scale", "-workspaces", "1000", "-samples", "500", "-reference", "1000", "-memory-sample", "0", "-compare-casbin", "-dir", t.TempDir()}
	done := make(chan string)
	go func() { b, _ := io.ReadAll(r); done <- string(b) }()
	main()
	w.Close()
	os.Stdout, os.Args = stdout, args
	out := <-done
	for _, want := range []string{"| open store + New Manager |", "| Authorize p50 / p99 (bolt), steady state |", "| Authenticate p50",
		"| ListWorkspaces page of 20", "| ListWorkspaces name_contains", "| restart: open → first HTTP request answered", "| CreateWorkspace/s, 64 callers", "| casbin RBAC-with-domains: Enforce"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}

func TestMemoryFootprint(t *testing.T) {
	perWS, perMember := memoryFootprint(2000, 5, nil)
	if perWS == 0 || perMember == 0 || perMember > 5000 {
		t.Errorf("implausible footprint: %d per workspace, %d per membership", perWS, perMember)
	}
}
