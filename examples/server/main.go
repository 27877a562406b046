// Command server is a self-hosted workspace service on a bbolt file, or on
// PostgreSQL for several instances: the reference for hosts that embed tenancy
// behind HTTP. One binary is both the server and its command-line client.
//
//	server setup -email admin@example.com [-workspace default] [-data ./tenancy.db | -database postgres://…]
//	server serve [-addr 127.0.0.1:8080] [-data ./tenancy.db | -database postgres://… -key-file tenancy.key] [-smtp-url smtp://… -mail-from ADDR]
//	server workspace create|list|delete|leave [flags]   (talks HTTP to a server)
//	server token create|list|rotate|revoke [flags]
//	server invite [flags] | invite accept   (an existing account joins; the link is read from stdin)
//	server user suspend|reactivate|delete USER_ID | email-change -email NEW | email-confirm
//	server webhook create URL|list|rotate ID|delete ID [flags]
//
// serve also serves the web console at / (sign in with a personal token) and
// delivers webhooks.
//
// The client commands take --url and --token, or TENANCY_URL and TENANCY_TOKEN.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/httpapi"
	"github.com/tenancykit/tenancy/rbac"
	"github.com/tenancykit/tenancy/storage"
	"github.com/tenancykit/tenancy/storage/bolt"
	"github.com/tenancykit/tenancy/storage/postgres"
	"github.com/tenancykit/tenancy/token"
	"github.com/tenancykit/tenancy/webhook"
	"github.com/tenancykit/tenancy/workspace"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// usage is the whole command line: the server's commands, then every client
// command from the table (commands.go).
var usage = `usage:
  server setup -email EMAIL [-workspace NAME] [-data FILE | -database URL [-key-file FILE]] [-policy FILE]
  server serve [-addr 127.0.0.1:8080] [-data FILE | -database URL [-key-file FILE]] [-policy FILE] [-rename-roles OLD=NEW]
               [-starter-kit ID=DESCRIPTION]... [-workspace-flag NAME]...
               [-smtp-url smtp://user:pass@host:587 -mail-from ADDR [-mail-templates DIR]] [-webhook-allow-private]
  server migrate -from bolt:FILE|postgres://… -to bolt:NEWFILE|postgres://… [-key-file FILE]
  server help [COMMAND]
` + clientUsage() + `Client commands take --url and --token (or TENANCY_URL, TENANCY_TOKEN); server help
COMMAND (or -h on it) shows its flags and an example. -database defaults to
TENANCY_DATABASE_URL: PostgreSQL, for several instances on one database (give each the
same -key-file).
` + exitCodes + "\n"

// run is main with its surroundings passed in, so tests drive every command.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(ctx, args[1:], stderr, getenv)
	case "setup":
		err = setupCmd(ctx, args[1:], stdout, stderr, getenv)
	case "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "help":
		err = helpCmd(args[1:], stdout)
	case "migrate":
		err = migrateCmd(ctx, args[1:], stdout, stderr)
	default:
		if !slices.Contains(commandNames(), args[0]) {
			fmt.Fprintf(stderr, "unknown command %q\n%s", clipArg(args[0]), usage)
			return 2
		}
		err = clientCmd(ctx, args, stdin, stdout, stderr, getenv)
	}
	var ue usageError
	var fe flagError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		return 2 // the flag package has said what is wrong, once
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	fmt.Fprintln(stderr, "error:", err)
	return 1
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagError is a flag the flag package refused (and already reported).
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

// parseFlags parses args, refusing stray arguments: a forgotten dash must not
// silently drop every flag after it.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return flagError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q (flags go before it; see -h)", clipArg(fs.Arg(0)))}
	}
	return nil
}

// parseInterleaved parses flags and positional arguments in any order, as people
// type them ("workspace create Staging --slug staging"): the flag package stops at
// the first argument, so parsing resumes after each one. After "--" everything is
// an argument.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError{err}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(positional, rest...), nil
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
}

