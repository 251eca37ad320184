package idp

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// FusionAuth's Two Factor API (compat §16).

func (s *Server) twoFactorRoutes(h func(pattern, route string, f http.HandlerFunc)) {
	k := s.requireAPIKey
	h("GET /api/two-factor/secret", "two_factor_secret", k(s.handleTwoFactorSecret))
	h("POST /api/user/two-factor/{userId}", "two_factor_enable", k(s.handleEnableTwoFactor))
	h("DELETE /api/user/two-factor/{userId}", "two_factor_disable", k(s.handleDisableTwoFactor))
	h("POST /api/user/two-factor/recovery-code/{userId}", "two_factor_recovery_codes", k(s.handleGenerateRecoveryCodes))
	h("GET /api/user/two-factor/recovery-code/{userId}", "two_factor_recovery_codes", k(s.handleRetrieveRecoveryCodes))
	// As in FusionAuth, the second step needs no API key: the twoFactorId
	// (256 bits, five minutes, one use) is the credential.
	h("POST /api/two-factor/login", "two_factor_login", s.handleTwoFactorLogin)
}

// handleTwoFactorSecret is GET /api/two-factor/secret: a fresh secret,
// base64 and base32. Nothing is stored until it is enabled.
func (s *Server) handleTwoFactorSecret(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, totpSecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	writeJSON(w, http.StatusOK, map[string]string{
		"secret":              base64.StdEncoding.EncodeToString(b),
		"secretBase32Encoded": base32NoPad.EncodeToString(b),
	})
}

// pathUser loads the user named by the {userId} path value (userByID).
func (s *Server) pathUser(w http.ResponseWriter, r *http.Request) (*store.User, bool) {
	return s.userByID(w, r.Context(), r.PathValue("userId"))
}

// pathUserFactor is pathUser with the user's second-factor record; a
// record that does not parse is a 500.
func (s *Server) pathUserFactor(w http.ResponseWriter, r *http.Request) (*store.User, multiFactor, bool) {
	u, ok := s.pathUser(w, r)
	if !ok {
		return nil, multiFactor{}, false
	}
	m, err := parseMultiFactor(u.MultiFactor)
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return nil, multiFactor{}, false
	}
	return u, m, true
}

// decodeSecret reads the secret of an enable request: secretBase32Encoded
// (as authenticator apps show it: case and spaces ignored) or secret
// (base64).
func decodeSecret(b64, b32 string) ([]byte, *apiErrors) {
	switch {
	case b32 != "":
		v := strings.TrimRight(strings.ToUpper(strings.ReplaceAll(b32, " ", "")), "=")
		b, err := base32NoPad.DecodeString(v)
		if err != nil || len(b) < totpMinSecretBytes {
			return nil, fieldError("secretBase32Encoded", "invalid", "secretBase32Encoded must be base32 of at least 16 bytes.")
		}
		return b, nil
	case b64 != "":
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
		}
		if err != nil || len(b) < totpMinSecretBytes {
			return nil, fieldError("secret", "invalid", "secret must be base64 of at least 16 bytes.")
		}
		return b, nil
	}
	return nil, fieldError("secret", "blank", "Either secret or secretBase32Encoded is required for the authenticator method.")
}

// errAlreadyEnabled aborts an enable for a user who has an authenticator.
var errAlreadyEnabled = errors.New("authenticator already enabled")

