package tenancy

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// Sync: workspaces created in another system, imported by external ID.

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
func (m *Manager) SyncWorkspaces(ctx context.Context, p Principal, items []workspace.SyncItem, opts SyncOptions) (_ workspace.SyncResult, err error) {
	ctx, span := m.tel.start(ctx, "SyncWorkspaces", p)
	defer func() { span.end(err) }()
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
	err = m.update(ctx, "sync workspaces", func(tx storage.ReadWriter) error {
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
	ctx, span := m.tel.start(ctx, "EnsureWorkspace", p)
	defer func() { span.end(err) }()
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
