package memory

import (
	"fmt"
	"hash/maphash"
	"maps"
	"math/rand/v2"
	"testing"
)

// A hash index's shards share their tails between snapshots and a writer appends
// to them in place (see hindex). This drives one through inserts, updates and
// deletes on a few crowded shards (so tails fill and fold many times), with
// rolled-back writes among them, keeps every snapshot, and checks that each one
// still reads exactly what was committed when it was taken.
func TestHindexKeepsEverySnapshot(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8)) // fixed seed: the same steps every run
	h := newHindex[string, string](maphash.MakeSeed())
	// Keys that land on three shards: 160 each, so tables grow past four times
	// tailMax and their tails lengthen (tailRoom), and tails fill and fold often.
	var keys []string
	perShard := map[[3]int]int{}
	var shards [][3]int
	for n := 0; len(keys) < 480; n++ {
		k := fmt.Sprintf("key-%d", n)
		_, i, j, l := h.slot(k)
		s := [3]int{i, j, l}
		if _, ok := perShard[s]; !ok && len(shards) < 3 {
			shards = append(shards, s)
			perShard[s] = 0
		}
		if c, ok := perShard[s]; ok && c < 160 {
			perShard[s] = c + 1
			keys = append(keys, k)
		}
	}
	type kept struct {
		h     hindex[string, string]
		model map[string]string
	}
	check := func(step int, k kept) {
		t.Helper()
		for _, key := range keys {
			got, ok := k.h.get(key)
			if want, had := k.model[key]; ok != had || got != want {
				t.Fatalf("step %d: get(%q) = %q, %v; want %q, %v", step, key, got, ok, want, had)
			}
		}
		seen := map[string]string{}
		k.h.each(func(key, v string) bool {
			if _, dup := seen[key]; dup {
				t.Fatalf("step %d: each gives %q twice", step, key)
			}
			seen[key] = v
			return true
		})
		if !maps.Equal(seen, k.model) || k.h.len() != len(k.model) {
			t.Fatalf("step %d: each gives %d entries, len %d, want %d", step, len(seen), k.h.len(), len(k.model))
		}
	}
	model := map[string]string{}
	var snaps []kept
	var stamp uint64
	var undo []undoer
	longest := 0 // the longest shard tail a snapshot held
	next := 0    // the next key of the insert-only first phase
	for step := 0; step < 3000; step++ {
		stamp++
		w := h.forWrite(stamp, &undo)
		m := maps.Clone(model)
		for n := 0; n < 1+rng.IntN(6); n++ {
			key := keys[rng.IntN(len(keys))]
			if next < len(keys) {
				// First only inserts, in order: with no update or delete to fold
				// them, tails grow to a quarter of their tables (tailRoom). Some
				// are inserts of a key inserted before, which its tail holds.
				key, next = keys[next], next+1
				if rng.IntN(3) == 0 {
					key = keys[rng.IntN(next)]
				}
			} else if rng.IntN(8) == 0 {
				w.del(key)
				delete(m, key)
				continue
			}
			v := fmt.Sprintf("v%d.%d", step, n)
			if rng.IntN(2) == 0 { // insert: a no-op on a key that is there
				_, had := m[key]
				if got := w.insert(key, v); got == had {
					t.Fatalf("step %d: insert(%q) = %v with the key there: %v", step, key, got, had)
				}
				if !had {
					m[key] = v
				}
				continue
			}
			w.set(key, v)
			m[key] = v
		}
		if rng.IntN(6) == 0 {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i].undo()
			}
		} else {
			h, model = w, m
		}
		undo = undo[:0]
		for _, sh := range shards {
			if leaf := h.leaf(sh[0], sh[1]); leaf != nil {
				longest = max(longest, len(leaf.tails[sh[2]].view(h.stamp)))
			}
		}
		snaps = append(snaps, kept{h, model})
		for i := range snaps {
			if i >= len(snaps)-3 || step%500 == 499 {
				check(step, snaps[i])
			}
		}
	}
	if longest <= tailMax {
		t.Errorf("no shard tail grew past %d entries: the tails that scale with their tables went untested", tailMax)
	}
}
