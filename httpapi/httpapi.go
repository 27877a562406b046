// Package httpapi puts tenancy on HTTP, with the standard library only: middleware
// that authenticates bearer tokens and guards a host's own routes, and the REST API
// as an http.Handler a host mounts under its own prefix, described by an OpenAPI 3.1
// document it serves.
//
// It holds no business rule. Every handler decodes its request, calls one Manager
// method and encodes the answer; the Manager decides who may do what.
//
//	mux := http.NewServeMux()
//	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", httpapi.New(m, httpapi.Options{})))
//
// Responses are JSON; errors are {"error": "<status text>", "message": "<for people>"},
// with the status from the error's kind (see Status).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tenancykit/tenancy"
)

// Options configures the REST API handler. The zero value is ready to use.
type Options struct {
	// AcceptURL makes the link an invitation is accepted at, from its secret: for
	// example func(s string) string { return "https://app.example.com/invite#token=" + s }.
	// Keep the secret in the fragment (after '#'), which browsers never send to a
	// server, so access logs never hold it. Nil leaves accept_url out of answers.
	AcceptURL func(secret string) string
	// Logger receives internal errors (storage faults); nil discards them.
	Logger *slog.Logger
	// MaxBody bounds request bodies; 0 means 1 MiB.
	MaxBody int64
	// NewUserID makes the user ID of a person who signs up by invitation; nil
	// makes "usr_" + a random ULID.
	NewUserID func() string
	// FirstTokenLifetime is the lifetime of the personal token a person gets when
	// they sign up by invitation; 0 means 30 days.
	FirstTokenLifetime time.Duration
	// SendMail delivers invitation links (on invite and resend) and the secrets of
	// self-service email changes to their addressees. An answer reports whether
	// the mail went out ("mail": {"sent": …}); a failure never undoes the
	// invitation. Nil sends nothing: invitation answers still carry the link for
	// the inviter to pass on, and self-service email changes are refused (a secret
	// handed to the caller would prove nothing).
	SendMail func(ctx context.Context, m Mail) error
	// StarterKitDescriptions describes the Manager's starter kits
	// (tenancy.Options.StarterKits) by name, for GET /starter-kits.
	StarterKitDescriptions map[string]string
	// ConfirmEmailURL makes the link an email-change secret is confirmed at, for
	// the mail; keep the secret in the fragment, as with AcceptURL.
	ConfirmEmailURL func(secret string) string
}

// API is the REST API handler.
type API struct {
	m    *tenancy.Manager
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// New returns the REST API over m. Mount it under a prefix with http.StripPrefix;
// its routes are listed in the OpenAPI document it serves at /openapi.json.
func New(m *tenancy.Manager, opts Options) *API {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.NewUserID == nil {
		opts.NewUserID = newUserID
	}
	if opts.FirstTokenLifetime <= 0 {
		opts.FirstTokenLifetime = 30 * 24 * time.Hour
	}
	a := &API{m: m, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	for _, rt := range routes {
		if rt.raw != nil {
			h := rt.raw
			auth := Authenticate(a.m)
			a.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
				noteRoute(r)
				auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					p, _ := PrincipalFrom(r.Context())
					if err := h(a, w, r, p); err != nil {
						a.fail(w, r, err)
					}
				})).ServeHTTP(w, r)
			})
			continue
		}
		if rt.authed != nil {
			h := rt.authed
			a.route(rt.pattern, func(r *http.Request, p tenancy.Principal) (int, any, error) { return h(a, r, p) })
		} else {
			h := rt.public
			a.public(rt.pattern, func(r *http.Request) (int, any, error) { return h(a, r) })
		}
	}
	a.mux.HandleFunc(openAPIRoute, serveOpenAPI)
	// No catch-all route: it would answer every method and hide the mux's 405s.
	// jsonErrors gives the mux's own 404 and 405 the API's JSON body.
	return a
}

// ServeHTTP serves the API. Every answer is JSON with nosniff and no-store (answers
// may carry secrets, and none is worth caching); a wrong method is 405 with Allow.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(&jsonErrors{ResponseWriter: w}, r)
}

// route registers an authenticated handler: it runs with the request's Principal.
func (a *API) route(pattern string, h func(*http.Request, tenancy.Principal) (int, any, error)) {
	auth := Authenticate(a.m)
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		noteRoute(r)
		auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serveAs(w, r, h) })).ServeHTTP(w, r)
	})
}

func (a *API) serveAs(w http.ResponseWriter, r *http.Request, h func(*http.Request, tenancy.Principal) (int, any, error)) {
	{
		p, _ := PrincipalFrom(r.Context())
		status, body, err := h(r, p)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, status, body)
	}
}

// public registers a handler that needs no principal (its secret is the credential).
func (a *API) public(pattern string, h func(*http.Request) (int, any, error)) {
	a.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		noteRoute(r)
		status, body, err := h(r)
		if err != nil {
			// Public routes take a bearer token when there is one (an existing
			// user accepting): a 401 challenges for it, as everywhere else.
			if Status(err) == http.StatusUnauthorized {
				challenge := `Bearer realm="tenancy"`
				if len(r.Header.Values("Authorization")) > 0 {
					challenge += `, error="invalid_token"`
				}
				w.Header().Set("WWW-Authenticate", challenge)
			}
			a.fail(w, r, err)
			return
		}
		writeJSON(w, status, body)
	})
}

// jsonErrors turns the ServeMux's own plain-text 405 (and 404) answers into the
// API's JSON error body, keeping their Allow header.
type jsonErrors struct {
	http.ResponseWriter
	swallow bool
}

func (j *jsonErrors) WriteHeader(status int) {
	if (status == http.StatusMethodNotAllowed || status == http.StatusNotFound) &&
		strings.HasPrefix(j.Header().Get("Content-Type"), "text/plain") {
		j.swallow = true
		msg, kind := "no such route: see /openapi.json", "not_found"
		if status == http.StatusMethodNotAllowed {
			msg, kind = "method not allowed here: use "+j.Header().Get("Allow"), "method_not_allowed"
		}
		writeJSON(j.ResponseWriter, status, errorBody{http.StatusText(status), msg, kind})
		return
	}
	j.ResponseWriter.WriteHeader(status)
}

func (j *jsonErrors) Write(b []byte) (int, error) {
	if j.swallow {
		return len(b), nil
	}
	return j.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (j *jsonErrors) Unwrap() http.ResponseWriter { return j.ResponseWriter }
