package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

// The permission table of AUTHORIZATION.md, written out: the lowest subject allowed each
// action (owner is the admin with the owner flag; platform may do everything).
var minSubject = map[rbac.Action]string{
	rbac.ReadWorkspace:   "viewer",
	rbac.ListMembers:     "viewer",
	rbac.ReadContent:     "viewer",
	rbac.WriteContent:    "editor",
	rbac.CreateToken:     "editor",
	rbac.UpdateWorkspace: "admin",
	rbac.ChangeStatus:    "admin",
	rbac.InviteMembers:   "admin",
	rbac.ManageMembers:   "admin",
	rbac.ManageTokens:    "admin",
	rbac.ReadAudit:       "admin",
	rbac.DeleteWorkspace: "owner",
	rbac.ListAll:         "platform",
	rbac.ReadStats:       "platform",
	rbac.SyncWorkspaces:  "platform",
	rbac.PurgeWorkspaces: "platform",
	rbac.ManageUsers:     "platform",
}

var subjectRank = map[string]int{"viewer": 1, "editor": 2, "admin": 3, "owner": 4, "platform": 5}

// The status table of AUTHORIZATION.md, written out: what an inactive workspace still
// allows. A deleted one allows only restore (workspace:delete) and purge, plus
// reading the record for those who may restore it.
var inactiveOK = map[rbac.Action]bool{
	rbac.ReadWorkspace: true, rbac.ListMembers: true, rbac.ReadContent: true, rbac.ReadAudit: true,
	rbac.ManageMembers: true, rbac.ManageTokens: true, rbac.ChangeStatus: true, rbac.DeleteWorkspace: true,
	rbac.PurgeWorkspaces: true,
}

func expectAuthorize(actor string, action rbac.Action, status workspace.Status) error {
	switch actor {
	case "nobody", "ghost":
		return tenancy.ErrUnauthenticated
	case "outsider":
		return tenancy.ErrNotFound
	}
	if actor != "system" && subjectRank[actor] < subjectRank[minSubject[action]] {
		return tenancy.ErrPermissionDenied
	}
	switch status {
	case workspace.Inactive:
		if !inactiveOK[action] {
			return tenancy.ErrFailedPrecondition
		}
	case workspace.Deleted:
		if action == rbac.DeleteWorkspace || action == rbac.PurgeWorkspaces {
			return nil
		}
		if action == rbac.ReadWorkspace && (actor == "owner" || actor == "platform" || actor == "system") {
			return nil
		}
		return tenancy.ErrFailedPrecondition
	}
	return nil
}

func TestAuthorizeMatrix(t *testing.T) {
	actors := map[string]tenancy.Principal{"viewer": viewer, "editor": editor, "admin": admin, "owner": owner,
		"platform": platform, "outsider": outsider, "system": system, "ghost": ghost, "nobody": nobody}
	eachBackend(t, func(t *testing.T, e *env) {
		for _, status := range []workspace.Status{workspace.Active, workspace.Inactive, workspace.Deleted} {
			switch status {
			case workspace.Inactive:
				if _, err := e.m.DeactivateWorkspace(ctx, owner, e.ws.ID); err != nil {
					t.Fatal(err)
				}
			case workspace.Deleted:
				if _, err := e.m.DeleteWorkspace(ctx, owner, e.ws.ID); err != nil {
					t.Fatal(err)
				}
			}
			before := e.dump(t)
			for name, p := range actors {
				for action := range minSubject {
					want := expectAuthorize(name, action, status)
					err := e.m.Authorize(ctx, p, e.ws.ID, action)
					if want == nil && err != nil || want != nil && !errors.Is(err, want) {
						t.Errorf("%s: %s %s: got %v, want %v", status, name, action, err, want)
					}
				}
			}
			if e.dump(t) != before {
				t.Fatal("Authorize wrote to storage")
			}
		}
	})
}

func TestAuthorizeUnknownWorkspaceAndAction(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		wantErr(t, e.m.Authorize(ctx, owner, "ws_nope", rbac.ReadWorkspace), tenancy.ErrNotFound, "not found")
		wantErr(t, e.m.Authorize(ctx, ghost, "ws_nope", rbac.ReadWorkspace), tenancy.ErrUnauthenticated, "unknown user")
		// An action no policy names is allowed to nobody but System.
		wantErr(t, e.m.Authorize(ctx, owner, e.ws.ID, "dashboard:edit"), tenancy.ErrPermissionDenied, "may not dashboard:edit")
		wantErr(t, e.m.Authorize(ctx, platform, e.ws.ID, "dashboard:edit"), tenancy.ErrPermissionDenied, "the platform role may not dashboard:edit in workspace")
	})
}

