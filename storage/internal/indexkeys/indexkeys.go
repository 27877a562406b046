// Package indexkeys holds what only backends need to build their indexes: the
// name grams of the search index, the retention index's keys, feed positions and
// the intersection of sorted posting lists. It is internal to storage: the
// contract (package storage) says what an index must answer; this says how the
// built-in backends file it.
package indexkeys

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// GramLen is the length, in bytes, of the shortest name grams a search index
// keeps. A needle shorter than this cannot use such an index.
const GramLen = 3

// LongGramLen is the length of the long grams also kept: a needle at least this
// long is looked up by them, whose posting lists stay short even where 3-grams are
// common (digits: "user-12345" among a million "user-N").
const LongGramLen = 6

// Grams returns the keys a search index files a lowercased name under, sorted:
// its distinct GramLen-byte windows, and its LongGramLen-byte windows, each with a
// one-byte length tag so the two kinds never mix.
func Grams(s string) []string {
	// Every gram is cut from one buffer, so a name costs three allocations however
	// many grams it has (every creation and rename files them).
	var count, size int
	for _, n := range []int{GramLen, LongGramLen} {
		if k := len(s) - n + 1; k > 0 {
			count += k
			size += k * (n + 1)
		}
	}
	if count == 0 {
		return nil
	}
	buf := make([]byte, 0, size)
	for _, n := range []int{GramLen, LongGramLen} {
		for i := 0; i+n <= len(s); i++ {
			buf = append(append(buf, byte('0'+n)), s[i:i+n]...)
		}
	}
	all := string(buf)
	out := make([]string, 0, count)
	if len(s) > maxWindows {
		for _, n := range []int{GramLen, LongGramLen} {
			for i := 0; i+n <= len(s); i++ {
				out = append(out, all[:n+1])
				all = all[n+1:]
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	// The short grams sort before the long ones (their tag is smaller), and within
	// a kind all are one length: sorting each kind's windows as words, the bytes
	// above the window's index, orders them as strings at a fraction of the cost of
	// comparing strings (a fifth of what filing a name cost on the memory backend).
	var short [64]uint64 // most names: no allocation for the keys
	keys := short[:0]
	for _, n := range []int{GramLen, LongGramLen} {
		keys = keys[:0]
		for i := 0; i+n <= len(s); i++ {
			var k uint64
			for _, c := range []byte(s[i : i+n]) {
				k = k<<8 | uint64(c)
			}
			keys = append(keys, k<<16|uint64(i))
		}
		slices.Sort(keys)
		for j, k := range keys {
			if j > 0 && k>>16 == keys[j-1]>>16 {
				continue // the same gram at another window
			}
			i := int(k & 0xffff)
			out = append(out, all[i*(n+1):(i+1)*(n+1)])
		}
		all = all[max(len(s)-n+1, 0)*(n+1):]
	}
	return out
}

// maxWindows is the longest name whose grams Grams sorts as words: a window's
// index takes the low 16 bits beside the gram's bytes.
const maxWindows = 1<<16 - 1

// A long gram's bytes and a window's index must fit in a word (a compile error
// otherwise).
const _ = uint(64 - 16 - 8*LongGramLen)

// NeedleGrams returns the keys to look a lowercased needle up by: its long grams
// when it is long enough, else its short ones, else none (the needle is too short
// for the index).
func NeedleGrams(needle string) []string {
	n := GramLen
	if len(needle) >= LongGramLen {
		n = LongGramLen
	}
	var out []string
	seen := map[string]bool{}
	for i := 0; i+n <= len(needle); i++ {
		g := string(rune('0'+n)) + needle[i:i+n]
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// SequencePosition renders a single-writer backend's event sequence number as a feed
// position: fixed-width hex, so byte order is numeric order.
func SequencePosition(seq uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[seq&0xf]
		seq >>= 4
	}
	return string(b[:])
}

// DeletedKey is the key of a deleted workspace in a retention index: its deletion
// time (microseconds since 1970, fixed-width hex) then its ID, so byte order is
// deletion order. Times before 1970 sort first.
func DeletedKey(deletedAt time.Time, id string) string {
	us := max(deletedAt.UnixMicro(), 0)
	return fmt.Sprintf("%016x", uint64(us)) + id
}

// Leapfrog walks, in order, the IDs that are in every one of n sorted lists,
// starting at from (inclusive): a join of index lists whose cost follows the
// matches, not the lists' lengths. seek(i, x) returns the first ID ≥ x in list i
// (ok false when there is none); fn returns false to stop. Backends use it to
// intersect the posting lists of a name search.
func Leapfrog(n int, from string, seek func(i int, x string) (id string, ok bool, err error), fn func(id string) (bool, error)) error {
	if n == 0 {
		return nil
	}
	x := from
	for {
		agreed := 0
		for i := 0; agreed < n; i = (i + 1) % n {
			id, ok, err := seek(i, x)
			if err != nil || !ok {
				return err
			}
			if id == x {
				agreed++
			} else {
				x, agreed = id, 1
			}
		}
		more, err := fn(x)
		if err != nil || !more {
			return err
		}
		x += "\x00" // the next ID after x: IDs never hold a zero byte
	}
}
