package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

// webhookCommand is one `server webhook …` command: setup declares its own flags
// on fs and returns what runs it with the arguments left after them.
type webhookCommand struct {
	usage, summary string
	setup          func(fs *flag.FlagSet) func(ctx context.Context, c *client, args []string) error
}

var webhookCommands = map[string]webhookCommand{
	"create": {"webhook create URL [--workspace WS_ID] [--description TEXT] [--event-type TYPE]...",
		"register an endpoint (a workspace's with --workspace, else the platform's); prints its signing secret once", webhookCreate},
	"list":   {"webhook list [--workspace WS_ID]", "list a workspace's endpoints, or the platform's", webhookList},
	"rotate": {"webhook rotate WEBHOOK_ID", "make a new signing secret, printed once; the old one signs for 24 more hours", webhookRotate},
	"delete": {"webhook delete WEBHOOK_ID [--yes]", "delete an endpoint and its delivery attempts", webhookDelete},
}

var webhookOrder = []string{"create", "list", "rotate", "delete"}

func webhookUsage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, name := range webhookOrder {
		fmt.Fprintf(&b, "  server %s\n      %s\n", webhookCommands[name].usage, webhookCommands[name].summary)
	}
	return b.String()
}

// webhookCmd runs `server webhook SUBCOMMAND`.
func webhookCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usageError{"webhook needs a subcommand\n" + webhookUsage()}
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, webhookUsage())
		return nil
	}
	cmd, ok := webhookCommands[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("unknown webhook subcommand %q\n%s", clipArg(args[0]), webhookUsage())}
	}
	fs := flag.NewFlagSet("webhook "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: server %s\n  %s\n\nflags:\n", cmd.usage, cmd.summary)
		fs.PrintDefaults()
	}
	// Defaults never come from the environment in flag definitions: -h prints them.
	baseURL := fs.String("url", "", "server URL (default $TENANCY_URL, else http://127.0.0.1:8080)")
	tok := fs.String("token", "", "your token (default $TENANCY_TOKEN; asked for, unechoed, if neither)")
	run := cmd.setup(fs)
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if *baseURL == "" {
		*baseURL = getenv("TENANCY_URL")
	}
	if *tok == "" {
		*tok = getenv("TENANCY_TOKEN")
	}
	c := &client{base: strings.TrimRight(*baseURL, "/"), token: *tok, http: &http.Client{Timeout: 30 * time.Second},
		stdin: stdin, in: bufio.NewReader(stdin), out: stdout, prompt: true}
	if c.base == "" {
		c.base = "http://127.0.0.1:8080"
	}
	if c.token == "" {
		if c.token, err = c.secret("Your token"); err != nil {
			return err
		}
	}
	return run(ctx, c, rest)
}

// webhookJSON is the API's webhook, as the client reads it.
type webhookJSON struct {
	WebhookID      string   `json:"webhook_id"`
	WorkspaceID    string   `json:"workspace_id"`
	URL            string   `json:"url"`
	Description    string   `json:"description"`
	EventTypes     []string `json:"event_types"`
	Disabled       bool     `json:"disabled"`
	DisabledReason string   `json:"disabled_reason"`
	Secret         string   `json:"secret"`
}

func oneArg(args []string, what string) (string, error) {
	switch len(args) {
	case 1:
		return args[0], nil
	case 0:
		return "", usageError{what + " is required"}
	}
	return "", usageError{fmt.Sprintf("unexpected argument %q", clipArg(args[1]))}
}

func webhookCreate(fs *flag.FlagSet) func(context.Context, *client, []string) error {
	ws := fs.String("workspace", "", "the workspace whose events it receives (default: every event, for platform users)")
	desc := fs.String("description", "", "what the endpoint is for")
	var types repeated
	fs.Var(&types, "event-type", "an event type to receive, e.g. workspace.created (repeat it; default: every type)")
	return func(ctx context.Context, c *client, args []string) error {
		endpoint, err := oneArg(args, "the endpoint's URL")
		if err != nil {
			return err
		}
		var w webhookJSON
		body := map[string]any{"url": endpoint, "description": *desc, "event_types": []string(types)}
		if *ws != "" {
			body["workspace_id"] = *ws
		}
		if err := c.do(ctx, "POST", "/api/v1/webhooks", body, &w); err != nil {
			return err
		}
		scope := "every event"
		if w.WorkspaceID != "" {
			scope = "the events of " + w.WorkspaceID
		}
		fmt.Fprintf(c.out, "webhook %s registered for %s at %s\nsigning secret (shown once; verify deliveries with it):\n%s\n", w.WebhookID, scope, w.URL, w.Secret)
		return nil
	}
}

func webhookList(fs *flag.FlagSet) func(context.Context, *client, []string) error {
	ws := fs.String("workspace", "", "the workspace whose endpoints to list (default: the platform's)")
	return func(ctx context.Context, c *client, args []string) error {
		if len(args) > 0 {
			return usageError{fmt.Sprintf("unexpected argument %q", clipArg(args[0]))}
		}
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tSTATE\tDESCRIPTION")
		err := eachPage(ctx, c, "/api/v1/webhooks?limit=100&workspace_id="+url.QueryEscape(*ws), func(w webhookJSON) {
			events, state := "all", "enabled"
			if len(w.EventTypes) > 0 {
				events = strings.Join(w.EventTypes, ",")
			}
			if w.Disabled {
				state = "disabled (" + w.DisabledReason + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.WebhookID, w.URL, events, state, orDash(w.Description))
		})
		if err != nil {
			return err
		}
		return tw.Flush()
	}
}

func webhookRotate(*flag.FlagSet) func(context.Context, *client, []string) error {
	return func(ctx context.Context, c *client, args []string) error {
		id, err := oneArg(args, "WEBHOOK_ID")
		if err != nil {
			return err
		}
		var w webhookJSON
		if err := c.do(ctx, "POST", "/api/v1/webhooks/"+url.PathEscape(id)+"/rotate-secret", nil, &w); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "webhook %s has a new signing secret; the old one still signs for 24 hours. New secret (shown once):\n%s\n", w.WebhookID, w.Secret)
		return nil
	}
}

func webhookDelete(fs *flag.FlagSet) func(context.Context, *client, []string) error {
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	return func(ctx context.Context, c *client, args []string) error {
		id, err := oneArg(args, "WEBHOOK_ID")
		if err != nil {
			return err
		}
		if !*yes {
			if err := c.confirm(fmt.Sprintf("Delete webhook %s and its delivery attempts?", id)); err != nil {
				return err
			}
		}
		if err := c.do(ctx, "DELETE", "/api/v1/webhooks/"+url.PathEscape(id), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "deleted webhook %s\n", id)
		return nil
	}
}

// repeated is a flag given any number of times.
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, ",") }

func (r *repeated) Set(v string) error {
	*r = append(*r, v)
	return nil
}
