package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/memory"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// newExampleManager returns a Manager on the memory backend with users ada and bob.
func newExampleManager() *tenancy.Manager {
	m, err := tenancy.New(memory.New(), tenancy.Options{})
	if err != nil {
		panic(err)
	}
	for _, u := range []tenancy.NewUser{{ID: "ada", Email: "ada@example.com"}, {ID: "bob", Email: "bob@example.com"}} {
		if _, err := m.RegisterUser(context.Background(), tenancy.System(), u); err != nil {
			panic(err)
		}
	}
	return m
}

func Example() {
	ctx := context.Background()
	m, _ := tenancy.New(memory.New(), tenancy.Options{})

	// The host registers its users (it authenticates them itself).
	_, _ = m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "ada", Email: "Ada@Example.com"})

	// A user creates a workspace and becomes its owner.
	ada := tenancy.User("ada")
	w, err := m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: "My App"})
	if err != nil {
		panic(err)
	}
	fmt.Println(w.Slug, w.Status)

	// The host asks before each action on its own resources.
	fmt.Println(m.Authorize(ctx, ada, w.ID, rbac.WriteContent))
	// Output:
	// my-app active
	// <nil>
}

func ExampleManager_CreateWorkspace() {
	ctx := context.Background()
	m := newExampleManager()
	w, err := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{
		Name:        "Staging",
		Slug:        "staging",
		Description: "pre-production",
		Metadata:    map[string]string{"region": "eu"},
	})
	fmt.Println(w.Slug, w.OwnerID, err)

	_, err = m.CreateWorkspace(ctx, tenancy.User("bob"), tenancy.NewWorkspace{Name: "Mine", Slug: "staging"})
	fmt.Println(errors.Is(err, tenancy.ErrAlreadyExists), err)
	// Output:
	// staging ada <nil>
	// true slug "staging" is already taken
}

func ExampleManager_Authorize() {
	ctx := context.Background()
	m := newExampleManager()
	w, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})

	// bob is not a member: he learns nothing about the workspace.
	err := m.Authorize(ctx, tenancy.User("bob"), w.ID, rbac.ReadContent)
	fmt.Println(errors.Is(err, tenancy.ErrNotFound))

	// An inactive workspace refuses writes with a clear error.
	_, _ = m.DeactivateWorkspace(ctx, tenancy.User("ada"), w.ID)
	err = m.Authorize(ctx, tenancy.User("ada"), w.ID, rbac.WriteContent)
	fmt.Println(errors.Is(err, tenancy.ErrFailedPrecondition))
	// Output:
	// true
	// true
}

func ExampleManager_ListWorkspaces() {
	ctx := context.Background()
	m := newExampleManager()
	ada := tenancy.User("ada")
	for _, name := range []string{"Alpha", "Beta", "Gamma"} {
		_, _ = m.CreateWorkspace(ctx, ada, tenancy.NewWorkspace{Name: name})
	}
	opts := workspace.ListOptions{Limit: 2}
	for {
		page, err := m.ListWorkspaces(ctx, ada, opts)
		if err != nil {
			panic(err)
		}
		for _, w := range page.Items {
			fmt.Println(w.Name)
		}
		if !page.HasMore {
			break
		}
		opts.Cursor = page.NextCursor
	}
	_, err := m.ListWorkspaces(ctx, ada, workspace.ListOptions{Limit: 101})
	fmt.Println(err)
	// Output:
	// Alpha
	// Beta
	// Gamma
	// limit must be between 1 and 100
}

func ExampleManager_SyncWorkspaces() {
	ctx := context.Background()
	m := newExampleManager()
	items := []workspace.SyncItem{{ExternalID: "crm-1", Name: "Acme", OwnerID: "ada"}, {ExternalID: "crm-2", Name: "Globex", OwnerID: "bob"}}
	for i := 0; i < 2; i++ {
		res, _ := m.SyncWorkspaces(ctx, tenancy.System(), items, tenancy.SyncOptions{})
		fmt.Printf("found %d, created %d, already existed %d\n", res.Found, res.Created, res.AlreadyExisted)
	}
	// Output:
	// found 2, created 2, already existed 0
	// found 2, created 0, already existed 2
}

