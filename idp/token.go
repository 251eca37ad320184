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

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Scopes this server understands; anything else is invalid_scope.
var knownScopes = []string{"openid", "offline_access", "email", "profile"}

// tokenResponse is the /oauth2/token success body (spec §1).
type tokenResponse struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int64  `json:"expires_in"`
	IDToken        string `json:"id_token,omitempty"`
	RefreshToken   string `json:"refresh_token,omitempty"`
	RefreshTokenID string `json:"refresh_token_id,omitempty"`
	Scope          string `json:"scope,omitempty"`
	TokenType      string `json:"token_type"`
	UserID         string `json:"userId"`
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
	peer := clientIP(r, false)
	if !s.ipLimit.allowed(peer) {
		s.tooMany(w)
		return
	}
	app, e := s.authenticateClient(r)
	if e != nil {
		if e.Code == "invalid_client" {
			s.ipLimit.fail(peer) // IDP-CLI-3
		}
		s.metrics.grants.WithLabelValues(grant, "invalid_client").Inc()
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
		resp, e = s.passwordGrant(r, app)
	} else {
		resp, e = s.refreshGrant(r, app)
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

// authenticateClient implements spec §1's client authentication: HTTP
// Basic and/or form credentials, checked against the application.
func (s *Server) authenticateClient(r *http.Request) (*store.Application, *oauthError) {
	id := param(r.PostForm.Get("client_id"))
	secret := param(r.PostForm.Get("client_secret"))
	basic := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, val, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, errInvalidClient("invalid_client_authentication_scheme", "The Authorization header must use the Basic scheme.")
		}
		basic = true
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		bad := errInvalidClient("invalid_client_authentication", "The client could not be authenticated.")
		bad.basic = true
		if err != nil {
			return nil, bad
		}
		bid, bsecret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, bad
		}
		if id != "" && id != bid {
			e := errInvalidClient("client_id_mismatch", "The client_id in the body does not match the Authorization header.")
			e.basic = true
			return nil, e
		}
		id, secret = bid, bsecret
	}
	fail := func(e *oauthError) (*store.Application, *oauthError) { e.basic = basic; return nil, e }
	if id == "" {
		return nil, errInvalidRequest("missing_client_id", "The client_id parameter is required.")
	}
	if _, err := uuid.Parse(id); err != nil {
		return fail(errInvalidClient("invalid_client_id", "The client_id is invalid."))
	}
	app, err := s.store.GetApplication(r.Context(), id)
	if err != nil || !app.Active {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, errServer()
		}
		return fail(errInvalidClient("invalid_client_id", "The client_id is invalid."))
	}
	policy := app.Config.ClientAuthenticationPolicy
	if secret == "" {
		if policy == "NotRequired" {
			return app, nil
		}
		return fail(errInvalidClient("client_authentication_missing", "Client authentication is required."))
	}
	sum := sha256.Sum256([]byte(secret))
	if len(app.ClientSecretHash) == 0 || subtle.ConstantTimeCompare(sum[:], app.ClientSecretHash) != 1 {
		return fail(errInvalidClient("invalid_client_authentication", "The client could not be authenticated."))
	}
	return app, nil
}

// confidential reports whether app authenticated with a secret; only such
// clients may use the password grant (C-1, IDP-CLI-2) and have their
// X-Forwarded-For trusted (IDP-BF-3).
func confidential(app *store.Application) bool { return len(app.ClientSecretHash) > 0 }

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

func (s *Server) passwordGrant(r *http.Request, app *store.Application) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	if !confidential(app) {
		return nil, oauthErr(http.StatusBadRequest, "unauthorized_client", "grant_type_disabled",
			"The password grant is only available to confidential clients.")
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
	ip := clientIP(r, true)
	if !s.ipLimit.allowed(ip) {
		return nil, &oauthError{Status: http.StatusTooManyRequests}
	}
	user, e := s.checkPassword(ctx, login, pw, app, ip)
	if e != nil {
		return nil, e
	}
	dev := deviceInfo{Name: f.Get("metaData.device.name"), Type: f.Get("metaData.device.type"), Description: f.Get("metaData.device.description")}
	return s.loginTokens(ctx, user, app, scopes, dev, ip)
}

