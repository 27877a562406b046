// Package workspace holds the Workspace record and the pure rules around it: slugs,
// names, metadata limits, list options and their cursors, statistics and sync results.
// It has no storage and no dependencies beyond the standard library.
package workspace

import (
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tenancykit/tenancy/internal/text"
)

// Status is a workspace's lifecycle state.
type Status string

// The lifecycle states. A purged workspace is gone: it has no status.
const (
	Active   Status = "active"   // everything works
	Inactive Status = "inactive" // reads and member management; writes refused
	Deleted  Status = "deleted"  // soft-deleted: only restore and purge
)

// Valid reports whether s is one of the three states.
func (s Status) Valid() bool { return s == Active || s == Inactive || s == Deleted }

// ParseStatus reads a status name; the empty string is refused.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.ToLower(strings.TrimSpace(s)))
	if !st.Valid() {
		return "", fmt.Errorf("status %q must be active, inactive or deleted", text.Clip(s))
	}
	return st, nil
}

// Workspace is one tenant: the isolation boundary for members, tokens and the host's
// own resources.
type Workspace struct {
	ID          string            // "ws_" + ULID, assigned by the Manager
	Slug        string            // unique, URL-friendly
	Name        string            // display name, 1-100 characters
	Description string            // free text, up to MaxDescriptionLen bytes
	Status      Status            // lifecycle state
	Metadata    map[string]string // host-defined labels, size-limited
	ExternalID  string            // ID in another system, unique when set (sync)
	StarterKit  string            // starter kit it was created with, if any
	OwnerID     string            // user ID of the owner
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   time.Time // zero unless Status is Deleted
	// DeletedFrom is the status the workspace had when it was deleted (Active or
	// Inactive), to which a restore returns it; empty unless Status is Deleted, and
	// empty too for a workspace deleted before it was recorded (it restores active).
	DeletedFrom Status
	// Flags are the host's named facts about the workspace (Airbyte's "has sources",
	// "has active connections"), sorted, each a name the host declared
	// (tenancy.Options.WorkspaceFlags). The Manager counts the workspaces in use that
	// carry each one, so Stats reports them in O(1).
	Flags []string
}

// Clone returns a copy of w that shares no memory with it.
func (w Workspace) Clone() Workspace {
	w.Metadata = maps.Clone(w.Metadata)
	w.Flags = slices.Clone(w.Flags)
	return w
}

// HasFlag reports whether w carries the named flag.
func (w Workspace) HasFlag(name string) bool {
	_, ok := slices.BinarySearch(w.Flags, name)
	return ok
}

// MaxFlagNameLen bounds a flag's name; MaxFlags bounds how many a host declares.
const (
	MaxFlagNameLen = 64
	MaxFlags       = 32
)

// ValidateFlagName checks a flag's name: 1 to MaxFlagNameLen lowercase ASCII
// letters, digits and underscores, starting with a letter ("sources",
// "active_connections"). Stats reports a flag as "workspaces_with_" + name.
func ValidateFlagName(name string) error {
	if name == "" || len(name) > MaxFlagNameLen {
		return invalid("flag name %q must be 1 to %d characters", text.Clip(name), MaxFlagNameLen)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r == '_' && i > 0, r >= '0' && r <= '9' && i > 0:
		default:
			return invalid("flag name %q must be lowercase letters, digits and underscores, starting with a letter", text.Clip(name))
		}
	}
	return nil
}

// Limits on workspace fields.
const (
	MaxNameLen          = 100  // characters
	MaxSlugLen          = 50   // characters
	MaxDescriptionLen   = 2000 // bytes
	MaxExternalIDLen    = 200  // bytes
	MaxMetadataKeys     = 32
	MaxMetadataKeyLen   = 64   // bytes
	MaxMetadataValueLen = 1024 // bytes
)

// ErrInvalid is wrapped by every validation error of this package, so callers can
// tell bad input from other failures with errors.Is.
var ErrInvalid = errors.New("invalid workspace field")

func invalid(format string, args ...any) error {
	return &validationError{msg: fmt.Sprintf(format, args...)}
}

type validationError struct{ msg string }

func (e *validationError) Error() string        { return e.msg }
func (e *validationError) Is(target error) bool { return target == ErrInvalid }

// ValidateName checks a display name: 1-100 characters of valid UTF-8, not only
// white space, with no control or invisible format character (a bidirectional
// override such as U+202E, a zero-width space or joiner), which would let one
// workspace pass for another in a listing.
func ValidateName(name string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("name must not be empty")
	}
	if !utf8.ValidString(name) {
		return invalid("name must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return invalid("name must be at most %d characters, got %d", MaxNameLen, n)
	}
	if r, bad := text.Hidden(name, text.Line); bad {
		return invalid("name must not contain control characters or invisible format characters (found %s)", text.Describe(r))
	}
	return nil
}

