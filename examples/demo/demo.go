// Package demo runs the whole Gatehouse architecture on loopback: the
// identity server (SQLite) and the Store and Forums example apps, each on
// its own address with its own database, wired together with revocation
// webhooks, and a mailbox (an SMTP server on loopback and a web page)
// that receives the IdP's account mail. On first start in a directory it creates the two applications
// (OAuth clients with webhook URLs and secrets), an admin API key and demo
// users, and writes DIR/demo.json (design §6); later starts reuse
// everything, so users, carts, posts, sessions and refresh cookies survive
// restarts.
//
// It is what `gatehouse demo` runs, and what the e2e tests start in
// process. It owns the demo's wiring and its files; the parts themselves
// are packages idp, webhook, examples/shop and examples/forums.
package demo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/examples/forums"
	"github.com/gatehouse-auth/gatehouse/examples/shop"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	idpstore "github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/internal/mailbox"
	"github.com/gatehouse-auth/gatehouse/internal/site"
)

// Default listen addresses (design §6).
const (
	DefaultIdPAddr    = "127.0.0.1:9011"
	DefaultStoreAddr  = "127.0.0.1:8081"
	DefaultForumsAddr = "127.0.0.1:8082"
	// DefaultMailboxAddr is the mailbox web page's address.
	DefaultMailboxAddr = "127.0.0.1:8025"
)

// PasskeyRelyingPartyID is the demo applications' WebAuthn relying
// party: browsers refuse an IP address (127.0.0.1) as one, so passkeys
// work at http://localhost:PORT, the same app under its other loopback
// name (PasskeyOrigin).
const PasskeyRelyingPartyID = "localhost"

// PasskeyOrigin is the origin passkeys work at for an app served at
// appURL (http://127.0.0.1:8081 → http://localhost:8081).
func PasskeyOrigin(appURL string) string {
	u, err := url.Parse(appURL)
	if err != nil || u.Port() == "" {
		return "http://localhost"
	}
	return "http://localhost:" + u.Port()
}

// MailboxDir is the directory under Dir that keeps the mailbox's
// messages.
const MailboxDir = "mailbox"

// Options configure a demo. Dir is required; zero values take the
// defaults of the parts.
type Options struct {
	// Dir holds every file of the demo (databases, demo.json,
	// secrets.json, the key-encryption key file kek). Created 0700.
	Dir string
	// Listen addresses; loopback only (development mode serves plain
	// http). Port 0 picks a free port; demo.json records the real one.
	// MailboxAddr is the mailbox's web page; its SMTP server takes a free
	// loopback port (only the IdP's mail Sender needs to know it).
	IdPAddr, StoreAddr, ForumsAddr, MailboxAddr string

	// SessionIdle and SessionAbsolute are the apps' session timeouts.
	SessionIdle, SessionAbsolute time.Duration
	// AccessTTL, RefreshTTL and GracePeriod are the IdP's token lifetimes
	// and one-time-use grace period (zero: idp's defaults);
	// DisableGracePeriod gives the IdP none (idp.Config).
	AccessTTL, RefreshTTL, GracePeriod time.Duration
	DisableGracePeriod                 bool
	// RefreshCookieMaxAge defaults to RefreshTTL (APP-CK-4).
	RefreshCookieMaxAge time.Duration
	// RefreshResultTTL is the apps' refresh-coordination window (S11).
	RefreshResultTTL time.Duration
	// RefreshMethod the apps use: oauth2 (default) or jwt-refresh.
	RefreshMethod idpclient.RefreshMethod
	// SigningAlgorithm for new IdP keys (default ES256).
	SigningAlgorithm string

	// Hasher hashes and verifies the IdP's passwords (default: OWASP
	// argon2id). Tests pass a cheap *password.Hasher, or wrap one to
	// interleave a change with a login in progress (AUD-6).
	Hasher idp.PasswordHasher
	// Lockout and Throttle are the IdP's brute-force policies.
	Lockout  idp.LockoutPolicy
	Throttle idp.ThrottlePolicy
	// TrustedProxies: peers whose X-Forwarded-For the apps believe.
	TrustedProxies []netip.Prefix
	// WrapIdP wraps the IdP's handler (tests record its traffic).
	WrapIdP func(http.Handler) http.Handler
	// Webhook configures the event sender (tests shorten backoff); its
	// Store is always the IdP's, a zero Logger or Now is the demo's.
	Webhook webhooksender.Config
	// Mail configures the IdP's mail Sender (tests shorten backoff); its
	// SMTPURL is always the demo mailbox's, an empty From is
	// mail.DefaultFrom, a zero Logger or Now is the demo's.
	Mail mail.Config

	// IdPStore, when set, is the IdP's storage (e.g. PostgreSQL) instead
	// of Dir/idp.db. The caller closes it.
	IdPStore idpstore.Store
	// StoreSessions and ForumsSessions, when set, replace the apps' SQLite
	// session stores (e.g. Redis). The caller closes them.
	StoreSessions, ForumsSessions sessionstore.Store

	// Logger default slog.Default(); Now default time.Now, shared by
	// every part so tests can move time.
	Logger *slog.Logger
	Now    func() time.Time
}

