package main

import (
	"errors"
	"sync"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
)

// casbinModel is RBAC with domains as casbin's documentation models tenants: a
// member is a g rule (user, role, workspace).
const casbinModel = `
[request_definition]
r = sub, dom, act
[policy_definition]
p = sub, dom, act
[role_definition]
g = _, _, _
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = g(r.sub, p.sub, r.dom) && (p.dom == "*" || r.dom == p.dom) && r.act == p.act
`

// openCasbin loads every membership into a casbin enforcer (in memory: casbin's
// adapters load the whole policy into memory too).
func openCasbin(d dataset) (*system, error) {
	mdl, err := model.NewModelFromString(casbinModel)
	if err != nil {
		return nil, err
	}
	e, err := casbin.NewSyncedEnforcer(mdl)
	if err != nil {
		return nil, err
	}
	e.EnableAutoBuildRoleLinks(false)
	for _, role := range []string{"editor", "admin"} {
		if _, err := e.AddPolicy(role, "*", "content:write"); err != nil {
			return nil, err
		}
	}
	rules := make([][]string, 0, d.n*d.k)
	for i := 0; i < d.n; i++ {
		for j := 0; j < d.k; j++ {
			rules = append(rules, []string{d.userID(d.memberOf(i, j)), d.role(j), d.wsID(i)})
		}
	}
	if _, err := e.AddGroupingPolicies(rules); err != nil {
		return nil, err
	}
	if err := e.BuildRoleLinks(); err != nil {
		return nil, err
	}
	e.EnableAutoBuildRoleLinks(true)
	var mu sync.Mutex // AddGroupingPolicy rebuilds links; one writer at a time
	return &system{
		name: "casbin-domains",
		check: func(q query) error {
			ok, err := e.Enforce(q.user, q.ws, "content:write")
			if err == nil && !ok {
				err = errors.New("casbin denied a member")
			}
			return err
		},
		create: func(i int) error {
			mu.Lock()
			defer mu.Unlock()
			_, err := e.AddGroupingPolicy(d.userID(i%d.users), "admin", d.wsID(i))
			return err
		},
		close: func() {},
	}, nil
}
