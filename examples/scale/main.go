// Command scale builds a large tenancy store on a bbolt file (or in PostgreSQL) and
// measures what a host would feel at that size, optionally side by side with the
// naive casbin design (every membership a casbin g rule, RBAC with domains):
//
//	go run ./examples/scale -workspaces 1000000 -members 5 [-compare-casbin]
//	go run ./examples/scale -backend postgres -database postgres://… -workspaces 100000 -members 5
//
// It prints a markdown table. Data is loaded straight through the storage layer in
// large transactions (a progress bar goes to stderr); the measurements then go
// through the Manager, as a host's requests would.
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/oklog/ulid/v2"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/httpapi"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

var ctx = context.Background()

func main() {
	log.SetFlags(0)
	nWS := flag.Int("workspaces", 100000, "workspaces to build")
	nMem := flag.Int("members", 5, "members per workspace (the first is the owner)")
	dir := flag.String("dir", "", "directory for the bbolt file (default: a temporary one, removed after)")
	backend := flag.String("backend", "bolt", "bolt, or postgres (several instances on one database)")
	database := flag.String("database", os.Getenv("TENANCY_DATABASE_URL"), "with -backend postgres: the database URL (default $TENANCY_DATABASE_URL); the tables go in a fresh schema, dropped after")
	compare := flag.Bool("compare-casbin", false, "also load the memberships into a casbin RBAC-with-domains enforcer")
	samples := flag.Int("samples", 20000, "requests sampled for each latency")
	refSize := flag.Int("reference", 10000, "workspaces in the small store the list latency is compared with")
	memSample := flag.Int("memory-sample", 100000, "workspaces for the memory-backend size estimate (0 skips it)")
	footprint := flag.Bool("footprint-only", false, "internal: print the memory footprint and exit (run in a fresh process)")
	flag.Parse()
	if *footprint {
		perWS, perMember := memoryFootprint(*nWS, *nMem, nil)
		fmt.Println(perWS, perMember)
		return
	}
	if *nWS < 1000 || *nMem < 1 {
		log.Fatal("need at least 1000 workspaces and 1 member each")
	}
	switch *backend {
	case "bolt":
	case "postgres":
		if *database == "" {
			log.Fatal("-backend postgres needs -database or TENANCY_DATABASE_URL")
		}
		pgURL = *database
	default:
		log.Fatalf("unknown backend %q: bolt or postgres", *backend)
	}
	backendName = *backend
	defer dropSchemas()
	d := *dir
	if d == "" {
		tmp, err := os.MkdirTemp("", "tenancy-scale-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		d = tmp
	}
	r := &report{}
	r.add("workspaces", fmt.Sprint(*nWS), "")
	r.add("memberships", fmt.Sprint(*nWS**nMem), "")
	r.add("Go, CPUs", fmt.Sprintf("%s, %d", runtime.Version(), runtime.NumCPU()), "")

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	path := filepath.Join(d, "scale.db")
	if backendName == "postgres" {
		path = "scale" // the schema's name part
	}
	ds := newDataset(*nWS, *nMem, key)
	start := time.Now()
	if err := ds.load(path); err != nil {
		log.Fatal(err)
	}
	r.add("load time (through storage, big transactions)", time.Since(start).Round(time.Millisecond).String(), "")
	if st, err := os.Stat(path); err == nil && backendName == "bolt" {
		r.add("bbolt file size", mib(uint64(st.Size())), "")
	}

	// Open + New, from cold, and the heap they hold.
	runtime.GC()
	debug.FreeOSMemory()
	before := heapInUse()
	start = time.Now()
	store, err := openStore(path, false)
	if err != nil {
		log.Fatal(err)
	}
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		log.Fatal(err)
	}
	openTime := time.Since(start)
	heap := heapInUse() - min(before, heapInUse())
	r.add("open store + New Manager", openTime.Round(time.Microsecond).String(), "< 100 ms")
	r.add("heap held after open", mib(heap), "< 50 MB")

	rng := mrand.New(mrand.NewPCG(7, 11))
	// Each latency is measured twice over the same sample: the first pass pays for
	// touching the file's pages for the first time (the store was just opened), the
	// second is a running server's steady state.
	auth := ds.authorizeSample(rng, *samples)
	authorize := func(q authQ) { must(m.Authorize(ctx, tenancy.User(q.user), q.ws, rbac.WriteContent)) }
	c50, c99 := measure(auth, authorize)
	p50, p99 := measure(auth, authorize)
	r.add("Authorize p50 / p99 ("+backendName+"), first pass after open", c50+" / "+c99, "")
	r.add("Authorize p50 / p99 ("+backendName+"), steady state", p50+" / "+p99, target("p50 ≤ 3 µs", "one round trip"))
	toks := ds.tokenSample(rng, *samples)
	authenticate := func(s string) { _, err := m.Authenticate(ctx, s); must(err) }
	c50, c99 = measure(toks, authenticate)
	p50, p99 = measure(toks, authenticate)
	r.add("Authenticate p50 / p99 ("+backendName+"), first pass after open", c50+" / "+c99, "")
	r.add("Authenticate p50 / p99 ("+backendName+"), steady state", p50+" / "+p99, target("p50 ≤ 4 µs", "one round trip"))
	plat := tenancy.User(ds.platform)
	deep := workspace.EncodeCursor(ds.wsID(*nWS / 2))
	pages := make([]int, 2000)
	p50big, p99 := measure(pages, func(int) {
		pg, err := m.ListWorkspaces(ctx, plat, workspace.ListOptions{Limit: 20, Cursor: deep})
		must(err)
		if len(pg.Items) != 20 {
			log.Fatal("short page")
		}
	})
	ref := listReference(d, key, *nMem, *refSize)
	r.add("ListWorkspaces page of 20 from the middle, p50 / p99", p50big+" / "+p99, fmt.Sprintf("within 2× of %d ws (%s)", *refSize, ref))

	// Name search, as a support person looks a tenant up: a workspace's number as a
	// needle (a few matches: "Workspace 123456" also holds "23456"), and the whole
	// name, case changed. Each must come back through the name index.
	needles := make([]string, 2000)
	for i := range needles {
		k := *nWS/10 + rng.IntN(*nWS-*nWS/10)
		if i%2 == 0 {
			needles[i] = fmt.Sprint(k)
		} else {
			needles[i] = fmt.Sprintf("WORKSPACE %d", k)
		}
	}
	s50, s99 := measure(needles, func(q string) {
		pg, err := m.ListWorkspaces(ctx, plat, workspace.ListOptions{Limit: 20, NameContains: q})
		must(err)
		if len(pg.Items) == 0 {
			log.Fatalf("no workspace matches %q", q)
		}
	})
	r.add("ListWorkspaces name_contains (a workspace's number or name), p50 / p99", s50+" / "+s99, target("p50 < 1 ms", ""))

	start = time.Now()
	findings, err := m.Verify(ctx)
	must(err)
	if len(findings) > 0 {
		log.Fatalf("Verify found %d problems, first: %s", len(findings), findings[0])
	}
	r.add("Verify (every invariant, and the backend's own check)", time.Since(start).Round(time.Millisecond).String(), "")

	one := throughput(m, ds.owner(0), 1, 2*time.Second)
	many := throughput(m, ds.owner(0), 64, 2*time.Second)
	r.add("CreateWorkspace/s, 1 caller", fmt.Sprintf("%.0f", one), "")
	r.add("CreateWorkspace/s, 64 callers", fmt.Sprintf("%.0f (%.1f×)", many, many/one), target("≥ 5× (group commit)", "≥ 2× (concurrent transactions)"))
	m.Close()
	store.Close()

	// A restart: open the store, make the Manager and the server's HTTP stack, start
	// the full Verify beside serving (as examples/server does), and time until the
	// first authenticated request has been answered.
	first, err := timeToFirstRequest(path, key, ds.secrets[0], ds.wsID(0))
	must(err)
	r.add("restart: open → first HTTP request answered (Verify in the background)", first.Round(time.Millisecond).String(), "< 1 s")

	if *memSample > 0 {
		// In a fresh process, so the heap holds nothing but the measured store.
		size := min(*memSample, *nWS)
		out, err := exec.Command(os.Args[0], "-footprint-only", "-workspaces", fmt.Sprint(size), "-members", fmt.Sprint(*nMem)).Output()
		must(err)
		var perWS, perMember uint64
		_, err = fmt.Sscan(string(out), &perWS, &perMember)
		must(err)
		r.add(fmt.Sprintf("memory backend: bytes per workspace (measured at %d)", size), fmt.Sprint(perWS), "")
		r.add("memory backend: bytes per membership", fmt.Sprint(perMember), "< 400")
	}
	if *compare {
		ds.compareCasbin(r, auth)
	}
	r.print(os.Stdout)
}

