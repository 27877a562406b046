package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage/postgres"
)

// A host with several instances opens the same database on each, with the same
// secret key. (Not run: it needs a database.)
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("TENANCY_DATABASE_URL"), postgres.Options{Schema: "tenancy"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	m, err := tenancy.New(store, tenancy.Options{SecretKey: []byte(os.Getenv("TENANCY_SECRET_KEY"))})
	if err != nil {
		log.Fatal(err) // ErrSecretKeyMismatch if another instance uses another key
	}
	defer m.Close()
	lag, err := store.FeedLag(ctx)
	if err == nil && lag.Hidden > 0 {
		log.Printf("feed: %d events wait behind a transaction open for %s", lag.Hidden, lag.OldestTransaction)
	}
}

// A host that already has a pool hands it over; Close leaves it open.
func ExampleNew() {
	pool, err := pgxpool.New(context.Background(), os.Getenv("TENANCY_DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := postgres.New(pool, postgres.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// On a PostgreSQL-compatible distributed engine (no xid8, no pg_trgm, no advisory
// locks), start from Portable and set the rest. Every instance on the database
// uses the same options. (Not run: it needs a database.)
func Example_portable() {
	opts := postgres.Portable
	opts.Schema = "tenancy"
	store, err := postgres.Open(context.Background(), os.Getenv("TENANCY_DATABASE_URL"), opts)
	if err != nil {
		log.Fatal(err) // ErrSchema if the schema was made for the transaction-ID feed
	}
	defer store.Close()
}
