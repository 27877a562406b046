package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/storage/storagetest"
)

// Through pgbouncer in transaction pooling mode: two instances migrate a fresh
// schema at once, concurrent writers (serialization failures retried) and the
// feed work, Verify is clean, and the conformance kit passes.
func TestThroughPgBouncer(t *testing.T) {
	bouncer := pgtest.BouncerURL(t)
	_, schema := pgtest.Schema(t)
	stores := make([]*postgres.Store, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(ctx, bouncer, postgres.Options{Schema: schema})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: migrate through pgbouncer: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms := make([]*tenancy.Manager, 2)
	for i, s := range stores {
		m, err := tenancy.New(s, tenancy.Options{SecretKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ms[i] = m
	}
	sys := tenancy.System()
	if _, err := ms[0].RegisterUser(ctx, sys, tenancy.NewUser{ID: "owner", Email: "owner@example.com"}); err != nil {
		t.Fatal(err)
	}
	shared, err := ms[0].CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: "Shared", OwnerID: "owner"})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 10
	errc := make(chan error, writers*each)
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := ms[g%2]
			for i := range each {
				id := fmt.Sprintf("u-%d-%d", g, i)
				if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: id, Email: id + "@example.com"}); err != nil {
					errc <- err
					continue
				}
				// Every writer adds to one workspace: its member counter is a
				// row they all change, so serialization failures come and are retried.
				if _, err := m.AddMember(ctx, sys, shared.ID, tenancy.NewMember{UserID: id, Role: rbac.Viewer}); err != nil {
					errc <- err
				}
				if _, err := m.CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: "w " + id, OwnerID: id}); err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	page, err := ms[1].ListMembers(ctx, sys, shared.ID, tenancy.MemberListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != writers*each+1 {
		t.Errorf("%d members, want %d", len(page.Items), writers*each+1)
	}
	// A durable consumer reads the whole feed through the pooler.
	created := 0
	for {
		res, err := ms[1].ConsumeStep(ctx, sys, "counter", tenancy.ConsumeOptions{Instance: "test"}, func(_ context.Context, e tenancy.Event) error {
			if e.Type == "workspace.created" {
				created++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Handled == 0 && res.Passed == 0 {
			break
		}
	}
	if created != writers*each+1 {
		t.Errorf("the consumer saw %d workspace.created events, want %d", created, writers*each+1)
	}
	for _, m := range ms {
		findings, err := m.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range findings {
			t.Errorf("verify: %v", f)
		}
	}
	t.Logf("retries: %d + %d", stores[0].TxCounts().Retries, stores[1].TxCounts().Retries)

	t.Run("conformance", func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Storage {
			_, schema := pgtest.StoreSchema(t)
			s, err := postgres.Open(context.Background(), bouncer, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, storagetest.WithoutPrincipalGrid("TestConformanceHeadRowFeed runs the principal grid on PostgreSQL"), pgCapabilities)
	})
}
