package memory

// The user→workspace index behind ScanUserMemberships: for each user, the
// workspaces they belong to, in ID order, as a posting list (see postings). It
// was a B-tree of (user, workspace) pairs, where a new workspace's owner lands
// anywhere among everyone's memberships and every creation copied a path of that
// tree; in a list of its own the new workspace's ID sorts last, so it is appended in
// place. An entry is live while the membership exists in the snapshot.

// userView returns the snapshot's handle on user's list and the entries it sees.
func (s *snapshot) userView(user string) (postings, []logEntry[uint32]) {
	p, ok := s.userWs.get(user)
	if !ok {
		return p, nil
	}
	return p, p.view(s.stamp)
}

func (s *snapshot) isMember(wsID, user string) bool {
	_, ok := s.memberByID.get(memberKey{wsID, user})
	return ok
}

// postUserWs adds a new membership to its user's list.
func (s *snapshot) postUserWs(user, wsID string) {
	p, v := s.userView(user)
	if np, changed := s.post(p, v, wsID); changed {
		s.userWs.set(user, np)
	}
}

// unpostUserWs removes a membership from its user's list. It runs before the
// membership leaves memberByID, so the entry is counted dead by name.
func (s *snapshot) unpostUserWs(user, wsID string) {
	p, v := s.userView(user)
	switch np, changed := s.unpost(p, v, wsID, func(x string) bool { return s.isMember(x, user) }); {
	case changed && np.empty():
		s.userWs.del(user)
	case changed:
		s.userWs.set(user, np)
	}
}

// walkUserWs calls fn with the workspaces user belongs to after the given one, in
// order.
func (s *snapshot) walkUserWs(user, after string, fn func(string) (bool, error)) error {
	p, v := s.userView(user)
	return s.walk(p, v, after, func(x string) bool { return s.isMember(x, user) }, fn)
}

// checkUserWs reports what is wrong with the user→workspace lists: a membership
// missing from its user's list, a dead count that is not the number of entries
// whose membership is gone, a list out of order.
func (s *snapshot) checkUserWs(report func(string, ...any)) {
	s.members.Ascend(func(p pair[memberRec]) bool {
		if _, v := s.userView(p.b); !s.isListed(v, p.a) {
			report("memberships by user: %s/%s is missing", p.b, p.a)
		}
		return true
	})
	s.userWs.each(func(user string, p postings) bool {
		v := p.view(s.stamp)
		dead := 0
		for i := range v {
			id := s.idOf(v[i].val)
			if i > 0 && s.idOf(v[i-1].val) >= id {
				report("memberships by user: %q's list is out of order at %q", user, id)
			}
			if !s.isMember(id, user) {
				dead++
			}
		}
		if dead != int(p.dead) || dead == len(v) {
			report("memberships by user: %q's list has %d entries, %d dead, counted %d", user, len(v), dead, p.dead)
		}
		return true
	})
}

func (s *snapshot) isListed(v []logEntry[uint32], id string) bool {
	_, found := s.searchID(v, id)
	return found
}
