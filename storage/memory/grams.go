package memory

import (
	"github.com/tenancykit/tenancy/storage/internal/indexkeys"
	"slices"
	"strings"
	"unicode/utf8"
)

// The name-gram index: for each gram of the lowercased names, the workspaces that
// have it, in ID order, as workspace numbers (see wsnums.go).
//
// A creation files ~25 grams. Keeping each gram's list as a value of the
// snapshot's copy-on-write hash index made every one of those a copy of a map
// shard and of its directories, which was most of what a creation cost and most
// of what the collector scanned. So the common write leaves the snapshot's map
// alone:
//
//   - A gram's list is an appendLog shared by every snapshot that holds it, and a
//     new workspace is appended to it in place (the Manager draws IDs inside the
//     write, so they reach the store in the order they grow).
//   - Anything else builds a new log that only the writer's snapshot points to
//     (an ID that sorts before the end, a compaction), or changes the snapshot's
//     handle on the log (postings: a removal, a revival, a first entry). These
//     are the rare writes, and they cost what they did before.
//   - Removing (a rename, a purge) leaves the entry and counts it dead in the
//     snapshot's handle. An entry is live while its workspace's lowercased name
//     holds the gram, which is what the snapshot's workspace record says, so
//     readers skip dead entries by looking, and need no tombstone. When half the
//     list is dead it is rebuilt from its live entries: a removal costs O(1)
//     amortized, not a copy of a list that can hold every workspace.
//
// wsindex calls Post only for a gram a workspace gains and Unpost only for one it
// loses, so the dead count is exact: GramCount is the visible length minus dead.

// postings is a snapshot's handle on one posting list (a gram's, a user's): the
// shared log and how many of the entries this snapshot sees are dead.
//
// A list of one entry lives in the handle itself (one), with no log: most grams
// of a long name are its own, and many users belong to one workspace. That spares
// such a list its three allocations (the log, its cell and its entries, about 110
// bytes), and its second entry builds the log.
type postings struct {
	list *appendLog[uint32] // workspace numbers (see wsnums.go), in the order of their IDs; nil when one holds the list
	dead int32              // entries this snapshot sees whose workspace no longer has the key
	one  uint32             // the only entry's number plus one, when there is no log; 0 otherwise
}

// empty reports whether the handle holds no list.
func (p postings) empty() bool { return p.list == nil && p.one == 0 }

// view returns the entries of the list a snapshot with the given stamp sees. A
// list of one is copied out of the handle (16 bytes), which only a search or a
// second entry asks for.
func (p postings) view(stamp uint64) []logEntry[uint32] {
	if p.one != 0 {
		v := make([]logEntry[uint32], 1)
		v[0].val = p.one - 1
		return v
	}
	return p.list.view(stamp)
}

// count is the number of live entries a snapshot with the given stamp sees.
func (p postings) count(stamp uint64) int {
	if p.one != 0 {
		return 1
	}
	return len(p.list.view(stamp)) - int(p.dead)
}

// gramKey is a tagged gram of indexkeys.Grams packed into a word: its length in
// the top byte, its bytes below. Hashing and comparing a word is cheaper than a
// string, a map shard of words is cheaper to copy, and the collector has no
// pointers to follow in it.
type gramKey uint64

// maxGramKey is the longest tagged gram a gramKey holds.
const maxGramKey = 7

// The longest tagged gram indexkeys makes must fit (a compile error otherwise).
const _ = uint(maxGramKey - (indexkeys.LongGramLen + 1))

func packGram(g string) gramKey {
	k := uint64(min(len(g), maxGramKey)) << 56
	for i := 0; i < len(g) && i < maxGramKey; i++ {
		k |= uint64(g[i]) << (8 * (6 - i))
	}
	return gramKey(k)
}

func (k gramKey) String() string {
	n := int(k >> 56)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(k >> (8 * (6 - i)))
	}
	return string(b)
}

// gramView returns the snapshot's handle on g's list and the entries it sees, live
// and dead.
func (s *snapshot) gramView(g string) (postings, []logEntry[uint32]) {
	p, ok := s.grams.get(packGram(g))
	if !ok {
		return p, nil
	}
	return p, p.view(s.stamp)
}

// gramCount is the number of live entries of g's list in the snapshot.
func (s *snapshot) gramCount(g string) int {
	p, _ := s.grams.get(packGram(g))
	return p.count(s.stamp)
}