// checkPassword runs the Login API semantics of spec §1/§12: lockout,
// deactivation, expiry, verification with rehash, failure counting. An
// unknown account costs one dummy verification, so it answers like a wrong
// password in body, status and time (IDP-BF-4).
func (s *Server) checkPassword(ctx context.Context, login, pw string, app *store.Application, ip string) (*store.User, *oauthError) {
	now := s.now()
	user, err := s.store.GetUserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, errServer()
	}
	if user == nil {
		s.hasher.VerifyDummy(ctx, pw)
		s.loginFailed(ctx, nil, app, ip, "unknown_user")
		return nil, errInvalidCredentials()
	}
	if !s.cfg.Lockout.Disabled && now.Before(user.LockedUntil) {
		s.loginFailed(ctx, user, app, ip, "locked")
		return nil, errInvalidGrant("login_prevented", "The user is currently locked because of too many failed login attempts.")
	}
	ok, rehash, err := s.hasher.Verify(ctx, user.PasswordHash, pw)
	if err != nil && ctx.Err() != nil {
		return nil, errServer()
	}
	if !ok {
		s.loginFailed(ctx, user, app, ip, "bad_password")
		if !user.Active {
			return nil, errInvalidGrant("user_locked", "The user is locked.")
		}
		return nil, errInvalidCredentials()
	}
	if !user.Active {
		return nil, errInvalidGrant("user_locked", "The user is locked.")
	}
	if !user.Expiry.IsZero() && !now.Before(user.Expiry) {
		return nil, errInvalidGrant("user_expired", "The user has expired.")
	}
	if user.PasswordChangeRequired {
		return nil, oauthErr(http.StatusBadRequest, "change_password_required", "change_password_administrative", "The user must change their password.")
	}
	if err := s.store.ResetLoginFailures(ctx, user.ID); err != nil {
		s.log.Warn("reset login failures", "userId", user.ID, "err", err)
	}
	user.LastLoginAt = now
	if rehash { // IDP-HASH-2: upgrade imported or outdated hashes on login
		if h, err := s.hasher.Hash(ctx, pw); err == nil {
			user.PasswordHash = h
		}
	}
	if err := s.store.UpdateUser(ctx, user); err != nil {
		s.log.Warn("record login", "userId", user.ID, "err", err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login succeeded", slog.String("event", "login"),
		slog.String("userId", user.ID), slog.String("applicationId", app.ID), slog.String("ip", ip))
	return user, nil
}

// loginFailed counts a failure against the IP and the account and locks
// the account at the threshold (IDP-BF-1, IDP-BF-5).
func (s *Server) loginFailed(ctx context.Context, user *store.User, app *store.Application, ip, reason string) {
	s.metrics.loginFailures.Inc()
	s.ipLimit.fail(ip)
	uid := ""
	if user != nil {
		uid = user.ID
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "login failed", slog.String("event", "login_failed"),
		slog.String("reason", reason), slog.String("userId", uid), slog.String("applicationId", app.ID), slog.String("ip", ip))
	if user == nil || s.cfg.Lockout.Disabled || reason == "locked" {
		return
	}
	n, err := s.store.RecordLoginFailure(ctx, user.ID, s.now(), s.cfg.Lockout.Window)
	if err != nil {
		s.log.Warn("record login failure", "userId", user.ID, "err", err)
		return
	}
	if n < s.cfg.Lockout.MaxFailures {
		return
	}
	user.LockedUntil = s.now().Add(s.cfg.Lockout.Duration)
	if err := s.store.UpdateUser(ctx, user); err != nil {
		s.log.Warn("lock user", "userId", user.ID, "err", err)
		return
	}
	_ = s.store.ResetLoginFailures(ctx, user.ID)
	s.log.LogAttrs(ctx, slog.LevelWarn, "account locked", slog.String("event", "account_locked"), slog.String("userId", user.ID))
	if !s.cfg.Lockout.KeepTokensOnLock {
		s.revokeUser(ctx, user.ID, "", "login_prevented")
	}
}

// revokeUser deletes the user's refresh tokens (for one application or
// all) and publishes the event.
func (s *Server) revokeUser(ctx context.Context, userID, appID, reason string) ([]string, error) {
	ids, err := s.store.DeleteRefreshTokensByUser(ctx, userID, appID)
	if err != nil {
		return nil, fmt.Errorf("revoke user tokens: %w", err)
	}
	s.emit(ctx, Event{Type: EventRefreshTokenRevoke, UserID: userID, ApplicationID: appID, RefreshTokenIDs: ids, Reason: reason})
	return ids, nil
}

// loginTokens answers a successful password login: a new refresh-token
// family when the client asked for offline_access (and the application
// issues refresh tokens), and the access token bound to it by sid.
func (s *Server) loginTokens(ctx context.Context, user *store.User, app *store.Application, scopes []string, dev deviceInfo, ip string) (*tokenResponse, *oauthError) {
	now := s.now()
	p := tokenParams{user: user, app: app, scopes: scopes, authType: "PASSWORD", authTime: now,
		grants: []string{"password"}, ttl: s.policy(app).accessTTL}
	var rt string
	if slices.Contains(scopes, "offline_access") && app.Config.GenerateRefreshTokens {
		tok, fam, err := s.issueRefreshToken(ctx, user, app, scopes, now, dev, ip)
		if err != nil {
			s.log.Error("issue refresh token", "err", err)
			return nil, errServer()
		}
		rt, p.sid = tok, fam.ID
	}
	resp, e := s.mint(ctx, p)
	if e != nil {
		return nil, e
	}
	if rt != "" {
		resp.RefreshToken, resp.RefreshTokenID = rt, p.sid
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

func (s *Server) refreshGrant(r *http.Request, app *store.Application) (*tokenResponse, *oauthError) {
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
	ip := clientIP(r, confidential(app))
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
