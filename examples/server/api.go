package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// maxBody bounds request bodies.
const maxBody = 1 << 20

// api serves tenancy over HTTP. Every rule is the Manager's; this layer only
// translates JSON and maps error kinds to statuses.
type api struct {
	m       *tenancy.Manager
	baseURL string // for invitation links
	log     *slog.Logger
}

func newAPI(m *tenancy.Manager, baseURL string, log *slog.Logger) http.Handler {
	a := &api{m: m, baseURL: baseURL, log: log}
	mux := http.NewServeMux()
	route := func(pattern string, h func(*http.Request, tenancy.Principal) (int, any, error)) {
		mux.HandleFunc(pattern, a.authed(h))
	}
	// Workspaces (Airbyte Embedded shapes).
	route("GET /api/v1/workspaces", a.listWorkspaces)
	route("GET /api/v1/workspaces/stats", a.stats)
	route("POST /api/v1/workspaces/sync", a.sync)
	route("GET /api/v1/workspaces/{id}", a.getWorkspace)
	route("PUT /api/v1/workspaces/{id}", a.updateWorkspace)
	route("DELETE /api/v1/workspaces/{id}", a.deleteWorkspace)
	route("POST /api/v1/workspaces/{id}/restore", a.restoreWorkspace)
	route("POST /api/v1/workspaces/{id}/members", a.addMember)
	route("POST /api/v1/workspaces/{id}/leave", a.leave)
	route("POST /api/v1/workspaces/{id}/transfer", a.transfer)
	route("GET /api/v1/workspaces/{id}/events", a.events)
	// Tokens (System Initiative).
	route("POST /api/v1/workspaces/{id}/tokens", a.createWorkspaceToken)
	route("GET /api/v1/workspaces/{id}/tokens", a.listTokens)
	route("DELETE /api/v1/workspaces/{id}/tokens/{token_id}", a.revokeToken)
	route("POST /api/v1/user/tokens", a.createPersonalToken)
	// User and admin routes (Tell shapes; X-Workspace-ID selects the workspace).
	route("POST /api/v1/user/workspaces", a.createWorkspace)
	route("GET /api/v1/user/workspaces", a.myWorkspaces)
	route("POST /api/v1/admin/workspace/invites", a.invite)
	route("GET /api/v1/admin/workspace/invites", a.listInvites)
	route("DELETE /api/v1/admin/workspace/invites/{id}", a.revokeInvite)
	route("GET /api/v1/admin/users", a.listMembers)
	route("PUT /api/v1/admin/users/{user_id}", a.changeRole)
	route("DELETE /api/v1/admin/users/{user_id}", a.removeMember)
	route("GET /api/v1/admin/workspaces", a.listAllWorkspaces)
	route("DELETE /api/v1/admin/workspaces/{id}", a.purgeWorkspace)
	// Accepting needs no token when the invited email has no account yet.
	mux.HandleFunc("POST /api/v1/invites/accept", a.accept)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// authed authenticates the bearer token, runs h and writes its result as JSON.
func (a *api) authed(h func(*http.Request, tenancy.Principal) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := a.principal(r)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		status, body, err := h(r, p)
		if err != nil {
			a.writeErr(w, r, err)
			return
		}
		writeJSON(w, status, body)
	}
}

func (a *api) principal(r *http.Request) (tenancy.Principal, error) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		return tenancy.Principal{}, &tenancy.Error{Kind: tenancy.ErrUnauthenticated, Message: "send your token as Authorization: Bearer <token>"}
	}
	return a.m.Authenticate(r.Context(), strings.TrimSpace(secret))
}

// statusOf is the one table from the library's error kinds to HTTP statuses.
var statusOf = map[error]int{
	tenancy.ErrInvalidArgument:    http.StatusBadRequest,
	tenancy.ErrUnauthenticated:    http.StatusUnauthorized,
	tenancy.ErrPermissionDenied:   http.StatusForbidden,
	tenancy.ErrNotFound:           http.StatusNotFound,
	tenancy.ErrAlreadyExists:      http.StatusConflict,
	tenancy.ErrFailedPrecondition: http.StatusConflict,
}

