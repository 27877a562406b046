package memory

import (
	"math/rand/v2"
	"testing"
)

// An htable against a map: random puts, updates, removes and clones, with hashes
// whose top bits (a key's home slot) are drawn from a few values, so that probe
// runs are long, wrap around the end of the table and are cut by removals in
// every position. After each step every key reads as the map says and the count
// agrees.
func TestHtableAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12)) // fixed seed: the same steps every run
	// hashOf gives key k a fixed hash: k and the low bit hindex.slot sets below,
	// and top bits that make its home the last slot at any table size (so runs
	// wrap), the first, the middle or anywhere.
	homes := make(map[int]uint64)
	hashOf := func(k int) uint64 {
		h, ok := homes[k]
		if !ok {
			top := [...]uint64{0xffffffff, 0xffffffff, 0, 0x7fffffff, rng.Uint64() >> 32}[rng.IntN(5)]
			h = top<<32 | uint64(k)<<1 | 1
			homes[k] = h
		}
		return h
	}
	model := map[int]string{}
	tab := newHtable[int, string](0)
	verify := func(step int) {
		t.Helper()
		if tab.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(model))
		}
		for k := 0; k < 200; k++ {
			got, ok := tab.get(hashOf(k), k)
			if want, had := model[k]; ok != had || got != want {
				t.Fatalf("step %d: get(%d) = %q, %v; want %q, %v", step, k, got, ok, want, had)
			}
		}
		n := 0
		tab.each(func(k int, v string) bool {
			if model[k] != v {
				t.Fatalf("step %d: each gives %d=%q, want %q", step, k, v, model[k])
			}
			n++
			return true
		})
		if n != len(model) {
			t.Fatalf("step %d: each gives %d entries, want %d", step, n, len(model))
		}
	}
	for step := 0; step < 20000; step++ {
		k := rng.IntN(200)
		switch r := rng.IntN(10); {
		case r < 5:
			v := string(rune('a' + step%26))
			tab = tab.put(hashOf(k), k, v)
			model[k] = v
		case r < 9:
			tab.remove(hashOf(k), k)
			delete(model, k)
		default:
			tab = tab.clone(rng.IntN(4)) // a writer's copy: the same entries, placed anew
		}
		verify(step)
	}
	var nilTab *htable[int, string]
	if _, ok := nilTab.get(1, 0); ok || nilTab.len() != 0 || !nilTab.each(func(int, string) bool { return false }) {
		t.Error("a nil table must read as empty")
	}
}
