package token

import (
	"bytes"
	"crypto/rand"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/crypto/blake2b"

	"github.com/tenancykit/tenancy/internal/text"
)

// Secrets look like GitHub's tokens: "<prefix>_<30 random base62 characters><6
// checksum characters>", e.g. "tncw_3mZ0…". The random part carries 178 bits from
// crypto/rand; the checksum, a CRC32 of everything before it, lets a secret scanner
// recognise a leaked secret and lets Parse reject a typo before any storage lookup.
const (
	randomLen   = 30
	checksumLen = 6
	bodyLen     = randomLen + checksumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformed is wrapped by Parse's errors: the string cannot be a secret of this
// format, so it was rejected without any lookup.
var ErrMalformed = errors.New("malformed secret")

// ValidatePrefix checks a secret prefix: 2-16 lowercase ASCII letters or digits,
// starting with a letter. The kind letter and "_" are appended to it.
func ValidatePrefix(p string) error {
	if len(p) < 2 || len(p) > 16 || p[0] < 'a' || p[0] > 'z' {
		return fmt.Errorf("secret prefix %q must be 2-16 lowercase letters or digits, starting with a letter", p)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("secret prefix %q must be 2-16 lowercase letters or digits, starting with a letter", p)
		}
	}
	return nil
}

// NewSecret makes a secret with the given full prefix (such as "tncw") from r, which
// is crypto/rand when nil. Base62 digits are drawn by rejection sampling, so every
// digit is equally likely (no modulo bias).
func NewSecret(prefix string, r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b strings.Builder
	b.Grow(len(prefix) + 1 + bodyLen)
	b.WriteString(prefix)
	b.WriteByte('_')
	buf := make([]byte, 64)
	for n := 0; n < randomLen; {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("token: read randomness: %w", err)
		}
		for _, c := range buf {
			if c >= 248 { // 248 = 4*62: keep only bytes that map evenly onto 62 digits
				continue
			}
			b.WriteByte(base62[c%62])
			if n++; n == randomLen {
				break
			}
		}
	}
	s := b.String()
	return s + checksum(s), nil
}

// checksum is the CRC32 (IEEE) of s in 6 base62 digits, zero-padded.
func checksum(s string) string {
	out := checksumDigits(crc32.ChecksumIEEE([]byte(s)))
	return string(out[:])
}

func checksumDigits(sum uint32) [checksumLen]byte {
	v := uint64(sum)
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return out
}

// checksumOK verifies the last 6 characters of s without allocating: crc32 reads
// the string's bytes in place (converting would copy every secret to the heap,
// and the table loop is several times slower than crc32's vector code).
func checksumOK(s string) bool {
	body := unsafe.Slice(unsafe.StringData(s), len(s)-checksumLen) // read only
	want := checksumDigits(crc32.ChecksumIEEE(body))
	return string(want[:]) == s[len(s)-checksumLen:]
}

var isBase62 = func() (t [256]bool) {
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = true
	}
	return t
}()

// Parse checks that s is a well-formed secret with one of the given full prefixes
// and a valid checksum, and returns its prefix. It looks nothing up and never echoes
// the secret in its error.
func Parse(s string, prefixes ...string) (string, error) {
	i := strings.LastIndexByte(s, '_')
	if i < 0 || len(s)-i-1 != bodyLen {
		return "", fmt.Errorf("%w: wrong length or no prefix", ErrMalformed)
	}
	prefix := s[:i]
	known := false
	for _, p := range prefixes {
		known = known || p == prefix
	}
	if !known {
		return "", fmt.Errorf("%w: unknown prefix", ErrMalformed)
	}
	for j := i + 1; j < len(s); j++ {
		if !isBase62[s[j]] {
			return "", fmt.Errorf("%w: invalid character", ErrMalformed)
		}
	}
	if !checksumOK(s) {
		return "", fmt.Errorf("%w: checksum mismatch (a typo?)", ErrMalformed)
	}
	return prefix, nil
}

// Hint is what may be shown of a secret after its creation: its prefix and its last
// four characters, e.g. "tncw_…x9Qa".
func Hint(secret string) string {
	i := strings.LastIndexByte(secret, '_')
	if i < 0 || len(secret) < 4 {
		return "…"
	}
	return secret[:i+1] + "…" + secret[len(secret)-4:]
}

// Hasher computes keyed BLAKE2b-256 hashes of secrets: what is stored instead of
// the secret. Without the key, a stolen database yields nothing to try secrets
// against offline. It is safe for concurrent use; digests are pooled, so hashing
// allocates only its result, and AppendHash into a buffer with room allocates nothing.
//
// Keyed BLAKE2b compresses the key as a first block of its own before the message.
// That block is the same for every secret, so NewHasher compresses it once and each
// Hash starts from the saved state: one compression per secret instead of two. The
// result is byte-for-byte keyed BLAKE2b-256; NewHasher checks that against the
// plain keyed digest and, should the saved state ever disagree (a change in
// x/crypto's state format), hashes the plain way instead.
type Hasher struct {
	pool  sync.Pool // of *keyedDigest
	state []byte    // the digest's marshalled state after the key block; nil: none
	key   []byte
}

// keyedDigest is a digest and a buffer to feed it a string through (the digest has
// no WriteString, and converting would allocate on every hash).
type keyedDigest struct {
	d   hash.Hash
	buf []byte
}

// HashSize is the length of a Hasher's hashes, in bytes.
const HashSize = blake2b.Size256

// MinKeyLen and MaxKeyLen bound a Hasher's key.
const (
	MinKeyLen = 32
	MaxKeyLen = 64
)

