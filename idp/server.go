package idp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// Defaults of the zero Config fields (design §7: the CLI's flags read
// them from here).
const (
	DefaultAccessTokenTTL   = 15 * time.Minute    // IDP-TOK-4
	DefaultRefreshTokenTTL  = 30 * 24 * time.Hour // FusionAuth's default
	DefaultGracePeriod      = 10 * time.Second    // one-time-use rotation
	DefaultMaxBodyBytes     = 64 << 10
	DefaultSigningAlgorithm = AlgES256
	// DefaultCollectInterval is the interval embedders pass to Run unless
	// they have a reason for another.
	DefaultCollectInterval = time.Minute
)

// Config configures a Server. The zero value of every field means its
// documented default; a setting that can be turned off has its own
// DisableX field (design §7).
type Config struct {
	// Store is where everything lives. Required.
	Store store.Store
	// Issuer is the iss claim and the discovery issuer, normally the
	// server's public base URL. Required.
	Issuer string
	// Hasher hashes and verifies passwords; default password.NewHasher
	// with OWASP argon2id parameters. Tests inject a counting wrapper.
	Hasher PasswordHasher
	// Logger receives structured logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SigningAlgorithm for new keys: ES256 (DefaultSigningAlgorithm),
	// RS256 or EdDSA.
	SigningAlgorithm string
	// KEKs are the key-encryption keys that seal the private signing keys
	// in the store (AUD-12): the first seals new keys (and, at New, keys
	// stored in plaintext by older versions), every one opens, so a KEK
	// rotation can run with the new and the old one. New refuses a store
	// holding a key none of them opens. Empty: keys are stored in
	// plaintext PKCS#8 (tests and embedders only; a warning is logged).
	KEKs []*KEK
	// AccessTokenTTL default DefaultAccessTokenTTL (15 min, IDP-TOK-4);
	// RefreshTokenTTL default DefaultRefreshTokenTTL (30 days);
	// GracePeriod, how long a just-rotated one-time-use refresh token may
	// be presented again, default DefaultGracePeriod (10 s). Applications
	// may override each. Negative values are refused.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	GracePeriod     time.Duration
	// DisableGracePeriod gives one-time-use refresh tokens no grace
	// period (GracePeriod must then be zero).
	DisableGracePeriod bool
	// Lockout is the per-account brute-force policy.
	Lockout LockoutPolicy
	// Throttle is the per-IP policy: one bucket per end-user IP for failed
	// password logins and a separate one per TCP peer for failed client
	// authentications (AUD-4); its Ceremony sizes bound the WebAuthn
	// ceremony starts per end-user IP (WA-9).
	Throttle ThrottlePolicy
	// Events is told about revocation events once they are committed to
	// the store's outbox (a webhook sender's wake-up call); nil = none.
	// Delivery is the job of an idp/webhooksender.Sender on the same store
	// (in this process or another); without one the outbox only grows. A
	// sink that is a prometheus.Collector is exposed on /metrics.
	Events EventSink
	// MaxBodyBytes caps request bodies; default DefaultMaxBodyBytes (64 KiB).
	MaxBodyBytes int64
	// Mailer sends the account mails (verification, password reset,
	// notices); an *mail.Sender implements it. Nil: flows that need a mail
	// still work through the API, and the mail is logged as not sent.
	Mailer Mailer
}

// Mailer queues a mail for delivery. Send must not wait for the mail
// server: it returns once the message is rendered and queued.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// PasswordHasher is what the server needs from package password;
// *password.Hasher implements it.
type PasswordHasher interface {
	Hash(ctx context.Context, pw string) (string, error)
	Verify(ctx context.Context, encoded, pw string) (ok, needsRehash bool, err error)
	// VerifyDummy costs what Verify costs, against no account.
	VerifyDummy(ctx context.Context, pw string)
	Validate(pw string) error
	Params() password.Params
}

