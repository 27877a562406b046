package workspace_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/tenancykit/tenancy/workspace"
)

func TestValidateSlug(t *testing.T) {
	good := []string{"a", "staging", "my-app-2", strings.Repeat("a", 50), "-", "0"}
	bad := []string{"", "My Slug", "a_b", "a,b", "*", "a b", strings.Repeat("a", 51), "ünï", "a.b", "a/b"}
	for _, s := range good {
		if err := workspace.ValidateSlug(s); err != nil {
			t.Errorf("ValidateSlug(%q) = %v", s, err)
		}
	}
	for _, s := range bad {
		err := workspace.ValidateSlug(s)
		if !errors.Is(err, workspace.ErrInvalid) {
			t.Errorf("ValidateSlug(%q) = %v, want ErrInvalid", s, err)
		}
	}
	if err := workspace.ValidateSlug("My Slug"); err.Error() != `slug "My Slug" must be lowercase letters, digits and hyphens, 1-50 characters` {
		t.Errorf("message: %q", err)
	}
}

func TestSlugFromName(t *testing.T) {
	cases := map[string]string{
		"My App":                 "my-app",
		"  Bob's   Shop!! ":      "bob-s-shop",
		"ÜBER cool":              "ber-cool",
		"日本語":                    "",
		"---":                    "",
		strings.Repeat("ab", 40): strings.Repeat("ab", 25),
		strings.Repeat("a ", 40): strings.TrimSuffix(strings.Repeat("a-", 25), "-"),
		"Production (EU-West-1)": "production-eu-west-1",
	}
	for in, want := range cases {
		got := workspace.SlugFromName(in)
		if got != want {
			t.Errorf("SlugFromName(%q) = %q, want %q", in, got, want)
		}
		if got != "" {
			if err := workspace.ValidateSlug(got); err != nil {
				t.Errorf("SlugFromName(%q) = %q is not a valid slug: %v", in, got, err)
			}
		}
	}
}

func TestCursor(t *testing.T) {
	for _, k := range []string{"ws_01ABC", "u\x00x", "ünï"} {
		got, err := workspace.DecodeCursor(workspace.EncodeCursor(k))
		if err != nil || got != k {
			t.Errorf("round trip of %q: %q, %v", k, got, err)
		}
	}
	if k, err := workspace.DecodeCursor(""); err != nil || k != "" {
		t.Errorf("empty cursor: %q %v", k, err)
	}
	for _, bad := range []string{"%%%", "aGVsbG8", workspace.EncodeCursor("")[:2] + "!!", strings.Repeat("A", 2000)} {
		if _, err := workspace.DecodeCursor(bad); !errors.Is(err, workspace.ErrInvalid) {
			t.Errorf("DecodeCursor(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCheckLimit(t *testing.T) {
	for _, c := range []struct{ in, def, want int }{{0, 20, 20}, {0, 50, 50}, {1, 20, 1}, {100, 20, 100}} {
		if got, err := workspace.CheckLimit(c.in, c.def); err != nil || got != c.want {
			t.Errorf("CheckLimit(%d, %d) = %d, %v", c.in, c.def, got, err)
		}
	}
	for _, bad := range []int{-1, 101, 1 << 30} {
		_, err := workspace.CheckLimit(bad, 20)
		if err == nil || err.Error() != "limit must be between 1 and 100" {
			t.Errorf("CheckLimit(%d) = %v", bad, err)
		}
	}
}

func TestValidateFields(t *testing.T) {
	if workspace.ValidateName(strings.Repeat("é", 100)) != nil || workspace.ValidateName(strings.Repeat("é", 101)) == nil {
		t.Error("name length counts characters, not bytes")
	}
	if workspace.ValidateName("bad\xff") == nil || workspace.ValidateName("a\tb") == nil {
		t.Error("invalid UTF-8 or a control character accepted in a name")
	}
	if workspace.ValidateMetadata(map[string]string{"env": "prod", "team/owner": "x"}) != nil {
		t.Error("valid metadata refused")
	}
	if workspace.ValidateMetadata(map[string]string{"": "x"}) == nil || workspace.ValidateMetadata(map[string]string{"k": "\xff"}) == nil {
		t.Error("bad metadata accepted")
	}
	// No stored text holds U+0000 (PostgreSQL text cannot): descriptions and
	// metadata values refuse it, as names and IDs refuse every control character.
	if workspace.ValidateDescription("a\x00b") == nil || workspace.ValidateMetadata(map[string]string{"k": "a\x00"}) == nil ||
		workspace.ValidateDescription("line one\nline two") != nil {
		t.Error("NUL rules")
	}
	if workspace.ValidateExternalID("") != nil || workspace.ValidateExternalID("crm-1") != nil || workspace.ValidateExternalID("a\nb") == nil {
		t.Error("external ID rules")
	}
	if s, err := workspace.ParseStatus(" Inactive"); err != nil || s != workspace.Inactive {
		t.Error("ParseStatus")
	}
	if _, err := workspace.ParseStatus("archived"); err == nil {
		t.Error("ParseStatus accepted archived")
	}
}

func FuzzSlugFromName(f *testing.F) {
	for _, s := range []string{"My App", "日本語", "", "a-b", strings.Repeat("x ", 60)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if s := workspace.SlugFromName(name); s != "" && workspace.ValidateSlug(s) != nil {
			t.Fatalf("SlugFromName(%q) = %q, not a valid slug", name, s)
		}
	})
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(workspace.EncodeCursor("ws_1"))
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, c string) {
		k, err := workspace.DecodeCursor(c)
		if err == nil && c != "" && workspace.EncodeCursor(k) != c {
			t.Fatalf("cursor %q decodes to %q, which encodes differently", c, k)
		}
	})
}

