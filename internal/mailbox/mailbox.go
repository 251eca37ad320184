// Package mailbox is the demo's mail server: an SMTP server for loopback
// that accepts every message (up to a size), keeps each as a file in a
// directory (so the mail survives restarts), and a web page where a
// person reads the mail and clicks its links, plus messages.json for
// tests. It is what makes the account flows clickable in `gatehouse demo`
// with no mail set up; it is no real mail server (no relaying, no auth,
// anyone on the machine may read and write it).
package mailbox

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Defaults of Config.
const (
	// DefaultMaxMessageBytes caps one message; a bigger one is refused.
	DefaultMaxMessageBytes = 1 << 20
	// DefaultMaxRecipients caps one message's recipients.
	DefaultMaxRecipients = 50
	// DefaultMaxMessages caps how many messages the page and
	// messages.json show (the newest); older files stay on disk.
	DefaultMaxMessages = 1000
)

// Config configures a Mailbox. Dir is required.
type Config struct {
	// Dir keeps one file per message (ID.eml); created 0700.
	Dir string
	// MaxMessageBytes default DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// MaxRecipients default DefaultMaxRecipients.
	MaxRecipients int
	// MaxMessages default DefaultMaxMessages.
	MaxMessages int
	// TLSConfig, when set, makes the SMTP server offer STARTTLS (tests
	// of a Sender that requires it). Nil: plain SMTP.
	TLSConfig *tls.Config
	// Logger default slog.Default(); Now (the received time) default
	// time.Now.
	Logger *slog.Logger
	Now    func() time.Time
}

// Mailbox is a running mail store: serve SMTP with ServeSMTP, the page
// with Handler.
type Mailbox struct {
	cfg  Config
	smtp *smtp.Server
	log  *slog.Logger

	mu    sync.Mutex
	cache map[string]Message // parsed files; a file never changes
	last  int64              // the newest ID's time: IDs strictly increase
}

// New checks cfg and creates Dir.
func New(cfg Config) (*Mailbox, error) {
	if cfg.Dir == "" {
		return nil, errors.New("mailbox: Dir is required")
	}
	if cfg.MaxMessageBytes < 0 || cfg.MaxRecipients < 0 || cfg.MaxMessages < 0 {
		return nil, errors.New("mailbox: negative MaxMessageBytes, MaxRecipients or MaxMessages")
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxRecipients == 0 {
		cfg.MaxRecipients = DefaultMaxRecipients
	}
	if cfg.MaxMessages == 0 {
		cfg.MaxMessages = DefaultMaxMessages
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	m := &Mailbox{cfg: cfg, log: cfg.Logger, cache: map[string]Message{}}
	ids, err := m.ids()
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		m.last, _ = strconv.ParseInt(ids[len(ids)-1][:19], 10, 64)
	}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{mb: m}, nil }))
	s.Domain = "localhost"
	s.MaxMessageBytes = cfg.MaxMessageBytes
	s.MaxRecipients = cfg.MaxRecipients
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	s.TLSConfig = cfg.TLSConfig
	s.ErrorLog = smtpLog{cfg.Logger}
	m.smtp = s
	return m, nil
}

// ServeSMTP accepts SMTP connections on ln until Close.
func (m *Mailbox) ServeSMTP(ln net.Listener) error {
	if err := m.smtp.Serve(ln); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return fmt.Errorf("mailbox: %w", err)
	}
	return nil
}

// Close stops the SMTP server and drops its connections.
func (m *Mailbox) Close() error {
	if err := m.smtp.Close(); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("mailbox: %w", err)
	}
	return nil
}

// session is one SMTP conversation: every sender and recipient is
// accepted.
type session struct {
	mb    *Mailbox
	rcpts []string
}

