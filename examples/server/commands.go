package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	api "github.com/tenancykit/tenancy/httpapi/client"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/storage/bolt"
)

// A client command talks HTTP to a running server, like `tb workspace …`: flags
// make it fully non-interactive; a missing value is asked for at a prompt when no
// flag was given. Each command declares only its own flags (besides --url and
// --token), its usage, what it does and an example.
type command struct {
	name    string // "workspace create"
	args    string // what follows the name, e.g. "[NAME] [--slug SLUG]"
	summary string
	example string
	// setup declares the command's flags and returns what runs it with the
	// arguments left after them.
	setup func(fs *flag.FlagSet, o *cmdOpts) func(ctx context.Context, c *client, args []string) error
}

// cmdOpts are the shared settings a command's run reads.
type cmdOpts struct {
	json bool // --json: machine-readable output, for list commands
}

// commands is every client command, in the order `server help` lists them.
var commands = []command{
	{"workspace create", "[NAME] [--slug SLUG] [--starter-kit N|ID]", "create a workspace (Tinybird's flow: pick a starter kit, then a name)",
		"server workspace create acme --starter-kit 1", cmdWorkspaceCreate},
	{"workspace list", "[--json]", "list your workspaces", "server workspace list --json", cmdWorkspaceList},
	{"workspace delete", "WORKSPACE [--yes]", "soft-delete a workspace (by name, slug or ID); restore undoes it", "server workspace delete acme --yes", cmdWorkspaceRemove("delete")},
	{"workspace leave", "WORKSPACE [--yes]", "leave a workspace (owners transfer ownership first)", "server workspace leave acme", cmdWorkspaceRemove("leave")},
	{"workspace restore", "WORKSPACE_ID", "restore a deleted workspace", "server workspace restore ws_01J…", cmdWorkspaceRestore},
	{"token create", "[--name NAME] [--expires-in 7d] [--role ROLE] [--workspace WS_ID]", "create a personal token, or a workspace's with --workspace; prints its secret once",
		"server token create --name ci --expires-in 30d --workspace ws_01J…", cmdTokenCreate},
	{"token list", "[--workspace WS_ID] [--state active|inactive] [--json]", "list your personal tokens, or a workspace's", "server token list --state active", cmdTokenList},
	{"token rotate", "TOKEN_ID [--workspace WS_ID]", "replace a token's secret (printed once); the old one stops working", "server token rotate tok_01J…", cmdTokenChange("rotate")},
	{"token revoke", "TOKEN_ID [--workspace WS_ID]", "revoke a token", "server token revoke tok_01J…", cmdTokenChange("revoke")},
	{"invite", "[--workspace WS_ID] [--email EMAIL] [--role ROLE]", "invite someone to a workspace; prints the link once (and mails it when the server can)",
		"server invite --workspace ws_01J… --email ana@example.com --role editor", cmdInvite},
	{"invite accept", "", "join a workspace with your own token: paste the invitation link at the prompt or on stdin", "server invite accept < link.txt", cmdInviteAccept},
	{"user suspend", "USER_ID", "suspend a user: every token of theirs stops working (platform users)", "server user suspend usr_01J…", cmdUserState("suspend")},
	{"user reactivate", "USER_ID", "reactivate a suspended user (platform users)", "server user reactivate usr_01J…", cmdUserState("reactivate")},
	{"user delete", "USER_ID [--yes]", "erase a user: memberships, tokens and personal data, for good (platform users)", "server user delete usr_01J… --yes", cmdUserDelete},
	{"user email-change", "[--email NEW]", "change your email: a code goes to the new address", "server user email-change --email new@example.com", cmdEmailChange},
	{"user email-confirm", "", "confirm your new email with the code (read at the prompt or from stdin)", "server user email-confirm", cmdEmailConfirm},
	{"backup", "--out FILE [--data FILE]", "copy the whole store: from a running server (platform users), or a stopped server's -data file; open the copy with the same key file",
		"server backup --out tenancy-2026-12-04.db", cmdBackup},
	{"webhook create", "URL [--workspace WS_ID] [--description TEXT] [--event-type TYPE]...", "register an endpoint (a workspace's with --workspace, else the platform's); prints its signing secret once",
		"server webhook create https://hooks.example.com/t --event-type workspace.created", webhookCreate},
	{"webhook list", "[--workspace WS_ID] [--json]", "list a workspace's endpoints, or the platform's", "server webhook list", webhookList},
	{"webhook rotate", "WEBHOOK_ID", "make a new signing secret, printed once; the old one signs for 24 more hours", "server webhook rotate whk_01J…", webhookRotate},
	{"webhook delete", "WEBHOOK_ID [--yes]", "delete an endpoint and its delivery attempts", "server webhook delete whk_01J… --yes", webhookDelete},
}

