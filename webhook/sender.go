package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Applications is what a Sender reads webhook targets from; every
// store.ApplicationStore satisfies it.
type Applications interface {
	GetApplication(ctx context.Context, id string) (*store.Application, error)
	ListApplications(ctx context.Context) ([]*store.Application, error)
}

// Sender defaults.
const (
	DefaultQueueSize      = 1024
	DefaultMaxPending     = 4096
	DefaultWorkers        = 4
	DefaultMaxAttempts    = 8
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = time.Minute
	DefaultTimeout        = 5 * time.Second
	// maxResponseDrain bounds how much of a response body is read (so the
	// connection can be reused) before it is closed.
	maxResponseDrain = 4 << 10
)

// SenderConfig configures a Sender. Only Applications is required.
type SenderConfig struct {
	// Applications is where targets (WebhookURLs, WebhookSecret) are read,
	// at delivery time, so a changed configuration applies to the next
	// event.
	Applications Applications
	// Client sends the requests. Default: an http.Client with Timeout and
	// no redirect following (a redirect counts as a refusal).
	Client *http.Client
	// Timeout bounds one attempt when Client is nil. Default 5 s.
	Timeout time.Duration
	// QueueSize bounds events waiting for the dispatcher; Publish drops
	// (and logs) beyond it. Default 1024.
	QueueSize int
	// MaxPending bounds deliveries being attempted or waiting to retry;
	// further deliveries are dropped and logged. Default 4096.
	MaxPending int
	// Workers bounds concurrent requests. Default 4.
	Workers int
	// MaxAttempts per delivery, the first included. Default 8.
	MaxAttempts int
	// InitialBackoff doubles after each failed attempt up to MaxBackoff;
	// each wait is drawn uniformly from [b/2, b]. Defaults 500 ms, 1 min.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Logger receives delivery logs (never secrets). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock the timestamp header is taken from. Default time.Now.
	Now func() time.Time
}

// Stats counts deliveries since the Sender started.
type Stats struct {
	Delivered int64 // acknowledged with 2xx
	Failed    int64 // refused permanently or out of attempts
	Dropped   int64 // never attempted: queue full, too many pending, or closed
	Attempts  int64 // HTTP requests made
}

// Sender delivers IdP events to application webhooks. It implements
// idp.EventSink. Create it with NewSender and Close it at shutdown.
type Sender struct {
	cfg    SenderConfig
	log    *slog.Logger
	client *http.Client

	mu     sync.Mutex
	closed bool
	events chan idp.Event

	sem     chan struct{} // worker slots
	hurry   chan struct{} // closed by Close: end backoff waits
	ctx     context.Context
	cancel  context.CancelFunc
	pending atomic.Int64
	wg      sync.WaitGroup // dispatcher and deliveries

	delivered, failed, dropped, attempts atomic.Int64
}

var _ idp.EventSink = (*Sender)(nil)

// delivery is one event to one target.
type delivery struct {
	eventID, eventType string
	url, logURL        string
	secret             []byte
	body               []byte
}

// NewSender validates cfg and starts the dispatcher.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Applications == nil {
		return nil, errors.New("webhook: SenderConfig.Applications is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = DefaultInitialBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.InitialBackoff {
		cfg.MaxBackoff = cfg.InitialBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{
		cfg: cfg, log: cfg.Logger, client: client,
		events: make(chan idp.Event, cfg.QueueSize),
		sem:    make(chan struct{}, cfg.Workers),
		hurry:  make(chan struct{}),
		ctx:    ctx, cancel: cancel,
	}
	s.wg.Add(1)
	go s.dispatch()
	return s, nil
}

// Publish queues e for delivery and returns at once; it never blocks on
// the network or the store. A full queue or a closed Sender drops the
// event with a log line.
func (s *Sender) Publish(ctx context.Context, e idp.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		s.log.LogAttrs(ctx, slog.LevelWarn, "webhook: event dropped, sender closed", slog.String("type", e.Type))
		return
	}
	select {
	case s.events <- e:
	default:
		s.dropped.Add(1)
		s.log.LogAttrs(ctx, slog.LevelError, "webhook: event dropped, queue full",
			slog.String("type", e.Type), slog.String("userId", e.UserID), slog.Int("queue", cap(s.events)))
	}
}

// Stats returns the delivery counters.
func (s *Sender) Stats() Stats {
	return Stats{Delivered: s.delivered.Load(), Failed: s.failed.Load(), Dropped: s.dropped.Load(), Attempts: s.attempts.Load()}
}

// Close stops accepting events and waits for queued and retrying
// deliveries until they finish or ctx ends: waiting retries are attempted
// once more at once, then follow their schedule. When ctx ends first,
// in-flight requests are cancelled and Close reports how many deliveries
// were abandoned.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.events)
	close(s.hurry)
	s.mu.Unlock()

	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	left := s.pending.Load() + int64(len(s.events))
	s.cancel()
	<-done
	if left > 0 {
		return fmt.Errorf("webhook: close: %d deliveries abandoned: %w", left, ctx.Err())
	}
	return nil
}

