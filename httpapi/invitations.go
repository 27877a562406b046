package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
)

type invitationJSON struct {
	InvitationID string    `json:"invitation_id"`
	WorkspaceID  string    `json:"workspace_id"`
	Email        string    `json:"email"`
	Role         string    `json:"role"`
	State        string    `json:"state"`
	InvitedBy    string    `json:"invited_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
	AcceptURL    string    `json:"accept_url,omitempty"`
	Token        string    `json:"token,omitempty"` // the secret, when just made
	Mail         *mailJSON `json:"mail,omitempty"`  // whether it was mailed, when the API sends mail
}

func invJSON(i tenancy.InvitationInfo) invitationJSON {
	return invitationJSON{InvitationID: i.ID, WorkspaceID: i.WorkspaceID, Email: i.Email, Role: string(i.Role),
		State: string(i.State), InvitedBy: i.InviterID, CreatedAt: i.CreatedAt.UTC(), ExpiresAt: i.ExpiresAt.UTC()}
}

// sent shapes a just-made invitation, with its secret and accept link, once, after
// mailing the link to the invitee when the API sends mail.
func (a *API) sent(ctx context.Context, s tenancy.SentInvitation) invitationJSON {
	out := invJSON(tenancy.InvitationInfo{Invitation: s.Invitation, State: member.Pending})
	out.Token = s.Secret
	if a.opts.AcceptURL != nil {
		out.AcceptURL = a.opts.AcceptURL(s.Secret)
	}
	out.Mail = a.send(ctx, Mail{Kind: KindInvitation, To: s.Invitation.Email, Secret: s.Secret, URL: out.AcceptURL,
		ExpiresAt: s.Invitation.ExpiresAt, Invitation: s.Invitation})
	return out
}

func (a *API) invite(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Email       string `json:"email"`
		WorkspaceID string `json:"workspace_id"`
		Role        string `json:"role"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	if body.WorkspaceID == "" {
		return 0, nil, badRequest("workspace_id is required")
	}
	rl := optionalRole(body.Role) // none: the Manager's default role
	s, err := a.m.InviteMember(r.Context(), p, body.WorkspaceID, tenancy.NewInvitation{Email: body.Email, Role: rl})
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusCreated
	if s.Resent {
		status = http.StatusOK
	}
	return status, a.sent(r.Context(), s), nil
}

// inviteToWorkspace is invite with the workspace in the path and the role optional:
// System Initiative's inviteMember, {"email"}.
func (a *API) inviteToWorkspace(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	s, err := a.m.InviteMember(r.Context(), p, r.PathValue("id"), tenancy.NewInvitation{Email: body.Email, Role: optionalRole(body.Role)})
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusCreated
	if s.Resent {
		status = http.StatusOK
	}
	return status, a.sent(r.Context(), s), nil
}

func (a *API) resendInvite(r *http.Request, p tenancy.Principal) (int, any, error) {
	s, err := a.m.ResendInvitation(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, a.sent(r.Context(), s), nil
}

func (a *API) listInvites(r *http.Request, p tenancy.Principal) (int, any, error) {
	wsID, err := workspaceHeader(r)
	if err != nil {
		return 0, nil, err
	}
	limit, cursor, err := pageParams(r)
	if err != nil {
		return 0, nil, err
	}
	pg, err := a.m.ListInvitations(r.Context(), p, wsID, tenancy.MemberListOptions{Limit: limit, Cursor: cursor})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toPage(pg, invJSON), nil
}

func (a *API) revokeInvite(r *http.Request, p tenancy.Principal) (int, any, error) {
	inv, err := a.m.RevokeInvitation(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, invJSON(tenancy.InvitationInfo{Invitation: inv, State: member.Revoked}), nil
}

// previewInvite says what an invitation offers, so an accept page can show "you are
// invited to … as …" before anyone signs in. The secret is the credential.
func (a *API) previewInvite(r *http.Request) (int, any, error) {
	var body struct {
		Token string `json:"token"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	info, err := a.m.InvitationBySecret(r.Context(), body.Token)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, invJSON(info), nil
}

// accept joins a workspace by invitation. With a bearer token it accepts as that
// user. Without one, it signs up the invited email (which must have no account yet),
// accepts, and returns the new account's first personal token once, all in one
// transaction (Tell: "if they don't have an account yet, one is created when they
// accept"). An existing account must sign in first, so a leaked link cannot take it
// over.
func (a *API) accept(r *http.Request) (int, any, error) {
	var body struct {
		Token string `json:"token"`
		Name  string `json:"name"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	ctx := r.Context()
	if len(r.Header.Values("Authorization")) > 0 {
		secret, err := bearer(r)
		if err != nil {
			return 0, nil, err
		}
		p, err := a.m.Authenticate(ctx, secret)
		if err != nil {
			return 0, nil, err
		}
		mb, err := a.m.AcceptInvitation(ctx, p, body.Token)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]any{"member": mbJSON(mb), "user_id": p.UserID(), "workspace_id": mb.WorkspaceID}, nil
	}
	s, err := a.m.SignUpWithInvitation(ctx, body.Token, tenancy.NewUser{ID: a.opts.NewUserID(), Name: body.Name},
		tenancy.NewToken{Name: "first sign-in", Lifetime: a.opts.FirstTokenLifetime})
	if errors.Is(err, tenancy.ErrAlreadyExists) {
		return 0, nil, unauthenticated("this email already has an account: accept with your token")
	}
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"member": mbJSON(s.Member), "user_id": s.User.ID, "workspace_id": s.Member.WorkspaceID, "token": s.Token.Secret}, nil
}
