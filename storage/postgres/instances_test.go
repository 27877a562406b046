package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/postgres"
)

var ctx = context.Background()

var key = []byte("postgres-test-key-0123456789abcdef!")

// instances opens n stores on one schema, each with its own pool, and a Manager on
// each: n replicas of a host behind a load balancer.
func instances(t *testing.T, n int) ([]*tenancy.Manager, []*postgres.Store) {
	t.Helper()
	url, schema := pgtest.Schema(t)
	var ms []*tenancy.Manager
	var ss []*postgres.Store
	for range n {
		m, s := openManager(t, url, schema)
		ms, ss = append(ms, m), append(ss, s)
	}
	return ms, ss
}

// openManager opens a store on schema with the default options and a Manager on
// it, both closed when the test ends.
func openManager(t *testing.T, url, schema string) (*tenancy.Manager, *postgres.Store) {
	t.Helper()
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenancy.New(s, tenancy.Options{SecretKey: key})
	if err != nil {
		_ = s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(); _ = s.Close() })
	return m, s
}

func verify(t *testing.T, m *tenancy.Manager) {
	t.Helper()
	findings, err := m.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("Verify: %s", f)
	}
}

func register(t *testing.T, m *tenancy.Manager, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: id, Email: id + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
}

// Two instances demote and remove each other's admins at the same moment: the
// workspace keeps exactly one owner and an admin.
func TestTwoInstancesConcurrentDemotions(t *testing.T) {
	ms, _ := instances(t, 2)
	register(t, ms[0], "owner", "a1", "a2", "a3")
	for round := range 5 {
		w, err := ms[0].CreateWorkspace(ctx, tenancy.User("owner"), tenancy.NewWorkspace{Name: fmt.Sprintf("W%d", round)})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a1", "a2", "a3"} {
			if _, err := ms[1].AddMember(ctx, tenancy.User("owner"), w.ID, tenancy.NewMember{UserID: id, Role: rbac.Admin}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for i, pair := range [][2]string{{"a1", "a2"}, {"a2", "a1"}, {"a3", "owner"}, {"a1", "a3"}, {"a2", "owner"}, {"a3", "a2"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := ms[i%2]
				if i%3 == 0 {
					_ = m.RemoveMember(ctx, tenancy.User(pair[0]), w.ID, pair[1])
				} else {
					_, _ = m.ChangeRole(ctx, tenancy.User(pair[0]), w.ID, pair[1], rbac.Viewer)
				}
			}()
		}
		wg.Wait()
		members, err := ms[0].ListMembers(ctx, tenancy.User("owner"), w.ID, tenancy.MemberListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		owners, admins := 0, 0
		for _, mb := range members.Items {
			if mb.Owner {
				owners++
			}
			if mb.Role == rbac.Admin {
				admins++
			}
		}
		if owners != 1 || admins < 1 {
			t.Errorf("round %d: %d owners, %d admins", round, owners, admins)
		}
	}
	verify(t, ms[0])
}

// 8 accepts of one invitation, spread over two instances, make one membership; the
// same slug created on both makes one workspace.
func TestTwoInstancesRaces(t *testing.T) {
	ms, _ := instances(t, 2)
	register(t, ms[0], "ada", "bob")
	w, err := ms[0].CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "W"})
	if err != nil {
		t.Fatal(err)
	}
	sent, err := ms[1].InviteMember(ctx, tenancy.User("ada"), w.ID, tenancy.NewInvitation{Email: "bob@example.com", Role: rbac.Editor})
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ms[i%2].AcceptInvitation(ctx, tenancy.User("bob"), sent.Secret)
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, tenancy.ErrFailedPrecondition) && !errors.Is(err, tenancy.ErrAlreadyExists):
				t.Errorf("accept: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d accepts succeeded, want 1", ok.Load())
	}
	ok.Store(0)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := ms[i%2].CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Same", Slug: "same"})
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, tenancy.ErrAlreadyExists):
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("%d creations of one slug succeeded, want 1", ok.Load())
	}
	verify(t, ms[1])
}

