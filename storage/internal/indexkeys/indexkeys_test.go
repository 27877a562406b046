package indexkeys

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGrams(t *testing.T) {
	got := Grams("acmeco")
	want := []string{"3acm", "3cme", "3eco", "3mec", "6acmeco"}
	if !slices.Equal(got, want) {
		t.Errorf("Grams = %q, want %q", got, want)
	}
	if got := Grams("aaaaaaa"); !slices.Equal(got, []string{"3aaa", "6aaaaaa"}) {
		t.Errorf("a repeated window is one gram: %q", got)
	}
	if got := Grams("ab"); got != nil {
		t.Errorf("a name shorter than GramLen has grams: %q", got)
	}
	if got := NeedleGrams("ab"); got != nil {
		t.Errorf("a needle shorter than GramLen has grams: %q", got)
	}
	if got := NeedleGrams("acmecorp"); !slices.Equal(got, []string{"6acmeco", "6cmecor", "6mecorp"}) {
		t.Errorf("a long needle uses its long grams: %q", got)
	}
}

// Grams sorts windows as words; it must give what sorting and compacting the
// tagged strings gives, for any bytes and any length (past maxWindows too).
func TestGramsSortedAsStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6)) // fixed seed: the same names every run
	reference := func(s string) []string {
		var out []string
		for _, n := range []int{GramLen, LongGramLen} {
			for i := 0; i+n <= len(s); i++ {
				out = append(out, string(rune('0'+n))+s[i:i+n])
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	names := []string{"", "a", "abc", "abcdef", "zzzzzzzz", "\x00\x00\x00\xff\xff\xff\x00", "ünïcode äcme", strings.Repeat("ab", maxWindows)}
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = "ab\x00\xff0z "[rng.IntN(7)] // few letters: many repeated windows
		}
		names = append(names, string(b))
	}
	for _, s := range names {
		if got, want := Grams(s), reference(s); !slices.Equal(got, want) {
			t.Fatalf("Grams(%q) = %q, want %q", s, got, want)
		}
	}
}

// Leapfrog yields exactly the IDs in every list, in order, from the start given.
func TestLeapfrog(t *testing.T) {
	lists := [][]string{{"a", "b", "d", "f", "g"}, {"b", "c", "d", "g"}, {"a", "b", "d", "e", "g", "h"}}
	seek := func(i int, x string) (string, bool, error) {
		j, _ := slices.BinarySearch(lists[i], x)
		if j == len(lists[i]) {
			return "", false, nil
		}
		return lists[i][j], true, nil
	}
	var got []string
	err := Leapfrog(len(lists), "c", seek, func(id string) (bool, error) { got = append(got, id); return true, nil })
	if err != nil || !slices.Equal(got, []string{"d", "g"}) {
		t.Errorf("Leapfrog from c = %q, %v", got, err)
	}
	got = nil
	_ = Leapfrog(len(lists), "", seek, func(id string) (bool, error) { got = append(got, id); return len(got) < 1, nil })
	if !slices.Equal(got, []string{"b"}) {
		t.Errorf("Leapfrog stopping after one = %q", got)
	}
}

// Keys sort as their times and sequence numbers do.
func TestKeysSortInOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if a, b := DeletedKey(t0, "ws_b"), DeletedKey(t0.Add(time.Microsecond), "ws_a"); strings.Compare(a, b) >= 0 {
		t.Errorf("DeletedKey out of order: %q, %q", a, b)
	}
	if DeletedKey(time.Unix(-5, 0), "x") != DeletedKey(time.Unix(0, 0), "x") {
		t.Error("times before 1970 do not sort first")
	}
	if a, b := SequencePosition(9), SequencePosition(10); a >= b || len(a) != 16 {
		t.Errorf("SequencePosition: %q, %q", a, b)
	}
}
