package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// The Tx suite, transactions: atomicity, isolation, OnCommit, counters, parallel
// writers, cancellation, close and reopen.

var errBoom = errors.New("boom")

func testFailedUpdateRollsBack(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	// Many writes, then the last one fails: none of them may survive.
	err := s.Update(ctx, func(tx storage.ReadWriter) error {
		must(tx.CreateUser(user("u9")))
		must(tx.CreateWorkspace(ws("ws_9", "zeta")))
		must(tx.CreateMember(mem("ws_9", "u9", rbac.Admin)))
		must(tx.CreateInvitation(inv("inv_9", "ws_9", "ihash9")))
		must(tx.CreateToken(tok("tok_9", "ws_9", "u9", "thash9")))
		must(tx.AppendEvent(evt("evt_9", "ws_9")))
		must(tx.DeleteToken("tok_1"))
		must(tx.DeleteMember("ws_1", "u1"))
		must(tx.AddCounter("workspaces", 5))
		return tx.CreateWorkspace(ws("ws_8", "alpha")) // slug taken: fails last
	})
	wantKind(t, "failing last write", err, storage.ErrExists)
	if after := dump(t, s); after != before {
		t.Errorf("a failed Update left changes behind:\nbefore %s\nafter  %s", before, after)
	}
	err = s.Update(ctx, func(tx storage.ReadWriter) error {
		must(tx.CreateUser(user("u9")))
		return errBoom
	})
	wantKind(t, "fn error", err, errBoom)
	if after := dump(t, s); after != before {
		t.Errorf("an Update whose fn failed left changes behind")
	}
}

func testPanicRollsBack(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	func() {
		defer func() {
			if p := recover(); p != "kaboom" {
				t.Errorf("recovered %v, want the panic re-raised", p)
			}
		}()
		_ = s.Update(ctx, func(tx storage.ReadWriter) error {
			must(tx.CreateUser(user("u9")))
			must(tx.DeleteToken("tok_1"))
			panic("kaboom")
		})
	}()
	if after := dump(t, s); after != before {
		t.Errorf("a panicking Update left changes behind")
	}
	// The store still works.
	update(t, s, func(tx storage.ReadWriter) error { return tx.CreateUser(user("u9")) })
}

func testSeesOwnWrites(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		users(tx, "u1")
		must(tx.CreateWorkspace(ws("ws_1", "alpha")))
		if w, err := tx.GetWorkspaceBySlug("alpha"); err != nil || w.ID != "ws_1" {
			t.Errorf("own workspace not visible: %v", err)
		}
		must(tx.CreateMember(mem("ws_1", "u1", rbac.Viewer)))
		must(tx.ReplaceMember(mem("ws_1", "u1", rbac.Editor)))
		if m, err := tx.GetMember("ws_1", "u1"); err != nil || m.Role != rbac.Editor {
			t.Errorf("own member update not visible: %+v %v", m, err)
		}
		must(tx.AddCounter("c", 2))
		if n, _ := tx.Counter("c"); n != 2 {
			t.Errorf("Counter after own add = %d, want 2", n)
		}
		must(tx.DeleteMember("ws_1", "u1"))
		_, err := tx.GetMember("ws_1", "u1")
		wantKind(t, "own delete", err, storage.ErrNotFound)
		return nil
	})
}

