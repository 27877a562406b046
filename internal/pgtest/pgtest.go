// Package pgtest gives tests a real PostgreSQL server, never a mock.
//
// The server is, in order: the one TENANCY_POSTGRES_URL names; or a throwaway one
// this package starts once per test process, from the newest
// /usr/lib/postgresql/*/bin (Debian's postgresql package), in a temporary
// directory, listening on 127.0.0.1 with fsync off and autovacuum off (so no
// background transaction holds the feed's watermark back while a test reads
// its own writes). As root, initdb and the server
// run as the postgres user, since initdb refuses root. Without either, tests that
// need PostgreSQL skip and say how to get it, unless TENANCY_REQUIRE_POSTGRES=1,
// when they fail. Each test gets its own schema, dropped when it ends.
//
// Packages that use it call Stop from TestMain, so the throwaway server does not
// outlive the tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names a server to use instead of starting one.
const EnvURL = "TENANCY_POSTGRES_URL"

// EnvRequire, set to 1, turns a missing PostgreSQL into a test failure (CI).
const EnvRequire = "TENANCY_REQUIRE_POSTGRES"

var (
	once     sync.Once
	baseURL  string
	startErr error
	dataDir  string
	pgCtl    string
	asUser   *syscall.Credential
)

// URL returns the connection string of the test server, starting it on first use,
// or skips (fails, with TENANCY_REQUIRE_POSTGRES=1) the test when there is none.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(func() { baseURL, startErr = start() })
	if startErr != nil {
		msg := "PostgreSQL tests skipped: " + startErr.Error() +
			" (install it with `apt-get install postgresql`, or set " + EnvURL + " to a server's URL)"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return baseURL
}

// Available reports whether a test server can be had (starting it if needed),
// without skipping: for tests that add PostgreSQL to other backends when it is there.
func Available() bool {
	once.Do(func() { baseURL, startErr = start() })
	return startErr == nil
}

// Schema creates a fresh schema for the calling test on the test server and returns
// the server's URL and the schema's name. The schema is dropped when the test ends.
func Schema(t testing.TB) (url, schema string) {
	t.Helper()
	url, schema = newSchema(t, "t_")
	t.Cleanup(func() { exec1(t, url, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	return url, schema
}

func newSchema(t testing.TB, prefix string) (url, schema string) {
	t.Helper()
	url = URL(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema = prefix + hex.EncodeToString(b[:])
	exec1(t, url, "CREATE SCHEMA "+schema)
	return url, schema
}

// KeptSchema is Schema without the drop: for fixtures shared by several
// benchmarks, which live as long as the test server.
func KeptSchema(t testing.TB) (url, schema string) {
	t.Helper()
	return newSchema(t, "k_")
}

func exec1(t testing.TB, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// Stop stops the throwaway server, if this process started one, and removes its
// files. Call it from TestMain after m.Run.
func Stop() {
	stopBouncer()
	stores.dropAll()
	if dataDir == "" {
		return
	}
	cmd := exec.Command(pgCtl, "stop", "-D", filepath.Join(dataDir, "data"), "-m", "immediate", "-w")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: asUser}
	_ = cmd.Run()
	_ = os.RemoveAll(dataDir)
	dataDir = ""
}

// Kill stops the throwaway server at once (SIGKILL to the postmaster, as a crash
// would) and Restart starts it again on the same data and port: for crash tests.
// Both fail when the server is not this process's own.
func Kill() error {
	if dataDir == "" {
		return errors.New("pgtest: the server is not this process's to kill")
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "data", "postmaster.pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return err
	}
	// The postmaster and every backend at once, as a machine crash would stop them
	// (fsync is off, but the kernel keeps what the server wrote).
	kids := children(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL) // first, so it cannot restart its children
	for _, p := range kids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	pids := append(kids, pid)
	for range 1000 {
		alive := false
		for _, p := range pids {
			alive = alive || syscall.Kill(p, 0) == nil && !zombie(p)
		}
		if !alive {
			// A killed postmaster may stay a zombie (nothing reaps it in a
			// container), and a zombie's PID looks alive to the next postmaster's
			// lock-file check: remove the lock file of the dead server.
			locks, _ := filepath.Glob(filepath.Join(dataDir, ".s.PGSQL.*.lock"))
			for _, l := range append(locks, filepath.Join(dataDir, "data", "postmaster.pid")) {
				if err := os.Remove(l); err != nil {
					return err
				}
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("pgtest: the killed server did not go away")
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			if c, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] == "Z"
}

// Restart starts the killed server again and waits until it accepts connections.
func Restart() error {
	if dataDir == "" {
		return errors.New("pgtest: the server is not this process's to restart")
	}
	return startServer()
}

var port string

// start finds PostgreSQL and starts a throwaway server, or returns why not.
func start() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return "", errors.New("no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb not found)")
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) > version(bins[j]) })
	bin := filepath.Dir(bins[0])
	pgCtl = filepath.Join(bin, "pg_ctl")
	dir, err := os.MkdirTemp("", "tenancy-pg-")
	if err != nil {
		return "", err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		asUser = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", err
		}
	}
	// The server outlives a test binary that is killed (a timeout, ^C): the
	// owner file lets the next start stop the servers of dead owners.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	reapOrphans(dir)
	dataDir = dir
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: asUser}
	if out, err := initdb.CombinedOutput(); err != nil {
		dataDir = ""
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a free loopback port
	if err != nil {
		return "", err
	}
	port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	if err := startServer(); err != nil {
		Stop()
		return "", err
	}
	return "postgres://postgres@127.0.0.1:" + port + "/postgres?sslmode=disable", nil
}

func startServer() error {
	opts := strings.Join([]string{"-c listen_addresses=127.0.0.1", "-p " + port, "-k " + dataDir,
		"-c fsync=off", "-c full_page_writes=off", "-c autovacuum=off", "-c max_connections=400",
		"-c shared_buffers=64MB"}, " ")
	cmd := exec.Command(pgCtl, "start", "-D", filepath.Join(dataDir, "data"), "-w", "-t", "60",
		"-l", filepath.Join(dataDir, "server.log"), "-o", opts)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: asUser}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dataDir, "server.log"))
		return fmt.Errorf("pg_ctl start: %v: %s %s", err, out, log)
	}
	return nil
}

// version reads the major version from /usr/lib/postgresql/<v>/bin/initdb.
func version(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// reapOrphans stops the throwaway servers that earlier test processes started and
// could not stop (killed by go test's timeout, or by a signal), and removes their
// files: a server whose owner.pid names a process that is gone, or, without one
// (written by an older version), whose folder is over an hour old. keep is this
// process's own folder.
func reapOrphans(keep string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "tenancy-pg-*"))
	for _, dir := range dirs {
		if dir == keep {
			continue
		}
		orphan := false
		if b, err := os.ReadFile(filepath.Join(dir, "owner.pid")); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			orphan = err == nil && pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH
		} else if fi, err := os.Stat(dir); err == nil {
			orphan = time.Since(fi.ModTime()) > time.Hour
		}
		if !orphan {
			continue
		}
		// The shared server's data folder, or a Cluster's primary and standby.
		pids, _ := filepath.Glob(filepath.Join(dir, "*", "postmaster.pid"))
		for _, pid := range pids {
			cmd := exec.Command(pgCtl, "stop", "-D", filepath.Dir(pid), "-m", "immediate", "-w", "-t", "10")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: asUser}
			_ = cmd.Run()
		}
		_ = os.RemoveAll(dir)
	}
}
