package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), strings.Repeat("a", 64) + "…"},
		// a three-byte character straddling byte 64 is dropped whole
		{strings.Repeat("a", 63) + "€", strings.Repeat("a", 63) + "…"},
		{strings.Repeat("\xff", 70), strings.Repeat("\xff", 64) + "…"},
	} {
		if got := Clip(tc.in); got != tc.want {
			t.Errorf("Clip(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := Clip(tc.in); len(got) > MaxQuoted+len("…") {
			t.Errorf("Clip(%q) is %d bytes", tc.in, len(got))
		}
	}
}

func TestHidden(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind Kind
		bad  rune // -1: nothing hidden
	}{
		{"Acme Corp", Line, -1},
		{"Café 東京 🚀", Line, -1},
		{"evil\u202Egnp.exe", Line, 0x202E},
		{"pay\u200Bpal", Line, 0x200B},
		{"a\u200Db", Line, 0x200D},
		{"\uFEFFbom", Line, 0xFEFF},
		{"iso\u2066late", Line, 0x2066},
		{"soft\u00ADhyphen", Line, 0xAD},
		{"line\u2028break", Block, 0x2028},
		{"tab\tname", Line, '\t'},
		{"two\nlines", Line, '\n'},
		{"two\nlines\tand tab\r\n", Block, -1},
		{"nul\x00", Block, 0},
		{"del\x7f", Block, 0x7f},
		{"c1\u0085", Block, 0x85},
		{"bad\xffutf8", Line, utf8.RuneError},
	} {
		r, bad := Hidden(tc.in, tc.kind)
		if bad != (tc.bad != -1) || bad && r != tc.bad {
			t.Errorf("Hidden(%q, %d) = %U, %v; want %U", tc.in, tc.kind, r, bad, tc.bad)
		}
	}
	if got := Describe(0x202E); got != "U+202E" {
		t.Errorf("Describe = %q", got)
	}
}
