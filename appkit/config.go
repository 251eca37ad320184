package appkit

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// Defaults of the zero Config fields (design §7: the CLI's flags read
// them from here).
const (
	DefaultIdleTimeout         = 30 * time.Minute    // APP-LIFE-1
	DefaultAbsoluteLifetime    = 12 * time.Hour      // issue 3 (APP-LIFE-2 suggests 4-8 h)
	DefaultReauthAfter         = 30 * 24 * time.Hour // APP-LIFE-3
	DefaultRefreshCookieMaxAge = 30 * 24 * time.Hour // the IdP's default refresh-token lifetime
	DefaultDeviceCookieMaxAge  = 90 * 24 * time.Hour // the IdP's default device-token lifetime
	DefaultRefreshResultTTL    = 10 * time.Second
	// RefreshClaimLease is how long a process's claim to refresh one token
	// lives without renewal (renewed every third of it while the IdP call
	// runs). It is well under the IdP's default 10 s grace period: a
	// process that dies mid-refresh holds up the others for at most this
	// long, and they still present the token inside the grace (AUD-18).
	RefreshClaimLease   = 3 * time.Second
	DefaultLoginPath    = "/login"
	DefaultHomePath     = "/"
	DefaultSessionsPath = "/sessions"
	// Account pages (AccountRoutes). The mails the IdP sends link to
	// {app base URL}/verify-email?id= and /reset-password?id=, so keep
	// those two unless the IdP builds other links.
	DefaultSignupPath         = "/signup"
	DefaultForgotPasswordPath = "/forgot-password"
	DefaultResetPasswordPath  = "/reset-password"
	DefaultVerifyEmailPath    = "/verify-email"
	DefaultAccountPath        = "/account"
	// DefaultPasskeyScriptPath is where PasskeyRoutes serves the passkey
	// script.
	DefaultPasskeyScriptPath = "/static/passkey.js"
	// DefaultClearSiteData is the Clear-Site-Data header sent at logout.
	DefaultClearSiteData = `"cache", "storage"`
	// MinSealKeyLen is the least length of Config.SealKey.
	MinSealKeyLen = 32
)

