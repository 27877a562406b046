package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenancykit/tenancy/internal/pgtest"
)

// Every prefetch statement finds its rows through an index: with sequential scans
// priced out, no plan reads a whole table. A missing index (or a join that cannot
// use one) would make Authorize and Authenticate cost the size of the store.
func TestPrefetchPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	url, schema := pgtest.StoreSchema(t)
	s, err := Open(ctx, url, Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	explain := func(name, sql string, args ...any) {
		t.Helper()
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+s.q(sql), args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "Seq Scan on") {
			t.Errorf("%s reads a whole table:\n%s", name, text)
		}
		if !strings.Contains(text, "Index") {
			t.Errorf("%s uses no index:\n%s", name, text)
		}
	}
	for want := 1; want <= wantUser|wantToken|wantWorkspace|wantMember; want++ {
		explain("prefetch "+wantNames(want), prefetchByID(want), "u1", "tok_1", "ws_1")
	}
	explain("prefetch by hash", prefetchByHash, []byte("hash"))
	explain("prefetch a token's row", prefetchToken, []byte("hash"))
	explain("prefetch a membership row", prefetchMember, "ws_1", "u1")
}

func wantNames(want int) string {
	var names []string
	for _, n := range []struct {
		bit  int
		name string
	}{{wantUser, "user"}, {wantToken, "token"}, {wantWorkspace, "workspace"}, {wantMember, "member"}} {
		if want&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "+")
}
