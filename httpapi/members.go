package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
	"github.com/tenancykit/tenancy/rbac"
)

type memberJSON struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email,omitempty"` // in listings
	Name      string    `json:"name,omitempty"`
	Role      string    `json:"role"`
	Owner     bool      `json:"owner"`
	InvitedBy string    `json:"invited_by,omitempty"`
	JoinedAt  time.Time `json:"joined_at"`
}

func mbJSON(m member.Member) memberJSON {
	return memberJSON{UserID: m.UserID, Role: string(m.Role), Owner: m.Owner, InvitedBy: m.InvitedBy, JoinedAt: m.JoinedAt.UTC()}
}

func mbInfoJSON(m tenancy.MemberInfo) memberJSON {
	j := mbJSON(m.Member)
	j.Email, j.Name = m.Email, m.Name
	return j
}

// siMemberJSON is a listed member with System Initiative's userId beside ours.
type siMemberJSON struct {
	memberJSON
	UserIDCamel string `json:"userId"`
}

func (a *API) listWorkspaceMembers(r *http.Request, p tenancy.Principal) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListMembers(r.Context(), p, r.PathValue("id"), tenancy.MemberListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, func(m tenancy.MemberInfo) siMemberJSON { return siMemberJSON{mbInfoJSON(m), m.UserID} }), nil
}

// memberRef reads who a body names: user_id, System Initiative's userId, or email.
func memberRef(userID, userIDCamel, email string) (string, error) {
	id, err := onePtr("user_id", nonEmpty(userID), "userId", nonEmpty(userIDCamel))
	if err != nil {
		return "", err
	}
	switch {
	case id != nil && email != "":
		return "", badRequest("name the member by user_id or by email, not both")
	case id != nil:
		return *id, nil
	case strings.TrimSpace(email) != "":
		if !strings.Contains(email, "@") {
			return "", badRequest("email %q is not an email address", clip(email))
		}
		return strings.TrimSpace(email), nil
	}
	return "", badRequest("name the member: user_id (or userId) or email")
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *API) updateMemberRole(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		UserID      string `json:"user_id"`
		UserIDCamel string `json:"userId"`
		Email       string `json:"email"`
		Role        string `json:"role"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	ref, err := memberRef(body.UserID, body.UserIDCamel, body.Email)
	if err != nil {
		return 0, nil, err
	}
	rl, err := role(body.Role)
	if err != nil {
		return 0, nil, err
	}
	mb, err := a.m.ChangeRole(r.Context(), p, r.PathValue("id"), ref, rl)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, mbJSON(mb), nil
}

func (a *API) removeMemberByBody(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		UserID      string `json:"user_id"`
		UserIDCamel string `json:"userId"`
		Email       string `json:"email"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	ref, err := memberRef(body.UserID, body.UserIDCamel, body.Email)
	if err != nil {
		return 0, nil, err
	}
	if err := a.m.RemoveMember(r.Context(), p, r.PathValue("id"), ref); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"workspace_id": r.PathValue("id"), "removed": true}, nil
}

// workspaceHeader reads X-Workspace-ID, which the Tell-shaped admin routes need.
func workspaceHeader(r *http.Request) (string, error) {
	id := strings.TrimSpace(r.Header.Get("X-Workspace-ID"))
	if id == "" {
		return "", badRequest("send the workspace as an X-Workspace-ID header")
	}
	return id, nil
}

// optionalRole reads a role that may be left out.
func optionalRole(s string) rbac.Role { return rbac.Role(strings.ToLower(strings.TrimSpace(s))) }

// role reads a role name; which roles exist is the Manager's to say.
func role(s string) (rbac.Role, error) {
	if strings.TrimSpace(s) == "" {
		return "", badRequest("role is required")
	}
	return rbac.Role(strings.ToLower(strings.TrimSpace(s))), nil
}

func (a *API) addMember(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Email  string `json:"email"`
		UserID string `json:"user_id"`
		Role   string `json:"role"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	rl := optionalRole(body.Role) // none: the Manager's default role
	mb, err := a.m.AddMember(r.Context(), p, r.PathValue("id"), tenancy.NewMember{Email: body.Email, UserID: body.UserID, Role: rl})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, mbJSON(mb), nil
}

func (a *API) leave(r *http.Request, p tenancy.Principal) (int, any, error) {
	id := r.PathValue("id")
	if err := a.m.LeaveWorkspace(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"workspace_id": id, "left": true}, nil
}

func (a *API) listMembers(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListMembers(r.Context(), p, wsID, tenancy.MemberListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, mbInfoJSON), nil
}

func (a *API) changeRole(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	var body struct {
		Role string `json:"role"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	rl, err := role(body.Role)
	if err != nil {
		return 0, nil, err
	}
	mb, err := a.m.ChangeRole(r.Context(), p, wsID, r.PathValue("user_id"), rl)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, mbJSON(mb), nil
}

func (a *API) removeMember(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	userID := r.PathValue("user_id")
	if err := a.m.RemoveMember(r.Context(), p, wsID, userID); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"user_id": userID, "removed": true}, nil
}
