package idpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// RefreshMethod selects how a refresh token is redeemed.
type RefreshMethod string

const (
	// RefreshOAuth2 uses POST /oauth2/token with grant_type=refresh_token and
	// client authentication (the default).
	RefreshOAuth2 RefreshMethod = "oauth2"
	// RefreshJWT uses FusionAuth's POST /api/jwt/refresh with a JSON body
	// {"refreshToken": ...} and no client authentication.
	RefreshJWT RefreshMethod = "jwt-refresh"
)

// RevokeMethod selects how one refresh token is revoked at logout.
type RevokeMethod string

const (
	// RevokeOAuth2 uses RFC 7009 POST /oauth2/revoke with client
	// authentication (the default; a Gatehouse IdP supports it).
	RevokeOAuth2 RevokeMethod = "oauth2"
	// RevokeLogout uses FusionAuth's POST /api/logout with the refresh token
	// in a JSON body. Use it against a real FusionAuth, which has no RFC 7009
	// endpoint and revokes a single token by value (DELETE
	// /api/jwt/refresh?token=) only with an API key.
	RevokeLogout RevokeMethod = "logout"
)

// Defaults applied by New for zero Config fields.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultClockSkew           = 60 * time.Second
	DefaultJWKSRefetchInterval = 30 * time.Second
	DefaultJWKSMaxAge          = time.Hour
	DefaultRefreshMethod       = RefreshOAuth2
	DefaultRevokeMethod        = RevokeOAuth2
	// MaxClockSkew is the largest accepted Config.ClockSkew (IDP-TOK-3).
	MaxClockSkew = 60 * time.Second
	// maxBody bounds every response body read from the IdP.
	maxBody = 1 << 20
)

// Config configures a Client. Only BaseURL, ClientID and ClientSecret are
// required; the zero value of every other field means its documented
// default (the Default… constants), and negative durations are refused
// (design §7).
type Config struct {
	// BaseURL is the IdP's base URL, e.g. "https://idp.example.com". It must
	// be https unless the host is a loopback address.
	BaseURL string
	// ClientID and ClientSecret are the app's OAuth client credentials.
	ClientID     string
	ClientSecret string
	// AuthStyle is how client credentials are sent to the token and revoke
	// endpoints: oauth2.AuthStyleInParams (the default when zero, as the
	// FusionAuth client libraries do) or oauth2.AuthStyleInHeader (HTTP
	// Basic). Auto-detection is never used: it would send a password twice.
	// With InHeader the id and secret are URL-encoded before Base64 (as
	// golang.org/x/oauth2 does) and FusionAuth does not URL-decode them, so
	// use InParams with secrets containing characters other than
	// [A-Za-z0-9-._~].
	AuthStyle oauth2.AuthStyle
	// Scopes requested by the password grant. Default: ["offline_access"],
	// which asks for a refresh token.
	Scopes []string
	// RefreshMethod defaults to DefaultRefreshMethod (RefreshOAuth2).
	RefreshMethod RefreshMethod
	// RevokeMethod defaults to DefaultRevokeMethod (RevokeOAuth2).
	RevokeMethod RevokeMethod
	// APIKey is optional; it enables RevokeUser and RevokeRefreshTokenID.
	APIKey string
	// Issuer is the expected "iss" of access tokens. Empty: taken once from
	// BaseURL/.well-known/openid-configuration.
	Issuer string
	// JWKSURL defaults to BaseURL/.well-known/jwks.json.
	JWKSURL string
	// Timeout bounds every call to the IdP. Default DefaultTimeout.
	Timeout time.Duration
	// JWKSRefetchInterval is the least time between two JWKS fetches caused
	// by unknown kids, so forged kids cannot make the app hammer the IdP.
	// Default DefaultJWKSRefetchInterval.
	JWKSRefetchInterval time.Duration
	// JWKSMaxAge is how long a fetched JWKS is used before it is fetched
	// again. Default DefaultJWKSMaxAge.
	JWKSMaxAge time.Duration
	// ClockSkew is the leeway for exp and iat, at most MaxClockSkew.
	// Default DefaultClockSkew.
	ClockSkew time.Duration
	// HTTPClient is the base client (proxy, TLS roots). Its Transport is
	// used; redirects are never followed. Default: a client with dial and
	// TLS handshake timeouts.
	HTTPClient *http.Client
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
	// Logger receives diagnostics (never tokens or passwords). Default
	// slog.Default().
	Logger *slog.Logger
}