// Demo is a running demo.
type Demo struct {
	// Info is what demo.json holds.
	Info Info
	// Dir is the data directory.
	Dir string
	// IdP is the identity server, IdPStore its storage.
	IdP      *idp.Server
	IdPStore idpstore.Store
	// Webhooks delivers the IdP's revocation events to the apps.
	Webhooks *webhooksender.Sender
	// Mailer is the IdP's mail Sender; Mailbox receives its mail.
	Mailer  *mail.Sender
	Mailbox *mailbox.Mailbox
	// Store and Forums are the apps.
	Store  *shop.App
	Forums *forums.App
	// StoreConfig and ForumsConfig are the app configurations in use, for
	// starting more processes of an app (S11) or a single app elsewhere.
	StoreConfig, ForumsConfig site.Config

	log       *slog.Logger
	servers   []*http.Server
	idpServer *http.Server
	// mailboxWeb is the mailbox page's server; it stops last, with the
	// mailbox's SMTP server.
	mailboxWeb *http.Server
	cancelGC   context.CancelFunc
	// ownIdPStore: the demo opened IdPStore and closes it.
	ownIdPStore bool
	errc        chan error
	closeOnce   sync.Once
	closeErr    error
}

// Start starts the demo: it listens on the three addresses, prepares the
// IdP (first run: applications, API keys, users), writes demo.json and
// serves until Close.
func Start(ctx context.Context, o Options) (d *Demo, err error) {
	if o.Dir == "" {
		return nil, errors.New("demo: Options.Dir is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.IdPAddr, DefaultIdPAddr)
	def(&o.StoreAddr, DefaultStoreAddr)
	def(&o.ForumsAddr, DefaultForumsAddr)
	def(&o.MailboxAddr, DefaultMailboxAddr)
	if o.RefreshCookieMaxAge <= 0 && o.RefreshTTL > 0 {
		o.RefreshCookieMaxAge = o.RefreshTTL
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: create %s: %w", o.Dir, err)
	}

	d = &Demo{Dir: o.Dir, log: o.Logger, errc: make(chan error, 5)}
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	// Listen first: a busy port should fail before anything is written.
	var lns [5]net.Listener
	for i, a := range []string{o.IdPAddr, o.StoreAddr, o.ForumsAddr, o.MailboxAddr, "127.0.0.1:0"} {
		ln, err := listenLoopback(a)
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { ln.Close() })
		lns[i] = ln
	}
	idpURL, storeURL, forumsURL := "http://"+lns[0].Addr().String(), "http://"+lns[1].Addr().String(), "http://"+lns[2].Addr().String()
	mailboxURL, smtpAddr := "http://"+lns[3].Addr().String(), lns[4].Addr().String()

	var info Info
	var sec secrets
	if _, err := readJSON(filepath.Join(o.Dir, InfoFile), &info); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if _, err := readJSON(filepath.Join(o.Dir, secretsFile), &sec); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	info.IdP, info.Store, info.Forums, info.Mailbox = idpURL, storeURL, forumsURL, mailboxURL
	for _, s := range []*appSecrets{&sec.Store, &sec.Forums} {
		if s.SealKey == "" {
			s.SealKey = randomKey(32)
		}
		if s.WebhookSecret == "" {
			s.WebhookSecret = randomKey(32)
		}
	}

	st := o.IdPStore
	if st == nil {
		sq, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(o.Dir, "idp.db"), Logger: o.Logger})
		if err != nil {
			return nil, fmt.Errorf("demo: open IdP database: %w", err)
		}
		cleanup = append(cleanup, func() { sq.Close() })
		st, d.ownIdPStore = sq, true
	}
	d.IdPStore = st

	// The sender delivers from the IdP store's outbox, so events of a
	// previous run that were not delivered yet go out now.
	wcfg := o.Webhook
	wcfg.Store = st
	if wcfg.Logger == nil {
		wcfg.Logger = o.Logger
	}
	if wcfg.Now == nil {
		wcfg.Now = o.Now
	}
	sender, err := webhooksender.New(wcfg)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cleanup = append(cleanup, func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = sender.Close(c)
	})
	d.Webhooks = sender

	// The mailbox keeps the IdP's mail under DIR/mailbox; the Sender
	// speaks plain SMTP to it over loopback (IDP-MAIL-1 allows no more).
	mb, err := mailbox.New(mailbox.Config{Dir: filepath.Join(o.Dir, MailboxDir), Logger: o.Logger, Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.Mailbox = mb
	go func() {
		if err := mb.ServeSMTP(lns[4]); err != nil {
			d.errc <- fmt.Errorf("demo: mailbox: %w", err)
		}
	}()
	cleanup = append(cleanup, func() { _ = mb.Close() })
	mcfg := o.Mail
	mcfg.SMTPURL = "smtp://" + smtpAddr + "?tls=none"
	if mcfg.From == "" {
		mcfg.From = mail.DefaultFrom
	}
	if mcfg.Logger == nil {
		mcfg.Logger = o.Logger
	}
	if mcfg.Now == nil {
		mcfg.Now = o.Now
	}
	if d.Mailer, err = mail.New(mcfg); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cleanup = append(cleanup, func() { _ = d.Mailer.Close() })

	// The signing keys are sealed with DIR/kek, created 0600 on the first
	// start (AUD-12): idp.db alone cannot sign.
	kek, created, err := idp.LoadOrCreateKEKFile(filepath.Join(o.Dir, KEKFile))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if created {
		d.log.Info("key-encryption key created", "file", filepath.Join(o.Dir, KEKFile), "kekId", kek.ID())
	}

	srv, err := idp.New(ctx, idp.Config{
		Store: st, Issuer: idpURL, Hasher: o.Hasher, Logger: o.Logger, Now: o.Now,
		SigningAlgorithm: o.SigningAlgorithm, AccessTokenTTL: o.AccessTTL, RefreshTokenTTL: o.RefreshTTL,
		GracePeriod: o.GracePeriod, DisableGracePeriod: o.DisableGracePeriod, Lockout: o.Lockout, Throttle: o.Throttle, Events: sender, KEKs: []*idp.KEK{kek},
		Mailer: d.Mailer,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: identity server: %w", err)
	}
	d.IdP = srv

	if err := ensure(ctx, srv, st, &info, &sec, storeURL, forumsURL); err != nil {
		return nil, fmt.Errorf("demo: prepare identity server: %w", err)
	}
	if err := writeJSON(filepath.Join(o.Dir, secretsFile), &sec); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := writeJSON(filepath.Join(o.Dir, InfoFile), &info); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.Info = info

	appCfg := func(c Credentials, s appSecrets, db, appURL string, sessions sessionstore.Store) (site.Config, error) {
		key, err := base64.RawURLEncoding.DecodeString(s.SealKey)
		if err != nil || len(key) < 32 {
			return site.Config{}, fmt.Errorf("%s: sealKey must be base64url of 32 bytes", secretsFile)
		}
		return site.Config{
			IdPURL: idpURL, ClientID: c.ID, ClientSecret: c.Secret, APIKey: s.APIKey, RefreshMethod: o.RefreshMethod,
			DBPath: filepath.Join(o.Dir, db), SealKey: key, WebhookSecret: s.WebhookSecret, DevMode: true, PublicOrigin: PasskeyOrigin(appURL),
			TrustedProxies: o.TrustedProxies, IdleTimeout: o.SessionIdle, AbsoluteLifetime: o.SessionAbsolute,
			RefreshCookieMaxAge: o.RefreshCookieMaxAge, RefreshResultTTL: o.RefreshResultTTL,
			Sessions: sessions, Logger: o.Logger, Now: o.Now,
		}, nil
	}
	if d.StoreConfig, err = appCfg(info.Applications.Store, sec.Store, "store.db", storeURL, o.StoreSessions); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if d.ForumsConfig, err = appCfg(info.Applications.Forums, sec.Forums, "forums.db", forumsURL, o.ForumsSessions); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if d.Store, err = shop.New(ctx, d.StoreConfig); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cleanup = append(cleanup, func() { d.Store.Close() })
	if d.Forums, err = forums.New(ctx, d.ForumsConfig); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	cleanup = append(cleanup, func() { d.Forums.Close() })

	var idpHandler http.Handler = srv.Handler()
	if o.WrapIdP != nil {
		idpHandler = o.WrapIdP(idpHandler)
	}
	gcCtx, cancel := context.WithCancel(context.Background())
	d.cancelGC = cancel
	go srv.Run(gcCtx, idp.DefaultCollectInterval)
	d.idpServer = d.serve(lns[0], idpHandler, "identity server")
	d.servers = []*http.Server{d.serve(lns[1], d.Store, "store"), d.serve(lns[2], d.Forums, "forums")}
	d.mailboxWeb = d.serve(lns[3], mb.Handler(), "mailbox")
	d.log.Info("demo started", "idp", idpURL, "store", storeURL, "forums", forumsURL, "mailbox", mailboxURL, "dir", o.Dir)
	return d, nil
}

// listenLoopback listens on addr, which must name a loopback host.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("demo: address %q: %w", addr, err)
	}
	if !idpclient.IsLoopbackHost(host) {
		return nil, fmt.Errorf("demo: address %q: the demo serves plain http and listens on loopback only", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	return ln, nil
}

func (d *Demo) serve(ln net.Listener, h http.Handler, name string) *http.Server {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.errc <- fmt.Errorf("demo: %s: %w", name, err)
		}
	}()
	return hs
}

