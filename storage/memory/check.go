package memory

import (
	"context"
	"fmt"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/internal/wsindex"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/workspace"
)

var _ storage.Checker = (*Store)(nil)

// Check verifies that every index of the latest snapshot agrees with its records,
// in both directions. It returns one line per problem.
func (s *Store) Check(ctx context.Context) ([]string, error) {
	if s.closed.Load() {
		return nil, storage.ErrClosed
	}
	snap := s.root.Load()
	var out []string
	report := func(format string, args ...any) {
		if len(out) < 1000 {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	// A unique index must map each record's key to its ID, and nothing else.
	unique := func(name string, idx *tree[item[string]], keysOf func(yield func(key, id string))) {
		seen := 0
		keysOf(func(key, id string) {
			seen++
			if got, ok := idx.Get(item[string]{key: key}); !ok || *got.val != id {
				report("%s: %q is missing or points elsewhere (want %q)", name, key, id)
			}
		})
		if idx.Len() != seen {
			report("%s: %d entries for %d records", name, idx.Len(), seen)
		}
	}
	unique("user emails", &snap.userEmail, func(yield func(string, string)) {
		snap.users.Ascend(func(it item[member.User]) bool { yield(it.val.Email, it.key); return true })
	})
	// The posting lists hold workspace numbers, and the checks that read them (the
	// workspace indexes' name grams, each user's workspaces) read them by ID: with a
	// broken numbering they are skipped, which could panic, and the rest still run.
	numsOK := snap.checkNums(report)
	if numsOK {
		// The workspace indexes, as every backend that keeps them checks them.
		lines, err := wsindex.Check(wsIndexes{snap}, snap.eachWorkspace)
		if err != nil {
			return nil, err
		}
		for _, l := range lines {
			report("%s", l)
		}
	}
	unique("invitation hashes", &snap.invHash, func(yield func(string, string)) {
		snap.invs.Ascend(func(it item[member.Invitation]) bool { yield(string(it.val.SecretHash), it.key); return true })
	})
	unique("token hashes", &snap.tokHash, func(yield func(string, string)) {
		snap.toks.Ascend(func(it item[token.Token]) bool { yield(string(it.val.Hash), it.key); return true })
	})
	// Child indexes must list exactly the records' parents.
	child := func(name string, idx *tree[duo], pairsOf func(yield func(a, b string))) {
		seen := 0
		pairsOf(func(a, b string) {
			seen++
			if !idx.Has(duo{a: a, b: b}) {
				report("%s: entry %s/%s is missing", name, a, b)
			}
		})
		if idx.Len() != seen {
			report("%s: %d entries for %d records", name, idx.Len(), seen)
		}
	}
	if numsOK {
		snap.checkUserWs(report)
	}
	child("invitations by workspace", &snap.invWs, func(yield func(string, string)) {
		snap.invs.Ascend(func(it item[member.Invitation]) bool { yield(it.val.WorkspaceID, it.key); return true })
	})
	child("tokens by workspace", &snap.tokWs, func(yield func(string, string)) {
		snap.toks.Ascend(func(it item[token.Token]) bool {
			if it.val.WorkspaceID != "" {
				yield(it.val.WorkspaceID, it.key)
			}
			return true
		})
	})
	child("tokens by user", &snap.tokUser, func(yield func(string, string)) {
		snap.toks.Ascend(func(it item[token.Token]) bool { yield(it.val.UserID, it.key); return true })
	})
	child("events by workspace", &snap.evtWs, func(yield func(string, string)) {
		snap.events.Ascend(func(it item[eventRec]) bool {
			if it.val.ws != "" {
				yield(it.val.ws, it.key)
			}
			return true
		})
	})
	// Hash indexes must hold the trees' very records.
	snap.users.Ascend(func(it item[member.User]) bool {
		if v, ok := snap.userByID.get(it.key); !ok || v != it.val {
			report("user %q: hash index disagrees with the tree", it.key)
		}
		return true
	})
	snap.ws.Ascend(func(it item[workspace.Workspace]) bool {
		if v, ok := snap.wsByID.get(it.key); !ok || v != it.val {
			report("workspace %q: hash index disagrees with the tree", it.key)
		}
		return true
	})
	snap.members.Ascend(func(p pair[memberRec]) bool {
		if v, ok := snap.memberByID.get(memberKey{p.a, p.b}); !ok || v != p.val {
			report("member %s/%s: hash index disagrees with the tree", p.a, p.b)
		}
		return true
	})
	snap.toks.Ascend(func(it item[token.Token]) bool {
		v1, ok1 := snap.tokByID.get(it.key)
		v2, ok2 := snap.tokByHash.get(keyOfHash(it.val.Hash))
		if !ok1 || !ok2 || v1 != it.val || v2 != it.val {
			report("token %q: hash indexes disagree with the tree", it.key)
		}
		return true
	})
	for _, c := range []struct {
		name        string
		index, tree int
	}{
		{"users", snap.userByID.len(), snap.users.Len()},
		{"workspaces", snap.wsByID.len(), snap.ws.Len()},
		{"members", snap.memberByID.len(), snap.members.Len()},
		{"tokens by ID", snap.tokByID.len(), snap.toks.Len()},
		{"tokens by hash", snap.tokByHash.len(), snap.toks.Len()},
	} {
		if c.index != c.tree {
			report("%s: hash index holds %d entries, the tree %d", c.name, c.index, c.tree)
		}
	}
	return out, ctx.Err()
}
