package rbac_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	stringadapter "github.com/casbin/casbin/v2/persist/string-adapter"

	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage/storagetest"
)

// The decision table must agree with casbin itself for every subject and action.
func TestTableAgreesWithCasbin(t *testing.T) {
	p := rbac.MustLoadDefault()
	m, err := model.NewModelFromString(rbac.DefaultModel())
	if err != nil {
		t.Fatal(err)
	}
	var policy string
	for _, line := range splitLines(rbac.DefaultPolicy()) {
		if line != "" && line[0] != '#' {
			policy += line + "\n"
		}
	}
	e, err := casbin.NewEnforcer(m, stringadapter.NewAdapter(policy))
	if err != nil {
		t.Fatal(err)
	}
	subjects := []struct {
		role  rbac.Role
		owner bool
		name  string
	}{{rbac.Viewer, false, "viewer"}, {rbac.Editor, false, "editor"}, {rbac.Admin, false, "admin"},
		{rbac.Admin, true, "owner"}, {rbac.Platform, false, "platform"}}
	if len(p.Actions()) < 17 {
		t.Fatalf("default policy names %d actions, want the 17 built-in ones", len(p.Actions()))
	}
	for _, s := range subjects {
		for _, a := range p.Actions() {
			want, err := e.Enforce(s.name, string(a))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Allowed(s.role, s.owner, a); got != want {
				t.Errorf("%s %s: table says %v, casbin %v", s.name, a, got, want)
			}
		}
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// The default policy, written out from the permission table in AUTHORIZATION.md.
func TestDefaultPermissions(t *testing.T) {
	p := rbac.MustLoadDefault()
	cases := []struct {
		role  rbac.Role
		owner bool
		act   rbac.Action
		want  bool
	}{
		{rbac.Viewer, false, rbac.ReadWorkspace, true},
		{rbac.Viewer, false, rbac.ReadContent, true},
		{rbac.Viewer, false, rbac.WriteContent, false},
		{rbac.Viewer, false, rbac.CreateToken, false},
		{rbac.Editor, false, rbac.WriteContent, true},
		{rbac.Editor, false, rbac.CreateToken, true},
		{rbac.Editor, false, rbac.UpdateWorkspace, false},
		{rbac.Editor, false, rbac.InviteMembers, false},
		{rbac.Admin, false, rbac.UpdateWorkspace, true},
		{rbac.Admin, false, rbac.ManageMembers, true},
		{rbac.Admin, false, rbac.ReadAudit, true},
		{rbac.Admin, false, rbac.DeleteWorkspace, false},
		{rbac.Admin, true, rbac.DeleteWorkspace, true},
		{rbac.Admin, true, rbac.ListAll, false},
		{rbac.Platform, false, rbac.ListAll, true},
		{rbac.Platform, false, rbac.PurgeWorkspaces, true},
		{rbac.Platform, false, rbac.DeleteWorkspace, true},
		{rbac.Platform, false, rbac.ReadContent, true},
		{"", false, rbac.ReadWorkspace, false},
		{"root", false, rbac.ReadWorkspace, false},
		{rbac.Viewer, true, rbac.DeleteWorkspace, false}, // the owner flag only counts on admins
		{rbac.Admin, false, "dashboard:edit", false},
	}
	for _, c := range cases {
		if got := p.Allowed(c.role, c.owner, c.act); got != c.want {
			t.Errorf("Allowed(%q, owner=%v, %s) = %v, want %v", c.role, c.owner, c.act, got, c.want)
		}
	}
}

func TestCanGrant(t *testing.T) {
	p := rbac.MustLoadDefault()
	roles := []rbac.Role{rbac.Viewer, rbac.Editor, rbac.Admin, rbac.Platform}
	for i, granter := range roles {
		for j, target := range roles {
			if got, want := p.CanGrant(granter, target), j <= i; got != want {
				t.Errorf("CanGrant(%s, %s) = %v, want %v", granter, target, got, want)
			}
		}
		if p.CanGrant(granter, "owner") || p.CanGrant("", granter) {
			t.Error("an invalid role was grantable")
		}
	}
	if p.IsMemberRole(rbac.Platform) || !p.IsMemberRole(rbac.Admin) || p.IsMemberRole("owner") {
		t.Error("platform and owner must never be membership roles")
	}
	if p.Min(rbac.Admin, rbac.Viewer) != rbac.Viewer || p.Min(rbac.Editor, rbac.Platform) != rbac.Editor || p.Min("ghost", rbac.Viewer) != "ghost" {
		t.Error("Min")
	}
	if got := p.Roles(); !slices.Equal(got, []rbac.Role{rbac.Viewer, rbac.Editor, rbac.Admin}) || p.Top() != rbac.Admin {
		t.Errorf("Roles() = %v, Top() = %v", got, p.Top())
	}
}

func TestParseRole(t *testing.T) {
	p := rbac.MustLoadDefault()
	if r, err := p.ParseRole(" Admin "); err != nil || r != rbac.Admin {
		t.Errorf("ParseRole(Admin) = %q, %v", r, err)
	}
	for _, bad := range []string{"", "owner", "root", "admin,platform", "*", "guest"} {
		if _, err := p.ParseRole(bad); !errors.Is(err, rbac.ErrUnknownRole) {
			t.Errorf("ParseRole(%q) = %v, want ErrUnknownRole", bad, err)
		}
	}
	if _, err := p.ParseRole("guest"); err == nil || !strings.Contains(err.Error(), "viewer, editor, admin or platform") {
		t.Errorf("the refusal does not list the roles: %v", err)
	}
}

// A host's own roles: Tinybird's guest sits between viewer and admin.
func TestHostRoles(t *testing.T) {
	p, err := rbac.Load(rbac.Options{Policy: tinybird})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Roles(); !slices.Equal(got, []rbac.Role{"viewer", "guest", "admin"}) {
		t.Fatalf("Roles() = %v", got)
	}
	if !p.CanGrant("guest", "viewer") || p.CanGrant("guest", "admin") || !p.CanGrant(rbac.Platform, "admin") {
		t.Error("the grant ceiling does not follow the declared order")
	}
	if p.IsMemberRole(rbac.Editor) || p.Allowed(rbac.Editor, false, rbac.ReadWorkspace) {
		t.Error("a role of the default policy survived a host policy that does not declare it")
	}
	// Implied: owner above admin, platform above owner, and the built-in grants.
	if !p.Allowed("admin", true, rbac.DeleteWorkspace) || p.Allowed("admin", false, rbac.DeleteWorkspace) ||
		!p.Allowed(rbac.Platform, false, rbac.ListAll) || !p.Allowed(rbac.Platform, false, rbac.WriteContent) {
		t.Error("the implied owner and platform rules are missing")
	}
	if p.Allowed("guest", true, rbac.DeleteWorkspace) {
		t.Error("the owner flag counted on a role below the highest")
	}
}

// tinybird is the one copy of Tinybird's role set the tests share.
const tinybird = storagetest.TinybirdPolicy

// Load refuses a policy whose roles break the rules, naming what is wrong.
func TestInvalidRolePolicies(t *testing.T) {
	manage := "p, admin, member:manage\n"
	cases := []struct {
		name, policy, want string
	}{
		{"unordered", "g, admin, viewer\np, guest, content:write\n" + manage, `not ordered`},
		{"cycle", "g, a, b\ng, b, a\np, a, member:manage\n", `cycle`},
		{"cycle beside an order", "g, admin, viewer\ng, x, y\ng, y, x\n" + manage, `cycle`},
		{"two below one", "g, admin, viewer\ng, admin, editor\n" + manage, `above both`},
		{"two above one", "g, admin, viewer\ng, editor, viewer\n" + manage, `both directly above`},
		{"platform as member role", "g, platform, admin\n" + manage, `never a member role`},
		{"member above platform", "g, admin, platform\n" + manage, `never a member role`},
		{"owner below the top", "g, admin, viewer\ng, owner, viewer\n" + manage, `highest role`},
		{"owner inherited", "g, admin, owner\n" + manage, `only platform inherits it`},
		{"no manager", "g, admin, viewer\np, admin, workspace:read\n", `member:manage`},
		{"bad name", "g, Admin, viewer\n" + manage, `lowercase`},
		{"no roles", "p, platform, platform:list\n", `no member role`},
		{"self", "g, admin, admin\n" + manage, `inherits itself`},
	}
	for _, c := range cases {
		_, err := rbac.Load(rbac.Options{Policy: c.policy})
		if !errors.Is(err, rbac.ErrInvalidPolicy) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Load = %v, want ErrInvalidPolicy mentioning %q", c.name, err, c.want)
		}
	}
	// One member role is an order too.
	p, err := rbac.Load(rbac.Options{Policy: "p, member, content:read\np, member, member:manage\n"})
	if err != nil || p.Top() != "member" || !p.Allowed("member", true, rbac.DeleteWorkspace) {
		t.Errorf("a single role: %v", err)
	}
}

func TestCustomPolicy(t *testing.T) {
	p, err := rbac.Load(rbac.Options{Extra: "p, editor, dashboard:edit"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Allowed(rbac.Editor, false, "dashboard:edit") || !p.Allowed(rbac.Admin, false, "dashboard:edit") || p.Allowed(rbac.Viewer, false, "dashboard:edit") {
		t.Error("a host action does not follow the role hierarchy")
	}
	if !p.Known("dashboard:edit") || p.Known("dashboard:delete") {
		t.Error("Known")
	}
	// A host model with a pattern matcher: actions outside the table go to casbin.
	pm, err := rbac.Load(rbac.Options{
		Model:  "[request_definition]\nr = sub, act\n[policy_definition]\np = sub, act\n[role_definition]\ng = _, _\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = g(r.sub, p.sub) && keyMatch(r.act, p.act)\n",
		Policy: "g, editor, viewer\ng, admin, editor\ng, owner, admin\ng, platform, owner\np, editor, report:*\np, admin, member:manage\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !pm.Allowed(rbac.Admin, false, "report:export") || pm.Allowed(rbac.Viewer, false, "report:export") {
		t.Error("pattern actions outside the table")
	}
	if _, err := rbac.Load(rbac.Options{Model: "not a model"}); err == nil {
		t.Error("a broken model loaded")
	}
}

func BenchmarkAllowed(b *testing.B) {
	p := rbac.MustLoadDefault()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !p.Allowed(rbac.Editor, false, rbac.WriteContent) {
			b.Fatal("denied")
		}
	}
}
