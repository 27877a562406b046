package token_test

import (
	"testing"
	"time"

	"github.com/tenancykit/tenancy/token"
)

func TestActive(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := token.Token{ExpiresAt: now.Add(time.Second)}
	if !tok.Active(now) || tok.Active(now.Add(time.Second)) {
		t.Error("expiry is exclusive: active one second before, inactive at the second")
	}
	if !(token.Token{}).Active(now) {
		t.Error("a token without expiry is active")
	}
	tok.RevokedAt = now
	if tok.Active(now) {
		t.Error("a revoked token is active")
	}
	c := token.Token{Hash: []byte{1, 2}}
	d := c.Clone()
	d.Hash[0] = 9
	if c.Hash[0] != 1 {
		t.Error("Clone shares the hash")
	}
}
