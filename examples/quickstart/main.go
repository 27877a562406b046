// Command quickstart walks through tenancy's workspace lifecycle, first on the
// in-memory backend and then on a bbolt file in a temporary directory:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/workspace"
)

func main() {
	log.SetFlags(0)
	ctx := context.Background()

	fmt.Println("== in memory")
	// A durable store needs a secret-hashing key kept outside the database; the
	// memory store makes its own.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		log.Fatal(err)
	}
	if err := tour(ctx, memory.New(), nil); err != nil {
		log.Fatal(err)
	}

	dir, err := os.MkdirTemp("", "tenancy-quickstart-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tenancy.db")
	fmt.Println("\n== on a bbolt file:", path, "(a temporary folder, removed at the end)")
	store, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if err := tour(ctx, store, key); err != nil {
		log.Fatal(err)
	}
	// Everything survives a restart.
	store, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	m, err := tenancy.New(store, tenancy.Options{SecretKey: key})
	if err != nil {
		log.Fatal(err)
	}
	stats, err := m.Stats(ctx, tenancy.System())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("after reopening the file: %d workspaces (%d active, %d deleted)\n", stats.Total, stats.Active, stats.Deleted)
}

func tour(ctx context.Context, store storage.Storage, key []byte) error {
	defer store.Close()
	m, err := tenancy.New(store, tenancy.Options{StarterKits: []string{"web-analytics"}, SecretKey: key})
	if err != nil {
		return err
	}
	defer m.Close() // writes pending token last-used times, before the store closes
	sys := tenancy.System()

	// The host registers its users; tenancy never sees a password.
	for _, u := range []tenancy.NewUser{
		{ID: "ada", Email: "Ada@Example.com ", Name: "Ada"},
		{ID: "bob", Email: "bob@example.com", Name: "Bob"},
	} {
		if _, err := m.RegisterUser(ctx, sys, u); err != nil {
			return err
		}
	}
	if _, err := m.SetPlatform(ctx, sys, "ada", true); err != nil {
		return err
	}
	ada, bob := tenancy.User("ada"), tenancy.User("bob")

	// Creating a workspace makes its creator the owner, in the same transaction.
	shop, err := m.CreateWorkspace(ctx, bob, tenancy.NewWorkspace{Name: "Bob's Shop", StarterKit: "web-analytics"})
	if err != nil {
		return err
	}
	fmt.Printf("bob created %q with slug %q\n", shop.Name, shop.Slug)
	for _, name := range []string{"Staging", "Marketing site", "Internal tools"} {
		if _, err := m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: name}); err != nil {
			return err
		}
	}
	_, err = m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: "Clash", Slug: "staging"})
	fmt.Println("a taken slug is refused:", err)

	// Lists are cursor-paged; platform users see every workspace.
	page, err := m.ListWorkspaces(ctx, ada, workspace.ListOptions{Limit: 2})
	if err != nil {
		return err
	}
	fmt.Printf("page 1: %s (more: %v)\n", names(page.Items), page.HasMore)
	page, err = m.ListWorkspaces(ctx, ada, workspace.ListOptions{Limit: 2, Cursor: page.NextCursor})
	if err != nil {
		return err
	}
	fmt.Printf("page 2: %s (more: %v)\n", names(page.Items), page.HasMore)
	mine, err := m.ListUserWorkspaces(ctx, bob, "bob", workspace.ListOptions{})
	if err != nil {
		return err
	}
	for _, uw := range mine.Items {
		fmt.Printf("bob's switcher: %s as %s (owner: %v)\n", uw.Workspace.Name, uw.Role, uw.Owner)
	}

	// Invite by email with a role; the secret goes in the link, once.
	if _, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: "cy", Email: "cy@example.com", Name: "Cy"}); err != nil {
		return err
	}
	sent, err := m.InviteMember(ctx, bob, shop.ID, tenancy.NewInvitation{Email: "CY@example.com", Role: rbac.Viewer})
	if err != nil {
		return err
	}
	fmt.Printf("bob invited %s as %s (link secret %s, expires %s)\n", sent.Invitation.Email, sent.Invitation.Role,
		sent.Invitation.Hint, sent.Invitation.ExpiresAt.Format("2006-01-02"))
	cy := tenancy.User("cy")
	if _, err := m.AcceptInvitation(ctx, cy, sent.Secret); err != nil {
		return err
	}
	fmt.Println("cy accepted the invitation and joined as viewer")
	if _, err := m.ChangeRole(ctx, bob, shop.ID, "cy", rbac.Editor); err != nil {
		return err
	}
	fmt.Println("bob promoted cy from viewer to editor")
	mb, err := m.GetMember(ctx, bob, shop.ID, "cy")
	if err != nil {
		return err
	}
	fmt.Printf("cy is now %s in %q\n", mb.Role, shop.Name)
	// The grant ceiling: nobody grants a role above their own.
	_, err = m.ChangeRole(ctx, bob, shop.ID, "cy", rbac.Platform)
	fmt.Println("bob tries to make cy platform:", err)
	_, err = m.InviteMember(ctx, cy, shop.ID, tenancy.NewInvitation{Email: "dee@example.com", Role: rbac.Admin})
	fmt.Println("cy (editor) tries to invite an admin:", err)

	// API tokens: the secret is shown once; tenancy keeps a keyed hash and a hint.
	tok, err := m.CreateToken(ctx, bob, tenancy.NewToken{Name: "ci", WorkspaceID: shop.ID, Role: rbac.Editor, Lifetime: 30 * 24 * time.Hour})
	if err != nil {
		return err
	}
	fmt.Printf("bob's token %q: %s, role %s\n", tok.Token.Name, tok.Token.Hint, tok.Token.Role)
	caller, err := m.Authenticate(ctx, tok.Secret) // one hash, one lookup, no write
	if err != nil {
		return err
	}
	fmt.Println("the token may write content:", m.Authorize(ctx, caller, shop.ID, rbac.WriteContent) == nil)
	err = m.Authorize(ctx, caller, shop.ID, rbac.InviteMembers)
	fmt.Println("but not invite:", err)
	rotated, err := m.RotateToken(ctx, bob, tok.Token.ID)
	if err != nil {
		return err
	}
	_, err = m.Authenticate(ctx, tok.Secret)
	fmt.Println("old secret after rotation:", err)
	if err := m.RevokeToken(ctx, bob, rotated.Token.ID); err != nil {
		return err
	}
	inactive, err := m.ListTokens(ctx, bob, tenancy.TokenListOptions{WorkspaceID: shop.ID, State: tenancy.TokenInactive})
	if err != nil {
		return err
	}
	for _, t := range inactive.Items {
		fmt.Printf("inactive token %q (%s)\n", t.Name, t.State)
	}

	// Deactivated: reads work, writes are refused with a clear error.
	if _, err := m.DeactivateWorkspace(ctx, bob, shop.ID); err != nil {
		return err
	}
	fmt.Println("read while inactive:", m.Authorize(ctx, bob, shop.ID, rbac.ReadContent) == nil)
	err = m.Authorize(ctx, bob, shop.ID, rbac.WriteContent)
	fmt.Println("write while inactive:", err, "| precondition:", errors.Is(err, tenancy.ErrFailedPrecondition))
	if _, err := m.ReactivateWorkspace(ctx, bob, shop.ID); err != nil {
		return err
	}

	// Soft delete keeps the data and the slug; the owner can restore.
	if _, err := m.DeleteWorkspace(ctx, bob, shop.ID); err != nil {
		return err
	}
	stats, err := m.Stats(ctx, ada)
	if err != nil {
		return err
	}
	fmt.Printf("stats after delete: total %d, active %d, inactive %d, deleted %d\n", stats.Total, stats.Active, stats.Inactive, stats.Deleted)
	if _, err := m.RestoreWorkspace(ctx, bob, shop.ID); err != nil {
		return err
	}
	_, err = m.Stats(ctx, bob)
	fmt.Println("bob asks for platform stats:", err)

	// Sync imports workspaces made elsewhere, by external ID, idempotently.
	items := []workspace.SyncItem{{ExternalID: "crm-1", Name: "Acme"}, {ExternalID: "crm-2", Name: "Globex"}}
	for i := 1; i <= 2; i++ {
		res, err := m.SyncWorkspaces(ctx, ada, items, tenancy.SyncOptions{})
		if err != nil {
			return err
		}
		fmt.Printf("sync #%d: found %d, created %d, already existed %d\n", i, res.Found, res.Created, res.AlreadyExisted)
	}

	// Every change is an event: the audit log, and the feed a host provisions from.
	events, err := m.ListEvents(ctx, bob, shop.ID, tenancy.EventListOptions{})
	if err != nil {
		return err
	}
	for _, e := range events.Items {
		fmt.Printf("  %-24s by %s\n", e.Type, e.Actor)
	}
	return nil
}

func names(ws []workspace.Workspace) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += ", "
		}
		s += w.Name
	}
	return s
}
