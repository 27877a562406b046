package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// openTenancy fills a tenancy store of the backend straight through the storage
// layer, in large transactions, and measures through the Manager, as a host would.
func openTenancy(backend string, cfg config, pg *pgServer, d dataset) (*system, error) {
	var store storage.Storage
	var err error
	sys := &system{name: "tenancy-" + backend}
	switch backend {
	case "memory":
		store = memory.New()
	case "bolt":
		store, err = bolt.Open(filepath.Join(cfg.dir, fmt.Sprintf("tenancy-%d.db", d.n)), bolt.Options{})
	case "postgres":
		sys.postgres = "peers_tenancy"
		var url string
		if url, err = pg.database(sys.postgres); err == nil {
			store, err = postgres.Open(ctx, withPoolSize(url), postgres.Options{})
		}
	}
	if err != nil {
		return nil, err
	}
	// New sets the store up (the key's check value, its settings) before any record.
	m, err := tenancy.New(store, tenancy.Options{SecretKey: secretKey})
	if err != nil {
		return nil, err
	}
	if err := fillTenancy(store, d); err != nil {
		return nil, err
	}
	if err := m.Close(); err != nil {
		return nil, err
	}
	if m, err = tenancy.New(store, tenancy.Options{SecretKey: secretKey}); err != nil {
		return nil, err
	}
	sys.check = func(q query) error {
		return m.Authorize(ctx, tenancy.User(q.user), q.ws, rbac.WriteContent)
	}
	sys.authenticate = func(secret string) error {
		_, err := m.Authenticate(ctx, secret)
		return err
	}
	sys.create = func(i int) error {
		_, err := m.CreateWorkspace(ctx, tenancy.User(d.userID(i%d.users)), tenancy.NewWorkspace{Name: fmt.Sprintf("Workspace %d", i)})
		return err
	}
	sys.close = func() {
		_ = m.Close()
		_ = store.Close()
	}
	return sys, nil
}

func fillTenancy(store storage.Storage, d dataset) error {
	h, err := token.NewHasher(secretKey)
	if err != nil {
		return err
	}
	const chunk = 2000
	for start := 0; start < d.users; start += chunk * 10 {
		err := store.Update(ctx, func(tx storage.ReadWriter) error {
			for u := start; u < min(start+chunk*10, d.users); u++ {
				id := d.userID(u)
				if err := tx.CreateUser(member.User{ID: id, Email: id + "@example.com", CreatedAt: t0, UpdatedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	for start := 0; start < d.n; start += chunk {
		end := min(start+chunk, d.n)
		secrets := map[int]string{}
		for i := start; i < end; i += 1 {
			if i%10 == 0 {
				secrets[i] = secretOf(i)
			}
		}
		err := store.Update(ctx, func(tx storage.ReadWriter) error {
			for i := start; i < end; i++ {
				id := d.wsID(i)
				owner := d.userID(d.memberOf(i, 0))
				w := workspace.Workspace{ID: id, Slug: fmt.Sprintf("w-%08d", i), Name: fmt.Sprintf("Workspace %d", i),
					Status: workspace.Active, OwnerID: owner, CreatedAt: t0, UpdatedAt: t0}
				if err := tx.CreateWorkspace(w); err != nil {
					return err
				}
				for j := 0; j < d.k; j++ {
					role := rbac.Editor
					if j == 0 {
						role = rbac.Admin
					}
					mb := member.Member{WorkspaceID: id, UserID: d.userID(d.memberOf(i, j)), Role: role, Owner: j == 0, JoinedAt: t0}
					if err := tx.CreateMember(mb); err != nil {
						return err
					}
				}
				if s, ok := secrets[i]; ok {
					t := token.Token{ID: "tok_" + id, Kind: token.Workspace, Name: "ci", UserID: owner,
						WorkspaceID: id, Role: rbac.Editor, Hash: h.Hash(s), Hint: token.Hint(s), CreatedAt: t0,
						ExpiresAt: t0.Add(100 * 365 * 24 * time.Hour)}
					if err := tx.CreateToken(t); err != nil {
						return err
					}
				}
			}
			return tx.AddCounter(tenancy.CounterActiveWorkspaces, int64(end-start))
		})
		if err != nil {
			return err
		}
	}
	return nil
}