// envOr reads an environment variable with a default. Only settings that are not
// secrets come from the environment this way: flag usage prints defaults.
func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// where says where the data lives: a bbolt file, or a PostgreSQL database (with
// the key file every instance shares).
type where struct {
	data     string
	database string
	keyFile  string
	policy   string // a casbin policy file with the host's roles; empty: the default
	renames  string // old=new,old2=new2: roles renamed while opening
	kits     starterKits
	flags    listFlag // -workspace-flag NAME: the host's per-workspace flags
	// webhookPrivate lets webhook endpoints use http and private addresses (serve's
	// -webhook-allow-private): for a server on a private network.
	webhookPrivate bool
	// tel instruments the Manager (serve's metrics and traces); nil: otel's
	// global providers, no-ops here.
	tel *observability
}

// listFlag is the repeated -workspace-flag NAME.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if err := workspace.ValidateFlagName(v); err != nil {
		return err
	}
	*l = append(*l, v)
	return nil
}

// starterKits is the repeated -starter-kit ID=description flag, after the
// built-in blank kit.
type starterKits struct {
	ids  []string
	desc map[string]string
}

func defaultKits() starterKits {
	return starterKits{ids: []string{"blank"}, desc: map[string]string{"blank": "Empty workspace"}}
}

func (k *starterKits) String() string { return strings.Join(k.ids, ",") }

func (k *starterKits) Set(v string) error {
	id, desc, _ := strings.Cut(v, "=")
	id = strings.TrimSpace(id)
	if id == "" {
		return errors.New("want ID=description, e.g. web-analytics=\"Ready to track visits\"")
	}
	if _, ok := k.desc[id]; !ok {
		k.ids = append(k.ids, id)
	}
	k.desc[id] = strings.TrimSpace(desc)
	return nil
}

// storeFlags adds -data, -database and -key-file to fs.
func storeFlags(fs *flag.FlagSet, getenv func(string) string) *where {
	w := &where{kits: defaultKits()}
	fs.Var(&w.kits, "starter-kit", "a starter kit new workspaces may start from, ID=description (repeat it; blank, an empty workspace, is built in)")
	fs.Var(&w.flags, "workspace-flag", "a per-workspace flag the host's systems set (PATCH /workspaces/{id}/flags) and stats counts as workspaces_with_NAME, e.g. sources (repeat it)")
	fs.StringVar(&w.data, "data", envOr(getenv, "TENANCY_DATA", "./tenancy.db"), "bbolt data file ($TENANCY_DATA)")
	fs.StringVar(&w.database, "database", getenv("TENANCY_DATABASE_URL"), "PostgreSQL URL (instead of -data; default $TENANCY_DATABASE_URL)")
	fs.StringVar(&w.keyFile, "key-file", "./tenancy.key", "with -database: the secret-hashing key file, the same on every instance")
	fs.StringVar(&w.policy, "policy", getenv("TENANCY_POLICY"), "casbin policy file declaring your own roles (default: viewer < editor < admin; $TENANCY_POLICY)")
	fs.StringVar(&w.renames, "rename-roles", "", "rename stored roles while opening, e.g. editor=guest (for a -policy that renamed them)")
	return w
}

func (w *where) String() string {
	if w.database != "" {
		return "postgres"
	}
	return w.data
}

// openStore opens the bbolt file and the secret-hashing key kept beside it
// (FILE.key, mode 0600), or the PostgreSQL database and its key file, making the
// key on first run. A bbolt file without its key is refused: every stored token and
// invitation would be unusable; a database opened with another key is refused by
// the Manager.
func openStore(w *where) (storage.Storage, []byte, error) {
	keyPath := w.data + ".key"
	if w.database != "" {
		keyPath = w.keyFile
	}
	// A file that is not a bbolt store says so before anything about its key.
	if _, err := os.Stat(w.data); err == nil && w.database == "" {
		store, err := bolt.Open(w.data, bolt.Options{})
		if err != nil {
			return nil, nil, err
		}
		store.Close()
	}
	key, err := os.ReadFile(keyPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if _, statErr := os.Stat(w.data); statErr == nil && w.database == "" {
			return nil, nil, fmt.Errorf("%s exists but its key file %s is missing: tokens and invitations cannot be verified without it", w.data, keyPath)
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(filepath.Dir(keyPath), 0o700); err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			return nil, nil, fmt.Errorf("write key file: %w", err)
		}
	case err != nil:
		return nil, nil, fmt.Errorf("read key file: %w", err)
	case len(key) < token.MinKeyLen:
		return nil, nil, fmt.Errorf("key file %s is too short", keyPath)
	}
	if w.database != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		store, err := postgres.Open(ctx, w.database, postgres.Options{})
		if err != nil {
			return nil, nil, err
		}
		return store, key, nil
	}
	store, err := bolt.Open(w.data, bolt.Options{})
	if err != nil {
		return nil, nil, err
	}
	return store, key, nil
}

