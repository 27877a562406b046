package httpapi

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/workspace"
)

type workspaceJSON struct {
	WorkspaceID string            `json:"workspace_id"`
	Name        string            `json:"name"`
	Slug        string            `json:"slug"`
	Description string            `json:"description"`
	Status      string            `json:"status"`
	Metadata    map[string]string `json:"metadata"`
	ExternalID  string            `json:"external_id,omitempty"`
	InstanceURL string            `json:"instance_url,omitempty"`
	OwnerID     string            `json:"owner_id"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	DeletedAt   *time.Time        `json:"deleted_at,omitempty"`
	Flags       []string          `json:"flags,omitempty"`
}

func wsJSON(w workspace.Workspace) workspaceJSON {
	md := w.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return workspaceJSON{WorkspaceID: w.ID, Name: w.Name, Slug: w.Slug, Description: w.Description, Status: string(w.Status),
		Metadata: md, ExternalID: w.ExternalID, InstanceURL: w.InstanceURL(), OwnerID: w.OwnerID, CreatedAt: w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
		DeletedAt: timePtr(w.DeletedAt), Flags: w.Flags}
}

func (a *API) listWorkspaces(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.workspacePage(r, p, a.m.ListWorkspaces)
}

// listAllWorkspaces is the admin listing: the Manager refuses whoever lacks
// platform powers.
func (a *API) listAllWorkspaces(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.workspacePage(r, p, a.m.ListAllWorkspaces)
}

func (a *API) workspacePage(r *http.Request, p tenancy.Principal,
	list func(context.Context, tenancy.Principal, workspace.ListOptions) (workspace.Page[workspace.Workspace], error)) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	q := r.URL.Query()
	pg, err := list(r.Context(), p, workspace.ListOptions{Limit: limit, Cursor: cursor,
		NameContains: q.Get("name_contains"), Status: workspace.Status(q.Get("status"))})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, wsJSON), nil
}

func (a *API) getWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	w, err := a.m.GetWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wsJSON(w), nil
}

// siNames are the fields a workspace body may name two ways: ours, and System
// Initiative's (displayName, instanceUrl). Both may be sent only if they agree.
type siNames struct {
	Name        *string `json:"name"`
	DisplayName *string `json:"displayName"`
	InstanceURL *string `json:"instance_url"`
	InstanceUrl *string `json:"instanceUrl"`
}

func (n siNames) resolve() (name, instance *string, err error) {
	if name, err = onePtr("name", n.Name, "displayName", n.DisplayName); err != nil {
		return nil, nil, err
	}
	instance, err = onePtr("instance_url", n.InstanceURL, "instanceUrl", n.InstanceUrl)
	return name, instance, err
}

func (a *API) updateWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		siNames
		Slug        *string           `json:"slug"`
		Description *string           `json:"description"`
		Metadata    map[string]string `json:"metadata"`
		Status      *string           `json:"status"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	name, instance, err := body.siNames.resolve()
	if err != nil {
		return 0, nil, err
	}
	up := tenancy.WorkspaceUpdate{Name: name, Slug: body.Slug, Description: body.Description, Metadata: body.Metadata, InstanceURL: instance}
	if body.Status != nil {
		st := workspace.Status(*body.Status)
		up.Status = &st
	}
	w, err := a.m.UpdateWorkspace(r.Context(), p, r.PathValue("id"), up)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wsJSON(w), nil
}

// deletedJSON is Airbyte Embedded's answer to a delete, {"workspace_id", "deleted":
// true}, with the workspace's other fields beside it.
type deletedJSON struct {
	workspaceJSON
	Deleted bool `json:"deleted"`
}

func (a *API) deleteWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	w, err := a.m.DeleteWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, deletedJSON{wsJSON(w), true}, nil
}

func (a *API) restoreWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	w, err := a.m.RestoreWorkspace(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wsJSON(w), nil
}

func (a *API) purgeWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	id := r.PathValue("id")
	if err := a.m.PurgeWorkspace(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"workspace_id": id, "purged": true}, nil
}

