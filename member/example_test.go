package member_test

import (
	"fmt"

	"github.com/tenancykit/tenancy/member"
)

func ExampleNormalizeEmail() {
	e, _ := member.NormalizeEmail("  Ada@Example.COM ")
	fmt.Println(e)
	_, err := member.NormalizeEmail("not-an-email")
	fmt.Println(err)
	// Output:
	// ada@example.com
	// email "not-an-email" is not a valid address
}
