package pgtest

import (
	"context"
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
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a primary and a synchronous hot standby of their own, for failover
// tests: streaming replication with synchronous_commit=on, so a commit the
// primary acknowledged is on the standby too. It is separate from the shared
// server, and removed when the test ends.
type Cluster struct {
	t       testing.TB
	bin     string
	dir     string
	as      *syscall.Credential
	Primary *Node
	Standby *Node
}

// Node is one server of a Cluster.
type Node struct {
	c    *Cluster
	name string
	Port string
	data string
}

// URL is a connection URL for this node alone.
func (n *Node) URL() string {
	return "postgres://postgres@127.0.0.1:" + n.Port + "/postgres?sslmode=disable"
}

// URL is a multi-host URL naming both nodes, primary first, that connects only to
// the one accepting writes (target_session_attrs=read-write), as an application
// behind a failover would be configured.
func (c *Cluster) URL() string {
	return "postgres://postgres@127.0.0.1:" + c.Primary.Port + ",127.0.0.1:" + c.Standby.Port +
		"/postgres?sslmode=disable&target_session_attrs=read-write&connect_timeout=2"
}

// NewCluster starts a primary and a synchronous standby from Debian's PostgreSQL
// binaries, or skips (fails under TENANCY_REQUIRE_POSTGRES=1) without them. A
// server named by TENANCY_POSTGRES_URL cannot be used: a failover test needs
// servers of its own to kill.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, as, err := serverBinaries()
	if err != nil {
		skipOrFail(t, "PostgreSQL failover test: "+err.Error())
	}
	dir, err := os.MkdirTemp("", "tenancy-pg-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, dir: dir, as: as}
	t.Cleanup(c.stop)
	if as != nil {
		if err := os.Chown(dir, int(as.Uid), int(as.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Primary = &Node{c: c, name: "primary", Port: freePort(t), data: filepath.Join(dir, "primary")}
	c.Standby = &Node{c: c, name: "standby", Port: freePort(t), data: filepath.Join(dir, "standby")}
	c.run(t, filepath.Join(bin, "initdb"), "-D", c.Primary.data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	conf := strings.Join([]string{
		"wal_level = replica", "max_wal_senders = 4", "hot_standby = on",
		"synchronous_commit = on", "synchronous_standby_names = 'standby'",
		"fsync = off", "autovacuum = off", "max_connections = 100", "shared_buffers = 32MB",
		"wal_sender_timeout = 5s", "wal_receiver_timeout = 5s",
	}, "\n") + "\n"
	f, err := os.OpenFile(filepath.Join(c.Primary.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(conf)
	_ = f.Close()
	hba, err := os.OpenFile(filepath.Join(c.Primary.data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = hba.WriteString("host replication postgres 127.0.0.1/32 trust\n")
	_ = hba.Close()
	c.Primary.Start(t)
	// The standby: a base backup of the primary that follows it (-R writes
	// primary_conninfo and standby.signal), named so the primary waits for it.
	c.run(t, filepath.Join(bin, "pg_basebackup"), "-D", c.Standby.data, "-h", "127.0.0.1", "-p", c.Primary.Port,
		"-U", "postgres", "-X", "stream", "-R", "--no-sync")
	auto := filepath.Join(c.Standby.data, "postgresql.auto.conf")
	b, err := os.ReadFile(auto)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "primary_conninfo = '", "primary_conninfo = 'application_name=standby ", 1))
	// Once promoted, the standby has no standby of its own: it must not wait for
	// one at every commit, as the base backup's copy of the primary's settings
	// would have it (an operator promoting a server changes the same setting).
	b = append(b, "synchronous_standby_names = ''\n"...)
	if err := os.WriteFile(auto, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c.Standby.Start(t)
	c.waitSync(t)
	return c
}

// waitSync waits until the primary reports its standby as synchronous.
func (c *Cluster) waitSync(t testing.TB) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.Primary.URL())
		if err == nil {
			var state string
			err = conn.QueryRow(ctx, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'").Scan(&state)
			_ = conn.Close(ctx)
			if err == nil && state == "sync" {
				cancel()
				return
			}
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pgtest: the standby did not become synchronous: %s", c.logs())
}

// Start starts the node and waits until it accepts connections.
func (n *Node) Start(t testing.TB) {
	t.Helper()
	opts := strings.Join([]string{"-c listen_addresses=127.0.0.1", "-p " + n.Port, "-k " + n.c.dir}, " ")
	n.c.run(t, filepath.Join(n.c.bin, "pg_ctl"), "start", "-D", n.data, "-w", "-t", "60",
		"-l", filepath.Join(n.c.dir, n.name+".log"), "-o", opts)
}

// Kill SIGKILLs the node's postmaster and every backend, as a crash would.
func (n *Node) Kill(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.data, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	kids := children(pid)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for _, p := range kids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for range 1000 {
		alive := false
		for _, p := range append(kids, pid) {
			alive = alive || syscall.Kill(p, 0) == nil && !zombie(p)
		}
		if !alive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("pgtest: the killed server did not go away")
}

// Pause stops the node's processes (SIGSTOP) without killing them, and Resume
// lets them run again: a standby paused this way stops acknowledging, so the
// primary's synchronous commits wait in SyncRep.
func (n *Node) Pause(t testing.TB) { n.signal(t, syscall.SIGSTOP) }

// Resume undoes Pause.
func (n *Node) Resume(t testing.TB) { n.signal(t, syscall.SIGCONT) }

func (n *Node) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.data, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(children(pid), pid) {
		_ = syscall.Kill(p, sig)
	}
}

// Promote makes a standby the primary and waits until it accepts writes.
func (n *Node) Promote(t testing.TB) {
	t.Helper()
	n.c.run(t, filepath.Join(n.c.bin, "pg_ctl"), "promote", "-D", n.data, "-w", "-t", "60")
}

func (c *Cluster) run(t testing.TB, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.as}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", filepath.Base(name), strings.Join(args, " "), err, out, c.logs())
	}
}

// logs is the tail of both servers' logs, for a failure's message.
func (c *Cluster) logs() string {
	var sb strings.Builder
	for _, n := range []string{"primary", "standby"} {
		b, _ := os.ReadFile(filepath.Join(c.dir, n+".log"))
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		fmt.Fprintf(&sb, "--- %s.log\n%s\n", n, b)
	}
	return sb.String()
}

func (c *Cluster) stop() {
	for _, n := range []*Node{c.Primary, c.Standby} {
		if n == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(n.data, "postmaster.pid")); err == nil {
			cmd := exec.Command(filepath.Join(c.bin, "pg_ctl"), "stop", "-D", n.data, "-m", "immediate", "-w", "-t", "10")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.as}
			_ = cmd.Run()
		}
	}
	_ = os.RemoveAll(c.dir)
}

// serverBinaries finds the newest installed PostgreSQL's bin folder, and the
// postgres user to run it as when this process is root.
func serverBinaries() (string, *syscall.Credential, error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return "", nil, errors.New("no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb not found; apt-get install postgresql)")
	}
	sort.Slice(bins, func(i, j int) bool { return version(bins[i]) > version(bins[j]) })
	if os.Geteuid() != 0 {
		return filepath.Dir(bins[0]), nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", nil, fmt.Errorf("running as root and no postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Dir(bins[0]), &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// skipOrFail skips the test with msg, or fails it under TENANCY_REQUIRE_POSTGRES=1.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}
