// Package rbac holds tenancy's roles, actions and permission policy.
//
// The policy is a small casbin model and policy, embedded in this package: the role
// hierarchy is a set of casbin g rules and the permissions are p rules. Member roles
// are never policy rows — they live in storage — so the policy does not grow with the
// number of workspaces or members, and no user-controlled string ever reaches casbin.
//
// casbin's Enforce costs a few microseconds and dozens of allocations, so a Policy
// evaluates every (subject, action) pair of the policy once, when it loads, into a
// table; Allowed answers from that table in a few nanoseconds and consults casbin only
// for actions the table does not know (a host model with pattern matchers, say).
package rbac

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"
)

// Role is a member's role in a workspace, or the platform attribute of a user.
// Roles are ordered: Viewer < Editor < Admin < Platform.
type Role string

// The roles, lowest first.
const (
	Viewer   Role = "viewer"
	Editor   Role = "editor"
	Admin    Role = "admin"
	Platform Role = "platform" // a user attribute for cross-workspace operations, never a membership role
)

// Rank orders roles: 1 for Viewer up to 4 for Platform, and 0 for anything that is
// not a role.
func (r Role) Rank() int {
	switch r {
	case Viewer:
		return 1
	case Editor:
		return 2
	case Admin:
		return 3
	case Platform:
		return 4
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.Rank() > 0 }

// IsMemberRole reports whether r may be held as a workspace membership: Viewer,
// Editor or Admin. Platform is a user attribute, never a membership role.
func (r Role) IsMemberRole() bool { return r == Viewer || r == Editor || r == Admin }

// String returns the role's name.
func (r Role) String() string { return string(r) }

// ErrUnknownRole is returned by ParseRole for a name that is not a role.
var ErrUnknownRole = errors.New("unknown role")

// ParseRole reads a role name, ignoring case and surrounding white space.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("%w %q: must be viewer, editor, admin or platform", ErrUnknownRole, s)
	}
	return r, nil
}

// Min returns the lower of two roles.
func Min(a, b Role) Role {
	if a.Rank() <= b.Rank() {
		return a
	}
	return b
}

// CanGrant reports whether a holder of role granter may give role target to someone,
// by invitation, role change, added member or token: nobody grants a role above their
// own, so only Platform grants Platform. Invalid roles are never grantable.
func CanGrant(granter, target Role) bool {
	return granter.Valid() && target.Valid() && target.Rank() <= granter.Rank()
}

// Action is something a principal does in a workspace, such as "workspace:update".
// Hosts add their own actions (for their own resources) through their policy.
type Action string

// The built-in actions of the default policy.
const (
	ReadWorkspace    Action = "workspace:read"   // read the workspace record
	ListMembers      Action = "member:list"      // list members and their roles
	ReadContent      Action = "content:read"     // read host resources in the workspace
	WriteContent     Action = "content:write"    // write host resources in the workspace
	CreateToken      Action = "token:create"     // create one's own tokens
	UpdateWorkspace  Action = "workspace:update" // name, description, metadata
	ChangeStatus     Action = "workspace:status" // deactivate and reactivate
	InviteMembers    Action = "member:invite"    // invite, resend and revoke invitations
	ManageMembers    Action = "member:manage"    // add, change role, remove members
	ManageTokens     Action = "token:manage"     // see and revoke every token of the workspace
	ReadAudit        Action = "audit:read"       // read the workspace's event log
	DeleteWorkspace  Action = "workspace:delete" // soft delete and restore (owner)
	ListAll          Action = "platform:list"    // list every workspace
	ReadStats        Action = "platform:stats"   // workspace statistics
	SyncWorkspaces   Action = "platform:sync"    // import workspaces created elsewhere
	PurgeWorkspaces  Action = "platform:purge"   // purge deleted workspaces for good
	ManageUsers      Action = "platform:users"   // register users, grant platform
	subjectOwnerName        = "owner"
)

//go:embed model.conf
var defaultModel string

//go:embed policy.csv
var defaultPolicy string

// DefaultModel returns the text of the embedded casbin model.
func DefaultModel() string { return defaultModel }

// DefaultPolicy returns the text of the embedded casbin policy (CSV lines).
func DefaultPolicy() string { return defaultPolicy }