// setFlags sets or clears the host's flags of a workspace: {"flags": {"sources": true}}.
func (a *API) setFlags(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Flags map[string]bool `json:"flags"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.Flags == nil {
		return 0, nil, badRequest(`"flags" is required: an object of flag names to true (set) or false (clear)`)
	}
	w, err := a.m.SetWorkspaceFlags(r.Context(), p, r.PathValue("id"), body.Flags)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wsJSON(w), nil
}

func (a *API) transfer(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		UserID string `json:"user_id"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	w, err := a.m.TransferOwnership(r.Context(), p, r.PathValue("id"), body.UserID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, wsJSON(w), nil
}

// stats answers Airbyte's shape: the total is the workspaces in use (active +
// inactive); deleted ones are counted apart; each host flag is counted as
// "workspaces_with_" + its name.
func (a *API) stats(r *http.Request, p tenancy.Principal) (int, any, error) {
	s, err := a.m.Stats(r.Context(), p)
	if err != nil {
		return 0, nil, err
	}
	out := map[string]int64{"total_workspaces": s.Total, "active_workspaces": s.Active,
		"inactive_workspaces": s.Inactive, "deleted_workspaces": s.Deleted}
	for name, n := range s.Flags.All() { // the host's flags, as Airbyte names them
		out["workspaces_with_"+name] = n
	}
	return http.StatusOK, out, nil
}

func (a *API) sync(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Workspaces []struct {
			ExternalID string `json:"external_id"`
			Name       string `json:"name"`
			Slug       string `json:"slug"`
			OwnerID    string `json:"owner_id"`
		} `json:"workspaces"`
		DryRun bool `json:"dry_run"`
	}
	// Airbyte's sync is a call without a body: the Manager's sync source lists
	// the workspaces then.
	if err := a.decodeOptional(r, &body); err != nil {
		return 0, nil, err
	}
	items := make([]workspace.SyncItem, len(body.Workspaces))
	for i, w := range body.Workspaces {
		items[i] = workspace.SyncItem{ExternalID: w.ExternalID, Name: w.Name, Slug: w.Slug, OwnerID: w.OwnerID}
	}
	res, err := a.m.SyncWorkspaces(r.Context(), p, items, tenancy.SyncOptions{DryRun: body.DryRun})
	if err != nil {
		return 0, nil, err
	}
	ids := res.CreatedIDs
	if ids == nil {
		ids = []string{}
	}
	return http.StatusOK, map[string]any{"total_found": res.Found, "created_locally": res.Created,
		"already_existed": res.AlreadyExisted, "dry_run": res.DryRun, "created_ids": ids}, nil
}

func (a *API) createWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		siNames
		Slug        string            `json:"slug"`
		Description string            `json:"description"`
		Metadata    map[string]string `json:"metadata"`
		ExternalID  string            `json:"external_id"`
		StarterKit  string            `json:"starter_kit"`
		OwnerID     string            `json:"owner_id"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	name, instance, err := body.siNames.resolve()
	if err != nil {
		return 0, nil, err
	}
	w, err := a.m.CreateWorkspace(r.Context(), p, tenancy.NewWorkspace{Name: deref(name), Slug: body.Slug, Description: body.Description,
		Metadata: body.Metadata, ExternalID: body.ExternalID, StarterKit: body.StarterKit, OwnerID: body.OwnerID, InstanceURL: deref(instance)})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, wsJSON(w), nil
}

type myWorkspaceJSON struct {
	workspaceJSON
	Role  string `json:"role"`
	Owner bool   `json:"owner"`
}

func (a *API) myWorkspaces(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListUserWorkspaces(r.Context(), p, p.UserID(), workspace.ListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, func(u tenancy.UserWorkspace) myWorkspaceJSON {
		return myWorkspaceJSON{wsJSON(u.Workspace), string(u.Role), u.Owner}
	}), nil
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

func (a *API) events(r *http.Request, p tenancy.Principal) (int, any, error) {
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

// feed is the global event feed (platform users): resume from the last cursor
// processed to provision per-workspace resources at least once.
func (a *API) feed(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.Feed(r.Context(), p, tenancy.EventListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, evJSON), nil
}

// onePtr reads a field that has two names (ours and a seed's): either, or both
// when they agree.
func onePtr(ours string, a *string, theirs string, b *string) (*string, error) {
	switch {
	case a == nil:
		return b, nil
	case b == nil || *a == *b:
		return a, nil
	}
	return nil, badRequest("%s and %s name the same field: send one", ours, theirs)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// backup streams a copy of the whole store (a bbolt file), for platform users:
// refused before a byte is written, so a refusal is the API's JSON error.
func (a *API) backup(w http.ResponseWriter, r *http.Request, p tenancy.Principal) error {
	if err := a.m.AuthorizePlatform(r.Context(), p, rbac.Backup); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="tenancy-backup.db"`)
	cw := &countingWriter{w: w}
	_, err := a.m.Backup(r.Context(), p, cw)
	if err != nil && cw.n == 0 {
		h.Del("Content-Disposition")
		h.Set("Content-Type", "application/json")
		return err
	}
	if err != nil {
		// The copy broke off midway: the client sees a short body and the log why.
		a.log.Error("backup broke off", "bytes", cw.n, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// countingWriter counts what reached the client.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