// searchID finds id in a view: its index, or where it would be inserted.
func (s *snapshot) searchID(v []logEntry[uint32], id string) (int, bool) {
	lo, hi := 0, len(v) // written out: a search runs one per needle gram per candidate
	if n, ok := s.orderedNum(id); ok {
		// The numbers compare as the IDs: no ID to read at each step.
		for lo < hi {
			if m := int(uint(lo+hi) >> 1); v[m].val < n {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo, lo < len(v) && v[lo].val == n
	}
	for lo < hi {
		if m := int(uint(lo+hi) >> 1); s.idOf(v[m].val) < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(v) && s.idOf(v[lo].val) == id
}

// hasGram reports whether workspace id, as this snapshot holds it, has gram g (a
// tagged key of indexkeys.Grams: its first byte is the length tag).
func (s *snapshot) hasGram(id, g string) bool {
	w, ok := s.wsByID.get(id)
	return ok && containsLower(w.Name, g[1:])
}

// containsLower reports whether strings.ToLower(s) contains sub, without
// building the lowered string when s is ASCII (a search checks many names).
func containsLower(s, sub string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Contains(strings.ToLower(s), sub)
		}
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		j := 0
		for j < len(sub) && lowerASCII(s[i+j]) == sub[j] {
			j++
		}
		if j == len(sub) {
			return true
		}
	}
	return false
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// postGram adds id to gram g's list.
func (s *snapshot) postGram(g, id string) {
	p, v := s.gramView(g)
	if np, changed := s.post(p, v, id); changed {
		s.grams.set(packGram(g), np)
	}
}

// unpostGram removes id from gram g's list. Workspace id may still show g in this
// transaction (its record is written after its indexes), so it is counted dead by
// name, not by looking.
func (s *snapshot) unpostGram(g, id string) {
	p, v := s.gramView(g)
	switch np, changed := s.unpost(p, v, id, func(x string) bool { return s.hasGram(x, g) }); {
	case changed && np.empty():
		s.grams.del(packGram(g))
	case changed:
		s.grams.set(packGram(g), np)
	}
}

// seekGram returns the first live ID at or after from in g's list.
func (s *snapshot) seekGram(g, from string) (string, bool) {
	p, v := s.gramView(g)
	return s.seek(p, v, from, func(x string) bool { return s.hasGram(x, g) })
}

// walkGram calls fn with each live ID of g's list after the given one, in order.
func (s *snapshot) walkGram(g, after string, fn func(string) (bool, error)) error {
	p, v := s.gramView(g)
	return s.walk(p, v, after, func(x string) bool { return s.hasGram(x, g) }, fn)
}

// A posting list's operations, for the gram lists and the user→workspace lists:
// p is a snapshot's handle, v the entries it sees, live says whether an entry's
// ID still belongs (the lists leave removed entries in place, counted dead).

// post returns the handle with id added, and whether it changed (an append to the
// shared log leaves it as it is). The caller posts only an ID the list does not
// hold live, so a found entry is a dead one coming back.
func (s *snapshot) post(p postings, v []logEntry[uint32], id string) (postings, bool) {
	// A new workspace's ID sorts after every other: look at the end first, which
	// spares the common append a binary search through a long list.
	n := s.numFor(id)
	i, found := len(v), false
	if len(v) > 0 && !s.before(v[len(v)-1].val, id, n) {
		i, found = s.searchID(v, id)
	}
	if found {
		p.dead--
		return p, true
	}
	switch {
	case p.empty():
		return postings{one: n + 1}, true
	case i == len(v) && s.undo != nil && p.list != nil && p.list.whole(v):
		p.list.push(n, s.stamp, s.undo) // the writer sees the whole log: append in place
		return p, false
	}
	nums := make([]uint32, 0, len(v)+1)
	for j := range v[:i] {
		nums = append(nums, v[j].val)
	}
	nums = append(nums, n)
	for j := range v[i:] {
		nums = append(nums, v[i+j].val)
	}
	return postings{list: newAppendLog(nums, max(len(nums)/4, 2)), dead: p.dead}, true
}

// unpost returns the handle with id removed, and whether it changed; a list left
// with no live entry comes back empty, one left with one comes back in the handle.
func (s *snapshot) unpost(p postings, v []logEntry[uint32], id string, live func(string) bool) (postings, bool) {
	at, found := s.searchID(v, id)
	if !found {
		return p, false
	}
	p.dead++
	if int(p.dead)*2 <= len(v) {
		return p, true
	}
	n := len(v) - int(p.dead)
	nums := make([]uint32, 0, n)
	for j := range v {
		if x := v[j].val; j != at && live(s.idOf(x)) {
			nums = append(nums, x)
		}
	}
	switch len(nums) {
	case 0:
		return postings{}, true
	case 1:
		return postings{one: nums[0] + 1}, true
	}
	return postings{list: newAppendLog(nums, n/4)}, true
}

// seek returns the first live ID at or after from.
func (s *snapshot) seek(p postings, v []logEntry[uint32], from string, live func(string) bool) (string, bool) {
	i, _ := s.searchID(v, from)
	for ; i < len(v); i++ {
		if id := s.idOf(v[i].val); p.dead == 0 || live(id) {
			return id, true
		}
	}
	return "", false
}

// walk calls fn with each live ID after the given one, in order.
func (s *snapshot) walk(p postings, v []logEntry[uint32], after string, live func(string) bool, fn func(string) (bool, error)) error {
	i, found := s.searchID(v, after)
	if found {
		i++
	}
	for ; i < len(v); i++ {
		id := s.idOf(v[i].val)
		if p.dead > 0 && !live(id) {
			continue
		}
		if more, err := fn(id); err != nil || !more {
			return err
		}
	}
	return nil
}

// gramKeys returns every gram with a list, sorted: for the checks, not a hot path.
func (s *snapshot) gramKeys() []string {
	var keys []string
	s.grams.each(func(k gramKey, _ postings) bool { keys = append(keys, k.String()); return true })
	slices.Sort(keys)
	return keys
}
