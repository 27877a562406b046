package rbac_test

import (
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

func ExampleCanGrant() {
	fmt.Println(rbac.CanGrant(rbac.Admin, rbac.Editor))
	fmt.Println(rbac.CanGrant(rbac.Admin, rbac.Platform)) // an admin never makes anyone platform
	// Output:
	// true
	// false
}
