package tenancy_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/bolt"
)

const crashEnv = "TENANCY_CRASH_CHILD_DB"

// TestCrashSafety kills a writing process with SIGKILL at random moments, 25 times,
// on one bbolt file. After each kill the file must reopen, pass bbolt's and tenancy's
// checks, and hold every operation the child reported as committed.
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		crashChild(os.Getenv(crashEnv))
		return
	}
	if testing.Short() {
		t.Skip("kills a child process 25 times")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[string]bool{}   // workspaces reported created and not purged
	purged := map[string]bool{} // workspaces reported purged
	// A purge announced but not confirmed before the kill may or may not have
	// committed: either state is correct for it.
	maybe := map[string]bool{}
	tokens := map[string]string{}
	for round := 0; round < 25; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Once it is writing, let it write for a random while, then kill it without
		// warning.
		select {
		case l := <-lines:
			if l != "ready" {
				t.Fatalf("round %d: child said %q first", round, l)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: the child did not start", round)
		}
		deadline := time.After(time.Duration(20+rng.IntN(200)) * time.Millisecond)
		reported := 0
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				reported++
				apply(l, live, purged, maybe, tokens)
			case <-deadline:
				_ = cmd.Process.Signal(syscall.SIGKILL)
				for l := range lines { // what was printed before the kill was committed
					reported++
					apply(l, live, purged, maybe, tokens)
				}
				break read
			}
		}
		_ = cmd.Wait()

		store, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		m, err := tenancy.New(store, tenancy.Options{SecretKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		findings, err := m.Verify(ctx)
		if err != nil || len(findings) != 0 {
			t.Fatalf("round %d: Verify after SIGKILL: %v %v", round, findings, err)
		}
		for id := range live {
			if maybe[id] {
				continue
			}
			if _, err := m.GetWorkspace(ctx, tenancy.System(), id); err != nil {
				t.Errorf("round %d: committed workspace %s lost: %v", round, id, err)
			}
		}
		for id := range purged {
			if _, err := m.GetWorkspace(ctx, tenancy.System(), id); !errors.Is(err, tenancy.ErrNotFound) {
				t.Errorf("round %d: purged workspace %s is back: %v", round, id, err)
			}
		}
		for id, ws := range tokens {
			if maybe[ws] {
				continue
			}
			_, err := m.GetToken(ctx, tenancy.System(), id)
			if purged[ws] != errors.Is(err, tenancy.ErrNotFound) {
				t.Errorf("round %d: token %s of workspace %s (purged %v): %v", round, id, ws, purged[ws], err)
			}
		}
		m.Close()
		store.Close()
		if reported == 0 {
			t.Logf("round %d: killed before its first commit", round)
		}
	}
	if len(live)+len(purged) < 25 {
		t.Errorf("only %d workspaces were written across 25 rounds: the test proved little", len(live)+len(purged))
	}
}

func apply(line string, live, purged, maybe map[string]bool, tokens map[string]string) {
	f := strings.Fields(line)
	switch {
	case len(f) == 2 && f[0] == "ws":
		live[f[1]] = true
	case len(f) == 2 && f[0] == "purging":
		maybe[f[1]] = true
	case len(f) == 2 && f[0] == "purge":
		delete(live, f[1])
		delete(maybe, f[1])
		purged[f[1]] = true
	case len(f) == 3 && f[0] == "tok":
		tokens[f[1]] = f[2]
	}
}

// crashChild writes until it is killed, printing each operation after it returned.
func crashChild(path string) {
	store, err := bolt.Open(path, bolt.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	m, err := tenancy.New(store, tenancy.Options{SecretKey: testKey})
	if err != nil {
		os.Exit(3)
	}
	sys := tenancy.System()
	for _, id := range []string{"owner", "member"} {
		_, _ = m.RegisterUser(ctx, sys, tenancy.NewUser{ID: id, Email: id + "@example.com"})
	}
	owner := tenancy.User("owner")
	fmt.Println("ready")
	var mine []string
	for i := 0; ; i++ {
		w, err := m.CreateWorkspace(ctx, owner, tenancy.NewWorkspace{Name: fmt.Sprintf("crash %d", i)})
		if err != nil {
			os.Exit(4)
		}
		fmt.Printf("ws %s\n", w.ID)
		mine = append(mine, w.ID)
		if _, err := m.AddMember(ctx, owner, w.ID, tenancy.NewMember{UserID: "member", Role: rbac.Editor}); err == nil {
			fmt.Printf("member %s\n", w.ID)
		}
		if _, err := m.InviteMember(ctx, owner, w.ID, tenancy.NewInvitation{Email: fmt.Sprintf("i%d@example.com", i), Role: rbac.Viewer}); err == nil {
			fmt.Printf("inv %s\n", w.ID)
		}
		if c, err := m.CreateToken(ctx, owner, tenancy.NewToken{Name: "t", WorkspaceID: w.ID, Lifetime: time.Hour}); err == nil {
			fmt.Printf("tok %s %s\n", c.Token.ID, w.ID)
		}
		if i%4 == 3 && len(mine) > 1 {
			victim := mine[0]
			mine = mine[1:]
			fmt.Printf("purging %s\n", victim) // announced first: the kill may fall in between
			if err := m.PurgeWorkspace(ctx, sys, victim); err == nil {
				fmt.Printf("purge %s\n", victim)
			}
		}
	}
}
