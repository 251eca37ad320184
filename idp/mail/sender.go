package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Errors of Send besides a template's.
var (
	// ErrQueueFull: QueueSize mails are waiting; the mail is not sent.
	ErrQueueFull = errors.New("mail: queue full")
	// ErrClosed: the Sender is closed.
	ErrClosed = errors.New("mail: sender closed")
)

// Sender renders mails and delivers them over SMTP in the background,
// retrying with backoff. Build it with New; it is safe for concurrent
// use. Close stops it.
type Sender struct {
	cfg    Config
	ep     endpoint
	from   *netmail.Address
	tmpl   map[string]pair
	client *gomail.Client
	log    *slog.Logger

	queue chan *job
	stop  chan struct{}
	done  chan struct{}
	// ctx is cancelled when Close runs out of time; it cuts the delivery
	// in progress.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	pending int // queued or waiting for a retry; at most cfg.QueueSize
}

// job is one mail on its way.
type job struct {
	msg      *gomail.Msg
	to       string
	template string
	attempts int
	due      time.Time
}

// New checks cfg, parses the templates (built-in and cfg.TemplateDir)
// and starts the delivery worker. It does not contact the SMTP server:
// a server that is down at start gets its mail when it comes up.
func New(cfg Config) (*Sender, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	ep, err := parseSMTPURL(cfg.SMTPURL)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	if cfg.From == "" {
		return nil, errors.New("mail: From is required")
	}
	from, err := parseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: From: %w", err)
	}
	tmpl, err := loadTemplates(cfg.TemplateDir)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	client, err := newClient(cfg, ep)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{
		cfg: cfg, ep: ep, from: from, tmpl: tmpl, client: client, log: cfg.Logger,
		queue: make(chan *job, cfg.QueueSize), stop: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel,
	}
	go s.run()
	return s, nil
}

// newClient builds the go-mail client for ep.
func newClient(cfg Config, ep endpoint) (*gomail.Client, error) {
	tc := cfg.TLSConfig.Clone()
	if tc == nil {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = ep.host
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	opts := []gomail.Option{gomail.WithPort(ep.port), gomail.WithTimeout(cfg.Timeout), gomail.WithTLSConfig(tc)}
	switch ep.mode {
	case tlsStartTLS:
		// Mandatory, never opportunistic: a server (or a man in the
		// middle) that does not offer STARTTLS gets nothing (IDP-MAIL-1).
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tlsImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.TLSMandatory))
	case tlsNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if ep.hasAuth {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(ep.user), gomail.WithPassword(ep.password))
	}
	c, err := gomail.NewClient(ep.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP client: %w", err)
	}
	return c, nil
}

// Send renders m and queues it for delivery; it never waits for the SMTP
// server. An unknown template, a recipient that is not one bare address,
// a control character (CR, LF, …) in the recipient or in m.Data, a
// render error, a full queue or a closed Sender is an error and nothing
// is sent.
func (s *Sender) Send(_ context.Context, m Message) error {
	to, err := parseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: recipient: %w", err)
	}
	if to.Name != "" {
		return errors.New("mail: recipient must be a bare address")
	}
	if err := m.Data.check(); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	p, ok := s.tmpl[m.Template]
	if !ok {
		return fmt.Errorf("mail: unknown template %q", m.Template)
	}
	r, err := p.render(m.Data)
	if err != nil {
		return fmt.Errorf("mail: template %s: %w", m.Template, err)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(r.subject)
	msg.SetDateWithValue(s.cfg.Now())
	msg.SetMessageIDWithValue(messageID(s.from.Address))
	msg.SetBodyString(gomail.TypeTextPlain, r.text)
	if r.html != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, r.html)
	}
	j := &job{msg: msg, to: to.Address, template: m.Template}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.pending >= s.cfg.QueueSize {
		s.log.Warn("mail not queued: queue full", "to", j.to, "template", j.template, "queueSize", s.cfg.QueueSize)
		return ErrQueueFull
	}
	s.pending++
	s.queue <- j // never blocks: len(queue) <= pending <= cap(queue)
	return nil
}

// check refuses control characters in every field: each may end up in a
// header (the subject line) where a CR or LF would start a new header.
func (d Data) check() error {
	for name, v := range map[string]string{"AppName": d.AppName, "Email": d.Email, "NewEmail": d.NewEmail, "Link": d.Link, "ValidFor": d.ValidFor} {
		if strings.ContainsFunc(v, isControl) {
			return fmt.Errorf("data field %s has a control character", name)
		}
	}
	return nil
}