// Client talks to one IdP as one OAuth client. It is safe for concurrent
// use.
type Client struct {
	cfg       Config
	base      string // BaseURL without trailing slash
	tokenURL  string
	transport http.RoundTripper
	plain     *http.Client // no X-Forwarded-For
	oauth     *oauth2.Config
	now       func() time.Time
	log       *slog.Logger

	jwks *keyCache

	issuerMu sync.Mutex
	issuer   string
	issuerSF singleflight.Group
}

// New validates cfg, applies defaults and returns a Client. It does not
// contact the IdP.
func New(cfg Config) (*Client, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("idpclient: ClientID is required")
	}
	base, err := checkURL("BaseURL", cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	base = strings.TrimRight(base, "/")
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = base + "/.well-known/jwks.json"
	} else if _, err := checkURL("JWKSURL", cfg.JWKSURL); err != nil {
		return nil, err
	}
	if cfg.AuthStyle == oauth2.AuthStyleAutoDetect {
		cfg.AuthStyle = oauth2.AuthStyleInParams
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"offline_access"}
	}
	switch cfg.RefreshMethod {
	case "":
		cfg.RefreshMethod = DefaultRefreshMethod
	case RefreshOAuth2, RefreshJWT:
	default:
		return nil, fmt.Errorf("idpclient: unknown RefreshMethod %q (want %q or %q)", cfg.RefreshMethod, RefreshOAuth2, RefreshJWT)
	}
	switch cfg.RevokeMethod {
	case "":
		cfg.RevokeMethod = DefaultRevokeMethod
	case RevokeOAuth2, RevokeLogout:
	default:
		return nil, fmt.Errorf("idpclient: unknown RevokeMethod %q (want %q or %q)", cfg.RevokeMethod, RevokeOAuth2, RevokeLogout)
	}
	if cfg.Timeout < 0 || cfg.JWKSRefetchInterval < 0 || cfg.JWKSMaxAge < 0 || cfg.ClockSkew < 0 {
		return nil, errors.New("idpclient: Config durations must not be negative (zero means the default)")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.JWKSRefetchInterval == 0 {
		cfg.JWKSRefetchInterval = DefaultJWKSRefetchInterval
	}
	if cfg.JWKSMaxAge == 0 {
		cfg.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.ClockSkew > MaxClockSkew {
		return nil, fmt.Errorf("idpclient: ClockSkew %v exceeds %v", cfg.ClockSkew, MaxClockSkew)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var rt http.RoundTripper
	if cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil {
		rt = cfg.HTTPClient.Transport
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		t.TLSHandshakeTimeout = 5 * time.Second
		t.ResponseHeaderTimeout = cfg.Timeout
		t.MaxIdleConnsPerHost = 32
		rt = t
	}
	c := &Client{
		cfg:       cfg,
		base:      base,
		tokenURL:  base + "/oauth2/token",
		transport: rt,
		now:       cfg.Now,
		log:       cfg.Logger,
		issuer:    cfg.Issuer,
	}
	c.plain = c.httpClient("")
	c.oauth = &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: c.tokenURL, AuthStyle: cfg.AuthStyle},
		Scopes:       cfg.Scopes,
	}
	c.jwks = newKeyCache(c.plain, cfg.JWKSURL, cfg.JWKSRefetchInterval, cfg.JWKSMaxAge, cfg.Now)
	return c, nil
}

// ClientID returns the OAuth client id the Client authenticates as.
func (c *Client) ClientID() string { return c.cfg.ClientID }

// Timeout returns the bound on each call to the IdP.
func (c *Client) Timeout() time.Duration { return c.cfg.Timeout }