// timeToFirstRequest opens the store at path as the server does on start, serves
// the HTTP API on a local port with the full Verify running beside it, and returns
// how long it took until a GET of workspace wsID with secret (one of its tokens) was
// answered 200.
func timeToFirstRequest(path string, key []byte, secret, wsID string) (time.Duration, error) {
	start := time.Now()
	store, err := openStore(path, false)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		return 0, err
	}
	defer m.Close()
	vctx, cancel := context.WithCancel(ctx)
	verified := make(chan struct{})
	go func() { defer close(verified); _, _ = m.Verify(vctx) }()
	defer func() { cancel(); <-verified }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: http.StripPrefix("/api/v1", httpapi.New(m, httpapi.Options{})), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	req, err := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/v1/workspaces/"+wsID, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("first request: %s", resp.Status)
	}
	return took, nil
}

// report is the markdown table.
type report struct{ rows [][3]string }

func (r *report) add(what, value, target string) {
	r.rows = append(r.rows, [3]string{what, value, target})
}

func (r *report) print(w io.Writer) {
	fmt.Fprintln(w, "| measure | value | target |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	for _, row := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", row[0], row[1], row[2])
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// measure times fn over every input, after a warm-up over a tenth of them, and
// returns the p50 and p99 latency.
func measure[T any](inputs []T, fn func(T)) (string, string) {
	runtime.GC() // start clean: no collection of earlier garbage during the measure
	for _, in := range inputs[:len(inputs)/10] {
		fn(in)
	}
	d := make([]time.Duration, len(inputs))
	for i, in := range inputs {
		t := time.Now()
		fn(in)
		d[i] = time.Since(t)
	}
	slices.Sort(d)
	q := func(p float64) string { return fmtDur(d[int(float64(len(d)-1)*p)]) }
	return q(0.50), q(0.99)
}

func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.2f µs", float64(d)/float64(time.Microsecond))
	}
	return d.Round(10 * time.Microsecond).String()
}

