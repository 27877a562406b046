package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeCurlExamples runs the README's block of curl requests exactly as
// written, in bash with nothing set but PATH and what setup gives a reader
// (TENANCY_URL, TENANCY_TOKEN), against a live test server: every variable the
// block uses must come from the block itself, and no request may fail. It needs
// bash, curl and jq; without them it skips, and fails instead under
// TENANCY_REQUIRE_SHELL_TOOLS=1 (CI).
func TestReadmeCurlExamples(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			msg := "the README's curl block needs " + tool + " (apt-get install curl jq)"
			if os.Getenv("TENANCY_REQUIRE_SHELL_TOOLS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := readmeCurlBlock(t, string(raw))
	s := startServer(t)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", block)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TENANCY_URL=" + s.url, "TENANCY_TOKEN=" + s.admin}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README's block failed: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ws_\w+$`),    // the echoed workspace ID
		regexp.MustCompile(`"accept_url"`),    // the invitation
		regexp.MustCompile(`"next_cursor"`),   // the second page
		regexp.MustCompile(`"token": "tncw_`), // the workspace token
	} {
		if !want.MatchString(got) {
			t.Errorf("the block's output lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, `"error"`) {
		t.Errorf("a request in the README's block failed:\n%s", got)
	}
}

// readmeCurlBlock returns the first sh block of the Self-hosted section that
// holds curl requests.
func readmeCurlBlock(t *testing.T, readme string) string {
	t.Helper()
	start := strings.Index(readme, "## Self-hosted")
	if start < 0 {
		t.Fatal("README has no Self-hosted section")
	}
	section := readme[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		if strings.Count(m[1], "curl ") >= 4 {
			return m[1]
		}
	}
	t.Fatal("the Self-hosted section has no block of curl requests")
	return ""
}