// openManager opens the store and a Manager over it; close releases both.
func openManager(w *where) (m *tenancy.Manager, closeAll func(), err error) {
	store, key, err := openStore(w)
	if err != nil {
		return nil, nil, err
	}
	if w.kits.ids == nil {
		w.kits = defaultKits()
	}
	opts := tenancy.Options{SecretKey: key, Logger: slog.Default(), StarterKits: w.kits.ids, WorkspaceFlags: w.flags}
	if w.webhookPrivate {
		opts.Webhooks.Policy = webhook.Policy{AllowHTTP: true, AllowPrivate: true}
	}
	if w.tel != nil {
		opts.TracerProvider, opts.MeterProvider = w.tel.tracers, w.tel.meters
	}
	if opts.Policy, opts.RenameRoles, err = w.roles(); err == nil {
		m, err = tenancy.New(store, opts)
	}
	if err != nil {
		store.Close()
		return nil, nil, inFlagTerms(err, w)
	}
	return m, func() { m.Close(); store.Close() }, nil
}

// inFlagTerms says what New refused in the terms of this command's flags, not the
// library's option names.
func inFlagTerms(err error, w *where) error {
	keyFile := w.data + ".key"
	if w.database != "" {
		keyFile = w.keyFile
	}
	switch {
	case errors.Is(err, tenancy.ErrSecretKeyMismatch):
		return reworded{fmt.Sprintf("the key in %s is not the key this store was created with: use the key file that was made with it (-key-file); a new key would invalidate every token and invitation", keyFile), err}
	case errors.Is(err, tenancy.ErrUndeclaredRole), errors.Is(err, tenancy.ErrOwnerRole):
		msg := strings.NewReplacer("Options.RenameRoles (", "-rename-roles (", "Options.RenameRoles", "-rename-roles",
			"Manager.RenameRole under a policy that declares both", "POST /api/v1/platform/roles/{role}/rename under a -policy that declares both").Replace(err.Error())
		return reworded{strings.TrimPrefix(msg, "tenancy: "), err}
	}
	return err
}

// reworded is an error said again in other words; errors.Is still finds its kind.
type reworded struct {
	msg string
	err error
}

func (r reworded) Error() string { return r.msg }
func (r reworded) Unwrap() error { return r.err }

// roles loads -policy and parses -rename-roles.
func (w *where) roles() (*rbac.Policy, map[rbac.Role]rbac.Role, error) {
	var policy *rbac.Policy
	if w.policy != "" {
		text, err := os.ReadFile(w.policy)
		if err != nil {
			return nil, nil, fmt.Errorf("read policy: %w", err)
		}
		if policy, err = rbac.Load(rbac.Options{Policy: string(text)}); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", w.policy, err)
		}
	}
	var renames map[rbac.Role]rbac.Role
	for _, pair := range strings.Split(w.renames, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		from, to, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			return nil, nil, fmt.Errorf("-rename-roles %q: write old=new, comma-separated", pair)
		}
		if renames == nil {
			renames = map[rbac.Role]rbac.Role{}
		}
		renames[rbac.Role(strings.TrimSpace(from))] = rbac.Role(strings.TrimSpace(to))
	}
	return policy, renames, nil
}

func newUserID() string { return "usr_" + ulid.Make().String() }

func setupCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email of the first (platform) user; required")
	wsName := fs.String("workspace", "default", "name of the first workspace")
	data := storeFlags(fs, getenv)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *email == "" {
		return usageError{"setup needs -email"}
	}
	m, closeAll, err := openManager(data)
	if err != nil {
		return err
	}
	defer closeAll()
	sys := tenancy.System()
	users, err := m.ListUsers(ctx, sys, tenancy.MemberListOptions{Limit: 1})
	if err != nil {
		return err
	}
	if len(users.Items) > 0 {
		return fmt.Errorf("%s is already set up (it has users): setup runs once; create more users by invitation", data)
	}
	u, err := m.RegisterUser(ctx, sys, tenancy.NewUser{ID: newUserID(), Email: *email, Name: "admin"})
	if err != nil {
		return err
	}
	if _, err := m.SetPlatform(ctx, sys, u.ID, true); err != nil {
		return err
	}
	w, err := m.CreateWorkspace(ctx, sys, tenancy.NewWorkspace{Name: *wsName, OwnerID: u.ID})
	if err != nil {
		return err
	}
	tok, err := m.CreateToken(ctx, tenancy.User(u.ID), tenancy.NewToken{Name: "setup", Lifetime: 365 * 24 * time.Hour})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created platform user %s (%s) and workspace %q (%s)\n", u.Email, u.ID, w.Name, w.ID)
	fmt.Fprintf(stdout, "your personal token (shown once, valid one year):\n\n  %s\n\n", tok.Secret)
	fmt.Fprintf(stdout, "export TENANCY_TOKEN=%s\n", tok.Secret)
	return nil
}