var slugRule = regexp.MustCompile(`^[a-z0-9-]{1,50}$`)

func FuzzValidateSlug(f *testing.F) {
	for _, s := range []string{"staging", "My Slug", "a_b", "*", "", strings.Repeat("a", 51), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ok := workspace.ValidateSlug(s) == nil; ok != slugRule.MatchString(s) {
			t.Fatalf("ValidateSlug(%q) ok=%v, the rule says %v", s, ok, !ok)
		}
	})
}

func FuzzValidateMetadata(f *testing.F) {
	f.Add("plan", "pro")
	f.Add("", "x")
	f.Add("a b", strings.Repeat("v", 1025))
	f.Fuzz(func(t *testing.T, k, v string) {
		err := workspace.ValidateMetadata(map[string]string{k: v})
		if err == nil && (k == "" || len(k) > workspace.MaxMetadataKeyLen || len(v) > workspace.MaxMetadataValueLen) {
			t.Fatalf("accepted %q=%q", k, v)
		}
		if err != nil && !errors.Is(err, workspace.ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
	})
}

// TestHiddenCharactersRefused: a name, description or metadata value that holds a
// bidirectional override or a zero-width character could pass for another in a
// listing; each is refused with a message naming the character.
func TestHiddenCharactersRefused(t *testing.T) {
	for _, s := range []string{"evil\u202Egnp", "pay\u200Bpal", "a\u200Db", "\uFEFFx", "x\u2066y"} {
		if err := workspace.ValidateName(s); !errors.Is(err, workspace.ErrInvalid) || !strings.Contains(err.Error(), "invisible format characters (found U+") {
			t.Errorf("ValidateName(%q) = %v", s, err)
		}
		if err := workspace.ValidateDescription(s); !errors.Is(err, workspace.ErrInvalid) {
			t.Errorf("ValidateDescription(%q) = %v", s, err)
		}
		if err := workspace.ValidateMetadata(map[string]string{"k": s}); !errors.Is(err, workspace.ErrInvalid) {
			t.Errorf("ValidateMetadata(%q) = %v", s, err)
		}
		if err := workspace.ValidateExternalID(s); !errors.Is(err, workspace.ErrInvalid) {
			t.Errorf("ValidateExternalID(%q) = %v", s, err)
		}
	}
	// Line breaks and tabs stay allowed in free text, never in a name.
	if err := workspace.ValidateDescription("line one\nline two\ttabbed\r\n"); err != nil {
		t.Errorf("multi-line description: %v", err)
	}
	if err := workspace.ValidateMetadata(map[string]string{"note": "a\nb"}); err != nil {
		t.Errorf("multi-line metadata value: %v", err)
	}
	if err := workspace.ValidateName("two\nlines"); err == nil {
		t.Error("a name with a line break was accepted")
	}
	if err := workspace.ValidateName("Café 東京 🚀"); err != nil {
		t.Errorf("plain Unicode name refused: %v", err)
	}
}

// TestMessagesQuoteAtMost64Bytes: every message of the package quotes caller input
// under the module's one bound.
func TestMessagesQuoteAtMost64Bytes(t *testing.T) {
	long := strings.Repeat("A", 500)
	for name, err := range map[string]error{
		"slug":         workspace.ValidateSlug(long),
		"metadata key": workspace.ValidateMetadata(map[string]string{long: "v"}),
	} {
		if err == nil || strings.Contains(err.Error(), strings.Repeat("A", 65)) || !strings.Contains(err.Error(), strings.Repeat("A", 64)+"…") {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err := workspace.ParseStatus(long)
	if err == nil || strings.Contains(err.Error(), strings.Repeat("A", 65)) {
		t.Errorf("status: %v", err)
	}
}
