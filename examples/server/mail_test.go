package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tenancykit/tenancy"
)

// relay is a real SMTP server in the test process (go-smtp): it offers STARTTLS
// with its own certificate, takes PLAIN credentials, and keeps what arrived.
type relay struct {
	addr  string
	roots *x509.CertPool // trusts the relay's certificate

	mu       sync.Mutex
	received []received
	refuse   bool // answer RCPT with 550, as a relay that rejects the address
}

// received is one message as the relay saw it.
type received struct {
	from, to string
	tls      bool // the message travelled over TLS
	authed   bool
	header   mail.Header
	body     string // decoded
}

const relayUser, relayPass = "mailer", "s3cret-relay-pass"

func startRelay(t *testing.T, withTLS bool) *relay {
	t.Helper()
	r := &relay{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &relaySession{r: r, c: c}, nil }))
	srv.Domain = "relay.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = nopLogger{}
	if withTLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		r.roots = pool
	} else {
		srv.AllowInsecureAuth = true
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *relay) mails() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.received...)
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

type relaySession struct {
	r        *relay
	c        *smtp.Conn
	authed   bool
	from, to string
}

func (s *relaySession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *relaySession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != relayUser || pass != relayPass {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	refuse := s.r.refuse
	s.r.mu.Unlock()
	if refuse {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
	}
	s.to = to
	return nil
}

func (s *relaySession) Data(rd io.Reader) error {
	msg, err := mail.ReadMessage(rd)
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(msg.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	_, isTLS := s.c.TLSConnectionState()
	s.r.mu.Lock()
	s.r.received = append(s.r.received, received{from: s.from, to: s.to, tls: isTLS, authed: s.authed, header: msg.Header,
		body: strings.ReplaceAll(string(b), "\r\n", "\n")})
	s.r.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        {}
func (s *relaySession) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// mailServer is the test server mailing through r with the relay's credentials.
func mailServer(t *testing.T, r *relay, templateDir string, log io.Writer) *testServer {
	t.Helper()
	return startServerWith(t, func(m *tenancy.Manager) *mailer {
		ml, err := newMailer("smtp://"+relayUser+":"+relayPass+"@"+r.addr, "tenancy@example.com", templateDir, m)
		if err != nil {
			t.Fatal(err)
		}
		ml.roots = r.roots
		return ml
	}, log)
}

// With a relay, an invitation's link and its resends reach the invitee by mail,
// over STARTTLS with the relay's credentials, and the link in the mail accepts.
func TestServerMailsInvitations(t *testing.T) {
	r := startRelay(t, true)
	var logs syncBuffer
	s := mailServer(t, r, "", &logs)
	env := func(k string) string {
		return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": s.admin}[k]
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"invite", "--workspace", s.wsID, "--email", "Ada@Example.com", "--role", "editor"}, strings.NewReader(""), &out, &errOut, env); code != 0 {
		t.Fatalf("invite: %d %s %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "the server mailed them the link") {
		t.Errorf("invite output: %q", out.String())
	}
	got := r.mails()
	if len(got) != 1 {
		t.Fatalf("%d mails arrived, want 1", len(got))
	}
	m := got[0]
	if m.to != "ada@example.com" || m.from != "tenancy@example.com" || !m.tls || !m.authed {
		t.Errorf("mail envelope: to %q from %q tls %v auth %v", m.to, m.from, m.tls, m.authed)
	}
	if subj := m.header.Get("Subject"); subj != "You are invited to join default" {
		t.Errorf("subject %q", subj)
	}
	if m.header.Get("To") != "ada@example.com" || m.header.Get("From") != "tenancy@example.com" || m.header.Get("Message-Id") == "" {
		t.Errorf("headers %v", m.header)
	}
	link := regexp.MustCompile(`http://\S+/invite#token=(tnci_\S+)`).FindStringSubmatch(m.body)
	if link == nil || !strings.Contains(m.body, "as editor") {
		t.Fatalf("the mail holds no link: %q", m.body)
	}
	// The inviter's answer and the mail hold the same link.
	if !strings.Contains(out.String(), link[0]) {
		t.Errorf("the link mailed differs from the link answered: %q vs %q", link[0], out.String())
	}
	// A resend mails a fresh link; the first stops working.
	st, list := s.call(t, "GET", "/api/v1/admin/workspace/invites", s.admin, nil, "X-Workspace-ID", s.wsID)
	want(t, "list invitations", st, list, http.StatusOK, "")
	invID := list["data"].([]any)[0].(map[string]any)["invitation_id"].(string)
	st, body := s.call(t, "POST", "/api/v1/admin/workspace/invites/"+invID+"/resend", s.admin, nil)
	want(t, "resend", st, body, http.StatusOK, "")
	if mj, _ := body["mail"].(map[string]any); mj["sent"] != true {
		t.Errorf("resend answer: %v", body)
	}
	got = r.mails()
	if len(got) != 2 {
		t.Fatalf("%d mails after the resend, want 2", len(got))
	}
	link2 := regexp.MustCompile(`/invite#token=(tnci_\S+)`).FindStringSubmatch(got[1].body)
	if link2 == nil || link2[1] == link[1] {
		t.Fatalf("the resend's mail: %q", got[1].body)
	}
	st, body = s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": link[1], "name": "Ada"})
	want(t, "accept with the replaced link", st, body, http.StatusNotFound, "")
	st, body = s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": link2[1], "name": "Ada"})
	if st != http.StatusOK {
		t.Errorf("accept with the mailed link: %d %v", st, body)
	}
	for _, secret := range []string{link[1], link2[1], relayPass} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the server's log holds a secret: %s", logs.String())
		}
	}
}

// A self-service email change mails a code to the new address; the address
// changes only when the code comes back, through the CLI's two commands.
func TestServerMailsEmailChange(t *testing.T) {
	r := startRelay(t, true)
	s := mailServer(t, r, "", io.Discard)
	env := func(k string) string {
		return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": s.admin}[k]
	}
	cli := func(stdin string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, env)
		return code, out.String(), errOut.String()
	}
	code, out, errs := cli("", "user", "email-change", "--email", "root@new.example.com")
	if code != 0 || !strings.Contains(out, "a code went to root@new.example.com") {
		t.Fatalf("email-change: %d %q %q", code, out, errs)
	}
	got := r.mails()
	if len(got) != 1 || got[0].to != "root@new.example.com" || got[0].header.Get("Subject") != "Confirm your new email address" {
		t.Fatalf("mails: %+v", got)
	}
	secret := regexp.MustCompile(`tnce_\S+`).FindString(got[0].body)
	if secret == "" || strings.Contains(out, secret) {
		t.Fatalf("code %q; CLI output %q", secret, out)
	}
	st, me := s.call(t, "GET", "/api/v1/user", s.admin, nil)
	if st != http.StatusOK || me["email"] != "admin@example.com" {
		t.Errorf("changed before the code came back: %v", me)
	}
	// The code is never taken from the command line.
	if code, _, errs := cli("", "user", "email-confirm", secret); code != 2 || !strings.Contains(errs, "never from the command line") {
		t.Errorf("email-confirm with an argument: %d %q", code, errs)
	}
	wrong := secret[:len(secret)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(secret, "A")]
	if code, _, errs := cli(wrong+"\n", "user", "email-confirm"); code != 1 || !strings.Contains(errs, "a typo?") {
		t.Errorf("email-confirm with a mistyped code: %d %q", code, errs)
	}
	code, out, errs = cli(secret+"\n", "user", "email-confirm")
	if code != 0 || !strings.Contains(out, "your email address is now root@new.example.com") {
		t.Fatalf("email-confirm: %d %q %q", code, out, errs)
	}
	st, me = s.call(t, "GET", "/api/v1/user", s.admin, nil)
	if st != http.StatusOK || me["email"] != "root@new.example.com" {
		t.Errorf("after the proof: %v", me)
	}
}

