package tenancy

import (
	"context"
	"errors"
	"io"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
)

// ErrNoBackup is the cause of Backup's ErrFailedPrecondition on a store that
// cannot copy itself (storage.Backuper): the memory backend, and PostgreSQL, which
// pg_dump backs up.
var ErrNoBackup = errors.New("tenancy: this store cannot write a copy of itself")

// Backup writes a consistent copy of the whole store to w while it keeps serving
// (on bbolt: one read transaction, bbolt's Tx.WriteTo) and returns the bytes
// written. The copy opens with the same backend and Options.SecretKey, and passes
// Verify. It holds every tenant's data and the hashes of every secret, so only
// platform powers may take one (rbac.Backup; System included).
//
// Errors: ErrPermissionDenied, ErrUnauthenticated, ErrFailedPrecondition (the
// store cannot copy itself: ErrNoBackup), or the writer's error.
func (m *Manager) Backup(ctx context.Context, p Principal, w io.Writer) (_ int64, err error) {
	ctx, span := m.tel.start(ctx, "Backup", p)
	defer func() { span.end(err) }()
	if err := m.AuthorizePlatform(ctx, p, rbac.Backup); err != nil {
		return 0, err
	}
	b, ok := m.store.(storage.Backuper)
	if !ok {
		e := newErr(ErrFailedPrecondition, "this store cannot write a copy of itself: back up PostgreSQL with pg_dump")
		e.Err = ErrNoBackup
		return 0, e
	}
	n, err := b.Backup(ctx, w)
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		return n, storageErr("backup", err)
	}
	return n, nil
}