// 2 instances × 8 writers while a consumer pages the feed 7 events at a time: every
// committed event is seen exactly once.
func TestTwoInstancesFeed(t *testing.T) {
	for _, feed := range []postgres.FeedStrategy{postgres.FeedTransactionIDs, postgres.FeedHeadRow} {
		t.Run(string(feed), func(t *testing.T) {
			url, schema := pgtest.Schema(t)
			var ms []*tenancy.Manager
			for range 2 {
				s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema, Feed: feed})
				if err != nil {
					t.Fatal(err)
				}
				m, err := tenancy.New(s, tenancy.Options{SecretKey: key})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = m.Close(); _ = s.Close() })
				ms = append(ms, m)
			}
			const writers, each = 8, 10
			for g := range writers {
				register(t, ms[0], fmt.Sprintf("u%d", g))
			}
			cursor := ""
			seen := map[string]int{}
			createdSeen := map[string]bool{}
			page := func() int {
				pg, err := ms[1].Feed(ctx, tenancy.System(), tenancy.EventListOptions{Limit: 7, Cursor: cursor})
				if err != nil {
					t.Error(err)
					return 0
				}
				for _, e := range pg.Items {
					seen[e.ID]++
					if e.Type == "workspace.created" {
						createdSeen[e.WorkspaceID] = true
					}
				}
				cursor = pg.NextCursor
				return len(pg.Items)
			}
			var created sync.Map
			var wg sync.WaitGroup
			for g := range writers {
				for inst := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range each {
							w, err := ms[inst].CreateWorkspace(ctx, tenancy.User(fmt.Sprintf("u%d", g)),
								tenancy.NewWorkspace{Name: fmt.Sprintf("W %d %d %d", g, inst, i)})
							if err != nil {
								t.Error(err)
								return
							}
							created.Store(w.ID, true)
						}
					}()
				}
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			for running := true; running; {
				select {
				case <-done:
					running = false
				default:
					page()
				}
			}
			// Events committed while another transaction was running appear once it
			// ends: follow the feed until every committed creation has been read.
			want := 0
			created.Range(func(any, any) bool { want++; return true })
			for deadline := time.Now().Add(time.Minute); len(createdSeen) < want && time.Now().Before(deadline); {
				if page() == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			for page() > 0 {
			}
			// Every creation committed is in what the consumer saw, once.
			all := map[string]string{} // workspace -> its creation event
			c := ""
			for {
				pg, err := ms[0].Feed(ctx, tenancy.System(), tenancy.EventListOptions{Limit: 100, Cursor: c})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range pg.Items {
					if e.Type == "workspace.created" {
						if prev, ok := all[e.WorkspaceID]; ok {
							t.Errorf("two creations of %s: %s and %s", e.WorkspaceID, prev, e.ID)
						}
						all[e.WorkspaceID] = e.ID
					}
				}
				c = pg.NextCursor
				if !pg.HasMore {
					break
				}
			}
			n := 0
			created.Range(func(k, _ any) bool {
				n++
				if ev, ok := all[k.(string)]; !ok || seen[ev] != 1 {
					t.Errorf("workspace %s: creation event %q seen %d times", k, ev, seen[ev])
				}
				return true
			})
			for id, times := range seen {
				if times != 1 {
					t.Errorf("event %s seen %d times", id, times)
				}
			}
			if n != 2*writers*each {
				t.Errorf("%d workspaces created, want %d", n, 2*writers*each)
			}
		})
	}
}