// Config configures a Kit. IdP, Store and SealKey are required. The zero
// value of every other field means its documented default (the Default…
// constants); a setting that can be turned off has its own DisableX field;
// negative durations are refused (design §7).
type Config struct {
	// IdP is the client for the identity server (token endpoint, refresh,
	// revocation, JWKS).
	IdP *idpclient.Client
	// Store keeps the sessions and the refresh-coordination records.
	Store sessionstore.Store
	// SealKey (at least 32 random bytes) seals the refresh-token cookie with
	// AES-256-GCM (C-2). Every process of one app must share it; changing it
	// logs everybody out at their next refresh unless the old key is kept in
	// OldSealKeys.
	SealKey []byte
	// OldSealKeys still open refresh cookies (key rotation); new cookies are
	// always sealed with SealKey.
	OldSealKeys [][]byte

	// CookieName distinguishes this app's cookies from other apps' on the
	// same host: the cookies are "<CookieName>-sid" and "<CookieName>-rt",
	// or "sid" and "rt" when empty, with the "__Host-" prefix unless
	// DevMode (APP-CK-1).
	CookieName string
	// DevMode serves plain http on loopback only: cookies lose Secure and
	// the __Host- prefix, no HSTS, and requests from other addresses get
	// 403. Never enable it in production.
	DevMode bool

	// IdleTimeout is the sliding session timeout. Default 30 min.
	IdleTimeout time.Duration
	// AbsoluteLifetime caps a session from its creation regardless of
	// activity. Default 12 h.
	AbsoluteLifetime time.Duration
	// ReauthAfter is how long after the password login (auth_time) refreshes
	// may continue; after it the password is required. Default 30 days.
	ReauthAfter time.Duration
	// TouchInterval: the sliding extension is written to the store only
	// when it would move the expiry by more than this, so most requests do
	// not write. Default min(IdleTimeout/10, 1 min).
	TouchInterval time.Duration
	// RefreshCookieMaxAge is the refresh cookie's Max-Age, and the server
	// rejects older cookies; keep it at or below the IdP's refresh-token
	// lifetime (APP-CK-4). Default 30 days.
	RefreshCookieMaxAge time.Duration
	// DeviceCookieMaxAge is the Max-Age of the device cookie, which keeps
	// the IdP's device token for this browser (sealed like the refresh
	// cookie, SameSite=Lax, kept across logouts) so that a browser that
	// signed in before can sign in while strangers have the account in its
	// brute-force delay. Default 90 days.
	DeviceCookieMaxAge time.Duration
	// RefreshCookieSameSite defaults to http.SameSiteStrictMode (APP-CK-3).
	// Lax lets a cross-site link into the app refresh silently.
	RefreshCookieSameSite http.SameSite
	// RefreshResultTTL is how long the outcome of a refresh is kept for
	// other requests and processes still presenting the old refresh cookie
	// (S11). Default 10 s, the IdP's default grace period: anyone holding
	// the old cookie inside this window gets the new session without
	// reaching the IdP, so a longer window widens what a stolen, already
	// rotated cookie is worth (ATK-1).
	RefreshResultTTL time.Duration

	// LoginPath is where the login handler is mounted. Default "/login".
	LoginPath string
	// HomePath is where a login without a next parameter lands and where
	// logout redirects. Default "/".
	HomePath string
	// SessionsPath is where the sessions handler is mounted; its POST
	// actions redirect back to it. Default "/sessions".
	SessionsPath string
	// LoginTemplate renders the login form with a *LoginPage. Default: a
	// minimal built-in form (DefaultLoginTemplate).
	LoginTemplate *template.Template
	// SecondStepPath is where the second login step's form posts
	// (AccountRoutes mounts SecondStepHandler there). Default
	// DefaultSecondStepPath, "/login/two-factor".
	SecondStepPath string
	// SecondStepTemplate renders the second login step with a
	// *SecondStepPage. Default: DefaultSecondStepTemplate.
	SecondStepTemplate *template.Template
	// AppName names the app in authenticator apps (the otpauth:// URI's
	// issuer). Default CookieName, or "Gatehouse" when that is empty.
	AppName string
	// SignupPath, ForgotPasswordPath, ResetPasswordPath, VerifyEmailPath
	// and AccountPath are where AccountRoutes mounts the account pages;
	// the account page's forms post to AccountPath + "/password",
	// "/email" and "/verify-email". Defaults: the Default…Path constants.
	SignupPath, ForgotPasswordPath, ResetPasswordPath, VerifyEmailPath, AccountPath string
	// SignupTemplate, ForgotPasswordTemplate, ResetPasswordTemplate and
	// VerifyEmailTemplate render those pages with a *FormPage;
	// AccountTemplate renders the account page with an *AccountPage.
	// Default: minimal built-in pages (DefaultSignupTemplate, …).
	SignupTemplate, ForgotPasswordTemplate, ResetPasswordTemplate, VerifyEmailTemplate *template.Template
	AccountTemplate                                                                    *template.Template
	// PublicOrigin is the app's origin as browsers see it
	// (scheme://host[:port], e.g. "https://store.example"). It turns on
	// passkeys (PasskeyRoutes): the kit names it to the IdP with every
	// passkey ceremony, and the IdP accepts it only if it is one of the
	// application's WebAuthn origins and the one the browser signed.
	// Empty: no passkeys (PasskeyRoutes mounts nothing, pages offer none).
	PublicOrigin string
	// PasskeyScriptPath is where PasskeyRoutes serves the passkey script
	// (PasskeyScript). Default "/static/passkey.js".
	PasskeyScriptPath string
	// DisableSignupSignIn stops the sign-up page from signing a new account
	// in (the user signs in with the new password afterwards). By default
	// it does, which sets session cookies for a new address and none for a
	// taken one: whoever signs up learns from the cookies whether the
	// address had an account. With this set, both answers are identical.
	DisableSignupSignIn bool
	// Unavailable renders the 503 page shown when the IdP or the store is
	// unreachable. Default: a short built-in page.
	Unavailable http.Handler
	// ClearSiteData is the Clear-Site-Data header sent at logout. Default
	// DefaultClearSiteData, `"cache", "storage"`: "cookies" is left out
	// because browsers apply it to the whole registrable domain, which
	// would log the user out of the other apps too (APP-OUT-2); the kit's
	// own cookies are expired explicitly.
	ClearSiteData string
	// DisableClearSiteData sends no Clear-Site-Data header at logout
	// (ClearSiteData must then be empty).
	DisableClearSiteData bool
	// DisableSecurityHeaders stops the kit from setting nosniff,
	// Referrer-Policy, CSP frame-ancestors and HSTS on its responses
	// (for apps that set their own).
	DisableSecurityHeaders bool

	// TrustedProxies are the peers whose X-Forwarded-For is believed when
	// finding the browser's IP (APP-HDR-3). Default none.
	TrustedProxies []netip.Prefix
	// CrossOrigin is the CSRF protection wrapped around every
	// state-changing request. Default http.NewCrossOriginProtection().
	CrossOrigin *http.CrossOriginProtection

	// Logger receives structured events, never tokens or passwords.
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// Kit is the session layer of one app. Create it with New; it is safe for
// concurrent use.
type Kit struct {
	cfg   Config
	idp   *idpclient.Client
	store sessionstore.Store
	log   *slog.Logger
	now   func() time.Time
	cop   *http.CrossOriginProtection

	sidName, rtName string
	devName         string
	cookieAEAD      []cipher.AEAD // [0] seals; all open

	instance   string        // random id of this Kit: the owner of its refresh claims
	claimTTL   time.Duration // lease of a refresh claim in the store, renewed while refreshing
	waitMax    time.Duration // how long a request waits for another's refresh
	unavailTTL time.Duration // how long an "IdP unavailable" outcome is shared
	sf         singleflight.Group
	heldMu     sync.Mutex
	heldClaims map[string]time.Time // claims this process holds, until
	loginTmpl  *template.Template
	// second factor (twofactor.go, account_twofactor.go)
	stepName, trustName string
	trustAEAD           []cipher.AEAD // [0] seals; all open
	secondStepTmpl      *template.Template
	// account pages' templates (account.go)
	signupTmpl, forgotTmpl, resetTmpl, verifyTmpl, accountTmpl *template.Template
	unavailable                                                http.Handler
	users                                                      *userCache // decoded users by session key

	hdrNosniff, hdrReferrer, hdrCSP, hdrHSTS, hdrNoStore []string
}

// New validates cfg, applies the defaults and returns a Kit.
func New(cfg Config) (*Kit, error) {
	if cfg.IdP == nil {
		return nil, errors.New("appkit: Config.IdP is required")
	}
	if cfg.Store == nil {
		return nil, errors.New("appkit: Config.Store is required")
	}
	if len(cfg.SealKey) < MinSealKeyLen {
		return nil, fmt.Errorf("appkit: Config.SealKey must be at least %d bytes", MinSealKeyLen)
	}
	if cfg.CookieName != "" && !validCookieName(cfg.CookieName) {
		return nil, fmt.Errorf("appkit: CookieName %q: use letters, digits, '-' and '_'", cfg.CookieName)
	}
	for _, d := range []time.Duration{cfg.IdleTimeout, cfg.AbsoluteLifetime, cfg.ReauthAfter, cfg.TouchInterval,
		cfg.RefreshCookieMaxAge, cfg.DeviceCookieMaxAge, cfg.RefreshResultTTL} {
		if d < 0 {
			return nil, errors.New("appkit: Config durations must not be negative (zero means the default)")
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.AbsoluteLifetime, DefaultAbsoluteLifetime)
	def(&cfg.ReauthAfter, DefaultReauthAfter)
	def(&cfg.TouchInterval, min(cfg.IdleTimeout/10, time.Minute))
	def(&cfg.RefreshCookieMaxAge, DefaultRefreshCookieMaxAge)
	def(&cfg.DeviceCookieMaxAge, DefaultDeviceCookieMaxAge)
	def(&cfg.RefreshResultTTL, DefaultRefreshResultTTL)
	if cfg.RefreshCookieSameSite == 0 || cfg.RefreshCookieSameSite == http.SameSiteDefaultMode {
		cfg.RefreshCookieSameSite = http.SameSiteStrictMode
	}
	if cfg.RefreshCookieSameSite == http.SameSiteNoneMode {
		return nil, errors.New("appkit: RefreshCookieSameSite must not be None (APP-CK-3)")
	}
	str := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	str(&cfg.LoginPath, DefaultLoginPath)
	str(&cfg.HomePath, DefaultHomePath)
	str(&cfg.SessionsPath, DefaultSessionsPath)
	str(&cfg.SignupPath, DefaultSignupPath)
	str(&cfg.ForgotPasswordPath, DefaultForgotPasswordPath)
	str(&cfg.ResetPasswordPath, DefaultResetPasswordPath)
	str(&cfg.VerifyEmailPath, DefaultVerifyEmailPath)
	str(&cfg.AccountPath, DefaultAccountPath)
	str(&cfg.PasskeyScriptPath, DefaultPasskeyScriptPath)
	if cfg.PublicOrigin != "" {
		o, err := publicOrigin(cfg.PublicOrigin, cfg.DevMode)
		if err != nil {
			return nil, err
		}
		cfg.PublicOrigin = o
	}
	str(&cfg.SecondStepPath, DefaultSecondStepPath)
	str(&cfg.AppName, cfg.CookieName)
	str(&cfg.AppName, "Gatehouse")
	switch {
	case cfg.DisableClearSiteData && cfg.ClearSiteData != "":
		return nil, errors.New("appkit: Config.ClearSiteData and DisableClearSiteData are both set")
	case cfg.ClearSiteData == "-":
		return nil, errors.New(`appkit: Config.ClearSiteData "-" is gone: set DisableClearSiteData`)
	case !cfg.DisableClearSiteData:
		str(&cfg.ClearSiteData, DefaultClearSiteData)
	}
	for _, p := range []string{cfg.LoginPath, cfg.HomePath, cfg.SessionsPath,
		cfg.SignupPath, cfg.ForgotPasswordPath, cfg.ResetPasswordPath, cfg.VerifyEmailPath, cfg.AccountPath, cfg.PasskeyScriptPath,
		cfg.SecondStepPath} {
		if !isSafePath(p) {
			return nil, fmt.Errorf("appkit: path %q must be a same-origin absolute path", p)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CrossOrigin == nil {
		cfg.CrossOrigin = http.NewCrossOriginProtection()
	}
	k := &Kit{
		users:      newUserCache(10_000),
		cfg:        cfg,
		idp:        cfg.IdP,
		store:      cfg.Store,
		log:        cfg.Logger,
		now:        cfg.Now,
		cop:        cfg.CrossOrigin,
		heldClaims: make(map[string]time.Time),
		loginTmpl:  cfg.LoginTemplate,
		hdrNosniff: []string{"nosniff"},
		// Full URLs never leave the app in Referer (session-bearing query
		// strings, next parameters).
		hdrReferrer: []string{"strict-origin-when-cross-origin"},
		hdrCSP:      []string{"frame-ancestors 'none'; object-src 'none'; base-uri 'none'"},
		hdrHSTS:     []string{"max-age=31536000; includeSubDomains"},
		hdrNoStore:  []string{"no-store"},
	}
	prefix := "__Host-"
	if cfg.DevMode {
		prefix = ""
	}
	base := ""
	if cfg.CookieName != "" {
		base = cfg.CookieName + "-"
	}
	k.sidName, k.rtName, k.devName = prefix+base+"sid", prefix+base+"rt", prefix+base+"dev"
	k.stepName, k.trustName = prefix+base+"2fa", prefix+base+"trust"
	for _, key := range append([][]byte{cfg.SealKey}, cfg.OldSealKeys...) {
		a, err := newAEAD(key, infoRefreshCookie)
		if err != nil {
			return nil, fmt.Errorf("appkit: seal key: %w", err)
		}
		k.cookieAEAD = append(k.cookieAEAD, a)
		t, err := newAEAD(key, infoTrustCookie)
		if err != nil {
			return nil, fmt.Errorf("appkit: seal key: %w", err)
		}
		k.trustAEAD = append(k.trustAEAD, t)
	}
	// AUD-18: a claim is a short lease, renewed while its IdP call runs, so
	// the claim of a process that died lapses well inside the IdP's grace
	// period (default 10 s) and the next process presents the token in time.
	k.claimTTL = RefreshClaimLease
	k.waitMax = cfg.IdP.Timeout() + k.claimTTL + 2*time.Second
	var inst [16]byte
	if _, err := rand.Read(inst[:]); err != nil {
		return nil, fmt.Errorf("appkit: instance id: %w", err)
	}
	k.instance = hex.EncodeToString(inst[:])
	k.unavailTTL = 2 * time.Second
	if k.loginTmpl == nil {
		k.loginTmpl = DefaultLoginTemplate()
	}
	tmpl := func(t *template.Template, def func() *template.Template) *template.Template {
		if t == nil {
			return def()
		}
		return t
	}
	k.signupTmpl = tmpl(cfg.SignupTemplate, DefaultSignupTemplate)
	k.forgotTmpl = tmpl(cfg.ForgotPasswordTemplate, DefaultForgotPasswordTemplate)
	k.resetTmpl = tmpl(cfg.ResetPasswordTemplate, DefaultResetPasswordTemplate)
	k.verifyTmpl = tmpl(cfg.VerifyEmailTemplate, DefaultVerifyEmailTemplate)
	k.accountTmpl = tmpl(cfg.AccountTemplate, DefaultAccountTemplate)
	k.secondStepTmpl = tmpl(cfg.SecondStepTemplate, DefaultSecondStepTemplate)
	k.unavailable = cfg.Unavailable
	if k.unavailable == nil {
		k.unavailable = http.HandlerFunc(defaultUnavailable)
	}
	return k, nil
}

// SessionCookieName returns the session cookie's name.
func (k *Kit) SessionCookieName() string { return k.sidName }

// RefreshCookieName returns the refresh cookie's name.
func (k *Kit) RefreshCookieName() string { return k.rtName }

// DeviceCookieName returns the device cookie's name.
func (k *Kit) DeviceCookieName() string { return k.devName }

func validCookieName(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) < 0
}
