package main

import (
	"bufio"
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
	api    *api.ClientWithResponses // every request goes through the generated client
	stdin  io.Reader
	in     *bufio.Reader
	out    io.Writer
	prompt bool // false: never prompt (some flag was given)
}

// clipArg bounds a command-line argument quoted in a message.
// clipArg bounds an argument quoted in a message: the module's one rule (64 bytes).
func clipArg(s string) string { return text.Clip(s) }

// findWorkspace finds a workspace by ID, slug or name among those the caller sees.
func (c *client) findWorkspace(ctx context.Context, ref string) (api.Workspace, error) {
	if strings.HasPrefix(ref, "ws_") {
		r, err := c.api.GetWorkspaceWithResponse(ctx, ref)
		if err != nil {
			return api.Workspace{}, err
		}
		w, err := answer(r, r.JSON200)
		if err != nil {
			return api.Workspace{}, err
		}
		return *w, nil
	}
	var found []api.Workspace
	err := c.eachWorkspace(ctx, func(w api.Workspace) {
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
	err := c.eachToken(ctx, wsID, state, func(t api.Token) {
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
	err := c.eachWorkspace(ctx, func(w api.Workspace) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.WorkspaceId, w.Slug, w.Name, w.Status)
	})
	if err != nil {
		return err
	}
	return tw.Flush()
}

// pageSize is the page size of the CLI's listings: the API's largest.
const pageSize = 100

// eachPage reads a listing page after page through the generated client until its
// end, calling fn for every item.
func eachPage[T any](ctx context.Context, fetch func(ctx context.Context, cursor string) (api.Page[T], error), fn func(T)) error {
	return api.Each(ctx, fetch, func(item T) bool { fn(item); return true })
}

// answer is the JSON of a generated call's 2xx answer; an answer without it (a
// proxy's page, another server) is an error rather than a nil dereference.
func answer[T any](r interface{ StatusCode() int }, v *T) (*T, error) {
	if v == nil {
		return nil, fmt.Errorf("the server's %d answer is not the API's JSON (is --url a tenancy server?)", r.StatusCode())
	}
	return v, nil
}

// cursorParam is a page's cursor parameter: none for the first page.
func cursorParam(cursor string) *string {
	if cursor == "" {
		return nil
	}
	return &cursor
}

// eachWorkspace walks the workspaces the caller sees (GET /workspaces).
func (c *client) eachWorkspace(ctx context.Context, fn func(api.Workspace)) error {
	limit := pageSize
	return eachPage(ctx, func(ctx context.Context, cursor string) (api.Page[api.Workspace], error) {
		r, err := c.api.ListWorkspacesWithResponse(ctx, &api.ListWorkspacesParams{Limit: &limit, Cursor: cursorParam(cursor)})
		if err != nil {
			return api.Page[api.Workspace]{}, err
		}
		page, err := answer(r, r.JSON200)
		if err != nil {
			return api.Page[api.Workspace]{}, err
		}
		return api.PageOf(page.Data, page.Pagination), nil
	}, fn)
}

// eachMyWorkspace walks the caller's own workspaces (GET /user/workspaces).
func (c *client) eachMyWorkspace(ctx context.Context, fn func(api.UserWorkspace)) error {
	limit := pageSize
	return eachPage(ctx, func(ctx context.Context, cursor string) (api.Page[api.UserWorkspace], error) {
		r, err := c.api.ListMyWorkspacesWithResponse(ctx, &api.ListMyWorkspacesParams{Limit: &limit, Cursor: cursorParam(cursor)})
		if err != nil {
			return api.Page[api.UserWorkspace]{}, err
		}
		page, err := answer(r, r.JSON200)
		if err != nil {
			return api.Page[api.UserWorkspace]{}, err
		}
		return api.PageOf(page.Data, page.Pagination), nil
	}, fn)
}

// eachToken walks a workspace's tokens, or the caller's personal ones when wsID is
// empty; state is "", "active" or "inactive".
func (c *client) eachToken(ctx context.Context, wsID, state string, fn func(api.Token)) error {
	limit := pageSize
	return eachPage(ctx, func(ctx context.Context, cursor string) (api.Page[api.Token], error) {
		var page *api.TokenPage
		if wsID == "" {
			p := &api.ListMyTokensParams{Limit: &limit, Cursor: cursorParam(cursor)}
			if state != "" {
				st := api.ListMyTokensParamsState(state)
				p.State = &st
			}
			r, err := c.api.ListMyTokensWithResponse(ctx, p)
			if err != nil {
				return api.Page[api.Token]{}, err
			}
			if page, err = answer(r, r.JSON200); err != nil {
				return api.Page[api.Token]{}, err
			}
		} else {
			p := &api.ListWorkspaceTokensParams{Limit: &limit, Cursor: cursorParam(cursor)}
			if state != "" {
				st := api.ListWorkspaceTokensParamsState(state)
				p.State = &st
			}
			r, err := c.api.ListWorkspaceTokensWithResponse(ctx, wsID, p)
			if err != nil {
				return api.Page[api.Token]{}, err
			}
			if page, err = answer(r, r.JSON200); err != nil {
				return api.Page[api.Token]{}, err
			}
		}
		return api.PageOf(page.Data, page.Pagination), nil
	}, fn)
}

// eachWebhook walks a workspace's endpoints, or the platform's when wsID is empty.
func (c *client) eachWebhook(ctx context.Context, wsID string, fn func(api.Webhook)) error {
	limit := pageSize
	return eachPage(ctx, func(ctx context.Context, cursor string) (api.Page[api.Webhook], error) {
		p := &api.ListWebhooksParams{Limit: &limit, Cursor: cursorParam(cursor)}
		if wsID != "" {
			p.WorkspaceId = &wsID
		}
		r, err := c.api.ListWebhooksWithResponse(ctx, p)
		if err != nil {
			return api.Page[api.Webhook]{}, err
		}
		page, err := answer(r, r.JSON200)
		if err != nil {
			return api.Page[api.Webhook]{}, err
		}
		return api.PageOf(page.Data, page.Pagination), nil
	}, fn)
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

// Do is the generated client's transport (an api.HttpRequestDoer). It is the one
// place that sends the token, asking for it at the first request that needs it,
// and that turns an error answer into the server's message: a generated call
// returns either an error or a 2xx answer whose JSON field is set, so a command
// checks one error and reads one field.
func (c *client) Do(req *http.Request) (*http.Response, error) {
	if err := c.needToken(); err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return nil, serverError{api.Check(resp, body), body}
}

// serverError is an error answer as the CLI prints it, "Not Found: no workspace
// …"; errors.Is sees tenancy's kind through the client's APIError.
type serverError struct {
	err  error // an *api.APIError
	body []byte
}

func (e serverError) Error() string {
	var b api.Error
	if json.Unmarshal(e.body, &b) == nil && b.Message != "" {
		return b.Error + ": " + b.Message
	}
	return e.err.Error()
}

func (e serverError) Unwrap() error { return e.err }

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
	r, err := c.api.ListStarterKitsWithResponse(ctx)
	if err != nil {
		return "", err
	}
	kits, err := answer(r, r.JSON200)
	if err != nil {
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
	err := c.eachToken(ctx, "", "", func(t api.Token) {
		if t.TokenId == id {
			found, where = true, deref(t.WorkspaceId)
		}
	})
	if err != nil || found {
		return where, err
	}
	var wsIDs []string
	if err := c.eachMyWorkspace(ctx, func(w api.UserWorkspace) { wsIDs = append(wsIDs, w.WorkspaceId) }); err != nil {
		return "", err
	}
	for _, ws := range wsIDs {
		err := c.eachToken(ctx, ws, "", func(t api.Token) {
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

// deref reads an optional field of the API's JSON.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
