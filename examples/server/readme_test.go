package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestReadmeCurlExamples runs every curl command of the README's "Self-hosted"
// section against a live test server, so the documentation cannot drift from what
// works. Variables are set as a reader's shell would have them: TENANCY_URL and
// TENANCY_TOKEN from setup, WORKSPACE_ID from the workspace the first command
// creates, NEXT_CURSOR from the last page read.
func TestReadmeCurlExamples(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCurls(t, string(raw))
	if len(cmds) < 5 {
		t.Fatalf("found %d curl commands in the README's Self-hosted section, want at least 5", len(cmds))
	}
	s := startServer(t)
	vars := map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": s.admin}
	for _, cmd := range cmds {
		words, err := shellWords(cmd, vars)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		req, err := curlRequest(words)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("README command failed with %d: %s\n%s", resp.StatusCode, cmd, body)
		}
		var out map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("README command answered non-JSON: %s", body)
		}
		if id, ok := out["workspace_id"].(string); ok && vars["WORKSPACE_ID"] == "" {
			vars["WORKSPACE_ID"] = id
		}
		if p, ok := out["pagination"].(map[string]any); ok {
			if c, ok := p["next_cursor"].(string); ok {
				vars["NEXT_CURSOR"] = c
			}
		}
	}
}

// readmeCurls returns the curl commands of the Self-hosted section, continuation
// lines joined.
func readmeCurls(t *testing.T, readme string) []string {
	start := strings.Index(readme, "## Self-hosted")
	if start < 0 {
		t.Fatal("README has no Self-hosted section")
	}
	section := readme[start:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	var cmds []string
	var cur strings.Builder
	for _, line := range strings.Split(section, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && !strings.HasPrefix(trimmed, "curl ") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmds = append(cmds, cur.String())
		cur.Reset()
	}
	return cmds
}

// shellWords splits a command as a POSIX shell would for the quoting the README
// uses: single quotes, double quotes with $VAR expansion, adjacent parts joined.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	expand := func(i int) (string, int, error) { // s[i] == '$'
		j := i + 1
		for j < len(s) && (s[j] == '_' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
			j++
		}
		name := s[i+1 : j]
		v, ok := vars[name]
		if !ok {
			return "", 0, fmt.Errorf("variable $%s is not set at this point of the README", name)
		}
		return v, j, nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unclosed single quote")
			}
			w.WriteString(s[i+1 : i+1+j])
			i, inWord = i+j+2, true
		case c == '"':
			i++
			for i < len(s) && s[i] != '"' {
				switch {
				case s[i] == '\\' && i+1 < len(s):
					w.WriteByte(s[i+1])
					i += 2
				case s[i] == '$':
					v, next, err := expand(i)
					if err != nil {
						return nil, err
					}
					w.WriteString(v)
					i = next
				default:
					w.WriteByte(s[i])
					i++
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unclosed double quote")
			}
			i, inWord = i+1, true
		case c == '$':
			v, next, err := expand(i)
			if err != nil {
				return nil, err
			}
			w.WriteString(v)
			i, inWord = next, true
		default:
			w.WriteByte(c)
			i, inWord = i+1, true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// curlRequest builds the request a curl command line describes (-s, -X, -H, -d).
func curlRequest(words []string) (*http.Request, error) {
	if len(words) == 0 || words[0] != "curl" {
		return nil, fmt.Errorf("not a curl command")
	}
	method, url, body := "", "", ""
	var headers [][2]string
	for i := 1; i < len(words); i++ {
		switch words[i] {
		case "-s":
		case "-X", "-H", "-d":
			if i+1 >= len(words) {
				return nil, fmt.Errorf("%s needs a value", words[i])
			}
			v := words[i+1]
			switch words[i] {
			case "-X":
				method = v
			case "-H":
				k, val, ok := strings.Cut(v, ":")
				if !ok {
					return nil, fmt.Errorf("bad header %q", v)
				}
				headers = append(headers, [2]string{strings.TrimSpace(k), strings.TrimSpace(val)})
			case "-d":
				body = v
			}
			i++
		default:
			if strings.HasPrefix(words[i], "-") {
				return nil, fmt.Errorf("curl option %s is not understood by this test", words[i])
			}
			url = words[i]
		}
	}
	if method == "" {
		method = "GET"
		if body != "" {
			method = "POST"
		}
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	for _, h := range headers {
		req.Header.Set(h[0], h[1])
	}
	return req, nil
}