func TestHostPolicyAddsActions(t *testing.T) {
	pol, err := rbac.Load(rbac.Options{Extra: "p, editor, dashboard:edit\np, viewer, dashboard:view"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			store := b.open(t)
			defer store.Close()
			m, err := tenancy.New(store, tenancy.Options{Policy: pol, ReadActions: []rbac.Action{"dashboard:view"}, SecretKey: testKey})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"o", "v", "ed"} {
				if _, err := m.RegisterUser(ctx, system, tenancy.NewUser{ID: u, Email: u + "@x.org"}); err != nil {
					t.Fatal(err)
				}
			}
			w, err := m.CreateWorkspace(ctx, tenancy.User("o"), tenancy.NewWorkspace{Name: "W"})
			if err != nil {
				t.Fatal(err)
			}
			_ = store.Update(ctx, func(tx storage.ReadWriter) error {
				_ = tx.CreateMember(member.Member{WorkspaceID: w.ID, UserID: "v", Role: rbac.Viewer})
				return tx.CreateMember(member.Member{WorkspaceID: w.ID, UserID: "ed", Role: rbac.Editor})
			})
			wantErr(t, m.Authorize(ctx, tenancy.User("ed"), w.ID, "dashboard:edit"), nil, "")
			wantErr(t, m.Authorize(ctx, tenancy.User("v"), w.ID, "dashboard:edit"), tenancy.ErrPermissionDenied, "viewer")
			wantErr(t, m.Authorize(ctx, tenancy.User("o"), w.ID, "dashboard:edit"), nil, "")
			if _, err := m.DeactivateWorkspace(ctx, tenancy.User("o"), w.ID); err != nil {
				t.Fatal(err)
			}
			// A host read action stays allowed in an inactive workspace; a write does not.
			wantErr(t, m.Authorize(ctx, tenancy.User("v"), w.ID, "dashboard:view"), nil, "")
			wantErr(t, m.Authorize(ctx, tenancy.User("ed"), w.ID, "dashboard:edit"), tenancy.ErrFailedPrecondition, "inactive")
		})
	}
}

func TestCreateWorkspace(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		w, err := e.m.CreateWorkspace(ctx, platform, tenancy.NewWorkspace{Name: "Ünïcode & Co. Analytics!", Description: "d",
			Metadata: map[string]string{"plan": "pro"}, ExternalID: "crm-7", StarterKit: "web-analytics", OwnerID: "editor"})
		if err != nil {
			t.Fatal(err)
		}
		if w.Slug != "n-code-co-analytics" || w.Status != workspace.Active || w.OwnerID != "editor" ||
			!strings.HasPrefix(w.ID, "ws_") || !w.CreatedAt.Equal(e.clock.Now()) || w.Metadata["plan"] != "pro" {
			t.Errorf("unexpected workspace %+v", w)
		}
		got, err := e.m.GetWorkspaceBySlug(ctx, editor, w.Slug)
		if err != nil || got.ID != w.ID {
			t.Fatalf("GetWorkspaceBySlug: %v %v", got.ID, err)
		}
		// The creator is owner and admin, atomically with the workspace.
		err = e.store.View(ctx, func(tx storage.Reader) error {
			mb, err := tx.GetMember(w.ID, "editor")
			if err != nil || mb.Role != rbac.Admin || !mb.Owner {
				t.Errorf("owner membership %+v, %v", mb, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// A derived slug that is taken gets a suffix; an explicit one is refused.
		w2, err := e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "Ünïcode & Co. Analytics!"})
		if err != nil || w2.Slug == w.Slug || !strings.HasPrefix(w2.Slug, w.Slug+"-") {
			t.Errorf("second derived slug %q, %v", w2.Slug, err)
		}
		_, err = e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "x", Slug: w.Slug})
		wantErr(t, err, tenancy.ErrAlreadyExists, `slug "n-code-co-analytics" is already taken`)
		_, err = e.m.CreateWorkspace(ctx, platform, tenancy.NewWorkspace{Name: "x", ExternalID: "crm-7"})
		wantErr(t, err, tenancy.ErrAlreadyExists, `external ID "crm-7" is already used`)
		// Only System and platform users set external IDs: they name the host's own records.
		_, err = e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "x", ExternalID: "crm-8"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "external ID")
		// A name with no letters still gets a valid slug.
		w3, err := e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "日本語"})
		if err != nil || workspace.ValidateSlug(w3.Slug) != nil {
			t.Errorf("slug for a name without ASCII: %q %v", w3.Slug, err)
		}
		// System creates for a named owner; platform users may too; others may not.
		w4, err := e.m.CreateWorkspace(ctx, system, tenancy.NewWorkspace{Name: "For viewer", OwnerID: "viewer"})
		if err != nil || w4.OwnerID != "viewer" {
			t.Errorf("System create for viewer: %+v %v", w4, err)
		}
		_, err = e.m.CreateWorkspace(ctx, platform, tenancy.NewWorkspace{Name: "For admin", OwnerID: "admin"})
		wantErr(t, err, nil, "")
		_, err = e.m.CreateWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "For viewer", OwnerID: "viewer"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "only platform users")
		_, err = e.m.CreateWorkspace(ctx, system, tenancy.NewWorkspace{Name: "Ownerless"})
		wantErr(t, err, tenancy.ErrInvalidArgument, "an owner is required")
		_, err = e.m.CreateWorkspace(ctx, system, tenancy.NewWorkspace{Name: "Ghost's", OwnerID: "ghost"})
		wantErr(t, err, tenancy.ErrInvalidArgument, `owner "ghost" is not a registered user`)
		// The event feed has the creation with its starter kit, for provisioning.
		feed, err := e.m.Feed(ctx, system, tenancy.EventListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range feed.Items {
			if ev.Type == "workspace.created" && ev.WorkspaceID == w.ID {
				found = ev.Data["starter_kit"] == "web-analytics" && ev.Actor == "user:plat"
			}
		}
		if !found {
			t.Error("no workspace.created event with the starter kit")
		}
	})
}