// httpError is an error this layer makes itself, with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (a *api) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if errors.As(err, &he) {
		a.fail(w, r, he.status, he.msg)
		return
	}
	if status, ok := statusOf[tenancy.KindOf(err)]; ok {
		a.fail(w, r, status, err.Error())
		return
	}
	if errors.Is(err, context.Canceled) {
		a.fail(w, r, 499, "request canceled")
		return
	}
	a.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	a.fail(w, r, http.StatusInternalServerError, "internal error")
}

func (a *api) fail(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	text := http.StatusText(status)
	if text == "" {
		text = "Error"
	}
	writeJSON(w, status, map[string]string{"error": text, "message": msg})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if body != nil {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // messages quote <token>; this is an API, not a page
		enc.SetIndent("", "  ")
		_ = enc.Encode(body)
	}
}

// decode reads a JSON body into dst: at most 1 MiB, no unknown fields, nothing after
// the object. Fields a caller may not set are unknown fields, and are refused.
func decode(r *http.Request, dst any) error {
	body := http.MaxBytesReader(nil, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &httpError{http.StatusRequestEntityTooLarge, "request body must be at most 1 MiB"}
		case errors.Is(err, io.EOF):
			return badRequest("request body must be a JSON object")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("field %s cannot be set here", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case errors.As(err, &se):
			return badRequest("malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return badRequest("field %q must be a %s", te.Field, te.Type)
		}
		return badRequest("malformed JSON: %v", err)
	}
	if dec.More() {
		return badRequest("request body must hold one JSON object")
	}
	return nil
}

// pageParams reads ?limit= and ?cursor=.
func pageParams(r *http.Request) (limit int, cursor string, err error) {
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil {
			return 0, "", badRequest("limit must be between 1 and 100")
		}
		if limit == 0 {
			return 0, "", badRequest("limit must be between 1 and 100")
		}
	}
	return limit, q.Get("cursor"), nil
}

// JSON shapes.

type workspaceJSON struct {
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	Slug        string    `json:"slug"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func wsJSON(w workspace.Workspace) workspaceJSON {
	return workspaceJSON{w.ID, w.Name, w.Slug, w.Description, string(w.Status), w.CreatedAt.UTC(), w.UpdatedAt.UTC()}
}

type pagination struct {
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
}

type pageJSON[T any] struct {
	Data       []T        `json:"data"`
	Pagination pagination `json:"pagination"`
}

func toPage[S, T any](p workspace.Page[S], conv func(S) T) pageJSON[T] {
	out := pageJSON[T]{Data: make([]T, 0, len(p.Items)), Pagination: pagination{HasMore: p.HasMore}}
	for _, it := range p.Items {
		out.Data = append(out.Data, conv(it))
	}
	if p.HasMore {
		c := p.NextCursor
		out.Pagination.NextCursor = &c
	}
	return out
}

type memberJSON struct {
	UserID    string    `json:"user_id"`
	Role      string    `json:"role"`
	Owner     bool      `json:"owner"`
	InvitedBy string    `json:"invited_by,omitempty"`
	JoinedAt  time.Time `json:"joined_at"`
}

func mbJSON(m member.Member) memberJSON {
	return memberJSON{m.UserID, string(m.Role), m.Owner, m.InvitedBy, m.JoinedAt.UTC()}
}

type invitationJSON struct {
	InvitationID string    `json:"invitation_id"`
	WorkspaceID  string    `json:"workspace_id"`
	Email        string    `json:"email"`
	Role         string    `json:"role"`
	State        string    `json:"state"`
	InvitedBy    string    `json:"invited_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	AcceptURL    string    `json:"accept_url,omitempty"`
	Token        string    `json:"token,omitempty"`
}

func invJSON(i tenancy.InvitationInfo) invitationJSON {
	return invitationJSON{InvitationID: i.ID, WorkspaceID: i.WorkspaceID, Email: i.Email, Role: string(i.Role),
		State: string(i.State), InvitedBy: i.InviterID, CreatedAt: i.CreatedAt.UTC(), ExpiresAt: i.ExpiresAt.UTC()}
}

