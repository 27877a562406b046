package memory

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// A tree's tail is shared by consecutive snapshots and written in place (see
// tree). This drives one through appends past the end, inserts and replacements
// before it and inside the tail, deletions from both parts, flushes of a full
// tail and rolled-back writes, keeps every snapshot, and checks after each step
// that each one still reads exactly what was committed when it was taken.
func TestTreeKeepsEverySnapshot(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6)) // fixed seed: the same steps every run
	type kept struct {
		tr    tree[item[string]]
		model map[string]string
	}
	cur, model := newTree[string](), map[string]string{}
	var stamp uint64
	next := 0
	var snaps []kept
	check := func(step int, k kept) {
		t.Helper()
		want := slices.Sorted(maps.Keys(k.model))
		var got []string
		k.tr.Ascend(func(it item[string]) bool {
			if *it.val != k.model[it.key] {
				t.Fatalf("step %d: %q = %q, want %q", step, it.key, *it.val, k.model[it.key])
			}
			got = append(got, it.key)
			return true
		})
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: keys %q, want %q", step, got, want)
		}
		if k.tr.Len() != len(want) {
			t.Fatalf("step %d: Len %d, want %d", step, k.tr.Len(), len(want))
		}
		for _, key := range want {
			if it, ok := k.tr.Get(item[string]{key: key}); !ok || *it.val != k.model[key] {
				t.Fatalf("step %d: Get(%q) = %v, %v", step, key, it.val, ok)
			}
		}
		if k.tr.Has(item[string]{key: "a"}) || k.tr.Has(item[string]{key: "k000000y"}) || k.tr.Has(item[string]{key: "l"}) {
			t.Fatalf("step %d: Has finds a missing key", step)
		}
		if last, ok := k.tr.Max(); ok != (len(want) > 0) || ok && last.key != want[len(want)-1] {
			t.Fatalf("step %d: Max = %q, %v", step, last.key, ok)
		}
		pivot := fmt.Sprintf("k%06d", rng.IntN(next+1))
		var from, before []string
		k.tr.AscendGreaterOrEqual(item[string]{key: pivot}, func(it item[string]) bool { from = append(from, it.key); return true })
		k.tr.AscendLessThan(item[string]{key: pivot}, func(it item[string]) bool { before = append(before, it.key); return true })
		i, _ := slices.BinarySearch(want, pivot)
		if !slices.Equal(from, want[i:]) || !slices.Equal(before, want[:i]) {
			t.Fatalf("step %d: from %q: %q and %q, want %q and %q", step, pivot, from, before, want[i:], want[:i])
		}
		// Stopping early stops.
		n := 0
		k.tr.Ascend(func(item[string]) bool { n++; return n < 3 })
		if n != min(3, len(want)) {
			t.Fatalf("step %d: Ascend went on after false: %d calls", step, n)
		}
	}
	for step := 0; step < 1500; step++ {
		stamp++
		var undo []undoer
		w := cur.clone(stamp, &undo)
		m := maps.Clone(model)
		for k := 0; k < 1+rng.IntN(6); k++ {
			val := fmt.Sprintf("v%d", step)
			switch op := rng.IntN(20); {
			case op < 14: // past the end: the tail
				key := fmt.Sprintf("k%06d", next)
				next++
				w.ReplaceOrInsert(item[string]{key: key, val: &val})
				m[key] = val
			case op < 17: // anywhere: a replacement or an insert before the end
				key := fmt.Sprintf("k%06d", rng.IntN(next+1))
				if rng.IntN(2) == 0 {
					key += "x"
				}
				w.ReplaceOrInsert(item[string]{key: key, val: &val})
				m[key] = val
			default:
				key := fmt.Sprintf("k%06d", rng.IntN(next+1))
				old, ok := w.Delete(item[string]{key: key})
				if want, had := m[key]; ok != had || ok && *old.val != want {
					t.Fatalf("step %d: Delete(%q) = %v, %v; had %q, %v", step, key, old.val, ok, want, had)
				}
				delete(m, key)
			}
		}
		if rng.IntN(6) == 0 {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i].undo()
			}
		} else {
			cur, model = w, m
		}
		snaps = append(snaps, kept{cur, model})
		// Every snapshot now and then, the latest few always.
		for i := range snaps {
			if i >= len(snaps)-3 || step%300 == 299 {
				check(step, snaps[i])
			}
		}
	}
	if next < 3*tailFlush {
		t.Fatalf("only %d appends: no flush of a full tail was tried", next)
	}
}