// TestBadInput feeds every operation bad input and checks the kind, the message and
// that storage is unchanged.
func TestBadInput(t *testing.T) {
	long := strings.Repeat("x", 10*1024)
	bigMeta := map[string]string{}
	for i := 0; i < 33; i++ {
		bigMeta[fmt.Sprintf("k%d", i)] = "v"
	}
	eachBackend(t, func(t *testing.T, e *env) {
		id := e.ws.ID
		cases := []struct {
			name string
			call func() error
			kind error
			msg  string
		}{
			{"empty name", create(e, owner, tenancy.NewWorkspace{Name: ""}), tenancy.ErrInvalidArgument, "name must not be empty"},
			{"blank name", create(e, owner, tenancy.NewWorkspace{Name: "   "}), tenancy.ErrInvalidArgument, "name must not be empty"},
			{"10 KB name", create(e, owner, tenancy.NewWorkspace{Name: long}), tenancy.ErrInvalidArgument, "name must be at most 100 characters"},
			{"control char in name", create(e, owner, tenancy.NewWorkspace{Name: "a\x00b"}), tenancy.ErrInvalidArgument, "control characters"},
			{"uppercase slug", create(e, owner, tenancy.NewWorkspace{Name: "n", Slug: "My Slug"}), tenancy.ErrInvalidArgument, `slug "My Slug" must be lowercase letters, digits and hyphens, 1-50 characters`},
			{"underscore slug", create(e, owner, tenancy.NewWorkspace{Name: "n", Slug: "a_b"}), tenancy.ErrInvalidArgument, "must be lowercase letters"},
			{"comma slug", create(e, owner, tenancy.NewWorkspace{Name: "n", Slug: "a,b"}), tenancy.ErrInvalidArgument, "must be lowercase letters"},
			{"star slug", create(e, owner, tenancy.NewWorkspace{Name: "n", Slug: "*"}), tenancy.ErrInvalidArgument, "must be lowercase letters"},
			{"51-char slug", create(e, owner, tenancy.NewWorkspace{Name: "n", Slug: strings.Repeat("a", 51)}), tenancy.ErrInvalidArgument, "1-50 characters"},
			{"duplicate slug", create(e, owner, tenancy.NewWorkspace{Name: "n", Slug: e.ws.Slug}), tenancy.ErrAlreadyExists, "already taken"},
			{"oversized metadata", create(e, owner, tenancy.NewWorkspace{Name: "n", Metadata: bigMeta}), tenancy.ErrInvalidArgument, "at most 32 keys"},
			{"oversized metadata value", create(e, owner, tenancy.NewWorkspace{Name: "n", Metadata: map[string]string{"k": long}}), tenancy.ErrInvalidArgument, "at most 1024 bytes"},
			{"bad metadata key", create(e, owner, tenancy.NewWorkspace{Name: "n", Metadata: map[string]string{"a b": "v"}}), tenancy.ErrInvalidArgument, `metadata key "a b"`},
			{"long description", create(e, owner, tenancy.NewWorkspace{Name: "n", Description: long}), tenancy.ErrInvalidArgument, "description must be at most"},
			{"unknown starter kit", create(e, owner, tenancy.NewWorkspace{Name: "n", StarterKit: "nope"}), tenancy.ErrInvalidArgument, `starter kit "nope" is not registered`},
			{"spaced external ID", create(e, owner, tenancy.NewWorkspace{Name: "n", ExternalID: " x"}), tenancy.ErrInvalidArgument, "external ID"},
			{"nobody creates", create(e, nobody, tenancy.NewWorkspace{Name: "n"}), tenancy.ErrUnauthenticated, "authenticate first"},
			{"ghost creates", create(e, ghost, tenancy.NewWorkspace{Name: "n"}), tenancy.ErrUnauthenticated, `unknown user "ghost"`},
			{"limit 0 is default, 101 refused", list(e, platform, workspace.ListOptions{Limit: 101}), tenancy.ErrInvalidArgument, "limit must be between 1 and 100"},
			{"negative limit", list(e, platform, workspace.ListOptions{Limit: -1}), tenancy.ErrInvalidArgument, "limit must be between 1 and 100"},
			{"garbage cursor", list(e, platform, workspace.ListOptions{Cursor: "%%%garbage"}), tenancy.ErrInvalidArgument, "cursor"},
			{"foreign base64 cursor", list(e, platform, workspace.ListOptions{Cursor: "aGVsbG8"}), tenancy.ErrInvalidArgument, "cursor"},
			{"unknown status", list(e, platform, workspace.ListOptions{Status: "archived"}), tenancy.ErrInvalidArgument, `status "archived" must be active, inactive or deleted`},
			{"get unknown ID", get(e, owner, "ws_unknown"), tenancy.ErrNotFound, `workspace "ws_unknown" not found`},
			{"get as non-member", get(e, outsider, id), tenancy.ErrNotFound, "not found"},
			{"get by bad slug", func() error { _, err := e.m.GetWorkspaceBySlug(ctx, owner, "Bad Slug"); return err }, tenancy.ErrInvalidArgument, "slug"},
			{"update as viewer", upd(e, viewer, id, tenancy.WorkspaceUpdate{Name: ptr("x")}), tenancy.ErrPermissionDenied, "the viewer role may not update the workspace"},
			{"update as editor", upd(e, editor, id, tenancy.WorkspaceUpdate{Name: ptr("x")}), tenancy.ErrPermissionDenied, "editor role"},
			{"update as non-member", upd(e, outsider, id, tenancy.WorkspaceUpdate{Name: ptr("x")}), tenancy.ErrNotFound, "not found"},
			{"update empty name", upd(e, admin, id, tenancy.WorkspaceUpdate{Name: ptr("")}), tenancy.ErrInvalidArgument, "name must not be empty"},
			{"update bad slug", upd(e, admin, id, tenancy.WorkspaceUpdate{Slug: ptr("UP")}), tenancy.ErrInvalidArgument, "slug"},
			{"update unknown ID", upd(e, admin, "ws_unknown", tenancy.WorkspaceUpdate{Name: ptr("x")}), tenancy.ErrNotFound, "not found"},
			{"deactivate as editor", status(e.m.DeactivateWorkspace, editor, id), tenancy.ErrPermissionDenied, "change the workspace's status"},
			{"delete as admin", status(e.m.DeleteWorkspace, admin, id), tenancy.ErrPermissionDenied, "the admin role may not delete"},
			{"delete as viewer", status(e.m.DeleteWorkspace, viewer, id), tenancy.ErrPermissionDenied, "the viewer role may not delete or restore the workspace"},
			{"restore an active one", status(e.m.RestoreWorkspace, owner, id), tenancy.ErrFailedPrecondition, "is active"},
			{"purge as owner", func() error { return e.m.PurgeWorkspace(ctx, owner, id) }, tenancy.ErrPermissionDenied, "only platform users may purge"},
			{"purge unknown", func() error { return e.m.PurgeWorkspace(ctx, platform, "ws_unknown") }, tenancy.ErrNotFound, "not found"},
			{"stats as owner", func() error { _, err := e.m.Stats(ctx, owner); return err }, tenancy.ErrPermissionDenied, "only platform users may read workspace statistics"},
			{"negative retention", func() error { _, err := e.m.PurgeDeleted(ctx, platform, -time.Hour); return err }, tenancy.ErrInvalidArgument, "negative"},
			{"retention as admin", func() error { _, err := e.m.PurgeDeleted(ctx, admin, time.Hour); return err }, tenancy.ErrPermissionDenied, "only platform users may purge"},
			{"sync as owner", sync1(e, owner, workspace.SyncItem{ExternalID: "e1", Name: "n"}), tenancy.ErrPermissionDenied, "only platform users may sync"},
			{"sync without external ID", sync1(e, platform, workspace.SyncItem{Name: "n"}), tenancy.ErrInvalidArgument, "workspace 0: external ID is required"},
			{"sync with a bad name", sync1(e, platform, workspace.SyncItem{ExternalID: "e1", Name: long}), tenancy.ErrInvalidArgument, "workspace 0: name must be at most"},
			{"sync by System without owner", sync1(e, system, workspace.SyncItem{ExternalID: "e1", Name: "n"}), tenancy.ErrInvalidArgument, "an owner is required"},
			{"ensure without external ID", func() error {
				_, _, err := e.m.EnsureWorkspace(ctx, owner, tenancy.NewWorkspace{Name: "n"})
				return err
			}, tenancy.ErrInvalidArgument, "external ID is required"},
			{"events as editor", func() error { _, err := e.m.ListEvents(ctx, editor, id, tenancy.EventListOptions{}); return err }, tenancy.ErrPermissionDenied, "audit log"},
			{"events with limit 101", func() error {
				_, err := e.m.ListEvents(ctx, admin, id, tenancy.EventListOptions{Limit: 101})
				return err
			}, tenancy.ErrInvalidArgument, "limit must be between 1 and 100"},
			{"feed as admin", func() error { _, err := e.m.Feed(ctx, admin, tenancy.EventListOptions{}); return err }, tenancy.ErrPermissionDenied, "only platform users may list every workspace"},
			{"register as owner", reg(e, owner, tenancy.NewUser{ID: "n", Email: "n@x.org"}), tenancy.ErrPermissionDenied, "manage users"},
			{"register bad email", reg(e, system, tenancy.NewUser{ID: "n", Email: "not-an-email"}), tenancy.ErrInvalidArgument, `email "not-an-email" is not a valid address`},
			{"register bad ID", reg(e, system, tenancy.NewUser{ID: "a b", Email: "n@x.org"}), tenancy.ErrInvalidArgument, "user ID"},
			{"register taken ID", reg(e, system, tenancy.NewUser{ID: "owner", Email: "n@x.org"}), tenancy.ErrAlreadyExists, `user "owner" already exists`},
			{"register taken email", reg(e, system, tenancy.NewUser{ID: "n", Email: " OWNER@example.com"}), tenancy.ErrAlreadyExists, `email "owner@example.com" is already registered`},
			{"grant platform as admin", func() error { _, err := e.m.SetPlatform(ctx, admin, "admin", true); return err }, tenancy.ErrPermissionDenied, "only platform users may manage users"},
			{"grant platform to ghost", func() error { _, err := e.m.SetPlatform(ctx, platform, "ghost", true); return err }, tenancy.ErrNotFound, "not found"},
			{"read another user", func() error { _, err := e.m.GetUser(ctx, viewer, "owner"); return err }, tenancy.ErrPermissionDenied, "own record"},
			{"probe an email", func() error { _, err := e.m.GetUserByEmail(ctx, viewer, "nobody@x.org"); return err }, tenancy.ErrPermissionDenied, "own record"},
			{"another user's switcher", func() error {
				_, err := e.m.ListUserWorkspaces(ctx, viewer, "owner", workspace.ListOptions{})
				return err
			}, tenancy.ErrPermissionDenied, "own workspaces"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.msg == "" {
					t.Fatal("a case must name the message it expects: the empty string matches any")
				}
				before := e.dump(t)
				err := c.call()
				if !errors.Is(err, c.kind) {
					t.Errorf("got %v (kind %v), want %v", err, tenancy.KindOf(err), c.kind)
				} else if !strings.Contains(err.Error(), c.msg) {
					t.Errorf("message %q lacks %q", err, c.msg)
				}
				if e.dump(t) != before {
					t.Error("a refused call changed storage")
				}
			})
		}
	})
}

