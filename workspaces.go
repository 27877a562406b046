package tenancy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// NewWorkspace describes a workspace to create.
type NewWorkspace struct {
	Name        string            // required, 1-100 characters
	Slug        string            // optional: derived from Name when empty
	Description string            // optional
	Metadata    map[string]string // optional host labels (see workspace.ValidateMetadata)
	ExternalID  string            // optional ID in another system; unique; only System and platform users set it
	StarterKit  string            // optional; must be one of Options.StarterKits
	// InstanceURL is where the workspace runs (System Initiative's instanceUrl),
	// kept in Metadata under workspace.MetadataInstanceURL; optional.
	InstanceURL string
	// Flags are host flags the workspace starts with; each must be declared in
	// Options.WorkspaceFlags. Only System and platform users set them.
	Flags []string
	// OwnerID names the owner when System (or a platform user creating for someone
	// else) acts; a user creating for themselves leaves it empty.
	OwnerID string
}

func (m *Manager) validateNew(in *NewWorkspace) error {
	if err := workspace.ValidateName(in.Name); err != nil {
		return invalid(err)
	}
	if in.Slug != "" {
		if err := workspace.ValidateSlug(in.Slug); err != nil {
			return invalid(err)
		}
	}
	if err := workspace.ValidateDescription(in.Description); err != nil {
		return invalid(err)
	}
	if err := workspace.ValidateInstanceURL(in.InstanceURL); err != nil {
		return invalid(err)
	}
	if in.InstanceURL != "" {
		if v, ok := in.Metadata[workspace.MetadataInstanceURL]; ok && v != in.InstanceURL {
			return invalidf("the instance URL is given twice, differently (InstanceURL and Metadata[%q])", workspace.MetadataInstanceURL)
		}
		in.Metadata = maps.Clone(in.Metadata)
		if in.Metadata == nil {
			in.Metadata = map[string]string{}
		}
		in.Metadata[workspace.MetadataInstanceURL] = in.InstanceURL
	}
	if err := workspace.ValidateMetadata(in.Metadata); err != nil {
		return invalid(err)
	}
	if err := workspace.ValidateExternalID(in.ExternalID); err != nil {
		return invalid(err)
	}
	if in.StarterKit != "" && !m.starterKits[in.StarterKit] {
		return invalidf("starter kit %q is not registered", in.StarterKit)
	}
	flags, err := m.checkFlags(in.Flags)
	if err != nil {
		return err
	}
	in.Flags = flags
	return nil
}

// CreateWorkspace creates a workspace. Its creator (or OwnerID, when System or a
// platform user acts for someone) becomes its owner and admin in the same
// transaction, and a workspace.created event is recorded.
//
// A workspace token, or a token capped below admin, cannot create workspaces; only
// platform powers name another owner or set an external ID.
//
// Errors: ErrInvalidArgument (bad fields, unknown starter kit, unknown owner),
// ErrAlreadyExists (the slug or external ID is taken), ErrPermissionDenied (a
// workspace token, a capped token, a non-platform user naming another owner or an
// external ID), ErrUnauthenticated.
func (m *Manager) CreateWorkspace(ctx context.Context, p Principal, in NewWorkspace) (workspace.Workspace, error) {
	if err := m.validateNew(&in); err != nil {
		return workspace.Workspace{}, err
	}
	now := m.now()
	id := m.ids.next("ws_", now)
	derived := in.Slug == ""
	for attempt := 0; ; attempt++ {
		if derived {
			// A derived slug is chosen by reading, before the writing transaction:
			// reads of the slug index inside a serializable transaction make
			// concurrent creators conflict (and retry) on a SQL backend. The insert
			// still has the last word; if another creator took the slug meanwhile,
			// choose again.
			err := m.view(ctx, "pick a slug", func(tx storage.Reader) error {
				var err error
				in.Slug, err = m.pickSlug(tx, "", in.Name, id)
				return err
			})
			if err != nil {
				return workspace.Workspace{}, err
			}
		}
		var w workspace.Workspace
		err := m.update(ctx, "create workspace", func(tx storage.ReadWriter) error {
			var err error
			w, err = m.createIn(tx, now, p, id, in, "")
			return err
		})
		if derived && attempt < 3 && storage.ConflictIndex(err) == storage.IndexWorkspaceSlug {
			continue
		}
		if err != nil {
			return workspace.Workspace{}, err
		}
		return w, nil
	}
}

// createIn creates a validated workspace inside tx. via names the operation in the
// event ("sync", "ensure"), if not a plain create.
func (m *Manager) createIn(tx storage.ReadWriter, now time.Time, p Principal, id string, in NewWorkspace, via string) (workspace.Workspace, error) {
	a, err := m.resolve(tx, p)
	if err != nil {
		return workspace.Workspace{}, err
	}
	return m.createAs(tx, now, a, id, in, via)
}