type tokenJSON struct {
	TokenID     string     `json:"token_id"`
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	WorkspaceID string     `json:"workspace_id,omitempty"`
	Role        string     `json:"role,omitempty"`
	Hint        string     `json:"hint"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	Token       string     `json:"token,omitempty"` // the secret, on creation only
}

func tokJSON(t tenancy.TokenInfo) tokenJSON {
	out := tokenJSON{TokenID: t.ID, Name: t.Name, Kind: string(t.Kind), WorkspaceID: t.WorkspaceID, Role: string(t.Role),
		Hint: t.Hint, State: string(t.State), CreatedAt: t.CreatedAt.UTC()}
	if !t.ExpiresAt.IsZero() {
		e := t.ExpiresAt.UTC()
		out.ExpiresAt = &e
	}
	if !t.LastUsedAt.IsZero() {
		l := t.LastUsedAt.UTC()
		out.LastUsedAt = &l
	}
	return out
}

type eventJSON struct {
	EventID     string            `json:"event_id"`
	Type        string            `json:"type"`
	WorkspaceID string            `json:"workspace_id,omitempty"`
	Actor       string            `json:"actor"`
	Subject     string            `json:"subject,omitempty"`
	Data        map[string]string `json:"data,omitempty"`
	Time        time.Time         `json:"time"`
}

func evJSON(e tenancy.Event) eventJSON {
	return eventJSON{e.ID, e.Type, e.WorkspaceID, e.Actor, e.Subject, e.Data, e.Time.UTC()}
}

// Workspaces.

func (a *api) listWorkspaces(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	pg, err := a.m.ListWorkspaces(r.Context(), p, workspace.ListOptions{Limit: limit, Cursor: cursor,
		NameContains: q.Get("name_contains"), Status: workspace.Status(q.Get("status"))})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, wsJSON), nil
}

func (a *api) listAllWorkspaces(r *http.Request, p tenancy.Principal) (int, any, error) {
	if err := a.m.AuthorizePlatform(r.Context(), p, rbac.ListAll); err != nil {
		return 0, nil, err
	}
	return a.listWorkspaces(r, p)
}

func (a *api) getWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	w, err := a.m.GetWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wsJSON(w), nil
}

func (a *api) updateWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Name        *string `json:"name"`
		Description *string `json:"description"`
		Status      *string `json:"status"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	id := r.PathValue("id")
	// Validate everything before changing anything.
	if body.Status != nil && *body.Status != "active" && *body.Status != "inactive" {
		return 0, nil, badRequest("status must be active or inactive")
	}
	if body.Name == nil && body.Description == nil && body.Status == nil {
		return 0, nil, badRequest("nothing to update: send name, description or status")
	}
	if body.Name != nil {
		if err := workspace.ValidateName(*body.Name); err != nil {
			return 0, nil, badRequest("%s", err.Error())
		}
	}
	var w workspace.Workspace
	var err error
	if body.Name != nil || body.Description != nil {
		if w, err = a.m.UpdateWorkspace(r.Context(), p, id, tenancy.WorkspaceUpdate{Name: body.Name, Description: body.Description}); err != nil {
			return 0, nil, err
		}
	}
	if body.Status != nil {
		if *body.Status == "inactive" {
			w, err = a.m.DeactivateWorkspace(r.Context(), p, id)
		} else {
			w, err = a.m.ReactivateWorkspace(r.Context(), p, id)
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, wsJSON(w), nil
}

func (a *api) deleteWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	w, err := a.m.DeleteWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"workspace_id": w.ID, "deleted": true}, nil
}

func (a *api) restoreWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	w, err := a.m.RestoreWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wsJSON(w), nil
}

func (a *api) purgeWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	id := r.PathValue("id")
	if err := a.m.PurgeWorkspace(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"workspace_id": id, "deleted": true, "purged": true}, nil
}

func (a *api) stats(r *http.Request, p tenancy.Principal) (int, any, error) {
	s, err := a.m.Stats(r.Context(), p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]int64{"total_workspaces": s.Total, "active_workspaces": s.Active,
		"inactive_workspaces": s.Inactive, "deleted_workspaces": s.Deleted}, nil
}

