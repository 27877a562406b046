package tenancy

import (
	"context"
	"errors"
	"strings"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// Listing and paging: the list filters, the pager every list uses, and the lists of
// workspaces (a member's, everyone's, a user's).

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
func (m *Manager) ListWorkspaces(ctx context.Context, p Principal, opts workspace.ListOptions) (_ workspace.Page[workspace.Workspace], err error) {
	ctx, span := m.tel.start(ctx, "ListWorkspaces", p)
	defer func() { span.end(err) }()
	return m.listWorkspaces(ctx, p, opts, false)
}

// ListAllWorkspaces is ListWorkspaces for the admin listing (Tell's GET
// /admin/workspaces): every workspace, and only for System and platform users;
// anyone else is refused rather than shown their own.
//
// Errors: as ListWorkspaces, and ErrPermissionDenied.
func (m *Manager) ListAllWorkspaces(ctx context.Context, p Principal, opts workspace.ListOptions) (_ workspace.Page[workspace.Workspace], err error) {
	ctx, span := m.tel.start(ctx, "ListAllWorkspaces", p)
	defer func() { span.end(err) }()
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
func (m *Manager) ListUserWorkspaces(ctx context.Context, p Principal, userID string, opts workspace.ListOptions) (_ workspace.Page[UserWorkspace], err error) {
	ctx, span := m.tel.start(ctx, "ListUserWorkspaces", p)
	defer func() { span.end(err) }()
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
