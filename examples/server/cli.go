package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	api "github.com/tenancykit/tenancy/httpapi/client"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/tenancykit/tenancy/internal/text"
)

// client talks to a running server, like `tb workspace …`: flags make it fully
// non-interactive; a missing value is asked for at a prompt.
type client struct {
	base   string
	token  string
	http   *http.Client
	stdin  io.Reader
	in     *bufio.Reader
	out    io.Writer
	prompt bool // false: never prompt (some flag was given)
}

// clipArg bounds a command-line argument quoted in a message.
// clipArg bounds an argument quoted in a message: the module's one rule (64 bytes).
func clipArg(s string) string { return text.Clip(s) }

func (c *client) tokensPath(wsID string) string {
	if wsID != "" {
		return "/api/v1/workspaces/" + url.PathEscape(wsID) + "/tokens"
	}
	return "/api/v1/user/tokens"
}

// findWorkspace finds a workspace by ID, slug or name among those the caller sees.
func (c *client) findWorkspace(ctx context.Context, ref string) (api.Workspace, error) {
	if strings.HasPrefix(ref, "ws_") {
		var w api.Workspace
		err := c.do(ctx, "GET", "/api/v1/workspaces/"+url.PathEscape(ref), nil, &w)
		return w, err
	}
	var found []api.Workspace
	err := eachPage(ctx, c, "/api/v1/workspaces?limit=100", func(w api.Workspace) {
		if w.Slug == ref || w.Name == ref {
			found = append(found, w)
		}
	})
	if err != nil {
		return api.Workspace{}, err
	}
	switch len(found) {
	case 0:
		return api.Workspace{}, fmt.Errorf("no workspace named %q", clipArg(ref))
	case 1:
		return found[0], nil
	}
	return api.Workspace{}, fmt.Errorf("%d workspaces are named %q: give the slug or the ID", len(found), clipArg(ref))
}