// handleEnableTwoFactor is POST /api/user/two-factor/{userId}: enable the
// authenticator with a first valid code of its secret (MFA-8: the secret
// is sealed), answering the ten recovery codes, shown this once.
func (s *Server) handleEnableTwoFactor(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code                string `json:"code"`
		Method              string `json:"method"`
		Secret              string `json:"secret"`
		SecretBase32Encoded string `json:"secretBase32Encoded"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	u, ok := s.pathUser(w, r)
	if !ok {
		return
	}
	if !u.Verified {
		writeUnverified(w)
		return
	}
	errs := new(apiErrors)
	switch req.Method = param(req.Method); req.Method {
	case "":
		errs.field("method", "blank", "The method is required.")
	case methodAuthenticator:
	default:
		errs.field("method", "invalid", "Only the authenticator method is supported.")
	}
	code := normalizeCode(param(req.Code))
	if code == "" {
		errs.field("code", "blank", "A code from the authenticator is required.")
	}
	secret, e := decodeSecret(param(req.Secret), param(req.SecretBase32Encoded))
	if e != nil {
		for k, v := range e.FieldErrors {
			errs.FieldErrors = addFieldErrors(errs.FieldErrors, k, v)
		}
	}
	if !errs.empty() {
		writeAPIErrors(w, errs)
		return
	}
	// MFA-8's precondition: a secret is only enabled once its owner has
	// shown a code of it, so a typo cannot lock the user out.
	step, err := totpStep(secret, code, s.now(), -1)
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	if step < 0 {
		writeEmpty(w, statusInvalidCode)
		return
	}
	a, err := s.sealTOTPSecret(u.ID, secret)
	if err != nil {
		s.log.Error("enable two factor", "userId", u.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	codes, hashes := newRecoveryCodes(u.ID)
	err = updateMultiFactor(r.Context(), s.store, u.ID, func(m *multiFactor) error {
		if m.Authenticator != nil {
			return errAlreadyEnabled
		}
		// The enrolment code is used: it cannot be replayed at a login.
		m.Authenticator, m.RecoveryCodes, m.LastStep = a, hashes, step
		m.Failures, m.LastFailureAt = 0, time.Time{}
		return nil
	})
	switch {
	case errors.Is(err, errAlreadyEnabled):
		writeAPIErrors(w, fieldError("method", "duplicate", "The authenticator is already enabled; disable it first."))
		return
	case errors.Is(err, store.ErrNotFound):
		writeEmpty(w, http.StatusNotFound)
		return
	case err != nil:
		s.log.Error("enable two factor", "userId", u.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "second factor enabled", slog.String("event", "two_factor_enabled"),
		slog.String("userId", u.ID), slog.String("method", methodAuthenticator))
	writeJSON(w, http.StatusOK, map[string]any{"recoveryCodes": codes})
}

func addFieldErrors(m map[string][]apiError, k string, v []apiError) map[string][]apiError {
	if m == nil {
		m = map[string][]apiError{}
	}
	m[k] = append(m[k], v...)
	return m
}

// statusInvalidCode is FusionAuth's answer to a wrong code: 421 with an
// empty body.
const statusInvalidCode = 421

// handleDisableTwoFactor is DELETE /api/user/two-factor/{userId} with
// methodId and code as query parameters or a JSON body. An authenticator
// code removes that method, a recovery code every method (FusionAuth).
// Without a code only a super key may disable (the operator's path, GH);
// an application's scoped key needs the user's code or (GH, JSON body
// only) the user's currentPassword, checked like a login: per-IP bucket,
// lockout, a wrong one counts as a failed login (MFA-4, ACC-7).
func (s *Server) handleDisableTwoFactor(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	methodID, code := param(q.Get("methodId")), param(q.Get("code"))
	currentPW := "" // GH: never from the query (URLs end up in logs)
	if methodID == "" && code == "" && r.ContentLength != 0 {
		var body struct {
			MethodID        string `json:"methodId"`
			Code            string `json:"code"`
			CurrentPassword string `json:"currentPassword"`
		}
		if err := s.decodeJSON(w, r, &body); err != nil {
			s.badJSON(w)
			return
		}
		methodID, code, currentPW = param(body.MethodID), param(body.Code), body.CurrentPassword
	}
	u, m, ok := s.pathUserFactor(w, r)
	if !ok {
		return
	}
	if !m.enabled() {
		writeAPIErrors(w, fieldError("methodId", "invalid", "The user has no second factor enabled."))
		return
	}
	if methodID != "" && methodID != m.Authenticator.ID {
		writeAPIErrors(w, fieldError("methodId", "invalid", "The user has no method with that methodId."))
		return
	}
	removeAll := func(m *multiFactor) { m.Authenticator, m.RecoveryCodes, m.LastStep = nil, nil, 0 }
	if code == "" {
		switch k := callerAPIKey(ctx); {
		case currentPW != "":
			if len(currentPW) > maxPasswordInput {
				s.writeAccountError(w, r, invalid("currentPassword", "invalid", "The current password is not correct."))
				return
			}
			cu, err := s.checkCurrentPassword(ctx, loginOf(u), currentPW, clientIP(r, true))
			if err == nil && cu.ID != u.ID {
				err = invalid("currentPassword", "invalid", "The current password is not correct.")
			}
			if err != nil {
				s.writeAccountError(w, r, err)
				return
			}
		case k == nil || len(k.Permissions.Endpoints) != 0:
			writeAPIErrors(w, fieldError("code", "blank", "A code from the authenticator or a recovery code is required."))
			return
		}
		if err := updateMultiFactor(ctx, s.store, u.ID, func(m *multiFactor) error {
			removeAll(m)
			m.Failures, m.LastFailureAt = 0, time.Time{}
			return nil
		}); err != nil {
			writeAdminError(w, err, "")
			return
		}
	} else {
		// One method is all Gatehouse has: an authenticator code and a
		// recovery code both leave the user without a second factor.
		used, err := s.useCode(ctx, u.ID, code, true, removeAll)
		if err != nil {
			s.log.Error("disable two factor", "userId", u.ID, "err", err)
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		if used != codeTOTP && used != codeRecovery {
			writeEmpty(w, statusInvalidCode)
			return
		}
	}
	// Trust and pending logins of the old factor go with it.
	if _, err := s.store.DeleteTickets(ctx, u.ID, store.TicketTrust, store.TicketTwoFactor); err != nil {
		s.log.Error("disable two factor: tickets", "userId", u.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "second factor disabled", slog.String("event", "two_factor_disabled"),
		slog.String("userId", u.ID), slog.Bool("withCode", code != ""), slog.Bool("withPassword", currentPW != ""))
	writeEmpty(w, http.StatusOK)
}

// handleGenerateRecoveryCodes is POST
// /api/user/two-factor/recovery-code/{userId}: ten new codes replace the
// old ones (shown this once).
func (s *Server) handleGenerateRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	u, ok := s.pathUser(w, r)
	if !ok {
		return
	}
	codes, hashes := newRecoveryCodes(u.ID)
	err := updateMultiFactor(r.Context(), s.store, u.ID, func(m *multiFactor) error {
		if !m.enabled() {
			return errCodeDone
		}
		m.RecoveryCodes = hashes
		return nil
	})
	switch {
	case errors.Is(err, errCodeDone):
		writeAPIErrors(w, new(apiErrors).general("[TwoFactorNotEnabled]", "The user has no second factor enabled."))
		return
	case err != nil:
		writeAdminError(w, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"recoveryCodes": codes})
}

// handleRetrieveRecoveryCodes is GET
// /api/user/two-factor/recovery-code/{userId}. Only digests are stored, so
// the codes cannot be shown again (FusionAuth shows them): the answer has
// an empty recoveryCodes and, GH, how many are left.
func (s *Server) handleRetrieveRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	_, m, ok := s.pathUserFactor(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"recoveryCodes": []string{}, "remainingCount": len(m.RecoveryCodes)})
}

// twoFactorLoginResponse is FusionAuth's LoginResponse for the second
// step, plus Gatehouse's deviceToken and idToken.
type twoFactorLoginResponse struct {
	Token                  string   `json:"token"`
	TokenExpirationInstant int64    `json:"tokenExpirationInstant"`
	RefreshToken           string   `json:"refreshToken,omitempty"`
	RefreshTokenID         string   `json:"refreshTokenId,omitempty"`
	User                   userJSON `json:"user"`
	TwoFactorTrustID       string   `json:"twoFactorTrustId,omitempty"`
	// GH: the password grant's device_token and id_token.
	DeviceToken string `json:"deviceToken,omitempty"`
	IDToken     string `json:"idToken,omitempty"`
}

// handleTwoFactorLogin is POST /api/two-factor/login: the second step of
// a password login. A right code completes that login exactly as the
// password grant would have (completeLogin, loginResponse); a wrong one
// answers 421 and counts (MFA-2: five end the twoFactorId, MFA-5: the
// user's delay); an unknown, expired or used twoFactorId is 404 (MFA-1).
func (s *Server) handleTwoFactorLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		TwoFactorID   string `json:"twoFactorId"`
		Code          string `json:"code"`
		ApplicationID string `json:"applicationId"`
		TrustComputer bool   `json:"trustComputer"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	tfID, code, appID := param(req.TwoFactorID), param(req.Code), param(req.ApplicationID)
	errs := new(apiErrors)
	if tfID == "" {
		errs.field("twoFactorId", "blank", "The twoFactorId is required.")
	}
	if code == "" {
		errs.field("code", "blank", "The code is required.")
	}
	if !errs.empty() {
		writeAPIErrors(w, errs)
		return
	}
	outcome := func(o string) { s.metrics.grants.WithLabelValues("two_factor", o).Inc() }
	hash := ticketSecretHash(tfID)
	if hash == nil {
		outcome("not_found")
		writeEmpty(w, http.StatusNotFound)
		return
	}
	now := s.now()
	t, err := s.store.GetTicket(ctx, store.TicketTwoFactor, hash, now)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		outcome("not_found")
		writeEmpty(w, http.StatusNotFound)
		return
	}
	if appID != "" && appID != t.ApplicationID {
		outcome("not_found")
		writeEmpty(w, http.StatusNotFound) // another app's login: as if unknown
		return
	}
	used, err := s.useCode(ctx, t.UserID, code, true, nil)
	if err != nil {
		s.log.Error("two-factor login", "userId", t.UserID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	switch used {
	case codeNoFactor: // disabled since the first step
		outcome("not_found")
		writeEmpty(w, http.StatusNotFound)
		return
	case codeWrong, codeThrottled:
		n, err := s.store.FailTicket(ctx, store.TicketTwoFactor, hash, now, twoFactorMaxAttempts)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "second factor failed", slog.String("event", "two_factor_failed"),
			slog.String("userId", t.UserID), slog.Int("attempts", n), slog.Bool("throttled", used == codeThrottled))
		outcome("invalid_code")
		writeEmpty(w, statusInvalidCode)
		return
	}
	// MFA-1: the twoFactorId is single use; of two right answers one wins.
	t, err = s.store.TakeTicket(ctx, store.TicketTwoFactor, hash, now)
	if err != nil {
		outcome("not_found")
		writeEmpty(w, http.StatusNotFound)
		return
	}
	resp, status := s.completeTwoFactorLogin(r, t, req.TrustComputer, used)
	if status != http.StatusOK {
		outcome("refused")
		writeEmpty(w, status)
		return
	}
	outcome("ok")
	writeJSON(w, http.StatusOK, resp)
}

