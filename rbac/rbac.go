// Package rbac holds tenancy's roles, actions and permission policy.
//
// The policy is a small casbin model and policy, embedded in this package or brought
// by the host: its g rules declare the member roles and their order ("g, editor,
// viewer": editor is above viewer and inherits its permissions), and its p rules
// grant actions to roles. The default roles are viewer < editor < admin; a host may
// declare its own (Tinybird's viewer < guest < admin, System Initiative's
// collaborator < approver). Load checks the roles when it loads, so a bad role set
// fails at start-up rather than when a member is first given a role.
//
// Who holds which role is never a policy row: memberships live in storage, so the
// policy does not grow with the number of workspaces or members, and no
// user-controlled string ever reaches casbin.
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
	"strconv"
	"strings"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"

	"github.com/tenancykit/tenancy/internal/text"
)

// Role is a member's role in a workspace, or the platform attribute of a user.
// A host's policy declares its member roles and their order (see Load); the default
// policy's are Viewer < Editor < Admin. Platform is above every member role and is
// never held as a membership.
type Role string

// The default policy's member roles, lowest first, and the platform attribute.
const (
	Viewer   Role = "viewer"
	Editor   Role = "editor"
	Admin    Role = "admin"
	Platform Role = "platform" // a user attribute for cross-workspace operations, never a membership role
)

// Owner is the policy subject of a workspace's owner: the one member of the highest
// role who carries the owner flag. It is never a role anyone holds.
const Owner = "owner"

// String returns the role's name.
func (r Role) String() string { return string(r) }

// ErrUnknownRole is returned by Policy.ParseRole for a name the policy does not
// declare.
var ErrUnknownRole = errors.New("unknown role")

// ErrInvalidPolicy is wrapped by Load's errors about the policy's roles.
var ErrInvalidPolicy = errors.New("rbac: invalid policy")

// Action is something a principal does in a workspace, such as "workspace:update".
// Hosts add their own actions (for their own resources) through their policy.
type Action string

// The built-in actions of the default policy.
const (
	ReadWorkspace   Action = "workspace:read"   // read the workspace record
	ListMembers     Action = "member:list"      // list members and their roles
	ReadContent     Action = "content:read"     // read host resources in the workspace
	WriteContent    Action = "content:write"    // write host resources in the workspace
	CreateToken     Action = "token:create"     // create one's own tokens
	UpdateWorkspace Action = "workspace:update" // name, description, metadata
	ChangeStatus    Action = "workspace:status" // deactivate and reactivate
	InviteMembers   Action = "member:invite"    // invite, resend and revoke invitations
	ManageMembers   Action = "member:manage"    // add, change role, remove members
	ManageTokens    Action = "token:manage"     // see and revoke every token of the workspace
	ReadAudit       Action = "audit:read"       // read the workspace's event log
	ManageWebhooks  Action = "webhook:manage"   // register, change and delete the workspace's webhooks, read their attempts
	DeleteWorkspace Action = "workspace:delete" // soft delete and restore (owner)
	ListAll         Action = "platform:list"    // list every workspace
	ReadStats       Action = "platform:stats"   // workspace statistics
	SyncWorkspaces  Action = "platform:sync"    // import workspaces created elsewhere
	PurgeWorkspaces Action = "platform:purge"   // purge deleted workspaces for good
	ManageUsers     Action = "platform:users"   // register, change, suspend and erase users, grant platform
	ManageRoles     Action = "platform:roles"   // rename a role for every member
	Backup          Action = "platform:backup"  // copy the whole store (every tenant's data)
)

//go:embed model.conf
var defaultModel string

//go:embed policy.csv
var defaultPolicy string

// DefaultModel returns the text of the embedded casbin model.
func DefaultModel() string { return defaultModel }

// DefaultPolicy returns the text of the embedded casbin policy (CSV lines).
func DefaultPolicy() string { return defaultPolicy }

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
	roles    []Role            // member roles, lowest first
	rank     map[Role]int      // 1..len(roles) for member roles, len(roles)+1 for Platform
	table    map[Action]uint64 // bit i: roles[i]; then owner, then platform
	enforcer *casbin.SyncedEnforcer
	actions  []Action
}

