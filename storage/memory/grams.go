package memory

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// postings is one name gram's posting list in a snapshot: the IDs of the
// workspaces whose lowercased name holds the gram, ascending.
//
// A B-tree of (gram, ID) pairs made every creation copy a root-to-leaf path for
// each of a name's ~25 grams, which was most of what a creation cost and most of
// what the collector scanned. These lists are cheaper for the two things that
// happen most, and still correct for the rest:
//
//   - Appending (a new workspace: the Manager draws its ID inside the write, so
//     IDs reach the store in the order they grow) writes into the backing
//     array's spare capacity. A snapshot reads only its own ids[:len], and a
//     list's later versions on one backing array only grow, so the slot written
//     is past what any published snapshot can see, and a rolled-back writer's
//     slot is simply written again. Anything else (an ID that sorts earlier, a
//     compaction) builds a new array, which older snapshots never share: correct,
//     but a copy of the list.
//   - Removing (a rename, a purge) leaves the entry and counts it dead. An entry
//     is live while its workspace exists and its lowercased name holds the gram,
//     which is what the workspace record says, so readers skip dead entries by
//     looking, and need no tombstone. When half the list is dead, the list is
//     rebuilt from its live entries: a removal costs O(1) amortized, not a copy
//     of a list that can hold every workspace.
//
// wsindex calls Post only for a gram a workspace gains and Unpost only for one it
// loses, so the dead count is exact: GramCount is len(ids) - dead.
type postings struct {
	ids  []string
	dead int
}

func (p postings) live() int { return len(p.ids) - p.dead }

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
	p, _ := s.grams.get(g)
	i, found := slices.BinarySearch(p.ids, id)
	switch {
	case found: // a dead entry of this workspace (renamed away and back, or purged and recreated): live again
		p.dead--
	case i == len(p.ids):
		p.ids = append(p.ids, id) // past every published snapshot's end: see postings
	default:
		ids := make([]string, 0, len(p.ids)+1+len(p.ids)/4)
		ids = append(append(append(ids, p.ids[:i]...), id), p.ids[i:]...)
		p.ids = ids
	}
	s.grams.set(g, p)
}

// unpostGram removes id from gram g's list. Workspace id may still show g in this
// transaction (its record is written after its indexes), so it is counted dead by
// name, not by looking.
func (s *snapshot) unpostGram(g, id string) {
	p, ok := s.grams.get(g)
	if !ok {
		return
	}
	if _, found := slices.BinarySearch(p.ids, id); !found {
		return
	}
	p.dead++
	if p.dead*2 <= len(p.ids) {
		s.grams.set(g, p)
		return
	}
	ids := make([]string, 0, p.live()+p.live()/4)
	for _, x := range p.ids {
		if x != id && s.hasGram(x, g) {
			ids = append(ids, x)
		}
	}
	if len(ids) == 0 {
		s.grams.del(g)
		return
	}
	s.grams.set(g, postings{ids: ids})
}

// seekGram returns the first live ID at or after from in g's list.
func (s *snapshot) seekGram(g, from string) (string, bool) {
	p, _ := s.grams.get(g)
	i, _ := slices.BinarySearch(p.ids, from)
	for ; i < len(p.ids); i++ {
		if p.dead == 0 || s.hasGram(p.ids[i], g) {
			return p.ids[i], true
		}
	}
	return "", false
}

// walkGram calls fn with each live ID of g's list after the given one, in order.
func (s *snapshot) walkGram(g, after string, fn func(string) (bool, error)) error {
	p, _ := s.grams.get(g)
	i, found := slices.BinarySearch(p.ids, after)
	if found {
		i++
	}
	for ; i < len(p.ids); i++ {
		if p.dead > 0 && !s.hasGram(p.ids[i], g) {
			continue
		}
		if more, err := fn(p.ids[i]); err != nil || !more {
			return err
		}
	}
	return nil
}

// gramKeys returns every gram with a list, sorted: for the checks, not a hot path.
func (s *snapshot) gramKeys() []string {
	var keys []string
	s.grams.each(func(g string, _ postings) bool { keys = append(keys, g); return true })
	slices.Sort(keys)
	return keys
}