// dispatch turns queued events into deliveries.
func (s *Sender) dispatch() {
	defer s.wg.Done()
	for e := range s.events {
		targets, err := s.targets(e)
		if err != nil {
			s.dropped.Add(1)
			s.log.Error("webhook: cannot read applications; event dropped", "type", e.Type, "userId", e.UserID, "err", err)
			continue
		}
		if len(targets) == 0 {
			continue
		}
		we := FromIdP(uuid.NewString(), e)
		body, err := Marshal(we)
		if err != nil {
			s.dropped.Add(1)
			s.log.Error("webhook: event dropped", "type", e.Type, "err", err)
			continue
		}
		for _, t := range targets {
			if s.pending.Load() >= int64(s.cfg.MaxPending) {
				s.dropped.Add(1)
				s.log.Error("webhook: delivery dropped, too many pending", "type", e.Type, "eventId", we.ID, "url", t.logURL)
				continue
			}
			d := t
			d.eventID, d.eventType, d.body = we.ID, we.Type, body
			s.pending.Add(1)
			s.wg.Add(1)
			go s.deliver(d)
		}
	}
}

// targets reads the webhook targets of e, retrying a failing store a few
// times (it may be briefly busy).
func (s *Sender) targets(e idp.Event) ([]delivery, error) {
	var apps []*store.Application
	var err error
	for try := 0; try < 3; try++ {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		if e.ApplicationID != "" {
			var a *store.Application
			if a, err = s.cfg.Applications.GetApplication(ctx, e.ApplicationID); err == nil {
				apps = []*store.Application{a}
			} else if errors.Is(err, store.ErrNotFound) {
				cancel()
				return nil, nil
			}
		} else {
			apps, err = s.cfg.Applications.ListApplications(ctx)
		}
		cancel()
		if err == nil || s.ctx.Err() != nil {
			break
		}
		time.Sleep(time.Duration(try+1) * 100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	type key struct{ url, secret string }
	seen := map[key]bool{}
	var out []delivery
	for _, a := range apps {
		for _, u := range a.Config.WebhookURLs {
			if a.Config.WebhookSecret == "" {
				s.log.Warn("webhook: application has webhook URLs but no webhook secret; not sending", "applicationId", a.ID, "url", redact(u))
				break
			}
			k := key{u, a.Config.WebhookSecret}
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, delivery{url: u, logURL: redact(u), secret: []byte(a.Config.WebhookSecret)})
		}
	}
	return out, nil
}

// deliver attempts d until it succeeds, is refused, runs out of attempts
// or the Sender is cancelled.
func (s *Sender) deliver(d delivery) {
	defer s.wg.Done()
	defer s.pending.Add(-1)
	backoff := s.cfg.InitialBackoff
	hurried := false
	for attempt := 1; ; attempt++ {
		status, err := s.attempt(d)
		switch {
		case err == nil && status >= 200 && status < 300:
			s.delivered.Add(1)
			s.log.Info("webhook: delivered", "type", d.eventType, "eventId", d.eventID, "url", d.logURL, "attempt", attempt)
			return
		case s.ctx.Err() != nil:
			s.failed.Add(1)
			s.log.Warn("webhook: delivery abandoned at shutdown", "type", d.eventType, "eventId", d.eventID, "url", d.logURL)
			return
		case err == nil && permanent(status):
			s.failed.Add(1)
			s.log.Error("webhook: delivery refused", "type", d.eventType, "eventId", d.eventID, "url", d.logURL, "status", status)
			return
		case attempt >= s.cfg.MaxAttempts:
			s.failed.Add(1)
			s.log.Error("webhook: delivery failed, giving up", "type", d.eventType, "eventId", d.eventID, "url", d.logURL,
				"attempts", attempt, "status", status, "err", err)
			return
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		s.log.Warn("webhook: delivery failed, will retry", "type", d.eventType, "eventId", d.eventID, "url", d.logURL,
			"attempt", attempt, "status", status, "err", err, "retryIn", wait)
		backoff = min(2*backoff, s.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		if hurried {
			select {
			case <-t.C:
			case <-s.ctx.Done():
			}
		} else {
			select {
			case <-t.C:
			case <-s.hurry:
				hurried = true
			case <-s.ctx.Done():
			}
		}
		t.Stop()
	}
}

// attempt makes one signed request; it returns the status or the
// transport error.
func (s *Sender) attempt(d delivery) (int, error) {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
	defer func() { <-s.sem }()
	s.attempts.Add(1)
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	ts, sig := Sign(d.secret, s.cfg.Now(), d.body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, sig)
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL (with any query) is in *url.Error's text: strip it.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// permanent reports whether a status means "do not retry": a refusal that
// will not change by itself (bad signature, not found, redirects).
func permanent(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return false
	case status >= 300 && status < 500:
		return true
	}
	return false
}

// redact returns scheme://host/path of u: no user info, query or
// fragment, which may carry credentials.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host + p.EscapedPath()
}