// exitCodes says what the exit status of every command means.
const exitCodes = `exit status: 0 done; 1 the server refused or could not be reached (the message says why); 2 a mistake in the command line`

// clientUsage lists the client commands for the main usage text.
func clientUsage() string {
	var b strings.Builder
	for _, c := range commands {
		line := "  server " + c.name
		if c.args != "" {
			line += " " + c.args
		}
		fmt.Fprintf(&b, "%s\n      %s\n", line, c.summary)
	}
	return b.String()
}

// findCommand matches the longest command name at the start of args.
func findCommand(args []string) (command, []string, bool) {
	var best command
	n := 0
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(words) > len(args) || len(words) <= n {
			continue
		}
		match := true
		for i, w := range words {
			match = match && args[i] == w
		}
		if match {
			best, n = c, len(words)
		}
	}
	return best, args[n:], n > 0
}

// commandHelp is one command's help: usage, what it does, an example, its flags.
func commandHelp(c command, fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "usage: server %s %s\n\n  %s\n\nexample:\n  %s\n\nflags:\n", c.name, c.args, c.summary, c.example)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\n%s\n", exitCodes)
}

// clientCmd runs a client command.
func clientCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	cmd, rest, ok := findCommand(args)
	if !ok {
		if len(args) == 1 {
			return usageError{fmt.Sprintf("%s needs a subcommand (server help lists them)", clipArg(args[0]))}
		}
		return usageError{fmt.Sprintf("unknown command %q (server help lists the commands)", clipArg(strings.Join(args[:min(len(args), 2)], " ")))}
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { commandHelp(cmd, fs, stderr) }
	// Defaults never come from the environment here: flag's usage text prints
	// defaults, and a token in it would end up in CI logs at the first typo.
	baseURL := fs.String("url", "", "server URL (default $TENANCY_URL, else http://127.0.0.1:8080)")
	tok := fs.String("token", "", "your token (default $TENANCY_TOKEN; asked for, unechoed, if neither)")
	fs.StringVar(tok, "user_token", "", "the same as --token (Tinybird's name)")
	o := &cmdOpts{}
	run := cmd.setup(fs, o)
	args, err := parseInterleaved(fs, rest)
	if err != nil {
		return err
	}
	if *baseURL == "" {
		*baseURL = getenv("TENANCY_URL")
	}
	if *tok == "" {
		*tok = getenv("TENANCY_TOKEN")
	}
	// A bound on the wait for an answer's headers rather than on the whole
	// exchange: a backup streams for as long as the store takes to copy.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = 30 * time.Second
	c := &client{base: strings.TrimRight(*baseURL, "/"), token: *tok, http: &http.Client{Transport: transport},
		stdin: stdin, in: bufio.NewReader(stdin), out: stdout, prompt: fs.NFlag() == 0}
	if c.base == "" {
		c.base = "http://127.0.0.1:8080"
	}
	// The generated client sends every request; c is its transport (the token and
	// the error answers).
	if c.api, err = api.NewClientWithResponses(c.base+"/api/v1", api.WithHTTPClient(c)); err != nil {
		return usageError{fmt.Sprintf("bad --url %q: %v", clipArg(c.base), err)}
	}
	if c.token == "" && cmd.name == "workspace create" && c.prompt {
		// Tinybird's first prompt.
		fmt.Fprintln(stdout, "In order to create a new workspace we need your user token. Copy it from `server setup`'s output, or make one with `server token create`.")
		if c.token, err = c.secret("Your token"); err != nil {
			return err
		}
	}
	// Otherwise the token is asked for when the first request needs it.
	return run(ctx, c, args)
}