func create(e *env, p tenancy.Principal, in tenancy.NewWorkspace) func() error {
	return func() error { _, err := e.m.CreateWorkspace(ctx, p, in); return err }
}

func list(e *env, p tenancy.Principal, o workspace.ListOptions) func() error {
	return func() error { _, err := e.m.ListWorkspaces(ctx, p, o); return err }
}

func get(e *env, p tenancy.Principal, id string) func() error {
	return func() error { _, err := e.m.GetWorkspace(ctx, p, id); return err }
}

func upd(e *env, p tenancy.Principal, id string, u tenancy.WorkspaceUpdate) func() error {
	return func() error { _, err := e.m.UpdateWorkspace(ctx, p, id, u); return err }
}

func status(fn func(context.Context, tenancy.Principal, string) (workspace.Workspace, error), p tenancy.Principal, id string) func() error {
	return func() error { _, err := fn(ctx, p, id); return err }
}

func sync1(e *env, p tenancy.Principal, it workspace.SyncItem) func() error {
	return func() error {
		_, err := e.m.SyncWorkspaces(ctx, p, []workspace.SyncItem{it}, tenancy.SyncOptions{})
		return err
	}
}

func reg(e *env, p tenancy.Principal, u tenancy.NewUser) func() error {
	return func() error { _, err := e.m.RegisterUser(ctx, p, u); return err }
}

