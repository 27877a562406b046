package member_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenancykit/tenancy/member"
)

func TestNormalizeEmail(t *testing.T) {
	good := map[string]string{
		"  Mike@Example.ORG ": "mike@example.org",
		"a@b":                 "a@b",
		"ÜBER@x.org":          "Über@x.org", // only ASCII letters are lowercased
		"mıke@x.org":          "mıke@x.org", // dotless ı stays: never matches mike@x.org
	}
	for in, want := range good {
		got, err := member.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if a, _ := member.NormalizeEmail("mıke@x.org"); a == "mike@x.org" {
		t.Error("a look-alike normalised to the plain address")
	}
	bad := []string{"", "   ", "no-at", "@x.org", "x@", "a@b@c", "a b@x.org", "a\x00@x.org", "a,b@x.org", strings.Repeat("a", 250) + "@x.org", "\xff@x.org"}
	for _, in := range bad {
		if _, err := member.NormalizeEmail(in); !errors.Is(err, member.ErrInvalid) {
			t.Errorf("NormalizeEmail(%q) = %v, want ErrInvalid", in, err)
		}
	}
}

func TestValidateUserID(t *testing.T) {
	for _, ok := range []string{"u1", "auth0|123", "550e8400-e29b-41d4-a716-446655440000"} {
		if err := member.ValidateUserID(ok); err != nil {
			t.Errorf("ValidateUserID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a\x00b", strings.Repeat("x", 129), "\xff"} {
		if err := member.ValidateUserID(bad); !errors.Is(err, member.ErrInvalid) {
			t.Errorf("ValidateUserID(%q) = %v", bad, err)
		}
	}
}

func TestInvitationState(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inv := member.Invitation{ExpiresAt: now.Add(time.Second)}
	if inv.State(now) != member.Pending {
		t.Error("pending")
	}
	if inv.State(now.Add(time.Second)) != member.Expired {
		t.Error("expired at the second it expires")
	}
	inv.RevokedAt = now
	if inv.State(now) != member.Revoked {
		t.Error("revoked")
	}
	inv.AcceptedAt = now
	if inv.State(now.Add(time.Hour)) != member.Accepted {
		t.Error("accepted stays accepted")
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Mike@Example.org", " a@b ", "mıke@x.org", "@", "a@b@c", "ÜBER@x.org", "a,b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := member.NormalizeEmail(in)
		if err != nil {
			if !errors.Is(err, member.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		again, err := member.NormalizeEmail(e)
		if err != nil || again != e {
			t.Fatalf("normalising %q again gives %q, %v", e, again, err)
		}
		if strings.ContainsAny(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZ ,") || strings.Count(e, "@") != 1 || len(e) > member.MaxEmailLen {
			t.Fatalf("NormalizeEmail(%q) = %q", in, e)
		}
	})
}

func TestUserNameRefusesHiddenCharacters(t *testing.T) {
	for _, s := range []string{"Ada\u202E", "A\u200Bda", "A\u200Dda", "\uFEFFAda", "Ada\nLovelace"} {
		if err := member.ValidateName(s); !errors.Is(err, member.ErrInvalid) {
			t.Errorf("ValidateName(%q) = %v", s, err)
		}
	}
	if err := member.ValidateName("Ada Lovelace (Λ)"); err != nil {
		t.Error(err)
	}
}

func TestMessagesQuoteAtMost64Bytes(t *testing.T) {
	long := strings.Repeat("A", 300)
	for name, err := range map[string]error{
		"email":   func() error { _, err := member.NormalizeEmail(long); return err }(),
		"user ID": member.ValidateUserID(long[:100] + " x"),
	} {
		if err == nil || strings.Contains(err.Error(), strings.Repeat("A", 65)) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
