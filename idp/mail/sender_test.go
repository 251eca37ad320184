package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/internal/lockedbuf"
	"github.com/gatehouse-auth/gatehouse/internal/mailbox"
)

// The Sender is the IdP's Mailer (idp imports mail, so the check lives
// here).
var _ idp.Mailer = (*mail.Sender)(nil)

const secretLink = "https://store.example/reset-password?id=s3cr3t-reset-id-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// server is a mailbox SMTP server on loopback.
type server struct {
	mb   *mailbox.Mailbox
	addr string
	dir  string
}

// startMailbox serves a mailbox on addr ("127.0.0.1:0" for any port).
func startMailbox(t *testing.T, addr string, tc *tls.Config) *server {
	t.Helper()
	dir := t.TempDir()
	mb, err := mailbox.New(mailbox.Config{Dir: dir, TLSConfig: tc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mb.ServeSMTP(ln) }()
	t.Cleanup(func() { _ = mb.Close() })
	return &server{mb: mb, addr: ln.Addr().String(), dir: dir}
}

// waitMessages waits until s holds n messages and returns them.
func (s *server) waitMessages(t *testing.T, n int) []mailbox.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, err := s.mb.Messages()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailbox holds %d messages, want %d", len(msgs), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the log holds want.
func waitLog(t *testing.T, log *lockedbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", want, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newSender builds a Sender with fast retries and a captured log; the
// test closes it.
func newSender(t *testing.T, cfg mail.Config) (*mail.Sender, *lockedbuf.Buffer) {
	t.Helper()
	log := new(lockedbuf.Buffer)
	if cfg.From == "" {
		cfg.From = "Gatehouse <no-reply@gatehouse.test>"
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 5 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	cfg.Logger = slog.New(slog.NewTextHandler(log, nil))
	s, err := mail.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, log
}

func resetMessage(to string) mail.Message {
	return mail.Message{To: to, Template: mail.TemplatePasswordReset, Data: mail.Data{
		AppName: "Gatehouse Store", Email: to, Link: secretLink, ValidFor: "15 minutes"}}
}

func plainURL(addr string) string { return "smtp://" + addr + "?tls=none" }

func TestSendDeliversOverSMTP(t *testing.T) {
	srv := startMailbox(t, "127.0.0.1:0", nil)
	s, log := newSender(t, mail.Config{SMTPURL: plainURL(srv.addr)})
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	got := srv.waitMessages(t, 1)[0]
	if got.To != "alice@example.com" || got.Subject != "Reset your Gatehouse Store password" {
		t.Errorf("to %q subject %q", got.To, got.Subject)
	}
	if len(got.Links) != 1 || got.Links[0] != secretLink {
		t.Errorf("links %q, want the reset link whole (quoted-printable undone)", got.Links)
	}
	if !strings.Contains(got.Text, "15 minutes") || !strings.Contains(got.Text, "alice@example.com") {
		t.Errorf("text:\n%s", got.Text)
	}
	waitLog(t, log, "mail delivered")
	if strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("the log shows the link (IDP-MAIL-3):\n%s", log.String())
	}
}

// Every template renders, with a text and an HTML part, and the HTML
// part escapes what the data holds.
func TestBuiltinTemplates(t *testing.T) {
	srv := startMailbox(t, "127.0.0.1:0", nil)
	s, _ := newSender(t, mail.Config{SMTPURL: plainURL(srv.addr)})
	names := []string{mail.TemplateVerifyEmail, mail.TemplateSignupExisting, mail.TemplatePasswordReset,
		mail.TemplatePasswordChanged, mail.TemplateEmailChangeVerify, mail.TemplateEmailChanged}
	for _, n := range names {
		err := s.Send(context.Background(), mail.Message{To: "bob@example.com", Template: n, Data: mail.Data{
			AppName: "Forums <b>", Email: "bob@example.com", NewEmail: "new@example.com", Link: secretLink, ValidFor: "24 hours"}})
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	msgs := srv.waitMessages(t, len(names))
	for _, m := range msgs {
		if !strings.Contains(m.Subject, "Forums <b>") || strings.Contains(m.Text, "{{") {
			t.Errorf("subject %q text:\n%s", m.Subject, m.Text)
		}
		raw := srv.raw(t, m.ID)
		if !strings.Contains(raw, "text/html") || !strings.Contains(raw, "text/plain") {
			t.Errorf("%s: want a text and an HTML part:\n%s", m.Subject, raw)
		}
		if !strings.Contains(raw, "Forums &lt;b&gt;") {
			t.Errorf("%s: the HTML part does not escape the data:\n%s", m.Subject, raw)
		}
	}
}

// raw returns a stored message's file, quoted-printable soft line
// breaks removed.
func (s *server) raw(t *testing.T, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, id+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(b))
}

// A server that is down when the mail is sent gets it once it is up.
func TestRetryUntilServerUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	s, log := newSender(t, mail.Config{SMTPURL: plainURL(addr), Attempts: 10000, MaxBackoff: 20 * time.Millisecond})
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "mail delivery failed: retrying")
	srv := startMailbox(t, addr, nil)
	if got := srv.waitMessages(t, 1)[0]; got.To != "alice@example.com" {
		t.Errorf("to %q", got.To)
	}
	waitLog(t, log, "mail delivered")
	if strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("the log shows the link (IDP-MAIL-3):\n%s", log.String())
	}
}

