package workspace_test

import (
	"fmt"

	"github.com/tenancykit/tenancy/workspace"
)

func ExampleSlugFromName() {
	fmt.Println(workspace.SlugFromName("Production (EU-West-1)"))
	// Output: production-eu-west-1
}

func ExampleValidateSlug() {
	fmt.Println(workspace.ValidateSlug("staging"))
	fmt.Println(workspace.ValidateSlug("My Slug"))
	// Output:
	// <nil>
	// slug "My Slug" must be lowercase letters, digits and hyphens, 1-50 characters
}
