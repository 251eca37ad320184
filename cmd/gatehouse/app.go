package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/examples/forums"
	"github.com/gatehouse-auth/gatehouse/examples/shop"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/internal/site"
)

// exampleApp is one runnable example app.
type exampleApp interface {
	http.Handler
	Close() error
}

// runApp runs the Store or the Forums alone against any IdP (ours or
// FusionAuth), configured by flags and GATEHOUSE_* variables.
func runApp(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || (args[0] != "store" && args[0] != "forums") {
		return errors.New("app: which app? gatehouse app store|forums [flags]")
	}
	name := args[0]
	defAddr := demo.DefaultStoreAddr
	if name == "forums" {
		defAddr = demo.DefaultForumsAddr
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	fs := newFlagSet(env, "app "+name)
	addr := fs.String("addr", defAddr, "listen address")
	idpURL := fs.String("idp-url", "http://"+demo.DefaultIdPAddr, "identity server base URL (https, or http on loopback)")
	clientID := fs.String("client-id", "", "OAuth client id (the application id)")
	clientSecret := fs.String("client-secret", "", "OAuth client secret")
	apiKey := fs.String("api-key", "", "optional IdP API key: lets \"sign out everywhere\" revoke all the user's tokens")
	method := fs.String("refresh-method", string(idpclient.DefaultRefreshMethod), "refresh with oauth2 (/oauth2/token) or jwt-refresh (/api/jwt/refresh)")
	revoke := fs.String("revoke-method", string(idpclient.DefaultRevokeMethod), "revoke at logout with oauth2 (/oauth2/revoke) or logout (/api/logout, for FusionAuth)")
	db := fs.String("db", filepath.Join(cache, "gatehouse", name+".db"), "the app's SQLite database")
	sessionDB := fs.String("session-db", "", "SQLite session store (default: next to --db)")
	sessionsURL := fs.String("sessions", "", "session store URL instead of SQLite: redis://… or postgres://… (many app processes may share it)")
	sealKey := fs.String("seal-key", "", "refresh-cookie sealing key, ≥32 bytes as base64url or hex (default: read or create --seal-key-file)")
	sealKeyFile := fs.String("seal-key-file", "", "file holding the sealing key (default: next to --db; created 0600 if missing)")
	webhookSecret := fs.String("webhook-secret", "", "HMAC secret of the IdP's revocation webhook (empty: no receiver)")
	publicOrigin := fs.String("public-origin", "", "the app's origin as browsers see it (https://host[:port]); turns on passkeys, and must be one of the application's WebAuthn origins at the IdP (needs --api-key)")
	// The defaults are appkit's own (design §7); TestFlagDefaultsAreTheLibraries guards it.
	idle := fs.Duration("session-idle", appkit.DefaultIdleTimeout, "session idle timeout")
	absolute := fs.Duration("session-absolute", appkit.DefaultAbsoluteLifetime, "absolute session lifetime")
	cookieAge := fs.Duration("refresh-cookie-max-age", appkit.DefaultRefreshCookieMaxAge, "refresh cookie lifetime (keep ≤ the IdP's refresh-token lifetime)")
	proxies := fs.String("trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	cert := fs.String("tls-cert", "", "TLS certificate file (serve HTTPS)")
	key := fs.String("tls-key", "", "TLS key file")
	behindTLS := fs.Bool("behind-https-proxy", false, "serve plain http behind a TLS-terminating proxy (cookies stay Secure)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level")
	if err := parse(env, fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("app: unexpected argument %q", fs.Arg(0))
	}
	if *clientID == "" || *clientSecret == "" {
		return errors.New("app: --client-id and --client-secret are required")
	}
	if err := checkRefreshMethod(*method); err != nil {
		return err
	}
	if *revoke != string(idpclient.RevokeOAuth2) && *revoke != string(idpclient.RevokeLogout) {
		return fmt.Errorf("--revoke-method %q: want oauth2 or logout", *revoke)
	}
	if (*cert == "") != (*key == "") {
		return errors.New("app: give both --tls-cert and --tls-key")
	}
	// Plain http is development mode, which the kit allows on loopback only.
	dev := *cert == "" && !*behindTLS
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("app: --addr: %w", err)
	}
	if dev && !idpclient.IsLoopbackHost(host) {
		return errors.New("app: plain http is for loopback only: listen on 127.0.0.1, or give --tls-cert/--tls-key, or --behind-https-proxy")
	}
	var trusted []netip.Prefix
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("app: --trusted-proxies: %w", err)
		}
		trusted = append(trusted, pfx)
	}
	seal, err := loadSealKey(*sealKey, *sealKeyFile, *db)
	if err != nil {
		return err
	}
	log := newLogger(env.stderr, *logFormat, *logLevel)
	sessions, err := openSessions(ctx, *sessionsURL, name, log)
	if err != nil {
		return err
	}
	if sessions != nil {
		defer sessions.Close()
	}
	cfg := site.Config{
		Sessions: sessions,
		IdPURL:   *idpURL, ClientID: *clientID, ClientSecret: *clientSecret, APIKey: *apiKey,
		RefreshMethod: idpclient.RefreshMethod(*method), RevokeMethod: idpclient.RevokeMethod(*revoke),
		DBPath: *db, SessionDBPath: *sessionDB, SealKey: seal, WebhookSecret: *webhookSecret,
		DevMode: dev, TrustedProxies: trusted, IdleTimeout: *idle, AbsoluteLifetime: *absolute,
		RefreshCookieMaxAge: *cookieAge, Logger: log, PublicOrigin: *publicOrigin,
	}
	var app exampleApp
	if name == "store" {
		app, err = shop.New(ctx, cfg)
	} else {
		app, err = forums.New(ctx, cfg)
	}
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if *cert != "" {
		scheme = "https"
	}
	log.Info(name+" listening", "url", scheme+"://"+ln.Addr().String(), "idp", *idpURL, "devMode", dev, "webhook", *webhookSecret != "")
	return serve(ctx, log, ln, app, *cert, *key, nil)
}

// loadSealKey returns the sealing key from the flag, or from the key file
// (created with 32 random bytes when missing, so restarts keep refresh
// cookies valid).
func loadSealKey(flagValue, file, db string) ([]byte, error) {
	if flagValue != "" {
		return decodeKey(flagValue)
	}
	if file == "" {
		file = strings.TrimSuffix(db, filepath.Ext(db)) + "-seal.key"
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		_, _ = rand.Read(raw) // never fails (Go 1.24+)
		enc := base64.RawURLEncoding.EncodeToString(raw)
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return nil, fmt.Errorf("app: seal key file: %w", err)
		}
		if err := os.WriteFile(file, []byte(enc+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("app: seal key file: %w", err)
		}
		return raw, nil
	}
	if err != nil {
		return nil, fmt.Errorf("app: seal key file: %w", err)
	}
	return decodeKey(strings.TrimSpace(string(b)))
}

// decodeKey accepts base64url (padded or not), standard base64 or hex, of
// at least 32 bytes.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, dec := range []func(string) ([]byte, error){
		hex.DecodeString, base64.RawURLEncoding.DecodeString, base64.URLEncoding.DecodeString, base64.StdEncoding.DecodeString,
	} {
		if b, err := dec(s); err == nil && len(b) >= 32 {
			return b, nil
		}
	}
	return nil, errors.New("app: the seal key must be at least 32 bytes, as hex or base64")
}
