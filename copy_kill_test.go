package tenancy_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
)

const copyChild = "TENANCY_COPY_CHILD" // "SRC DST": copy, printing progress, until killed

func copyChildMain() {
	var src, dst string
	_, _ = fmt.Sscanf(os.Getenv(copyChild), "%s %s", &src, &dst)
	s, err := bolt.Open(src, bolt.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	d, err := bolt.Open(dst, bolt.Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	_, err = storage.Copy(context.Background(), d, s, storage.CopyOptions{Batch: 25, Progress: func(n int) { fmt.Println("copied", n) }})
	fmt.Println("finished", err)
}

// TestCopyResumesAfterAKill SIGKILLs a Copy midway (bbolt to bbolt) and runs it
// again: the second run resumes, and the target holds every record once, passes
// Verify and serves the same tokens.
func TestCopyResumesAfterAKill(t *testing.T) {
	if os.Getenv(copyChild) != "" {
		copyChildMain()
		return
	}
	if testing.Short() {
		t.Skip("kills a child process")
	}
	dir := t.TempDir()
	srcPath, dstPath := filepath.Join(dir, "src.db"), filepath.Join(dir, "dst.db")
	src, err := bolt.Open(srcPath, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	clock := newClock()
	m, err := tenancy.New(src, tenancy.Options{SecretKey: testKey, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	sys := tenancy.System()
	if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "u", Email: "u@example.com"}); err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for i := range 150 {
		w, err := m.CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: fmt.Sprintf("W%d", i), OwnerID: "u"})
		if err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			tok, err := m.CreateToken(ctx, tenancy.User("u"), tenancy.NewToken{Name: "t", WorkspaceID: w.ID, Lifetime: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, tok.Secret)
		}
	}
	stats, _ := m.Stats(ctx, sys)
	m.Close()
	src.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCopyResumesAfterAKill$")
	cmd.Env = append(os.Environ(), copyChild+"="+srcPath+" "+dstPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() { // kill it once 75 records are in: the copy is surely midway
		if strings.HasPrefix(sc.Text(), "copied ") {
			var n int
			_, _ = fmt.Sscanf(sc.Text(), "copied %d", &n)
			if n >= 75 {
				_ = cmd.Process.Kill()
				killed = true
				break
			}
		}
		if strings.HasPrefix(sc.Text(), "finished") {
			break
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatal("the copy finished before it could be killed")
	}

	src, err = bolt.Open(srcPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := bolt.Open(dstPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if _, err := storage.Copy(ctx, dst, src, storage.CopyOptions{Batch: 25}); err != nil {
		t.Fatalf("the resumed copy: %v", err)
	}
	m, err = tenancy.New(dst, tenancy.Options{SecretKey: testKey, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
		t.Errorf("Verify after the resumed copy: %v %v", findings, err)
	}
	if got, _ := m.Stats(ctx, sys); got != stats {
		t.Errorf("stats after the resumed copy %+v, want %+v (counters added once)", got, stats)
	}
	for _, s := range secrets {
		if _, err := m.Authenticate(ctx, s); err != nil {
			t.Errorf("a token after the resumed copy: %v", err)
		}
	}
	var srcFeed, dstFeed int
	_ = src.View(ctx, func(tx storage.Reader) error {
		return tx.ScanEvents("", func(storage.Event) bool { srcFeed++; return true })
	})
	_ = dst.View(ctx, func(tx storage.Reader) error {
		return tx.ScanEvents("", func(storage.Event) bool { dstFeed++; return true })
	})
	if srcFeed != dstFeed {
		t.Errorf("the feed: %d events in the source, %d in the target", srcFeed, dstFeed)
	}
}
