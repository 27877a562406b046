// Package console is tenancy's web application as an http.Handler a host mounts:
// the workspace switcher, workspace settings, members and invitations, API tokens
// and the audit log, rendered on the server with html/template from embedded
// templates and one stylesheet. Every page works without JavaScript (forms, then a
// redirect); a small script only enhances (focus, confirmations) under a strict
// Content-Security-Policy that allows no inline script.
//
// The console holds no rule of its own: every action calls one Manager method, as
// the principal the host's Options.Principal says the request acts for, and a page
// offers only the actions that principal may take (the server refuses the rest
// anyway). Cross-site requests that change state are refused
// (http.CrossOriginProtection).
//
//	c, err := console.New(m, console.Options{
//		Principal: func(r *http.Request) (tenancy.Principal, error) { return myLogin(r) },
//	})
//	mux.Handle("/console/", http.StripPrefix("/console", c))
package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tenancykit/tenancy"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Options configures a console.
type Options struct {
	// Principal says who a request acts for, from the host's own login (a session
	// cookie, a header set by a proxy). An error with tenancy.ErrUnauthenticated
	// sends the person to SignInURL. Required.
	Principal func(*http.Request) (tenancy.Principal, error)
	// Prefix is the path the console is mounted at (with http.StripPrefix), such as
	// "/console"; its links start with it. Empty: mounted at the root.
	Prefix string
	// SignInURL is where a request without a principal is sent; empty shows a page
	// that says to sign in.
	SignInURL string
	// SignOutURL, when set, gives every page a "Sign out" button that POSTs there.
	SignOutURL string
	// AcceptURL makes the link an invitation is accepted at, shown once to the
	// inviter; nil shows the invitation's secret instead.
	AcceptURL func(secret string) string
	// SendInvitation, when set, mails a new (or renewed) invitation's link to the
	// invited address; the page then says it was mailed and shows the link once
	// besides, for the inviter to pass on if the mail goes astray. A failure is
	// shown; the invitation stands. Nil: the link is only shown.
	SendInvitation func(ctx context.Context, inv tenancy.SentInvitation, link string) error
	// SignUp, when set, lets a person without an account accept an invitation by
	// signing up: it makes the account and signs them in (the host's session), for
	// instance with Manager.SignUpWithInvitation, and returns the workspace joined.
	// Nil: the invitation page offers only accepting with an existing account.
	SignUp func(w http.ResponseWriter, r *http.Request, secret, name string) (workspaceID string, err error)
	// FlashKey keys the cookie that carries a new secret (a token) to the one page
	// that shows it: 32 bytes, the same on every instance behind one address. Nil
	// makes a random key (fine for one instance).
	FlashKey []byte
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// Console is the web application. Make it with New.
type Console struct {
	m     *tenancy.Manager
	opts  Options
	mux   *http.ServeMux
	pages map[string]*template.Template
	aead  cipher.AEAD
	log   *slog.Logger
	csrf  *http.CrossOriginProtection
}

// New returns the console over m.
func New(m *tenancy.Manager, opts Options) (*Console, error) {
	if m == nil || opts.Principal == nil {
		return nil, errors.New("console: New needs a Manager and Options.Principal")
	}
	opts.Prefix = strings.TrimRight(opts.Prefix, "/")
	key := opts.FlashKey
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) != 32 {
		return nil, errors.New("console: Options.FlashKey must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	c := &Console{m: m, opts: opts, mux: http.NewServeMux(), aead: aead, log: opts.Logger, csrf: http.NewCrossOriginProtection()}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := c.parse(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func (c *Console) parse() error {
	funcs := template.FuncMap{
		"path": func(parts ...string) string { return c.opts.Prefix + strings.Join(parts, "") },
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
	}
	layout, err := fs.ReadFile(assets, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(assets, n)
		if err != nil {
			return err
		}
		t, err := template.New("layout").Funcs(funcs).Parse(string(layout))
		if err == nil {
			_, err = t.New("body").Parse(string(body))
		}
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// ServeHTTP serves the console: security headers on every answer, cross-origin
// writes refused.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	c.csrf.Handler(c.mux).ServeHTTP(w, r)
}

// page is what every template receives.
type page struct {
	Title     string
	Principal string
	Prefix    string
	Flash     string // a one-line notice after a redirect
	Error     string // the Manager's refusal of what was just tried
	Nav       []navItem
	Data      any
	Platform  bool
	SignOut   string
}

type navItem struct {
	Label, Href string
	Current     bool
}

// render writes a page. Pages are never cached: they show what the principal may do
// now, and some show a secret.
func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	t, ok := c.pages[name]
	if !ok {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	p.Prefix, p.SignOut = c.opts.Prefix, c.opts.SignOutURL
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := t.Execute(w, p); err != nil {
		c.log.Error("console: render", "page", name, "error", err)
	}
}

// redirect answers a form with 303 to a page, with a notice shown there once.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, to, notice string) {
	if notice != "" {
		c.setFlash(w, r, "notice", notice)
	}
	http.Redirect(w, r, c.opts.Prefix+to, http.StatusSeeOther)
}

// Flash cookies carry a notice, or a new secret, from a form's answer to the one
// page after it: sealed (AES-GCM), HttpOnly, SameSite=Strict, deleted as soon as
// that page reads them, so a reload or the back button shows the secret no more.
func (c *Console) setFlash(w http.ResponseWriter, r *http.Request, name, value string) {
	c.setCookie(w, r, name, value, 60)
}

// takeFlash reads a flash cookie and deletes it: it is shown once.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request, name string) string {
	ck, err := r.Cookie("console_" + name)
	if err != nil {
		return ""
	}
	c.clearCookie(w, r, name)
	return c.open(name, ck.Value)
}

// setCookie sets a sealed cookie (AES-GCM, bound to its name).
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := c.aead.Seal(nonce, nonce, []byte(value), []byte(name))
	http.SetCookie(w, &http.Cookie{Name: "console_" + name, Value: base64.RawURLEncoding.EncodeToString(sealed),
		Path: c.cookiePath(), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: maxAge})
}

func (c *Console) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: "console_" + name, Value: "", Path: c.cookiePath(), MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// open unseals a cookie's value; "" when it does not open.
func (c *Console) open(name, value string) string {
	b, err := base64.RawURLEncoding.DecodeString(value)
	n := c.aead.NonceSize()
	if err != nil || len(b) < n {
		return ""
	}
	plain, err := c.aead.Open(nil, b[:n], b[n:], []byte(name))
	if err != nil {
		return ""
	}
	return string(plain)
}

func (c *Console) cookiePath() string {
	if c.opts.Prefix == "" {
		return "/"
	}
	return c.opts.Prefix + "/"
}

// static serves the stylesheet and the script, cacheable.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	b, err := fs.ReadFile(assets, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(b)
}
