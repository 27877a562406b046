package httpapi

import (
	"net/http"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/webhook"
)

type webhookSecretJSON struct {
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

type webhookJSON struct {
	WebhookID      string              `json:"webhook_id"`
	WorkspaceID    string              `json:"workspace_id,omitempty"`
	URL            string              `json:"url"`
	Description    string              `json:"description"`
	EventTypes     []string            `json:"event_types"`
	Disabled       bool                `json:"disabled"`
	DisabledReason string              `json:"disabled_reason,omitempty"`
	Secrets        []webhookSecretJSON `json:"secrets"`
	CreatedBy      string              `json:"created_by,omitempty"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	Secret         string              `json:"secret,omitempty"` // the new signing secret, once
}

func hookJSON(w tenancy.Webhook) webhookJSON {
	out := webhookJSON{WebhookID: w.ID, WorkspaceID: w.WorkspaceID, URL: w.URL, Description: w.Description,
		EventTypes: w.EventTypes, Disabled: w.Disabled, DisabledReason: w.DisabledReason, CreatedBy: w.CreatedBy,
		CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(), Secrets: []webhookSecretJSON{}}
	if out.EventTypes == nil {
		out.EventTypes = []string{}
	}
	for _, s := range w.Secrets {
		out.Secrets = append(out.Secrets, webhookSecretJSON{CreatedAt: s.CreatedAt.UTC(), ExpiresAt: timePtr(s.ExpiresAt)})
	}
	return out
}

func createdHookJSON(c tenancy.CreatedWebhook) webhookJSON {
	out := hookJSON(c.Webhook)
	out.Secret = c.Secret
	return out
}

type attemptJSON struct {
	AttemptID string    `json:"attempt_id"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Position  string    `json:"position"`
	Time      time.Time `json:"time"`
	Try       int       `json:"try"`
	Status    *int      `json:"status"`
	LatencyMS float64   `json:"latency_ms"`
	Response  string    `json:"response"`
	Error     string    `json:"error,omitempty"`
}

func attJSON(at webhook.Attempt) attemptJSON {
	out := attemptJSON{AttemptID: at.ID, EventID: at.EventID, EventType: at.EventType, Position: at.Position,
		Time: at.Time.UTC(), Try: at.Try, LatencyMS: float64(at.Latency.Microseconds()) / 1000, Response: at.Response, Error: at.Error}
	if at.Status != 0 {
		s := at.Status
		out.Status = &s
	}
	return out
}

func (a *API) createWebhook(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		WorkspaceID string   `json:"workspace_id"`
		URL         string   `json:"url"`
		Description string   `json:"description"`
		EventTypes  []string `json:"event_types"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.URL == "" {
		return 0, nil, badRequest("url is required")
	}
	c, err := a.m.CreateWebhook(r.Context(), p, tenancy.NewWebhook{WorkspaceID: body.WorkspaceID, URL: body.URL,
		Description: body.Description, EventTypes: body.EventTypes})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, createdHookJSON(c), nil
}

func (a *API) listWebhooks(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListWebhooks(r.Context(), p, tenancy.WebhookListOptions{WorkspaceID: r.URL.Query().Get("workspace_id"), Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, hookJSON), nil
}

func (a *API) getWebhook(r *http.Request, p tenancy.Principal) (int, any, error) {
	w, err := a.m.GetWebhook(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, hookJSON(w), nil
}

func (a *API) updateWebhook(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		URL         *string   `json:"url"`
		Description *string   `json:"description"`
		EventTypes  *[]string `json:"event_types"`
		Disabled    *bool     `json:"disabled"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	w, err := a.m.UpdateWebhook(r.Context(), p, r.PathValue("id"), tenancy.WebhookUpdate{URL: body.URL,
		Description: body.Description, EventTypes: body.EventTypes, Disabled: body.Disabled})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, hookJSON(w), nil
}

func (a *API) deleteWebhook(r *http.Request, p tenancy.Principal) (int, any, error) {
	id := r.PathValue("id")
	if err := a.m.DeleteWebhook(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"webhook_id": id, "deleted": true}, nil
}

func (a *API) rotateWebhookSecret(r *http.Request, p tenancy.Principal) (int, any, error) {
	c, err := a.m.RotateWebhookSecret(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, createdHookJSON(c), nil
}

func (a *API) listWebhookAttempts(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListWebhookAttempts(r.Context(), p, r.PathValue("id"), tenancy.AttemptListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, attJSON), nil
}

func (a *API) replayWebhook(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		FromPosition string `json:"from_position"`
	}
	if r.ContentLength != 0 {
		if err := a.decode(r, &body); err != nil {
			return 0, nil, err
		}
	}
	id := r.PathValue("id")
	if err := a.m.ReplayWebhook(r.Context(), p, id, body.FromPosition); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"webhook_id": id, "from_position": body.FromPosition}, nil
}
