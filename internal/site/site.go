// Package site is the frame the two Gatehouse example apps (Store and
// Forums) share: configuration, the app kit wired to the IdP and a
// session store, the page layout and stylesheet, the login, "my sessions"
// and error pages (404 and 405 included), the revocation webhook receiver
// (S10), the health endpoints, and the security headers of every response
// (CSP with script-src 'self', nosniff; see secure). Each app adds its own
// data, routes and page templates; its templates may use neither inline
// scripts nor inline styles.
//
// It owns how an example app is assembled; it does not own the login
// architecture itself (package appkit), the IdP protocol (idpclient), the
// webhook format (webhook) or any app's data (examples/shop,
// examples/forums).
package site

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sqlitestore"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

//go:embed templates/*.html static/*.css
var assets embed.FS

// WebhookPath is where the revocation webhook receiver is mounted.
const WebhookPath = "/webhooks/gatehouse"

// Config is what an operator gives an example app: where the IdP is, the
// app's client credentials, its files and secrets, and its lifetimes.
type Config struct {
	// IdPURL is the identity server's base URL (https, or http on
	// loopback). Required.
	IdPURL string
	// ClientID and ClientSecret are the app's OAuth client credentials.
	// Required.
	ClientID     string
	ClientSecret string
	// APIKey is optional: with it, "sign out everywhere" revokes all the
	// user's refresh tokens at the IdP and ending another session revokes
	// that session's token.
	APIKey string
	// RefreshMethod: idpclient.RefreshOAuth2 (default) or RefreshJWT
	// (FusionAuth's /api/jwt/refresh).
	RefreshMethod idpclient.RefreshMethod
	// RevokeMethod: idpclient.RevokeOAuth2 (default) or RevokeLogout (for a
	// real FusionAuth).
	RevokeMethod idpclient.RevokeMethod

	// DBPath is the app's own SQLite database file. Required.
	DBPath string
	// SessionDBPath is the SQLite session store file; default: DBPath
	// with "-sessions" before the extension.
	SessionDBPath string
	// Sessions, when set, is used instead of opening SessionDBPath (Redis,
	// PostgreSQL, memory); the app does not close it.
	Sessions sessionstore.Store

	// SealKey (≥ 32 random bytes) seals the refresh cookie. It must stay
	// the same across restarts and processes, or users are signed out at
	// their next refresh. Required.
	SealKey     []byte
	OldSealKeys [][]byte
	// WebhookSecret is the HMAC key the IdP signs revocation events with
	// (the application's webhookSecret). Empty: no receiver is mounted.
	WebhookSecret string

	// PublicOrigin is the app's origin as browsers see it
	// (scheme://host[:port]); it turns on passkeys (appkit
	// Config.PublicOrigin) and must be one of the application's WebAuthn
	// origins at the IdP. Empty: no passkeys.
	PublicOrigin string

	// DevMode serves plain http to loopback clients only (no Secure
	// cookies, no __Host- prefix). Never in production.
	DevMode bool
	// TrustedProxies are peers whose X-Forwarded-For names the browser.
	TrustedProxies []netip.Prefix

	// IdleTimeout, AbsoluteLifetime, RefreshCookieMaxAge and
	// RefreshResultTTL are passed to the app kit (zero = its default).
	IdleTimeout         time.Duration
	AbsoluteLifetime    time.Duration
	RefreshCookieMaxAge time.Duration
	RefreshResultTTL    time.Duration

	// HTTPClient is the base client for IdP calls (proxy, TLS roots).
	HTTPClient *http.Client
	// Logger default slog.Default(); Now default time.Now (tests share a
	// fake clock between IdP, kit and store).
	Logger *slog.Logger
	Now    func() time.Time
}

// Link is a navigation entry.
type Link struct {
	Path, Label string
}

// Spec is what an app fixes about itself.
type Spec struct {
	// Name is shown in the header, titles and login page.
	Name string
	// CookieName prefixes the app's cookies ("store" → store-sid,
	// store-rt), so two apps on one host never collide.
	CookieName string
	// HomePath is where a login without next lands.
	HomePath string
	// Accent and AccentSoft are the app's CSS colours.
	Accent, AccentSoft string
	// Nav is the header navigation.
	Nav []Link
	// Pages holds the app's page templates, "*.html" at its root, each
	// defining "title" and "content"; a page is rendered by file name
	// without extension.
	Pages fs.FS
	// Funcs are extra template functions for the app's pages.
	Funcs template.FuncMap
	// Ready reports whether the app's own data can be served (/readyz).
	Ready func(context.Context) error
	// Counts, when set, gives numbers the header shows after navigation
	// labels for a signed-in user, keyed by Link.Path (the Store's cart:
	// "Cart (3)" on every page). An error is logged and shows no numbers.
	Counts func(ctx context.Context, userID string) (map[string]int, error)
}

