package tenancy

import (
	"context"
	"errors"
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
// Without a slug, the name's own (workspace.SlugFromName) is used, or when another
// workspace holds it, the name's with a short suffix from the new ID.
//
// A workspace token, or a token capped below admin, cannot create workspaces; only
// platform powers name another owner or set an external ID.
//
// Errors: ErrInvalidArgument (bad fields, unknown starter kit, unknown owner),
// ErrAlreadyExists (the slug or external ID is taken), ErrPermissionDenied (a
// workspace token, a capped token, a non-platform user naming another owner or an
// external ID), ErrUnauthenticated.
func (m *Manager) CreateWorkspace(ctx context.Context, p Principal, in NewWorkspace) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "CreateWorkspace", p)
	defer func() { span.end(err) }()
	if err := m.validateNew(&in); err != nil {
		return workspace.Workspace{}, err
	}
	now := m.now()
	// A derived slug is tried without reading the slug index first: such a read
	// inside the serializable write makes concurrent creators conflict (and retry)
	// on a SQL backend, and in a transaction of its own it costs every creation two
	// more round trips. Most names' slug is free; a taken one costs one refused
	// insert, then the next candidate, which the ID's random tail makes free.
	derived := in.Slug == ""
	for attempt := 0; ; attempt++ {
		var w workspace.Workspace
		err := m.update(ctx, "create workspace", func(tx storage.ReadWriter) error {
			// The ID is drawn inside the transaction: a backend that runs one writer
			// at a time (memory, bolt) then commits IDs in the order they grow, so its
			// index entries append at the end of their lists instead of landing inside.
			id := m.ids.next("ws_", now)
			want := in
			if derived {
				want.Slug = slugCandidate(in.Name, id, attempt)
			}
			var err error
			w, err = m.createIn(tx, now, p, id, want, "")
			return err
		})
		if derived && storage.ConflictIndex(err) == storage.IndexWorkspaceSlug {
			if attempt+1 < slugCandidates {
				continue
			}
			return workspace.Workspace{}, existsf("could not derive a free slug from %q: pass one", in.Name)
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
	// The owner must be a registered user; the actor, read by resolve in this same
	// transaction, is one already.
	if ownerID != a.user.ID {
		if _, err := tx.GetUser(ownerID); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return workspace.Workspace{}, invalidf("owner %q is not a registered user", ownerID)
			}
			return workspace.Workspace{}, internal("read owner", err)
		}
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
	for i := range slugCandidates {
		cand := slugCandidate(name, id, i)
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

// slugCandidates is how many slugs a workspace without one may take: its name's
// own, then suffixed with four and six characters of its ID's random tail, which
// makes them free without another lookup loop.
const slugCandidates = 3

// slugCandidate returns candidate i (0 ≤ i < slugCandidates) for a workspace named
// name with ID id.
func slugCandidate(name, id string, i int) string {
	base := workspace.SlugFromName(name)
	if base == "" {
		base = "workspace"
	}
	tail := strings.ToLower(id[len(id)-6:])
	switch i {
	case 0:
		return base
	case 1:
		return suffixSlug(base, tail[:4])
	}
	return suffixSlug(base, tail)
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
func (m *Manager) GetWorkspace(ctx context.Context, p Principal, id string) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "GetWorkspace", p)
	defer func() { span.end(err) }()
	var w workspace.Workspace
	err = m.view(ctx, "get workspace", func(tx storage.Reader) error {
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
func (m *Manager) GetWorkspaceBySlug(ctx context.Context, p Principal, slug string) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "GetWorkspaceBySlug", p)
	defer func() { span.end(err) }()
	if err := workspace.ValidateSlug(slug); err != nil {
		return workspace.Workspace{}, invalid(err)
	}
	var w workspace.Workspace
	err = m.view(ctx, "get workspace", func(tx storage.Reader) error {
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
func (m *Manager) UpdateWorkspace(ctx context.Context, p Principal, id string, up WorkspaceUpdate) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "UpdateWorkspace", p)
	defer func() { span.end(err) }()
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
	err = m.update(ctx, "update workspace", func(tx storage.ReadWriter) error {
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

// Stats counts workspaces by state, from counters kept in the same transactions as
// every change: O(1) whatever the number of workspaces. Only System and platform
// users may.
//
// Errors: ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) Stats(ctx context.Context, p Principal) (_ workspace.Stats, err error) {
	ctx, span := m.tel.start(ctx, "Stats", p)
	defer func() { span.end(err) }()
	var s workspace.Stats
	err = m.view(ctx, "stats", func(tx storage.Reader) error {
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
