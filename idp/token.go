package idp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// Scopes this server understands; anything else is invalid_scope.
var knownScopes = []string{"openid", "offline_access", "email", "profile"}

// tokenResponse is the /oauth2/token success body (compat §1).
type tokenResponse struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int64  `json:"expires_in"`
	IDToken        string `json:"id_token,omitempty"`
	RefreshToken   string `json:"refresh_token,omitempty"`
	RefreshTokenID string `json:"refresh_token_id,omitempty"`
	Scope          string `json:"scope,omitempty"`
	TokenType      string `json:"token_type"`
	UserID         string `json:"userId"`
	// DeviceToken is Gatehouse's extension to the password grant (not
	// FusionAuth): a token binding this browser to the user, to be sent
	// back as the device_token form parameter of later password grants
	// (see LockoutPolicy).
	DeviceToken string `json:"device_token,omitempty"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if e := s.parseForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	grant := param(r.PostForm.Get("grant_type"))
	switch grant {
	case "":
		writeOAuthError(w, errInvalidRequest("missing_grant_type", "The grant_type parameter is required."))
		return
	case "password", "refresh_token":
	case "authorization_code", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code":
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unauthorized_client", "grant_type_disabled",
			"The grant_type "+grant+" is not enabled for this application."))
		return
	default:
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "", "Unsupported grant_type."))
		return
	}
	app, secretOK, e := s.clientAuth(r)
	if e != nil {
		s.metrics.grants.WithLabelValues(grant, e.Code).Inc()
		if e.Status == http.StatusTooManyRequests {
			s.tooMany(w)
			return
		}
		writeOAuthError(w, e)
		return
	}
	if !slices.Contains(app.Config.EnabledGrants, grant) {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unauthorized_client", "grant_type_disabled",
			"The grant_type "+grant+" is not enabled for this application."))
		return
	}
	var resp *tokenResponse
	if grant == "password" {
		resp, e = s.passwordGrant(r, app, secretOK)
	} else {
		resp, e = s.refreshGrant(r, app, secretOK)
	}
	if e != nil {
		s.metrics.grants.WithLabelValues(grant, e.Code).Inc()
		if e.Status == http.StatusTooManyRequests {
			s.tooMany(w)
			return
		}
		writeOAuthError(w, e)
		return
	}
	s.metrics.grants.WithLabelValues(grant, "ok").Inc()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) tooMany(w http.ResponseWriter) {
	s.metrics.throttled.Inc()
	w.Header().Set("Retry-After", fmt.Sprint(int(s.cfg.Throttle.Every.Seconds())+1))
	writeOAuthError(w, oauthErr(http.StatusTooManyRequests, "invalid_request", "too_many_requests",
		"Too many failed attempts from this address; try again later."))
}

// clientAuth authenticates the client with the per-peer bucket for failed
// client authentications (IDP-CLI-3): each failure takes a token from the
// TCP peer's bucket, and with the bucket empty a failure answers 429
// instead of invalid_client. The bucket never refuses a client that
// authenticates, so secret guesses from an address an app shares cannot
// stop that app's refreshes or logins (AUD-4); password failures are kept
// in another bucket (pwLimit) and never reach this one. Client secrets are
// 256-bit random, so the bucket's job is to bound the noise and flag the
// source (metric, log), not to make guessing hopeless.
func (s *Server) clientAuth(r *http.Request) (*store.Application, bool, *oauthError) {
	peer := clientIP(r, false)
	app, secretOK, e := s.authenticateClient(r)
	if e == nil {
		return app, secretOK, nil
	}
	// A missing secret is not a guess (introspection allows it).
	if e.Code == "invalid_client" && e.Reason != "client_authentication_missing" {
		if !s.clientLimit.allowed(peer) {
			s.log.Warn("client authentication throttled", "ip", peer)
			return nil, false, &oauthError{Status: http.StatusTooManyRequests, Code: "too_many_requests"}
		}
		s.clientLimit.fail(peer)
	}
	return nil, false, e
}

// authenticateClient implements compat §1's client authentication: HTTP
// Basic and/or form credentials, checked against the application. secretOK
// reports whether the client proved its secret in this request (false for
// a NotRequired application that sent none).
func (s *Server) authenticateClient(r *http.Request) (app *store.Application, secretOK bool, _ *oauthError) {
	id := param(r.PostForm.Get("client_id"))
	secret := param(r.PostForm.Get("client_secret"))
	basic := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, val, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, false, errInvalidClient("invalid_client_authentication_scheme", "The Authorization header must use the Basic scheme.")
		}
		basic = true
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		bad := errInvalidClient("invalid_client_authentication", "The client could not be authenticated.")
		bad.basic = true
		if err != nil {
			return nil, false, bad
		}
		bid, bsecret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, false, bad
		}
		if id != "" && id != bid {
			e := errInvalidClient("client_id_mismatch", "The client_id in the body does not match the Authorization header.")
			e.basic = true
			return nil, false, e
		}
		id, secret = bid, bsecret
	}
	fail := func(e *oauthError) (*store.Application, bool, *oauthError) { e.basic = basic; return nil, false, e }
	if id == "" {
		return nil, false, errInvalidRequest("missing_client_id", "The client_id parameter is required.")
	}
	if _, err := uuid.Parse(id); err != nil {
		return fail(errInvalidClient("invalid_client_id", "The client_id is invalid."))
	}
	app, err := s.store.GetApplication(r.Context(), id)
	if err != nil || !app.Active {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, errServer()
		}
		return fail(errInvalidClient("invalid_client_id", "The client_id is invalid."))
	}
	policy := app.Config.ClientAuthenticationPolicy
	if secret == "" {
		if policy == "NotRequired" {
			return app, false, nil
		}
		return fail(errInvalidClient("client_authentication_missing", "Client authentication is required."))
	}
	sum := sha256.Sum256([]byte(secret))
	if len(app.ClientSecretHash) == 0 || subtle.ConstantTimeCompare(sum[:], app.ClientSecretHash) != 1 {
		return fail(errInvalidClient("invalid_client_authentication", "The client could not be authenticated."))
	}
	return app, true, nil
}

// parseScopes splits and checks a scope parameter.
func parseScopes(raw string) ([]string, *oauthError) {
	var out []string
	for _, sc := range strings.Fields(raw) {
		if !slices.Contains(knownScopes, sc) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "unknown_scope", "The scope "+sc+" is not supported.")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

func (s *Server) passwordGrant(r *http.Request, app *store.Application, secretOK bool) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	// C-1, IDP-CLI-2 (AUD-3): only a client that proved its secret in this
	// request, whatever its configuration says.
	if !secretOK {
		return nil, oauthErr(http.StatusBadRequest, "unauthorized_client", "grant_type_disabled",
			"The password grant is only available to clients that authenticate with their secret.")
	}
	f := r.PostForm
	scopes, e := parseScopes(param(f.Get("scope")))
	if e != nil {
		return nil, e
	}
	login := param(f.Get("username"))
	if login == "" {
		login = param(f.Get("loginId"))
	}
	pw := f.Get("password")
	if login == "" || pw == "" {
		return nil, errInvalidGrant("unknown", "The username and password parameters are required (status 400).")
	}
	// The client authenticated above, so its X-Forwarded-For names the
	// browser (IDP-BF-3); the password bucket is keyed by it (AUD-4).
	ip := clientIP(r, true)
	att := loginAttempt{login: login, pw: pw, app: app, ip: ip,
		device:  s.parseDeviceToken(ctx, param(f.Get("device_token")), app.ID),
		offline: slices.Contains(scopes, "offline_access") && app.Config.GenerateRefreshTokens, scopes: scopes,
		dev: deviceInfo{Name: f.Get("metaData.device.name"), Type: f.Get("metaData.device.type"), Description: f.Get("metaData.device.description")}}
	user, deviceID, fam, e := s.checkPassword(ctx, att)
	if e != nil {
		return nil, e
	}
	resp, e := s.loginTokens(ctx, user, app, scopes, fam)
	if e != nil {
		return nil, e
	}
	var err error
	if resp.DeviceToken, err = s.signDeviceToken(user.ID, app.ID, deviceID); err != nil {
		// The login stands; the browser just gets no device token.
		s.log.Warn("sign device token", "err", err)
	}
	return resp, nil
}

// loginAttempt is one password check.
type loginAttempt struct {
	login, pw, ip string
	app           *store.Application
	device        *deviceClaims // a well-signed device token for app, or nil
	// offline: a successful login starts a refresh-token family for
	// scopes, with device metadata dev.
	offline bool
	scopes  []string
	dev     deviceInfo
}

// loginFamily is the refresh token of a successful login and its stored
// family.
type loginFamily struct {
	token  string
	family *store.RefreshToken
}

// checkPassword runs the Login API semantics of compat §1/§12 with the
// lockout of LockoutPolicy. It returns the user, the device id to bind
// the browser's next device token to and, when att.offline, the new
// refresh-token family, which it writes with the login record (one write
// transaction per login).
//
// AUD-2 (IDP-BF-4): unknown account, wrong password, an account in its
// delay or hard stop and a deactivated account all answer
// invalid_user_credentials for one password-hash's cost to anyone without
// the right password; only the right password learns user_locked (and
// expiry or a required password change). An attempt the lockout refuses is
// never checked against the real hash (AUD-1), so a guess during a delay
// learns nothing: it costs a dummy verification instead.
func (s *Server) checkPassword(ctx context.Context, att loginAttempt) (*store.User, string, *loginFamily, *oauthError) {
	now := s.now()
	pol := s.cfg.Lockout
	user, err := s.store.GetUserByLogin(ctx, att.login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, "", nil, errServer()
	}
	// A device token counts only for the account it was issued for;
	// anything else is treated as none.
	deviceID := ""
	if att.device != nil && user != nil && att.device.Subject == user.ID {
		deviceID = att.device.ID
	}
	trusted := false
	if deviceID != "" {
		df, err := s.store.GetLoginFailures(ctx, user.ID, deviceID)
		if err != nil {
			return nil, "", nil, errServer()
		}
		trusted = pol.Disabled || df.Count < pol.DeviceFailures
	}
	// The per-IP bucket (IDP-BF-3) is for strangers; a trusted browser's
	// own guesses are bounded by DeviceFailures.
	if !trusted && !s.pwLimit.allowed(att.ip) {
		return nil, "", nil, &oauthError{Status: http.StatusTooManyRequests}
	}
	if user == nil {
		s.hasher.VerifyDummy(ctx, att.pw)
		s.loginFailed(ctx, nil, "", att, "unknown_user")
		return nil, "", nil, errInvalidCredentials()
	}
	if !trusted && !pol.Disabled {
		af, err := s.store.GetLoginFailures(ctx, user.ID, "")
		if err != nil {
			return nil, "", nil, errServer()
		}
		if pol.refuses(af, now) {
			s.hasher.VerifyDummy(ctx, att.pw)
			s.loginFailed(ctx, user, "", att, "locked")
			return nil, "", nil, errInvalidCredentials()
		}
	}
	ok, rehash, err := s.hasher.Verify(ctx, user.PasswordHash, att.pw)
	if err != nil && ctx.Err() != nil {
		return nil, "", nil, errServer()
	}
	if !ok {
		counter := "" // the account's counter, or only the trusted device's
		if trusted {
			counter = deviceID
		}
		s.loginFailed(ctx, user, counter, att, "bad_password")
		return nil, "", nil, errInvalidCredentials()
	}
	// The right password: from here on the answer may say why.
	if e := loginRefusal(user, now); e != nil {
		return nil, "", nil, e
	}
	newHash := ""
	if rehash { // IDP-HASH-2: upgrade imported or outdated hashes on login
		if h, err := s.hasher.Hash(ctx, att.pw); err == nil {
			newHash = h
		}
	}
	var fam *loginFamily
	if att.offline {
		fam = &loginFamily{}
		fam.token, fam.family = s.newLoginFamily(user.ID, att.app, att.scopes, s.now(), att.dev, att.ip)
	}
	// AUD-6: one conditional write of the fields a login owns, with the
	// login's refresh-token family. A deactivation or password change that
	// landed since the read wins.
	rec := store.LoginRecord{UserID: user.ID, At: now, OldHash: user.PasswordHash,
		NewHash: newHash, ResetAccount: !trusted, DeviceID: deviceID}
	if fam != nil {
		rec.Family = fam.family
	}
	fresh, err := s.store.RecordLogin(ctx, rec)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil, "", nil, s.loginLostRace(ctx, user)
	}
	if err != nil {
		s.log.Error("record login", "userId", user.ID, "err", err)
		return nil, "", nil, errServer()
	}
	if e := loginRefusal(fresh, now); e != nil {
		// A change the read missed (expiry, required password change)
		// refuses the login after its write: remove the family nobody
		// received.
		if fam != nil {
			if err := s.store.DeleteRefreshToken(ctx, fam.family.ID, nil); err != nil {
				s.log.Warn("remove refused login's refresh token", "userId", user.ID, "err", err)
			}
		}
		return nil, "", nil, e
	}
	if deviceID == "" {
		deviceID = uuid.NewString()
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login succeeded", slog.String("event", "login"),
		slog.String("userId", user.ID), slog.String("applicationId", att.app.ID), slog.String("ip", att.ip),
		slog.Bool("trustedDevice", trusted))
	return fresh, deviceID, fam, nil
}

// loginRefusal is why a user who presented the right password still may
// not log in, or nil.
func loginRefusal(u *store.User, now time.Time) *oauthError {
	switch {
	case !u.Active:
		return errInvalidGrant("user_locked", "The user is locked.")
	case !u.Expiry.IsZero() && !now.Before(u.Expiry):
		return errInvalidGrant("user_expired", "The user has expired.")
	case u.PasswordChangeRequired:
		return oauthErr(http.StatusBadRequest, "change_password_required", "change_password_administrative", "The user must change their password.")
	}
	return nil
}

// loginLostRace answers a login whose write lost to a concurrent change
// of the user: deactivated (the password was right for the row read, so
// user_locked may be said) or a new password (the old one no longer is).
func (s *Server) loginLostRace(ctx context.Context, read *store.User) *oauthError {
	cur, err := s.store.GetUser(ctx, read.ID)
	if err != nil || cur.PasswordHash != read.PasswordHash {
		return errInvalidCredentials()
	}
	if e := loginRefusal(cur, s.now()); e != nil {
		return e
	}
	return errInvalidCredentials()
}

// loginFailed counts a failed or refused attempt against the end-user IP
// (IDP-BF-3) and, for a real wrong password, against the account's
// consecutive counter or the trusted device's (IDP-BF-1, IDP-BF-5). It
// never revokes tokens or ends sessions (AUD-1).
func (s *Server) loginFailed(ctx context.Context, user *store.User, deviceID string, att loginAttempt, reason string) {
	s.metrics.loginFailures.Inc()
	s.pwLimit.fail(att.ip)
	uid := ""
	if user != nil {
		uid = user.ID
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login failed", slog.String("event", "login_failed"),
		slog.String("reason", reason), slog.String("userId", uid), slog.String("applicationId", att.app.ID),
		slog.String("ip", att.ip), slog.Bool("device", deviceID != ""))
	// A refused attempt tested no password, so it does not count: the
	// counter is the number of guesses actually checked.
	if user == nil || s.cfg.Lockout.Disabled || reason == "locked" {
		return
	}
	f, err := s.store.RecordLoginFailure(ctx, user.ID, deviceID, s.now())
	if err != nil {
		s.log.Warn("record login failure", "userId", user.ID, "err", err)
		return
	}
	pol := s.cfg.Lockout
	switch {
	case deviceID != "" && f.Count == pol.DeviceFailures:
		s.log.LogAttrs(ctx, slog.LevelWarn, "device token no longer trusted", slog.String("event", "device_untrusted"), slog.String("userId", user.ID))
	case deviceID == "" && f.Count == pol.HardStop:
		s.log.LogAttrs(ctx, slog.LevelWarn, "account locked until unlocked by an admin", slog.String("event", "account_locked"),
			slog.String("userId", user.ID), slog.Int("failures", f.Count))
	case deviceID == "" && f.Count >= pol.FreeFailures:
		s.log.LogAttrs(ctx, slog.LevelWarn, "account login delayed", slog.String("event", "account_delayed"),
			slog.String("userId", user.ID), slog.Int("failures", f.Count), slog.Duration("delay", pol.delay(f.Count)))
	}
}

// revokeUser deletes the user's refresh tokens (for one application or
// all) and enqueues the revocation event with them.
func (s *core) revokeUser(ctx context.Context, userID, appID, reason string) ([]string, error) {
	return s.revokeUserAs(ctx, userID, appID, Event{Type: webhook.EventRefreshTokenRevoke, UserID: userID, ApplicationID: appID, Reason: reason})
}

// loginTokens answers a successful password login: the access token,
// bound by sid to the login's refresh-token family when there is one
// (checkPassword stored it with the login record).
func (s *Server) loginTokens(ctx context.Context, user *store.User, app *store.Application, scopes []string, fam *loginFamily) (*tokenResponse, *oauthError) {
	p := tokenParams{user: user, app: app, scopes: scopes, authType: "PASSWORD", authTime: s.now(),
		grants: []string{"password"}, ttl: s.policy(app).accessTTL}
	if fam != nil {
		p.authTime, p.sid = fam.family.AuthTime, fam.family.ID
	}
	resp, e := s.mint(ctx, p)
	if e != nil {
		return nil, e
	}
	if fam != nil {
		resp.RefreshToken, resp.RefreshTokenID = fam.token, fam.family.ID
	}
	return resp, nil
}

// mint signs the access token (and the id_token when openid was granted)
// for p and wraps them in a token response. The user's registration for
// the application decides the applicationId and roles claims.
func (s *Server) mint(ctx context.Context, p tokenParams) (*tokenResponse, *oauthError) {
	reg, err := s.store.GetRegistration(ctx, p.user.ID, p.app.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, errServer()
	}
	p.reg = reg
	at, exp, err := s.signAccessToken(ctx, p)
	if err != nil {
		s.log.Error("sign access token", "err", err)
		return nil, errServer()
	}
	resp := &tokenResponse{AccessToken: at, ExpiresIn: int64(exp.Sub(s.now()).Seconds()), TokenType: "Bearer",
		UserID: p.user.ID, Scope: strings.Join(p.scopes, " ")}
	if slices.Contains(p.scopes, "openid") {
		if resp.IDToken, err = s.signIDToken(p, exp); err != nil {
			return nil, errServer()
		}
	}
	return resp, nil
}

func (s *Server) refreshGrant(r *http.Request, app *store.Application, secretOK bool) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	s.refreshCount.Add(1)
	s.metrics.refreshCalls.Inc()
	f := r.PostForm
	tok := param(f.Get("refresh_token"))
	if tok == "" {
		return nil, errInvalidRequest("missing_refresh_token", "The refresh_token parameter is required.")
	}
	var asked []string
	if req := param(f.Get("scope")); req != "" {
		var e *oauthError
		if asked, e = parseScopes(req); e != nil {
			return nil, e
		}
	}
	// The scope is checked against the family before the rotation, so a
	// refused request leaves the token usable (AUD-5).
	var scopes []string
	var refused *oauthError
	ip := clientIP(r, secretOK)
	res, err := s.redeem(ctx, tok, app, ip, func(res *refreshed) error {
		scopes = res.family.Scopes
		if asked == nil {
			return nil
		}
		for _, sc := range asked { // IDP-TOK-6: may narrow, never widen
			if !slices.Contains(scopes, sc) {
				refused = oauthErr(http.StatusBadRequest, "invalid_scope", "", "The scope "+sc+" was not granted.")
				return errRefreshRefused
			}
		}
		scopes = asked
		return nil
	})
	if errors.Is(err, errRefreshRefused) {
		return nil, refused
	}
	if errors.Is(err, errRefreshInvalid) {
		return nil, errRefreshNotFound()
	}
	if err != nil {
		s.log.Error("refresh", "err", err)
		return nil, errServer()
	}
	return s.refreshResponse(ctx, res, scopes)
}

// refreshResponse mints the access token for a successful refresh.
func (s *Server) refreshResponse(ctx context.Context, res *refreshed, scopes []string) (*tokenResponse, *oauthError) {
	resp, e := s.mint(ctx, tokenParams{user: res.user, app: res.app, scopes: scopes, authType: "REFRESH_TOKEN",
		authTime: res.family.AuthTime, sid: res.family.ID, grants: res.family.Grants, ttl: res.pol.accessTTL})
	if e != nil {
		return nil, e
	}
	resp.RefreshToken, resp.RefreshTokenID = res.token, res.family.ID
	return resp, nil
}
