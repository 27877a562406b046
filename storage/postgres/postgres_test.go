package postgres_test

import (
	"context"
	"os"
	"sort"
	"testing"

	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/storage/storagetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// opener returns a newStore for the kit: each store gets its own schema.
func opener(feed postgres.FeedStrategy) func(t *testing.T) storage.Storage {
	return func(t *testing.T) storage.Storage {
		url, schema := pgtest.Schema(t)
		s, err := postgres.Open(context.Background(), url, postgres.Options{Schema: schema, Feed: feed})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestConformance(t *testing.T) { storagetest.Run(t, opener(postgres.FeedTransactionIDs)) }

func TestConformanceHeadRowFeed(t *testing.T) { storagetest.Run(t, opener(postgres.FeedHeadRow)) }

type userT = member.User

func userRec(id, email string) member.User { return member.User{ID: id, Email: email} }

// sortBytes sorts as the contract orders keys: bytewise (Go compares strings so).
func sortBytes(s []string) { sort.Strings(s) }