func TestLifecycleAndStats(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		wantStats := func(active, inactive, deleted int64) {
			t.Helper()
			s, err := e.m.Stats(ctx, platform)
			if err != nil {
				t.Fatal(err)
			}
			want := workspace.Stats{Total: active + inactive, Active: active, Inactive: inactive, Deleted: deleted}
			if s != want {
				t.Errorf("stats %+v, want %+v", s, want)
			}
		}
		wantStats(1, 0, 0)
		w, err := e.m.DeactivateWorkspace(ctx, admin, e.ws.ID)
		if err != nil || w.Status != workspace.Inactive {
			t.Fatalf("deactivate: %v %v", w.Status, err)
		}
		wantStats(0, 1, 0)
		// Deactivating twice changes nothing and records nothing.
		before := e.dump(t)
		if _, err := e.m.DeactivateWorkspace(ctx, admin, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		if e.dump(t) != before {
			t.Error("a second deactivation changed storage")
		}
		_, err = e.m.UpdateWorkspace(ctx, admin, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("New")})
		wantErr(t, err, tenancy.ErrFailedPrecondition, "is inactive: reactivate it to update the workspace")
		if _, err := e.m.ReactivateWorkspace(ctx, admin, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		wantStats(1, 0, 0)
		e.clock.Advance(time.Minute)
		w, err = e.m.DeleteWorkspace(ctx, owner, e.ws.ID)
		if err != nil || w.Status != workspace.Deleted || !w.DeletedAt.Equal(e.clock.Now()) {
			t.Fatalf("delete: %+v %v", w, err)
		}
		wantStats(0, 0, 1)
		// Deleted: the slug stays reserved, members see nothing, the owner can read to restore.
		_, err = e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "x", Slug: e.ws.Slug})
		wantErr(t, err, tenancy.ErrAlreadyExists, "already taken")
		_, err = e.m.GetWorkspace(ctx, admin, e.ws.ID)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "is deleted: restore it first")
		if _, err := e.m.GetWorkspace(ctx, owner, e.ws.ID); err != nil {
			t.Errorf("owner reads a deleted workspace: %v", err)
		}
		_, err = e.m.ReactivateWorkspace(ctx, admin, e.ws.ID)
		wantErr(t, err, tenancy.ErrFailedPrecondition, "deleted")
		w, err = e.m.RestoreWorkspace(ctx, platform, e.ws.ID)
		if err != nil || w.Status != workspace.Active || !w.DeletedAt.IsZero() {
			t.Fatalf("restore: %+v %v", w, err)
		}
		wantStats(1, 0, 0)
		w, err = e.m.UpdateWorkspace(ctx, admin, e.ws.ID, tenancy.WorkspaceUpdate{Name: ptr("Renamed"), Slug: ptr("renamed"),
			Description: ptr("about"), Metadata: map[string]string{"tier": "gold"}})
		if err != nil || w.Name != "Renamed" || w.Slug != "renamed" || w.Metadata["tier"] != "gold" {
			t.Fatalf("update: %+v %v", w, err)
		}
		if _, err := e.m.GetWorkspaceBySlug(ctx, viewer, "renamed"); err != nil {
			t.Errorf("new slug: %v", err)
		}
		other, _ := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Other"})
		_, err = e.m.UpdateWorkspace(ctx, admin, other.ID, tenancy.WorkspaceUpdate{Slug: ptr("renamed")})
		wantErr(t, err, tenancy.ErrAlreadyExists, `slug "renamed" is already taken`)
		evs, err := e.m.ListEvents(ctx, admin, e.ws.ID, tenancy.EventListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, ev := range evs.Items {
			types = append(types, ev.Type)
		}
		want := "workspace.created workspace.deactivated workspace.reactivated workspace.deleted workspace.restored workspace.updated"
		if strings.Join(types, " ") != want {
			t.Errorf("events:\n got %s\nwant %s", strings.Join(types, " "), want)
		}
	})
}

