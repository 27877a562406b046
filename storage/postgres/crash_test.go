package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/workspace"
)

// checkSurvivors reopens the store and checks that every workspace whose creation
// returned success is there, and that Verify finds nothing.
func checkSurvivors(t *testing.T, url, schema string, created []string) {
	t.Helper()
	m, _ := openManager(t, url, schema)
	for _, id := range created {
		if _, err := m.GetWorkspace(ctx, tenancy.System(), id); err != nil {
			t.Errorf("workspace %s was created (success returned) but is gone: %v", id, err)
		}
	}
	verify(t, m)
	st, err := m.Stats(ctx, tenancy.System())
	if err != nil || st.Active < int64(len(created)) {
		t.Errorf("stats %+v after the crash, %d created: %v", st, len(created), err)
	}
}

// TestServerCrash SIGKILLs the PostgreSQL server while 4 writers create workspaces,
// restarts it, and checks that every write that returned success survived.
func TestServerCrash(t *testing.T) {
	url, schema := pgtest.Schema(t)
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tenancy.New(s, tenancy.Options{SecretKey: key})
	if err != nil {
		t.Fatal(err)
	}
	register(t, m, "ada")
	var mu sync.Mutex
	var created []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, cancel := context.WithTimeout(ctx, 2*time.Second)
				w, err := m.CreateWorkspace(c, tenancy.User("ada"), tenancy.NewWorkspace{Name: fmt.Sprintf("W %d %d", g, i)})
				cancel()
				if err == nil {
					mu.Lock()
					created = append(created, w.ID)
					mu.Unlock()
				}
			}
		}()
	}
	for n := 0; n < 40; { // let some writes land first
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		n = len(created)
		mu.Unlock()
	}
	if err := pgtest.Kill(); err != nil {
		close(stop)
		wg.Wait()
		t.Skipf("cannot crash this server: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // writers meet the dead server
	close(stop)
	wg.Wait()
	_ = m.Close()
	s.Pool().Close()
	if err := pgtest.Restart(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d creations returned success before the crash", len(created))
	checkSurvivors(t, url, schema, created)
}

// TestApplicationCrash SIGKILLs the application process in the middle of its
// writes: every workspace it reported created is there, and Verify is clean.
func TestApplicationCrash(t *testing.T) {
	if os.Getenv("TENANCY_CRASH_CHILD") != "" {
		crashChild()
		return
	}
	url, schema := pgtest.Schema(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestApplicationCrash$")
	cmd.Env = append(os.Environ(), "TENANCY_CRASH_CHILD=1", pgtest.EnvURL+"="+url, "TENANCY_CRASH_SCHEMA="+schema)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var created []string
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(created) < 60 {
		if id, ok := strings.CutPrefix(sc.Text(), "created "); ok {
			created = append(created, id)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL) // mid-write: the child never stops on its own
	_ = cmd.Wait()
	if len(created) == 0 {
		t.Fatal("the child created nothing before it was killed")
	}
	checkSurvivors(t, url, schema, created)
}

// crashChild creates workspaces forever from 4 goroutines, reporting each success.
func crashChild() {
	url, schema := os.Getenv(pgtest.EnvURL), os.Getenv("TENANCY_CRASH_SCHEMA")
	s, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	m, err := tenancy.New(s, tenancy.Options{SecretKey: key})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if _, err := m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "ada", Email: "ada@example.com"}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				w, err := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: fmt.Sprintf("W %d %d", g, i)})
				if err == nil {
					mu.Lock()
					fmt.Println("created", w.ID)
					mu.Unlock()
				}
				_, _ = m.ListWorkspaces(ctx, tenancy.System(), workspace.ListOptions{Limit: 1})
			}
		}()
	}
	select {}
}
