package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/tenancykit/tenancy"
	"github.com/tenancykit/tenancy/httpapi"
)

// mailer sends the server's mail through an SMTP relay: invitation links (on invite
// and resend) and the secrets that prove a new email address. It upgrades the
// connection with STARTTLS whenever the relay offers it, and sends credentials only
// over TLS (or to a relay on loopback). Messages are plain text from templates a
// host can replace (-mail-templates DIR: invitation.txt, email_change.txt).
type mailer struct {
	addr     string // host:port
	host     string
	implicit bool // smtps://: TLS from the first byte
	auth     smtp.Auth
	from     string
	roots    *x509.CertPool // nil: the system's; tests trust their own relay
	tmpl     map[httpapi.MailKind]*template.Template
	m        *tenancy.Manager // names the workspace of an invitation
}

// The default templates. The first line is the subject; the body follows a blank
// line. Fields: .To, .URL (the link), .Secret, .ExpiresAt, .Workspace (its name),
// .Role, .Server (the public URL).
var defaultTemplates = map[httpapi.MailKind]string{
	httpapi.KindInvitation: `Subject: You are invited to join {{.Workspace}}

Hello,

You have been invited to join the workspace {{.Workspace}} as {{.Role}}.
Open this link to accept the invitation (it works once, until {{.ExpiresAt}}):

{{.URL}}

If you did not expect this invitation, ignore this message.
`,
	httpapi.KindEmailChange: `Subject: Confirm your new email address

Hello,

Someone (hopefully you) asked to make {{.To}} the email address of an account on
{{.Server}}. To confirm, run

    server user email-confirm --url {{.Server}}

and paste this code when asked (it works once, until {{.ExpiresAt}}):

{{.Secret}}

If you did not ask for this, ignore this message: nothing changes without the code.
`,
}

// newMailer reads an SMTP URL (smtp://user:pass@host:port, or smtps:// for TLS from
// the start), the sender address and an optional template folder.
func newMailer(rawURL, from, templateDir string, m *tenancy.Manager) (*mailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || u.Scheme != "smtp" && u.Scheme != "smtps" {
		return nil, errors.New("-smtp-url must look like smtp://user:password@host:port (or smtps://)")
	}
	if from == "" {
		return nil, errors.New("-mail-from is required with -smtp-url: the address mail is sent from")
	}
	if _, err := mailAddress(from); err != nil {
		return nil, fmt.Errorf("-mail-from: %w", err)
	}
	ml := &mailer{host: u.Hostname(), implicit: u.Scheme == "smtps", from: from, m: m, tmpl: map[httpapi.MailKind]*template.Template{}}
	port := u.Port()
	if port == "" {
		port = map[bool]string{false: "587", true: "465"}[ml.implicit]
	}
	ml.addr = net.JoinHostPort(ml.host, port)
	if u.User != nil {
		pass, _ := u.User.Password()
		ml.auth = smtp.PlainAuth("", u.User.Username(), pass, ml.host)
	}
	for kind, text := range defaultTemplates {
		name := string(kind) + ".txt"
		if templateDir != "" {
			b, err := os.ReadFile(filepath.Join(templateDir, name))
			switch {
			case err == nil:
				text = string(b)
			case !errors.Is(err, os.ErrNotExist):
				return nil, fmt.Errorf("mail template: %w", err)
			}
		}
		t, err := template.New(name).Option("missingkey=error").Parse(text)
		if err != nil {
			return nil, fmt.Errorf("mail template %s: %w", name, err)
		}
		// A mistake in a host's template shows now, when serve starts, rather
		// than as a failed send in front of the first invitee.
		var sample bytes.Buffer
		if err := t.Execute(&sample, mailData{}); err != nil {
			return nil, fmt.Errorf("mail template %s: %w", name, err)
		}
		if _, _, err := splitSubject(sample.String()); err != nil {
			return nil, fmt.Errorf("mail template %s: %w", name, err)
		}
		ml.tmpl[kind] = t
	}
	return ml, nil
}

