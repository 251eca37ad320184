package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/postgres"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
)

// storeFlags select the IdP database.
type storeFlags struct {
	db       string
	postgres string
}

func (s *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.db, "db", defaultDBPath(), "SQLite database file of the IdP")
	fs.StringVar(&s.postgres, "postgres", "", "PostgreSQL URL for the IdP store (instead of --db)")
}

func defaultDBPath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "gatehouse", "idp.db")
}

func (s *storeFlags) open(ctx context.Context, log *slog.Logger) (store.Store, error) {
	if s.postgres != "" {
		return postgres.Open(ctx, postgres.Config{URL: s.postgres, Logger: log})
	}
	if err := os.MkdirAll(filepath.Dir(s.db), 0o700); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	return sqlite.Open(ctx, sqlite.Config{Path: s.db, Logger: log})
}

// kekFlags name the key-encryption keys that seal the signing keys in the
// database (AUD-12).
type kekFlags struct {
	file string // seals (and opens)
	old  string // comma-separated; open only (KEK rotation)
}

func (k *kekFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.file, "kek-file", "", "file holding the key-encryption key that seals the signing keys (base64 of 32 random bytes; required)")
	fs.StringVar(&k.old, "old-kek-file", "", "comma-separated files of previous key-encryption keys, used only to open keys they sealed (KEK rotation)")
}

// load reads the KEK files: the --kek-file one first (it seals), then the
// old ones.
func (k *kekFlags) load() ([]*idp.KEK, error) {
	if k.file == "" {
		return nil, errors.New("no key-encryption key: pass --kek-file FILE (or GATEHOUSE_KEK_FILE); " +
			"create one with: (umask 077; head -c 32 /dev/urandom | base64 > FILE)")
	}
	var keks []*idp.KEK
	for _, path := range append([]string{k.file}, splitList(k.old)...) {
		kek, err := idp.LoadKEKFile(path)
		if err != nil {
			return nil, err
		}
		keks = append(keks, kek)
	}
	return keks, nil
}

// mailFlags configure the IdP's account mail (idp/mail).
type mailFlags struct {
	smtpURL, from, templates string
}

func (m *mailFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&m.smtpURL, "smtp-url", "", "SMTP server for account mail: smtp://user:pass@host:port (STARTTLS required), "+
		"smtps://user:pass@host:port (TLS), smtp://127.0.0.1:port?tls=none (plain, loopback only); empty: no mail is sent")
	fs.StringVar(&m.from, "mail-from", mail.DefaultFrom, "From address of account mail")
	fs.StringVar(&m.templates, "mail-templates", "", "directory of mail templates replacing the built-in ones by name (NAME.txt, optional NAME.html)")
}

// sender builds the mail Sender, or nil without --smtp-url (which the
// log says: account flows then work without their mail).
func (m *mailFlags) sender(log *slog.Logger) (*mail.Sender, error) {
	if m.smtpURL == "" {
		log.Warn("no --smtp-url: account mail (verification, password reset) is not sent")
		return nil, nil
	}
	s, err := mail.New(mail.Config{SMTPURL: m.smtpURL, From: m.from, TemplateDir: m.templates, Logger: log})
	if err != nil {
		return nil, err
	}
	log.Info("account mail", "smtp", mail.Redact(m.smtpURL), "from", m.from, "templates", m.templates)
	return s, nil
}

// idpFlags are the server flags shared by `idp` and `demo`.
type idpFlags struct {
	accessTTL, refreshTTL, grace time.Duration
	alg                          string
}

