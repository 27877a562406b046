package token_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/blake2b"

	"github.com/tenancykit/tenancy/token"
)

func TestSecretFormat(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		s, err := token.NewSecret("tncw", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "tncw_") || len(s) != len("tncw_")+36 || seen[s] {
			t.Fatalf("bad or repeated secret %q", s)
		}
		seen[s] = true
		if p, err := token.Parse(s, "tncp", "tncw"); err != nil || p != "tncw" {
			t.Fatalf("Parse(own secret) = %q, %v", p, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	s, _ := token.NewSecret("tncw", nil)
	typo := []byte(s)
	typo[10] = map[bool]byte{true: 'b', false: 'a'}[typo[10] == 'a']
	cases := map[string]string{
		"empty":          "",
		"no prefix":      s[5:],
		"unknown prefix": "tncx" + s[4:],
		"short":          s[:len(s)-1],
		"long":           s + "a",
		"bad character":  s[:12] + "-" + s[13:],
		"typo":           string(typo),
	}
	for name, in := range cases {
		_, err := token.Parse(in, "tncw")
		if !errors.Is(err, token.ErrMalformed) {
			t.Errorf("%s: Parse = %v, want ErrMalformed", name, err)
			continue
		}
		if len(in) > 8 && strings.Contains(err.Error(), in[5:]) {
			t.Errorf("%s: the error echoes the secret", name)
		}
	}
}

// Every base62 digit must be about equally likely: rejection sampling, no modulo bias.
func TestSecretDigitsUniform(t *testing.T) {
	counts := map[rune]int{}
	total := 0
	for i := 0; i < 3000; i++ {
		s, _ := token.NewSecret("ab", nil)
		for _, r := range s[3 : 3+30] {
			counts[r]++
			total++
		}
	}
	if len(counts) != 62 {
		t.Fatalf("%d distinct digits, want 62", len(counts))
	}
	want := float64(total) / 62
	for r, n := range counts {
		if float64(n) < want*0.85 || float64(n) > want*1.15 {
			t.Errorf("digit %q drawn %d times, expected about %.0f", r, n, want)
		}
	}
}

func TestHasher(t *testing.T) {
	if _, err := token.NewHasher(make([]byte, 31)); err == nil {
		t.Error("a 31-byte key was accepted")
	}
	if _, err := token.NewHasher(make([]byte, 65)); err == nil {
		t.Error("a 65-byte key was accepted")
	}
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	h1, _ := token.NewHasher(k1)
	h2, _ := token.NewHasher(k2)
	a, b := h1.Hash("secret"), h1.Hash("secret")
	if !bytes.Equal(a, b) || len(a) != 32 {
		t.Error("hash is not deterministic or not 32 bytes")
	}
	if bytes.Equal(a, h2.Hash("secret")) || bytes.Equal(a, h1.Hash("secreu")) {
		t.Error("hash ignores its key or its input")
	}
	if strings.Contains(string(a), "secret") {
		t.Error("hash contains the secret")
	}
	if h := token.Hint("tncw_abcdefgh"); h != "tncw_…efgh" {
		t.Errorf("Hint = %q", h)
	}
}

func TestParseLifetime(t *testing.T) {
	good := map[string]time.Duration{"48h": 48 * time.Hour, "90min": 90 * time.Minute, "7d": 7 * 24 * time.Hour,
		"1w": 7 * 24 * time.Hour, "1y": 365 * 24 * time.Hour, " 2d ": 48 * time.Hour, "1h30s": time.Hour + 30*time.Second}
	for in, want := range good {
		if got, err := token.ParseLifetime(in); err != nil || got != want {
			t.Errorf("ParseLifetime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0d", "-1h", "0s", "d", "1.5d", "7days", "1x", "99999999y", "-3d", "0min", "min", "1.5min"} {
		if _, err := token.ParseLifetime(bad); !errors.Is(err, token.ErrLifetime) {
			t.Errorf("ParseLifetime(%q) = %v, want ErrLifetime", bad, err)
		}
	}
	// "m" reads as a month to someone who just wrote 1y and 48h: refused, with
	// both ways out.
	for _, bad := range []string{"1m", "90m", "1h30m", "6mo"} {
		_, err := token.ParseLifetime(bad)
		if !errors.Is(err, token.ErrLifetime) || !strings.Contains(fmt.Sprint(err), "30d") || !strings.Contains(fmt.Sprint(err), "60min") {
			t.Errorf("ParseLifetime(%q) = %v, want the ambiguity explained", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	s, _ := token.NewSecret("tncw", nil)
	f.Add(s)
	f.Add("tncw_")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		if _, err := token.Parse(in, "tncw"); err == nil && !strings.HasPrefix(in, "tncw_") {
			t.Fatalf("accepted %q", in)
		}
	})
}

func FuzzParseLifetime(f *testing.F) {
	for _, s := range []string{"48h", "7d", "1y", "", "-1h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if d, err := token.ParseLifetime(in); err == nil && d <= 0 {
			t.Fatalf("ParseLifetime(%q) = %v", in, d)
		}
	})
}

// Hash must be exactly keyed BLAKE2b-256, whatever digest it reuses from its pool.
func TestHasherMatchesPlainKeyedBlake2b(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 40)
	h, _ := token.NewHasher(key)
	inputs := []string{"", "_", "x", "tncw_abc", "tncp_" + strings.Repeat("z", 36), "no-prefix-here", strings.Repeat("q_", 100),
		"a_" + strings.Repeat("b", 200), "tncw_" + strings.Repeat("z", 123), "tncw_" + strings.Repeat("z", 124)}
	for i := 0; i < 40; i++ {
		inputs = append(inputs, fmt.Sprintf("pfx%d_secret", i))
	}
	for _, in := range inputs {
		for round := 0; round < 2; round++ { // a fresh digest, then a reused one
			d, _ := blake2b.New256(key)
			d.Write([]byte(in))
			want := d.Sum(nil)
			if got := h.Hash(in); !bytes.Equal(got, want) {
				t.Fatalf("Hash(%q) differs from keyed BLAKE2b-256", in)
			}
			if got := h.AppendHash([]byte("pre"), in); string(got[:3]) != "pre" || !bytes.Equal(got[3:], want) {
				t.Fatalf("AppendHash(pre, %q) = %x, want pre + %x", in, got, want)
			}
		}
	}
}

// AppendHash into a buffer with room allocates nothing: Authenticate relies on it.
func TestAppendHashAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop digests at random")
	}
	h, _ := token.NewHasher(bytes.Repeat([]byte{1}, 32))
	s, _ := token.NewSecret("tncw", nil)
	buf := make([]byte, 0, 32)
	h.AppendHash(buf, s) // fill the pool
	if n := testing.AllocsPerRun(100, func() { buf = h.AppendHash(buf[:0], s) }); n != 0 {
		t.Fatalf("AppendHash allocates %v times per call, want 0", n)
	}
}

func BenchmarkHash(b *testing.B) {
	h, _ := token.NewHasher(bytes.Repeat([]byte{1}, 32))
	s, _ := token.NewSecret("tncw", nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.Hash(s)
	}
}

func BenchmarkParse(b *testing.B) {
	s, _ := token.NewSecret("tncw", nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := token.Parse(s, "tncp", "tncw"); err != nil {
			b.Fatal(err)
		}
	}
}
