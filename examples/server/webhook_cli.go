package main

import (
	"context"
	"flag"
	"fmt"
	api "github.com/tenancykit/tenancy/httpapi/client"
	"strings"
	"text/tabwriter"
)

func oneArg(args []string, what string) (string, error) {
	switch len(args) {
	case 1:
		return args[0], nil
	case 0:
		return "", usageError{what + " is required"}
	}
	return "", usageError{fmt.Sprintf("unexpected argument %q", clipArg(args[1]))}
}

func webhookCreate(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
	ws := fs.String("workspace", "", "the workspace whose events it receives (default: every event, for platform users)")
	desc := fs.String("description", "", "what the endpoint is for")
	var types repeated
	fs.Var(&types, "event-type", "an event type to receive, e.g. workspace.created (repeat it; default: every type)")
	return func(ctx context.Context, c *client, args []string) error {
		endpoint, err := oneArg(args, "the endpoint's URL")
		if err != nil {
			return err
		}
		body := api.NewWebhook{Url: endpoint, Description: optional(*desc), WorkspaceId: optional(*ws)}
		if len(types) > 0 {
			body.EventTypes = (*[]string)(&types)
		}
		r, err := c.api.CreateWebhookWithResponse(ctx, body)
		if err != nil {
			return err
		}
		w, err := answer(r, r.JSON201)
		if err != nil {
			return err
		}
		scope := "every event"
		if ws := deref(w.WorkspaceId); ws != "" {
			scope = "the events of " + ws
		}
		fmt.Fprintf(c.out, "webhook %s registered for %s at %s\nsigning secret (shown once; verify deliveries with it):\n%s\n", w.WebhookId, scope, w.Url, deref(w.Secret))
		return nil
	}
}

func webhookList(fs *flag.FlagSet, o *cmdOpts) func(context.Context, *client, []string) error {
	ws := fs.String("workspace", "", "the workspace whose endpoints to list (default: the platform's)")
	jsonFlag(fs, o)
	return func(ctx context.Context, c *client, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		if o.json {
			all := []api.Webhook{}
			if err := c.eachWebhook(ctx, *ws, func(w api.Webhook) { all = append(all, w) }); err != nil {
				return err
			}
			return printJSON(c.out, all)
		}
		tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tSTATE\tDESCRIPTION")
		err := c.eachWebhook(ctx, *ws, func(w api.Webhook) {
			events, state := "all", "enabled"
			if len(w.EventTypes) > 0 {
				events = strings.Join(w.EventTypes, ",")
			}
			if w.Disabled {
				state = "disabled (" + string(deref(w.DisabledReason)) + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.WebhookId, w.Url, events, state, orDash(w.Description))
		})
		if err != nil {
			return err
		}
		return tw.Flush()
	}
}

func webhookRotate(*flag.FlagSet, *cmdOpts) func(context.Context, *client, []string) error {
	return func(ctx context.Context, c *client, args []string) error {
		id, err := oneArg(args, "WEBHOOK_ID")
		if err != nil {
			return err
		}
		r, err := c.api.RotateWebhookSecretWithResponse(ctx, id)
		if err != nil {
			return err
		}
		w, err := answer(r, r.JSON200)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.out, "webhook %s has a new signing secret; the old one still signs for 24 hours. New secret (shown once):\n%s\n", w.WebhookId, deref(w.Secret))
		return nil
	}
}

func webhookDelete(fs *flag.FlagSet, _ *cmdOpts) func(context.Context, *client, []string) error {
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
		if _, err := c.api.DeleteWebhookWithResponse(ctx, id); err != nil {
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