// Err delivers the error of a server that stopped by itself.
func (d *Demo) Err() <-chan error { return d.errc }

// Close shuts the demo down gracefully within ctx: the IdP stops first
// (no new events), queued webhooks are delivered to the still-running
// apps (for at most two seconds), then the apps stop and the databases
// close.
func (d *Demo) Close(ctx context.Context) error {
	d.closeOnce.Do(func() {
		var errs []error
		if err := d.idpServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("identity server: %w", err))
		}
		d.cancelGC()
		// A delivery round still running at shutdown is given two
		// seconds; what it leaves stays in the IdP's outbox for the next
		// start.
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := d.Webhooks.Close(wctx); err != nil {
			d.log.Warn("demo: webhook round cut at shutdown; left in the outbox", "err", err)
		}
		cancel()
		// Mail still queued goes to the mailbox, which is still up.
		if err := d.Mailer.Close(); err != nil {
			d.log.Warn("demo: mail left undelivered at shutdown", "err", err)
		}
		// The apps get a bounded graceful shutdown each; a request still
		// running after it (a webhook delivery the sender gave up on) is
		// cut off rather than holding the whole demo's shutdown.
		for _, s := range d.servers {
			sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if err := s.Shutdown(sctx); err != nil {
				d.log.Warn("demo: app server did not stop gracefully; closing it", "err", err)
				_ = s.Close()
			}
			cancel()
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := d.mailboxWeb.Shutdown(sctx); err != nil {
			_ = d.mailboxWeb.Close()
		}
		cancel()
		errs = append(errs, d.Mailbox.Close(), d.Store.Close(), d.Forums.Close())
		if d.ownIdPStore {
			errs = append(errs, d.IdPStore.Close())
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// ensure makes the IdP hold what info and sec describe, creating what is
// missing: applications (with the current webhook URLs and base URLs,
// where the IdP's mail links point), API keys, users and their
// registrations. It fills in info and sec on first run.
func ensure(ctx context.Context, srv *idp.Server, st idpstore.Store, info *Info, sec *secrets, storeURL, forumsURL string) error {
	adm := srv.Admin()
	apps := []struct {
		name string
		cred *Credentials
		sec  *appSecrets
		url  string
	}{
		{"Store", &info.Applications.Store, &sec.Store, storeURL},
		{"Forums", &info.Applications.Forums, &sec.Forums, forumsURL},
	}
	for _, a := range apps {
		hooks := []string{a.url + site.WebhookPath}
		if a.cred.ID != "" {
			app, err := st.GetApplication(ctx, a.cred.ID)
			if err == nil {
				pkOrigins := []string{PasskeyOrigin(a.url)}
				if !slices.Equal(app.Config.WebhookURLs, hooks) || app.Config.WebhookSecret != a.sec.WebhookSecret || app.Config.BaseURL != a.url ||
					app.Config.WebAuthnRelyingPartyID != PasskeyRelyingPartyID || !slices.Equal(app.Config.WebAuthnOrigins, pkOrigins) {
					app.Config.WebhookURLs, app.Config.WebhookSecret, app.Config.BaseURL = hooks, a.sec.WebhookSecret, a.url
					app.Config.WebAuthnRelyingPartyID, app.Config.WebAuthnOrigins = PasskeyRelyingPartyID, pkOrigins
					if err := st.UpdateApplication(ctx, app); err != nil {
						return fmt.Errorf("update application %s: %w", a.name, err)
					}
				}
				continue
			}
			if !errors.Is(err, idpstore.ErrNotFound) {
				return fmt.Errorf("read application %s: %w", a.name, err)
			}
		} else {
			a.cred.ID = uuid.NewString()
		}
		cfg := idpstore.ApplicationConfig{
			EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true,
			WebhookURLs: hooks, WebhookSecret: a.sec.WebhookSecret, BaseURL: a.url,
			WebAuthnRelyingPartyID: PasskeyRelyingPartyID, WebAuthnOrigins: []string{PasskeyOrigin(a.url)},
		}
		_, secret, err := adm.CreateApplication(ctx, idp.ApplicationSpec{ID: a.cred.ID, Name: a.name, Secret: a.cred.Secret, Config: cfg})
		if err != nil {
			return fmt.Errorf("create application %s: %w", a.name, err)
		}
		a.cred.Secret = secret
	}

	// The operator's key (demo.json) is a super key; each app's key may
	// call only what the app's IdP client calls (AUD-13), so a leaked app
	// key cannot read, create or change users.
	appPerms := idpstore.APIKeyPermissions{Endpoints: idpclient.APIKeyPermissions()}
	keys := []struct {
		key   *string
		desc  string
		perms idpstore.APIKeyPermissions
	}{{&info.APIKey, "demo admin", idpstore.APIKeyPermissions{}}, {&sec.Store.APIKey, "store app", appPerms}, {&sec.Forums.APIKey, "forums app", appPerms}}
	for _, k := range keys {
		if *k.key != "" {
			old, err := st.GetAPIKeyByHash(ctx, sha(*k.key))
			if err == nil && reflect.DeepEqual(old.Permissions.Endpoints, k.perms.Endpoints) {
				continue
			}
			if err == nil {
				// A key from before permissions existed (a super key):
				// narrow it, keeping the key the app already holds.
				if err := st.DeleteAPIKey(ctx, old.ID); err != nil {
					return fmt.Errorf("replace API key: %w", err)
				}
			} else if !errors.Is(err, idpstore.ErrNotFound) {
				return fmt.Errorf("read API key: %w", err)
			}
			rec := &idpstore.APIKey{ID: uuid.NewString(), KeyHash: sha(*k.key), Description: k.desc, CreatedAt: time.Now(), Permissions: k.perms}
			if err := st.CreateAPIKey(ctx, rec); err != nil {
				return fmt.Errorf("restore API key: %w", err)
			}
			continue
		}
		key, _, err := adm.CreateScopedAPIKey(ctx, k.desc, k.perms)
		if err != nil {
			return err
		}
		*k.key = key
	}

	generated := len(info.Users) == 0
	if generated {
		info.Users = []User{{Email: "alice@example.com", Password: passphrase()}, {Email: "bob@example.com", Password: passphrase()}}
	}
	for _, u := range info.Users {
		rec, err := st.GetUserByLogin(ctx, u.Email)
		switch {
		case errors.Is(err, idpstore.ErrNotFound):
			rec, err = adm.CreateUser(ctx, idp.UserSpec{Email: u.Email, Password: u.Password, Verified: true})
		case err == nil && generated:
			// demo.json was lost but the account exists: its password is
			// unknown, so give it the one demo.json will show.
			err = adm.SetPassword(ctx, rec.ID, u.Password)
		}
		if err != nil {
			return fmt.Errorf("user %s: %w", u.Email, err)
		}
		for _, a := range apps {
			if _, err := st.GetRegistration(ctx, rec.ID, a.cred.ID); err == nil {
				continue
			} else if !errors.Is(err, idpstore.ErrNotFound) {
				return fmt.Errorf("registration of %s: %w", u.Email, err)
			}
			if _, err := adm.Register(ctx, rec.ID, a.cred.ID, nil); err != nil {
				return fmt.Errorf("register %s for %s: %w", u.Email, a.name, err)
			}
		}
	}
	return nil
}