func ExampleManager_SetWorkspaceFlags() {
	ctx := context.Background()
	// The host declares facts about its own resources, counted per workspace.
	m, _ := tenancy.New(memory.New(), tenancy.Options{WorkspaceFlags: []string{"sources", "active_connections"}})
	_, _ = m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "ada", Email: "ada@example.com"})
	shop, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})
	_, _ = m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Blog"})

	// The host's code marks a workspace when its first source is created.
	_, _ = m.SetWorkspaceFlags(ctx, tenancy.System(), shop.ID, map[string]bool{"sources": true})
	stats, _ := m.Stats(ctx, tenancy.System())
	fmt.Println(stats.Total, "workspaces:", stats.Flags)
	n, _ := stats.Flags.Get("sources")
	fmt.Println("workspaces_with_sources:", n)
	// Output:
	// 2 workspaces: sources=1, active_connections=0
	// workspaces_with_sources: 1
}

func ExampleManager_Feed() {
	ctx := context.Background()
	m := newExampleManager()
	_, _ = m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})

	// A provisioning job resumes from the cursor it saved.
	cursor := ""
	page, _ := m.Feed(ctx, tenancy.System(), tenancy.EventListOptions{Cursor: cursor})
	for _, e := range page.Items {
		fmt.Println(e.Type, e.Actor)
	}
	cursor = page.NextCursor // save it
	page, _ = m.Feed(ctx, tenancy.System(), tenancy.EventListOptions{Cursor: cursor})
	fmt.Println(len(page.Items), "new events")
	// Output:
	// user.registered system
	// user.registered system
	// workspace.created user:ada
	// 0 new events
}

func ExampleKindOf() {
	ctx := context.Background()
	m := newExampleManager()
	_, err := m.GetWorkspace(ctx, tenancy.User("ada"), "ws_missing")
	// An HTTP layer maps kinds to statuses in one table.
	status := map[error]int{tenancy.ErrNotFound: 404, tenancy.ErrInvalidArgument: 400}[tenancy.KindOf(err)]
	fmt.Println(status, err)
	// Output: 404 workspace "ws_missing" not found
}

func ExampleManager_InviteMember() {
	ctx := context.Background()
	m := newExampleManager()
	w, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})

	sent, err := m.InviteMember(ctx, tenancy.User("ada"), w.ID, tenancy.NewInvitation{Email: "Bob@Example.com", Role: rbac.Editor})
	if err != nil {
		panic(err)
	}
	// Send sent.Secret in a link; it is not stored and cannot be shown again.
	mb, err := m.AcceptInvitation(ctx, tenancy.User("bob"), sent.Secret)
	fmt.Println(mb.Role, mb.InvitedBy, err)

	// The grant ceiling: an admin can never make anyone platform.
	_, err = m.ChangeRole(ctx, tenancy.User("ada"), w.ID, "bob", rbac.Platform)
	fmt.Println(err)
	// Output:
	// editor ada <nil>
	// you can't assign a role higher than your own: only platform users grant platform
}

func ExampleManager_Authenticate() {
	ctx := context.Background()
	m := newExampleManager()
	defer m.Close()
	w, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})

	lifetime, _ := token.ParseLifetime("7d")
	tok, _ := m.CreateToken(ctx, tenancy.User("ada"), tenancy.NewToken{Name: "ci", WorkspaceID: w.ID, Role: rbac.Editor, Lifetime: lifetime})

	p, err := m.Authenticate(ctx, tok.Secret)
	fmt.Println(p.UserID(), p.WorkspaceID() == w.ID, err)
	fmt.Println(m.Authorize(ctx, p, w.ID, rbac.WriteContent))

	_ = m.RevokeToken(ctx, tenancy.User("ada"), tok.Token.ID)
	_, err = m.Authenticate(ctx, tok.Secret)
	fmt.Println(errors.Is(err, tenancy.ErrUnauthenticated))
	// Output:
	// ada true <nil>
	// <nil>
	// true
}

func ExampleManager_Verify() {
	ctx := context.Background()
	m := newExampleManager()
	_, _ = m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})

	// Walks every record and reports each broken invariant; none on a healthy store.
	findings, err := m.Verify(ctx)
	fmt.Println(len(findings), err)
	// Output: 0 <nil>
}

// A suspended user's tokens stop working at once and work again after reactivation.
func ExampleManager_SuspendUser() {
	ctx := context.Background()
	m := newExampleManager()
	sys := tenancy.System()
	tok, _ := m.CreateToken(ctx, tenancy.User("bob"), tenancy.NewToken{Name: "laptop", Lifetime: time.Hour})

	_, _ = m.SuspendUser(ctx, sys, "bob")
	_, err := m.Authenticate(ctx, tok.Secret)
	fmt.Println(errors.Is(err, tenancy.ErrUnauthenticated))

	_, _ = m.ReactivateUser(ctx, sys, "bob")
	_, err = m.Authenticate(ctx, tok.Secret)
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}

