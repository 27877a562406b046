package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/member"
)

// Mail carries what only its addressee may read: an invitation's link, an
// email-change secret. The API hands each to Options.SendMail after the Manager has
// made it; the host delivers it (the self-hosted server by SMTP).
type Mail struct {
	Kind MailKind
	To   string // the address to send to, normalised
	// Secret is the single-use secret, and URL the link made from it
	// (Options.AcceptURL for invitations, Options.ConfirmEmailURL for email
	// changes; empty when the option is nil). Never log either.
	Secret    string
	URL       string
	ExpiresAt time.Time
	// Invitation is the invitation mailed, for KindInvitation.
	Invitation member.Invitation
	// UserID is the user whose address changes, for KindEmailChange.
	UserID string
}

// MailKind says what a Mail is for.
type MailKind string

// The kinds of mail.
const (
	KindInvitation  MailKind = "invitation"   // sent on invite and on resend
	KindEmailChange MailKind = "email_change" // the proof of a new address
)

// mailJSON reports, in an answer, whether the mail went out. The error says what
// failed, never the secret.
type mailJSON struct {
	Sent  bool   `json:"sent"`
	Error string `json:"error,omitempty"`
}

// send hands mail to the host's sender and reports the outcome; a failure is
// logged with the recipient's workspace or user, never the secret.
func (a *API) send(ctx context.Context, m Mail) *mailJSON {
	if a.opts.SendMail == nil {
		return nil
	}
	if err := a.opts.SendMail(ctx, m); err != nil {
		a.log.Error("httpapi: mail not sent", "kind", string(m.Kind), "workspace", m.Invitation.WorkspaceID,
			"invitation", m.Invitation.ID, "user", m.UserID, "error", err)
		return &mailJSON{Sent: false, Error: err.Error()}
	}
	return &mailJSON{Sent: true}
}

type emailChangeJSON struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"` // the new address, which received the secret
	ExpiresAt time.Time `json:"expires_at"`
	Mail      *mailJSON `json:"mail"`
}

// requestEmailChange starts a self-service change of address: the secret goes by
// mail to the new address and never into the answer, so it is refused when the
// API has no way to send mail.
func (a *API) requestEmailChange(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Email string `json:"email"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	if a.opts.SendMail == nil {
		return 0, nil, &tenancy.Error{Kind: tenancy.ErrFailedPrecondition,
			Message: "this server cannot send mail, so a new address cannot be proven: ask a platform admin to set it (PATCH /platform/users/{user_id})"}
	}
	c, err := a.m.RequestEmailChange(r.Context(), p, p.UserID(), body.Email)
	if err != nil {
		return 0, nil, err
	}
	m := Mail{Kind: KindEmailChange, To: c.Email, Secret: c.Secret, ExpiresAt: c.ExpiresAt, UserID: c.UserID}
	if a.opts.ConfirmEmailURL != nil {
		m.URL = a.opts.ConfirmEmailURL(c.Secret)
	}
	// A failed send is reported (mail.sent false, mail.error) and logged; the
	// change stays pending, with a secret nobody has, until a new request.
	return http.StatusAccepted, emailChangeJSON{c.UserID, c.Email, c.ExpiresAt.UTC(), a.send(r.Context(), m)}, nil
}

// confirmEmailChange completes it, given the secret from the mail.
func (a *API) confirmEmailChange(r *http.Request, p tenancy.Principal) (int, any, error) {
	var body struct {
		Token string `json:"token"`
	}
	if err := a.decode(r, &body); err != nil {
		return 0, nil, err
	}
	u, err := a.m.ConfirmEmailChange(r.Context(), p, body.Token)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, usrJSON(u), nil
}