// helpCmd is `server help [COMMAND]`.
func helpCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, rest, ok := findCommand(args)
	if !ok || len(rest) > 0 {
		return usageError{fmt.Sprintf("no command %q (server help lists them)", clipArg(strings.Join(args, " ")))}
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.String("url", "", "server URL (default $TENANCY_URL, else http://127.0.0.1:8080)")
	fs.String("token", "", "your token (default $TENANCY_TOKEN; asked for, unechoed, if neither)")
	cmd.setup(fs, &cmdOpts{})
	commandHelp(cmd, fs, stdout)
	return nil
}

// target is the one positional argument a command takes, or "".
func target(args []string) (string, error) {
	switch len(args) {
	case 0:
		return "", nil
	case 1:
		return args[0], nil
	}
	return "", usageError{fmt.Sprintf("unexpected argument %q", clipArg(args[1]))}
}

// noArgs refuses positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", clipArg(args[0]))}
	}
	return nil
}

// printJSON writes v for scripts.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func jsonFlag(fs *flag.FlagSet, o *cmdOpts) {
	fs.BoolVar(&o.json, "json", false, "print JSON (one array) instead of a table")
}

func cmdWorkspaceCreate(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
	name := fs.String("name", "", "the workspace's name (or give it as the argument)")
	slug := fs.String("slug", "", "the workspace's slug (default: derived from the name)")
	kit := fs.String("starter-kit", "", "the starter kit: its number in the server's list (1 is blank) or its ID")
	return func(ctx context.Context, c *client, args []string) error {
		t, err := target(args)
		if err != nil {
			return err
		}
		if t != "" {
			*name = t
		}
		// Tinybird's flow: the starter kit from a numbered table, then the name.
		kitID, err := c.chooseStarterKit(ctx, *kit)
		if err != nil {
			return err
		}
		if *name == "" {
			if *name, err = c.askDefault("Workspace name", fmt.Sprintf("new_workspace_%04d", mathrand.IntN(10000))); err != nil {
				return err
			}
		}
		body := api.NewWorkspace{Name: name, Slug: optional(*slug), StarterKit: optional(kitID)}
		r, err := c.api.CreateWorkspaceWithResponse(ctx, body)
		if err != nil {
			return err
		}
		w, err := answer(r, r.JSON201)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "** Workspace '%s' has been created (slug %s, id %s)\n", w.Name, w.Slug, w.WorkspaceId)
		return nil
	}
}

func cmdWorkspaceList(fs *flag.FlagSet, o *cmdOpts) func(context.Context, *client, []string) error {
	jsonFlag(fs, o)
	return func(ctx context.Context, c *client, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if o.json {
			all := []api.Workspace{}
			if err := c.eachWorkspace(ctx, func(w api.Workspace) { all = append(all, w) }); err != nil {
				return err
			}
			return printJSON(c.out, all)
		}
		return c.listWorkspaces(ctx)
	}
}

