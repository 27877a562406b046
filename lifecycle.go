package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// The workspace lifecycle: the status machine (active, inactive, deleted), with its
// counters, and deletion, restore and purge.

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
func (m *Manager) DeactivateWorkspace(ctx context.Context, p Principal, id string) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "DeactivateWorkspace", p)
	defer func() { span.end(err) }()
	return m.setStatus(ctx, p, id, rbac.ChangeStatus, []workspace.Status{workspace.Active}, workspace.Inactive, "workspace.deactivated", true)
}

// ReactivateWorkspace makes an inactive workspace active again. Admins may.
//
// Errors: as DeactivateWorkspace.
func (m *Manager) ReactivateWorkspace(ctx context.Context, p Principal, id string) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "ReactivateWorkspace", p)
	defer func() { span.end(err) }()
	return m.setStatus(ctx, p, id, rbac.ChangeStatus, []workspace.Status{workspace.Inactive}, workspace.Active, "workspace.reactivated", true)
}

// DeleteWorkspace soft-deletes a workspace: its data is kept and its slug stays
// reserved, but nothing works in it until it is restored; its tokens stop
// authenticating. Its owner and platform users may.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) DeleteWorkspace(ctx context.Context, p Principal, id string) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "DeleteWorkspace", p)
	defer func() { span.end(err) }()
	return m.setStatus(ctx, p, id, rbac.DeleteWorkspace, []workspace.Status{workspace.Active, workspace.Inactive}, workspace.Deleted, "workspace.deleted", true)
}

// RestoreWorkspace brings a soft-deleted workspace back to the status it had when it
// was deleted: an inactive workspace comes back inactive. The workspace.restored
// event says which ("to"). A workspace deleted before the status was recorded comes
// back active. Its owner and platform users may.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrFailedPrecondition (not deleted),
// ErrUnauthenticated.
func (m *Manager) RestoreWorkspace(ctx context.Context, p Principal, id string) (_ workspace.Workspace, err error) {
	ctx, span := m.tel.start(ctx, "RestoreWorkspace", p)
	defer func() { span.end(err) }()
	return m.setStatus(ctx, p, id, rbac.DeleteWorkspace, []workspace.Status{workspace.Deleted}, "", "workspace.restored", false)
}

// PurgeWorkspace removes a workspace for good, with its members, invitations, tokens
// and events, in one transaction; one workspace.purged event remains. Its slug and
// external ID become free. Only System and platform users may.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) PurgeWorkspace(ctx context.Context, p Principal, id string) (err error) {
	ctx, span := m.tel.start(ctx, "PurgeWorkspace", p)
	defer func() { span.end(err) }()
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
	// The workspace's webhooks go with it (after the workspace.purged event below
	// no deliverer of theirs remains to deliver it: platform endpoints do).
	var hooks []string
	if err := tx.ScanWorkspaceWebhooks(w.ID, "", func(e webhook.Endpoint) bool { hooks = append(hooks, e.ID); return true }); err != nil {
		return internal("list the workspace's webhooks", err)
	}
	for _, id := range hooks {
		if err := m.dropWebhook(tx, id); err != nil {
			return err
		}
	}
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
func (m *Manager) PurgeDeleted(ctx context.Context, p Principal, olderThan time.Duration) (_ int, err error) {
	ctx, span := m.tel.start(ctx, "PurgeDeleted", p)
	defer func() { span.end(err) }()
	if olderThan < 0 {
		return 0, invalidf("retention age must not be negative")
	}
	cutoff := m.now().Add(-olderThan)
	var due []string
	err = m.view(ctx, "find deleted workspaces", func(tx storage.Reader) error {
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