// dataset is the deterministic shape of the store: workspace i has members
// (i*k+j) mod users for j < k; member 0 is its owner; every 10th workspace has a
// workspace token of its owner.
type dataset struct {
	n, k     int
	users    int
	t0       time.Time
	ids      []string
	key      []byte
	hasher   *token.Hasher
	platform string
	secrets  map[int]string // workspace index -> its token's secret
	mu       sync.Mutex
}

func newDataset(n, k int, key []byte) *dataset {
	h, err := token.NewHasher(key)
	must(err)
	ds := &dataset{n: n, k: k, users: max(n/2, k+1), t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), key: key, hasher: h,
		platform: "platform-ops", secrets: map[int]string{}}
	ds.ids = make([]string, n)
	ms := ulid.Timestamp(ds.t0)
	entropy := ulid.Monotonic(rand.Reader, 0)
	for i := range ds.ids {
		ds.ids[i] = "ws_" + ulid.MustNew(ms+uint64(i), entropy).String()
	}
	return ds
}

func (ds *dataset) wsID(i int) string             { return ds.ids[i] }
func (ds *dataset) userID(u int) string           { return fmt.Sprintf("u%08d", u) }
func (ds *dataset) memberOf(i, j int) int         { return (i*ds.k + j) % ds.users }
func (ds *dataset) owner(i int) tenancy.Principal { return tenancy.User(ds.userID(ds.memberOf(i, 0))) }