func TestListWorkspaces(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var created []string
		for i := 0; i < 45; i++ {
			name := fmt.Sprintf("Team %02d", i)
			if i%3 == 0 {
				name = fmt.Sprintf("Demo %02d", i)
			}
			w, err := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			created = append(created, w.ID)
		}
		if _, err := e.m.DeactivateWorkspace(ctx, admin, created[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.DeleteWorkspace(ctx, admin, created[2]); err != nil {
			t.Fatal(err)
		}
		all := func(p tenancy.Principal, o workspace.ListOptions) []string {
			t.Helper()
			var ids []string
			for pages := 0; ; pages++ {
				pg, err := e.m.ListWorkspaces(ctx, p, o)
				if err != nil {
					t.Fatal(err)
				}
				if o.Limit > 0 && len(pg.Items) > o.Limit || pages > 100 {
					t.Fatalf("page of %d items for limit %d", len(pg.Items), o.Limit)
				}
				for _, w := range pg.Items {
					ids = append(ids, w.ID)
				}
				if !pg.HasMore {
					return ids
				}
				o.Cursor = pg.NextCursor
			}
		}
		// admin belongs to Main and to the 45 it created; deleted ones are listed
		// only with Status: Deleted.
		got := all(admin, workspace.ListOptions{Limit: 7})
		if len(got) != 45 {
			t.Errorf("admin sees %d workspaces, want 45", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Fatal("list is not in creation order")
			}
		}
		if n := len(all(viewer, workspace.ListOptions{})); n != 1 {
			t.Errorf("viewer sees %d workspaces, want 1", n)
		}
		if n := len(all(outsider, workspace.ListOptions{})); n != 0 {
			t.Errorf("outsider sees %d workspaces, want 0", n)
		}
		if n := len(all(platform, workspace.ListOptions{Limit: 100})); n != 45 {
			t.Errorf("platform sees %d workspaces, want 45", n)
		}
		if got := all(platform, workspace.ListOptions{Status: workspace.Deleted}); len(got) != 1 || got[0] != created[2] {
			t.Errorf("deleted filter: %v", got)
		}
		if got := all(platform, workspace.ListOptions{Status: workspace.Inactive}); len(got) != 1 || got[0] != created[1] {
			t.Errorf("inactive filter: %v", got)
		}
		// Demo 00..42 step 3 = 15 names, all active.
		if got := all(platform, workspace.ListOptions{NameContains: "dEMo", Limit: 4}); len(got) != 15 {
			t.Errorf("name_contains=dEMo: %d, want 15", len(got))
		}
		sw, err := e.m.ListUserWorkspaces(ctx, viewer, "viewer", workspace.ListOptions{})
		if err != nil || len(sw.Items) != 1 || sw.Items[0].Role != rbac.Viewer || sw.Items[0].Owner {
			t.Errorf("viewer's switcher: %+v %v", sw.Items, err)
		}
		sw, err = e.m.ListUserWorkspaces(ctx, platform, "owner", workspace.ListOptions{})
		if err != nil || len(sw.Items) != 1 || !sw.Items[0].Owner || sw.Items[0].Role != rbac.Admin {
			t.Errorf("owner's switcher read by platform: %+v %v", sw.Items, err)
		}
	})
}

