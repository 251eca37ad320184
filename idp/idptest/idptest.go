// Package idptest runs a real Gatehouse identity server for tests: the
// idp package on a SQLite store in a temporary directory, served on
// 127.0.0.1. It is not a stub: app-side tests that use it exercise the same
// code and storage a deployment does. Only the password-hashing cost is
// lowered (argon2id with 64 KiB) so tests stay fast.
package idptest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/password"
)

// IdP is a running identity server.
type IdP struct {
	URL    string // base URL, e.g. http://127.0.0.1:PORT
	APIKey string // an API key for /api/*
	Store  store.Store
	Server *idp.Server

	mu   sync.Mutex
	addr string
	srv  *httptest.Server
}

// Start starts an identity server with the default configuration; it
// stops when the test ends.
func Start(t testing.TB) *IdP {
	t.Helper()
	return StartConfig(t, idp.Config{})
}

// StartConfig starts an identity server configured by cfg (clock, lockout,
// event sink...); it stops when the test ends. Store and Issuer are always
// the test's own; a zero Hasher, Logger or KEKs take the test defaults (a
// cheap argon2id, no logs, one fresh key-encryption key).
func StartConfig(t testing.TB, cfg idp.Config) *IdP {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "idp.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("idptest: open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("idptest: listen: %v", err)
	}
	url := "http://" + ln.Addr().String()
	// Signing keys sealed as in a deployment (AUD-12).
	kek, _, err := idp.GenerateKEK()
	if err != nil {
		t.Fatalf("idptest: key-encryption key: %v", err)
	}
	cfg.Store, cfg.Issuer = st, url
	if len(cfg.KEKs) == 0 {
		cfg.KEKs = []*idp.KEK{kek}
	}
	if cfg.Hasher == nil {
		cfg.Hasher = password.NewHasher(password.Params{Memory: 64, Time: 1})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := idp.New(ctx, cfg)
	if err != nil {
		t.Fatalf("idptest: new server: %v", err)
	}
	i := &IdP{URL: url, Store: st, Server: srv, addr: ln.Addr().String()}
	i.serve(ln)
	t.Cleanup(i.Stop)
	key, _, err := srv.Admin().CreateAPIKey(ctx, "idptest")
	if err != nil {
		t.Fatalf("idptest: api key: %v", err)
	}
	i.APIKey = key
	return i
}

func (i *IdP) serve(ln net.Listener) {
	s := httptest.NewUnstartedServer(i.Server.Handler())
	s.Listener = ln
	s.Start()
	i.srv = s
}

// Stop closes the server: connections are refused until Restart.
func (i *IdP) Stop() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.srv != nil {
		i.srv.CloseClientConnections()
		i.srv.Close()
		i.srv = nil
	}
}

// Restart serves again on the same address after Stop.
func (i *IdP) Restart() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.srv != nil {
		return nil
	}
	var ln net.Listener
	var err error
	for try := 0; try < 50; try++ { // the port may linger briefly after Close
		if ln, err = net.Listen("tcp", i.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	i.serve(ln)
	return nil
}

// AppOptions describe a test application.
type AppOptions struct {
	Name       string
	AccessTTL  time.Duration // default: server default (15 min)
	RefreshTTL time.Duration // rounded up to whole minutes; default 30 days
	// GracePeriod is the one-time-use grace period; default the server's
	// (10 s). DisableGracePeriod gives the application none.
	GracePeriod        time.Duration
	DisableGracePeriod bool
	Reusable           bool
	// Expiration is the refresh-token expiration policy (default Fixed).
	Expiration  string
	MaxLifetime time.Duration
	WebhookURLs []string
	Public      bool
	// Roles the application defines; default "user" and "admin" (the
	// roles CreateUser registers with must be defined, AUD-15).
	Roles []string
	// WebAuthnRelyingPartyID and WebAuthnOrigins are the application's
	// passkey relying party (default: none).
	WebAuthnRelyingPartyID string
	WebAuthnOrigins        []string
}

// CreateApp creates a confidential application with the password and
// refresh_token grants, refresh tokens and /api/jwt/refresh enabled.
func (i *IdP) CreateApp(t testing.TB, o AppOptions) (clientID, clientSecret string) {
	t.Helper()
	if o.Name == "" {
		o.Name = "test app"
	}
	cfg := store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true,
		AccessTokenTTLSeconds: int(o.AccessTTL / time.Second), RefreshTokenExpirationPolicy: o.Expiration,
		RefreshTokenMaxLifetimeMinutes: int((o.MaxLifetime + time.Minute - 1) / time.Minute),
		WebhookURLs:                    o.WebhookURLs,
		Roles:                          o.Roles,
		WebAuthnRelyingPartyID:         o.WebAuthnRelyingPartyID,
		WebAuthnOrigins:                o.WebAuthnOrigins,
	}
	if cfg.Roles == nil {
		cfg.Roles = []string{"user", "admin"}
	}
	if o.RefreshTTL > 0 {
		cfg.RefreshTokenTTLMinutes = int((o.RefreshTTL + time.Minute - 1) / time.Minute)
	}
	// The wire field is a *int: nil is the server default, 0 none.
	switch {
	case o.DisableGracePeriod:
		g := 0
		cfg.GracePeriodSeconds = &g
	case o.GracePeriod > 0:
		g := int(o.GracePeriod / time.Second)
		cfg.GracePeriodSeconds = &g
	}
	if o.Reusable {
		cfg.RefreshTokenUsagePolicy = idp.PolicyReusable
	}
	app, secret, err := i.Server.Admin().CreateApplication(context.Background(), idp.ApplicationSpec{Name: o.Name, Config: cfg, Public: o.Public})
	if err != nil {
		t.Fatalf("idptest: create app: %v", err)
	}
	return app.ID, secret
}

// CreateUser creates a verified user (password ≥ 15 characters) and
// registers it to each application with the role "user".
func (i *IdP) CreateUser(t testing.TB, email, pw string, appIDs ...string) string {
	t.Helper()
	ctx := context.Background()
	u, err := i.Server.Admin().CreateUser(ctx, idp.UserSpec{Email: email, Password: pw, Verified: true})
	if err != nil {
		t.Fatalf("idptest: create user: %v", err)
	}
	for _, a := range appIDs {
		if _, err := i.Server.Admin().Register(ctx, u.ID, a, []string{"user"}); err != nil {
			t.Fatalf("idptest: register: %v", err)
		}
	}
	return u.ID
}

// RefreshCalls returns how many refresh requests the server has handled
// (token endpoint and /api/jwt/refresh).
func (i *IdP) RefreshCalls() int64 { return i.Server.RefreshRequests() }

// Client returns an http.Client for the server.
func (i *IdP) Client() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