// A relay that refuses the mail: the invitation is kept and works, the answer and
// the CLI say the mail was not sent, and no log holds the secret.
func TestServerMailFailure(t *testing.T) {
	r := startRelay(t, true)
	r.mu.Lock()
	r.refuse = true
	r.mu.Unlock()
	var logs syncBuffer
	s := mailServer(t, r, "", &logs)
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "bo@example.com", "workspace_id": s.wsID, "role": "viewer"})
	want(t, "invite, relay refusing", st, inv, http.StatusCreated, "")
	mj, _ := inv["mail"].(map[string]any)
	if mj["sent"] != false || !strings.Contains(mj["error"].(string), "could not send") {
		t.Errorf("a failed send is not reported: %v", inv)
	}
	if strings.Contains(mj["error"].(string), r.addr) {
		t.Errorf("the answer names the relay: %v", mj)
	}
	secret := inv["token"].(string)
	if l := logs.String(); !strings.Contains(l, "mail not sent") || !strings.Contains(l, "550") || strings.Contains(l, secret) || strings.Contains(l, relayPass) {
		t.Errorf("the log after a failed send: %s", l)
	}
	st, body := s.call(t, "POST", "/api/v1/invites/accept", "", map[string]string{"token": secret, "name": "Bo"})
	if st != http.StatusOK {
		t.Errorf("the invitation was lost with the mail: %d %v", st, body)
	}
	// The CLI says so too.
	env := func(k string) string {
		return map[string]string{"TENANCY_URL": s.url, "TENANCY_TOKEN": s.admin}[k]
	}
	var out bytes.Buffer
	if code := run(ctx, []string{"invite", "--workspace", s.wsID, "--email", "cy@example.com", "--role", "viewer"}, strings.NewReader(""), &out, io.Discard, env); code != 0 ||
		!strings.Contains(out.String(), "the mail was not sent") || !strings.Contains(out.String(), "/invite#token=tnci_") {
		t.Errorf("invite output with the relay refusing: %d %q", code, out.String())
	}
	// An email change whose code was not sent fails in the CLI, and nothing changes.
	out.Reset()
	var errOut bytes.Buffer
	if code := run(ctx, []string{"user", "email-change", "--email", "x@new.example.com"}, strings.NewReader(""), &out, &errOut, env); code != 1 ||
		!strings.Contains(errOut.String(), "was not sent") {
		t.Errorf("email-change with the relay refusing: %d %q %q", code, out.String(), errOut.String())
	}
	if _, me := s.call(t, "GET", "/api/v1/user", s.admin, nil); me["email"] != "admin@example.com" {
		t.Errorf("email after a failed send: %v", me)
	}
}