// HasAPIKey reports whether calls that need an API key (RevokeUser,
// RevokeRefreshTokenID) are possible.
func (c *Client) HasAPIKey() bool { return c.cfg.APIKey != "" }

// RefreshMethod returns the configured refresh method.
func (c *Client) RefreshMethod() RefreshMethod { return c.cfg.RefreshMethod }

// checkURL parses u and refuses anything but https, or http on a loopback
// host (the password and tokens travel on this connection).
func checkURL(field, u string) (string, error) {
	if u == "" {
		return "", fmt.Errorf("idpclient: %s is required", field)
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("idpclient: %s: %w", field, err)
	}
	if p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" {
		return "", fmt.Errorf("idpclient: %s %q must be scheme://host[:port][/path]", field, u)
	}
	switch p.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(p.Hostname()) {
			return "", fmt.Errorf("idpclient: %s %q: plain http is allowed only on a loopback host", field, u)
		}
	default:
		return "", fmt.Errorf("idpclient: %s %q: scheme must be https", field, u)
	}
	return u, nil
}

// IsLoopbackHost reports whether host (no port) is "localhost" or a
// loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// httpClient returns a client that adds X-Forwarded-For: ip to every
// request when ip is not empty, and never follows redirects (a redirect
// must not carry a password or client secret elsewhere).
func (c *Client) httpClient(ip string) *http.Client {
	rt := c.transport
	if ip != "" {
		rt = &forwardedFor{base: rt, ip: ip}
	}
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// forwardedFor is the per-request transport that tells the IdP the
// browser's address (IDP-BF-3): the IdP sees only the app's address and
// trusts this header from authenticated clients.
type forwardedFor struct {
	base http.RoundTripper
	ip   string
}

// RoundTrip sends r with X-Forwarded-For set, leaving r untouched as the
// RoundTripper contract requires.
func (f *forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("X-Forwarded-For", f.ip)
	return f.base.RoundTrip(r2)
}

// normalizeIP returns ip in canonical form, or "" if it is not an IP
// address (it is then not forwarded at all).
func normalizeIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	return a.Unmap().String()
}

// Issuer returns the expected "iss": Config.Issuer, or the issuer of the
// IdP's discovery document, fetched once.
func (c *Client) Issuer(ctx context.Context) (string, error) {
	c.issuerMu.Lock()
	iss := c.issuer
	c.issuerMu.Unlock()
	if iss != "" {
		return iss, nil
	}
	v, err, _ := c.issuerSF.Do("", func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		var doc struct {
			Issuer string `json:"issuer"`
		}
		if err := c.getJSON(ctx, "discovery", c.base+"/.well-known/openid-configuration", &doc); err != nil {
			return "", err
		}
		if doc.Issuer == "" {
			return "", &Error{Op: "discovery", Kind: ErrUnavailable, Err: errors.New("discovery document has no issuer")}
		}
		c.issuerMu.Lock()
		c.issuer = doc.Issuer
		c.issuerMu.Unlock()
		return doc.Issuer, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// getJSON GETs u and decodes a 200 JSON answer into v.
func (c *Client) getJSON(ctx context.Context, op, u string, v any) error {
	body, err := getOK(ctx, c.plain, op, u)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Op: op, Kind: ErrUnavailable, StatusCode: http.StatusOK, Err: fmt.Errorf("decode: %w", err)}
	}
	return nil
}

// getOK GETs u with hc, asking for JSON, and returns the body (at most
// maxBody bytes) of a 200 answer. A failed request, a failed read or any
// other status is an ErrUnavailable *Error for op.
func getOK(ctx context.Context, hc *http.Client, op, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrUnavailable, StatusCode: resp.StatusCode, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Op: op, Kind: ErrUnavailable, StatusCode: resp.StatusCode}
	}
	return body, nil
}

// send performs req with the Client's timeout and returns status and body.
// Network errors and timeouts are ErrUnavailable.
func (c *Client) send(op string, hc *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, &Error{Op: op, Kind: ErrUnavailable, StatusCode: resp.StatusCode, Err: err}
	}
	return resp.StatusCode, body, nil
}