// maxRoles bounds a policy's member roles: each is a bit of a table entry, beside
// the owner's and platform's.
const maxRoles = 62

// Load builds a Policy from the embedded model and policy, or from opts.
//
// The policy declares the member roles through its g rules: "g, editor, viewer"
// makes editor a role above viewer that inherits every permission of viewer. The
// member roles must form one order (each above at most one other, no cycles, all
// connected), so that the grant ceiling can compare any two. Two subjects are
// tenancy's own and are implied when the policy leaves them out:
//
//	g, owner, <highest role>   the workspace owner: a member of the highest role
//	g, platform, owner         the cross-workspace user attribute, above everything
//
// and so are the grants of the built-in owner and platform actions
// (workspace:delete, platform:*). Some member role must be allowed member:manage,
// or nobody but platform users could ever manage a workspace's members. Role names
// are 1-32 lowercase letters, digits, '-' or '_', starting with a letter.
//
// Load returns an error when the model or the policy does not parse, and one
// wrapping ErrInvalidPolicy when the roles break these rules.
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
	lines := policyLines(ptext)
	roles, implied, err := orderRoles(lines)
	if err != nil {
		return nil, err
	}
	m, err := model.NewModelFromString(mtext)
	if err != nil {
		return nil, fmt.Errorf("rbac: parse model: %w", err)
	}
	text := joinLines(lines) + joinLines(implied)
	e, err := casbin.NewSyncedEnforcer(m, stringadapter.NewAdapter(text))
	if err != nil {
		return nil, fmt.Errorf("rbac: load policy: %w", err)
	}
	acts, err := e.GetAllActions()
	if err != nil {
		return nil, fmt.Errorf("rbac: read actions: %w", err)
	}
	p := &Policy{roles: roles, rank: make(map[Role]int, len(roles)+1), table: make(map[Action]uint64, len(acts)), enforcer: e}
	for i, r := range roles {
		p.rank[r] = i + 1
	}
	p.rank[Platform] = len(roles) + 1
	subjects := append(slices.Clone(roles), Owner, Platform)
	for _, a := range acts {
		var bits uint64
		for i, s := range subjects {
			ok, err := e.Enforce(string(s), a)
			if err != nil {
				return nil, fmt.Errorf("rbac: evaluate %s %s: %w", s, a, err)
			}
			if ok {
				bits |= 1 << i
			}
		}
		p.table[Action(a)] = bits
		p.actions = append(p.actions, Action(a))
	}
	slices.Sort(p.actions)
	if !slices.ContainsFunc(roles, func(r Role) bool { return p.Allowed(r, false, ManageMembers) }) {
		return nil, fmt.Errorf("%w: no member role may %s, so nobody could manage a workspace's members: grant it to the highest role (p, %s, %s)",
			ErrInvalidPolicy, ManageMembers, p.Top(), ManageMembers)
	}
	return p, nil
}

// policyLine is one policy line split into trimmed fields.
type policyLine []string

func policyLines(text string) []policyLine {
	var out []policyLine
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue // casbin's string adapter rejects blank and comment lines
		}
		f := strings.Split(t, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		out = append(out, f)
	}
	return out
}

func joinLines(lines []policyLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.Join(l, ", "))
		b.WriteByte('\n')
	}
	return b.String()
}

// builtinGrants are tenancy's own grants to the owner and platform subjects.
var builtinGrants = []policyLine{
	{"p", Owner, string(DeleteWorkspace)},
	{"p", string(Platform), string(ListAll)},
	{"p", string(Platform), string(ReadStats)},
	{"p", string(Platform), string(SyncWorkspaces)},
	{"p", string(Platform), string(PurgeWorkspaces)},
	{"p", string(Platform), string(ManageUsers)},
	{"p", string(Platform), string(ManageRoles)},
	{"p", string(Platform), string(Backup)},
}

