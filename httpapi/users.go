package httpapi

import (
	"net/http"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
)

type userJSON struct {
	UserID      string     `json:"user_id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Platform    bool       `json:"platform"`
	CreatedAt   time.Time  `json:"created_at"`
	SuspendedAt *time.Time `json:"suspended_at"` // null while active
}

func usrJSON(u member.User) userJSON {
	j := userJSON{u.ID, u.Email, u.Name, u.Platform, u.CreatedAt.UTC(), nil}
	if u.Suspended() {
		t := u.SuspendedAt.UTC()
		j.SuspendedAt = &t
	}
	return j
}

func (a *API) me(r *http.Request, p tenancy.Principal) (int, any, error) {
	u, err := a.m.GetUser(r.Context(), p, p.UserID())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, usrJSON(u), nil
}

func (a *API) listUsers(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListUsers(r.Context(), p, tenancy.MemberListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, usrJSON), nil
}

func (a *API) registerUser(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		UserID string `json:"user_id"`
		Email  string `json:"email"`
		Name   string `json:"name"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.UserID == "" {
		body.UserID = a.opts.NewUserID()
	}
	u, err := a.m.RegisterUser(r.Context(), p, tenancy.NewUser{ID: body.UserID, Email: body.Email, Name: body.Name})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, usrJSON(u), nil
}

func (a *API) getUser(r *http.Request, p tenancy.Principal) (int, any, error) {
	u, err := a.m.GetUser(r.Context(), p, r.PathValue("user_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, usrJSON(u), nil
}

func (a *API) setPlatform(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Platform *bool `json:"platform"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.Platform == nil {
		return 0, nil, badRequest("platform is required: true or false")
	}
	u, err := a.m.SetPlatform(r.Context(), p, r.PathValue("user_id"), *body.Platform)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, usrJSON(u), nil
}

type userUpdateJSON struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
}

func (a *API) updateMe(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.update(r, p, p.UserID())
}

func (a *API) updateUser(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.update(r, p, r.PathValue("user_id"))
}

func (a *API) update(r *http.Request, p tenancy.Principal, userID string) (int, any, error) {
	var body userUpdateJSON
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	u, err := a.m.UpdateUser(r.Context(), p, userID, tenancy.UserUpdate{Name: body.Name, Email: body.Email})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, usrJSON(u), nil
}

type erasureJSON struct {
	UserID             string `json:"user_id"`
	Memberships        int    `json:"memberships"`
	Tokens             int    `json:"tokens"`
	InvitationsRevoked int    `json:"invitations_revoked"`
	InvitationsDeleted int    `json:"invitations_deleted"`
}

func (a *API) deleteMe(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.erase(r, p, p.UserID())
}

func (a *API) deleteUser(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.erase(r, p, r.PathValue("user_id"))
}

func (a *API) erase(r *http.Request, p tenancy.Principal, userID string) (int, any, error) {
	e, err := a.m.DeleteUser(r.Context(), p, userID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, erasureJSON{e.UserID, e.Memberships, e.Tokens, e.InvitationsRevoked, e.InvitationsDeleted}, nil
}

func (a *API) suspendUser(r *http.Request, p tenancy.Principal) (int, any, error) {
	u, err := a.m.SuspendUser(r.Context(), p, r.PathValue("user_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, usrJSON(u), nil
}

func (a *API) reactivateUser(r *http.Request, p tenancy.Principal) (int, any, error) {
	u, err := a.m.ReactivateUser(r.Context(), p, r.PathValue("user_id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, usrJSON(u), nil
}

type rolesJSON struct {
	Roles   []rbac.Role `json:"roles"`
	Highest rbac.Role   `json:"highest"`
}

// roles lists the policy's member roles, lowest first, for any authenticated caller:
// what a client offers in a role picker.
type starterKitJSON struct {
	ID          string `json:"id"`
	Description string `json:"description"`
}

// starterKits lists the kits a new workspace may start from, in the Manager's
// order, which a CLI numbers them by.
func (a *API) starterKits(*http.Request, tenancy.Principal) (int, any, error) {
	kits := []starterKitJSON{}
	for _, k := range a.m.StarterKits() {
		kits = append(kits, starterKitJSON{k, a.opts.StarterKitDescriptions[k]})
	}
	return http.StatusOK, map[string]any{"data": kits}, nil
}

func (a *API) roles(*http.Request, tenancy.Principal) (int, any, error) {
	pol := a.m.Policy()
	return http.StatusOK, rolesJSON{pol.Roles(), pol.Top()}, nil
}

type renameJSON struct {
	From        rbac.Role `json:"from"`
	To          rbac.Role `json:"to"`
	Members     int       `json:"members"`
	Invitations int       `json:"invitations"`
	Tokens      int       `json:"tokens"`
}

func (a *API) renameRole(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		To string `json:"to"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	to, err := role(body.To)
	if err != nil {
		return 0, nil, err
	}
	from, err := role(r.PathValue("role"))
	if err != nil {
		return 0, nil, err
	}
	got, err := a.m.RenameRole(r.Context(), p, from, to)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, renameJSON{got.From, got.To, got.Members, got.Invitations, got.Tokens}, nil
}