// completeTwoFactorLogin writes the login a taken TicketTwoFactor stood
// for and builds the answer; status is 200 or the error status.
func (s *Server) completeTwoFactorLogin(r *http.Request, t *store.Ticket, trust bool, used codeUse) (*twoFactorLoginResponse, int) {
	ctx := r.Context()
	var p pendingLogin
	if err := json.Unmarshal(t.Data, &p); err != nil {
		return nil, http.StatusInternalServerError
	}
	app, err := s.store.GetApplication(ctx, t.ApplicationID)
	if err != nil || !app.Active {
		return nil, http.StatusNotFound
	}
	user, err := s.store.GetUser(ctx, t.UserID)
	if err != nil {
		return nil, http.StatusNotFound
	}
	// The login is the one verified at the first step: against the hash
	// it verified (a password changed since wins, AUD-6).
	user.PasswordHash = p.OldHash
	att := loginAttempt{login: user.Email, ip: p.IP, app: app, offline: p.Offline, scopes: p.Scopes,
		dev: deviceInfo{Name: p.DevName, Type: p.DevType, Description: p.DevDesc}, amr: amrPasswordOTP}
	fresh, deviceID, fam, e := s.completeLogin(ctx, att, &passedPassword{user: user, deviceID: p.DeviceID, trusted: p.Trusted, newHash: p.NewHash})
	if e != nil {
		return nil, twoFactorStatus(e)
	}
	tr, e := s.loginResponse(ctx, fresh, app, p.Scopes, deviceID, fam, att.amr)
	if e != nil {
		return nil, twoFactorStatus(e)
	}
	out := &twoFactorLoginResponse{Token: tr.AccessToken, TokenExpirationInstant: s.now().Add(time.Duration(tr.ExpiresIn) * time.Second).UnixMilli(),
		RefreshToken: tr.RefreshToken, RefreshTokenID: tr.RefreshTokenID, User: s.toUserJSON(r, fresh),
		DeviceToken: tr.DeviceToken, IDToken: tr.IDToken}
	if trust {
		id, hash := newTicketSecret()
		now := s.now()
		if err := s.store.CreateTicket(ctx, &store.Ticket{Hash: hash, Kind: store.TicketTrust, UserID: fresh.ID,
			ApplicationID: app.ID, CreatedAt: now, ExpiresAt: now.Add(twoFactorTrustTTL)}); err != nil {
			// The login stands; this browser will be asked again next time.
			s.log.Warn("create two-factor trust", "userId", fresh.ID, "err", err)
		} else {
			out.TwoFactorTrustID = id
		}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "second factor passed", slog.String("event", "two_factor_login"),
		slog.String("userId", fresh.ID), slog.String("applicationId", app.ID), slog.Bool("recoveryCode", used == codeRecovery),
		slog.Bool("trustComputer", out.TwoFactorTrustID != ""))
	return out, http.StatusOK
}

// twoFactorStatus maps a login refusal at the second step to FusionAuth's
// Two Factor Login statuses: 409 a locked user, 410 an expired one, 500;
// anything else (the password changed meanwhile …) 404, start again.
func twoFactorStatus(e *oauthError) int {
	switch {
	case e.Status >= 500:
		return http.StatusInternalServerError
	case e.Reason == "user_locked":
		return http.StatusConflict
	case e.Reason == "user_expired":
		return http.StatusGone
	}
	return http.StatusNotFound
}

// loginOf is what u signs in with: the email, else the username.
func loginOf(u *store.User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.Username
}
