package tenancy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

// Finding is one broken invariant found by Verify.
type Finding struct {
	Check   string // which rule: "owner", "admin", "orphan", "index", "counter", "backend", …
	Subject string // the record concerned, e.g. a workspace or token ID
	Detail  string
}

// String renders a finding on one line: check, subject and detail.
func (f Finding) String() string { return f.Check + " " + f.Subject + ": " + f.Detail }

// Verify walks every record in one read transaction and reports each invariant of
// the design that does not hold: a workspace without exactly one owner or without an
// admin; a membership, invitation or token pointing at a missing workspace or user;
// a token whose UserSuspended mark disagrees with its user; a record its indexes do
// not find; a counter that differs from the records. When
// the backend can check its own structures (storage.Checker), its findings are
// included. An empty result means healthy. Verify changes nothing.
func (m *Manager) Verify(ctx context.Context) (_ []Finding, err error) {
	ctx, span := m.tel.start(ctx, "Verify", System())
	defer func() { span.end(err) }()
	var out []Finding
	add := func(check, subject, format string, args ...any) {
		if len(out) < 10000 {
			out = append(out, Finding{Check: check, Subject: subject, Detail: fmt.Sprintf(format, args...)})
		}
	}
	// The walk reads the whole store (a minute or more at a million workspaces, and
	// a server runs it beside serving): it stops soon after ctx ends, so a shutdown
	// does not wait for it.
	var seen int
	going := func() bool {
		seen++
		return seen%1024 != 0 || ctx.Err() == nil
	}
	err = m.store.View(ctx, func(tx storage.Reader) error {
		out = out[:0]
		users := map[string]bool{}
		suspended := map[string]bool{} // only the suspended: usually none
		if err := tx.ScanUsers("", func(u member.User) bool {
			users[u.ID] = true
			if u.Suspended() {
				suspended[u.ID] = true
			}
			if got, err := tx.GetUserByEmail(u.Email); err != nil || got.ID != u.ID {
				add("index", u.ID, "its email %q does not find it", u.Email)
			}
			return going()
		}); err != nil {
			return err
		}
		counts := map[workspace.Status]int64{}
		workspaces := map[string]workspace.Workspace{}
		if err := tx.ScanWorkspaces("", func(w workspace.Workspace) bool {
			workspaces[w.ID] = w
			counts[w.Status]++
			if !w.Status.Valid() {
				add("status", w.ID, "unknown status %q", w.Status)
			}
			if got, err := tx.GetWorkspaceBySlug(w.Slug); err != nil || got.ID != w.ID {
				add("index", w.ID, "its slug %q does not find it", w.Slug)
			}
			if w.ExternalID != "" {
				if got, err := tx.GetWorkspaceByExternalID(w.ExternalID); err != nil || got.ID != w.ID {
					add("index", w.ID, "its external ID %q does not find it", w.ExternalID)
				}
			}
			return going()
		}); err != nil {
			return err
		}
		for _, st := range []workspace.Status{workspace.Active, workspace.Inactive, workspace.Deleted} {
			n, err := tx.Counter(counterFor(st))
			if err != nil {
				return err
			}
			if n != counts[st] {
				add("counter", counterFor(st), "counter says %d, records say %d", n, counts[st])
			}
		}
		if err := verifyFlags(tx, m.flagOrder, workspaces, add); err != nil {
			return err
		}
		// The retention index lists exactly the deleted workspaces.
		deletedSeen := 0
		if err := tx.ScanDeletedWorkspaces(time.Unix(1<<40, 0), func(w workspace.Workspace) bool {
			deletedSeen++
			if w.Status != workspace.Deleted {
				add("index", w.ID, "the deleted-workspace index lists a workspace that is %s", w.Status)
			}
			return going()
		}); err != nil {
			return err
		}
		if int64(deletedSeen) != counts[workspace.Deleted] {
			add("index", "deleted", "the deleted-workspace index lists %d workspaces, the records %d", deletedSeen, counts[workspace.Deleted])
		}
		scan := fullScanner(tx, workspaces, users)
		top := m.ownerRole()
		owners := map[string][]string{}
		admins := map[string]int{}
		perUser := map[string]int{}
		if err := scan.ScanAllMembers(func(mb member.Member) bool {
			subject := mb.WorkspaceID + "/" + mb.UserID
			if _, ok := workspaces[mb.WorkspaceID]; !ok {
				add("orphan", subject, "membership of a missing workspace")
			}
			if !users[mb.UserID] {
				add("orphan", subject, "membership of a missing user")
			}
			if !m.policy.IsMemberRole(mb.Role) {
				add("role", subject, "membership role %q is not a role of the policy", mb.Role)
			}
			if mb.Owner {
				owners[mb.WorkspaceID] = append(owners[mb.WorkspaceID], mb.UserID)
				if mb.Role != top {
					add("owner", subject, "the owner is %s, not %s", mb.Role, top)
				}
			}
			if mb.Role == top {
				admins[mb.WorkspaceID]++
			}
			perUser[mb.UserID]++
			return going()
		}); err != nil {
			return err
		}
		// The user -> workspace index: every entry resolves to a membership of that
		// user (the scan fails otherwise), and keys are unique, so equal counts per user
		// mean the index and the records match one to one.
		for u := range users {
			n := 0
			err := tx.ScanUserMemberships(u, "", func(um member.Member) bool {
				if um.UserID != u {
					add("index", u, "its membership index lists %s/%s", um.WorkspaceID, um.UserID)
				}
				n++
				return going()
			})
			if err != nil {
				add("index", u, "its membership index is unreadable: %v", err)
			} else if n != perUser[u] {
				add("index", u, "its membership index lists %d memberships, the records %d", n, perUser[u])
			}
		}
		for id, w := range workspaces {
			switch o := owners[id]; {
			case len(o) != 1:
				add("owner", id, "%d owners, want exactly 1", len(o))
			case o[0] != w.OwnerID:
				add("owner", id, "the owner membership is %q but the workspace names %q", o[0], w.OwnerID)
			}
			if admins[id] == 0 {
				add("admin", id, "no member of the highest role (%s)", top)
			}
		}
		if err := scan.ScanAllInvitations("", func(inv member.Invitation) bool {
			if _, ok := workspaces[inv.WorkspaceID]; !ok {
				add("orphan", inv.ID, "invitation to a missing workspace %q", inv.WorkspaceID)
			}
			if inv.InviterID != "" && !users[inv.InviterID] {
				add("orphan", inv.ID, "invitation from a missing user %q", inv.InviterID)
			}
			if got, err := tx.GetInvitationByHash(inv.SecretHash); err != nil || got.ID != inv.ID {
				add("index", inv.ID, "its hash does not find it")
			}
			return going()
		}); err != nil {
			return err
		}
		if err := scan.ScanTokens("", func(t token.Token) bool {
			if !users[t.UserID] {
				add("orphan", t.ID, "token of a missing user %q", t.UserID)
			} else if t.UserSuspended != suspended[t.UserID] {
				add("suspension", t.ID, "marked UserSuspended=%v, but user %q is suspended=%v", t.UserSuspended, t.UserID, suspended[t.UserID])
			}
			if t.WorkspaceID != "" {
				if _, ok := workspaces[t.WorkspaceID]; !ok {
					add("orphan", t.ID, "token of a missing workspace %q", t.WorkspaceID)
				}
			}
			if got, err := tx.GetTokenByHash(t.Hash); err != nil || got.ID != t.ID || !got.RevokedAt.Equal(t.RevokedAt) {
				add("index", t.ID, "its hash does not find it as it is")
			}
			return going()
		}); err != nil {
			return err
		}
		for id := range workspaces {
			if err := tx.ScanWorkspaceEvents(id, "", func(e storage.Event) bool {
				if e.WorkspaceID != id {
					add("index", e.ID, "listed in the audit log of %q but belongs to %q", id, e.WorkspaceID)
				}
				return going()
			}); err != nil {
				add("index", id, "audit log unreadable: %v", err)
			}
		}
		// Webhooks: a workspace's endpoint needs its workspace, and the workspace
		// index must list it; each endpoint's deliverer checkpoint needs its endpoint.
		if err := tx.ScanWebhooks("", func(e webhook.Endpoint) bool {
			if e.WorkspaceID != "" {
				if _, ok := workspaces[e.WorkspaceID]; !ok {
					add("orphan", e.ID, "webhook of a missing workspace %q", e.WorkspaceID)
				}
			}
			listed := false
			if err := tx.ScanWorkspaceWebhooks(e.WorkspaceID, "", func(x webhook.Endpoint) bool {
				listed = listed || x.ID == e.ID
				return !listed
			}); err != nil || !listed {
				add("index", e.ID, "its workspace's webhooks do not list it")
			}
			if len(e.Secrets) == 0 {
				add("webhook", e.ID, "no signing secret")
			}
			return going()
		}); err != nil {
			return err
		}
		if err := tx.ScanConsumers("", func(c storage.Consumer) bool {
			if id, ok := strings.CutPrefix(c.Name, webhookConsumerNS); ok {
				if _, err := tx.GetWebhook(id); err != nil {
					add("orphan", c.Name, "deliverer of a missing webhook %q", id)
				}
			}
			return going()
		}); err != nil {
			return err
		}
		return nil
	})
	if err == nil {
		err = ctx.Err() // a walk going() stopped
	}
	if err != nil {
		if !errors.Is(err, storage.ErrCorrupt) {
			return nil, storageErr("verify", err)
		}
		// A damaged record stops the walk; the backend check below says which.
		out = append(out, Finding{Check: "backend", Detail: err.Error()})
	}
	if c, ok := m.store.(storage.Checker); ok {
		lines, err := c.Check(ctx)
		if err != nil {
			return nil, storageErr("verify", err)
		}
		for _, l := range lines {
			out = append(out, Finding{Check: "backend", Detail: l})
		}
	}
	return out, nil
}