// After Attempts failures the mail is dropped with an error line that
// names the recipient and never the link.
func TestGaveUpIsLogged(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, log := newSender(t, mail.Config{SMTPURL: plainURL(addr), Attempts: 3})
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "mail not delivered: gave up")
	out := log.String()
	if !strings.Contains(out, "attempts=3") || !strings.Contains(out, "to=alice@example.com") || !strings.Contains(out, "template=password-reset") {
		t.Errorf("gave-up line lacks attempts, recipient or template:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t") {
		t.Errorf("the log shows the link (IDP-MAIL-3):\n%s", out)
	}
}

// A permanent refusal (here 552, message too big) ends the mail at
// once; retrying would not help.
func TestPermanentRefusalGivesUpAtOnce(t *testing.T) {
	mb, err := mailbox.New(mailbox.Config{Dir: t.TempDir(), MaxMessageBytes: 200, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mb.ServeSMTP(ln) }()
	t.Cleanup(func() { _ = mb.Close() })
	s, log := newSender(t, mail.Config{SMTPURL: plainURL(ln.Addr().String()), Attempts: 1000})
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "mail not delivered: gave up")
	if out := log.String(); !strings.Contains(out, "attempts=1 ") || !strings.Contains(out, "refused by the server") {
		t.Errorf("want one attempt, refused:\n%s", out)
	}
}

// hangingServer accepts connections and never answers, like a mail
// server that is stuck.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	// Registered before the Sender's cleanup, so it runs after: the
	// stuck conversation ends when Close cuts it... or when this closes.
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// Send never waits for the mail server: with the worker stuck in a
// conversation with a server that never answers, QueueSize mails are
// queued at once and the next is refused, not waited for.
func TestUnreachableServerNeverBlocksSend(t *testing.T) {
	addr := hangingServer(t)
	const size = 5
	s, log := newSender(t, mail.Config{SMTPURL: plainURL(addr), QueueSize: size, Timeout: time.Hour, CloseTimeout: time.Millisecond})
	for i := range size {
		if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); !errors.Is(err, mail.ErrQueueFull) {
		t.Fatalf("send beyond the queue: %v, want ErrQueueFull", err)
	}
	waitLog(t, log, "queue full")
}

// IDP-MAIL-1: smtp:// requires STARTTLS. A server that does not offer it
// (or an attacker who strips it) gets nothing; one that offers it gets
// the mail over TLS.
func TestIDPMAIL1_STARTTLSRequired(t *testing.T) {
	plain := startMailbox(t, "127.0.0.1:0", nil)
	s, log := newSender(t, mail.Config{SMTPURL: "smtp://" + plain.addr, Attempts: 2})
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "mail not delivered: gave up")
	if msgs, _ := plain.mb.Messages(); len(msgs) != 0 {
		t.Fatalf("a server without STARTTLS got the mail in plain text: %+v", msgs)
	}

	cert, pool := testCert(t)
	secure := startMailbox(t, "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	s2, _ := newSender(t, mail.Config{SMTPURL: "smtp://" + secure.addr, TLSConfig: &tls.Config{RootCAs: pool}})
	if err := s2.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	secure.waitMessages(t, 1)
}