func serveCmd(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(getenv, "TENANCY_ADDR", "127.0.0.1:8080"), "listen address ($TENANCY_ADDR)")
	publicURL := fs.String("public-url", getenv("TENANCY_PUBLIC_URL"), "the server's URL as people reach it, for invitation links (default http://ADDR; $TENANCY_PUBLIC_URL)")
	data := storeFlags(fs, getenv)
	verify := verifyBackground
	fs.Var(&verify, "verify", "check every invariant of the store: background (serve at once, report on /readyz and in the log), true (before serving: today's blocking check) or false")
	// The relay's URL may hold a password: its default is read after parsing, so
	// -h never prints it.
	smtpURL := fs.String("smtp-url", "", "SMTP relay for invitation links and email-change codes, smtp://user:password@host:port (STARTTLS when offered) or smtps://… (default $TENANCY_SMTP_URL; without one, nothing is mailed)")
	mailFrom := fs.String("mail-from", getenv("TENANCY_MAIL_FROM"), "the address mail is sent from, with -smtp-url ($TENANCY_MAIL_FROM)")
	mailTemplates := fs.String("mail-templates", "", "folder of plain-text templates replacing the built-in ones: invitation.txt, email_change.txt (first line \"Subject: …\")")
	fs.BoolVar(&data.webhookPrivate, "webhook-allow-private", getenv("TENANCY_WEBHOOK_ALLOW_PRIVATE") == "1",
		"let webhook endpoints use http:// and private addresses (loopback, 10/8, 192.168/16, …), for a server on a private network; default: https and public addresses only ($TENANCY_WEBHOOK_ALLOW_PRIVATE=1)")
	metrics := fs.Bool("metrics", true, "serve Prometheus metrics at /metrics (traces go over OTLP when $OTEL_EXPORTER_OTLP_ENDPOINT is set)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *smtpURL == "" {
		*smtpURL = getenv("TENANCY_SMTP_URL")
	}
	// Bind first: a port in use must fail before a data file or key is made.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if *metrics || getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		if data.tel, err = newObservability(ctx, getenv); err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
		if !*metrics {
			data.tel.metrics = nil
		}
		// Last, after the Manager closed: the spans of its last writes go out.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := data.tel.shutdown(sctx); err != nil {
				log.Warn("telemetry: flush at shutdown", "err", err)
			}
		}()
	}
	m, closeAll, err := openManager(data)
	if err != nil {
		return err
	}
	defer closeAll()
	var ml *mailer
	if *smtpURL != "" {
		if ml, err = newMailer(*smtpURL, *mailFrom, *mailTemplates, m); err != nil {
			return usageError{err.Error()}
		}
	} else if *mailTemplates != "" {
		return usageError{"-mail-templates needs -smtp-url (or TENANCY_SMTP_URL): without a relay nothing is mailed"}
	}
	// The checks that must pass before serving (the file's header and schema version,
	// the secret key's check value) ran when the store and Manager opened. The full
	// Verify reads the whole store, so by default it runs beside serving and reports
	// on /readyz and in the log; -verify=true keeps the old refuse-before-serving check.
	ready := &readiness{ping: func(ctx context.Context) error {
		err := m.Ping(ctx)
		if err != nil {
			log.Warn("readyz: the database does not answer", "err", err)
		}
		return err
	}}
	switch verify {
	case verifyBlocking:
		if err := ready.run(ctx, m, log); err != nil {
			return fmt.Errorf("verify %s: %w", data, err)
		}
		if n := ready.snapshot().Findings; n > 0 {
			return fmt.Errorf("%s failed verification with %d findings: restore a backup", data, n)
		}
	case verifyOff:
		ready.skip()
	}
	base := *publicURL
	if base == "" {
		base = "http://" + ln.Addr().String()
	}
	srv := &http.Server{
		Handler:           newHandler(m, base, log, ready, ml, data.kits.desc, data.tel),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "data", data.String(), "mail", ml.describe(),
		"metrics", data.tel != nil && data.tel.metrics != nil, "traces", data.tel != nil && data.tel.tracing)
	verifyDone := make(chan struct{})
	if verify == verifyBackground {
		go func() {
			defer close(verifyDone)
			if err := ready.run(ctx, m, log); err != nil && ctx.Err() == nil {
				log.Error("verify", "err", err)
			}
		}()
	} else {
		close(verifyDone)
	}
	// Every instance delivers webhooks; a lease in the store gives each endpoint to
	// one of them at a time.
	deliverDone := make(chan struct{})
	go func() {
		defer close(deliverDone)
		host, _ := os.Hostname()
		_ = m.DeliverWebhooks(ctx, tenancy.DeliverOptions{Instance: fmt.Sprintf("%s-%d", host, os.Getpid()),
			OnError: func(id string, err error) { log.Warn("webhook delivery", "webhook", id, "err", err) }})
	}()
	// The background check and the deliverer read the store: they end before it closes.
	defer func() { stop(); <-verifyDone; <-deliverDone }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Let in-flight requests finish, then close the Manager and the store.
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// newHandler is the whole server: the REST API under /api/v1, the page invitation
// links open, /healthz (the process answers), /readyz (the store's check), and one
// log line per request. ready may be nil: no check is reported. ml may be nil: no
// mail is sent, invitation links go back to the inviter only, and self-service
// email changes are refused. tel may be nil: no /metrics, no traces.
func newHandler(m *tenancy.Manager, publicURL string, log *slog.Logger, ready *readiness, ml *mailer, kits map[string]string, tel *observability) http.Handler {
	opts := httpapi.Options{
		Logger:                 log,
		StarterKitDescriptions: kits,
		// The secret goes in the fragment, which browsers never send: it reaches no
		// access log. The page below posts it to the API.
		AcceptURL: func(secret string) string { return strings.TrimRight(publicURL, "/") + "/invite#token=" + secret },
	}
	if ml != nil {
		opts.SendMail = func(ctx context.Context, msg httpapi.Mail) error {
			// The details (the relay's address, its answer) go to the log, where
			// the operator reads them; the caller learns that the send failed.
			if err := ml.send(ctx, msg, publicURL); err != nil {
				log.Error("mail not sent", "kind", string(msg.Kind), "error", err)
				return errors.New("the server could not send the mail (its log says why); try again later")
			}
			return nil
		}
	}
	api := httpapi.New(m, opts)
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", http.StripPrefix("/api/v1", api))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	if ready != nil {
		mux.HandleFunc("GET /readyz", ready.serveHTTP)
	}
	// The web console at /, signed in with a personal token; its /invite page is
	// where invitation links lead.
	if c, err := consoleHandler(m, opts.AcceptURL, opts.SendMail); err != nil {
		log.Error("console disabled", "error", err)
	} else {
		mux.Handle("/", c)
	}
	h := httpapi.LogRequests(log)(mux)
	if tel == nil {
		return h
	}
	if tel.metrics != nil {
		// Unauthenticated, as Prometheus scrapes: the series name operations,
		// routes and outcomes, never a tenant's ID or data.
		mux.Handle("GET /metrics", tel.metrics)
	}
	observe, err := httpapi.Observe(httpapi.ObserveOptions{TracerProvider: tel.tracers, MeterProvider: tel.meters, Propagator: tel.prop})
	if err != nil {
		log.Error("HTTP metrics disabled", "error", err)
		return h
	}
	return observe(h)
}