// Erasure is refused while the person owns a workspace; afterwards nothing of their
// email or name is left, and the address is free.
func ExampleManager_DeleteUser() {
	ctx := context.Background()
	m := newExampleManager()
	bob := tenancy.User("bob")
	w, _ := m.CreateWorkspace(ctx, bob, tenancy.NewWorkspace{Name: "Bob's"})

	_, err := m.DeleteUser(ctx, bob, "bob")
	fmt.Println(tenancy.KindOf(err))

	_, _ = m.AddMember(ctx, bob, w.ID, tenancy.NewMember{UserID: "ada", Role: rbac.Admin})
	_, _ = m.TransferOwnership(ctx, bob, w.ID, "ada")
	erased, err := m.DeleteUser(ctx, bob, "bob") // their own request
	fmt.Println(erased.Memberships, err)

	_, err = m.GetUserByEmail(ctx, tenancy.System(), "bob@example.com")
	fmt.Println(tenancy.KindOf(err))
	// Output:
	// failed precondition
	// 1 <nil>
	// not found
}

// Renaming a role for every member, invitation and token in one transaction: here
// editors become viewers.
func ExampleManager_RenameRole() {
	ctx := context.Background()
	m := newExampleManager()
	w, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})
	_, _ = m.AddMember(ctx, tenancy.User("ada"), w.ID, tenancy.NewMember{UserID: "bob", Role: rbac.Editor})

	got, err := m.RenameRole(ctx, tenancy.System(), rbac.Editor, rbac.Viewer)
	fmt.Println(got.Members, err)
	mb, _ := m.GetMember(ctx, tenancy.System(), w.ID, "bob")
	fmt.Println(mb.Role)
	// Output:
	// 1 <nil>
	// viewer
}

// A host provisions a resource per workspace (Tell's database, a starter kit) on
// workspace.created and tears it down on workspace.purged. The consumer's
// checkpoint is stored with the data: after a crash it resumes where it stopped,
// and an event that fails is tried again, never skipped. In production run
// m.Consume in a goroutine; here one step shows what it does.
func ExampleManager_Consume() {
	ctx := context.Background()
	m := newExampleManager()
	w, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Staging"})

	databases := map[string]bool{} // the host's per-workspace resources
	provision := func(ctx context.Context, e tenancy.Event) error {
		switch e.Type {
		case "workspace.created":
			databases[e.WorkspaceID] = true // e.g. run `tell setup-db init --workspace …`
			fmt.Println("provisioned", e.Data["slug"])
		case "workspace.purged":
			delete(databases, e.WorkspaceID)
			fmt.Println("tore down", e.Data["slug"])
		}
		return nil // an error would retry this event later, holding back the next
	}
	opts := tenancy.ConsumeOptions{Types: []string{"workspace.created", "workspace.purged"}, Instance: "web-1"}
	// go m.Consume(ctx, tenancy.System(), "provisioner", opts, provision)
	_, _ = m.ConsumeStep(ctx, tenancy.System(), "provisioner", opts, provision)

	// Later the workspace is deleted and purged (purging also removes its events
	// from the feed: a consumer that was behind sees only workspace.purged).
	_, _ = m.DeleteWorkspace(ctx, tenancy.User("ada"), w.ID)
	_ = m.PurgeWorkspace(ctx, tenancy.System(), w.ID)
	res, err := m.ConsumeStep(ctx, tenancy.System(), "provisioner", opts, provision)
	fmt.Println(res.Handled, "handled,", len(databases), "left,", err)
	// Output:
	// provisioned staging
	// tore down staging
	// 1 handled, 0 left, <nil>
}

// A workspace's admin registers an endpoint for its events; the secret is shown
// once, and every delivery is signed with it (Standard Webhooks).
func ExampleManager_CreateWebhook() {
	ctx := context.Background()
	m := newExampleManager()
	w, _ := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Shop"})
	h, err := m.CreateWebhook(ctx, tenancy.User("ada"), tenancy.NewWebhook{WorkspaceID: w.ID,
		URL: "https://hooks.example.com/tenancy", EventTypes: []string{"member.added", "member.removed"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Secret[:6], h.EventTypes)
	// Deliveries run in the background of every instance:
	// go m.DeliverWebhooks(ctx, tenancy.DeliverOptions{})
	_, err = m.CreateWebhook(ctx, tenancy.User("ada"), tenancy.NewWebhook{URL: "http://10.0.0.5/hook"})
	fmt.Println(tenancy.KindOf(err))
	// Output:
	// whsec_ [member.added member.removed]
	// invalid argument
}