// IDP-MAIL-1: plain SMTP (tls=none) is refused for any host but loopback.
func TestIDPMAIL1_PlainOnlyOnLoopback(t *testing.T) {
	for _, u := range []string{"smtp://127.0.0.1:25?tls=none", "smtp://localhost:2525?tls=none", "smtp://[::1]:25?tls=none"} {
		s, err := mail.New(mail.Config{SMTPURL: u, From: "a@example.com"})
		if err != nil {
			t.Errorf("%s: %v", u, err)
			continue
		}
		s.Close()
	}
	for _, u := range []string{"smtp://mail.example.com?tls=none", "smtp://10.0.0.1:25?tls=none", "smtp://0.0.0.0:25?tls=none", "smtps://127.0.0.1?tls=none"} {
		if s, err := mail.New(mail.Config{SMTPURL: u, From: "a@example.com"}); err == nil {
			s.Close()
			t.Errorf("%s accepted", u)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ok := mail.Config{SMTPURL: "smtps://user:pa%40ss@mail.example.com", From: "a@example.com"}
	s, err := mail.New(ok)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	bad := map[string]func(*mail.Config){
		"no URL":        func(c *mail.Config) { c.SMTPURL = "" },
		"no From":       func(c *mail.Config) { c.From = "" },
		"bad From":      func(c *mail.Config) { c.From = "not an address" },
		"http scheme":   func(c *mail.Config) { c.SMTPURL = "http://mail.example.com" },
		"unknown param": func(c *mail.Config) { c.SMTPURL = "smtp://mail.example.com?tls=opportunistic" },
		"other param":   func(c *mail.Config) { c.SMTPURL = "smtp://mail.example.com?auth=plain" },
		"bad port":      func(c *mail.Config) { c.SMTPURL = "smtp://mail.example.com:99999" },
		"path":          func(c *mail.Config) { c.SMTPURL = "smtp://mail.example.com/x" },
		"neg attempts":  func(c *mail.Config) { c.Attempts = -1 },
		"neg backoff":   func(c *mail.Config) { c.Backoff = -time.Second },
		"neg queue":     func(c *mail.Config) { c.QueueSize = -1 },
		"missing dir":   func(c *mail.Config) { c.TemplateDir = filepath.Join(t.TempDir(), "nope") },
	}
	for name, f := range bad {
		c := ok
		f(&c)
		s, err := mail.New(c)
		if err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "pa@ss") || strings.Contains(err.Error(), "pa%40ss") {
			t.Errorf("%s: the error shows the password: %v", name, err)
		}
	}
	if r := mail.Redact("smtp://user:hunter2@mail.example.com:587"); strings.Contains(r, "hunter2") {
		t.Errorf("Redact: %s", r)
	}
}

// IDP-MAIL-2: a CR or LF in the recipient or in any data field (which
// may reach the Subject header) is refused, so no header can be added;
// nothing is sent.
func TestIDPMAIL2_NoHeaderInjection(t *testing.T) {
	srv := startMailbox(t, "127.0.0.1:0", nil)
	s, _ := newSender(t, mail.Config{SMTPURL: plainURL(srv.addr)})
	inject := "x\r\nBcc: victim@evil.example"
	cases := map[string]mail.Message{
		"to CRLF":     {To: "alice@example.com\r\nBcc: victim@evil.example", Template: mail.TemplatePasswordChanged},
		"to LF":       {To: "alice@example.com\nBcc: victim@evil.example", Template: mail.TemplatePasswordChanged},
		"to two":      {To: "alice@example.com, victim@evil.example", Template: mail.TemplatePasswordChanged},
		"to named":    {To: "Alice <alice@example.com>", Template: mail.TemplatePasswordChanged},
		"to garbage":  {To: "alice", Template: mail.TemplatePasswordChanged},
		"AppName":     {To: "alice@example.com", Template: mail.TemplatePasswordChanged, Data: mail.Data{AppName: inject}},
		"Email":       {To: "alice@example.com", Template: mail.TemplatePasswordChanged, Data: mail.Data{Email: inject}},
		"NewEmail":    {To: "alice@example.com", Template: mail.TemplateEmailChanged, Data: mail.Data{NewEmail: inject}},
		"Link":        {To: "alice@example.com", Template: mail.TemplatePasswordReset, Data: mail.Data{Link: inject}},
		"ValidFor":    {To: "alice@example.com", Template: mail.TemplatePasswordReset, Data: mail.Data{ValidFor: inject}},
		"AppName CR":  {To: "alice@example.com", Template: mail.TemplatePasswordChanged, Data: mail.Data{AppName: "x\rBcc: victim@evil.example"}},
		"no template": {To: "alice@example.com", Template: "nope"},
	}
	for name, m := range cases {
		if err := s.Send(context.Background(), m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A good mail after them is the only one that arrives.
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	srv.waitMessages(t, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	msgs, _ := srv.mb.Messages()
	if len(msgs) != 1 || strings.Contains(srv.raw(t, msgs[0].ID), "victim") {
		t.Errorf("want only the good mail, got %+v", msgs)
	}
}

// An operator's NAME.txt replaces the built-in pair (text only without
// a NAME.html); the other templates stay built in.
func TestOperatorTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(mail.TemplatePasswordReset+".txt", "Subject: ACME reset for {{.Email}}\n\nGo to {{.Link}} within {{.ValidFor}}.\n")
	write("README.md", "other files are ignored")
	srv := startMailbox(t, "127.0.0.1:0", nil)
	s, _ := newSender(t, mail.Config{SMTPURL: plainURL(srv.addr), TemplateDir: dir})
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
		t.Fatal(err)
	}
	got := srv.waitMessages(t, 1)[0]
	if got.Subject != "ACME reset for alice@example.com" || got.Text != "Go to "+secretLink+" within 15 minutes.\n" {
		t.Errorf("subject %q text %q", got.Subject, got.Text)
	}
	if raw := srv.raw(t, got.ID); strings.Contains(raw, "text/html") {
		t.Errorf("a text-only operator template got an HTML part:\n%s", raw)
	}
	if err := s.Send(context.Background(), mail.Message{To: "alice@example.com", Template: mail.TemplatePasswordChanged,
		Data: mail.Data{AppName: "Store", Email: "alice@example.com"}}); err != nil {
		t.Fatal(err)
	}
	if got := srv.waitMessages(t, 2)[1]; got.Subject != "Your Store password was changed" {
		t.Errorf("built-in template not kept: %q", got.Subject)
	}

	for name, files := range map[string]map[string]string{
		"unknown name":  {"pasword-reset.txt": "Subject: x\n"},
		"html alone":    {mail.TemplateVerifyEmail + ".html": "<p>x</p>"},
		"no subject":    {mail.TemplateVerifyEmail + ".txt": "Hello\n"},
		"bad syntax":    {mail.TemplateVerifyEmail + ".txt": "Subject: {{.Nope\n"},
		"bad html":      {mail.TemplateVerifyEmail + ".txt": "Subject: x\n", mail.TemplateVerifyEmail + ".html": "{{if}}"},
		"unknown field": {mail.TemplateVerifyEmail + ".txt": "Subject: {{.Password}}\n"},
		"empty subject": {mail.TemplateVerifyEmail + ".txt": "Subject: \n\nbody\n"},
	} {
		dir := t.TempDir()
		for f, body := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s, err := mail.New(mail.Config{SMTPURL: plainURL(srv.addr), From: "a@example.com", TemplateDir: dir})
		if err != nil {
			continue // refused at start: best
		}
		// Else the render must fail at Send, never a broken mail.
		if err := s.Send(context.Background(), mail.Message{To: "a@example.com", Template: mail.TemplateVerifyEmail}); err == nil {
			t.Errorf("%s: accepted", name)
		}
		s.Close()
	}
}

// Close gives a queued mail its attempt before it returns.
func TestCloseDrains(t *testing.T) {
	srv := startMailbox(t, "127.0.0.1:0", nil)
	s, _ := newSender(t, mail.Config{SMTPURL: plainURL(srv.addr)})
	for range 3 {
		if err := s.Send(context.Background(), resetMessage("alice@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := srv.mb.Messages(); len(msgs) != 3 {
		t.Errorf("%d of 3 mails delivered by Close", len(msgs))
	}
	if err := s.Send(context.Background(), resetMessage("alice@example.com")); !errors.Is(err, mail.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

// testCert returns a self-signed certificate for 127.0.0.1 and a pool
// that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