func (a *api) sync(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Workspaces []struct {
			ExternalID string `json:"external_id"`
			Name       string `json:"name"`
		} `json:"workspaces"`
		DryRun bool `json:"dry_run"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	items := make([]workspace.SyncItem, len(body.Workspaces))
	for i, w := range body.Workspaces {
		items[i] = workspace.SyncItem{ExternalID: w.ExternalID, Name: w.Name}
	}
	res, err := a.m.SyncWorkspaces(r.Context(), p, items, tenancy.SyncOptions{DryRun: body.DryRun})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"total_found": res.Found, "created_locally": res.Created,
		"already_existed": res.AlreadyExisted, "dry_run": res.DryRun}, nil
}

func (a *api) createWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Name        string `json:"name"`
		Slug        string `json:"slug"`
		Description string `json:"description"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	w, err := a.m.CreateWorkspace(r.Context(), p, tenancy.NewWorkspace{Name: body.Name, Slug: body.Slug, Description: body.Description})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, wsJSON(w), nil
}

func (a *api) myWorkspaces(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListUserWorkspaces(r.Context(), p, p.UserID(), workspace.ListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	type mine struct {
		workspaceJSON
		Role  string `json:"role"`
		Owner bool   `json:"owner"`
	}
	return http.StatusOK, toPage(pg, func(u tenancy.UserWorkspace) mine {
		return mine{wsJSON(u.Workspace), string(u.Role), u.Owner}
	}), nil
}

func (a *api) events(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListEvents(r.Context(), p, r.PathValue("id"), tenancy.EventListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, evJSON), nil
}

// Members and invitations.

// workspaceHeader reads X-Workspace-ID, which the Tell-shaped admin routes need.
func workspaceHeader(r *http.Request) (string, error) {
	id := strings.TrimSpace(r.Header.Get("X-Workspace-ID"))
	if id == "" {
		return "", badRequest("send the workspace as an X-Workspace-ID header")
	}
	return id, nil
}

func parseRole(s string) (rbac.Role, error) {
	if s == "" {
		return "", badRequest("role is required: viewer, editor or admin")
	}
	role, err := rbac.ParseRole(s)
	if err != nil {
		return "", badRequest("role %q must be viewer, editor or admin", s)
	}
	return role, nil
}

func (a *api) addMember(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	role, err := parseRole(body.Role)
	if err != nil {
		return 0, nil, err
	}
	mb, err := a.m.AddMember(r.Context(), p, r.PathValue("id"), tenancy.NewMember{Email: body.Email, Role: role})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, mbJSON(mb), nil
}

func (a *api) leave(r *http.Request, p tenancy.Principal) (int, any, error) {
	id := r.PathValue("id")
	if err := a.m.LeaveWorkspace(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"workspace_id": id, "left": true}, nil
}

func (a *api) transfer(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		UserID string `json:"user_id"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	w, err := a.m.TransferOwnership(r.Context(), p, r.PathValue("id"), body.UserID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"workspace_id": w.ID, "owner_id": w.OwnerID}, nil
}

func (a *api) listMembers(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListMembers(r.Context(), p, wsID, tenancy.MemberListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, mbJSON), nil
}

func (a *api) changeRole(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		Role string `json:"role"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	userID := r.PathValue("user_id")
	if userID == p.UserID() {
		return 0, nil, badRequest("you cannot change your own role")
	}
	role, err := parseRole(body.Role)
	if err != nil {
		return 0, nil, err
	}
	mb, err := a.m.ChangeRole(r.Context(), p, wsID, userID, role)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, mbJSON(mb), nil
}

func (a *api) removeMember(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	userID := r.PathValue("user_id")
	if err := a.m.RemoveMember(r.Context(), p, wsID, userID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"user_id": userID, "removed": true}, nil
}

func (a *api) invite(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Email       string `json:"email"`
		WorkspaceID string `json:"workspace_id"`
		Role        string `json:"role"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.WorkspaceID == "" {
		return 0, nil, badRequest("workspace_id is required")
	}
	role, err := parseRole(body.Role)
	if err != nil {
		return 0, nil, err
	}
	sent, err := a.m.InviteMember(r.Context(), p, body.WorkspaceID, tenancy.NewInvitation{Email: body.Email, Role: role})
	if err != nil {
		return 0, nil, err
	}
	out := invJSON(tenancy.InvitationInfo{Invitation: sent.Invitation, State: member.Pending})
	out.Token = sent.Secret
	out.AcceptURL = a.baseURL + "/invite?token=" + sent.Secret
	status := http.StatusCreated
	if sent.Resent {
		status = http.StatusOK
	}
	return status, out, nil
}

func (a *api) listInvites(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListInvitations(r.Context(), p, wsID, tenancy.MemberListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, invJSON), nil
}

func (a *api) revokeInvite(r *http.Request, p tenancy.Principal) (int, any, error) {
	inv, err := a.m.RevokeInvitation(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, invJSON(tenancy.InvitationInfo{Invitation: inv, State: member.Revoked}), nil
}

// accept joins a workspace by invitation. With a bearer token it accepts as that
// user. Without one, it accepts only for an email that has no account yet: the
// account is made, and its first personal token is returned once (Tell: "if they
// don't have an account yet, one is created when they accept"). An existing account
// must sign in first, so a leaked link cannot take it over.
func (a *api) accept(w http.ResponseWriter, r *http.Request) {
	status, body, err := a.doAccept(r)
	if err != nil {
		a.writeErr(w, r, err)
		return
	}
	writeJSON(w, status, body)
}

func (a *api) doAccept(r *http.Request) (int, any, error) {
	var body struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	if r.Header.Get("Authorization") != "" {
		p, err := a.principal(r)
		if err != nil {
			return 0, nil, err
		}
		mb, err := a.m.AcceptInvitation(ctx, p, body.Token)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, mbJSON(mb), nil
	}
	// Registration and acceptance are one transaction: a refused acceptance leaves
	// no account behind.
	u, mb, err := a.m.AcceptInvitationAsNewUser(ctx, body.Token, tenancy.NewUser{ID: newUserID(), Name: body.Name})
	if errors.Is(err, tenancy.ErrAlreadyExists) {
		return 0, nil, &tenancy.Error{Kind: tenancy.ErrUnauthenticated, Message: "this email already has an account: accept with your token"}
	}
	if err != nil {
		return 0, nil, err
	}
	tok, err := a.m.CreateToken(ctx, tenancy.User(u.ID), tenancy.NewToken{Name: "first sign-in", Lifetime: 365 * 24 * time.Hour})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"member": mbJSON(mb), "user_id": u.ID, "token": tok.Secret}, nil
}

// Tokens.

type tokenBody struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expires_in"`
	Role      string `json:"role"`
}

func (a *api) createToken(r *http.Request, p tenancy.Principal, wsID string) (int, any, error) {
	var body tokenBody
	if err := decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.ExpiresIn == "" {
		return 0, nil, badRequest("expires_in is required, e.g. \"48h\", \"7d\", \"1y\"")
	}
	life, err := token.ParseLifetime(body.ExpiresIn)
	if err != nil {
		return 0, nil, badRequest("%s", err.Error())
	}
	role, err := roleOrEmpty(body.Role)
	if err != nil {
		return 0, nil, badRequest("%s", err.Error())
	}
	c, err := a.m.CreateToken(r.Context(), p, tenancy.NewToken{Name: body.Name, WorkspaceID: wsID, Role: role, Lifetime: life})
	if err != nil {
		return 0, nil, err
	}
	out := tokJSON(tenancy.TokenInfo{Token: c.Token, State: tenancy.TokenActive})
	out.Token = c.Secret
	return http.StatusCreated, out, nil
}

func (a *api) createWorkspaceToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.createToken(r, p, r.PathValue("id"))
}

func (a *api) createPersonalToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.createToken(r, p, "")
}

func (a *api) listTokens(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	state := tenancy.TokenState(r.URL.Query().Get("state"))
	pg, err := a.m.ListTokens(r.Context(), p, tenancy.TokenListOptions{WorkspaceID: r.PathValue("id"), State: state, Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, tokJSON), nil
}

func (a *api) revokeToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, id := r.PathValue("id"), r.PathValue("token_id")
	info, err := a.m.GetToken(r.Context(), p, id)
	if err != nil {
		return 0, nil, err
	}
	if info.WorkspaceID != wsID {
		return 0, nil, &tenancy.Error{Kind: tenancy.ErrNotFound, Message: fmt.Sprintf("token %q not found in workspace %q", id, wsID)}
	}
	if err := a.m.RevokeToken(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"token_id": id, "revoked": true}, nil
}