// backendName is the backend measured; pgURL its database with -backend postgres.
var backendName, pgURL = "bolt", ""

// pgSchemas are the schemas this run made, dropped at exit.
var pgSchemas = map[string]string{}

// openStore opens the store called name: a bbolt file, or a schema of the
// PostgreSQL database (made on first use). fast skips fsync on bolt, for loading.
func openStore(name string, fast bool) (storage.Storage, error) {
	if backendName == "bolt" {
		return bolt.Open(name, bolt.Options{NoSync: fast})
	}
	schema, ok := pgSchemas[name]
	if !ok {
		schema = fmt.Sprintf("tenancy_scale_%s_%d", filepath.Base(name), time.Now().UnixNano())
		pgSchemas[name] = schema
	}
	sep := "?"
	if strings.Contains(pgURL, "?") {
		sep = "&"
	}
	return postgres.Open(ctx, pgURL+sep+"pool_max_conns=64", postgres.Options{Schema: schema})
}

// dropSchemas removes what a PostgreSQL run made.
func dropSchemas() {
	for _, schema := range pgSchemas {
		if s, err := postgres.Open(ctx, pgURL, postgres.Options{}); err == nil {
			_, _ = s.Pool().Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			_ = s.Close()
		}
	}
}

// target picks the target text of a row for the backend measured.
func target(bolt, postgres string) string {
	if backendName == "postgres" {
		return postgres
	}
	return bolt
}

// load writes the dataset through the storage layer in large transactions.
func (ds *dataset) load(path string) error {
	store, err := openStore(path, true)
	if err != nil {
		return err
	}
	defer store.Close()
	return ds.fill(store, os.Stderr)
}

