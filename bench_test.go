package tenancy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// benchDir holds the bbolt fixtures, shared by every benchmark of one test binary.
var benchDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	pgtest.Stop()
	os.Exit(code)
}

// fixture is a store of n workspaces, each owned by its own user, plus a platform
// user "plat".
type fixture struct {
	m      *tenancy.Manager
	store  storage.Storage
	wsIDs  []string
	owners []tenancy.Principal
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

// getFixture builds a fixture once per test binary, straight through the storage
// layer in large transactions, never in a timed loop. Workspace i is named
// "Workspace %07d".
func getFixture(b *testing.B, backend string, n int) *fixture {
	return buildFixture(b, backend, n, false)
}

// getInactiveFixture is getFixture with every hundredth workspace inactive (1%).
func getInactiveFixture(b *testing.B, backend string, n int) *fixture {
	return buildFixture(b, backend, n, true)
}

func buildFixture(b *testing.B, backend string, n int, someInactive bool) *fixture {
	b.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	key := fmt.Sprintf("%s/%d/%v", backend, n, someInactive)
	if f, ok := fixtures[key]; ok {
		return f
	}
	var store storage.Storage
	switch backend {
	case "memory":
		store = memory.New()
	case "bolt":
		if benchDir == "" {
			d, err := os.MkdirTemp("", "tenancy-bench-")
			if err != nil {
				b.Fatal(err)
			}
			benchDir = d
		}
		file := fmt.Sprintf("%d.db", n)
		if someInactive {
			file = fmt.Sprintf("%d-inactive.db", n)
		}
		s, err := bolt.Open(filepath.Join(benchDir, file), bolt.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		store = s
	case "postgres":
		store = openBenchPostgres(b, true)
	}

	f := &fixture{store: store}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := ulid.Timestamp(t0)
	// bbolt splits its nodes only at commit: a transaction of 10,000 workspaces
	// (250,000 gram keys) spends a minute shifting keys inside unsplit nodes.
	chunk := 10000
	if backend == "bolt" {
		chunk = 500
	}
	for start := 0; start < n; start += chunk {
		err := store.Update(ctx, func(tx storage.ReadWriter) error {
			inactive := 0
			if start == 0 {
				if err := tx.CreateUser(member.User{ID: "plat", Email: "plat@example.com", Platform: true, CreatedAt: t0}); err != nil {
					return err
				}
			}
			for i := start; i < min(start+chunk, n); i++ {
				uid := fmt.Sprintf("u%07d", i)
				id := "ws_" + ulid.MustNew(ms+uint64(i), ulid.DefaultEntropy()).String()
				if err := tx.CreateUser(member.User{ID: uid, Email: uid + "@example.com", CreatedAt: t0}); err != nil {
					return err
				}
				w := workspace.Workspace{ID: id, Slug: fmt.Sprintf("w-%07d", i), Name: fmt.Sprintf("Workspace %07d", i),
					Status: workspace.Active, OwnerID: uid, CreatedAt: t0, UpdatedAt: t0}
				if someInactive && i%100 == 0 {
					w.Status = workspace.Inactive
					inactive++
				}
				if err := tx.CreateWorkspace(w); err != nil {
					return err
				}
				if err := tx.CreateMember(member.Member{WorkspaceID: id, UserID: uid, Role: rbac.Admin, Owner: true, JoinedAt: t0}); err != nil {
					return err
				}
				f.wsIDs = append(f.wsIDs, id)
				f.owners = append(f.owners, tenancy.User(uid))
			}
			if err := tx.AddCounter("workspaces.inactive", int64(inactive)); err != nil {
				return err
			}
			return tx.AddCounter(tenancy.CounterActiveWorkspaces, int64(min(chunk, n-start)-inactive))
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	m, err := tenancy.New(store, tenancy.Options{SecretKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	f.m = m
	fixtures[key] = f
	return f
}

var benchBackends = []string{"memory", "bolt"}

// contractBackends run the benchmarks whose names the PostgreSQL backend's targets
// use; PostgreSQL is skipped, saying how to get it, where there is none.
var contractBackends = []string{"memory", "bolt", "postgres"}

// openBenchPostgres opens a store in a fresh schema of the test server, with a pool
// large enough for the parallel benchmarks. kept: the schema outlives the benchmark
// (cached fixtures).
func openBenchPostgres(b *testing.B, kept bool) *postgres.Store {
	b.Helper()
	var url, schema string
	if kept {
		url, schema = pgtest.KeptSchema(b)
	} else {
		url, schema = pgtest.Schema(b)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	s, err := postgres.Open(ctx, url+sep+"pool_max_conns=16", postgres.Options{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRoundTrip is one SELECT 1 on the PostgreSQL pool: the unit the
// backend's Authorize and Authenticate are measured in.
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("postgres", func(b *testing.B) {
		f := getFixture(b, "postgres", 10000)
		pool := f.store.(*postgres.Store).Pool()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var one int
			if err := pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// managerStore remembers the store under each benchmark Manager, for fixtures.
var managerStore = map[*tenancy.Manager]storage.Storage{}

// BenchmarkAuthorize checks a member's permission in one of 10,000 workspaces.
func BenchmarkAuthorize(b *testing.B) {
	for _, backend := range contractBackends {
		b.Run(backend, func(b *testing.B) {
			f := getFixture(b, backend, 10000)
			n := len(f.wsIDs)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := (i * 7919) % n // spread over the fixture, not one hot key
				if err := f.m.Authorize(ctx, f.owners[k], f.wsIDs[k], rbac.WriteContent); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkListWorkspaces reads one page of 20 from the middle of the list by cursor.
func BenchmarkListWorkspaces(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend, func(b *testing.B) {
			for _, n := range []int{1000, 100000} {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					f := getFixture(b, backend, n)
					cursor := workspace.EncodeCursor(f.wsIDs[n/2])
					plat := tenancy.User("plat")
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						pg, err := f.m.ListWorkspaces(ctx, plat, workspace.ListOptions{Limit: 20, Cursor: cursor})
						if err != nil || len(pg.Items) != 20 {
							b.Fatal(len(pg.Items), err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkStats reads the workspace statistics.
func BenchmarkStats(b *testing.B) {
	b.Run("bolt", func(b *testing.B) {
		for _, n := range []int{1000, 100000} {
			b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
				f := getFixture(b, "bolt", n)
				plat := tenancy.User("plat")
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s, err := f.m.Stats(ctx, plat)
					if err != nil || s.Active != int64(n) {
						b.Fatal(s, err)
					}
				}
			})
		}
	})
}

// newCreateManager returns a Manager over a fresh store with one user, "owner".
// bolt syncs to disk on every commit, as in production.
func newCreateManager(b *testing.B, backend string) *tenancy.Manager {
	b.Helper()
	var store storage.Storage = memory.New()
	switch backend {
	case "bolt":
		s, err := bolt.Open(filepath.Join(b.TempDir(), "create.db"), bolt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		store = s
	case "postgres":
		store = openBenchPostgres(b, false)
	}
	b.Cleanup(func() { store.Close() })
	m, err := tenancy.New(store, tenancy.Options{SecretKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	fixturesMu.Lock()
	managerStore[m] = store
	fixturesMu.Unlock()
	if _, err := m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "owner", Email: "owner@example.com"}); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkCreateWorkspace creates workspaces one after another.
func BenchmarkCreateWorkspace(b *testing.B) {
	for _, backend := range contractBackends {
		b.Run(backend, func(b *testing.B) {
			m := newCreateManager(b, backend)
			p := tenancy.User("owner")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: fmt.Sprintf("Workspace %d", i)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCreateWorkspaceParallel creates workspaces from 32 goroutines per core:
// on memory they take turns at the one writer (and their IDs, drawn inside the
// write, still reach the name index in order); on bolt concurrent commits share one
// fsync (group commit); on PostgreSQL they run
// as concurrent SERIALIZABLE transactions, and the share of commits that had to be
// retried after a serialization failure is reported as retries/commit.
func BenchmarkCreateWorkspaceParallel(b *testing.B) {
	for _, backend := range []string{"memory", "bolt", "postgres"} {
		b.Run(backend, func(b *testing.B) { benchCreateParallel(b, backend) })
	}
}

func benchCreateParallel(b *testing.B, backend string) {
	{
		m := newCreateManager(b, backend)
		var before postgres.Stats
		pg, _ := managerStore[m].(*postgres.Store)
		if pg != nil {
			before = pg.Stats()
		}
		p := tenancy.User("owner")
		var mu sync.Mutex
		next := 0
		b.ReportAllocs()
		b.SetParallelism(32)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mu.Lock()
				next++
				i := next
				mu.Unlock()
				if _, err := m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: fmt.Sprintf("Workspace %d", i)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		if pg != nil {
			st := pg.Stats()
			if commits := st.Commits - before.Commits; commits > 0 {
				b.ReportMetric(float64(st.Retries-before.Retries)/float64(commits), "retries/commit")
			}
		}
	}
}

// memberFixture is one workspace of 10,000 members, built once per backend.
type memberFixture struct {
	m       *tenancy.Manager
	wsID    string
	userIDs []string
}

var memberFixtures = map[string]*memberFixture{}

func getMemberFixture(b *testing.B, backend string) *memberFixture {
	b.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f, ok := memberFixtures[backend]; ok {
		return f
	}
	store := openBenchStore(b, backend, "members")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &memberFixture{wsID: "ws_" + ulid.MustNew(ulid.Timestamp(t0), ulid.DefaultEntropy()).String()}
	err := store.Update(ctx, func(tx storage.ReadWriter) error {
		if err := tx.CreateWorkspace(workspace.Workspace{ID: f.wsID, Slug: "big", Name: "Big", Status: workspace.Active, OwnerID: "m000000", CreatedAt: t0}); err != nil {
			return err
		}
		for i := 0; i < 10000; i++ {
			uid := fmt.Sprintf("m%06d", i)
			if err := tx.CreateUser(member.User{ID: uid, Email: uid + "@example.com", CreatedAt: t0}); err != nil {
				return err
			}
			role := rbac.Viewer
			if i == 0 {
				role = rbac.Admin
			}
			if err := tx.CreateMember(member.Member{WorkspaceID: f.wsID, UserID: uid, Role: role, Owner: i == 0, JoinedAt: t0}); err != nil {
				return err
			}
			f.userIDs = append(f.userIDs, uid)
		}
		err := tx.AddCounter(tenancy.CounterActiveWorkspaces, 1)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if f.m, err = tenancy.New(store, tenancy.Options{SecretKey: testKey}); err != nil {
		b.Fatal(err)
	}
	memberFixtures[backend] = f
	return f
}

// openBenchStore opens a store for a shared fixture: bbolt files live in benchDir.
func openBenchStore(b *testing.B, backend, name string) storage.Storage {
	b.Helper()
	if backend == "memory" {
		return memory.New()
	}
	if benchDir == "" {
		d, err := os.MkdirTemp("", "tenancy-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	}
	s, err := bolt.Open(filepath.Join(benchDir, name+".db"), bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkListMembers reads one page of 50 from the middle of a workspace of 10,000
// members, by cursor.
func BenchmarkListMembers(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend, func(b *testing.B) {
			f := getMemberFixture(b, backend)
			cursor := workspace.EncodeCursor(f.userIDs[5000])
			p := tenancy.User(f.userIDs[1])
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pg, err := f.m.ListMembers(ctx, p, f.wsID, tenancy.MemberListOptions{Cursor: cursor})
				if err != nil || len(pg.Items) != 50 {
					b.Fatal(len(pg.Items), err)
				}
			}
		})
	}
}

// BenchmarkAcceptInvitation accepts invitations, each by its own invited user. The
// users and invitations are made beforehand, straight through storage; bbolt syncs
// every commit, as in production.
func BenchmarkAcceptInvitation(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend, func(b *testing.B) {
			m := newCreateManager(b, backend)
			w, err := m.CreateWorkspace(ctx, tenancy.User("owner"), tenancy.NewWorkspace{Name: "Team"})
			if err != nil {
				b.Fatal(err)
			}
			store := managerStore[m]
			h, _ := token.NewHasher(testKey)
			secrets := make([]string, b.N)
			now := time.Now().UTC()
			for start := 0; start < b.N; start += 5000 {
				err := store.Update(ctx, func(tx storage.ReadWriter) error {
					for i := start; i < min(start+5000, b.N); i++ {
						uid := fmt.Sprintf("inv%07d", i)
						if err := tx.CreateUser(member.User{ID: uid, Email: uid + "@example.com"}); err != nil {
							return err
						}
						s, err := token.NewSecret("tnci", nil)
						if err != nil {
							return err
						}
						secrets[i] = s
						err = tx.CreateInvitation(member.Invitation{ID: "inv_" + uid, WorkspaceID: w.ID, Email: uid + "@example.com",
							Role: rbac.Editor, InviterID: "owner", SecretHash: h.Hash(s), CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
						if err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.AcceptInvitation(ctx, tenancy.User(fmt.Sprintf("inv%07d", i)), secrets[i]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// tokenFixture is 10,000 live workspace tokens over the 10,000-workspace fixture.
type tokenFixture struct {
	m       *tenancy.Manager
	secrets []string
}

var tokenFixtures = map[string]*tokenFixture{}

func getTokenFixture(b *testing.B, backend string) *tokenFixture {
	f := getFixture(b, backend, 10000)
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if tf, ok := tokenFixtures[backend]; ok {
		return tf
	}
	h, _ := token.NewHasher(testKey)
	tf := &tokenFixture{m: f.m, secrets: make([]string, len(f.wsIDs))}
	now := time.Now().UTC()
	err := f.store.Update(ctx, func(tx storage.ReadWriter) error {
		for i, ws := range f.wsIDs {
			s, err := token.NewSecret("tncw", nil)
			if err != nil {
				return err
			}
			tf.secrets[i] = s
			id := "tok_" + ulid.MustNew(ulid.Timestamp(now)+uint64(i), ulid.DefaultEntropy()).String()
			t := token.Token{ID: id, Kind: token.Workspace, Name: "bench", UserID: f.owners[i].UserID(), WorkspaceID: ws,
				Role: rbac.Editor, Hash: h.Hash(s), Hint: token.Hint(s), CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
			if err := tx.CreateToken(t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	tokenFixtures[backend] = tf
	return tf
}

// BenchmarkAuthenticate verifies one of 10,000 live workspace tokens, picked all
// over the fixture rather than one hot token.
func BenchmarkAuthenticate(b *testing.B) {
	for _, backend := range contractBackends {
		b.Run(backend, func(b *testing.B) {
			f := getTokenFixture(b, backend)
			n := len(f.secrets)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.m.Authenticate(ctx, f.secrets[(i*7919)%n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandWrittenCheck times, on the PostgreSQL server and fixture of
// BenchmarkAuthorize/postgres and BenchmarkAuthenticate/postgres, the statement a
// host would write by hand for the same question: the membership's role (authorize),
// and the hashed token looked up by its hash (authenticate, hashing included), and
// SELECT 1, the round trip's floor. The backend's cost over these is the ratio its
// targets are set in.
func BenchmarkHandWrittenCheck(b *testing.B) {
	b.Run("authorize", func(b *testing.B) {
		f := getFixture(b, "postgres", 10000)
		s := f.store.(*postgres.Store)
		sql := "SELECT role FROM " + s.Table("members") + " WHERE workspace_id = $1 AND user_id = $2"
		n := len(f.wsIDs)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			k := (i * 7919) % n
			var role string
			if err := s.Pool().QueryRow(ctx, sql, f.wsIDs[k], f.owners[k].UserID()).Scan(&role); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("select-1", func(b *testing.B) {
		// The floor: one round trip that reads nothing.
		s := getFixture(b, "postgres", 10000).store.(*postgres.Store)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var one int
			if err := s.Pool().QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("authenticate", func(b *testing.B) {
		f := getFixture(b, "postgres", 10000)
		tf := getTokenFixture(b, "postgres")
		s := f.store.(*postgres.Store)
		h, _ := token.NewHasher(testKey)
		sql := "SELECT user_id, workspace_id, role, expires_at, revoked_at FROM " + s.Table("tokens") + " WHERE hash = $1"
		n := len(tf.secrets)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var user, ws, role string
			var exp, rev *time.Time
			if err := s.Pool().QueryRow(ctx, sql, h.Hash(tf.secrets[(i*7919)%n])).Scan(&user, &ws, &role, &exp, &rev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuthenticateParallel verifies tokens from every core at once: the read
// path holds no global lock.
func BenchmarkAuthenticateParallel(b *testing.B) {
	b.Run("bolt", func(b *testing.B) {
		f := getTokenFixture(b, "bolt")
		n := len(f.secrets)
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(next.Add(1))
				if _, err := f.m.Authenticate(ctx, f.secrets[(i*7919)%n]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkListWorkspacesNameContains searches every workspace by name, as a
// platform user: a needle that matches one workspace, and one that matches more
// than a page. An index keeps n=100000 within 2× of n=1000.
func BenchmarkListWorkspacesNameContains(b *testing.B) {
	for _, backend := range contractBackends {
		b.Run(backend, func(b *testing.B) {
			for _, n := range []int{1000, 100000} {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					f := getFixture(b, backend, n)
					plat := tenancy.User("plat")
					for _, c := range []struct{ name, needle string }{
						{"one", fmt.Sprintf("workspace %07d", n/2+7)}, // exactly one
						{"page", "WORKSPACE 00"},                      // dozens or more, case-insensitive
					} {
						b.Run(c.name, func(b *testing.B) {
							b.ReportAllocs()
							b.ResetTimer()
							for i := 0; i < b.N; i++ {
								pg, err := f.m.ListWorkspaces(ctx, plat, workspace.ListOptions{NameContains: c.needle})
								if err != nil || len(pg.Items) == 0 || c.name == "one" && len(pg.Items) != 1 {
									b.Fatal(len(pg.Items), err)
								}
							}
						})
					}
				})
			}
		})
	}
}

// BenchmarkListWorkspacesStatus lists the inactive workspaces (1% of them), as a
// platform user: an index keeps n=100000 within 2× of n=1000.
func BenchmarkListWorkspacesStatus(b *testing.B) {
	for _, backend := range contractBackends {
		b.Run(backend, func(b *testing.B) {
			for _, n := range []int{1000, 100000} {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					f := getInactiveFixture(b, backend, n)
					plat := tenancy.User("plat")
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						pg, err := f.m.ListWorkspaces(ctx, plat, workspace.ListOptions{Status: workspace.Inactive, Limit: 10})
						if err != nil || len(pg.Items) != 10 {
							b.Fatal(len(pg.Items), err)
						}
					}
				})
			}
		})
	}
}
