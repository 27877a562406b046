// Command peers measures tenancy beside what a host might use instead: casbin's
// RBAC with domains, OpenFGA embedded as a library (its memory and PostgreSQL
// datastores) and hand-written SQL over pgx, with `SELECT 1` as the floor of a
// PostgreSQL round trip. Every system gets the same data and the same random
// requests, in one run:
//
//	go run . -database postgres://postgres@127.0.0.1:5432/postgres
//
// For each size (-sizes, default 10,000 and 100,000 workspaces with 5 members each,
// every tenth with a workspace token) it fills each system, then times the same
// sample of checks (is this member allowed to write in this workspace?) and token
// lookups, counts the statements each call sends (from pg_stat_statements, when the
// server preloads it), and creates workspaces with their owner from 1 and 16
// callers. It prints a markdown table per size and the ratios the project's targets
// are written in.
//
// It is its own module so that the library's go.mod does not gain the peers'
// dependencies. Without -database (or $TENANCY_POSTGRES_URL) the PostgreSQL systems
// are left out and say so.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tenancykit/tenancy/token"
)

var ctx = context.Background()

// config is what the flags say.
type config struct {
	sizes       []int
	members     int
	samples     int
	duration    time.Duration
	database    string
	only        map[string]bool
	dir         string
	profile     string // prefix of a CPU profile of each system's create runs; "" for none
	heapProfile string // prefix of a heap profile taken after each system's create runs; "" for none
}

func main() {
	log.SetFlags(0)
	sizes := flag.String("sizes", "10000,100000", "workspace counts to measure at, comma-separated")
	members := flag.Int("members", 5, "members per workspace (the first is the owner)")
	samples := flag.Int("samples", 20000, "requests in each latency sample")
	duration := flag.Duration("duration", 3*time.Second, "how long each create-throughput run lasts")
	database := flag.String("database", os.Getenv("TENANCY_POSTGRES_URL"), "PostgreSQL URL of a maintenance database (default $TENANCY_POSTGRES_URL); the run creates and drops databases peers_* on it")
	only := flag.String("systems", "", "measure only these systems, comma-separated (default all): "+strings.Join(systemNames, ","))
	dir := flag.String("dir", "", "directory for the bbolt file (default a temporary one)")
	profile := flag.String("cpuprofile", "", "write a CPU profile of each system's create runs to `prefix`-SYSTEM-SIZE.pprof")
	heapProfile := flag.String("memprofile", "", "write a heap profile taken after each system's create runs to `prefix`-SYSTEM-SIZE.heap")
	flag.Parse()
	cfg := config{members: *members, samples: *samples, duration: *duration, database: *database, dir: *dir, profile: *profile, heapProfile: *heapProfile}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 {
			log.Fatalf("-sizes: %q is not a workspace count of at least 100", s)
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	if *only != "" {
		cfg.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			if !slices.Contains(systemNames, s) {
				log.Fatalf("-systems: unknown system %q (known: %s)", s, strings.Join(systemNames, ", "))
			}
			cfg.only[s] = true
		}
	}
	if cfg.members < 1 {
		log.Fatal("-members must be at least 1")
	}
	if cfg.dir == "" {
		d, err := os.MkdirTemp("", "peers-")
		must(err)
		defer os.RemoveAll(d)
		cfg.dir = d
	}
	var pg *pgServer
	if cfg.database != "" {
		var err error
		pg, err = openServer(cfg.database)
		must(err)
		defer pg.close()
		if !pg.statements {
			fmt.Fprintln(os.Stderr, "pg_stat_statements is not loaded (shared_preload_libraries): statements per call are not counted")
		}
	} else {
		fmt.Fprintln(os.Stderr, "no -database or $TENANCY_POSTGRES_URL: the PostgreSQL systems are left out")
	}
	fmt.Printf("Go %s, %d CPUs, %d members per workspace, %d requests per sample, %s per throughput run\n\n",
		runtime.Version(), runtime.NumCPU(), cfg.members, cfg.samples, cfg.duration)
	var results []*result
	for _, n := range cfg.sizes {
		r := run(cfg, pg, n)
		r.print(os.Stdout)
		results = append(results, r)
	}
	printRatios(os.Stdout, results)
}

