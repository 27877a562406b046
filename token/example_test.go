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

// AppendHash hashes into a buffer the caller keeps, so a hot path hashes without
// allocating; the bytes are those of Hash.
func ExampleHasher_AppendHash() {
	h, _ := token.NewHasher([]byte("an example key of at least 32 bytes!"))
	var buf [token.HashSize]byte
	sum := h.AppendHash(buf[:0], "tncw_secret")
	fmt.Println(len(sum), string(sum) == string(h.Hash("tncw_secret")))
	// Output: 32 true
}
