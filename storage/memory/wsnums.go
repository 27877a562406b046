package memory

// Workspace numbers. The posting lists (a name gram's workspaces, a user's
// workspaces) hold each workspace as a uint32 instead of its ID. A list entry is
// then a number and a stamp with no pointer in it, so the collector never scans
// the lists: about 30 entries per workspace, which were a third of the backend's
// heap and most of the pointers the collector followed on every cycle while a
// store grows. The lists stay in ID order, so a search's seeks and pages are what
// they were. While every ID has arrived in ascending order (numsOrdered: the
// Manager draws IDs that grow), numbers compare as their IDs and the lists are
// searched by number; after one arrives out of order (an import, two Managers on
// one store), entries compare by the IDs their numbers stand for (wsIDs).
//
// A workspace's number is drawn the first time one of its IDs is posted and kept
// for as long as the store is open, purged or not: a dead entry for a purged
// workspace still names its ID (readers check a dead entry's workspace by ID), and
// an ID posted again gets the number it had. So wsIDs and wsNum grow with every
// workspace ever created, about 70 bytes each, and a list entry costs 16 bytes
// where its ID cost 24 and a pointer.
//
// wsIDs is one appendLog shared by every snapshot, like a gram's list: a writer
// appends in place and a rollback cuts it back. A reader only looks up a number it
// found in a list its snapshot sees, which was appended after the number's ID, so
// the ID is there for it in whichever cell of the log it loads.

// idOf returns the ID of workspace number n, which must be in a list the
// snapshot sees.
func (s *snapshot) idOf(n uint32) string {
	return s.wsIDs.cur.Load().ents[n].val
}

// numFor returns the number of workspace id, drawing one if it has none; only a
// writer calls it. A creation posts its ID under every gram of its name in a row,
// so the writer's snapshot remembers the last one. A number is a uint32: a store
// holds fewer workspaces than that (each costs more than a kilobyte of memory).
func (s *snapshot) numFor(id string) uint32 {
	if s.lastNum.ok && s.lastNum.id == id {
		return s.lastNum.n
	}
	c := s.wsIDs.cur.Load() // the writer sees the whole log
	next := c.n.Load()
	// While the numbers are in order, an ID past the last one drawn has none: a
	// creation's ID needs no lookup.
	newest := s.numsOrdered && (next == 0 || c.ents[next-1].val < id)
	n, ok := uint32(0), false
	if !newest {
		n, ok = s.wsNum.get(id)
	}
	if !ok {
		if next > 0 && c.ents[next-1].val >= id {
			s.numsOrdered = false
		}
		n = uint32(next)
		s.wsIDs.push(id, s.stamp, s.undo)
		s.wsNum.set(id, n)
	}
	s.lastNum.id, s.lastNum.n, s.lastNum.ok = id, n, true
	return n
}

// orderedNum returns id's number when numbers compare as their IDs and id has
// one: a search may then compare numbers.
func (s *snapshot) orderedNum(id string) (uint32, bool) {
	if !s.numsOrdered {
		return 0, false
	}
	return s.wsNum.get(id)
}

// before reports whether workspace number n's ID sorts before id, whose number is
// m: by the numbers alone while they are in ID order, else by the IDs.
func (s *snapshot) before(n uint32, id string, m uint32) bool {
	if s.numsOrdered {
		return n < m
	}
	return s.idOf(n) < id
}

// checkNums reports what is wrong with the workspace numbering: a number that
// does not stand for the ID it was drawn for, numbers said to compare as their IDs
// that do not, a list entry with no number drawn. It runs before the lists are
// read by ID, which a number past the end would stop with a panic.
func (s *snapshot) checkNums(report func(string, ...any)) (ok bool) {
	ok = true
	bad := func(format string, args ...any) { ok = false; report(format, args...) }
	ids := s.wsIDs.view(s.stamp)
	for i := range ids {
		id := ids[i].val
		if n, found := s.wsNum.get(id); !found || n != uint32(i) {
			bad("workspace numbers: %q is number %d, its entry says %d (found %v)", id, i, n, found)
		}
		if s.numsOrdered && i > 0 && ids[i-1].val >= id {
			bad("workspace numbers: said to be in ID order, but %d is %q after %q", i, id, ids[i-1].val)
		}
	}
	if n := s.wsNum.len(); n != len(ids) {
		bad("workspace numbers: %d IDs have a number, %d numbers were drawn", n, len(ids))
	}
	lists := func(name string, each func(func(string, postings) bool)) {
		each(func(key string, p postings) bool {
			v := p.view(s.stamp)
			for i := range v {
				if n := v[i].val; int(n) >= len(ids) {
					bad("%s: %q's list holds number %d, past the %d drawn", name, key, n, len(ids))
					return true
				}
			}
			return true
		})
	}
	lists("memberships by user", s.userWs.each)
	lists("name grams", func(fn func(string, postings) bool) {
		s.grams.each(func(g gramKey, p postings) bool { return fn(g.String(), p) })
	})
	return ok
}
