package rbac_test

import (
	"errors"
	"fmt"

	"github.com/tenancykit/tenancy/rbac"
)

func ExamplePolicy_Allowed() {
	p := rbac.MustLoadDefault()
	fmt.Println(p.Allowed(rbac.Editor, false, rbac.WriteContent))
	fmt.Println(p.Allowed(rbac.Editor, false, rbac.InviteMembers))
	fmt.Println(p.Allowed(rbac.Admin, false, rbac.DeleteWorkspace)) // only the owner deletes
	fmt.Println(p.Allowed(rbac.Admin, true, rbac.DeleteWorkspace))
	// Output:
	// true
	// false
	// false
	// true
}

func ExampleLoad() {
	// A host adds its own actions; they follow the role hierarchy.
	p, err := rbac.Load(rbac.Options{Extra: "p, editor, dashboard:edit"})
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Allowed(rbac.Viewer, false, "dashboard:edit"), p.Allowed(rbac.Admin, false, "dashboard:edit"))
	// Output: false true
}

func ExamplePolicy_CanGrant() {
	p := rbac.MustLoadDefault()
	fmt.Println(p.CanGrant(rbac.Admin, rbac.Editor))
	fmt.Println(p.CanGrant(rbac.Admin, rbac.Platform)) // an admin never makes anyone platform
	// Output:
	// true
	// false
}

// Tinybird's roles: a guest manages the workspace's resources but not its people.
// The g rules declare the order viewer < guest < admin, which the grant ceiling
// follows; the owner (an admin) and platform are implied.
func Example_tinybirdRoles() {
	p, err := rbac.Load(rbac.Options{Policy: `
g, guest, viewer
g, admin, guest
p, viewer, workspace:read
p, viewer, member:list
p, viewer, content:read
p, guest, content:write
p, guest, token:create
p, admin, workspace:update
p, admin, member:invite
p, admin, member:manage
p, admin, token:manage
`})
	if err != nil {
		panic(err)
	}
	fmt.Println("roles:", p.Roles())
	fmt.Println("guest writes content:", p.Allowed("guest", false, rbac.WriteContent))
	fmt.Println("guest invites:", p.Allowed("guest", false, rbac.InviteMembers))
	fmt.Println("guest grants viewer:", p.CanGrant("guest", "viewer"))
	fmt.Println("guest grants admin:", p.CanGrant("guest", "admin"))
	fmt.Println("owner deletes:", p.Allowed("admin", true, rbac.DeleteWorkspace))
	// Output:
	// roles: [viewer guest admin]
	// guest writes content: true
	// guest invites: false
	// guest grants viewer: true
	// guest grants admin: false
	// owner deletes: true
}

// System Initiative's roles: collaborators propose change sets, approvers approve
// and apply them. changeset:apply is the host's own action; only approvers have it.
func Example_systemInitiativeRoles() {
	p, err := rbac.Load(rbac.Options{Policy: `
g, approver, collaborator
p, collaborator, workspace:read
p, collaborator, member:list
p, collaborator, content:read
p, collaborator, content:write
p, collaborator, token:create
p, collaborator, changeset:propose
p, approver, changeset:approve
p, approver, changeset:apply
p, approver, workspace:update
p, approver, member:invite
p, approver, member:manage
`})
	if err != nil {
		panic(err)
	}
	fmt.Println("roles:", p.Roles())
	fmt.Println("collaborator proposes:", p.Allowed("collaborator", false, "changeset:propose"))
	fmt.Println("collaborator applies:", p.Allowed("collaborator", false, "changeset:apply"))
	fmt.Println("approver applies:", p.Allowed("approver", false, "changeset:apply"))
	fmt.Println("platform applies:", p.Allowed(rbac.Platform, false, "changeset:apply"))
	// Output:
	// roles: [collaborator approver]
	// collaborator proposes: true
	// collaborator applies: false
	// approver applies: true
	// platform applies: true
}

// A policy whose roles cannot be ordered fails when it loads, not when a member is
// first given a role.
func ExampleLoad_invalid() {
	_, err := rbac.Load(rbac.Options{Policy: "g, admin, viewer\np, guest, content:write\np, admin, member:manage\n"})
	fmt.Println(errors.Is(err, rbac.ErrInvalidPolicy))
	fmt.Println(err)
	// Output:
	// true
	// rbac: invalid policy: roles "viewer" and "guest" are not ordered: add a g rule between them (g, higher, lower)
}