// LockoutPolicy is the per-account brute-force policy (IDP-BF-1, IDP-BF-2,
// NIST 800-63B §5.2.2; see the package doc). Failed password checks are
// counted per account, consecutively: only a successful login, an admin
// unlock or a new password resets the count, never time. The first
// FreeFailures failures cost nothing; after that the account accepts one
// attempt per delay (BaseDelay, doubling with each further failure, at
// most MaxDelay); at HardStop failures it accepts none until an admin
// unlocks it or sets a new password. Attempts refused by the delay or the
// stop are not checked against the password (they cost a dummy hash) and
// answer exactly like a wrong password. A failed login never revokes a
// token or ends a session.
//
// A browser presenting a valid device token for the account (issued on its
// last successful login) bypasses the delay and the stop; its failures
// count against that device only, and after DeviceFailures of them the
// token no longer bypasses anything.
type LockoutPolicy struct {
	// FreeFailures: consecutive failures before the first delay; default 5.
	FreeFailures int
	// BaseDelay: the first delay, default 30 s; MaxDelay: its cap,
	// default 15 min.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// HardStop: consecutive failures that lock the account until an admin
	// unlock or a new password; default and maximum 100.
	HardStop int
	// DeviceFailures: failures with one device token after which it stops
	// bypassing; default 5.
	DeviceFailures int
	// DeviceTokenTTL: lifetime of a device token; default 90 days. Every
	// successful login with it issues a fresh one.
	DeviceTokenTTL time.Duration
	// Disabled turns the per-account counting off (benchmarks only).
	Disabled bool
}

func (p LockoutPolicy) negative() bool {
	return p.FreeFailures < 0 || p.BaseDelay < 0 || p.MaxDelay < 0 || p.HardStop < 0 || p.DeviceFailures < 0 || p.DeviceTokenTTL < 0
}

