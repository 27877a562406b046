package token_test

import (
	"fmt"
	"time"

	"github.com/tenancykit/tenancy/token"
)

func ExampleToken_Active() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t := token.Token{Name: "ci", ExpiresAt: now.Add(48 * time.Hour)}
	fmt.Println(t.Active(now), t.Active(now.Add(48*time.Hour)))
	// Output: true false
}