// createAs creates a validated workspace inside tx for a resolved actor.
func (m *Manager) createAs(tx storage.ReadWriter, now time.Time, a actor, id string, in NewWorkspace, via string) (workspace.Workspace, error) {
	p := a.p
	ownerID, err := m.checkCreate(a, in)
	if err != nil {
		return workspace.Workspace{}, err
	}
	if _, err := tx.GetUser(ownerID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return workspace.Workspace{}, invalidf("owner %q is not a registered user", ownerID)
		}
		return workspace.Workspace{}, internal("read owner", err)
	}
	slug, err := m.pickSlug(tx, in.Slug, in.Name, id)
	if err != nil {
		return workspace.Workspace{}, err
	}
	w := workspace.Workspace{ID: id, Slug: slug, Name: in.Name, Description: in.Description,
		Status: workspace.Active, Metadata: maps.Clone(in.Metadata), ExternalID: in.ExternalID,
		StarterKit: in.StarterKit, OwnerID: ownerID, CreatedAt: now, UpdatedAt: now, Flags: slices.Clone(in.Flags)}
	if err := tx.CreateWorkspace(w); err != nil {
		return w, workspaceConflict(err, w, "create workspace")
	}
	owner := member.Member{WorkspaceID: id, UserID: ownerID, Role: m.ownerRole(), Owner: true, JoinedAt: now, UpdatedAt: now}
	if err := tx.CreateMember(owner); err != nil {
		return w, internal("create owner membership", err)
	}
	if err := tx.AddCounter(counterActive, 1); err != nil {
		return w, internal("count workspace", err)
	}
	if err := countFlags(tx, w.Flags, 1); err != nil {
		return w, err
	}
	data := map[string]string{"slug": slug, "name": w.Name, "owner": ownerID}
	if len(w.Flags) > 0 {
		data["flags"] = strings.Join(w.Flags, ",")
	}
	if w.StarterKit != "" {
		data["starter_kit"] = w.StarterKit
	}
	if w.ExternalID != "" {
		data["external_id"] = w.ExternalID
	}
	if via != "" {
		data["via"] = via
	}
	return w, m.record(tx, now, p, "workspace.created", id, ownerID, data)
}

// workspaceConflict turns a failed write of w into the Manager's error: a taken slug
// or external ID is ErrAlreadyExists, named by the index the backend reports.
func workspaceConflict(err error, w workspace.Workspace, op string) error {
	var e *Error
	switch storage.ConflictIndex(err) {
	case storage.IndexWorkspaceSlug:
		e = existsf("slug %q is already taken", w.Slug)
	case storage.IndexWorkspaceExternalID:
		e = existsf("external ID %q is already used by another workspace", w.ExternalID)
	default:
		return internal(op, err)
	}
	e.Err = err // the index stays readable with storage.ConflictIndex
	return e
}

// pickSlug returns the requested slug, or derives a free one from the name. The
// write decides whether a requested slug is free; a derived one is chosen among a few
// candidates by reading (the write still has the last word).
func (m *Manager) pickSlug(tx storage.Reader, want, name, id string) (string, error) {
	if want != "" {
		return want, nil
	}
	base := workspace.SlugFromName(name)
	if base == "" {
		base = "workspace"
	}
	// The ID's random tail makes a collision-free suffix without another lookup loop.
	tail := strings.ToLower(id[len(id)-6:])
	for _, cand := range []string{base, suffixSlug(base, tail[:4]), suffixSlug(base, tail)} {
		_, err := tx.GetWorkspaceBySlug(cand)
		if errors.Is(err, storage.ErrNotFound) {
			return cand, nil
		}
		if err != nil {
			return "", internal("read slug", err)
		}
	}
	return "", existsf("could not derive a free slug from %q: pass one", name)
}

func suffixSlug(base, suffix string) string {
	if len(base)+1+len(suffix) > workspace.MaxSlugLen {
		base = strings.TrimRight(base[:workspace.MaxSlugLen-1-len(suffix)], "-")
	}
	return base + "-" + suffix
}