// ValidateSlug checks a slug: lowercase ASCII letters, digits and hyphens, 1-50
// characters.
func ValidateSlug(slug string) error {
	ok := slug != "" && len(slug) <= MaxSlugLen
	for i := 0; ok && i < len(slug); i++ {
		c := slug[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
	}
	if !ok {
		return invalid("slug %q must be lowercase letters, digits and hyphens, 1-%d characters", text.Clip(slug), MaxSlugLen)
	}
	return nil
}

// SlugFromName derives a slug from a display name: ASCII letters and digits are
// kept (lowercased), every other run of characters becomes one hyphen, and the result
// is trimmed to 50 characters. It returns "" when the name has no letter or digit;
// the Manager then falls back to a generated slug.
func SlugFromName(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			hyphen = false
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + ('a' - 'A'))
			hyphen = false
		default:
			if !hyphen && b.Len() > 0 {
				b.WriteByte('-')
				hyphen = true
			}
		}
		if b.Len() >= MaxSlugLen {
			break
		}
	}
	s := b.String()
	if len(s) > MaxSlugLen {
		s = s[:MaxSlugLen]
	}
	return strings.Trim(s, "-")
}

// ValidateDescription checks a description: valid UTF-8, at most 2000 bytes, with
// no control character but tab and line breaks and no invisible format character
// (bidirectional overrides, zero-width characters).
func ValidateDescription(d string) error {
	if !utf8.ValidString(d) {
		return invalid("description must be valid UTF-8")
	}
	if len(d) > MaxDescriptionLen {
		return invalid("description must be at most %d bytes, got %d", MaxDescriptionLen, len(d))
	}
	if r, bad := text.Hidden(d, text.Block); bad {
		return invalid("description must not contain control characters or invisible format characters (found %s)", text.Describe(r))
	}
	return nil
}

// ValidateExternalID checks an external ID: empty (none) or up to 200 bytes of
// printable UTF-8.
func ValidateExternalID(id string) error {
	if id == "" {
		return nil
	}
	if len(id) > MaxExternalIDLen || !utf8.ValidString(id) || hidden(id) || strings.TrimSpace(id) != id {
		return invalid("external ID must be 1-%d bytes of printable text without surrounding spaces", MaxExternalIDLen)
	}
	return nil
}

// ValidateMetadata checks metadata: at most 32 keys; keys 1-64 bytes of letters,
// digits, '-', '_', '.', '/' or ':'; values valid UTF-8 up to 1024 bytes, with no
// control character but tab and line breaks (no stored text holds U+0000: a
// PostgreSQL text column cannot) and no invisible format character.
func ValidateMetadata(md map[string]string) error {
	if len(md) > MaxMetadataKeys {
		return invalid("metadata must have at most %d keys, got %d", MaxMetadataKeys, len(md))
	}
	for k, v := range md {
		if k == "" || len(k) > MaxMetadataKeyLen || !validKey(k) {
			return invalid("metadata key %q must be 1-%d bytes of letters, digits, '-', '_', '.', '/' or ':'", text.Clip(k), MaxMetadataKeyLen)
		}
		if len(v) > MaxMetadataValueLen {
			return invalid("metadata value for %q must be at most %d bytes, got %d", k, MaxMetadataValueLen, len(v))
		}
		if !utf8.ValidString(v) {
			return invalid("metadata value for %q must be valid UTF-8", k)
		}
		if r, bad := text.Hidden(v, text.Block); bad {
			return invalid("metadata value for %q must not contain control characters or invisible format characters (found %s)", k, text.Describe(r))
		}
	}
	return nil
}

// MetadataInstanceURL is the metadata key that holds a workspace's instance URL
// (System Initiative's instanceUrl: where the workspace runs, e.g.
// "app.systeminit.com"). NewWorkspace.InstanceURL and WorkspaceUpdate.InstanceURL
// set it; InstanceURL reads it.
const MetadataInstanceURL = "instance_url"

// InstanceURL returns the workspace's instance URL, or "".
func (w Workspace) InstanceURL() string { return w.Metadata[MetadataInstanceURL] }

// ValidateInstanceURL checks an instance URL: a host name, or an http(s) URL, up to
// 1024 bytes, with no spaces or control characters. Empty is allowed (none).
func ValidateInstanceURL(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxMetadataValueLen {
		return invalid("instance URL must be at most %d bytes, got %d", MaxMetadataValueLen, len(s))
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || !unicode.IsPrint(r) {
			return invalid("instance URL %q must be a host name or an http(s) URL, without spaces or control characters", text.Clip(s))
		}
	}
	host := s
	if i := strings.Index(s, "://"); i >= 0 {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return invalid("instance URL %q must be a host name (app.example.com) or an http(s) URL", text.Clip(s))
		}
		host = u.Host
	}
	if host == "" || strings.ContainsAny(host, "/?#@") && !strings.Contains(s, "://") {
		return invalid("instance URL %q must be a host name (app.example.com) or an http(s) URL", text.Clip(s))
	}
	return nil
}