func cmdWorkspaceRemove(verb string) func(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
	return func(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		return func(ctx context.Context, c *client, args []string) error {
			ref, err := target(args)
			if err != nil {
				return err
			}
			if ref == "" {
				if ref, err = c.askDefault("Workspace (name, slug or ID)", ""); err != nil {
					return err
				}
			}
			w, err := c.findWorkspace(ctx, ref)
			if err != nil {
				return err
			}
			if !*yes {
				if err := c.confirm(fmt.Sprintf("Are you sure you want to %s workspace %q (%s)?", verb, w.Name, w.WorkspaceId)); err != nil {
					return err
				}
			}
			if verb == "leave" {
				fmt.Fprintf(c.out, "Leaving workspace %q...\n", w.Name)
				if _, err := c.api.LeaveWorkspaceWithResponse(ctx, w.WorkspaceId); err != nil {
					return err
				}
				fmt.Fprintf(c.out, "Successfully left workspace: %s\n", w.Name)
				return nil
			}
			if _, err := c.api.DeleteWorkspaceWithResponse(ctx, w.WorkspaceId); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "** Workspace '%s' has been deleted (id %s). This is a soft delete: its data is kept until a platform admin purges it; undo with\n   server workspace restore %s\n",
				w.Name, w.WorkspaceId, w.WorkspaceId)
			return nil
		}
	}
}

func cmdWorkspaceRestore(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
	return func(ctx context.Context, c *client, args []string) error {
		id, err := target(args)
		if err != nil {
			return err
		}
		if id == "" {
			if id, err = c.askDefault("Workspace ID (ws_…)", ""); err != nil {
				return err
			}
		}
		r, err := c.api.RestoreWorkspaceWithResponse(ctx, id)
		if err != nil {
			return err
		}
		w, err := answer(r, r.JSON200)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "** Workspace '%s' has been restored (%s, id %s)\n", w.Name, w.Status, w.WorkspaceId)
		return nil
	}
}

func cmdTokenCreate(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
	name := fs.String("name", "", "what the token is for")
	expires := fs.String("expires-in", "", "its lifetime, e.g. 48h, 7d, 1y (default 7d)")
	role := fs.String("role", "", "a workspace token's role, or a personal token's cap, e.g. viewer")
	ws := fs.String("workspace", "", "make a workspace token of this workspace (default: a personal token)")
	return func(ctx context.Context, c *client, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		var err error
		if *name == "" {
			if *name, err = c.askDefault("Token name", ""); err != nil {
				return err
			}
		}
		if *expires == "" {
			if *expires, err = c.askDefault("Expires in (e.g. 48h, 7d, 1y)", "7d"); err != nil {
				return err
			}
		}
		body := api.NewToken{Name: *name, ExpiresIn: *expires, Role: optional(*role)}
		var t *api.Token
		if *ws == "" {
			r, err := c.api.CreatePersonalTokenWithResponse(ctx, body)
			if err != nil {
				return err
			}
			if t, err = answer(r, r.JSON201); err != nil {
				return err
			}
		} else {
			r, err := c.api.CreateWorkspaceTokenWithResponse(ctx, *ws, body)
			if err != nil {
				return err
			}
			if t, err = answer(r, r.JSON201); err != nil {
				return err
			}
		}
		fmt.Fprintf(c.out, "token %s (%s, %s, expires %s) — shown once:\n%s\n", t.TokenId, t.Name, t.Kind, expiry(t.ExpiresAt), deref(t.Token))
		return nil
	}
}

func cmdTokenList(fs *flag.FlagSet, o *cmdOpts) func(context.Context, *client, []string) error {
	ws := fs.String("workspace", "", "list this workspace's tokens (default: your personal tokens)")
	state := fs.String("state", "", "active or inactive (revoked and expired); default both")
	jsonFlag(fs, o)
	return func(ctx context.Context, c *client, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if o.json {
			all := []api.Token{}
			err := c.eachToken(ctx, *ws, *state, func(t api.Token) { all = append(all, t) })
			if err != nil {
				return err
			}
			return printJSON(c.out, all)
		}
		return c.listTokens(ctx, *ws, *state)
	}
}

