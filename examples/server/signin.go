package main

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/console"
	"github.com/tenancykit/tenancy/httpapi"
)

// sessionCookie holds a signed-in person's personal token. It is HttpOnly (no
// script reads it), SameSite=Strict (no other site's request carries it) and Secure
// behind TLS; every request authenticates it again, so a revoked or expired token
// ends the session at the next click.
const sessionCookie = "tenancy_session"

// consoleHandler is the web console at /, signed in with a personal token.
func consoleHandler(m *tenancy.Manager, acceptURL func(string) string, sendMail func(context.Context, httpapi.Mail) error) (http.Handler, error) {
	var sendInvitation func(context.Context, tenancy.SentInvitation, string) error
	if sendMail != nil {
		// The console mails invitation links through the same mailer as the API.
		sendInvitation = func(ctx context.Context, inv tenancy.SentInvitation, link string) error {
			return sendMail(ctx, httpapi.Mail{Kind: httpapi.KindInvitation, To: inv.Invitation.Email, Secret: inv.Secret, URL: link,
				ExpiresAt: inv.Invitation.ExpiresAt, Invitation: inv.Invitation})
		}
	}
	c, err := console.New(m, console.Options{
		SendInvitation: sendInvitation,
		SignInURL:      "/signin",
		SignOutURL:     "/signout",
		AcceptURL:      acceptURL,
		// A person without an account signs up from the invitation page: the account,
		// the membership and a first personal token are made in one transaction, and
		// the token becomes their session.
		SignUp: func(w http.ResponseWriter, r *http.Request, secret, name string) (string, error) {
			su, err := m.SignUpWithInvitation(r.Context(), secret, tenancy.NewUser{ID: "usr_" + ulid.Make().String(), Name: name},
				tenancy.NewToken{Name: "console sign-up", Lifetime: 30 * 24 * time.Hour})
			if err != nil {
				return "", err
			}
			setSession(w, r, su.Token.Secret)
			return su.Member.WorkspaceID, nil
		},
		Principal: func(r *http.Request) (tenancy.Principal, error) {
			ck, err := r.Cookie(sessionCookie)
			if err != nil || ck.Value == "" {
				return tenancy.Principal{}, tenancy.ErrUnauthenticated
			}
			return m.Authenticate(r.Context(), ck.Value)
		},
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) { signinPage(w, http.StatusOK, "") })
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		secret := strings.TrimSpace(r.FormValue("token"))
		p, err := m.Authenticate(r.Context(), secret)
		if err == nil && p.WorkspaceID() != "" {
			err = &tenancy.Error{Kind: tenancy.ErrInvalidArgument, Message: "sign in with a personal token (tncp_…), not a workspace token"}
		}
		if err != nil {
			msg := "that token is not valid: it may be mistyped, expired or revoked"
			var e *tenancy.Error
			if tenancy.KindOf(err) == tenancy.ErrInvalidArgument && errors.As(err, &e) {
				msg = e.Message
			}
			signinPage(w, http.StatusUnauthorized, msg)
			return
		}
		setSession(w, r, secret)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /signout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
			SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
	})
	mux.Handle("/", c)
	return http.NewCrossOriginProtection().Handler(mux), nil
}

func setSession(w http.ResponseWriter, r *http.Request, secret string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, Expires: time.Now().Add(30 * 24 * time.Hour)})
}

var signinTmpl = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · tenancy</title><link rel="stylesheet" href="/static/console.css"></head>
<body><main>
<h1>Sign in</h1>
{{if .}}<p class="error" role="alert">{{.}}</p>{{end}}
<form method="post" action="/signin">
  <p><label for="token">Your user auth token</label><br>
  <input id="token" name="token" type="password" required autocomplete="off" size="60"></p>
  <p class="hint">A personal token (tncp_…): <code>server setup</code> printed one, or run <code>server token create</code>.</p>
  <p><button type="submit">Sign in</button></p>
</form>
</main></body></html>
`))

func signinPage(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = signinTmpl.Execute(w, msg)
}