// GetWorkspace returns a workspace by ID. Members may read it; a deleted one only its
// owner and platform users (to restore it).
//
// Errors: ErrNotFound (missing, or p is not a member), ErrFailedPrecondition
// (deleted), ErrUnauthenticated.
func (m *Manager) GetWorkspace(ctx context.Context, p Principal, id string) (workspace.Workspace, error) {
	var w workspace.Workspace
	err := m.view(ctx, "get workspace", func(tx storage.Reader) error {
		var err error
		w, _, err = m.workspaceFor(tx, p, id, rbac.ReadWorkspace)
		return err
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

// GetWorkspaceBySlug returns a workspace by slug, with the rules of GetWorkspace.
func (m *Manager) GetWorkspaceBySlug(ctx context.Context, p Principal, slug string) (workspace.Workspace, error) {
	if err := workspace.ValidateSlug(slug); err != nil {
		return workspace.Workspace{}, invalid(err)
	}
	var w workspace.Workspace
	err := m.view(ctx, "get workspace", func(tx storage.Reader) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		found, err := tx.GetWorkspaceBySlug(slug)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("workspace %q not found", slug)
		}
		if err != nil {
			return internal("read workspace", err)
		}
		w, _, err = m.workspaceAs(tx, a, found.ID, rbac.ReadWorkspace)
		return err
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

// listFilter validates list options once, for every list of workspaces.
type listFilter struct {
	limit  int
	after  string
	needle string
	status workspace.Status
}

func parseListOptions(o workspace.ListOptions, def int) (listFilter, error) {
	limit, err := workspace.CheckLimit(o.Limit, def)
	if err != nil {
		return listFilter{}, invalid(err)
	}
	after, err := workspace.DecodeCursor(o.Cursor)
	if err != nil {
		return listFilter{}, invalid(err)
	}
	if o.Status != "" && !o.Status.Valid() {
		return listFilter{}, invalidf("status %q must be active, inactive or deleted", string(o.Status))
	}
	if len(o.NameContains) > workspace.MaxNameLen*4 {
		return listFilter{}, invalidf("name_contains must be at most %d bytes", workspace.MaxNameLen*4)
	}
	return listFilter{limit: limit, after: after, needle: strings.ToLower(o.NameContains), status: o.Status}, nil
}

// query is the filter as the storage contract states it; its Match is the one
// definition of a match, which every index must agree with.
func (f listFilter) query() storage.WorkspaceQuery {
	return storage.WorkspaceQuery{NameContains: f.needle, Status: f.status}
}

func (f listFilter) match(w workspace.Workspace) bool { return f.query().Match(w) }

// pager collects one page: limit items and whether another follows.
type pager[T any] struct {
	limit int
	page  workspace.Page[T]
	key   func(T) string
}

// add appends an item and reports whether the scan should go on. It stops at the
// first item past the limit, which only tells that more follow.
func (pg *pager[T]) add(item T) bool {
	if len(pg.page.Items) == pg.limit {
		pg.page.HasMore = true
		return false
	}
	pg.page.Items = append(pg.page.Items, item)
	return true
}

// result finishes the page: NextCursor points after its last item (or stays at the
// caller's cursor when the page is empty), so a reader can always resume from it.
func (pg *pager[T]) result(cursor string, err error) (workspace.Page[T], error) {
	if err != nil {
		return workspace.Page[T]{}, err
	}
	pg.page.NextCursor = cursor
	if n := len(pg.page.Items); n > 0 {
		pg.page.NextCursor = workspace.EncodeCursor(pg.key(pg.page.Items[n-1]))
	}
	return pg.page, nil
}

// ListWorkspaces returns one page of the workspaces p may read, in creation order:
// every workspace for System and platform users, the workspaces p belongs to for
// others, and for a workspace token at most its own workspace. Without a status
// filter it lists active and inactive workspaces; Status: Deleted lists the deleted
// ones p may still read (those it owns, or every one with platform powers). A page
// costs the same wherever it starts.
//
// For System and platform users, NameContains and Status go through the backend's
// search index when it has one (storage.WorkspaceSearcher; all three built-in
// backends do), so a filtered page costs about what its matches cost, not what the
// store holds. A needle of three bytes or more is looked up by its grams (by its
// 6-byte grams from six bytes on); a shorter needle ("a", "ab") cannot use them and
// is checked against each workspace of the requested status in turn, which on a
// large store costs about as much as reading it, unless matches are frequent
// enough to fill the page early. A member's list is filtered over the workspaces
// they belong to.
//
// Errors: ErrInvalidArgument (limit outside 1-100, bad cursor or status),
// ErrUnauthenticated.
func (m *Manager) ListWorkspaces(ctx context.Context, p Principal, opts workspace.ListOptions) (workspace.Page[workspace.Workspace], error) {
	return m.listWorkspaces(ctx, p, opts, false)
}

// ListAllWorkspaces is ListWorkspaces for the admin listing (Tell's GET
// /admin/workspaces): every workspace, and only for System and platform users;
// anyone else is refused rather than shown their own.
//
// Errors: as ListWorkspaces, and ErrPermissionDenied.
func (m *Manager) ListAllWorkspaces(ctx context.Context, p Principal, opts workspace.ListOptions) (workspace.Page[workspace.Workspace], error) {
	return m.listWorkspaces(ctx, p, opts, true)
}

func (m *Manager) listWorkspaces(ctx context.Context, p Principal, opts workspace.ListOptions, all bool) (workspace.Page[workspace.Workspace], error) {
	f, err := parseListOptions(opts, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[workspace.Workspace]{}, err
	}
	pg := pager[workspace.Workspace]{limit: f.limit, key: func(w workspace.Workspace) string { return w.ID }}
	err = m.view(ctx, "list workspaces", func(tx storage.Reader) error {
		pg.page = workspace.Page[workspace.Workspace]{}
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if all {
			if err := m.requirePlatform(a, rbac.ListAll); err != nil {
				return err
			}
		}
		if a.platform {
			// A search or a status filter goes through the backend's indexes when it
			// has them: its cost follows the matches, not the store.
			if s, ok := tx.(storage.WorkspaceSearcher); ok && (f.needle != "" || f.status != "") {
				return s.SearchWorkspaces(f.query(), f.after, pg.add)
			}
			return tx.ScanWorkspaces(f.after, func(w workspace.Workspace) bool {
				return !f.match(w) || pg.add(w)
			})
		}
		return m.scanMemberships(tx, a, a.user.ID, f, func(w workspace.Workspace, _ member.Member) bool {
			return pg.add(w)
		})
	})
	return pg.result(opts.Cursor, err)
}

// scanMemberships walks userID's memberships after f's cursor, in workspace order,
// and calls fn for each workspace that matches f and that a may read. A workspace
// token looks only at its own workspace.
func (m *Manager) scanMemberships(tx storage.Reader, a actor, userID string, f listFilter, fn func(workspace.Workspace, member.Member) bool) error {
	visit := func(mb member.Member) (bool, error) {
		w, err := tx.GetWorkspace(mb.WorkspaceID)
		if err != nil {
			return false, internal("read workspace", err)
		}
		var ac access
		if userID == a.user.ID {
			ac = m.accessWith(a, w, &mb)
		} else {
			ac = m.accessWith(a, w, nil) // another user's list: only platform powers count
		}
		if !f.match(w) || !m.visible(ac, w) {
			return true, nil
		}
		return fn(w, mb), nil
	}
	if a.scope != "" {
		if a.scope <= f.after {
			return nil
		}
		mb, err := tx.GetMember(a.scope, userID)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return internal("read membership", err)
		}
		_, err = visit(mb)
		return err
	}
	var ierr error
	err := tx.ScanUserMemberships(userID, f.after, func(mb member.Member) bool {
		more, err := visit(mb)
		ierr = err
		return more && err == nil
	})
	if ierr != nil {
		return ierr
	}
	return err
}

// UserWorkspace is one entry of a user's workspace switcher.
type UserWorkspace struct {
	Workspace workspace.Workspace
	Role      rbac.Role
	Owner     bool
}

// ListUserWorkspaces returns the workspaces a user belongs to that p may read, with
// the user's role in each, in workspace creation order. Users list their own (a
// workspace token: at most its workspace); System and platform users anyone's.
// Options as ListWorkspaces.
//
// Errors: ErrInvalidArgument, ErrPermissionDenied (another user's list),
// ErrUnauthenticated.
func (m *Manager) ListUserWorkspaces(ctx context.Context, p Principal, userID string, opts workspace.ListOptions) (workspace.Page[UserWorkspace], error) {
	f, err := parseListOptions(opts, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[UserWorkspace]{}, err
	}
	pg := pager[UserWorkspace]{limit: f.limit, key: func(u UserWorkspace) string { return u.Workspace.ID }}
	err = m.view(ctx, "list user workspaces", func(tx storage.Reader) error {
		pg.page = workspace.Page[UserWorkspace]{}
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if !a.platform && (a.system || a.user.ID != userID) {
			return deniedf("users may only list their own workspaces")
		}
		return m.scanMemberships(tx, a, userID, f, func(w workspace.Workspace, mb member.Member) bool {
			return pg.add(UserWorkspace{Workspace: w, Role: mb.Role, Owner: mb.Owner})
		})
	})
	return pg.result(opts.Cursor, err)
}

// WorkspaceUpdate changes a workspace's descriptive fields and, optionally, its
// status. Nil fields stay as they are.
type WorkspaceUpdate struct {
	Name        *string
	Slug        *string
	Description *string
	// Metadata replaces the whole map when non-nil; an empty map clears it.
	Metadata map[string]string
	// InstanceURL sets (or, empty, clears) the instance URL, after Metadata.
	InstanceURL *string
	// Status moves the workspace to Active or Inactive (as ReactivateWorkspace and
	// DeactivateWorkspace do), in the same transaction as the other changes.
	Status *workspace.Status
}

// UpdateWorkspace changes the name, slug, description, metadata or status, all in
// one transaction: either everything changes or nothing does. Admins may. The status
// changes first, so an inactive workspace can be renamed while it is reactivated;
// the fields change only in a workspace that is then active. A change to the same
// value is no change and records no event.
//
// Errors: ErrInvalidArgument (bad field; a status other than active or inactive),
// ErrAlreadyExists (slug taken), ErrNotFound, ErrPermissionDenied,
// ErrFailedPrecondition (inactive or deleted), ErrUnauthenticated.
func (m *Manager) UpdateWorkspace(ctx context.Context, p Principal, id string, up WorkspaceUpdate) (workspace.Workspace, error) {
	if up.Name != nil {
		if err := workspace.ValidateName(*up.Name); err != nil {
			return workspace.Workspace{}, invalid(err)
		}
	}
	if up.Slug != nil {
		if err := workspace.ValidateSlug(*up.Slug); err != nil {
			return workspace.Workspace{}, invalid(err)
		}
	}
	if up.Description != nil {
		if err := workspace.ValidateDescription(*up.Description); err != nil {
			return workspace.Workspace{}, invalid(err)
		}
	}
	if err := workspace.ValidateMetadata(up.Metadata); err != nil {
		return workspace.Workspace{}, invalid(err)
	}
	if up.InstanceURL != nil {
		if err := workspace.ValidateInstanceURL(*up.InstanceURL); err != nil {
			return workspace.Workspace{}, invalid(err)
		}
	}
	if up.Status != nil && *up.Status != workspace.Active && *up.Status != workspace.Inactive {
		return workspace.Workspace{}, invalidf("status %q must be active or inactive (delete and restore have their own calls)", string(*up.Status))
	}
	fields := up.Name != nil || up.Slug != nil || up.Description != nil || up.Metadata != nil || up.InstanceURL != nil
	now := m.now()
	var w workspace.Workspace
	err := m.update(ctx, "update workspace", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		action := rbac.UpdateWorkspace
		if up.Status != nil {
			action = rbac.ChangeStatus
		}
		var ac access
		if w, ac, err = m.workspaceAs(tx, a, id, action); err != nil {
			return err
		}
		if up.Status != nil && *up.Status != w.Status {
			typ := "workspace.reactivated"
			if *up.Status == workspace.Inactive {
				typ = "workspace.deactivated"
			}
			if err := m.moveStatus(tx, now, p, &w, *up.Status, typ); err != nil {
				return err
			}
		}
		if !fields {
			return nil
		}
		if up.Status != nil { // the fields need the update permission, in the new status
			if err := m.allowed(ac, w, rbac.UpdateWorkspace); err != nil {
				return err
			}
		}
		changed := map[string]string{}
		if up.Name != nil && *up.Name != w.Name {
			w.Name, changed["name"] = *up.Name, *up.Name
		}
		if up.Slug != nil && *up.Slug != w.Slug {
			w.Slug, changed["slug"] = *up.Slug, *up.Slug
		}
		if up.Description != nil && *up.Description != w.Description {
			w.Description, changed["description"] = *up.Description, "changed"
		}
		md := w.Metadata
		if up.Metadata != nil {
			md = maps.Clone(up.Metadata)
		}
		if up.InstanceURL != nil {
			md = maps.Clone(md)
			if md == nil {
				md = map[string]string{}
			}
			if *up.InstanceURL == "" {
				delete(md, workspace.MetadataInstanceURL)
			} else {
				md[workspace.MetadataInstanceURL] = *up.InstanceURL
			}
			if err := workspace.ValidateMetadata(md); err != nil {
				return invalid(err)
			}
		}
		if !maps.Equal(md, w.Metadata) {
			w.Metadata, changed["metadata"] = md, "changed"
			if len(w.Metadata) == 0 {
				w.Metadata = nil
			}
		}
		if len(changed) == 0 {
			return nil
		}
		w.UpdatedAt = now
		if err := tx.ReplaceWorkspace(w); err != nil {
			return workspaceConflict(err, w, "put workspace")
		}
		return m.record(tx, now, p, "workspace.updated", id, "", changed)
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

// setStatus moves a workspace between states, keeping the counters in step. With
// idempotent, a workspace already in the target state is returned unchanged;
// otherwise it must be in one of from.
func (m *Manager) setStatus(ctx context.Context, p Principal, id string, action rbac.Action, from []workspace.Status, to workspace.Status, typ string, idempotent bool) (workspace.Workspace, error) {
	now := m.now()
	var w workspace.Workspace
	err := m.update(ctx, typ, func(tx storage.ReadWriter) error {
		var err error
		if w, _, err = m.workspaceFor(tx, p, id, action); err != nil {
			return err
		}
		if w.Status == to && idempotent {
			return nil // already there: nothing to do, nothing to record
		}
		ok := false
		for _, s := range from {
			ok = ok || w.Status == s
		}
		if !ok {
			return preconditionf("workspace %q is %s, not %s", id, w.Status, strings.Join(statusNames(from), " or "))
		}
		if to == "" { // a restore: back to where the deletion found it
			to = restoredStatus(w)
		}
		return m.moveStatus(tx, now, p, &w, to, typ)
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return w, nil
}

// moveStatus changes w's status in tx, with the counters and the event.
func (m *Manager) moveStatus(tx storage.ReadWriter, now time.Time, p Principal, w *workspace.Workspace, to workspace.Status, typ string) error {
	if err := tx.AddCounter(counterFor(w.Status), -1); err != nil {
		return internal("count", err)
	}
	if err := tx.AddCounter(counterFor(to), 1); err != nil {
		return internal("count", err)
	}
	if err := moveFlagCounts(tx, *w, w.Status, to); err != nil {
		return err
	}
	prev := w.Status
	w.Status, w.UpdatedAt = to, now
	w.DeletedAt, w.DeletedFrom = time.Time{}, ""
	if to == workspace.Deleted {
		w.DeletedAt, w.DeletedFrom = now, prev
	}
	if err := tx.ReplaceWorkspace(*w); err != nil {
		return internal("put workspace", err)
	}
	return m.record(tx, now, p, typ, w.ID, "", map[string]string{"from": string(prev), "to": string(to)})
}

// restoredStatus is the status a restore gives w: the one it was deleted from, or
// active for a workspace deleted before that was recorded.
func restoredStatus(w workspace.Workspace) workspace.Status {
	if w.DeletedFrom == workspace.Inactive {
		return workspace.Inactive
	}
	return workspace.Active
}

func statusNames(ss []workspace.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// DeactivateWorkspace makes an active workspace inactive: reads and member management
// go on; writes and new tokens are refused. Admins may. Deactivating an inactive
// workspace changes nothing.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition (deleted),
// ErrUnauthenticated.
func (m *Manager) DeactivateWorkspace(ctx context.Context, p Principal, id string) (workspace.Workspace, error) {
	return m.setStatus(ctx, p, id, rbac.ChangeStatus, []workspace.Status{workspace.Active}, workspace.Inactive, "workspace.deactivated", true)
}

// ReactivateWorkspace makes an inactive workspace active again. Admins may.
//
// Errors: as DeactivateWorkspace.
func (m *Manager) ReactivateWorkspace(ctx context.Context, p Principal, id string) (workspace.Workspace, error) {
	return m.setStatus(ctx, p, id, rbac.ChangeStatus, []workspace.Status{workspace.Inactive}, workspace.Active, "workspace.reactivated", true)
}

// DeleteWorkspace soft-deletes a workspace: its data is kept and its slug stays
// reserved, but nothing works in it until it is restored; its tokens stop
// authenticating. Its owner and platform users may.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) DeleteWorkspace(ctx context.Context, p Principal, id string) (workspace.Workspace, error) {
	return m.setStatus(ctx, p, id, rbac.DeleteWorkspace, []workspace.Status{workspace.Active, workspace.Inactive}, workspace.Deleted, "workspace.deleted", true)
}

// RestoreWorkspace brings a soft-deleted workspace back to the status it had when it
// was deleted: an inactive workspace comes back inactive. The workspace.restored
// event says which ("to"). A workspace deleted before the status was recorded comes
// back active. Its owner and platform users may.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition (not deleted),
// ErrUnauthenticated.
func (m *Manager) RestoreWorkspace(ctx context.Context, p Principal, id string) (workspace.Workspace, error) {
	return m.setStatus(ctx, p, id, rbac.DeleteWorkspace, []workspace.Status{workspace.Deleted}, "", "workspace.restored", false)
}

// PurgeWorkspace removes a workspace for good, with its members, invitations, tokens
// and events, in one transaction; one workspace.purged event remains. Its slug and
// external ID become free. Only System and platform users may.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) PurgeWorkspace(ctx context.Context, p Principal, id string) error {
	now := m.now()
	return m.update(ctx, "purge workspace", func(tx storage.ReadWriter) error {
		if _, err := m.platformFor(tx, p, rbac.PurgeWorkspaces); err != nil {
			return err
		}
		w, err := tx.GetWorkspace(id)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("workspace %q not found", id)
		}
		if err != nil {
			return internal("read workspace", err)
		}
		return m.purgeIn(tx, now, p, w)
	})
}

func (m *Manager) purgeIn(tx storage.ReadWriter, now time.Time, p Principal, w workspace.Workspace) error {
	n, err := tx.PurgeWorkspace(w.ID)
	if err != nil {
		return internal("purge workspace", err)
	}
	if err := tx.AddCounter(counterFor(w.Status), -1); err != nil {
		return internal("count", err)
	}
	if err := moveFlagCounts(tx, w, w.Status, workspace.Deleted); err != nil {
		return err
	}
	return m.record(tx, now, p, "workspace.purged", w.ID, "", map[string]string{"slug": w.Slug,
		"members": fmt.Sprint(n.Members), "invitations": fmt.Sprint(n.Invitations), "tokens": fmt.Sprint(n.Tokens)})
}

// PurgeDeleted purges every workspace soft-deleted at least olderThan ago: the
// retention job. The backend finds them through an index, so the cost follows the
// number purged, not the number of workspaces. Each workspace is purged in its own
// transaction, so a large backlog never makes one huge commit. It returns how many it purged. Only System and
// platform users may.
//
// Errors: ErrInvalidArgument (negative age), ErrPermissionDenied, ErrUnauthenticated;
// on a storage failure, the count so far and the error.
func (m *Manager) PurgeDeleted(ctx context.Context, p Principal, olderThan time.Duration) (int, error) {
	if olderThan < 0 {
		return 0, invalidf("retention age must not be negative")
	}
	cutoff := m.now().Add(-olderThan)
	var due []string
	err := m.view(ctx, "find deleted workspaces", func(tx storage.Reader) error {
		if _, err := m.platformFor(tx, p, rbac.PurgeWorkspaces); err != nil {
			return err
		}
		return tx.ScanDeletedWorkspaces(cutoff, func(w workspace.Workspace) bool {
			due = append(due, w.ID)
			return true
		})
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range due {
		now := m.now()
		err := m.update(ctx, "purge workspace", func(tx storage.ReadWriter) error {
			w, err := tx.GetWorkspace(id)
			if errors.Is(err, storage.ErrNotFound) || (err == nil && w.Status != workspace.Deleted) {
				return errSkip // purged or restored meanwhile
			}
			if err != nil {
				return internal("read workspace", err)
			}
			return m.purgeIn(tx, now, p, w)
		})
		switch {
		case errors.Is(err, errSkip):
		case err != nil:
			return n, err
		default:
			n++
		}
	}
	return n, nil
}

var errSkip = errors.New("skip")

// Stats counts workspaces by state, from counters kept in the same transactions as
// every change: O(1) whatever the number of workspaces. Only System and platform
// users may.
//
// Errors: ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) Stats(ctx context.Context, p Principal) (workspace.Stats, error) {
	var s workspace.Stats
	err := m.view(ctx, "stats", func(tx storage.Reader) error {
		if _, err := m.platformFor(tx, p, rbac.ReadStats); err != nil {
			return err
		}
		var err error
		if s.Active, err = tx.Counter(counterActive); err != nil {
			return internal("read counter", err)
		}
		if s.Inactive, err = tx.Counter(counterInactive); err != nil {
			return internal("read counter", err)
		}
		if s.Deleted, err = tx.Counter(counterDeleted); err != nil {
			return internal("read counter", err)
		}
		s.Total = s.Active + s.Inactive // the seeds' total: deleted workspaces are not in use
		s.Flags, err = m.flagStats(tx)
		return err
	})
	return s, err
}

// SyncOptions adjusts SyncWorkspaces.
type SyncOptions struct {
	DryRun bool // report what would happen, change nothing
}

// MaxSyncItems bounds one sync request.
const MaxSyncItems = 1000

// SyncWorkspaces imports workspaces created in another system, by external ID, in one
// transaction: an item whose external ID exists is left untouched (sync never
// overwrites), the others are created, owned by the item's OwnerID or by the acting
// user. Running it twice creates nothing the second time. Only System and platform
// users may. Every item is validated before anything is written.
//
// Without items it imports what Options.SyncSource lists (Airbyte Embedded's sync
// of workspaces "created outside"), or, without a source, is refused with a message
// that says what to configure.
//
// Errors: ErrInvalidArgument (a bad item: the message names its index; no owner
// when System acts; no items and no source), ErrPermissionDenied,
// ErrUnauthenticated; the source's own error, wrapped.
func (m *Manager) SyncWorkspaces(ctx context.Context, p Principal, items []workspace.SyncItem, opts SyncOptions) (workspace.SyncResult, error) {
	if len(items) == 0 {
		if m.syncSource == nil {
			return workspace.SyncResult{}, invalidf("nothing to sync: send the workspaces to import, or have the host register a sync source (tenancy.Options.SyncSource) that lists them")
		}
		// The source is the host's I/O, so it runs outside the transaction; the
		// caller is checked first, so a refused call never reaches it.
		err := m.view(ctx, "sync workspaces", func(tx storage.Reader) error {
			_, err := m.platformFor(tx, p, rbac.SyncWorkspaces)
			return err
		})
		if err != nil {
			return workspace.SyncResult{}, err
		}
		if items, err = m.syncSource(ctx); err != nil {
			return workspace.SyncResult{}, fmt.Errorf("tenancy: the sync source failed: %w", err)
		}
		if len(items) == 0 {
			return workspace.SyncResult{DryRun: opts.DryRun}, nil
		}
	}
	if len(items) > MaxSyncItems {
		return workspace.SyncResult{}, invalidf("at most %d workspaces per sync, got %d", MaxSyncItems, len(items))
	}
	news := make([]NewWorkspace, len(items))
	for i, it := range items {
		if it.ExternalID == "" {
			return workspace.SyncResult{}, invalidf("workspace %d: external ID is required", i)
		}
		news[i] = NewWorkspace{Name: it.Name, Slug: it.Slug, ExternalID: it.ExternalID, OwnerID: it.OwnerID}
		if err := m.validateNew(&news[i]); err != nil {
			return workspace.SyncResult{}, invalidf("workspace %d: %s", i, err.Error())
		}
	}
	now := m.now()
	ids := make([]string, len(items))
	for i := range ids {
		ids[i] = m.ids.next("ws_", now)
	}
	var res workspace.SyncResult
	err := m.update(ctx, "sync workspaces", func(tx storage.ReadWriter) error {
		res = workspace.SyncResult{Found: len(items), DryRun: opts.DryRun}
		a, err := m.platformFor(tx, p, rbac.SyncWorkspaces)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for i, in := range news {
			_, err := tx.GetWorkspaceByExternalID(in.ExternalID)
			if err == nil || seen[in.ExternalID] {
				res.AlreadyExisted++
				continue
			}
			if !errors.Is(err, storage.ErrNotFound) {
				return internal("read workspace", err)
			}
			seen[in.ExternalID] = true
			// A dry run creates too, with every check of the real run, and is then
			// rolled back: it can never report what the real run would refuse.
			w, err := m.createAs(tx, now, a, ids[i], in, "sync")
			if err != nil {
				var e *Error
				if errors.As(err, &e) {
					return &Error{Kind: e.Kind, Message: fmt.Sprintf("workspace %d: %s", i, e.Message), Err: e.Err}
				}
				return err
			}
			res.Created++
			if !opts.DryRun {
				res.CreatedIDs = append(res.CreatedIDs, w.ID)
			}
		}
		if opts.DryRun {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return workspace.SyncResult{}, err
	}
	return res, nil
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run")

// EnsureWorkspace returns the workspace with in.ExternalID, creating it from in when
// there is none; created tells which. An existing workspace is returned as it is,
// never overwritten. External IDs name workspaces in another system the host runs, so
// only System and platform users may ensure (and set) them.
//
// Errors: as CreateWorkspace; ErrInvalidArgument when in.ExternalID is empty;
// ErrPermissionDenied without platform powers.
func (m *Manager) EnsureWorkspace(ctx context.Context, p Principal, in NewWorkspace) (w workspace.Workspace, created bool, err error) {
	if in.ExternalID == "" {
		return w, false, invalidf("external ID is required to ensure a workspace")
	}
	if err := m.validateNew(&in); err != nil {
		return w, false, err
	}
	now := m.now()
	id := m.ids.next("ws_", now)
	err = m.update(ctx, "ensure workspace", func(tx storage.ReadWriter) error {
		a, err := m.resolve(tx, p)
		if err != nil {
			return err
		}
		if !a.platform {
			return deniedf("only platform users may ensure a workspace by external ID")
		}
		found, err := tx.GetWorkspaceByExternalID(in.ExternalID)
		if err == nil {
			created = false
			w, _, err = m.workspaceAs(tx, a, found.ID, rbac.ReadWorkspace)
			return err
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return internal("read workspace", err)
		}
		created = true
		w, err = m.createAs(tx, now, a, id, in, "ensure")
		return err
	})
	if err != nil {
		return workspace.Workspace{}, false, err
	}
	return w, created, nil
}
