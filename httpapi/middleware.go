package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/rbac"
)

type principalKey struct{}

// PrincipalFrom returns the Principal Authenticate put in the request's context.
func PrincipalFrom(ctx context.Context) (tenancy.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(tenancy.Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p, for hosts that authenticate people
// themselves (a session cookie) and then call tenancy as that user.
func WithPrincipal(ctx context.Context, p tenancy.Principal) context.Context {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.principal = principalKind(p)
	}
	return context.WithValue(ctx, principalKey{}, p)
}

// Authenticate is middleware that turns the request's bearer token into a
// Principal in its context (PrincipalFrom). It takes exactly one Authorization
// header, scheme "Bearer" in any case; anything else is 401 with a WWW-Authenticate
// challenge, and the request goes no further. The token never appears in an answer
// or a log.
func Authenticate(m *tenancy.Manager) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			secret, err := bearer(r)
			if err == nil {
				var p tenancy.Principal
				if p, err = m.Authenticate(r.Context(), secret); err == nil {
					next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
					return
				}
			}
			challenge := `Bearer realm="tenancy"`
			if secret != "" {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			Error(w, err)
		})
	}
}

// bearer reads the one Authorization header's bearer token.
func bearer(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", unauthenticated("send your token as Authorization: Bearer <token>")
	case len(values) > 1:
		return "", unauthenticated("send exactly one Authorization header")
	}
	scheme, secret, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", unauthenticated("send your token as Authorization: Bearer <token>")
	}
	return secret, nil
}

func unauthenticated(msg string) error {
	return &tenancy.Error{Kind: tenancy.ErrUnauthenticated, Message: msg}
}

// WorkspaceFrom finds the workspace a request is about: by ID, or by slug (set one).
type WorkspaceFrom func(r *http.Request) (id, slug string)

// PathWorkspace reads the workspace ID from a path wildcard, e.g. "workspace" in
// "POST /dashboards/{workspace}".
func PathWorkspace(name string) WorkspaceFrom {
	return func(r *http.Request) (string, string) { return r.PathValue(name), "" }
}

// HeaderWorkspace reads the workspace ID from a header, e.g. "X-Workspace-ID".
func HeaderWorkspace(name string) WorkspaceFrom {
	return func(r *http.Request) (string, string) { return strings.TrimSpace(r.Header.Get(name)), "" }
}

// PathSlug reads the workspace's slug from a path wildcard.
func PathSlug(name string) WorkspaceFrom {
	return func(r *http.Request) (string, string) { return "", r.PathValue(name) }
}

type workspaceKey struct{}

// WorkspaceIDFrom returns the workspace Require checked, for the guarded handler.
func WorkspaceIDFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(workspaceKey{}).(string)
	return id, ok
}

// Require is middleware that lets a request through only if its Principal (put
// there by Authenticate) may perform action in the workspace the request names:
// the Manager's Authorize decides, with the role, the policy and the workspace's
// status. Others get the API's error answer (401, 403, 404 or 409), and the
// handler never runs. The workspace's ID is in the context (WorkspaceIDFrom).
func Require(m *tenancy.Manager, action rbac.Action, from WorkspaceFrom) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tenancy"`)
				Error(w, unauthenticated("authenticate first"))
				return
			}
			id, slug := from(r)
			if id == "" && slug != "" {
				ws, err := m.GetWorkspaceBySlug(r.Context(), p, slug)
				if err != nil {
					Error(w, err)
					return
				}
				id = ws.ID
			}
			if id == "" {
				Error(w, &httpError{http.StatusBadRequest, "the request names no workspace"})
				return
			}
			if err := m.Authorize(r.Context(), p, id, action); err != nil {
				Error(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), workspaceKey{}, id)))
		})
	}
}

type requestInfoKey struct{}

type requestInfo struct{ principal, route string }

// noteRoute records the matched route pattern for LogRequests (StripPrefix hands
// the inner mux a copy of the request, so the outer one cannot see it).
func noteRoute(r *http.Request) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok && r.Pattern != "" {
		info.route = r.Pattern
	}
}

func principalKind(p tenancy.Principal) string {
	switch {
	case p.IsSystem():
		return "system"
	case p.TokenID() != "" && p.WorkspaceID() != "":
		return "workspace_token"
	case p.TokenID() != "":
		return "personal_token"
	case p.UserID() != "":
		return "user"
	}
	return "none"
}

// LogRequests is middleware that logs one line per request: method, route pattern
// (never the raw path, which may hold IDs of other tenants or secrets), status,
// duration and the kind of principal. It logs no header, query or body.
func LogRequests(log interface {
	Info(msg string, args ...any)
}) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			r, info := withRequestInfo(r)
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(rec, r)
			pattern := info.route
			if pattern == "" {
				pattern = r.Pattern
			}
			if pattern == "" {
				pattern = "(no route)"
			}
			log.Info("request", "method", r.Method, "route", pattern, "status", rec.status,
				"duration", time.Since(start).Round(time.Microsecond), "principal", info.principal)
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