func (s *session) Reset()        { s.rcpts = nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(string, *smtp.MailOptions) error {
	s.rcpts = nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.ContainsFunc(to, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r) // the server caps it at MaxMessageBytes
	if err != nil {
		return err
	}
	id, err := s.mb.store(s.rcpts, b)
	if err != nil {
		s.mb.log.Error("mailbox: storing a message failed", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Cannot store the message"}
	}
	s.mb.log.Info("mailbox: message received", "id", id, "to", strings.Join(s.rcpts, ", "))
	return nil
}

// store writes one message to Dir/ID.eml (temp file and rename, so a
// reader never sees half a message), the envelope's recipients in a
// Delivered-To header in front.
func (m *Mailbox) store(rcpts []string, raw []byte) (string, error) {
	// The time in an ID never repeats or goes back (a test clock may
	// stand still), so the IDs sort in order of arrival.
	m.mu.Lock()
	n := max(m.cfg.Now().UnixNano(), m.last+1)
	m.last = n
	m.mu.Unlock()
	id := newID(n)
	tmp, err := os.CreateTemp(m.cfg.Dir, ".incoming-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = fmt.Fprintf(tmp, "%s: %s\r\n", deliveredTo, strings.Join(rcpts, ", "))
	if err == nil {
		_, err = tmp.Write(raw)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(m.cfg.Dir, id+".eml"))
	}
	return id, err
}

// newID is 19 digits of the arrival time in nanoseconds and 8 random hex
// digits (two processes on one directory do not collide).
func newID(nanos int64) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return fmt.Sprintf("%019d%s", nanos, hex.EncodeToString(b))
}

// validID reports whether id has newID's shape (it names a file).
func validID(id string) bool {
	if len(id) != 27 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Messages returns the stored messages, oldest first (at most
// Config.MaxMessages, the newest).
func (m *Mailbox) Messages() ([]Message, error) {
	ids, err := m.ids()
	if err != nil {
		return nil, err
	}
	if len(ids) > m.cfg.MaxMessages {
		ids = ids[len(ids)-m.cfg.MaxMessages:]
	}
	out := make([]Message, 0, len(ids))
	for _, id := range ids {
		msg, err := m.Message(id)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, nil
}

// ids lists the stored messages' IDs, oldest first.
func (m *Mailbox) ids() ([]string, error) {
	ents, err := os.ReadDir(m.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("mailbox: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if id, ok := strings.CutSuffix(e.Name(), ".eml"); ok && validID(id) && e.Type().IsRegular() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Message returns one message; an unknown ID is an os.ErrNotExist error.
// A message that does not parse is shown with what could be read.
func (m *Mailbox) Message(id string) (Message, error) {
	if !validID(id) {
		return Message{}, fmt.Errorf("mailbox: message %q: %w", id, os.ErrNotExist)
	}
	m.mu.Lock()
	msg, ok := m.cache[id]
	m.mu.Unlock()
	if ok {
		return msg, nil
	}
	raw, err := os.ReadFile(filepath.Join(m.cfg.Dir, id+".eml"))
	if err != nil {
		return Message{}, fmt.Errorf("mailbox: %w", err)
	}
	msg, err = Parse(raw)
	if err != nil {
		m.log.Warn("mailbox: message does not parse", "id", id, "err", err)
		if msg.Subject == "" {
			msg.Subject = "(unreadable message)"
		}
	}
	msg.ID = id
	if n, err := strconv.ParseInt(id[:19], 10, 64); err == nil {
		msg.Received = time.Unix(0, n)
	}
	m.mu.Lock()
	m.cache[id] = msg
	m.mu.Unlock()
	return msg, nil
}

// smtpLog sends go-smtp's error log to slog.
type smtpLog struct{ l *slog.Logger }

func (s smtpLog) Printf(format string, v ...any) {
	s.l.Warn("mailbox smtp: " + fmt.Sprintf(format, v...))
}
func (s smtpLog) Println(v ...any) { s.l.Warn("mailbox smtp: " + fmt.Sprint(v...)) }