// withDefaults applies the documented defaults to the zero fields.
func (p LockoutPolicy) withDefaults() LockoutPolicy {
	if p.FreeFailures <= 0 {
		p.FreeFailures = 5
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 30 * time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 15 * time.Minute
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	if p.HardStop <= 0 || p.HardStop > 100 {
		p.HardStop = 100
	}
	if p.FreeFailures > p.HardStop {
		p.FreeFailures = p.HardStop
	}
	if p.DeviceFailures <= 0 {
		p.DeviceFailures = 5
	}
	if p.DeviceTokenTTL <= 0 {
		p.DeviceTokenTTL = 90 * 24 * time.Hour
	}
	return p
}

// delay is how long after the last of n consecutive failures the account
// accepts its next attempt (0 below FreeFailures).
func (p LockoutPolicy) delay(n int) time.Duration {
	if n < p.FreeFailures {
		return 0
	}
	d := p.BaseDelay
	for i := p.FreeFailures; i < n && d < p.MaxDelay; i++ {
		d *= 2
	}
	return min(d, p.MaxDelay)
}

// refuses reports whether the account with failure counter f refuses an
// attempt (without a trusted device token) at now.
func (p LockoutPolicy) refuses(f store.LoginFailures, now time.Time) bool {
	if p.Disabled {
		return false
	}
	if f.Count >= p.HardStop {
		return true
	}
	return now.Before(f.LastFailureAt.Add(p.delay(f.Count)))
}

// core is what the admin operations need and the server shares with them:
// storage, password hashing, the clock, logs and the event sink; no signing
// key, no HTTP (issue 10: admin commands build only this).
type core struct {
	store  store.Store
	hasher PasswordHasher
	log    *slog.Logger
	now    func() time.Time
	events EventSink // nil = none
	// routes answers which API routes exist (API-key permissions name
	// them); the Server's own mux, or routeTable() for an Admin alone.
	routes *http.ServeMux
	// issuer is the IdP's issuer URL; its host name is a context word new
	// passwords may not be built from (AUD-17). Empty for an Admin alone
	// unless AdminConfig.Issuer is set.
	issuer string
}

// Server is the identity server. Create it with New; serve Handler().
type Server struct {
	core
	cfg     Config
	keys    *keyring
	metrics *metrics
	// pwLimit counts failed password logins per end-user IP; clientLimit
	// counts failed client authentications per TCP peer (AUD-4).
	pwLimit     *throttle
	clientLimit *throttle
	// mailLimit counts requests that may send an account mail per
	// end-user IP (ACC-4), with the Throttle policy.
	mailLimit *throttle
	// ceremonyLimit counts WebAuthn ceremony starts per end-user IP
	// (WA-9), with the Throttle policy's Ceremony sizes.
	ceremonyLimit *throttle
	mux           *http.ServeMux
	admin         *Admin

	refreshCount atomic.Int64
}

// New validates cfg, loads (or creates) the signing key and builds the
// routes.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("idp: Config.Store is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("idp: Config.Issuer is required")
	}
	if h, ok := cfg.Hasher.(*password.Hasher); cfg.Hasher == nil || (ok && h == nil) {
		cfg.Hasher = password.NewHasher(password.Params{})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SigningAlgorithm == "" {
		cfg.SigningAlgorithm = DefaultSigningAlgorithm
	}
	if cfg.AccessTokenTTL < 0 || cfg.RefreshTokenTTL < 0 || cfg.GracePeriod < 0 {
		return nil, errors.New("idp: Config durations must not be negative (zero means the default)")
	}
	if cfg.AccessTokenTTL == 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if cfg.RefreshTokenTTL == 0 {
		cfg.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	switch {
	case cfg.DisableGracePeriod && cfg.GracePeriod != 0:
		return nil, errors.New("idp: Config.GracePeriod and DisableGracePeriod are both set")
	case cfg.DisableGracePeriod:
		cfg.GracePeriod = 0
	case cfg.GracePeriod == 0:
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.MaxBodyBytes < 0 || cfg.Lockout.negative() || cfg.Throttle.negative() {
		return nil, errors.New("idp: Config values must not be negative (zero means the default)")
	}
	cfg.Lockout = cfg.Lockout.withDefaults()
	cfg.Throttle = cfg.Throttle.withDefaults()
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	s := &Server{
		core:    core{store: cfg.Store, hasher: cfg.Hasher, log: cfg.Logger, now: cfg.Now, events: cfg.Events, issuer: cfg.Issuer},
		cfg:     cfg,
		metrics: newMetrics(), pwLimit: newThrottle(cfg.Throttle, cfg.Now), clientLimit: newThrottle(cfg.Throttle, cfg.Now),
		mailLimit: newThrottle(cfg.Throttle, cfg.Now), ceremonyLimit: newThrottle(cfg.Throttle.ceremony(), cfg.Now),
	}
	if len(cfg.KEKs) == 0 {
		s.log.Warn("signing keys are stored unencrypted: no key-encryption key configured")
	}
	if c, ok := cfg.Events.(prometheus.Collector); ok {
		if err := s.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("idp: event sink metrics: %w", err)
		}
	}
	// Retired keys stay published a day: longer than any access token.
	kr, err := newKeyring(ctx, cfg.Store, cfg.KEKs, cfg.SigningAlgorithm, 24*time.Hour, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("idp: signing keys: %w", err)
	}
	s.keys = kr
	s.admin = &Admin{s: &s.core}
	s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Admin returns the server's administrative operations (the CLI builds
// its own with NewAdmin, without a Server).
func (s *Server) Admin() *Admin { return s.admin }

// RotateSigningKey creates a new signing key (alg empty = configured one)
// and retires the current one without invalidating tokens it signed.
func (s *Server) RotateSigningKey(ctx context.Context, alg string) (string, error) {
	k, err := s.keys.Rotate(ctx, alg)
	if err != nil {
		return "", err
	}
	return k.ID, nil
}

// RefreshRequests returns how many refresh requests (both refresh paths)
// the server has handled; tests use it to count IdP calls.
func (s *Server) RefreshRequests() int64 {
	return s.refreshCount.Load()
}

// CollectGarbage deletes expired refresh-token families, clears sealed
// successors past the grace period and deletes expired tickets (reset,
// verification, email-change, second-factor ids). It returns the number
// of refresh-token families deleted. Run it periodically (see Run).
func (s *Server) CollectGarbage(ctx context.Context) (int, error) {
	now := s.now()
	cutoff := now.Add(-s.maxGrace(ctx))
	n, err := s.store.DeleteExpiredRefreshTokens(ctx, now, cutoff)
	if err != nil {
		return n, err
	}
	if _, err := s.store.DeleteExpiredTickets(ctx, now); err != nil {
		return n, fmt.Errorf("collect expired tickets: %w", err)
	}
	return n, nil
}

// maxGrace is the longest grace period of any application.
func (s *Server) maxGrace(ctx context.Context) time.Duration {
	g := s.cfg.GracePeriod
	apps, err := s.store.ListApplications(ctx)
	if err != nil {
		return 24 * time.Hour // keep successors rather than lose honest retries
	}
	for _, a := range apps {
		if p := s.policy(a).grace; p > g {
			g = p
		}
	}
	return g
}

// Run collects garbage every interval until ctx ends.
func (s *Server) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.CollectGarbage(ctx); err != nil {
				s.log.Warn("refresh-token collection failed", "err", err)
			} else if n > 0 {
				s.log.Info("expired refresh tokens collected", "count", n)
			}
			s.pwLimit.sweep()
			s.clientLimit.sweep()
			s.mailLimit.sweep()
			s.ceremonyLimit.sweep()
		}
	}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	s.register(func(pattern, route string, f http.HandlerFunc) { m.Handle(pattern, s.instrument(route, f)) })

	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.store.Ping(ctx); err != nil {
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	m.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeEmpty(w, http.StatusNotFound) })
	s.mux = m
	s.core.routes = m
}

