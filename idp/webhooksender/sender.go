// Package webhooksender delivers the identity server's revocation events to
// the applications' webhooks (scenario S10) from the transactional outbox in
// the IdP's store (AUD-8).
//
// Package idp writes each event into the outbox in the same transaction as
// the revocation it announces, so an event exists exactly when its
// revocation committed, whatever crashes. A Sender claims outbox messages
// with a lease (PostgreSQL: FOR UPDATE SKIP LOCKED, so several IdP processes
// share the outbox; SQLite: the single writer), signs and posts each to the
// webhook URLs of the event's application (or of every application), and
// deletes it once every target acknowledged it with a 2xx. A failed round
// releases the message with an exponential backoff; the targets that
// acknowledged are remembered and skipped. A 413 splits the event's
// refresh-token ids in halves under derived, stable ids; every other
// refusal, 4xx included, is retried. After MaxAttempts rounds the message is
// given up with an ERROR log line and the
// gatehouse_idp_webhook_deliveries_total{outcome="gave_up"} counter. A
// Sender that dies (kill -9) leaves its claimed messages leased: they come
// back when the lease ends and another Sender, or the restarted one,
// delivers them.
//
// It imports the wire format (package webhook) and the store; package
// webhook imports nothing of Gatehouse, so apps that receive events never
// link the identity server.
package webhooksender

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// Store is what a Sender reads: the outbox, and the applications' webhook
// URLs and secrets (read at delivery time, so a changed configuration
// applies to the next round). Every store.Store satisfies it.
type Store interface {
	store.OutboxStore
	GetApplication(ctx context.Context, id string) (*store.Application, error)
	ListApplications(ctx context.Context) ([]*store.Application, error)
}

// Sender defaults.
const (
	DefaultWorkers        = 4
	DefaultBatch          = 16
	DefaultMaxAttempts    = 20
	DefaultInitialBackoff = 500 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Minute
	DefaultTimeout        = 5 * time.Second
	DefaultLease          = time.Minute
	DefaultPollInterval   = time.Second
	// maxResponseDrain bounds how much of a response body is read (so the
	// connection can be reused) before it is closed.
	maxResponseDrain = 4 << 10
)

// Config configures a Sender. Only Store is required; zero values mean the
// documented defaults (the Default… constants) and negative ones are
// refused (design §7).
type Config struct {
	Store Store
	// Client sends the requests. Default: an http.Client with Timeout and
	// no redirect following (a redirect counts as a failure).
	Client *http.Client
	// Timeout bounds one attempt when Client is nil. Default 5 s.
	Timeout time.Duration
	// Workers bounds messages delivered at once. Default 4.
	Workers int
	// Batch is how many messages one claim takes. Default 16.
	Batch int
	// MaxAttempts is how many failed rounds a message gets before it is
	// given up (ERROR log, gave_up counter). Default 20 (about an hour
	// with the default backoff).
	MaxAttempts int
	// InitialBackoff doubles after each failed round up to MaxBackoff;
	// each wait is drawn uniformly from [b/2, b]. Defaults 500 ms, 5 min.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Lease is how long a claimed message is withheld from other senders.
	// A round stops posting at 3/4 of it; targets not reached then wait
	// for the next round. Default 1 min.
	Lease time.Duration
	// PollInterval is how often the outbox is polled when no Publish
	// wakes the Sender (another process's events, retries). Default 1 s.
	PollInterval time.Duration
	// Logger receives delivery logs (never a secret, a signature or a
	// query string). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of the signature timestamp. Default time.Now.
	Now func() time.Time
	// Schedule is the clock of claims, leases and backoff. Default
	// time.Now.
	Schedule func() time.Time
}

// Stats counts what a Sender did since it started.
type Stats struct {
	Delivered int64 // message × target acknowledged with 2xx
	Retried   int64 // failed rounds released for a retry
	GaveUp    int64 // messages given up after MaxAttempts rounds
	Attempts  int64 // HTTP requests made
}

// Sender delivers outbox messages. It implements idp.EventSink (Publish
// wakes it) and prometheus.Collector (idp.New registers it on /metrics).
// Create it with New and Close it at shutdown.
type Sender struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client

	wake   chan struct{}
	ctx    context.Context // cancelled by Close when its deadline passes
	cancel context.CancelFunc
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}

	outcomes                             *prometheus.CounterVec
	delivered, retried, gaveUp, attempts atomic.Int64
}

var (
	_ idp.EventSink        = (*Sender)(nil)
	_ prometheus.Collector = (*Sender)(nil)
)