func (f *idpFlags) register(fs *flag.FlagSet) {
	// The defaults are idp's own (design §7); TestFlagDefaultsAreTheLibraries guards it.
	fs.DurationVar(&f.accessTTL, "access-ttl", idp.DefaultAccessTokenTTL, "access-token lifetime (applications may override)")
	fs.DurationVar(&f.refreshTTL, "refresh-ttl", idp.DefaultRefreshTokenTTL, "refresh-token lifetime (applications may override)")
	fs.DurationVar(&f.grace, "grace", idp.DefaultGracePeriod, "one-time-use refresh-token grace period for honest retries (0: none)")
	fs.StringVar(&f.alg, "alg", idp.DefaultSigningAlgorithm, "signing algorithm for new keys: ES256, RS256 or EdDSA")
}

// noGrace reports whether --grace asks for no grace period (0, or a
// negative value as before).
func (f *idpFlags) noGrace() bool { return f.grace <= 0 }

func (f *idpFlags) config(st store.Store, issuer string, log *slog.Logger) idp.Config {
	cfg := idp.Config{Store: st, Issuer: issuer, Logger: log, SigningAlgorithm: f.alg,
		AccessTokenTTL: f.accessTTL, RefreshTokenTTL: f.refreshTTL, GracePeriod: f.grace}
	if f.noGrace() {
		cfg.GracePeriod, cfg.DisableGracePeriod = 0, true
	}
	return cfg
}

func runIDP(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "idp")
	var sf storeFlags
	var ifl idpFlags
	var kf kekFlags
	var mf mailFlags
	sf.register(fs)
	ifl.register(fs)
	kf.register(fs)
	mf.register(fs)
	addr := fs.String("addr", demo.DefaultIdPAddr, "listen address")
	issuer := fs.String("issuer", "", "issuer URL (default: http(s)://ADDR)")
	cert := fs.String("tls-cert", "", "TLS certificate file (serve HTTPS)")
	key := fs.String("tls-key", "", "TLS key file")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level")
	if err := parse(env, fs, args); err != nil {
		return err
	}
	log := newLogger(env.stderr, *logFormat, *logLevel)
	keks, err := kf.load()
	if err != nil {
		return err
	}
	// Mail settings are checked before anything is opened.
	mailer, err := mf.sender(log)
	if err != nil {
		return err
	}
	if mailer != nil {
		// Closed after the server stops: what is queued then is tried once more.
		defer mailer.Close()
	}
	st, err := sf.open(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()
	scheme := "http"
	if *cert != "" {
		scheme = "https"
	}
	if *issuer == "" {
		*issuer = scheme + "://" + *addr
	}
	events, err := newEventSender(st, log)
	if err != nil {
		return err
	}
	defer closeEvents(events)
	cfg := ifl.config(st, *issuer, log)
	cfg.Events = events
	cfg.KEKs = keks
	if mailer != nil {
		cfg.Mailer = mailer
	}
	srv, err := idp.New(ctx, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("identity server listening", "url", scheme+"://"+ln.Addr().String(), "issuer", *issuer)
	return serve(ctx, log, ln, srv.Handler(), *cert, *key, func(ctx context.Context) { srv.Run(ctx, idp.DefaultCollectInterval) })
}

// newEventSender delivers the IdP's revocation events from the store's
// outbox to the webhook URLs of the applications (S10, AUD-8), including
// those left by a previous run or written by admin commands.
func newEventSender(st store.Store, log *slog.Logger) (*webhooksender.Sender, error) {
	s, err := webhooksender.New(webhooksender.Config{Store: st, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("webhook sender: %w", err)
	}
	return s, nil
}

// closeEvents lets the delivery round in flight finish for up to 10 s;
// what is left stays in the outbox for the next start.
func closeEvents(s *webhooksender.Sender) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Close(ctx)
}

// serve runs h on ln until ctx ends, then shuts down gracefully. background
// runs alongside (garbage collection).
func serve(ctx context.Context, log *slog.Logger, ln net.Listener, h http.Handler, cert, key string, background func(context.Context)) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	bgCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if background != nil {
		go background(bgCtx)
	}
	errc := make(chan error, 1)
	go func() {
		if cert != "" {
			errc <- hs.ServeTLS(ln, cert, key)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