func cmdTokenChange(verb string) func(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
	return func(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
		ws := fs.String("workspace", "", "the token's workspace (found from the token when left out)")
		return func(ctx context.Context, c *client, args []string) error {
			id, err := target(args)
			if err != nil {
				return err
			}
			if id == "" {
				if id, err = c.askDefault("Token ID", ""); err != nil {
					return err
				}
			}
			if *ws == "" {
				// A workspace token's ID works without --workspace, as `token list`
				// printed it: find the workspace it belongs to.
				if *ws, err = c.tokenWorkspace(ctx, id); err != nil {
					return err
				}
			}
			if verb == "revoke" {
				if *ws == "" {
					_, err = c.api.RevokePersonalTokenWithResponse(ctx, id)
				} else {
					_, err = c.api.RevokeWorkspaceTokenWithResponse(ctx, *ws, id)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(c.out, "revoked token %s\n", id)
				return nil
			}
			var t *api.Token
			if *ws == "" {
				r, err := c.api.RotatePersonalTokenWithResponse(ctx, id)
				if err != nil {
					return err
				}
				if t, err = answer(r, r.JSON200); err != nil {
					return err
				}
			} else {
				r, err := c.api.RotateWorkspaceTokenWithResponse(ctx, *ws, id)
				if err != nil {
					return err
				}
				if t, err = answer(r, r.JSON200); err != nil {
					return err
				}
			}
			fmt.Fprintf(c.out, "token %s rotated; the old secret no longer works. New secret — shown once:\n%s\n", t.TokenId, deref(t.Token))
			return nil
		}
	}
}

func cmdInvite(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
	ws := fs.String("workspace", "", "the workspace to invite to (its ID)")
	email := fs.String("email", "", "the address to invite")
	role := fs.String("role", "", "the role, e.g. viewer, editor or admin (default viewer)")
	return func(ctx context.Context, c *client, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		for _, q := range []struct {
			dst        *string
			label, def string
		}{{ws, "Workspace ID", ""}, {email, "Email", ""}, {role, "Role", "viewer"}} {
			if *q.dst == "" {
				v, err := c.askDefault(q.label, q.def)
				if err != nil {
					return err
				}
				*q.dst = v
			}
		}
		r, err := c.api.CreateInvitationWithResponse(ctx, api.NewInvitation{Email: *email, WorkspaceId: *ws, Role: role})
		if err != nil {
			return err
		}
		inv := r.JSON201
		if inv == nil {
			inv = r.JSON200 // 200: the address was invited already; this is a fresh link
		}
		if inv, err = answer(r, inv); err != nil {
			return err
		}
		switch {
		case inv.Mail != nil && inv.Mail.Sent:
			fmt.Fprintf(c.out, "invited %s as %s; the server mailed them the link (here too, shown once):\n%s\n", inv.Email, inv.Role, deref(inv.AcceptUrl))
		case inv.Mail != nil:
			fmt.Fprintf(c.out, "invited %s as %s, but the mail was not sent (%s); send them this link yourself (shown once):\n%s\n",
				inv.Email, inv.Role, deref(inv.Mail.Error), deref(inv.AcceptUrl))
		default:
			fmt.Fprintf(c.out, "invited %s as %s; send them this link (shown once):\n%s\n", inv.Email, inv.Role, deref(inv.AcceptUrl))
		}
		return nil
	}
}

func cmdInviteAccept(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
	return func(ctx context.Context, c *client, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		// The invitation's secret is read at a prompt or from stdin, never from the
		// command line (where shell history keeps it). The mail's link works as it is.
		link, err := c.readSecret("Invitation link or code")
		if err != nil {
			return err
		}
		r, err := c.api.AcceptInvitationWithResponse(ctx, api.Accept{Token: invitationSecret(link)})
		if err != nil {
			return err
		}
		acc, err := answer(r, r.JSON200)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "you joined workspace %s as %s\n", acc.WorkspaceId, acc.Member.Role)
		return nil
	}
}

