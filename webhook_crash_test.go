package tenancy_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"encoding/json"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/internal/pgtest"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/webhook"
)

// The deliverer child: it opens the store the environment names and delivers
// webhooks until it is killed.
const (
	hookChildBolt   = "TENANCY_HOOK_CHILD_BOLT"
	hookChildPG     = "TENANCY_HOOK_CHILD_PG" // url|schema
	hookChildName   = "TENANCY_HOOK_CHILD_INSTANCE"
	hookCrashEvents = 60
)

func hookOptions() tenancy.Options {
	return tenancy.Options{SecretKey: testKey, Webhooks: tenancy.WebhookOptions{
		Policy: webhook.Policy{AllowHTTP: true, AllowPrivate: true}, Timeout: 5 * time.Second,
		Schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}}}
}

// hookChild runs in the child process: deliver, forever.
func hookChild() {
	var store storage.Storage
	var err error
	if path := os.Getenv(hookChildBolt); path != "" {
		store, err = bolt.Open(path, bolt.Options{})
	} else {
		var url, schema string
		_, _ = fmt.Sscanf(os.Getenv(hookChildPG), "%s %s", &url, &schema)
		store, err = postgres.Open(context.Background(), url, postgres.Options{Schema: schema})
	}
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	m, err := tenancy.New(store, hookOptions())
	if err != nil {
		fmt.Println("new:", err)
		os.Exit(3)
	}
	fmt.Println("ready")
	_ = m.DeliverWebhooks(context.Background(), tenancy.DeliverOptions{Instance: os.Getenv(hookChildName), Poll: 5 * time.Millisecond,
		Lease: 300 * time.Millisecond, Batch: 5})
}

// crashReceiver records every delivery by webhook-id, in arrival order.
type crashReceiver struct {
	mu   sync.Mutex
	ids  []string          // arrival order, duplicates included
	pos  map[string]string // webhook-id -> feed position
	seen map[string]int
}

func (r *crashReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var p tenancy.Payload
	body, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(body, &p); err != nil || req.Header.Get("webhook-id") != p.Data.EventID {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	// A slow receiver, so the kills land in the middle of the work (the outcome
	// does not depend on it: every event must arrive whenever the kills land).
	time.Sleep(2 * time.Millisecond)
	r.mu.Lock()
	r.ids = append(r.ids, p.Data.EventID)
	r.pos[p.Data.EventID] = p.Data.Position
	r.seen[p.Data.EventID]++
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// check: every expected event arrived, and the first arrivals are in feed order.
func (r *crashReceiver) check(t *testing.T, want []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var first []string
	seen := map[string]bool{}
	for _, id := range r.ids {
		if !seen[id] {
			seen[id] = true
			first = append(first, id)
		}
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("event %s was never delivered", id)
		}
	}
	for i := 1; i < len(first); i++ {
		if r.pos[first[i]] < r.pos[first[i-1]] {
			t.Errorf("first deliveries out of feed order: %s (%s) after %s (%s)", first[i], r.pos[first[i]], first[i-1], r.pos[first[i-1]])
		}
	}
	dups := len(r.ids) - len(first)
	t.Logf("%d events, %d deliveries (%d repeated after kills)", len(first), len(r.ids), dups)
}

func (r *crashReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

// startHookChild starts a deliverer child and waits until it says it is ready.
func startHookChild(t *testing.T, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWebhookDeliverySurvivesKill$")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		buf := make([]byte, 256)
		n, _ := out.Read(buf)
		ready <- string(buf[:n])
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-ready:
		if l != "ready\n" {
			t.Fatalf("the deliverer child said %q", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the deliverer child did not start")
	}
	return cmd
}

func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Kill() // SIGKILL: no deferred function runs, no lease is released
	_ = cmd.Wait()
}

// TestWebhookDeliverySurvivesKill SIGKILLs the delivering process at random moments
// and restarts it, on a bbolt file; then two deliverers on one PostgreSQL schema,
// one of them killed. Every event arrives (repeats allowed, with the same
// webhook-id), and the first arrivals keep the feed's order.
func TestWebhookDeliverySurvivesKill(t *testing.T) {
	if os.Getenv(hookChildBolt) != "" || os.Getenv(hookChildPG) != "" {
		hookChild()
		return
	}
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	setup := func(t *testing.T, store storage.Storage) (recv *crashReceiver, want []string) {
		m, err := tenancy.New(store, hookOptions())
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		recv = &crashReceiver{pos: map[string]string{}, seen: map[string]int{}}
		srv := httptest.NewServer(recv)
		t.Cleanup(srv.Close)
		sys := tenancy.System()
		if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "u", Email: "u@example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.CreateWebhook(ctx, sys, tenancy.NewWebhook{URL: srv.URL, EventTypes: []string{"workspace.created"}}); err != nil {
			t.Fatal(err)
		}
		for i := range hookCrashEvents {
			if _, err := m.CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: fmt.Sprintf("W%d", i), OwnerID: "u"}); err != nil {
				t.Fatal(err)
			}
		}
		feed, err := m.Feed(ctx, sys, tenancy.EventListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range feed.Items {
			if e.Type == "workspace.created" {
				want = append(want, e.ID)
			}
		}
		return recv, want
	}
	waitFor := func(t *testing.T, recv *crashReceiver, n int) {
		t.Helper()
		for i := 0; recv.count() < n; i++ {
			if i == 6000 { // 60 s: CI machines are slow
				t.Fatalf("only %d of %d events arrived", recv.count(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	t.Run("bolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hooks.db")
		store, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		recv, want := setup(t, store)
		store.Close()
		for round := range 6 {
			cmd := startHookChild(t, hookChildBolt+"="+path, hookChildName+"=child")
			time.Sleep(time.Duration(5+rng.IntN(60)) * time.Millisecond)
			kill(cmd)
			t.Logf("round %d: %d of %d delivered", round, recv.count(), len(want))
		}
		cmd := startHookChild(t, hookChildBolt+"="+path, hookChildName+"=child")
		waitFor(t, recv, len(want))
		kill(cmd)
		recv.check(t, want)
		if slices.ContainsFunc(want, func(id string) bool { return recv.seen[id] == 0 }) {
			t.Fatal("an event is missing")
		}
	})

	t.Run("postgres, two instances", func(t *testing.T) {
		url, schema := pgtest.StoreSchema(t)
		store, err := postgres.Open(ctx, url, postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		recv, want := setup(t, store)
		env := hookChildPG + "=" + url + " " + schema
		a := startHookChild(t, env, hookChildName+"=a")
		b := startHookChild(t, env, hookChildName+"=b")
		time.Sleep(time.Duration(20+rng.IntN(60)) * time.Millisecond)
		kill(a) // whichever held the lease, the other takes over when it lapses
		waitFor(t, recv, len(want))
		kill(b)
		recv.check(t, want)
	})
}