func TestPurgeCascades(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		other, err := e.m.CreateWorkspace(ctx, system, tenancy.NewWorkspace{Name: "Other", ExternalID: "x-1", OwnerID: "admin"})
		if err != nil {
			t.Fatal(err)
		}
		// Give the doomed workspace invitations and tokens straight through storage.
		now := e.clock.Now()
		err = e.store.Update(ctx, func(tx storage.ReadWriter) error {
			for i, ws := range []string{e.ws.ID, other.ID} {
				_ = tx.CreateInvitation(member.Invitation{ID: fmt.Sprintf("inv_%d", i), WorkspaceID: ws, Email: "x@y.z", Role: rbac.Viewer, SecretHash: []byte{byte(i)}, ExpiresAt: now.Add(time.Hour)})
				_ = tx.CreateToken(token.Token{ID: fmt.Sprintf("tok_%d", i), Kind: token.Workspace, WorkspaceID: ws, UserID: "admin", Role: rbac.Editor, Hash: []byte{byte(i)}})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		otherBefore := dumpWorkspace(t, e, other.ID)
		if err := e.m.PurgeWorkspace(ctx, platform, e.ws.ID); err != nil {
			t.Fatal(err)
		}
		err = e.store.View(ctx, func(tx storage.Reader) error {
			if _, err := tx.GetWorkspace(e.ws.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Error("workspace survives purge")
			}
			n := 0
			_ = tx.ScanMembers(e.ws.ID, "", func(member.Member) bool { n++; return true })
			_ = tx.ScanInvitations(e.ws.ID, "", func(member.Invitation) bool { n++; return true })
			_ = tx.ScanWorkspaceTokens(e.ws.ID, "", func(token.Token) bool { n++; return true })
			_ = tx.ScanUserTokens("admin", "", func(k token.Token) bool {
				if k.WorkspaceID == e.ws.ID {
					n++
				}
				return true
			})
			var evs []string
			_ = tx.ScanWorkspaceEvents(e.ws.ID, "", func(ev storage.Event) bool { evs = append(evs, ev.Type); return true })
			if n != 0 || len(evs) != 1 || evs[0] != "workspace.purged" {
				t.Errorf("after purge: %d records left, events %v (want only workspace.purged)", n, evs)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if dumpWorkspace(t, e, other.ID) != otherBefore {
			t.Error("purging one workspace touched another")
		}
		s, _ := e.m.Stats(ctx, platform)
		if s.Total != 1 || s.Active != 1 {
			t.Errorf("stats after purge %+v", s)
		}
		// The slug is free again, and a new workspace with it starts empty.
		w, err := e.m.CreateWorkspace(ctx, viewer, tenancy.NewWorkspace{Name: "Main", Slug: e.ws.Slug})
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := e.m.ListEvents(ctx, viewer, w.ID, tenancy.EventListOptions{})
		if len(evs.Items) != 1 {
			t.Errorf("re-created workspace inherits %d events", len(evs.Items))
		}
		if err := e.m.Authorize(ctx, editor, w.ID, rbac.ReadWorkspace); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("old member reaches the re-created workspace: %v", err)
		}
	})
}

func dumpWorkspace(t *testing.T, e *env, id string) string {
	var out []any
	_ = e.store.View(ctx, func(tx storage.Reader) error {
		w, err := tx.GetWorkspace(id)
		out = append(out, w, err)
		_ = tx.ScanMembers(id, "", func(m member.Member) bool { out = append(out, m); return true })
		_ = tx.ScanInvitations(id, "", func(i member.Invitation) bool { out = append(out, i); return true })
		_ = tx.ScanWorkspaceTokens(id, "", func(k token.Token) bool { out = append(out, k); return true })
		_ = tx.ScanWorkspaceEvents(id, "", func(ev storage.Event) bool { out = append(out, ev); return true })
		return nil
	})
	return fmt.Sprintf("%+v", out)
}

func TestPurgeDeletedRetention(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		old, _ := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Old"})
		recent, _ := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: "Recent"})
		if _, err := e.m.DeleteWorkspace(ctx, admin, old.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(29 * 24 * time.Hour)
		if _, err := e.m.DeleteWorkspace(ctx, admin, recent.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(24*time.Hour - time.Second)
		n, err := e.m.PurgeDeleted(ctx, system, 30*24*time.Hour)
		if err != nil || n != 0 {
			t.Fatalf("one second early: purged %d, %v", n, err)
		}
		e.clock.Advance(time.Second)
		n, err = e.m.PurgeDeleted(ctx, system, 30*24*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("at 30 days: purged %d, %v; want 1", n, err)
		}
		if _, err := e.m.GetWorkspace(ctx, platform, old.ID); !errors.Is(err, tenancy.ErrNotFound) {
			t.Errorf("old workspace: %v", err)
		}
		if _, err := e.m.GetWorkspace(ctx, platform, recent.ID); err != nil {
			t.Errorf("recent workspace: %v", err)
		}
	})
}

func TestSyncAndEnsure(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		items := []workspace.SyncItem{
			{ExternalID: "crm-1", Name: "Acme"},
			{ExternalID: "crm-2", Name: "Globex", OwnerID: "viewer"},
			{ExternalID: "crm-1", Name: "Acme again"}, // duplicate within the request
		}
		before := e.dump(t)
		res, err := e.m.SyncWorkspaces(ctx, platform, items, tenancy.SyncOptions{DryRun: true})
		if err != nil || res.Found != 3 || res.Created != 2 || res.AlreadyExisted != 1 || !res.DryRun {
			t.Fatalf("dry run: %+v %v", res, err)
		}
		if e.dump(t) != before {
			t.Fatal("a dry run changed storage")
		}
		res, err = e.m.SyncWorkspaces(ctx, platform, items, tenancy.SyncOptions{})
		if err != nil || res.Created != 2 || res.AlreadyExisted != 1 || len(res.CreatedIDs) != 2 {
			t.Fatalf("sync: %+v %v", res, err)
		}
		g, err := e.m.GetWorkspace(ctx, viewer, res.CreatedIDs[1])
		if err != nil || g.OwnerID != "viewer" || g.ExternalID != "crm-2" {
			t.Errorf("synced workspace owned by viewer: %+v %v", g, err)
		}
		// Never overwrites: renaming at the source does not rename here.
		items[0].Name = "Acme Renamed"
		res, err = e.m.SyncWorkspaces(ctx, platform, items, tenancy.SyncOptions{})
		if err != nil || res.Created != 0 || res.AlreadyExisted != 3 {
			t.Fatalf("second sync: %+v %v", res, err)
		}
		var a workspace.Workspace
		_ = e.store.View(ctx, func(tx storage.Reader) error { a, err = tx.GetWorkspaceByExternalID("crm-1"); return err })
		if err != nil || a.Name != "Acme" {
			t.Errorf("sync overwrote the name: %q", a.Name)
		}
		// Ensure: get or create by external ID.
		w, created, err := e.m.EnsureWorkspace(ctx, platform, tenancy.NewWorkspace{Name: "Initech", ExternalID: "crm-3", OwnerID: "editor"})
		if err != nil || !created || w.OwnerID != "editor" {
			t.Fatalf("ensure new: %+v %v %v", w, created, err)
		}
		w2, created, err := e.m.EnsureWorkspace(ctx, system, tenancy.NewWorkspace{Name: "Other name", ExternalID: "crm-3", OwnerID: "viewer"})
		if err != nil || created || w2.ID != w.ID || w2.Name != "Initech" {
			t.Fatalf("ensure existing: %+v %v %v", w2, created, err)
		}
		_, _, err = e.m.EnsureWorkspace(ctx, editor, tenancy.NewWorkspace{Name: "x", ExternalID: "crm-3"})
		wantErr(t, err, tenancy.ErrPermissionDenied, "only platform users")
		if strings.Contains(err.Error(), w.ID) {
			t.Errorf("the refusal names the workspace: %v", err)
		}
	})
}