// New validates cfg and starts the delivery loop, which first delivers
// what the outbox already holds (events of a previous run).
func New(cfg Config) (*Sender, error) {
	if cfg.Store == nil {
		return nil, errors.New("webhooksender: Config.Store is required")
	}
	if cfg.Timeout < 0 || cfg.Workers < 0 || cfg.Batch < 0 || cfg.MaxAttempts < 0 || cfg.InitialBackoff < 0 ||
		cfg.MaxBackoff < 0 || cfg.Lease < 0 || cfg.PollInterval < 0 {
		return nil, errors.New("webhooksender: Config values must not be negative (zero means the default)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
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
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.InitialBackoff)
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Schedule == nil {
		cfg.Schedule = time.Now
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
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_idp_webhook_deliveries_total",
			Help: "Webhook deliveries by outcome: delivered (per target), retry (failed round), gave_up (message abandoned after MaxAttempts rounds).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"delivered", "retry", "gave_up"} {
		s.outcomes.WithLabelValues(o)
	}
	go s.run()
	return s, nil
}

// Publish wakes the Sender: the event is in the outbox already. It never
// blocks.
func (s *Sender) Publish(context.Context, idp.Event) {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns the delivery counters.
func (s *Sender) Stats() Stats {
	return Stats{Delivered: s.delivered.Load(), Retried: s.retried.Load(), GaveUp: s.gaveUp.Load(), Attempts: s.attempts.Load()}
}

// Describe implements prometheus.Collector.
func (s *Sender) Describe(ch chan<- *prometheus.Desc) { s.outcomes.Describe(ch) }

// Collect implements prometheus.Collector.
func (s *Sender) Collect(ch chan<- prometheus.Metric) { s.outcomes.Collect(ch) }

// Close stops claiming and waits for the round in flight until it ends or
// ctx does; then in-flight requests are cancelled. Nothing is lost either
// way: undelivered messages stay in the outbox (leased ones come back when
// their lease ends).
func (s *Sender) Close(ctx context.Context) error {
	s.once.Do(func() { close(s.stop) })
	select {
	case <-s.done:
		s.cancel()
		return nil
	case <-ctx.Done():
	}
	s.cancel()
	<-s.done
	return fmt.Errorf("webhooksender: close: round in flight cancelled, its messages stay in the outbox: %w", ctx.Err())
}

// run claims and delivers until Close.
func (s *Sender) run() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		if n := s.round(); n >= s.cfg.Batch {
			continue // more may be waiting
		}
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// round claims one batch and delivers it; it returns how many it claimed.
func (s *Sender) round() int {
	msgs, err := s.cfg.Store.ClaimOutbox(s.ctx, s.cfg.Schedule(), s.cfg.Lease, s.cfg.Batch)
	if err != nil {
		if s.ctx.Err() == nil {
			s.log.Error("webhook: cannot claim outbox messages", "err", err)
		}
		return 0
	}
	sem := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	for _, m := range msgs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.deliver(m)
		})
	}
	wg.Wait()
	return len(msgs)
}

// target is one webhook URL with its secret.
type target struct {
	key, url, logURL string
	secret           []byte
}

// deliver makes one round for m: every target not yet done gets the event;
// then m is completed, released for a retry, or given up.
func (s *Sender) deliver(m *store.OutboxMessage) {
	ev, err := webhook.Unmarshal(m.Payload)
	if err != nil || ev.ID == "" {
		s.giveUp(m, ev, "undecodable outbox message", 0, err)
		return
	}
	targets, err := s.targets(ev)
	if err != nil {
		s.retry(m, ev, "cannot read applications", 0, err)
		return
	}
	done := map[string]bool{}
	for _, k := range m.Done {
		done[k] = true
	}
	// The round ends well inside the lease, so no other sender claims m
	// while this one still posts it.
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Lease*3/4)
	defer cancel()
	var failStatus int
	var failErr error
	failed := 0
	for _, t := range targets {
		if done[t.key] {
			continue
		}
		status, err := s.send(ctx, t, ev, m.Payload)
		if err == nil && status/100 == 2 {
			done[t.key] = true
			m.Done = append(m.Done, t.key)
			s.delivered.Add(1)
			s.outcomes.WithLabelValues("delivered").Inc()
			s.log.Info("webhook: delivered", "type", ev.Type, "eventId", ev.ID, "url", t.logURL, "round", m.Attempts+1)
			continue
		}
		failed++
		failStatus, failErr = status, err
		s.log.Warn("webhook: delivery failed", "type", ev.Type, "eventId", ev.ID, "url", t.logURL,
			"round", m.Attempts+1, "status", status, "err", err)
	}
	if failed == 0 {
		if err := s.cfg.Store.CompleteOutbox(context.WithoutCancel(s.ctx), m.ID, m.Claim); err != nil {
			s.log.Warn("webhook: cannot complete outbox message", "eventId", ev.ID, "err", err)
		}
		return
	}
	s.retry(m, ev, "delivery failed", failStatus, failErr)
}