// Subjects of the policy, as bits of a table entry. Owner is the admin membership
// that carries the owner flag.
const (
	bitViewer uint8 = 1 << iota
	bitEditor
	bitAdmin
	bitOwner
	bitPlatform
)

var subjects = []struct {
	name string
	bit  uint8
}{
	{string(Viewer), bitViewer},
	{string(Editor), bitEditor},
	{string(Admin), bitAdmin},
	{subjectOwnerName, bitOwner},
	{string(Platform), bitPlatform},
}

// Options configures Load. The zero value loads the embedded model and policy.
type Options struct {
	// Model is a casbin model text; empty means DefaultModel. A custom model must
	// take requests of the form (subject, action).
	Model string
	// Policy replaces the default policy (CSV lines); empty means DefaultPolicy.
	Policy string
	// Extra is appended to the policy: the usual way for a host to grant its own
	// actions, e.g. "p, editor, dashboard:edit".
	Extra string
}

// Policy answers which role may perform which action. It is safe for concurrent use.
type Policy struct {
	table    map[Action]uint8
	enforcer *casbin.SyncedEnforcer
	actions  []Action
}

// Load builds a Policy from the embedded model and policy, or from opts.
// It returns an error when the model or the policy does not parse.
func Load(opts Options) (*Policy, error) {
	mtext, ptext := opts.Model, opts.Policy
	if mtext == "" {
		mtext = defaultModel
	}
	if ptext == "" {
		ptext = defaultPolicy
	}
	if opts.Extra != "" {
		ptext = strings.TrimRight(ptext, "\n") + "\n" + opts.Extra
	}
	m, err := model.NewModelFromString(mtext)
	if err != nil {
		return nil, fmt.Errorf("rbac: parse model: %w", err)
	}
	e, err := casbin.NewSyncedEnforcer(m, stringadapter.NewAdapter(stripComments(ptext)))
	if err != nil {
		return nil, fmt.Errorf("rbac: load policy: %w", err)
	}
	acts, err := e.GetAllActions()
	if err != nil {
		return nil, fmt.Errorf("rbac: read actions: %w", err)
	}
	p := &Policy{table: make(map[Action]uint8, len(acts)), enforcer: e}
	for _, a := range acts {
		var bits uint8
		for _, s := range subjects {
			ok, err := e.Enforce(s.name, a)
			if err != nil {
				return nil, fmt.Errorf("rbac: evaluate %s %s: %w", s.name, a, err)
			}
			if ok {
				bits |= s.bit
			}
		}
		p.table[Action(a)] = bits
		p.actions = append(p.actions, Action(a))
	}
	slices.Sort(p.actions)
	return p, nil
}

// MustLoadDefault returns the default policy. The embedded files are tested, so it
// cannot fail at run time; it panics only if they are broken at build time.
func MustLoadDefault() *Policy {
	p, err := Load(Options{})
	if err != nil {
		panic(err)
	}
	return p
}

// stripComments drops blank and '#' lines, which casbin's string adapter rejects.
func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		b.WriteString(t)
		b.WriteByte('\n')
	}
	return b.String()
}

// Actions lists every action the policy names, sorted.
func (p *Policy) Actions() []Action { return slices.Clone(p.actions) }

// Known reports whether the policy names action a.
func (p *Policy) Known(a Action) bool {
	_, ok := p.table[a]
	return ok
}

// Allowed reports whether a member with role r (owner marks the workspace's owner)
// may perform action a. Platform is allowed whatever a member may do and more.
// Invalid roles are never allowed anything.
func (p *Policy) Allowed(r Role, owner bool, a Action) bool {
	var bit uint8
	switch r {
	case Viewer:
		bit = bitViewer
	case Editor:
		bit = bitEditor
	case Admin:
		bit = bitAdmin
		if owner {
			bit = bitOwner
		}
	case Platform:
		bit = bitPlatform
	default:
		return false
	}
	if bits, ok := p.table[a]; ok {
		return bits&bit != 0
	}
	// Outside the table: only a custom model with pattern matchers can allow it.
	sub := string(r)
	if bit == bitOwner {
		sub = subjectOwnerName
	}
	ok, err := p.enforcer.Enforce(sub, string(a))
	return err == nil && ok
}
