package tenancy

import (
	"context"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// Event is one entry of the audit log and of the provisioning feed: who did what,
// in which workspace, when. Events never hold a secret.
type Event = storage.Event

// EventListOptions selects a page of events.
type EventListOptions struct {
	Limit  int    // 1-100; 0 means 20
	Cursor string // from a previous page; empty for the oldest events
}

// ListEvents returns one page of a workspace's audit log, oldest first. Admins may.
//
// Errors: ErrInvalidArgument (limit, cursor), ErrNotFound, ErrPermissionDenied,
// ErrFailedPrecondition (deleted workspace), ErrUnauthenticated.
func (m *Manager) ListEvents(ctx context.Context, p Principal, workspaceID string, opts EventListOptions) (_ workspace.Page[Event], err error) {
	ctx, span := m.tel.start(ctx, "ListEvents", p)
	defer func() { span.end(err) }()
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[Event]{}, err
	}
	pg := pager[Event]{limit: f.limit, key: func(e Event) string { return e.Position }}
	err = m.view(ctx, "list events", func(tx storage.Reader) error {
		pg.page = workspace.Page[Event]{}
		if _, _, err := m.workspaceFor(tx, p, workspaceID, rbac.ReadAudit); err != nil {
			return err
		}
		return tx.ScanWorkspaceEvents(workspaceID, f.after, pg.add)
	})
	return pg.result(opts.Cursor, err)
}

// Feed returns the events of every workspace after cursor, oldest first: the
// durable feed from which a host provisions per-workspace resources (a database, a
// starter kit) at least once. Keep the NextCursor of the last page you processed and
// resume from it after a restart. The cursor is the backend's feed position, which
// no later commit can sort before (see the storage contract), so nothing committed
// later is ever behind a cursor, even with many writers on one database. Only System and platform users may.
//
// Errors: ErrInvalidArgument, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) Feed(ctx context.Context, p Principal, opts EventListOptions) (_ workspace.Page[Event], err error) {
	ctx, span := m.tel.start(ctx, "Feed", p)
	defer func() { span.end(err) }()
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, workspace.DefaultLimit)
	if err != nil {
		return workspace.Page[Event]{}, err
	}
	pg := pager[Event]{limit: f.limit, key: func(e Event) string { return e.Position }}
	err = m.view(ctx, "read feed", func(tx storage.Reader) error {
		pg.page = workspace.Page[Event]{}
		if _, err := m.platformFor(tx, p, rbac.ListAll); err != nil {
			return err
		}
		return tx.ScanEvents(f.after, pg.add)
	})
	return pg.result(opts.Cursor, err)
}
