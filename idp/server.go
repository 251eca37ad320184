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

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Store is where everything lives. Required.
	Store store.Store
	// Issuer is the iss claim and the discovery issuer, normally the
	// server's public base URL. Required.
	Issuer string
	// Hasher hashes and verifies passwords; default password.NewHasher
	// with OWASP argon2id parameters.
	Hasher *password.Hasher
	// Logger receives structured logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SigningAlgorithm for new keys: ES256 (default), RS256 or EdDSA.
	SigningAlgorithm string
	// AccessTokenTTL default 15 min (IDP-TOK-4); RefreshTokenTTL default
	// 30 days; GracePeriod for one-time-use rotation default 10 s.
	// Applications may override each.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	GracePeriod     time.Duration
	// Lockout is the per-account brute-force policy.
	Lockout LockoutPolicy
	// Throttle is the per-client-IP policy for failed logins and failed
	// client authentications.
	Throttle ThrottlePolicy
	// Events is told about revocation events once they are committed to
	// the store's outbox (a webhook sender's wake-up call); nil = none.
	// Delivery is the job of an idp/webhooksender.Sender on the same store
	// (in this process or another); without one the outbox only grows. A
	// sink that is a prometheus.Collector is exposed on /metrics.
	Events EventSink
	// MaxBodyBytes caps request bodies; default 64 KiB.
	MaxBodyBytes int64
}

// LockoutPolicy mirrors FusionAuth's failedAuthenticationConfiguration:
// MaxFailures failed logins within Window lock the account for Duration
// (IDP-BF-1, IDP-BF-2). Defaults: 5, 60 s, 3 min. RevokeOnLock (default
// true, set KeepTokensOnLock to disable) revokes the user's refresh tokens,
// like refreshTokenRevocationPolicy.onLoginPrevented.
type LockoutPolicy struct {
	MaxFailures      int
	Window           time.Duration
	Duration         time.Duration
	KeepTokensOnLock bool
	Disabled         bool
}

// Server is the identity server. Create it with New; serve Handler().
type Server struct {
	cfg     Config
	store   store.Store
	hasher  *password.Hasher
	log     *slog.Logger
	now     func() time.Time
	keys    *keyring
	metrics *metrics
	ipLimit *throttle
	mux     *http.ServeMux
	admin   *Admin

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
	if cfg.Hasher == nil {
		cfg.Hasher = password.NewHasher(password.Params{})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SigningAlgorithm == "" {
		cfg.SigningAlgorithm = AlgES256
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = 15 * time.Minute
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	if cfg.GracePeriod == 0 {
		cfg.GracePeriod = 10 * time.Second
	} else if cfg.GracePeriod < 0 {
		cfg.GracePeriod = 0
	}
	if cfg.Lockout.MaxFailures <= 0 {
		cfg.Lockout.MaxFailures = 5
	}
	if cfg.Lockout.Window <= 0 {
		cfg.Lockout.Window = time.Minute
	}
	if cfg.Lockout.Duration <= 0 {
		cfg.Lockout.Duration = 3 * time.Minute
	}
	cfg.Throttle = cfg.Throttle.withDefaults()
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	s := &Server{
		cfg: cfg, store: cfg.Store, hasher: cfg.Hasher, log: cfg.Logger, now: cfg.Now,
		metrics: newMetrics(), ipLimit: newThrottle(cfg.Throttle, cfg.Now),
	}
	if c, ok := cfg.Events.(prometheus.Collector); ok {
		if err := s.metrics.reg.Register(c); err != nil {
			return nil, fmt.Errorf("idp: event sink metrics: %w", err)
		}
	}
	// Retired keys stay published a day: longer than any access token.
	kr, err := newKeyring(ctx, cfg.Store, cfg.SigningAlgorithm, 24*time.Hour, cfg.Now)
	if err != nil {
		return nil, fmt.Errorf("idp: signing keys: %w", err)
	}
	s.keys = kr
	s.admin = &Admin{s: s}
	s.routes()
	return s, nil
}

// Handler returns the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Admin returns the administrative operations (also used by the CLI).
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

// CollectGarbage deletes expired refresh-token families and clears sealed
// successors past the grace period. Run it periodically (see Run).
func (s *Server) CollectGarbage(ctx context.Context) (int, error) {
	now := s.now()
	cutoff := now.Add(-s.maxGrace(ctx))
	return s.store.DeleteExpiredRefreshTokens(ctx, now, cutoff)
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
			s.ipLimit.sweep()
		}
	}
}

func (s *Server) routes() {
	m := http.NewServeMux()
	h := func(pattern, route string, f http.HandlerFunc) { m.Handle(pattern, s.instrument(route, f)) }

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
}

// absent reports whether a client library meant "not set" (spec §0:
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
// endpoints never take parameters from the query string, spec §0).
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