// validRoleName reports whether s may name a role.
func validRoleName(s string) bool {
	if len(s) < 1 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// orderRoles reads the member roles, lowest first, from the policy's g rules and
// checks the rules Load documents. It returns the lines the policy leaves implied.
func orderRoles(lines []policyLine) ([]Role, []policyLine, error) {
	bad := func(format string, args ...any) ([]Role, []policyLine, error) {
		return nil, nil, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPolicy}, args...)...)
	}
	below := map[string]string{} // role -> the role it inherits directly
	above := map[string]string{} // role -> the role that inherits it directly
	var named []string           // every member role, in order of appearance
	seen := map[string]bool{}
	note := func(r string) {
		if !seen[r] {
			seen[r] = true
			named = append(named, r)
		}
	}
	ownerOf, platformOf := "", ""
	have := map[string]bool{}
	for _, l := range lines {
		have[strings.Join(l, ", ")] = true
		switch l[0] {
		case "g":
			if len(l) != 3 {
				return bad("%q: a g rule names two roles (g, higher, lower)", strings.Join(l, ", "))
			}
			hi, lo := l[1], l[2]
			for _, r := range []string{hi, lo} {
				if !validRoleName(r) {
					return bad("role %q: names are 1-32 lowercase letters, digits, '-' or '_', starting with a letter", text.Clip(r))
				}
			}
			switch {
			case lo == string(Platform) || hi == string(Platform) && lo != Owner:
				return bad("%q: platform is the cross-workspace user attribute, never a member role; the only rule naming it is g, platform, owner", strings.Join(l, ", "))
			case hi == string(Platform):
				platformOf = lo
			case lo == Owner:
				return bad("%q: owner is the owner flag on a member of the highest role; only platform inherits it", strings.Join(l, ", "))
			case hi == Owner:
				if ownerOf != "" && ownerOf != lo {
					return bad("owner inherits both %q and %q: it inherits the highest role only", ownerOf, lo)
				}
				ownerOf = lo
				note(lo)
			case hi == lo:
				return bad("role %q inherits itself", hi)
			default:
				if prev, ok := below[hi]; ok && prev != lo {
					return bad("role %q is above both %q and %q: member roles form one order, each above at most one other", hi, prev, lo)
				}
				if prev, ok := above[lo]; ok && prev != hi {
					return bad("roles %q and %q are both directly above %q: member roles form one order, each below at most one other", prev, hi, lo)
				}
				below[hi], above[lo] = lo, hi
				note(hi)
				note(lo)
			}
		case "p":
			if len(l) >= 2 && l[1] != Owner && l[1] != string(Platform) {
				if !validRoleName(l[1]) {
					return bad("role %q: names are 1-32 lowercase letters, digits, '-' or '_', starting with a letter", text.Clip(l[1]))
				}
				note(l[1])
			}
		}
	}
	if len(named) == 0 {
		return bad("the policy declares no member role: order them with g rules, e.g. g, editor, viewer")
	}
	// The lowest role is the one above nothing; walk up from it.
	var lowest []string
	for _, r := range named {
		if _, ok := below[r]; !ok {
			lowest = append(lowest, r)
		}
	}
	switch {
	case len(lowest) == 0:
		return bad("roles %s form a cycle", quoteAll(named))
	case len(lowest) > 1:
		return bad("roles %q and %q are not ordered: add a g rule between them (g, higher, lower)", lowest[0], lowest[1])
	}
	var roles []Role
	for r, ok := lowest[0], true; ok; r, ok = above[r] {
		if len(roles) > len(named) {
			return bad("roles %s form a cycle", quoteAll(named))
		}
		roles = append(roles, Role(r))
	}
	if len(roles) != len(named) {
		return bad("roles %s form a cycle apart from the order %s", quoteAll(named), quoteAll(roleStrings(roles)))
	}
	if len(roles) > maxRoles {
		return bad("%d member roles: at most %d", len(roles), maxRoles)
	}
	top := string(roles[len(roles)-1])
	if ownerOf != "" && ownerOf != top {
		return bad("g, owner, %s: the owner is a member of the highest role, %q (g, owner, %s)", ownerOf, top, top)
	}
	if platformOf != "" && platformOf != Owner {
		return bad("g, platform, %s: platform inherits the owner (g, platform, owner)", platformOf)
	}
	var implied []policyLine
	add := func(l policyLine) {
		if !have[strings.Join(l, ", ")] {
			implied = append(implied, l)
		}
	}
	if ownerOf == "" {
		add(policyLine{"g", Owner, top})
	}
	if platformOf == "" {
		add(policyLine{"g", string(Platform), Owner})
	}
	for _, l := range builtinGrants {
		add(l)
	}
	return roles, implied, nil
}