func cmdEmailChange(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
	email := fs.String("email", "", "the new address")
	return func(ctx context.Context, c *client, args []string) error {
		t, err := target(args)
		if err != nil {
			return err
		}
		if t != "" {
			*email = t
		}
		// The new address counts once its owner proves it: the server mails it a
		// code, and `user email-confirm` presents the code.
		if *email == "" {
			if *email, err = c.askDefault("New email", ""); err != nil {
				return err
			}
		}
		r, err := c.api.RequestEmailChangeWithResponse(ctx, api.EmailChangeRequest{Email: *email})
		if err != nil {
			return err
		}
		ec, err := answer(r, r.JSON202)
		if err != nil {
			return err
		}
		if !ec.Mail.Sent {
			return fmt.Errorf("the code for %s was not sent (%s): ask again later", ec.Email, deref(ec.Mail.Error))
		}
		fmt.Fprintf(c.out, "a code went to %s (valid until %s); run `server user email-confirm` and paste it; your address changes then\n",
			ec.Email, ec.ExpiresAt.UTC().Format(time.RFC3339))
		return nil
	}
}

func cmdEmailConfirm(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
	return func(ctx context.Context, c *client, args []string) error {
		if len(args) > 0 {
			return usageError{"email-confirm reads the code at its prompt or from stdin, never from the command line (where shell history keeps it)"}
		}
		code, err := c.readSecret("Code from the email")
		if err != nil {
			return err
		}
		r, err := c.api.ConfirmEmailChangeWithResponse(ctx, api.EmailChangeConfirm{Token: code})
		if err != nil {
			return err
		}
		u, err := answer(r, r.JSON200)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "your email address is now %s\n", u.Email)
		return nil
	}
}

// userID is a user command's argument, or the answer at a prompt.
func userID(c *client, args []string) (string, error) {
	id, err := target(args)
	if err == nil && id == "" {
		id, err = c.askDefault("User ID", "")
	}
	return id, err
}

func cmdUserState(verb string) func(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
	return func(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
		return func(ctx context.Context, c *client, args []string) error {
			id, err := userID(c, args)
			if err != nil {
				return err
			}
			if verb == "suspend" {
				_, err = c.api.SuspendUserWithResponse(ctx, id)
			} else {
				_, err = c.api.ReactivateUserWithResponse(ctx, id)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "%s: done (user %s)\n", verb, id)
			return nil
		}
	}
}

func cmdUserDelete(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	return func(ctx context.Context, c *client, args []string) error {
		id, err := userID(c, args)
		if err != nil {
			return err
		}
		if !*yes {
			if err := c.confirm(fmt.Sprintf("Erase user %q: their memberships, tokens and personal data, for good?", id)); err != nil {
				return err
			}
		}
		r, err := c.api.DeleteUserWithResponse(ctx, id)
		if err != nil {
			return err
		}
		e, err := answer(r, r.JSON200)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "erased user %s (%d memberships, %d tokens)\n", id, e.Memberships, e.Tokens)
		return nil
	}
}

// commandNames are the first words of the client commands, for run's dispatch.
func commandNames() []string {
	seen := map[string]bool{}
	for _, c := range commands {
		seen[strings.Fields(c.name)[0]] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func cmdBackup(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
	out := fs.String("out", "", "the file to write the copy to (must not exist)")
	data := fs.String("data", "", "copy this bbolt file directly, when no server has it open (default: ask the running server)")
	return func(ctx context.Context, c *client, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if *out == "" {
			return usageError{"--out FILE is required"}
		}
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		n, err := backupTo(ctx, c, *data, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(*out)
			return err
		}
		fmt.Fprintf(c.out, "wrote %s (%d bytes): a bbolt file; open it with the store's key file\n", *out, n)
		return nil
	}
}

// backupTo copies the store: a stopped server's file directly, else through the
// running server's GET /api/v1/admin/backup.
func backupTo(ctx context.Context, c *client, data string, w io.Writer) (int64, error) {
	if data != "" {
		store, err := bolt.Open(data, bolt.Options{LockTimeout: 200 * time.Millisecond})
		if err != nil {
			return 0, fmt.Errorf("%v: if a server has the file open, back it up through that server (leave out --data)", err)
		}
		defer store.Close()
		return store.Backup(ctx, w)
	}
	// The raw call, not the ...WithResponse one, which would hold the whole store
	// in memory: the answer streams into w.
	resp, err := c.api.BackupStore(ctx)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

// optional is an optional field of a request: absent when empty.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