// testReadTxRefusesWrites: a View's Reader has no write methods to call; a backend
// whose Reader can be asserted back to a ReadWriter (one type for both) must refuse
// every write through it and change nothing.
func testReadTxRefusesWrites(t *testing.T, s storage.Storage) {
	seed(t, s)
	before := dump(t, s)
	view(t, s, func(r storage.Reader) error {
		tx, ok := r.(storage.ReadWriter)
		if !ok {
			return nil // the compiler alone keeps a View from writing
		}
		_, purgeErr := tx.PurgeWorkspace("ws_1")
		_, attemptsErr := tx.DeleteWebhookAttempts("whk_1", "wha_9")
		writes := map[string]error{
			"CreateUser":        tx.CreateUser(user("u9")),
			"ReplaceUser":       tx.ReplaceUser(user("u1")),
			"DeleteUser":        tx.DeleteUser("u2"),
			"CreateWorkspace":   tx.CreateWorkspace(ws("ws_9", "z")),
			"ReplaceWorkspace":  tx.ReplaceWorkspace(ws("ws_1", "alpha")),
			"PurgeWorkspace":    purgeErr,
			"CreateMember":      tx.CreateMember(mem("ws_1", "u2", rbac.Viewer)),
			"ReplaceMember":     tx.ReplaceMember(mem("ws_1", "u1", rbac.Viewer)),
			"DeleteMember":      tx.DeleteMember("ws_1", "u1"),
			"CreateInvitation":  tx.CreateInvitation(inv("inv_9", "ws_1", "h")),
			"ReplaceInvitation": tx.ReplaceInvitation(inv("inv_1", "ws_1", "h")),
			"DeleteInvitation":  tx.DeleteInvitation("inv_1"),
			"CreateToken":       tx.CreateToken(tok("tok_9", "ws_1", "u1", "h")),
			"ReplaceToken":      tx.ReplaceToken(tok("tok_1", "ws_1", "u1", "h")),
			"TouchToken":        tx.TouchToken("tok_1", t0.Add(time.Hour)),
			"DeleteToken":       tx.DeleteToken("tok_1"),
			"AppendEvent":       tx.AppendEvent(evt("evt_9", "ws_1")),
			"AddCounter":        tx.AddCounter("workspaces", 1),
			"PutSetting":        tx.PutSetting("x", []byte("y")),
			"CreateConsumer":    tx.CreateConsumer(storage.Consumer{Name: "c9"}),
			"ReplaceConsumer":   tx.ReplaceConsumer(storage.Consumer{Name: "c1"}),
			"DeleteConsumer":    tx.DeleteConsumer("c1"),
			"CreateWebhook":     tx.CreateWebhook(webhook.Endpoint{ID: "whk_9"}),
			"ReplaceWebhook":    tx.ReplaceWebhook(webhook.Endpoint{ID: "whk_1"}),
			"DeleteWebhook":     tx.DeleteWebhook("whk_1"),
			"CreateAttempt":     tx.CreateWebhookAttempt(webhook.Attempt{ID: "wha_9", EndpointID: "whk_1"}),
			"DeleteAttempts":    attemptsErr,
		}
		for name, err := range writes {
			wantKind(t, name, err, storage.ErrReadOnly)
		}
		return nil
	})
	if after := dump(t, s); after != before {
		t.Errorf("a read transaction changed the store")
	}
}

// testOnCommit: OnCommit functions run after the commit, in order, never before.
func testOnCommit(t *testing.T, s storage.Storage) {
	var ran []string
	update(t, s, func(tx storage.ReadWriter) error {
		tx.OnCommit(func() { ran = append(ran, "first") })
		tx.OnCommit(func() { ran = append(ran, "second") })
		if len(ran) != 0 {
			t.Error("OnCommit ran before the commit")
		}
		return tx.CreateUser(user("u1"))
	})
	assertList(t, "OnCommit after commit", ran, "first", "second")
	ran = nil
	_ = s.Update(ctx, func(tx storage.ReadWriter) error {
		tx.OnCommit(func() { ran = append(ran, "rolled back") })
		return errBoom
	})
	view(t, s, func(r storage.Reader) error {
		if tx, ok := r.(storage.ReadWriter); ok { // a backend with one type for both
			tx.OnCommit(func() { ran = append(ran, "read") })
		}
		return nil
	})
	if len(ran) != 0 {
		t.Errorf("OnCommit ran without a commit: %v", ran)
	}
}

func testCounters(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.AddCounter("a", 5))
		must(tx.AddCounter("a", -7))
		must(tx.AddCounter("b", 1))
		if n, err := tx.Counter("a"); err != nil || n != -2 {
			t.Errorf("Counter(a) in the writing transaction = %d, %v; want -2", n, err)
		}
		return nil
	})
	view(t, s, func(tx storage.Reader) error {
		if n, err := tx.Counter("a"); err != nil || n != -2 {
			t.Errorf("Counter(a) = %d, %v; want -2", n, err)
		}
		var got []string
		must(tx.ScanCounters(func(name string, n int64) bool { got = append(got, fmt.Sprint(name, "=", n)); return true }))
		assertList(t, "ScanCounters", got, "a=-2", "b=1")
		return nil
	})
}

