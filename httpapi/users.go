package httpapi

import (
	"net/http"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
)

// Users: each user reads themselves at /user; platform users manage everyone under
// /platform/users.
func (a *API) registerUserRoutes() {
	a.route("GET /user", a.me)
	a.route("GET /platform/users", a.listUsers)
	a.route("POST /platform/users", a.registerUser)
	a.route("GET /platform/users/{user_id}", a.getUser)
	a.route("PUT /platform/users/{user_id}", a.setPlatform)
}

type userJSON struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Platform  bool      `json:"platform"`
	CreatedAt time.Time `json:"created_at"`
}

func usrJSON(u member.User) userJSON {
	return userJSON{u.ID, u.Email, u.Name, u.Platform, u.CreatedAt.UTC()}
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