// parseAddress parses one address ("Name <a@b>" or "a@b") and refuses
// control characters, which net/mail would otherwise fold away or keep.
func parseAddress(s string) (*netmail.Address, error) {
	if s == "" {
		return nil, errors.New("empty address")
	}
	if strings.ContainsFunc(s, isControl) {
		return nil, errors.New("address has a control character")
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, errors.New("not an email address")
	}
	if strings.ContainsFunc(a.Address, isControl) || strings.ContainsFunc(a.Name, isControl) {
		return nil, errors.New("address has a control character")
	}
	return a, nil
}

// messageID returns a random Message-ID in the From address's domain.
func messageID(from string) string {
	domain := "localhost"
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		domain = from[i+1:]
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b) + "@" + domain
}

// run is the delivery worker: it tries each new mail at once and each
// failed one again when its backoff is over, one at a time.
func (s *Sender) run() {
	defer close(s.done)
	var waiting []*job
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var wake <-chan time.Time
		if len(waiting) > 0 {
			next := waiting[0].due
			for _, j := range waiting[1:] {
				if j.due.Before(next) {
					next = j.due
				}
			}
			timer.Reset(time.Until(next))
			wake = timer.C
		}
		select {
		case j := <-s.queue:
			if s.attempt(j, false) {
				waiting = append(waiting, j)
			}
		case <-wake:
			now := time.Now()
			kept := waiting[:0]
			for _, j := range waiting {
				if j.due.After(now) || s.attempt(j, false) {
					kept = append(kept, j)
				}
			}
			clear(waiting[len(kept):])
			waiting = kept
		case <-s.stop:
			timer.Stop()
			s.drain(waiting)
			return
		}
		timer.Stop()
	}
}

// drain gives every mail still waiting one last attempt (until Close's
// time is up, which cancels s.ctx) and logs the ones left undelivered.
func (s *Sender) drain(waiting []*job) {
	for {
		select {
		case j := <-s.queue:
			waiting = append(waiting, j)
			continue
		default:
		}
		break
	}
	for _, j := range waiting {
		s.attempt(j, true)
	}
}

// attempt delivers j once. It reports whether j should be tried again
// (and sets j.due); otherwise j is done, delivered or given up, and
// logged. The log lines name the recipient and template, never the
// content: the link in it is a secret (IDP-MAIL-3).
func (s *Sender) attempt(j *job, last bool) (retry bool) {
	j.attempts++
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	err := s.client.DialAndSendWithContext(ctx, j.msg)
	cancel()
	if err == nil {
		s.finish()
		s.log.Info("mail delivered", "to", j.to, "template", j.template, "attempts", j.attempts, "server", s.ep.hostPort())
		return false
	}
	// A permanent refusal (5xx: no such mailbox, message too big) will
	// not change on a retry.
	var se *gomail.SendError
	permanent := errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() <= 599
	if last || permanent || j.attempts >= s.cfg.Attempts {
		s.finish()
		reason := "attempts exhausted"
		switch {
		case permanent:
			reason = "refused by the server"
		case last:
			reason = "shutting down"
		}
		s.log.Error("mail not delivered: gave up", "to", j.to, "template", j.template, "attempts", j.attempts,
			"reason", reason, "server", s.ep.hostPort(), "err", err)
		return false
	}
	wait := s.cfg.Backoff
	for i := 1; i < j.attempts && wait < s.cfg.MaxBackoff; i++ {
		wait *= 2
	}
	wait = min(wait, s.cfg.MaxBackoff)
	j.due = time.Now().Add(wait)
	s.log.Warn("mail delivery failed: retrying", "to", j.to, "template", j.template, "attempts", j.attempts,
		"retryIn", wait, "server", s.ep.hostPort(), "err", err)
	return true
}

// finish frees j's place in the queue.
func (s *Sender) finish() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// Close stops taking mail, gives every mail still queued or waiting for
// a retry one last attempt, and logs those it could not deliver. It
// returns within Config.CloseTimeout: then it cancels what is left (each
// remaining mail is logged as given up) and returns an error without
// waiting for a conversation in progress, which ends within
// Config.Timeout. Later calls do nothing.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	t := time.NewTimer(s.cfg.CloseTimeout)
	defer t.Stop()
	select {
	case <-s.done:
		s.cancel()
		return nil
	case <-t.C:
		s.cancel()
		return errors.New("mail: close timed out; undelivered mails are logged")
	}
}
