package tenancy

import (
	"context"
	"errors"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/workspace"
)

// NewUser describes a user to register.
type NewUser struct {
	ID    string // the host's user ID
	Email string // normalised: trimmed, ASCII letters lowercased
	Name  string
}

// RegisterUser records a user of the host application. Only System and platform
// users register users; tenancy never authenticates people itself.
//
// Errors: ErrInvalidArgument (bad ID, email or name), ErrAlreadyExists (the ID or
// the email is taken), ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) RegisterUser(ctx context.Context, p Principal, in NewUser) (member.User, error) {
	email, err := member.NormalizeEmail(in.Email)
	if err != nil {
		return member.User{}, invalid(err)
	}
	if err := member.ValidateUserID(in.ID); err != nil {
		return member.User{}, invalid(err)
	}
	if err := member.ValidateName(in.Name); err != nil {
		return member.User{}, invalid(err)
	}
	now := m.now()
	u := member.User{ID: in.ID, Email: email, Name: in.Name, CreatedAt: now, UpdatedAt: now}
	err = m.update(ctx, "register user", func(tx storage.Tx) error {
		if _, err := m.platformFor(tx, p, rbac.ManageUsers); err != nil {
			return err
		}
		if err := tx.CreateUser(u); err != nil {
			return userConflict(err, u)
		}
		return m.record(tx, now, p, "user.registered", "", u.ID, map[string]string{"email": u.Email})
	})
	if err != nil {
		return member.User{}, err
	}
	return u, nil
}

// userConflict turns a failed insert of u into the Manager's error.
func userConflict(err error, u member.User) error {
	switch storage.ConflictIndex(err) {
	case storage.IndexUserID:
		return existsf("user %q already exists", u.ID)
	case storage.IndexUserEmail:
		return existsf("email %q is already registered", u.Email)
	}
	return internal("create user", err)
}

// GetUser returns a user by ID. Users may read themselves (with any of their tokens);
// System and platform users (signed in, or with a personal token that is uncapped or
// capped at platform) may read anyone.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) GetUser(ctx context.Context, p Principal, userID string) (member.User, error) {
	var u member.User
	err := m.view(ctx, "get user", func(tx storage.Tx) error {
		var err error
		u, err = m.readUser(tx, p, func() (member.User, error) { return tx.GetUser(userID) })
		return err
	})
	return u, err
}

// GetUserByEmail returns a user by email, normalised first. Same rules as GetUser.
//
// Errors: ErrInvalidArgument (not an email), ErrNotFound, ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) GetUserByEmail(ctx context.Context, p Principal, email string) (member.User, error) {
	e, err := member.NormalizeEmail(email)
	if err != nil {
		return member.User{}, invalid(err)
	}
	var u member.User
	err = m.view(ctx, "get user", func(tx storage.Tx) error {
		var err error
		u, err = m.readUser(tx, p, func() (member.User, error) { return tx.GetUserByEmail(e) })
		return err
	})
	return u, err
}

func (m *Manager) readUser(tx storage.Tx, p Principal, load func() (member.User, error)) (member.User, error) {
	a, err := m.resolve(tx, p)
	if err != nil {
		return member.User{}, err
	}
	u, err := load()
	if errors.Is(err, storage.ErrNotFound) {
		if a.platform {
			return u, notFoundf("user not found")
		}
		return u, deniedf("users may only read their own record")
	}
	if err != nil {
		return u, internal("read user", err)
	}
	if !a.mayReadUser(u) {
		return member.User{}, deniedf("users may only read their own record")
	}
	return u, nil
}

// SetPlatform grants (on) or withdraws (off) a user's platform attribute, which
// allows cross-workspace operations. Only System and platform users may: the grant
// ceiling means nobody below platform grants platform.
//
// Errors: ErrNotFound, ErrPermissionDenied, ErrUnauthenticated.
func (m *Manager) SetPlatform(ctx context.Context, p Principal, userID string, on bool) (member.User, error) {
	now := m.now()
	var u member.User
	err := m.update(ctx, "set platform", func(tx storage.Tx) error {
		if _, err := m.platformFor(tx, p, rbac.ManageUsers); err != nil {
			return err
		}
		var err error
		u, err = tx.GetUser(userID)
		if errors.Is(err, storage.ErrNotFound) {
			return notFoundf("user %q not found", userID)
		}
		if err != nil {
			return internal("read user", err)
		}
		if u.Platform == on {
			return nil
		}
		u.Platform, u.UpdatedAt = on, now
		if err := tx.PutUser(u); err != nil {
			return internal("put user", err)
		}
		typ := "user.platform_granted"
		if !on {
			typ = "user.platform_revoked"
		}
		return m.record(tx, now, p, typ, "", u.ID, nil)
	})
	if err != nil {
		return member.User{}, err
	}
	return u, nil
}

// ListUsers returns one page of registered users, by ID. Only System and platform
// users may.
//
// Errors: ErrInvalidArgument (limit, cursor), ErrPermissionDenied,
// ErrUnauthenticated.
func (m *Manager) ListUsers(ctx context.Context, p Principal, opts MemberListOptions) (workspace.Page[member.User], error) {
	f, err := parseListOptions(workspace.ListOptions{Limit: opts.Limit, Cursor: opts.Cursor}, DefaultMemberLimit)
	if err != nil {
		return workspace.Page[member.User]{}, err
	}
	pg := pager[member.User]{limit: f.limit, key: func(u member.User) string { return u.ID }}
	err = m.view(ctx, "list users", func(tx storage.Tx) error {
		pg.page = workspace.Page[member.User]{}
		if _, err := m.platformFor(tx, p, rbac.ManageUsers); err != nil {
			return err
		}
		return tx.ScanUsers(f.after, pg.add)
	})
	return pg.result(opts.Cursor, err)
}