// Info is the site-wide data templates see through the "site" function.
type Info struct {
	Name string
	Nav  []Link
}

// Page is the data an app page is rendered with.
type Page struct {
	// Path is the request path (for navigation highlighting).
	Path string
	// User is the signed-in user, or nil.
	User *appkit.UserInfo
	// Notice is an optional status line.
	Notice string
	// Data is the page's own data.
	Data any

	// ctx is the request's, for the header's counts (set by Render).
	ctx context.Context
}

// chrome is what the layout needs from any page, kit-rendered or not.
type chrome struct {
	Site *Info
	User *appkit.UserInfo
	Path string
	// Counts are the numbers shown after nav labels (Spec.Counts).
	Counts map[string]int
}

// loginView is the login page for a browser that is already signed in:
// the kit's form, plus who is signed in (the template reads it through
// chrome).
type loginView struct {
	*appkit.LoginPage
	user *appkit.UserInfo
	ctx  context.Context
}

// Site is one assembled example app. Apps register their routes on Mux.
type Site struct {
	// Kit is the app's session layer.
	Kit *appkit.Kit
	// Sessions is the session store.
	Sessions sessionstore.Store
	// Mux is the app's router; Site has registered /healthz, /readyz,
	// /static/, /login, /logout, /sessions, the account pages (/signup,
	// /forgot-password, /reset-password, /verify-email, /account/...),
	// the webhook and a 404/405 page. Serve the Site, not Mux: Site adds the security headers.
	Mux *http.ServeMux
	// Log is the app's logger.
	Log *slog.Logger

	spec        Spec
	info        *Info
	clientID    string
	pages       map[string]*template.Template
	css, icon   []byte
	ownSessions bool
	devMode     bool
	handler     http.Handler // Mux behind the secure middleware
	// db is the site's own pool on the app's database (DBPath), holding
	// the webhook ids handled (seen); nil without a webhook receiver.
	db   *sql.DB
	seen webhook.SeenStore
}