func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_./:", c) >= 0) {
			return false
		}
	}
	return true
}

func hidden(s string) bool { _, bad := text.Hidden(s, text.Line); return bad }

// Pagination limits, shared by every list of the library.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

// CheckLimit resolves a page size: 0 means def; anything outside 1-100 is refused
// with "limit must be between 1 and 100".
func CheckLimit(limit, def int) (int, error) {
	if limit == 0 {
		return def, nil
	}
	if limit < 1 || limit > MaxLimit {
		return 0, invalid("limit must be between 1 and %d", MaxLimit)
	}
	return limit, nil
}

// ListOptions selects a page of workspaces.
type ListOptions struct {
	Limit        int    // 1-100; 0 means 20
	Cursor       string // from a previous Page's NextCursor; empty for the first page
	NameContains string // case-insensitive substring of the name; 3 bytes or more to use the search index (see Manager.ListWorkspaces)
	Status       Status // empty lists active and inactive; Deleted lists the deleted ones
}

// Page is one page of a list.
type Page[T any] struct {
	Items []T
	// NextCursor resumes after the last item: pass it as Cursor for the next page.
	// It is set even on the last page, so a reader of a growing list (the event
	// feed) can keep its place; on an empty page it is the cursor that was passed.
	NextCursor string
	HasMore    bool // more items followed when this page was read
}

// cursorPrefix marks tenancy cursors, so a cursor from elsewhere is refused rather
// than misread.
const cursorPrefix = "c1:"

// EncodeCursor turns the last key of a page into an opaque cursor.
func EncodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + key))
}

// DecodeCursor reads a cursor made by EncodeCursor. An empty cursor decodes to "".
func DecodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	// Only the base64url alphabet: the decoder would skip newlines, letting many
	// strings name one position.
	for i := 0; i < len(c); i++ {
		if ch := c[i]; !(ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return "", invalid("cursor %q is not valid: pass the next_cursor of a previous page", text.Clip(c))
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) || len(b) == len(cursorPrefix) || len(b) > 512 || !utf8.Valid(b) {
		return "", invalid("cursor %q is not valid: pass the next_cursor of a previous page", text.Clip(c))
	}
	return string(b[len(cursorPrefix):]), nil
}

// Stats counts workspaces by state. The Manager keeps them as counters updated in the
// same transaction as every change, so reading them is O(1).
type Stats struct {
	Total    int64 // the workspaces in use: active + inactive (deleted ones are counted apart)
	Active   int64
	Inactive int64
	Deleted  int64
	// Flags counts, for each flag the host declared, the workspaces in use (active
	// or inactive) that carry it; empty when the host declared none.
	Flags FlagCounts
}

// FlagCounts is an immutable list of (flag, count) pairs in the order the host
// declared its flags. It is comparable, so Stats stays comparable with ==, and its
// zero value is the empty list.
type FlagCounts struct {
	enc string // "name=count;" repeated: flag names hold no '=' or ';'
}

// With returns f with name's count set to n (appended when f has no such flag). A
// name that ValidateFlagName refuses is ignored.
func (f FlagCounts) With(name string, n int64) FlagCounts {
	if ValidateFlagName(name) != nil {
		return f
	}
	var b strings.Builder
	found := false
	for k, v := range f.All() {
		if k == name {
			v, found = n, true
		}
		fmt.Fprintf(&b, "%s=%d;", k, v)
	}
	if !found {
		fmt.Fprintf(&b, "%s=%d;", name, n)
	}
	return FlagCounts{enc: b.String()}
}

// Get returns name's count, and whether f has the flag.
func (f FlagCounts) Get(name string) (int64, bool) {
	for k, v := range f.All() {
		if k == name {
			return v, true
		}
	}
	return 0, false
}

// Len returns how many flags f counts.
func (f FlagCounts) Len() int { return strings.Count(f.enc, ";") }

// All yields each flag and its count, in declaration order.
func (f FlagCounts) All() iter.Seq2[string, int64] {
	return func(yield func(string, int64) bool) {
		for pair := range strings.SplitSeq(f.enc, ";") {
			name, num, ok := strings.Cut(pair, "=")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(num, 10, 64)
			if !yield(name, n) {
				return
			}
		}
	}
}

// String formats f as "name=count, …".
func (f FlagCounts) String() string {
	return strings.ReplaceAll(strings.TrimSuffix(f.enc, ";"), ";", ", ")
}

// SyncItem is one workspace created in another system, to import by external ID.
type SyncItem struct {
	ExternalID string
	Name       string
	Slug       string // optional; derived from the name when empty
	OwnerID    string // optional; defaults to the acting user
}

// SyncResult reports what a sync found and did.
type SyncResult struct {
	Found          int      // items in the request
	Created        int      // workspaces created (or that would be, in a dry run)
	AlreadyExisted int      // items whose external ID was already present
	CreatedIDs     []string // IDs of the created workspaces; empty in a dry run
	DryRun         bool
}