// Without a relay invitations work as before (the link goes to the inviter) and a
// self-service email change is refused with the reason.
func TestServerWithoutMail(t *testing.T) {
	s := startServer(t)
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "dee@example.com", "workspace_id": s.wsID, "role": "viewer"})
	want(t, "invite without mail", st, inv, http.StatusCreated, "")
	if _, ok := inv["mail"]; ok || inv["accept_url"] == nil {
		t.Errorf("invitation without mail: %v", inv)
	}
	st, body := s.call(t, "POST", "/api/v1/user/email-change", s.admin, map[string]string{"email": "new@example.com"})
	want(t, "email change without mail", st, body, http.StatusConflict, "cannot send mail")
}

// Templates in -mail-templates replace the built-in ones, one file at a time; a
// broken template is refused when serve starts, not at the first send.
func TestMailTemplates(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "invitation.txt"), []byte("Subject: Join {{.Workspace}} on Acme\n\nHi! {{.URL}}\nRole: {{.Role}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, true)
	s := mailServer(t, r, dir, io.Discard)
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", s.admin, map[string]string{"email": "ed@example.com", "workspace_id": s.wsID, "role": "viewer"})
	want(t, "invite", st, inv, http.StatusCreated, "")
	got := r.mails()
	if len(got) != 1 || got[0].header.Get("Subject") != "Join default on Acme" || !strings.HasPrefix(got[0].body, "Hi! http://") || !strings.Contains(got[0].body, "Role: viewer") {
		t.Fatalf("mail from the host's template: %+v", got)
	}
	// email_change.txt was not replaced: the built-in one is used.
	st, _ = s.call(t, "POST", "/api/v1/user/email-change", s.admin, map[string]string{"email": "a2@example.com"})
	if got := r.mails(); st != http.StatusAccepted || len(got) != 2 || got[1].header.Get("Subject") != "Confirm your new email address" {
		t.Errorf("the built-in email-change template: %d %+v", st, got)
	}

	for name, text := range map[string]string{
		"a field that does not exist":    "Subject: x\n\n{{.Nope}}",
		"a template that does not parse": "Subject: x\n\n{{",
		"no subject line":                "Hello {{.URL}}",
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, "email_change.txt"), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := newMailer("smtp://"+r.addr, "a@example.com", bad, nil); err == nil || !strings.Contains(err.Error(), "email_change.txt") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The relay URL and sender are checked when serve starts; the URL's password never
// appears in -h, where flag defaults are printed.
func TestServeMailFlags(t *testing.T) {
	for _, tc := range []struct{ url, from, want string }{
		{"http://host:25", "a@example.com", "must look like smtp://"},
		{"smtp://", "a@example.com", "must look like smtp://"},
		{"smtp://host:25", "", "-mail-from is required"},
		{"smtp://host:25", "Eve <eve@example.com>", "not a plain email address"},
		{"smtp://host:25", "a@example.com\r\nBcc: x@example.com", "not a plain email address"},
	} {
		if _, err := newMailer(tc.url, tc.from, "", nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("newMailer(%q, %q): %v, want %q", tc.url, tc.from, err, tc.want)
		}
	}
	env := func(k string) string {
		return map[string]string{"TENANCY_SMTP_URL": "smtp://u:" + relayPass + "@127.0.0.1:1"}[k]
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"serve", "-h"}, nil, &out, &errOut, env); code != 0 || strings.Contains(out.String()+errOut.String(), relayPass) ||
		!strings.Contains(errOut.String(), "-smtp-url") {
		t.Errorf("serve -h: %d, printed %q", code, out.String()+errOut.String())
	}
	data := filepath.Join(t.TempDir(), "t.db")
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, io.Discard, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	errOut.Reset()
	if code := run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-data", data}, nil, io.Discard, &errOut, env); code != 2 ||
		!strings.Contains(errOut.String(), "-mail-from is required") || strings.Contains(errOut.String(), relayPass) {
		t.Errorf("serve with TENANCY_SMTP_URL and no sender: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"serve", "-addr", "127.0.0.1:0", "-data", data, "-mail-templates", t.TempDir()}, nil, io.Discard, &errOut, os.Getenv); code != 2 ||
		!strings.Contains(errOut.String(), "-mail-templates needs -smtp-url") {
		t.Errorf("serve with templates and no relay: %d %q", code, errOut.String())
	}
}

// The serve command itself mails through -smtp-url: a relay on loopback without
// TLS, whose credentials the URL carries, gets the invitation.
func TestServeMailsThroughItsFlags(t *testing.T) {
	r := startRelay(t, false)
	data := filepath.Join(t.TempDir(), "t.db")
	var out bytes.Buffer
	if code := run(ctx, []string{"setup", "-email", "a@example.com", "-data", data}, nil, &out, io.Discard, os.Getenv); code != 0 {
		t.Fatal("setup failed")
	}
	admin := regexp.MustCompile(`TENANCY_TOKEN=(\S+)`).FindStringSubmatch(out.String())[1]
	wsID := regexp.MustCompile(`\((ws_\w+)\)`).FindStringSubmatch(out.String())[1]
	addr, logs, stop := serveInBackground(t, "-data", data, "-smtp-url", "smtp://"+relayUser+":"+relayPass+"@"+r.addr, "-mail-from", "ops@example.com")
	defer stop()
	if l := logs.String(); !strings.Contains(l, "smtp://"+r.addr) || strings.Contains(l, relayPass) {
		t.Errorf("startup log: %s", l)
	}
	s := &testServer{url: "http://" + addr, admin: admin, wsID: wsID}
	st, inv := s.call(t, "POST", "/api/v1/admin/workspace/invites", admin, map[string]string{"email": "fi@example.com", "workspace_id": wsID, "role": "viewer"})
	want(t, "invite", st, inv, http.StatusCreated, "")
	got := r.mails()
	if len(got) != 1 || got[0].to != "fi@example.com" || got[0].from != "ops@example.com" || !got[0].authed || got[0].tls {
		t.Fatalf("mails: %+v", got)
	}
	if !strings.Contains(got[0].body, "http://"+addr+"/invite#token=tnci_") {
		t.Errorf("the link in the mail: %q", got[0].body)
	}
}
