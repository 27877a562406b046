package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/token"
)

type tokenJSON struct {
	TokenID     string     `json:"token_id"`
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	WorkspaceID string     `json:"workspace_id,omitempty"`
	Role        string     `json:"role,omitempty"`
	Hint        string     `json:"hint"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	Token       string     `json:"token,omitempty"` // the secret, when just made
}

func tokJSON(t tenancy.TokenInfo) tokenJSON {
	return tokenJSON{TokenID: t.ID, Name: t.Name, Kind: string(t.Kind), WorkspaceID: t.WorkspaceID, Role: string(t.Role),
		Hint: t.Hint, State: string(t.State), CreatedAt: t.CreatedAt.UTC(), ExpiresAt: timePtr(t.ExpiresAt), LastUsedAt: timePtr(t.LastUsedAt)}
}

func created(c tenancy.CreatedToken) tokenJSON {
	out := tokJSON(tenancy.TokenInfo{Token: c.Token, State: tenancy.TokenActive})
	out.Token = c.Secret
	return out
}

func (a *API) createToken(r *http.Request, p tenancy.Principal, wsID string) (int, any, error) {
	var body struct {
		Name      string `json:"name"`
		ExpiresIn string `json:"expires_in"`
		Role      string `json:"role"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.ExpiresIn == "" {
		return 0, nil, badRequest("expires_in is required, e.g. \"48h\", \"7d\", \"1y\"")
	}
	life, err := token.ParseLifetime(body.ExpiresIn)
	if err != nil {
		return 0, nil, badRequest("%s", err.Error())
	}
	c, err := a.m.CreateToken(r.Context(), p, tenancy.NewToken{Name: body.Name, WorkspaceID: wsID, Role: rbac.Role(strings.ToLower(strings.TrimSpace(body.Role))), Lifetime: life})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, created(c), nil
}

func (a *API) createWorkspaceToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.createToken(r, p, r.PathValue("id"))
}

func (a *API) createPersonalToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.createToken(r, p, "")
}

func (a *API) listTokens(r *http.Request, p tenancy.Principal, opts tenancy.TokenListOptions) (int, any, error) {
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	opts.State, opts.Limit, opts.Cursor = tenancy.TokenState(r.URL.Query().Get("state")), limit, cursor
	pg, err := a.m.ListTokens(r.Context(), p, opts)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, tokJSON), nil
}

func (a *API) listWorkspaceTokens(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.listTokens(r, p, tenancy.TokenListOptions{WorkspaceID: r.PathValue("id")})
}

func (a *API) listPersonalTokens(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.listTokens(r, p, tenancy.TokenListOptions{UserID: p.UserID()})
}

// tokenIn loads a token p may see and checks it belongs where the route says: a
// workspace's (wsID) or a personal one ("").
func (a *API) tokenIn(r *http.Request, p tenancy.Principal, wsID string) (string, error) {
	id := r.PathValue("token_id")
	info, err := a.m.GetToken(r.Context(), p, id)
	if err != nil {
		return "", err
	}
	if info.WorkspaceID != wsID {
		where := "personal tokens"
		if wsID != "" {
			where = "this workspace"
		}
		return "", &tenancy.Error{Kind: tenancy.ErrNotFound, Message: fmt.Sprintf("token %q not found in %s", clip(id), where)}
	}
	return id, nil
}

func (a *API) revoke(r *http.Request, p tenancy.Principal, wsID string) (int, any, error) {
	id, err := a.tokenIn(r, p, wsID)
	if err != nil {
		return 0, nil, err
	}
	if err := a.m.RevokeToken(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"token_id": id, "revoked": true}, nil
}

func (a *API) rotate(r *http.Request, p tenancy.Principal, wsID string) (int, any, error) {
	id, err := a.tokenIn(r, p, wsID)
	if err != nil {
		return 0, nil, err
	}
	c, err := a.m.RotateToken(r.Context(), p, id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, created(c), nil
}

func (a *API) revokeWorkspaceToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.revoke(r, p, r.PathValue("id"))
}

func (a *API) revokePersonalToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.revoke(r, p, "")
}

func (a *API) rotateWorkspaceToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.rotate(r, p, r.PathValue("id"))
}

func (a *API) rotatePersonalToken(r *http.Request, p tenancy.Principal) (int, any, error) {
	return a.rotate(r, p, "")
}
