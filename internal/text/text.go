// Package text holds the two rules every package of the module applies to
// caller-supplied text: how much of it an error message may quote, and which
// characters a label shown to other people may not hold.
package text

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxQuoted bounds how many bytes of one caller-supplied string an error message
// quotes, so a message never echoes unbounded input (a 1 MB ID comes back as 64
// bytes and "…").
const MaxQuoted = 64

// Clip cuts s to at most MaxQuoted bytes, at a character boundary, marking the cut
// with "…". Invalid UTF-8 is cut at a byte boundary like any other text; %q shows it
// escaped.
func Clip(s string) string {
	if len(s) <= MaxQuoted {
		return s
	}
	n := MaxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	if n == 0 {
		n = MaxQuoted
	}
	return s[:n] + "…"
}

// Kind says where a piece of text is shown, which decides the control characters it
// may hold.
type Kind int

const (
	// Line is one line: a name. No control character at all.
	Line Kind = iota
	// Block is free text that may run over lines: a description, a metadata
	// value. Tab, line feed and carriage return are allowed.
	Block
)

// Hidden returns the first character of s that would let text pass for other
// text, and true, or 0 and false when there is none: control characters (Cc, but for
// tab and line breaks in a Block), format characters (Cf: the bidirectional
// overrides and isolates such as U+202E, zero-width spaces and joiners, the byte
// order mark, the soft hyphen) and the line and paragraph separators U+2028/U+2029.
// Invalid UTF-8 is the caller's to refuse first; an invalid byte is reported as
// utf8.RuneError.
func Hidden(s string, k Kind) (rune, bool) {
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			return r, true
		case k == Block && (r == '\t' || r == '\n' || r == '\r'):
		case r < 0x20 || r >= 0x7f && r <= 0x9f:
			return r, true
		case r < 0x80:
		case r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r):
			return r, true
		}
	}
	return 0, false
}

// Describe names a character refused by Hidden for a message: "U+202E".
func Describe(r rune) string { return fmt.Sprintf("U+%04X", r) }