// New checks cfg, opens the session store and builds the site.
func New(ctx context.Context, cfg Config, spec Spec) (*Site, error) {
	if cfg.DBPath == "" {
		return nil, errors.New("site: Config.DBPath is required")
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("site: Config.ClientSecret is required (the password grant needs a confidential client)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger.With("app", spec.CookieName)
	ic, err := idpclient.New(idpclient.Config{
		BaseURL: cfg.IdPURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, APIKey: cfg.APIKey,
		RefreshMethod: cfg.RefreshMethod, RevokeMethod: cfg.RevokeMethod, HTTPClient: cfg.HTTPClient,
		Logger: log, Now: cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	s := &Site{Mux: http.NewServeMux(), Log: log, spec: spec, clientID: cfg.ClientID,
		info: &Info{Name: spec.Name, Nav: spec.Nav}, devMode: cfg.DevMode}
	s.handler = s.secure(s.Mux)
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.Sessions = cfg.Sessions
	if s.Sessions == nil {
		p := cfg.SessionDBPath
		if p == "" {
			p = strings.TrimSuffix(cfg.DBPath, path.Ext(cfg.DBPath)) + "-sessions.db"
		}
		st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: p, Now: cfg.Now, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("site: session store: %w", err)
		}
		s.Sessions, s.ownSessions = st, true
	}
	kit, err := appkit.New(appkit.Config{
		IdP: ic, Store: s.Sessions, SealKey: cfg.SealKey, OldSealKeys: cfg.OldSealKeys,
		CookieName: spec.CookieName, DevMode: cfg.DevMode,
		IdleTimeout: cfg.IdleTimeout, AbsoluteLifetime: cfg.AbsoluteLifetime,
		RefreshCookieMaxAge: cfg.RefreshCookieMaxAge, RefreshResultTTL: cfg.RefreshResultTTL,
		LoginPath: "/login", HomePath: spec.HomePath, SessionsPath: "/sessions",
		LoginTemplate: s.pages["login"], Unavailable: http.HandlerFunc(s.unavailable),
		SignupTemplate: s.pages["signup"], ForgotPasswordTemplate: s.pages["forgot"],
		ResetPasswordTemplate: s.pages["reset"], VerifyEmailTemplate: s.pages["verify"],
		AccountTemplate: s.pages["account"], PublicOrigin: cfg.PublicOrigin,
		TrustedProxies: cfg.TrustedProxies, Logger: log, Now: cfg.Now,
		SecondStepTemplate: s.pages["second-step"], AppName: spec.Name,
		// The site's outermost middleware sets these on every response,
		// with a CSP that also forbids inline scripts (AUD-17).
		DisableSecurityHeaders: true,
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("site: %w", err)
	}
	s.Kit = kit
	if cfg.WebhookSecret != "" {
		// Replay protection that survives a restart (AUD-10): the ids
		// live in the app's own database, not in memory.
		if s.db, err = openFile(cfg.DBPath); err != nil {
			s.Close()
			return nil, fmt.Errorf("site: webhook ids: %w", err)
		}
		if s.seen, err = NewSeenDB(ctx, s.db, cfg.Now); err != nil {
			s.Close()
			return nil, fmt.Errorf("site: webhook ids: %w", err)
		}
	}
	if err := s.routes(cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Site) parseTemplates() error {
	funcs := template.FuncMap{
		"site":   func() *Info { return s.info },
		"chrome": s.chromeOf,
		"when":   when,
		"viewer": viewer,
	}
	for k, v := range s.spec.Funcs {
		funcs[k] = v
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return fmt.Errorf("site: layout: %w", err)
	}
	s.pages = map[string]*template.Template{}
	add := func(fsys fs.FS, file string) error {
		t, err := base.Clone()
		if err != nil {
			return err
		}
		if _, err := t.ParseFS(fsys, file); err != nil {
			return fmt.Errorf("site: template %s: %w", file, err)
		}
		s.pages[strings.TrimSuffix(path.Base(file), ".html")] = t
		return nil
	}
	for _, f := range []string{"templates/login.html", "templates/sessions.html", "templates/error.html", "templates/signout-everywhere.html",
		"templates/signup.html", "templates/forgot.html", "templates/reset.html", "templates/verify.html", "templates/account.html",
		"templates/second-step.html"} {
		if err := add(assets, f); err != nil {
			return err
		}
	}
	if s.spec.Pages != nil {
		files, err := fs.Glob(s.spec.Pages, "*.html")
		if err != nil {
			return fmt.Errorf("site: pages: %w", err)
		}
		for _, f := range files {
			if err := add(s.spec.Pages, f); err != nil {
				return err
			}
		}
	}
	css, err := assets.ReadFile("static/base.css")
	if err != nil {
		return fmt.Errorf("site: stylesheet: %w", err)
	}
	s.css = append([]byte(fmt.Sprintf(":root { --accent: %s; --accent-soft: %s; }\n", s.spec.Accent, s.spec.AccentSoft)), css...)
	s.icon = []byte(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="%s"/></svg>`, s.spec.Accent))
	return nil
}

// chromeOf extracts the layout's data from any page type.
func (s *Site) chromeOf(v any) chrome {
	c := chrome{Site: s.info}
	ctx := context.Background()
	switch p := v.(type) {
	case *Page:
		c.User, c.Path = p.User, p.Path
		if p.ctx != nil {
			ctx = p.ctx
		}
	case *appkit.SessionsPage:
		// The kit renders this page without handing over the request;
		// the counts are read under their own short deadline instead.
		c.User, c.Path = p.User, "/sessions"
	case *appkit.LoginPage:
		c.Path = "/login"
	case *loginView:
		c.User, c.Path, ctx = p.user, "/login", p.ctx
	case *appkit.FormPage:
		c.User, c.Path = p.User, "/"+p.Form
	case *appkit.AccountPage:
		c.User, c.Path = p.User, "/account"
	}
	c.Counts = s.counts(ctx, c.User)
	return c
}

// counts reads Spec.Counts for u; nil without a user, a Counts function
// or on an error (logged: the page still renders).
func (s *Site) counts(ctx context.Context, u *appkit.UserInfo) map[string]int {
	if u == nil || s.spec.Counts == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	m, err := s.spec.Counts(ctx, u.ID)
	if err != nil {
		s.Log.Warn("header counts", "err", err)
		return nil
	}
	return m
}

func (s *Site) routes(cfg Config) error {
	m := s.Mux
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	m.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if s.spec.Ready != nil {
			if err := s.spec.Ready(ctx); err != nil {
				s.Log.Warn("not ready", "err", err)
				http.Error(w, "not ready", http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	m.HandleFunc("GET /static/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(s.css)
	})
	m.HandleFunc("GET /static/icon.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(s.icon)
	})
	m.Handle("/login", s.loginHandler())
	m.Handle("/logout", s.logoutHandler())
	m.Handle("/sessions", s.sessionsHandler())
	// Sign-up, forgotten password, the mailed reset and verification
	// links, and the account page (issue 11).
	s.Kit.AccountRoutes(m)
	// Passkeys (issue 12): /login/passkey…, /account/passkeys… and the
	// script at /static/passkey.js, when PublicOrigin is set.
	s.Kit.PasskeyRoutes(m)
	if cfg.WebhookSecret != "" {
		rc, err := webhook.NewReceiver(webhook.ReceiverConfig{
			Secret: []byte(cfg.WebhookSecret), Handle: s.handleEvent, Seen: s.seen, Logger: s.Log, Now: cfg.Now,
		})
		if err != nil {
			return fmt.Errorf("site: webhook receiver: %w", err)
		}
		// Authenticated by its signature, not by cookies: no CSRF check
		// applies (and the IdP sends no Origin).
		m.Handle(WebhookPath, rc)
	}
	m.Handle(catchAllPattern, s.Kit.OptionalLogin(http.HandlerFunc(s.notFound)))
	return nil
}

// logoutHandler is the kit's logout, landing on the start page "/" rather
// than HomePath (which, for the Store, is the cart behind a login).
func (s *Site) logoutHandler() http.Handler {
	h := s.Kit.LogoutHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&landingWriter{ResponseWriter: w, from: s.spec.HomePath}, r)
	})
}

// landingWriter rewrites a 303 to from into a 303 to "/".
type landingWriter struct {
	http.ResponseWriter
	from string
}

func (l *landingWriter) WriteHeader(code int) {
	if code == http.StatusSeeOther && l.Header().Get("Location") == l.from {
		l.Header().Set("Location", "/")
	}
	l.ResponseWriter.WriteHeader(code)
}

// handleEvent ends the sessions a revocation event concerns (S10).
// A revoked refresh-token family ends the sessions created from it; an
// account event (deactivation, deletion, password change) or a revocation
// without family ids ends all the user's sessions in this app.
func (s *Site) handleEvent(ctx context.Context, e webhook.Event) error {
	if e.ApplicationID != "" && e.ApplicationID != s.clientID {
		s.Log.Warn("webhook: event for another application ignored", "type", e.Type, "applicationId", e.ApplicationID)
		return nil
	}
	if e.UserID == "" {
		// Gatehouse names the user even in an application-wide revocation
		// (one event per user); an event without one has nothing to match
		// sessions by, and they end at their next refresh.
		s.Log.Info("webhook: event without a user; nothing to end", "type", e.Type, "reason", e.Reason)
		return nil
	}
	switch e.Type {
	case webhook.EventRefreshTokenRevoke:
		if len(e.RefreshTokenIDs) > 0 {
			return s.endFamilies(ctx, e.UserID, e.RefreshTokenIDs)
		}
	case webhook.EventUserDeactivate, webhook.EventUserDelete, webhook.EventUserPasswordUpdate:
	default:
		return nil
	}
	_, err := s.Kit.EndUserSessions(ctx, e.UserID)
	return err
}

// endFamilies deletes the user's sessions whose refresh-token family is
// one of ids: a logout on one device leaves the user's other devices
// signed in, a reuse or "sign out everywhere" ends every session of those
// families.
func (s *Site) endFamilies(ctx context.Context, userID string, ids []string) error {
	list, err := s.Sessions.ListByUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("list sessions: %w", err)
	}
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	for _, sess := range list {
		if sess.RefreshTokenID == "" || want[sess.RefreshTokenID] {
			if err := s.Sessions.Delete(ctx, sess.Key); err != nil {
				return fmt.Errorf("delete session: %w", err)
			}
			n++
		}
	}
	s.Log.Info("webhook: sessions ended", "user", userID, "count", n)
	return nil
}

// Render executes the page template name with p (filling in Path and
// User from r) and writes it with status. Templates run into a buffer
// first, so a template error is a clean 500.
func (s *Site) Render(w http.ResponseWriter, r *http.Request, status int, name string, p *Page) {
	if _, ok := s.pages[name]; !ok {
		s.Log.Error("unknown page template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if p == nil {
		p = &Page{}
	}
	p.Path, p.ctx = r.URL.Path, r.Context()
	if p.User == nil {
		p.User = appkit.User(r.Context())
	}
	s.execute(w, status, name, p)
}

// ErrorData is what the error page shows.
type ErrorData struct {
	Title, Message string
}

// Error renders the error page with status and a message for the user.
func (s *Site) Error(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.Render(w, r, status, "error", &Page{Data: ErrorData{Title: http.StatusText(status), Message: msg}})
}

// unavailable is the kit's 503 page (IdP or store unreachable).
func (s *Site) unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	s.Render(w, r, http.StatusServiceUnavailable, "error", &Page{Data: ErrorData{
		Title:   "Temporarily unavailable",
		Message: "Sign-in is temporarily unavailable. You are still signed in; please try again in a moment.",
	}})
}

// ServeHTTP serves the app: Mux behind the security headers and error
// pages of secure.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Close closes the session store when the site opened it, and the site's
// pool on the app's database.
func (s *Site) Close() error {
	var errs []error
	if s.ownSessions && s.Sessions != nil {
		errs = append(errs, s.Sessions.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// when formats a time for pages: "2006-01-02 15:04" in UTC, or "—".
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