func roleStrings(rs []Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
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

// Actions lists every action the policy names, sorted.
func (p *Policy) Actions() []Action { return slices.Clone(p.actions) }

// Known reports whether the policy names action a.
func (p *Policy) Known(a Action) bool {
	_, ok := p.table[a]
	return ok
}

// Roles returns the member roles, lowest first.
func (p *Policy) Roles() []Role { return slices.Clone(p.roles) }

// Top returns the highest member role: the owner's, and what a workspace's creator
// becomes.
func (p *Policy) Top() Role { return p.roles[len(p.roles)-1] }

// Rank orders roles: 1 for the lowest member role up to len(Roles()) for the
// highest, one more for Platform, and 0 for anything the policy does not declare.
func (p *Policy) Rank(r Role) int { return p.rank[r] }

// IsMemberRole reports whether r may be held as a workspace membership: one of
// Roles(). Platform never is.
func (p *Policy) IsMemberRole(r Role) bool { return r != Platform && p.rank[r] > 0 }

// CanGrant reports whether a holder of role granter may give role target to
// someone, by invitation, role change, added member or token: nobody grants a role
// above their own, so only Platform grants Platform. Undeclared roles are never
// grantable and grant nothing.
func (p *Policy) CanGrant(granter, target Role) bool {
	g, t := p.rank[granter], p.rank[target]
	return g > 0 && t > 0 && t <= g
}

// Min returns the lower of two roles; an undeclared role is lower than any.
func (p *Policy) Min(a, b Role) Role {
	if p.rank[a] <= p.rank[b] {
		return a
	}
	return b
}

// ParseRole reads a role name, ignoring case and surrounding white space: one of
// the member roles, or Platform. Anything else wraps ErrUnknownRole.
func (p *Policy) ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if p.rank[r] == 0 {
		return "", fmt.Errorf("%w %q: must be %s", ErrUnknownRole, text.Clip(s), p.RoleList(true))
	}
	return r, nil
}

// RoleList names the member roles for a message, lowest first: "viewer, editor or
// admin"; with platform, "viewer, editor, admin or platform".
func (p *Policy) RoleList(platform bool) string {
	names := roleStrings(p.roles)
	if platform {
		names = append(names, string(Platform))
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Allowed reports whether a member with role r (owner marks the workspace's owner,
// which counts only on the highest role) may perform action a. Platform is allowed
// whatever a member may do and more. Undeclared roles are never allowed anything.
func (p *Policy) Allowed(r Role, owner bool, a Action) bool {
	n := p.rank[r]
	if n == 0 {
		return false
	}
	bit := uint64(1) << (n - 1) // member roles, then platform at len(roles)+1 ...
	sub := string(r)
	switch {
	case r == Platform:
		bit, sub = 1<<(len(p.roles)+1), string(Platform)
	case owner && n == len(p.roles):
		bit, sub = 1<<len(p.roles), Owner
	}
	if bits, ok := p.table[a]; ok {
		return bits&bit != 0
	}
	// Outside the table: only a custom model with pattern matchers can allow it.
	ok, err := p.enforcer.Enforce(sub, string(a))
	return err == nil && ok
}