// TestFeedNeverSkipsUnderConcurrentWriters polls the feed while writers commit in
// parallel (batched together on bolt) and checks that following NextCursor sees every
// event exactly once: event IDs follow commit order.
func TestFeedNeverSkipsUnderConcurrentWriters(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		start, err := e.m.Feed(ctx, system, tenancy.EventListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		cursor := start.NextCursor
		for start.HasMore {
			start, _ = e.m.Feed(ctx, system, tenancy.EventListOptions{Limit: 100, Cursor: cursor})
			cursor = start.NextCursor
		}
		const writers, each = 8, 15
		var wg sync.WaitGroup
		for g := 0; g < writers; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < each; i++ {
					if _, err := e.m.CreateWorkspace(ctx, admin, tenancy.NewWorkspace{Name: fmt.Sprintf("w %d %d", g, i)}); err != nil {
						t.Error(err)
					}
				}
			}(g)
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		seen := map[string]bool{}
		finished := false
		for {
			select {
			case <-done:
				finished = true
			default:
			}
			pg, err := e.m.Feed(ctx, system, tenancy.EventListOptions{Limit: 7, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range pg.Items {
				if seen[ev.ID] {
					t.Fatalf("event %s seen twice", ev.ID)
				}
				seen[ev.ID] = true
			}
			cursor = pg.NextCursor
			if finished && !pg.HasMore {
				break
			}
		}
		if len(seen) != writers*each {
			t.Errorf("the feed delivered %d events, want %d", len(seen), writers*each)
		}
	})
}

func TestUsers(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		u, err := e.m.RegisterUser(ctx, platform, tenancy.NewUser{ID: "mike", Email: "  Mike@Example.ORG ", Name: "Mike"})
		if err != nil || u.Email != "mike@example.org" {
			t.Fatalf("register: %+v %v", u, err)
		}
		// ASCII-only lowercasing: a dotless ı is a different address.
		if _, err := e.m.RegisterUser(ctx, system, tenancy.NewUser{ID: "mıke", Email: "mıke@example.org"}); err != nil {
			t.Errorf("look-alike email refused as taken: %v", err)
		}
		got, err := e.m.GetUserByEmail(ctx, tenancy.User("mike"), "MIKE@example.org")
		if err != nil || got.ID != "mike" {
			t.Errorf("self by email: %+v %v", got, err)
		}
		if _, err := e.m.GetUser(ctx, platform, "mike"); err != nil {
			t.Errorf("platform reads a user: %v", err)
		}
		_, err = e.m.GetUser(ctx, platform, "nope")
		wantErr(t, err, tenancy.ErrNotFound, "user not found")
		u, err = e.m.SetPlatform(ctx, platform, "mike", true)
		if err != nil || !u.Platform {
			t.Fatalf("grant platform: %v", err)
		}
		if err := e.m.Authorize(ctx, tenancy.User("mike"), e.ws.ID, rbac.ManageMembers); err != nil {
			t.Errorf("platform user in a workspace it is not a member of: %v", err)
		}
		if _, err := e.m.SetPlatform(ctx, system, "mike", false); err != nil {
			t.Fatal(err)
		}
		// Withdrawn at once: the next check sees it.
		wantErr(t, e.m.Authorize(ctx, tenancy.User("mike"), e.ws.ID, rbac.ReadWorkspace), tenancy.ErrNotFound, "workspace")
	})
}

func TestCanceledContext(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		before := e.dump(t)
		_, err := e.m.CreateWorkspace(c, owner, tenancy.NewWorkspace{Name: "x"})
		if err == nil || tenancy.KindOf(err) != nil {
			t.Errorf("canceled create: %v", err)
		}
		if e.dump(t) != before {
			t.Error("a canceled call changed storage")
		}
	})
}

func TestAuthorizePlatform(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		wantErr(t, e.m.AuthorizePlatform(ctx, platform, rbac.ListAll), nil, "")
		wantErr(t, e.m.AuthorizePlatform(ctx, system, rbac.PurgeWorkspaces), nil, "")
		wantErr(t, e.m.AuthorizePlatform(ctx, owner, rbac.ListAll), tenancy.ErrPermissionDenied, "only platform users may list every workspace")
		wantErr(t, e.m.AuthorizePlatform(ctx, ghost, rbac.ListAll), tenancy.ErrUnauthenticated, `unknown user "ghost`)
	})
}