func (ds *dataset) fill(store storage.Storage, progress io.Writer) error {
	// The store starts as a host's does: New sets it up (the key's check value, the
	// settings of a store this version created) before any record is written, so
	// the timed New below opens it as a server's restart would.
	m, err := tenancy.New(store, tenancy.Options{SecretKey: ds.key})
	if err != nil {
		return err
	}
	if err := m.Close(); err != nil {
		return err
	}
	const chunk = 20000
	total := ds.users + ds.n
	done := 0
	bar := func() {
		if progress != nil {
			fmt.Fprintf(progress, "\rloading %3d%% [%-40s]", done*100/total, string(make([]byte, 0))+bars(done*40/total))
		}
	}
	// Users, then the platform user.
	for start := 0; start < ds.users; start += chunk {
		err := store.Update(ctx, func(tx storage.ReadWriter) error {
			for u := start; u < min(start+chunk, ds.users); u++ {
				id := ds.userID(u)
				if err := tx.CreateUser(member.User{ID: id, Email: id + "@example.com", CreatedAt: ds.t0, UpdatedAt: ds.t0}); err != nil {
					return err
				}
			}
			if start == 0 {
				return tx.CreateUser(member.User{ID: ds.platform, Email: "ops@example.com", Platform: true, CreatedAt: ds.t0})
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += min(chunk, ds.users-start)
		bar()
	}
	// Workspaces in smaller transactions: bbolt splits a node only at commit, and the
	// name index's keys of one transaction gather in a few nodes, so a transaction of
	// tens of thousands of workspaces spends its time shifting keys within them.
	const wsChunk = 2000
	for start := 0; start < ds.n; start += wsChunk {
		end := min(start+wsChunk, ds.n)
		// Secrets are made outside the transaction, which may run twice.
		secrets := map[int]string{}
		for i := start; i < end; i++ {
			if i%10 == 0 {
				s, err := token.NewSecret("tncw", nil)
				if err != nil {
					return err
				}
				secrets[i] = s
			}
		}
		err := store.Update(ctx, func(tx storage.ReadWriter) error {
			for i := start; i < end; i++ {
				id := ds.ids[i]
				w := workspace.Workspace{ID: id, Slug: fmt.Sprintf("w-%08d", i), Name: fmt.Sprintf("Workspace %d", i),
					Status: workspace.Active, OwnerID: ds.userID(ds.memberOf(i, 0)), CreatedAt: ds.t0, UpdatedAt: ds.t0}
				if err := tx.CreateWorkspace(w); err != nil {
					return err
				}
				for j := 0; j < ds.k; j++ {
					role := rbac.Editor
					if j == 0 {
						role = rbac.Admin
					}
					mb := member.Member{WorkspaceID: id, UserID: ds.userID(ds.memberOf(i, j)), Role: role, Owner: j == 0, JoinedAt: ds.t0}
					if err := tx.CreateMember(mb); err != nil {
						return err
					}
				}
				if s, ok := secrets[i]; ok {
					t := token.Token{ID: "tok_" + id[3:], Kind: token.Workspace, Name: "ci", UserID: ds.userID(ds.memberOf(i, 0)),
						WorkspaceID: id, Role: rbac.Editor, Hash: ds.hasher.Hash(s), Hint: token.Hint(s), CreatedAt: ds.t0,
						ExpiresAt: ds.t0.Add(100 * 365 * 24 * time.Hour)}
					if err := tx.CreateToken(t); err != nil {
						return err
					}
				}
			}
			err := tx.AddCounter(tenancy.CounterActiveWorkspaces, int64(end-start))
			return err
		})
		if err != nil {
			return err
		}
		ds.mu.Lock()
		for i, s := range secrets {
			ds.secrets[i] = s
		}
		ds.mu.Unlock()
		done += end - start
		bar()
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	return nil
}

func bars(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '#'
	}
	return string(b)
}

type authQ struct{ user, ws string }

func (ds *dataset) authorizeSample(rng *mrand.Rand, n int) []authQ {
	out := make([]authQ, n)
	for i := range out {
		w := rng.IntN(ds.n)
		out[i] = authQ{ds.userID(ds.memberOf(w, rng.IntN(ds.k))), ds.ids[w]}
	}
	return out
}

func (ds *dataset) tokenSample(rng *mrand.Rand, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ds.secrets[rng.IntN(ds.n/10)*10]
	}
	return out
}

// listReference measures the same deep page on a store of n workspaces (at least
// 1,000; 10,000 by default).
func listReference(dir string, key []byte, k, n int) string {
	n = max(n, 1000)
	ref := newDataset(n, k, key)
	path := filepath.Join(dir, "reference.db")
	if backendName == "postgres" {
		path = "reference"
	}
	store, err := openStore(path, true)
	must(err)
	defer store.Close()
	must(ref.fill(store, nil))
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	must(err)
	deep := workspace.EncodeCursor(ref.wsID(n / 2))
	p50, _ := measure(make([]int, 2000), func(int) {
		_, err := m.ListWorkspaces(ctx, tenancy.User(ref.platform), workspace.ListOptions{Limit: 20, Cursor: deep})
		must(err)
	})
	return "p50 " + p50
}

// throughput creates workspaces from callers goroutines for d and returns creates/s.
func throughput(m *tenancy.Manager, p tenancy.Principal, callers int, d time.Duration) float64 {
	var n atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				if _, err := m.CreateWorkspace(ctx, p, tenancy.NewWorkspace{Name: fmt.Sprintf("tp %d %d %d", callers, c, i)}); err != nil {
					log.Fatal(err)
				}
				n.Add(1)
			}
		}(c)
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

// memoryFootprint builds n workspaces on the memory backend without and then with
// their memberships, and returns the heap per workspace and per membership.
func memoryFootprint(n, k int, key []byte) (perWS, perMember uint64) {
	if key == nil {
		key = make([]byte, 32)
	}
	measureWith := func(members int) uint64 {
		ds := newDataset(n, max(members, 1), key)
		heapInUse()
		base := heapInUse()
		store := memory.New()
		ds.k = members
		must(ds.fillNoTokens(store))
		used := heapInUse() - min(base, heapInUse())
		runtime.KeepAlive(store)
		return used
	}
	without := measureWith(0)
	with := measureWith(k)
	return without / uint64(n), (with - min(without, with)) / uint64(n*k)
}

// fillNoTokens is fill without tokens or progress, for the footprint measure.
func (ds *dataset) fillNoTokens(store storage.Storage) error {
	saved := ds.n
	err := store.Update(ctx, func(tx storage.ReadWriter) error {
		for i := 0; i < saved; i++ {
			id := ds.ids[i]
			if err := tx.CreateWorkspace(workspace.Workspace{ID: id, Slug: fmt.Sprintf("w-%08d", i), Name: fmt.Sprintf("Workspace %d", i),
				Status: workspace.Active, OwnerID: "u", CreatedAt: ds.t0, UpdatedAt: ds.t0}); err != nil {
				return err
			}
			for j := 0; j < ds.k; j++ {
				if err := tx.CreateMember(member.Member{WorkspaceID: id, UserID: ds.userID(ds.memberOf(i, j)), Role: rbac.Editor, JoinedAt: ds.t0}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return err
}

// compareCasbin loads every membership as a casbin g rule with its domain, the way
// casbin's documentation models tenants, and measures the same Authorize requests.
func (ds *dataset) compareCasbin(r *report, sample []authQ) {
	const modelText = `
[request_definition]
r = sub, dom, act
[policy_definition]
p = sub, dom, act
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || r.dom == p.dom) && r.act == p.act
`
	runtime.GC()
	before := heapInUse()
	start := time.Now()
	mdl, err := model.NewModelFromString(modelText)
	must(err)
	e, err := casbin.NewEnforcer(mdl)
	must(err)
	e.EnableAutoBuildRoleLinks(false)
	for _, a := range []string{"content:read", "content:write"} {
		_, err := e.AddPolicy("editor", "*", a)
		must(err)
		_, err = e.AddPolicy("admin", "*", a)
		must(err)
	}
	rules := make([][]string, 0, ds.n*ds.k)
	for i := 0; i < ds.n; i++ {
		for j := 0; j < ds.k; j++ {
			role := "editor"
			if j == 0 {
				role = "admin"
			}
			rules = append(rules, []string{ds.userID(ds.memberOf(i, j)), role, ds.ids[i]})
		}
	}
	_, err = e.AddGroupingPolicies(rules)
	must(err)
	rules = nil
	must(e.BuildRoleLinks())
	load := time.Since(start)
	heap := heapInUse() - min(before, heapInUse())
	r.add("casbin RBAC-with-domains: load every membership", load.Round(time.Millisecond).String(), "")
	r.add("casbin RBAC-with-domains: heap", mib(heap), "")
	p50, p99 := measure(sample, func(q authQ) {
		ok, err := e.Enforce(q.user, q.ws, "content:write")
		must(err)
		if !ok {
			log.Fatal("casbin denied a member")
		}
	})
	r.add("casbin RBAC-with-domains: Enforce p50 / p99", p50+" / "+p99, "")
	runtime.KeepAlive(e)
}
