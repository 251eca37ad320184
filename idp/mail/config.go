package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of Config (design §7).
const (
	// DefaultAttempts is how many times a mail is tried before the
	// Sender gives up on it.
	DefaultAttempts = 6
	// DefaultBackoff is the wait before the first retry; it doubles
	// after each failure up to DefaultMaxBackoff (about 15 minutes of
	// trying with the defaults).
	DefaultBackoff = 30 * time.Second
	// DefaultMaxBackoff caps the wait between two attempts.
	DefaultMaxBackoff = 5 * time.Minute
	// DefaultQueueSize is how many mails may wait for delivery at once;
	// Send refuses more rather than block the request that caused it.
	DefaultQueueSize = 1000
	// DefaultTimeout bounds one SMTP conversation (connect to QUIT).
	DefaultTimeout = 30 * time.Second
	// DefaultCloseTimeout bounds Close: what is still queued then is
	// logged as not delivered.
	DefaultCloseTimeout = 5 * time.Second
	// DefaultFrom is the From address the `gatehouse idp` flag offers.
	DefaultFrom = "Gatehouse <no-reply@localhost>"
)

// Default ports of the two URL schemes.
const (
	// DefaultSubmissionPort is smtp://'s port (submission, STARTTLS).
	DefaultSubmissionPort = 587
	// DefaultSubmissionsPort is smtps://'s port (implicit TLS).
	DefaultSubmissionsPort = 465
)

// Config configures a Sender. SMTPURL and From are required; the zero
// value of every other field is its documented default.
type Config struct {
	// SMTPURL says where and how to deliver (required):
	//
	//   smtp://user:pass@host:port   STARTTLS, required: a server that
	//                                does not offer it gets nothing
	//                                (default port 587)
	//   smtps://user:pass@host:port  implicit TLS (default port 465)
	//   smtp://host:port?tls=none    plain SMTP, accepted only for a
	//                                loopback host (localhost, 127.0.0.0/8,
	//                                ::1) such as the demo's mailbox
	//
	// The user and password are optional (no AUTH without them) and must
	// be percent-encoded; the Sender never logs them.
	SMTPURL string
	// From is the sender address, "Name <addr>" or a bare address
	// (required; the flag's default is DefaultFrom).
	From string
	// TemplateDir is an operator's directory of templates. A NAME.txt in
	// it replaces the built-in NAME pair; with a NAME.html next to it the
	// mail has that HTML part, without one it is text only. Files named
	// after no template are an error, so a typo does not go unnoticed.
	// Empty: the built-in templates only.
	TemplateDir string
	// Attempts is how many delivery attempts a mail gets; default
	// DefaultAttempts.
	Attempts int
	// Backoff is the wait before the first retry, doubling up to
	// MaxBackoff; defaults DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// QueueSize is how many mails may be waiting; default
	// DefaultQueueSize.
	QueueSize int
	// Timeout bounds one SMTP conversation; default DefaultTimeout.
	Timeout time.Duration
	// CloseTimeout bounds Close; default DefaultCloseTimeout.
	CloseTimeout time.Duration
	// TLSConfig is the TLS client configuration (e.g. RootCAs of a
	// private CA); nil: the system roots, TLS 1.2 or newer, the URL's
	// host as server name.
	TLSConfig *tls.Config
	// Logger default slog.Default(); Now (the Date header) default
	// time.Now.
	Logger *slog.Logger
	Now    func() time.Time
}

// tlsMode is how a Sender protects the SMTP conversation.
type tlsMode int

const (
	tlsStartTLS tlsMode = iota // STARTTLS required
	tlsImplicit                // TLS from the first byte
	tlsNone                    // plain, loopback only
)

// endpoint is a parsed SMTPURL.
type endpoint struct {
	host     string
	port     int
	mode     tlsMode
	user     string
	password string
	hasAuth  bool
}

// parseSMTPURL parses and checks Config.SMTPURL. Errors never repeat the
// URL, which may hold a password.
func parseSMTPURL(raw string) (endpoint, error) {
	var e endpoint
	if raw == "" {
		return e, errors.New("SMTPURL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return e, errors.New("SMTPURL is not a URL")
	}
	switch u.Scheme {
	case "smtp":
		e.mode, e.port = tlsStartTLS, DefaultSubmissionPort
	case "smtps":
		e.mode, e.port = tlsImplicit, DefaultSubmissionsPort
	default:
		return e, fmt.Errorf("SMTPURL scheme %q: want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return e, errors.New("SMTPURL: want scheme://[user:pass@]host[:port][?tls=none], nothing else")
	}
	e.host = u.Hostname()
	if e.host == "" {
		return e, errors.New("SMTPURL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return e, fmt.Errorf("SMTPURL port %q is not a port", p)
		}
		e.port = n
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return e, fmt.Errorf("SMTPURL: unknown parameter %q (only tls=none)", k)
		}
	}
	if q.Has("tls") {
		if q.Get("tls") != "none" || len(q["tls"]) != 1 {
			return e, errors.New("SMTPURL: tls takes only the value none")
		}
		if e.mode != tlsStartTLS {
			return e, errors.New("SMTPURL: tls=none contradicts smtps://")
		}
		// Plain SMTP would show every reset link to the network path;
		// on loopback there is no path (IDP-MAIL-1).
		if !isLoopbackHost(e.host) {
			return e, fmt.Errorf("SMTPURL: tls=none is allowed only for a loopback host, not %q", e.host)
		}
		e.mode = tlsNone
	}
	if u.User != nil {
		e.user = u.User.Username()
		e.password, _ = u.User.Password()
		e.hasAuth = e.user != ""
	}
	return e, nil
}

// isLoopbackHost reports whether host (no port) names this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Redact returns an SMTP URL fit for a log line: the password replaced
// by "xxxxx" (url.URL.Redacted); an unparsable URL becomes "(invalid)".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid)"
	}
	return u.Redacted()
}

// withDefaults fills zero values and refuses negatives.
func (c Config) withDefaults() (Config, error) {
	if c.Attempts < 0 || c.QueueSize < 0 || c.Backoff < 0 || c.MaxBackoff < 0 || c.Timeout < 0 || c.CloseTimeout < 0 {
		return c, errors.New("negative Attempts, QueueSize, Backoff, MaxBackoff, Timeout or CloseTimeout")
	}
	if c.Attempts == 0 {
		c.Attempts = DefaultAttempts
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = c.Backoff
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// hostPort joins host and port for messages.
func (e endpoint) hostPort() string { return net.JoinHostPort(e.host, strconv.Itoa(e.port)) }