// splitSubject cuts a rendered template into its subject (the first line, which
// must read "Subject: …", folded onto one line) and body.
func splitSubject(text string) (subject, body string, err error) {
	first, body, ok := strings.Cut(text, "\n")
	subject, hasSubject := strings.CutPrefix(first, "Subject:")
	if !ok || !hasSubject {
		return "", "", errors.New(`the first line must be "Subject: …", then the body`)
	}
	subject = strings.Join(strings.Fields(subject), " ") // no line breaks reach the header
	return subject, strings.TrimLeft(body, "\r\n"), nil
}

// describe names where mail goes, for the startup log: the relay without its
// credentials.
func (ml *mailer) describe() string {
	if ml == nil {
		return "off (no -smtp-url)"
	}
	scheme := "smtp"
	if ml.implicit {
		scheme = "smtps"
	}
	return scheme + "://" + ml.addr + " from " + ml.from
}

// mailAddress checks an address for a header: one plain addr-spec, no name, no
// line breaks.
func mailAddress(a string) (string, error) {
	if a == "" || strings.ContainsAny(a, "\r\n<>,\" ") || strings.Count(a, "@") != 1 {
		return "", fmt.Errorf("%q is not a plain email address", a)
	}
	return a, nil
}

// mailData is what a template sees.
type mailData struct {
	To, URL, Secret, ExpiresAt, Workspace, Role, Server string
}

// render makes the message: headers, then the body as quoted-printable UTF-8.
func (ml *mailer) render(ctx context.Context, msg httpapi.Mail, server string) ([]byte, error) {
	to, err := mailAddress(msg.To)
	if err != nil {
		return nil, err
	}
	d := mailData{To: to, URL: msg.URL, Secret: msg.Secret, ExpiresAt: msg.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"),
		Role: string(msg.Invitation.Role), Server: server, Workspace: msg.Invitation.WorkspaceID}
	if msg.Kind == httpapi.KindInvitation {
		if w, err := ml.m.GetWorkspace(ctx, tenancy.System(), msg.Invitation.WorkspaceID); err == nil {
			d.Workspace = w.Name
		}
	}
	t := ml.tmpl[msg.Kind]
	if t == nil {
		return nil, fmt.Errorf("no template for %s mail", msg.Kind)
	}
	var text bytes.Buffer
	if err := t.Execute(&text, d); err != nil {
		return nil, fmt.Errorf("mail template %s: %w", t.Name(), err)
	}
	subject, body, err := splitSubject(text.String())
	if err != nil {
		return nil, fmt.Errorf("mail template %s: %w", t.Name(), err)
	}
	id := make([]byte, 12)
	_, _ = rand.Read(id)
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", ml.from}, {"To", to}, {"Subject", mime.QEncoding.Encode("utf-8", subject)},
		{"Date", time.Now().UTC().Format(time.RFC1123Z)},
		{"Message-ID", fmt.Sprintf("<%x@%s>", id, ml.host)},
		{"MIME-Version", "1.0"}, {"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	} {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes(), nil
}

// send delivers msg. The error names the step that failed, never the secret.
func (ml *mailer) send(ctx context.Context, msg httpapi.Mail, server string) error {
	data, err := ml.render(ctx, msg, server)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tlsConfig := &tls.Config{ServerName: ml.host, RootCAs: ml.roots, MinVersion: tls.VersionTLS12}
	var conn net.Conn
	if ml.implicit {
		conn, err = (&tls.Dialer{Config: tlsConfig}).DialContext(ctx, "tcp", ml.addr)
	} else {
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", ml.addr)
	}
	if err != nil {
		return fmt.Errorf("smtp: connect to %s: %w", ml.addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, ml.host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %s: %w", ml.addr, err)
	}
	defer c.Close()
	if !ml.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConfig); err != nil {
				return fmt.Errorf("smtp: STARTTLS: %w", err)
			}
		}
	}
	if ml.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: the relay offers no AUTH, but -smtp-url has credentials")
		}
		if err := c.Auth(ml.auth); err != nil {
			return fmt.Errorf("smtp: AUTH: %w", err)
		}
	}
	if err := c.Mail(ml.from); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(msg.To); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	return c.Quit()
}