// systemNames are the systems in the order of the table's columns.
var systemNames = []string{"tenancy-memory", "tenancy-bolt", "tenancy-postgres", "casbin-domains",
	"openfga-memory", "openfga-postgres", "hand-sql", "select-1"}

// system is one peer, filled with the dataset. check and create are required;
// authenticate is nil where the system has no tokens.
type system struct {
	name         string
	postgres     string // the database it uses, for counting statements; "" off PostgreSQL
	check        func(q query) error
	authenticate func(secret string) error
	create       func(i int) error // a new workspace, numbered i, with its owner
	close        func()
}

// query is one check: may user write in workspace ws? Every sampled user is a member.
type query struct{ user, ws string }

// dataset is the deterministic shape every system is filled with: workspace i has
// members (i*k+j) mod users for j < k; member 0 owns it; every tenth workspace has
// a workspace token.
type dataset struct {
	n, k, users int
}

func (d dataset) wsID(i int) string     { return fmt.Sprintf("ws_%08d", i) }
func (d dataset) userID(u int) string   { return fmt.Sprintf("u%08d", u) }
func (d dataset) memberOf(i, j int) int { return (i*d.k + j) % d.users }
func (d dataset) role(j int) string {
	if j == 0 {
		return "admin"
	}
	return "editor"
}

// measures is what one system gave at one size.
type measures struct {
	checkP50, checkP99 time.Duration
	checkAllocs        float64
	checkStatements    float64
	authP50, authP99   time.Duration
	authStatements     float64
	createStatements   float64
	create1, create16  float64 // per second
	fill               time.Duration
	skipped            string
}

type result struct {
	n       int
	systems []string
	m       map[string]*measures
}

func run(cfg config, pg *pgServer, n int) *result {
	d := dataset{n: n, k: cfg.members, users: max(n/2, cfg.members+1)}
	rng := mrand.New(mrand.NewPCG(uint64(n), 1))
	sample := make([]query, cfg.samples)
	for i := range sample {
		w := rng.IntN(n)
		sample[i] = query{d.userID(d.memberOf(w, rng.IntN(d.k))), d.wsID(w)}
	}
	tokenSample := make([]int, cfg.samples)
	for i := range tokenSample {
		tokenSample[i] = rng.IntN(n/10) * 10
	}
	res := &result{n: n, m: map[string]*measures{}}
	for _, name := range systemNames {
		if cfg.only != nil && !cfg.only[name] {
			continue
		}
		res.systems = append(res.systems, name)
		ms := &measures{}
		res.m[name] = ms
		isPG := strings.HasSuffix(name, "-postgres") || name == "hand-sql" || name == "select-1"
		if isPG && pg == nil {
			ms.skipped = "no PostgreSQL"
			continue
		}
		fmt.Fprintf(os.Stderr, "%s at %d workspaces: filling\n", name, n)
		start := time.Now()
		sys, err := open(name, cfg, pg, d)
		must(err)
		ms.fill = time.Since(start)
		fmt.Fprintf(os.Stderr, "%s at %d workspaces: filled in %s, measuring\n", name, n, ms.fill.Round(time.Millisecond))
		measure(sys, ms, cfg, pg, d, sample, tokenSample)
		sys.close()
		runtime.GC()
	}
	return res
}

