package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// client talks to a running server, like `tb workspace …`: flags make it fully
// non-interactive; a missing value is asked for at a prompt.
type client struct {
	base   string
	token  string
	http   *http.Client
	in     *bufio.Reader
	out    io.Writer
	prompt bool // false: never prompt (some flag was given)
}

func clientCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	cmd, sub := args[0], ""
	rest := args[1:]
	if cmd != "invite" {
		if len(rest) == 0 {
			return usageError{fmt.Sprintf("%s needs a subcommand", cmd)}
		}
		sub, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet(strings.TrimSpace(cmd+" "+sub), flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseURL := fs.String("url", getenv("TENANCY_URL"), "server URL (or TENANCY_URL)")
	tok := fs.String("token", getenv("TENANCY_TOKEN"), "your token (or TENANCY_TOKEN)")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	name := fs.String("name", "", "name")
	slug := fs.String("slug", "", "workspace slug")
	wsID := fs.String("workspace", "", "workspace ID")
	id := fs.String("id", "", "workspace or token ID")
	email := fs.String("email", "", "email to invite")
	role := fs.String("role", "", "role: viewer, editor or admin")
	expires := fs.String("expires-in", "", "token lifetime, e.g. 48h, 7d, 1y")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	c := &client{base: strings.TrimRight(*baseURL, "/"), token: *tok, http: &http.Client{Timeout: 30 * time.Second},
		in: bufio.NewReader(stdin), out: stdout, prompt: fs.NFlag() == 0}
	if c.base == "" {
		c.base = "http://127.0.0.1:8080"
	}
	var err error
	ask := func(dst *string, label string) {
		if err == nil && *dst == "" {
			*dst, err = c.ask(label)
		}
	}
	ask(&c.token, "Your token")
	switch cmd + " " + sub {
	case "workspace create":
		ask(name, "Workspace name")
		if err != nil {
			return err
		}
		var w workspaceJSON
		if err := c.do(ctx, "POST", "/api/v1/user/workspaces", map[string]string{"name": *name, "slug": *slug}, &w); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created workspace %q (slug %s, id %s)\n", w.Name, w.Slug, w.WorkspaceID)
	case "workspace list":
		if err != nil {
			return err
		}
		return c.listWorkspaces(ctx)
	case "workspace delete", "workspace leave":
		ask(id, "Workspace ID")
		if err != nil {
			return err
		}
		if !*yes {
			ok, err := c.confirm(fmt.Sprintf("Really %s workspace %s?", sub, *id))
			if err != nil || !ok {
				if err == nil {
					fmt.Fprintln(stdout, "cancelled")
				}
				return err
			}
		}
		if sub == "delete" {
			err = c.do(ctx, "DELETE", "/api/v1/workspaces/"+url.PathEscape(*id), nil, nil)
		} else {
			err = c.do(ctx, "POST", "/api/v1/workspaces/"+url.PathEscape(*id)+"/leave", nil, nil)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: done (workspace %s)\n", sub, *id)
	case "token create":
		ask(name, "Token name")
		ask(expires, "Expires in (e.g. 48h, 7d, 1y)")
		if err != nil {
			return err
		}
		path := "/api/v1/user/tokens"
		if *wsID != "" {
			path = "/api/v1/workspaces/" + url.PathEscape(*wsID) + "/tokens"
		}
		var t tokenJSON
		if err := c.do(ctx, "POST", path, map[string]string{"name": *name, "expires_in": *expires, "role": *role}, &t); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %s (%s, %s) — shown once:\n%s\n", t.TokenID, t.Name, t.Kind, t.Token)
	case "token revoke":
		ask(wsID, "Workspace ID")
		ask(id, "Token ID")
		if err != nil {
			return err
		}
		if err := c.do(ctx, "DELETE", "/api/v1/workspaces/"+url.PathEscape(*wsID)+"/tokens/"+url.PathEscape(*id), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked token %s\n", *id)
	case "invite ":
		ask(wsID, "Workspace ID")
		ask(email, "Email")
		ask(role, "Role (viewer, editor, admin)")
		if err != nil {
			return err
		}
		var inv invitationJSON
		body := map[string]string{"email": *email, "workspace_id": *wsID, "role": *role}
		if err := c.do(ctx, "POST", "/api/v1/admin/workspace/invites", body, &inv); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "invited %s as %s; send them this link (shown once):\n%s\n", inv.Email, inv.Role, inv.AcceptURL)
	default:
		return usageError{fmt.Sprintf("unknown command %q", strings.TrimSpace(cmd+" "+sub))}
	}
	return nil
}

func (c *client) listWorkspaces(ctx context.Context) error {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSLUG\tNAME\tSTATUS")
	cursor := ""
	for {
		var page pageJSON[workspaceJSON]
		path := "/api/v1/workspaces?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := c.do(ctx, "GET", path, nil, &page); err != nil {
			return err
		}
		for _, w := range page.Data {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.WorkspaceID, w.Slug, w.Name, w.Status)
		}
		if !page.Pagination.HasMore || page.Pagination.NextCursor == nil {
			return tw.Flush()
		}
		cursor = *page.Pagination.NextCursor
	}
}

// ask reads a value at a prompt; with any flag given it refuses instead, so scripts
// never hang on a prompt.
func (c *client) ask(label string) (string, error) {
	if !c.prompt {
		return "", usageError{fmt.Sprintf("missing value: %s (pass it as a flag)", strings.ToLower(label))}
	}
	fmt.Fprintf(c.out, "%s: ", label)
	line, err := c.in.ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" {
		if err != nil && err != io.EOF {
			return "", err
		}
		return "", usageError{fmt.Sprintf("%s is required", strings.ToLower(label))}
	}
	return line, nil
}

// confirm asks a yes/no question; in flag mode it refuses instead, so a script must
// say --yes to delete.
func (c *client) confirm(question string) (bool, error) {
	if !c.prompt {
		return false, usageError{"refusing without confirmation: pass --yes"}
	}
	fmt.Fprintf(c.out, "%s [y/N]: ", question)
	line, err := c.in.ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}

// do sends one request and decodes the answer into out; an error status becomes an
// error carrying the server's message.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Message string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s: %s", e.Error, e.Message)
		}
		return fmt.Errorf("%s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// The API's JSON, as the client reads it.

type workspaceJSON struct {
	WorkspaceID string `json:"workspace_id"`
	Name        string `json:"name"`
	Slug        string `json:"slug"`
	Status      string `json:"status"`
}

type tokenJSON struct {
	TokenID string `json:"token_id"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Token   string `json:"token"`
}

type invitationJSON struct {
	Email     string `json:"email"`
	Role      string `json:"role"`
	AcceptURL string `json:"accept_url"`
}

type pageJSON[T any] struct {
	Data       []T `json:"data"`
	Pagination struct {
		NextCursor *string `json:"next_cursor"`
		HasMore    bool    `json:"has_more"`
	} `json:"pagination"`
}