func testParallelWriters(t *testing.T, s storage.Storage) {
	update(t, s, func(tx storage.ReadWriter) error { users(tx, "u1"); return nil })
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := 0
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("ws_%02d_%03d", g, i)
				err := s.Update(ctx, func(tx storage.ReadWriter) error {
					if i%5 == 4 { // every fifth fails, in the middle of the others' batches
						must(tx.CreateWorkspace(ws(id, "fail-"+id[3:])))
						return errBoom
					}
					must(tx.CreateWorkspace(ws(id, "s-"+id[3:])))
					return tx.AddCounter("workspaces", 1)
				})
				if i%5 == 4 {
					if !errors.Is(err, errBoom) {
						t.Errorf("failing writer got %v", err)
					}
					continue
				}
				if err != nil {
					t.Errorf("writer %d: %v", g, err)
					continue
				}
				mu.Lock()
				committed++
				mu.Unlock()
			}
		}(g)
		wg.Add(1)
		go func() { // readers alongside
			defer wg.Done()
			for i := 0; i < each; i++ {
				_ = s.View(ctx, func(tx storage.Reader) error {
					n, _ := tx.Counter("workspaces")
					seen := int64(0)
					_ = tx.ScanWorkspaces("", func(workspace.Workspace) bool { seen++; return true })
					if seen != n {
						t.Errorf("a snapshot saw %d workspaces and counter %d", seen, n)
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	view(t, s, func(tx storage.Reader) error {
		n, _ := tx.Counter("workspaces")
		seen := 0
		must(tx.ScanWorkspaces("", func(w workspace.Workspace) bool {
			seen++
			if w.Slug[:5] == "fail-" {
				t.Errorf("a failed writer's workspace %s was committed", w.ID)
			}
			return true
		}))
		if int(n) != committed || seen != committed {
			t.Errorf("counter %d, workspaces %d, want %d committed", n, seen, committed)
		}
		return nil
	})
}

func testCanceledContext(t *testing.T, s storage.Storage) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err := s.Update(c, func(tx storage.ReadWriter) error { ran = true; return tx.CreateUser(user("u1")) })
	wantKind(t, "Update with canceled context", err, context.Canceled)
	err = s.View(c, func(storage.Reader) error { ran = true; return nil })
	wantKind(t, "View with canceled context", err, context.Canceled)
	if ran {
		t.Error("fn ran under a canceled context")
	}
}

func testUseAfterClose(t *testing.T, s storage.Storage) {
	seed(t, s)
	var leaked storage.ReadWriter
	update(t, s, func(tx storage.ReadWriter) error { leaked = tx; return nil })
	wantKind(t, "write through a finished transaction", leaked.ReplaceUser(user("u9")), storage.ErrClosed)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantKind(t, "View after Close", s.View(ctx, func(storage.Reader) error { return nil }), storage.ErrClosed)
	wantKind(t, "Update after Close", s.Update(ctx, func(storage.ReadWriter) error { return nil }), storage.ErrClosed)
	wantKind(t, "second Close", s.Close(), storage.ErrClosed)
}

func testReopen(t *testing.T, s storage.Storage, reopen func(*testing.T, storage.Storage) storage.Storage) {
	seed(t, s)
	update(t, s, func(tx storage.ReadWriter) error {
		must(tx.CreateToken(tok("tok_p", "", "u2", "hp")))
		must(tx.CreateMember(mem("ws_1", "u2", rbac.Viewer)))
		return nil
	})
	before := dump(t, s)
	s2 := reopen(t, s)
	t.Cleanup(func() { _ = s2.Close() })
	if after := dump(t, s2); after != before {
		t.Errorf("data changed across close and reopen:\nbefore %s\nafter  %s", before, after)
	}
	view(t, s2, func(tx storage.Reader) error {
		if _, err := tx.GetTokenByHash([]byte("hp")); err != nil {
			t.Errorf("token hash index lost on reopen: %v", err)
		}
		if _, err := tx.GetWorkspaceByExternalID("ext-1"); err != nil {
			t.Errorf("external ID index lost on reopen: %v", err)
		}
		return nil
	})
}