// A token revoked through one instance fails on the other at once: nothing is
// cached between instances.
func TestTwoInstancesRevocationIsImmediate(t *testing.T) {
	ms, _ := instances(t, 2)
	register(t, ms[0], "ada")
	c, err := ms[0].CreateToken(ctx, tenancy.User("ada"), tenancy.NewToken{Name: "ci", Lifetime: 3600e9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ms[1].Authenticate(ctx, c.Secret); err != nil {
		t.Fatalf("the other instance: %v", err)
	}
	if err := ms[0].RevokeToken(ctx, tenancy.User("ada"), c.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ms[1].Authenticate(ctx, c.Secret); !errors.Is(err, tenancy.ErrUnauthenticated) {
		t.Errorf("a revoked token on the other instance: %v", err)
	}
}

// Keys that differ only in case, accents or bytes stay distinct, and scans order
// them bytewise, whatever the database's collation.
func TestCollationKeepsBytesDistinct(t *testing.T) {
	url, schema := pgtest.Schema(t)
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := []string{"a", "A", "á", "a\u0301", "B", "b", "_x", "~x", "ä", "Z"}
	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		for i, id := range ids {
			if err := tx.CreateUser(userRec(id, fmt.Sprintf("u%d@example.com", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	_ = s.View(ctx, func(tx storage.Reader) error {
		return tx.ScanUsers("", func(u userT) bool { got = append(got, u.ID); return true })
	})
	want := append([]string(nil), ids...)
	sortBytes(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scan order %q, want bytewise %q", got, want)
	}
}

// A serialization failure is retried: the first attempt reads a row another
// transaction then changes, so its commit fails with 40001; the second commits.
func TestSerializationFailureIsRetried(t *testing.T) {
	url, schema := pgtest.Schema(t)
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := s.Update(ctx, func(tx storage.ReadWriter) error { return tx.AddCounter("c", 1) }); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	attempts := 0
	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		attempts++
		n, err := tx.Counter("c")
		if err != nil {
			return err
		}
		if attempts == 1 {
			// Another writer changes what this transaction read, and commits first.
			if err := other.Update(ctx, func(tx storage.ReadWriter) error { return tx.PutSetting("c-seen", []byte("x")) }); err != nil {
				return err
			}
			if err := other.Update(ctx, func(tx storage.ReadWriter) error { return tx.AddCounter("c", 10) }); err != nil {
				return err
			}
		}
		return tx.PutSetting("c-seen", []byte(fmt.Sprint(n)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || s.Stats().Retries != before.Retries+1 {
		t.Errorf("%d attempts, %d retries; want 2 and 1", attempts, s.Stats().Retries-before.Retries)
	}
	// The Manager's metrics read the same totals through storage.TxCounter.
	var tc storage.TxCounter = s
	if c := tc.TxCounts(); c.Retries != s.Stats().Retries || c.Commits != s.Stats().Commits || c.Ambiguous != 0 {
		t.Errorf("TxCounts %+v, Stats %+v", c, s.Stats())
	}
	_ = s.View(ctx, func(tx storage.Reader) error {
		if v, _ := tx.Setting("c-seen"); string(v) != "11" {
			t.Errorf("the retry read %q, want the committed 11", v)
		}
		return nil
	})
}

// One instance creates tokens while the other suspends their user: whichever
// commits first, no token escapes the suspension's mark, so every token that was
// created fails Authenticate on both instances, and Verify is clean.
func TestTwoInstancesSuspensionRacesTokenCreation(t *testing.T) {
	ms, _ := instances(t, 2)
	register(t, ms[0], "ada")
	var mu sync.Mutex
	var secrets []string
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				c, err := ms[0].CreateToken(ctx, tenancy.User("ada"), tenancy.NewToken{Name: fmt.Sprintf("t%d-%d", i, j), Lifetime: 3600e9})
				if errors.Is(err, tenancy.ErrUnauthenticated) {
					return // suspended: refused, as it must be
				}
				if err != nil {
					t.Errorf("create token: %v", err)
					return
				}
				mu.Lock()
				secrets = append(secrets, c.Secret)
				mu.Unlock()
			}
		}()
	}
	if _, err := ms[1].SuspendUser(ctx, tenancy.System(), "ada"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, s := range secrets {
		for i, m := range ms {
			if _, err := m.Authenticate(ctx, s); !errors.Is(err, tenancy.ErrUnauthenticated) {
				t.Errorf("instance %d: a token of the suspended user authenticates: %v", i, err)
			}
		}
	}
	verify(t, ms[1])
}