// fullScanner returns tx's whole-table scans when the backend offers them
// (storage.FullScanner), and otherwise scans that reach every record through the
// indexes: members and invitations through their workspaces, tokens through their
// users. The fallback cannot see records whose parent is missing, which the
// orphan checks then cannot report.
func fullScanner(tx storage.Reader, workspaces map[string]workspace.Workspace, users map[string]bool) storage.FullScanner {
	if fs, ok := tx.(storage.FullScanner); ok {
		return fs
	}
	return indexScanner{tx: tx, workspaces: slices.Sorted(maps.Keys(workspaces)), users: slices.Sorted(maps.Keys(users))}
}

// scannerOf is fullScanner for callers that have not read every workspace and user
// already (role renames, erasure): the fallback lists their IDs first.
func scannerOf(tx storage.Reader) (storage.FullScanner, error) {
	if fs, ok := tx.(storage.FullScanner); ok {
		return fs, nil
	}
	s := indexScanner{tx: tx}
	if err := tx.ScanWorkspaces("", func(w workspace.Workspace) bool { s.workspaces = append(s.workspaces, w.ID); return true }); err != nil {
		return nil, err
	}
	if err := tx.ScanUsers("", func(u member.User) bool { s.users = append(s.users, u.ID); return true }); err != nil {
		return nil, err
	}
	return s, nil
}

type indexScanner struct {
	tx         storage.Reader
	workspaces []string
	users      []string
}

func (s indexScanner) ScanAllMembers(fn func(member.Member) bool) error {
	for _, id := range s.workspaces {
		more := true
		if err := s.tx.ScanMembers(id, "", func(m member.Member) bool { more = fn(m); return more }); err != nil || !more {
			return err
		}
	}
	return nil
}

func (s indexScanner) ScanAllInvitations(_ string, fn func(member.Invitation) bool) error {
	for _, id := range s.workspaces {
		more := true
		if err := s.tx.ScanInvitations(id, "", func(i member.Invitation) bool { more = fn(i); return more }); err != nil || !more {
			return err
		}
	}
	return nil
}

func (s indexScanner) ScanTokens(_ string, fn func(token.Token) bool) error {
	for _, id := range s.users {
		more := true
		if err := s.tx.ScanUserTokens(id, "", func(t token.Token) bool { more = fn(t); return more }); err != nil || !more {
			return err
		}
	}
	return nil
}