// NewHasher returns a Hasher with key, which must be 32-64 bytes.
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return nil, fmt.Errorf("token: hashing key must be %d-%d bytes, got %d", MinKeyLen, MaxKeyLen, len(key))
	}
	key = append([]byte(nil), key...)
	if _, err := blake2b.New256(key); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	h := &Hasher{key: key, state: keyedState(key)}
	h.pool.New = func() any {
		d, _ := blake2b.New256(nil) // unkeyed, so its state can be restored
		return &keyedDigest{d: d}
	}
	for _, probe := range []string{"x", "tncp_0123456789abcdefghijklmnopqrst012345", strings.Repeat("y", 300)} {
		if h.state != nil && !bytes.Equal(h.Hash(probe), h.appendPlain(nil, probe)) {
			h.state = nil
		}
	}
	return h, nil
}

// keyedState returns the marshalled state of a BLAKE2b-256 digest that has
// compressed key's block, as keyed hashing does first; nil if the digest will not
// give or take its state.
func keyedState(key []byte) []byte {
	d, err := blake2b.New256(nil)
	if err != nil {
		return nil
	}
	m, ok := d.(interface {
		encoding.BinaryMarshaler
		encoding.BinaryUnmarshaler
	})
	if !ok {
		return nil
	}
	st, err := m.MarshalBinary()
	// magic(3) h(64) c(16) size(1) block(128) offset(1)
	const hAt, blockAt, offsetAt, blockSize = 3, 3 + 64 + 16 + 1, 3 + 64 + 16 + 1 + 128, 128
	if err != nil || len(st) != offsetAt+1 {
		return nil
	}
	// The unkeyed parameter word differs from the keyed one only by the key length
	// (byte 1 of h[0], big-endian in the state); the key is the first block.
	st[hAt+6] ^= byte(len(key))
	copy(st[blockAt:], key)
	st[offsetAt] = blockSize
	if m.UnmarshalBinary(st) != nil {
		return nil
	}
	_, _ = d.Write([]byte{0}) // compresses the key block, keeps the 0 pending
	if st, err = m.MarshalBinary(); err != nil {
		return nil
	}
	clear(st[blockAt : blockAt+blockSize])
	st[offsetAt] = 0 // drop the pending 0
	return st
}

// Hash returns the keyed hash of secret.
func (h *Hasher) Hash(secret string) []byte {
	return h.AppendHash(make([]byte, 0, HashSize), secret)
}

// AppendHash appends the keyed hash of secret to dst and returns the extended
// slice, like hash.Hash's Sum: with room in dst, hashing allocates nothing.
func (h *Hasher) AppendHash(dst []byte, secret string) []byte {
	if h.state == nil || secret == "" { // an empty message is the key block alone
		return h.appendPlain(dst, secret)
	}
	k := h.pool.Get().(*keyedDigest)
	_ = k.d.(encoding.BinaryUnmarshaler).UnmarshalBinary(h.state) // checked in NewHasher
	k.buf = append(k.buf[:0], secret...)
	_, _ = k.d.Write(k.buf)
	clear(k.buf) // the pool keeps no secret
	dst = k.d.Sum(dst)
	if cap(k.buf) <= 1024 { // an outsized secret's buffer is not kept
		h.pool.Put(k)
	}
	return dst
}

// appendPlain hashes with a freshly keyed digest: the slow way, which the saved
// state must agree with.
func (h *Hasher) appendPlain(dst []byte, secret string) []byte {
	d, _ := blake2b.New256(h.key) // the key was checked in NewHasher
	_, _ = io.WriteString(d, secret)
	return d.Sum(dst)
}

// ErrLifetime is wrapped by ParseLifetime's errors.
var ErrLifetime = errors.New("invalid lifetime")

// ParseLifetime reads a lifetime: a whole number of minutes, days, weeks or years
// ("60min", "7d", "1w", "1y"; a year is 365 days), or a Go duration in hours and
// seconds ("48h", "1h30s"). It must be positive. A bare "m" is refused as
// ambiguous: written after "1y" and "48h", a reader may take "1m" for a month, where
// a Go duration means a minute; the message offers "30d" and "60min".
func ParseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrLifetime)
	}
	if n, ok := strings.CutSuffix(s, "min"); ok {
		m, err := strconv.ParseUint(n, 10, 32)
		if err != nil || m == 0 {
			return 0, fmt.Errorf("%w %q: use a whole number of minutes, like 60min", ErrLifetime, text.Clip(s))
		}
		return time.Duration(m) * time.Minute, nil
	}
	if ambiguousMinutes(s) {
		return 0, fmt.Errorf("%w %q: \"m\" could mean minutes or months; write 30d for a month, or 60min for an hour in minutes", ErrLifetime, text.Clip(s))
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}[s[len(s)-1]]
	var d time.Duration
	if unit != 0 {
		n, err := strconv.ParseUint(s[:len(s)-1], 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("%w %q: use a duration like 48h, 7d, 1w or 1y", ErrLifetime, text.Clip(s))
		}
		d = time.Duration(n) * unit
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%w %q: use a duration like 48h, 7d, 1w or 1y", ErrLifetime, text.Clip(s))
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%w %q: must be positive", ErrLifetime, text.Clip(s))
	}
	return d, nil
}

// ambiguousMinutes reports an "m" unit that is not part of "ms".
func ambiguousMinutes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 'm' && (i+1 == len(s) || s[i+1] != 's') {
			return true
		}
	}
	return false
}
