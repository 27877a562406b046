package pgtest

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvRequireBouncer, set to 1, turns a missing pgbouncer into a test failure (CI).
const EnvRequireBouncer = "TENANCY_REQUIRE_PGBOUNCER"

var bouncer struct {
	once sync.Once
	url  string
	err  error
	dir  string
	cmd  *exec.Cmd
}

// BouncerURL returns the URL of a pgbouncer in transaction pooling mode in front
// of the test server, starting it on first use (Debian's pgbouncer package), or
// skips the test without it (fails under TENANCY_REQUIRE_PGBOUNCER=1). The URL
// asks pgx for QueryExecModeCacheDescribe (default_query_exec_mode=cache_describe):
// pgbouncer before 1.21 cannot keep named prepared statements across the server
// connections it hands out, and this mode uses none. Stop stops it.
func BouncerURL(t testing.TB) string {
	t.Helper()
	server := URL(t)
	bouncer.once.Do(func() { bouncer.url, bouncer.err = startBouncer(server) })
	if bouncer.err != nil {
		msg := "pgbouncer tests skipped: " + bouncer.err.Error() + " (apt-get install pgbouncer)"
		if os.Getenv(EnvRequireBouncer) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bouncer.url
}

func startBouncer(server string) (string, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			return "", errors.New("no pgbouncer installed")
		}
		bin = "/usr/sbin/pgbouncer"
	}
	u, err := url.Parse(server)
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "tenancy-pgbouncer-")
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	_ = ln.Close()
	user := u.User.Username()
	conf := strings.Join([]string{
		"[databases]",
		fmt.Sprintf("* = host=%s port=%s", u.Hostname(), u.Port()),
		"[pgbouncer]",
		"listen_addr = 127.0.0.1", "listen_port = " + port, "unix_socket_dir =",
		"auth_type = trust", "auth_file = " + filepath.Join(dir, "users.txt"),
		"pool_mode = transaction", "default_pool_size = 20", "max_client_conn = 500",
		"ignore_startup_parameters = extra_float_digits",
		"logfile = " + filepath.Join(dir, "pgbouncer.log"), "pidfile = " + filepath.Join(dir, "pgbouncer.pid"),
	}, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(conf), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte(fmt.Sprintf("%q \"\"\n", user)), 0o644); err != nil {
		return "", err
	}
	// pgbouncer refuses to run as root: as root, run it as the postgres user, as
	// the test server runs.
	cred := asUser
	if os.Geteuid() == 0 && cred == nil {
		if _, c, err := serverBinaries(); err == nil {
			cred = c
		}
	}
	if cred != nil {
		for _, f := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "users.txt")} {
			if err := os.Chown(f, int(cred.Uid), int(cred.Gid)); err != nil {
				return "", err
			}
		}
	}
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	bouncer.dir, bouncer.cmd = dir, cmd
	for range 500 {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 100*time.Millisecond); err == nil {
			_ = c.Close()
			q := u.Query()
			q.Set("default_query_exec_mode", "cache_describe")
			out := *u
			out.Host = "127.0.0.1:" + port
			out.RawQuery = q.Encode()
			return out.String(), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
	stopBouncer()
	return "", fmt.Errorf("pgbouncer did not start: %s", log)
}

func stopBouncer() {
	if bouncer.cmd != nil && bouncer.cmd.Process != nil {
		_ = bouncer.cmd.Process.Kill()
		_ = bouncer.cmd.Wait()
		bouncer.cmd = nil
	}
	if bouncer.dir != "" {
		_ = os.RemoveAll(bouncer.dir)
		bouncer.dir = ""
	}
}
