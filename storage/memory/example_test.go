package memory_test

import (
	"context"
	"fmt"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/storage/memory"
)

func ExampleNew() {
	ctx := context.Background()
	m, _ := tenancy.New(memory.New(), tenancy.Options{})
	_, _ = m.RegisterUser(ctx, tenancy.System(), tenancy.NewUser{ID: "ada", Email: "ada@example.com"})
	w, err := m.CreateWorkspace(ctx, tenancy.User("ada"), tenancy.NewWorkspace{Name: "Test"})
	fmt.Println(w.Slug, err)
	// Output: test <nil>
}