func open(name string, cfg config, pg *pgServer, d dataset) (*system, error) {
	switch name {
	case "tenancy-memory", "tenancy-bolt", "tenancy-postgres":
		return openTenancy(strings.TrimPrefix(name, "tenancy-"), cfg, pg, d)
	case "casbin-domains":
		return openCasbin(d)
	case "openfga-memory":
		return openOpenFGA(nil, d)
	case "openfga-postgres":
		return openOpenFGA(pg, d)
	case "hand-sql":
		return openHandSQL(pg, d)
	case "select-1":
		return openSelect1(pg)
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

func measure(sys *system, ms *measures, cfg config, pg *pgServer, d dataset, sample []query, tokens []int) {
	ms.checkP50, ms.checkP99, ms.checkAllocs = latency(sample, func(q query) {
		if err := sys.check(q); err != nil {
			log.Fatalf("%s: check %v: %v", sys.name, q, err)
		}
	})
	const perCount = 200
	if sys.postgres != "" && pg.statements {
		ms.checkStatements = pg.countStatements(sys.postgres, func() {
			for _, q := range sample[:perCount] {
				must(sys.check(q))
			}
		}) / perCount
	}
	if sys.authenticate != nil {
		secrets := make([]string, len(tokens))
		for i, w := range tokens {
			secrets[i] = secretOf(w)
		}
		ms.authP50, ms.authP99, _ = latency(secrets, func(s string) {
			if err := sys.authenticate(s); err != nil {
				log.Fatalf("%s: authenticate: %v", sys.name, err)
			}
		})
		if sys.postgres != "" && pg.statements {
			ms.authStatements = pg.countStatements(sys.postgres, func() {
				for _, s := range secrets[:perCount] {
					must(sys.authenticate(s))
				}
			}) / perCount
		}
	}
	if sys.create == nil {
		return
	}
	var next atomic.Int64
	next.Store(int64(d.n))
	if sys.postgres != "" && pg.statements {
		ms.createStatements = pg.countStatements(sys.postgres, func() {
			for range perCount {
				must(sys.create(int(next.Add(1))))
			}
		}) / perCount
	}
	if cfg.profile != "" {
		f, err := os.Create(fmt.Sprintf("%s-%s-%d.pprof", cfg.profile, sys.name, d.n))
		must(err)
		must(pprof.StartCPUProfile(f))
		defer func() {
			pprof.StopCPUProfile()
			must(f.Close())
		}()
	}
	ms.create1 = throughput(sys, &next, 1, cfg.duration)
	ms.create16 = throughput(sys, &next, 16, cfg.duration)
	if cfg.heapProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s-%s-%d.heap", cfg.heapProfile, sys.name, d.n))
		must(err)
		runtime.GC() // the profile shows the heap as of the last collection
		must(pprof.WriteHeapProfile(f))
		must(f.Close())
	}
}

// latency times fn over every input after a warm-up over a tenth of them, and gives
// the p50, the p99 and the heap allocations per call.
func latency[T any](inputs []T, fn func(T)) (p50, p99 time.Duration, allocs float64) {
	for _, in := range inputs[:len(inputs)/10] {
		fn(in)
	}
	runtime.GC()
	d := make([]time.Duration, len(inputs))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i, in := range inputs {
		t := time.Now()
		fn(in)
		d[i] = time.Since(t)
	}
	runtime.ReadMemStats(&after)
	slices.Sort(d)
	return d[len(d)/2], d[(len(d)-1)*99/100], float64(after.Mallocs-before.Mallocs) / float64(len(inputs))
}

// throughput creates workspaces from callers goroutines for dur and gives creates/s.
func throughput(sys *system, next *atomic.Int64, callers int, dur time.Duration) float64 {
	var done atomic.Int64
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if err := sys.create(int(next.Add(1))); err != nil {
					log.Fatalf("%s: create: %v", sys.name, err)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// pgServer is the PostgreSQL server the run uses.
type pgServer struct {
	url        string
	admin      *pgx.Conn
	statements bool // pg_stat_statements is loaded
	made       []string
}

func openServer(dsn string) (*pgServer, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", dsn, err)
	}
	s := &pgServer{url: dsn, admin: c}
	if _, err := c.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err == nil {
		_, err = c.Exec(ctx, "SELECT pg_stat_statements_reset()")
		s.statements = err == nil
	}
	return s, nil
}

// database makes a fresh database called name and gives its URL.
func (s *pgServer) database(name string) (string, error) {
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	s.made = append(s.made, name)
	u, err := url.Parse(s.url)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("-database must be a postgres:// URL: %q", s.url)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// countStatements runs fn and gives how many statements the database db executed
// meanwhile, BEGIN and COMMIT included.
func (s *pgServer) countStatements(db string, fn func()) float64 {
	_, err := s.admin.Exec(ctx, "SELECT pg_stat_statements_reset()")
	must(err)
	fn()
	var n int64
	must(s.admin.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)`, db).Scan(&n))
	return float64(n)
}

func (s *pgServer) close() {
	for _, db := range s.made {
		_, _ = s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)")
	}
	_ = s.admin.Close(ctx)
}

// pool opens a pool on url with the size every PostgreSQL system gets.
func pool(dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = poolSize
	return pgxpool.NewWithConfig(ctx, cfg)
}

// withPoolSize adds the pool size to a URL, for systems that open their own pool.
func withPoolSize(dsn string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "pool_max_conns=" + strconv.Itoa(poolSize)
}

// poolSize is every PostgreSQL system's connection pool.
const poolSize = 32

// secretOf is workspace w's token secret: drawn from a generator seeded by w, so
// every system stores and is asked for the same tokens.
func secretOf(w int) string {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(w))
	s, err := token.NewSecret("tncw", mrand.NewChaCha8(seed))
	must(err)
	return s
}

// secretKey keys the token hashes of every system that stores them.
var secretKey = make([]byte, 32)

func (r *result) print(w io.Writer) {
	fmt.Fprintf(w, "### %d workspaces, %d memberships\n\n", r.n, r.n*5)
	fmt.Fprintf(w, "| measure (p50 unless said) | %s |\n", strings.Join(r.systems, " | "))
	fmt.Fprintf(w, "| --- |%s\n", strings.Repeat(" --- |", len(r.systems)))
	row := func(label string, cell func(*measures) string) {
		cells := make([]string, len(r.systems))
		for i, s := range r.systems {
			if m := r.m[s]; m.skipped != "" {
				cells[i] = "(" + m.skipped + ")"
			} else {
				cells[i] = cell(m)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	row("fill", func(m *measures) string { return m.fill.Round(time.Millisecond).String() })
	row("check p50 / p99", func(m *measures) string { return dur(m.checkP50) + " / " + dur(m.checkP99) })
	row("check allocations", func(m *measures) string { return fmt.Sprintf("%.0f", m.checkAllocs) })
	row("check statements", func(m *measures) string { return count(m.checkStatements) })
	row("authenticate p50 / p99", func(m *measures) string {
		if m.authP50 == 0 {
			return ""
		}
		return dur(m.authP50) + " / " + dur(m.authP99)
	})
	row("authenticate statements", func(m *measures) string { return count(m.authStatements) })
	row("statements per create (workspace + owner)", func(m *measures) string { return count(m.createStatements) })
	row("creates/s, 1 caller", func(m *measures) string { return rate(m.create1) })
	row("creates/s, 16 callers", func(m *measures) string { return rate(m.create16) })
	fmt.Fprintln(w)
}

// printRatios prints the comparisons the targets are stated in.
func printRatios(w io.Writer, rs []*result) {
	fmt.Fprintln(w, "### Ratios")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| ratio | "+sizesHeader(rs)+" |")
	fmt.Fprintln(w, "| --- |"+strings.Repeat(" --- |", len(rs)))
	ratio := func(label string, f func(r *result) (float64, bool)) {
		cells := make([]string, len(rs))
		for i, r := range rs {
			if v, ok := f(r); ok {
				cells[i] = fmt.Sprintf("%.2f×", v)
			}
		}
		fmt.Fprintf(w, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	get := func(r *result, s string) *measures {
		if m := r.m[s]; m != nil && m.skipped == "" {
			return m
		}
		return nil
	}
	div := func(a, b time.Duration) (float64, bool) { return float64(a) / float64(b), a > 0 && b > 0 }
	ratio("tenancy-postgres check / hand-sql check (target ≤ 1.2)", func(r *result) (float64, bool) {
		a, b := get(r, "tenancy-postgres"), get(r, "hand-sql")
		if a == nil || b == nil {
			return 0, false
		}
		return div(a.checkP50, b.checkP50)
	})
	ratio("tenancy-postgres authenticate / hand-sql (target ≤ 1.2)", func(r *result) (float64, bool) {
		a, b := get(r, "tenancy-postgres"), get(r, "hand-sql")
		if a == nil || b == nil {
			return 0, false
		}
		return div(a.authP50, b.authP50)
	})
	ratio("tenancy-postgres check / SELECT 1 (target ≤ 2)", func(r *result) (float64, bool) {
		a, b := get(r, "tenancy-postgres"), get(r, "select-1")
		if a == nil || b == nil {
			return 0, false
		}
		return div(a.checkP50, b.checkP50)
	})
	ratio("tenancy-postgres creates / hand-sql, 1 caller (target ≥ 0.5)", func(r *result) (float64, bool) {
		a, b := get(r, "tenancy-postgres"), get(r, "hand-sql")
		if a == nil || b == nil || b.create1 == 0 {
			return 0, false
		}
		return a.create1 / b.create1, true
	})
	ratio("tenancy-postgres creates / hand-sql, 16 callers (target ≥ 0.5)", func(r *result) (float64, bool) {
		a, b := get(r, "tenancy-postgres"), get(r, "hand-sql")
		if a == nil || b == nil || b.create16 == 0 {
			return 0, false
		}
		return a.create16 / b.create16, true
	})
	ratio("tenancy-postgres creates / openfga-postgres, 1 caller (target > 1)", func(r *result) (float64, bool) {
		a, b := get(r, "tenancy-postgres"), get(r, "openfga-postgres")
		if a == nil || b == nil || b.create1 == 0 {
			return 0, false
		}
		return a.create1 / b.create1, true
	})
	ratio("tenancy-postgres creates / openfga-postgres, 16 callers (target > 1)", func(r *result) (float64, bool) {
		a, b := get(r, "tenancy-postgres"), get(r, "openfga-postgres")
		if a == nil || b == nil || b.create16 == 0 {
			return 0, false
		}
		return a.create16 / b.create16, true
	})
	for _, peer := range []struct{ mine, theirs string }{
		{"tenancy-memory", "casbin-domains"}, {"tenancy-memory", "openfga-memory"},
		{"tenancy-postgres", "openfga-postgres"},
	} {
		ratio(fmt.Sprintf("%s check / %s check (target < 1)", peer.mine, peer.theirs), func(r *result) (float64, bool) {
			a, b := get(r, peer.mine), get(r, peer.theirs)
			if a == nil || b == nil {
				return 0, false
			}
			return div(a.checkP50, b.checkP50)
		})
	}
	if len(rs) >= 2 {
		first, last := rs[0], rs[len(rs)-1]
		fmt.Fprintf(w, "\nCheck p50 growth from %d to %d workspaces (tenancy's should be no larger than its peers'):\n\n", first.n, last.n)
		for _, s := range first.systems {
			a, b := get(first, s), get(last, s)
			if a == nil || b == nil {
				continue
			}
			v, _ := div(b.checkP50, a.checkP50)
			fmt.Fprintf(w, "- %s: %.2f×\n", s, v)
		}
	}
	fmt.Fprintln(w)
}

func sizesHeader(rs []*result) string {
	h := make([]string, len(rs))
	for i, r := range rs {
		h[i] = fmt.Sprintf("%d workspaces", r.n)
	}
	return strings.Join(h, " | ")
}

func dur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func count(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f", v)
}

func rate(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f/s", v)
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