func (c *client) listTokens(ctx context.Context, wsID, state string) error {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tWORKSPACE\tROLE\tHINT\tSTATE")
	err := eachPage(ctx, c, c.tokensPath(wsID)+"?limit=100&state="+url.QueryEscape(state), func(t api.Token) {
		// Never the secret: the API does not send it in lists, and the hint is all
		// a person needs to recognise a token.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.TokenId, t.Name, t.Kind, orDash(deref(t.WorkspaceId)), orDash(deref(t.Role)), t.Hint, t.State)
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

func (c *client) listWorkspaces(ctx context.Context) error {
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSLUG\tNAME\tSTATUS")
	err := eachPage(ctx, c, "/api/v1/workspaces?limit=100", func(w api.Workspace) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.WorkspaceId, w.Slug, w.Name, w.Status)
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// eachPage follows a list's cursor to its end, calling fn for every item.
func eachPage[T any](ctx context.Context, c *client, path string, fn func(T)) error {
	cursor := ""
	for {
		var page pageJSON[T]
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := c.do(ctx, "GET", p, nil, &page); err != nil {
			return err
		}
		for _, item := range page.Data {
			fn(item)
		}
		if !page.Pagination.HasMore || page.Pagination.NextCursor == nil {
			return nil
		}
		cursor = *page.Pagination.NextCursor
	}
}

// askDefault reads a value at a prompt, offering def (taken on an empty answer);
// with any flag given it refuses instead, so scripts never hang on a prompt.
func (c *client) askDefault(label, def string) (string, error) {
	if !c.prompt {
		if def != "" {
			return def, nil
		}
		return "", usageError{fmt.Sprintf("missing value: %s (pass it as a flag)", strings.ToLower(label))}
	}
	if def != "" {
		fmt.Fprintf(c.out, "%s [%s]: ", label, def)
	} else {
		fmt.Fprintf(c.out, "%s: ", label)
	}
	line, err := c.in.ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" {
		if def != "" {
			return def, nil
		}
		if err != nil && err != io.EOF {
			return "", err
		}
		return "", usageError{fmt.Sprintf("%s is required", strings.ToLower(label))}
	}
	return line, nil
}

// secret asks for a secret. At a terminal the answer is not echoed; from a pipe
// it is read as a line.
func (c *client) secret(label string) (string, error) {
	if !c.prompt {
		return "", usageError{"no token: pass --token or set TENANCY_TOKEN"}
	}
	return c.readSecret(label)
}

// readSecret reads one secret: unechoed from a terminal, else a line of stdin (so
// a script pipes it, and it never sits in a command line).
func (c *client) readSecret(label string) (string, error) {
	fmt.Fprintf(c.out, "%s: ", label)
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.out)
		if err != nil {
			return "", err
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", usageError{fmt.Sprintf("%s is required", strings.ToLower(label))}
	}
	line, err := c.in.ReadString('\n')
	if s := strings.TrimSpace(line); s != "" {
		return s, nil
	}
	if err != nil && err != io.EOF {
		return "", err
	}
	return "", usageError{fmt.Sprintf("%s is required", strings.ToLower(label))}
}

// confirm asks "Are you sure …? (y/N)"; anything but yes is a refusal, and so is
// flag mode without --yes, so a script must say --yes to delete.
func (c *client) confirm(question string) error {
	if !c.prompt {
		return usageError{"refusing without confirmation: pass --yes"}
	}
	fmt.Fprintf(c.out, "%s (y/N) ", question)
	line, err := c.in.ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return errCancelled
	}
	return nil
}

// errCancelled is a declined confirmation: nothing was done, and the command fails.
var errCancelled = errors.New("cancelled: nothing was changed")

// do sends one request and decodes the answer into out; an error status becomes an
// error carrying the server's message.
// needToken asks for the token, unechoed, when neither --token nor TENANCY_TOKEN
// gave one.
func (c *client) needToken() error {
	if c.token != "" {
		return nil
	}
	var err error
	c.token, err = c.secret("Your token")
	return err
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	if err := c.needToken(); err != nil {
		return err
	}
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
		var e api.Error
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

// The API's JSON types are the generated client's (httpapi/client).

func expiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// invitationSecret takes the secret out of an invitation link
// (…/invite#token=SECRET), or returns s as it is.
func invitationSecret(s string) string {
	if _, frag, ok := strings.Cut(s, "#"); ok {
		if v, err := url.ParseQuery(frag); err == nil && v.Get("token") != "" {
			return v.Get("token")
		}
	}
	return s
}

// chooseStarterKit resolves --starter-kit (a number in the server's list, or an
// ID) or, interactively, shows Tinybird's table and asks. It returns the kit's ID
// ("" when the server lists none).
func (c *client) chooseStarterKit(ctx context.Context, flagValue string) (string, error) {
	var kits api.StarterKits
	if err := c.do(ctx, "GET", "/api/v1/starter-kits", nil, &kits); err != nil {
		return "", err
	}
	pick := func(s string) (string, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			for _, k := range kits.Data {
				if k.Id == s {
					return k.Id, nil
				}
			}
			return "", usageError{fmt.Sprintf("no starter kit %q: give its number or ID (see the list with no --starter-kit)", clipArg(s))}
		}
		switch {
		case n == 0:
			return "", errCancelled
		case n < 0 || n > len(kits.Data):
			return "", usageError{fmt.Sprintf("starter kit %d: choose 1 to %d, or 0 to cancel", n, len(kits.Data))}
		}
		return kits.Data[n-1].Id, nil
	}
	if flagValue != "" {
		return pick(flagValue)
	}
	if len(kits.Data) == 0 || !c.prompt {
		return "", nil
	}
	idW, descW := len("Id"), len("Description")
	for _, k := range kits.Data {
		idW, descW = max(idW, len(k.Id)), max(descW, len(k.Description))
	}
	rule := strings.Repeat("-", 14+idW+descW)
	fmt.Fprintln(c.out, rule)
	fmt.Fprintf(c.out, "| Idx | %-*s | %s\n", idW, "Id", "Description")
	fmt.Fprintln(c.out, rule)
	for i, k := range kits.Data {
		fmt.Fprintf(c.out, "| %3d | %-*s | %s\n", i+1, idW, k.Id, k.Description)
	}
	fmt.Fprintln(c.out, rule)
	fmt.Fprintln(c.out, "[0] to cancel")
	for {
		answer, err := c.askDefault("Use starter kit", "1")
		if err != nil {
			return "", err
		}
		id, err := pick(answer)
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(c.out, ue.msg)
			continue
		}
		return id, err
	}
}

// tokenWorkspace finds the workspace of a token by its ID: "" for one of the
// caller's personal tokens, else the workspace among the caller's whose tokens
// hold it.
func (c *client) tokenWorkspace(ctx context.Context, id string) (string, error) {
	// The caller's own list holds the workspace tokens they made, with their
	// workspace; other members' tokens are found in the workspaces' lists.
	found, where := false, ""
	err := eachPage(ctx, c, "/api/v1/user/tokens?limit=100", func(t api.Token) {
		if t.TokenId == id {
			found, where = true, deref(t.WorkspaceId)
		}
	})
	if err != nil || found {
		return where, err
	}
	var wsIDs []string
	if err := eachPage(ctx, c, "/api/v1/user/workspaces?limit=100", func(w api.Workspace) { wsIDs = append(wsIDs, w.WorkspaceId) }); err != nil {
		return "", err
	}
	for _, ws := range wsIDs {
		err := eachPage(ctx, c, c.tokensPath(ws)+"?limit=100", func(t api.Token) {
			if t.TokenId == id {
				where = ws
			}
		})
		if err == nil && where != "" {
			return where, nil
		}
	}
	return "", fmt.Errorf("no token %q among your personal tokens or your workspaces' (give --workspace if it is in another)", clipArg(id))
}

// pageJSON is a page of any listing.
type pageJSON[T any] struct {
	Data       []T            `json:"data"`
	Pagination api.Pagination `json:"pagination"`
}

// deref reads an optional field of the API's JSON.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
