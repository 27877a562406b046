package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/token"
)

// TestVerifyFindsBrokenInvariants breaks each invariant straight through storage and
// checks that Verify names it.
func TestVerifyFindsBrokenInvariants(t *testing.T) {
	cases := []struct {
		name    string
		check   string
		want    string
		breakIt func(tx storage.ReadWriter, e *env) error
	}{
		{"two owners", "owner", "2 owners", func(tx storage.ReadWriter, e *env) error {
			return tx.ReplaceMember(member.Member{WorkspaceID: e.ws.ID, UserID: "admin", Role: rbac.Admin, Owner: true})
		}},
		{"no owner", "owner", "0 owners", func(tx storage.ReadWriter, e *env) error {
			return tx.ReplaceMember(member.Member{WorkspaceID: e.ws.ID, UserID: "owner", Role: rbac.Admin})
		}},
		{"owner demoted", "owner", "the owner is viewer", func(tx storage.ReadWriter, e *env) error {
			return tx.ReplaceMember(member.Member{WorkspaceID: e.ws.ID, UserID: "owner", Role: rbac.Viewer, Owner: true})
		}},
		{"no admin", "admin", "no member of the highest role", func(tx storage.ReadWriter, e *env) error {
			_ = tx.DeleteMember(e.ws.ID, "admin")
			return tx.ReplaceMember(member.Member{WorkspaceID: e.ws.ID, UserID: "owner", Role: rbac.Editor, Owner: true})
		}},
		{"member of a missing user", "orphan", "missing user", func(tx storage.ReadWriter, e *env) error {
			return tx.CreateMember(member.Member{WorkspaceID: e.ws.ID, UserID: "ghost", Role: rbac.Viewer})
		}},
		{"member of a missing workspace", "orphan", "missing workspace", func(tx storage.ReadWriter, e *env) error {
			return tx.CreateMember(member.Member{WorkspaceID: "ws_gone", UserID: "viewer", Role: rbac.Viewer})
		}},
		{"token of a missing workspace", "orphan", "token of a missing workspace", func(tx storage.ReadWriter, e *env) error {
			return tx.CreateToken(token.Token{ID: "tok_x", Kind: token.Workspace, WorkspaceID: "ws_gone", UserID: "editor", Hash: []byte("h")})
		}},
		{"token of a missing user", "orphan", "token of a missing user", func(tx storage.ReadWriter, e *env) error {
			return tx.CreateToken(token.Token{ID: "tok_x", Kind: token.Personal, UserID: "ghost", Hash: []byte("h")})
		}},
		{"invitation to a missing workspace", "orphan", "missing workspace", func(tx storage.ReadWriter, e *env) error {
			return tx.CreateInvitation(member.Invitation{ID: "inv_x", WorkspaceID: "ws_gone", Email: "x@y.z", Role: rbac.Viewer, SecretHash: []byte("h")})
		}},
		{"counter off", "counter", "counter says 2", func(tx storage.ReadWriter, e *env) error {
			err := tx.AddCounter(tenancy.CounterActiveWorkspaces, 1)
			return err
		}},
		{"workspace in an unknown state", "status", "unknown status", func(tx storage.ReadWriter, e *env) error {
			w, _ := tx.GetWorkspace(e.ws.ID)
			w.Status = "archived"
			return tx.ReplaceWorkspace(w)
		}},
	}
	for _, b := range backends {
		for _, c := range cases {
			t.Run(b.name+"/"+c.name, func(t *testing.T) {
				e := newEnv(t, b)
				e.skipVerify = true
				if f, err := e.m.Verify(ctx); err != nil || len(f) != 0 {
					t.Fatalf("healthy store: %v %v", f, err)
				}
				if err := e.store.Update(ctx, func(tx storage.ReadWriter) error { return c.breakIt(tx, e) }); err != nil {
					t.Fatal(err)
				}
				before := e.dump(t)
				findings, err := e.m.Verify(ctx)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, f := range findings {
					found = found || f.Check == c.check && strings.Contains(f.Detail, c.want)
				}
				if !found {
					t.Errorf("Verify missed it; found %v", findings)
				}
				if e.dump(t) != before {
					t.Error("Verify changed storage")
				}
			})
		}
	}
}

// On bolt, index damage below the storage interface is found by the backend check.
func TestVerifyFindsIndexDamage(t *testing.T) {
	cases := map[string]struct {
		bucket, key string
		value       []byte // nil deletes
		want        string
	}{
		"slug entry removed":         {"tenancy.workspaces.slug", "main", nil, "slug"},
		"dangling email entry":       {"tenancy.users.email", "zed@example.com", []byte("zed"), "missing record"},
		"membership index removed":   {"tenancy.members.user", "editor\x00WS", nil, "members.user"},
		"record that does not parse": {"tenancy.users", "viewer", []byte{1, 200}, "does not decode"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, backends[1])
			e.skipVerify = true
			db := e.store.(*bolt.Store).DB()
			key := strings.ReplaceAll(c.key, "WS", e.ws.ID)
			err := db.Update(func(btx *bbolt.Tx) error {
				bk := btx.Bucket([]byte(c.bucket))
				if c.value == nil {
					return bk.Delete([]byte(key))
				}
				return bk.Put([]byte(key), c.value)
			})
			if err != nil {
				t.Fatal(err)
			}
			findings, err := e.m.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			joined := ""
			for _, f := range findings {
				joined += f.String() + "\n"
			}
			if !strings.Contains(joined, c.want) {
				t.Errorf("Verify missed %s; found:\n%s", name, joined)
			}
		})
	}
}

// Verify reads the whole store, and a server runs it beside serving: when its
// context ends mid-walk it stops and says so, rather than reading on to the end.
func TestVerifyStopsWhenItsContextEnds(t *testing.T) {
	store := memory.New()
	err := store.Update(ctx, func(tx storage.ReadWriter) error {
		for i := range 3000 {
			id := fmt.Sprintf("u%05d", i)
			if err := tx.CreateUser(member.User{ID: id, Email: id + "@example.com"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Only the storage interface: the memory store's own check, which watches the
	// context too, is out of the way, so this tests the walk.
	m, err := tenancy.New(struct{ storage.Storage }{store}, tenancy.Options{SecretKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := &endsAfter{Context: ctx, calls: 2} // alive when the walk starts, ended soon after
	if findings, err := m.Verify(c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a context that ended mid-walk: %v, %v", findings, err)
	}
	if c.asked > 10 {
		t.Errorf("the walk asked its context %d times over 3,000 records: it reads on", c.asked)
	}
	if findings, err := m.Verify(ctx); err != nil || len(findings) != 0 {
		t.Fatalf("Verify: %v %v", findings, err)
	}
}

// endsAfter is a context whose Err is nil for its first calls, then Canceled.
type endsAfter struct {
	context.Context
	calls, asked int
}

func (c *endsAfter) Err() error {
	c.asked++
	if c.asked > c.calls {
		return context.Canceled
	}
	return nil
}