// retry releases m for another round after a backoff, or gives it up when
// it has had MaxAttempts rounds.
func (s *Sender) retry(m *store.OutboxMessage, ev webhook.Event, why string, status int, err error) {
	if s.ctx.Err() != nil {
		return // Close ran out of time: the lease gives m back later
	}
	m.Attempts++
	if m.Attempts >= s.cfg.MaxAttempts {
		s.giveUp(m, ev, why, status, err)
		return
	}
	b := s.cfg.InitialBackoff << min(m.Attempts-1, 30)
	if b <= 0 || b > s.cfg.MaxBackoff {
		b = s.cfg.MaxBackoff
	}
	wait := b/2 + rand.N(b/2+1)
	s.retried.Add(1)
	s.outcomes.WithLabelValues("retry").Inc()
	s.log.Warn("webhook: will retry", "type", ev.Type, "eventId", ev.ID, "rounds", m.Attempts, "retryIn", wait)
	if rerr := s.cfg.Store.ReleaseOutbox(context.WithoutCancel(s.ctx), m, s.cfg.Schedule().Add(wait)); rerr != nil {
		s.log.Warn("webhook: cannot release outbox message", "eventId", ev.ID, "err", rerr)
	}
}

// giveUp deletes m from the outbox with an ERROR line and the gave_up
// counter: the one place a revocation event is abandoned, never silently.
func (s *Sender) giveUp(m *store.OutboxMessage, ev webhook.Event, why string, status int, err error) {
	s.gaveUp.Add(1)
	s.outcomes.WithLabelValues("gave_up").Inc()
	s.log.Error("webhook: delivery given up", "why", why, "type", ev.Type, "eventId", m.ID, "userId", ev.UserID,
		"applicationId", m.ApplicationID, "rounds", m.Attempts, "status", status, "err", err)
	if cerr := s.cfg.Store.CompleteOutbox(context.WithoutCancel(s.ctx), m.ID, m.Claim); cerr != nil {
		s.log.Warn("webhook: cannot complete outbox message", "eventId", m.ID, "err", cerr)
	}
}

// send posts ev (encoded as body) to t. A 413 splits the event's ids in
// halves, each sent as an event whose id derives from ev's (so a retry
// splits the same way and the receiver recognises the halves it already
// handled); the result is 200 only when every part was acknowledged.
func (s *Sender) send(ctx context.Context, t target, ev webhook.Event, body []byte) (int, error) {
	status, err := s.attempt(ctx, t, body)
	if err != nil || status != http.StatusRequestEntityTooLarge || len(ev.RefreshTokenIDs) < 2 {
		return status, err
	}
	s.log.Warn("webhook: body too large for the receiver; splitting", "type", ev.Type, "eventId", ev.ID,
		"url", t.logURL, "ids", len(ev.RefreshTokenIDs), "bytes", len(body))
	half := len(ev.RefreshTokenIDs) / 2
	for i, ids := range [][]string{ev.RefreshTokenIDs[:half], ev.RefreshTokenIDs[half:]} {
		part := ev
		part.ID = fmt.Sprintf("%s.%d", ev.ID, i+1)
		part.RefreshTokenIDs = ids
		part = part.Normalize()
		b, err := webhook.Marshal(part)
		if err != nil {
			return 0, err
		}
		if status, err := s.send(ctx, t, part, b); err != nil || status/100 != 2 {
			return status, err
		}
	}
	return http.StatusOK, nil
}

// targets reads the webhook targets of ev: its application's, or every
// application's when it names none.
func (s *Sender) targets(ev webhook.Event) ([]target, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	var apps []*store.Application
	if ev.ApplicationID != "" {
		a, err := s.cfg.Store.GetApplication(ctx, ev.ApplicationID)
		if errors.Is(err, store.ErrNotFound) {
			s.log.Info("webhook: event for a deleted application; nothing to send", "eventId", ev.ID, "applicationId", ev.ApplicationID)
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		apps = []*store.Application{a}
	} else {
		var err error
		if apps, err = s.cfg.Store.ListApplications(ctx); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	var out []target
	for _, a := range apps {
		for _, u := range a.Config.WebhookURLs {
			if a.Config.WebhookSecret == "" {
				s.log.Warn("webhook: application has webhook URLs but no webhook secret; not sending", "applicationId", a.ID, "url", redact(u))
				break
			}
			h := sha256.Sum256([]byte(u + "\n" + a.Config.WebhookSecret))
			k := hex.EncodeToString(h[:8])
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, target{key: k, url: u, logURL: redact(u), secret: []byte(a.Config.WebhookSecret)})
		}
	}
	return out, nil
}

// attempt makes one signed request; it returns the status or the
// transport error.
func (s *Sender) attempt(ctx context.Context, t target, body []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err // the round is over: the rest waits for the next
	}
	s.attempts.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	ts, sig := webhook.Sign(t.secret, s.cfg.Now(), body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhook/1")
	req.Header.Set(webhook.HeaderTimestamp, ts)
	req.Header.Set(webhook.HeaderSignature, sig)
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

// redact returns scheme://host/path of u: no user info, query or
// fragment, which may carry credentials.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host + p.EscapedPath()
}