// register adds the OAuth and API routes through h (pattern, metrics
// route label, handler).
func (s *Server) register(h func(pattern, route string, f http.HandlerFunc)) {
	h("POST /oauth2/token", "token", s.handleToken)
	h("POST /oauth2/revoke", "revoke", s.handleRevoke)
	h("POST /oauth2/introspect", "introspect", s.handleIntrospect)
	h("GET /oauth2/userinfo", "userinfo", s.handleUserinfo)
	h("POST /oauth2/userinfo", "userinfo", s.handleUserinfo)
	h("GET /.well-known/openid-configuration", "discovery", s.handleDiscovery)
	h("GET /.well-known/jwks.json", "jwks", s.handleJWKS)

	h("POST /api/jwt/refresh", "jwt_refresh", s.handleJWTRefresh)
	h("GET /api/jwt/refresh", "jwt_refresh_list", s.requireAPIKey(s.handleListRefreshTokens))
	h("GET /api/jwt/refresh/{id}", "jwt_refresh_get", s.requireAPIKey(s.handleGetRefreshToken))
	h("DELETE /api/jwt/refresh", "jwt_refresh_delete", s.requireAPIKey(s.handleDeleteRefreshTokens))
	h("DELETE /api/jwt/refresh/{id}", "jwt_refresh_delete", s.requireAPIKey(s.handleDeleteRefreshTokenByID))
	h("GET /api/jwt/validate", "jwt_validate", s.handleValidate)
	h("GET /api/jwt/public-key", "jwt_public_key", s.handlePublicKey)
	h("POST /api/logout", "logout", s.handleLogout)

	s.adminRoutes(h)
	s.twoFactorRoutes(h)
	s.webAuthnRoutes(h)
}

// routeTable is a mux with the API routes and no working handlers: what an
// Admin without a Server asks when it checks API-key permissions.
func routeTable() *http.ServeMux {
	m := http.NewServeMux()
	(&Server{}).register(func(pattern, _ string, f http.HandlerFunc) { m.HandleFunc(pattern, f) })
	return m
}

// absent reports whether a client library meant "not set" (compat §0:
// empty, "null" and "undefined" are treated as absent).
func absent(v string) bool { return v == "" || v == "null" || v == "undefined" }

// param returns a form or query value with absent values normalised to "".
func param(v string) string {
	if absent(v) {
		return ""
	}
	return v
}

// parseForm reads an application/x-www-form-urlencoded body only (OAuth
// endpoints never take parameters from the query string, compat §0).
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) *oauthError {
	ct := r.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return errInvalidRequest("invalid_content_type", "The request body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		return errInvalidRequest("invalid_request_body", "The request body could not be parsed.")
	}
	return nil
}
