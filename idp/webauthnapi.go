package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// FusionAuth's WebAuthn API (compat §17).

func (s *Server) webAuthnRoutes(h func(pattern, route string, f http.HandlerFunc)) {
	k := s.requireAPIKey
	h("POST /api/webauthn/register/start", "webauthn_register_start", k(s.handleWebAuthnRegisterStart))
	h("POST /api/webauthn/register/complete", "webauthn_register_complete", k(s.handleWebAuthnRegisterComplete))
	h("POST /api/webauthn/start", "webauthn_start", k(s.handleWebAuthnStart))
	// As in FusionAuth (its clients call it anonymously), the login needs
	// no API key: the assertion over a single-use challenge is the
	// credential.
	h("POST /api/webauthn/login", "webauthn_login", s.handleWebAuthnLogin)
	h("GET /api/webauthn", "webauthn_list", k(s.handleWebAuthnList))
	h("GET /api/webauthn/{id}", "webauthn_get", k(s.handleWebAuthnGet))
	h("DELETE /api/webauthn/{id}", "webauthn_delete", k(s.handleWebAuthnDelete))
	h("PATCH /api/webauthn/{id}", "webauthn_rename", k(s.handleWebAuthnRename))
}

// ceremonyApp loads the application a ceremony is for and its relying
// party; it writes the 400 and returns nil when there is none.
func (s *Server) ceremonyApp(w http.ResponseWriter, ctx context.Context, appID string) (*store.Application, string, []string) {
	if appID == "" {
		writeAPIErrors(w, fieldError("applicationId", "blank", "The applicationId is required: the relying party is the application's."))
		return nil, "", nil
	}
	var app *store.Application
	if _, err := uuid.Parse(appID); err == nil {
		app, err = s.store.GetApplication(ctx, appID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			writeEmpty(w, http.StatusInternalServerError)
			return nil, "", nil
		}
	}
	if app == nil || !app.Active {
		writeAPIErrors(w, fieldError("applicationId", "invalid", "No active application has that id."))
		return nil, "", nil
	}
	rpID, origins, ok := appRelyingParty(app.Config)
	if !ok {
		writeAPIErrors(w, fieldError("applicationId", "invalid",
			"The application has no WebAuthn relying party (set its webAuthnRelyingPartyId and webAuthnOrigins, or its baseURL)."))
		return nil, "", nil
	}
	return app, rpID, origins
}

// handleWebAuthnRegisterStart is POST /api/webauthn/register/start: the
// creation options for a new passkey of the user at the application.
func (s *Server) handleWebAuthnRegisterStart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.ceremonyAllowed(w, r) {
		return
	}
	var req struct {
		UserID        string `json:"userId"`
		DisplayName   string `json:"displayName"`
		Name          string `json:"name"`
		Workflow      string `json:"workflow"`
		ApplicationID string `json:"applicationId"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	errs := new(apiErrors)
	userID, name, display := param(req.UserID), param(req.Name), param(req.DisplayName)
	if userID == "" {
		errs.field("userId", "blank", "The userId is required.")
	}
	switch param(req.Workflow) {
	case "", "general", "bootstrap", "reauthentication":
	default:
		errs.field("workflow", "invalid", "The workflow is general, bootstrap or reauthentication.")
	}
	if name == "" {
		name = "Passkey"
	}
	if utf8.RuneCountInString(name) > passkeyNameMax || !utf8.ValidString(name) {
		errs.field("name", "tooLong", "The name is at most 100 characters.")
	}
	if utf8.RuneCountInString(display) > passkeyNameMax || !utf8.ValidString(display) {
		errs.field("displayName", "tooLong", "The displayName is at most 100 characters.")
	}
	if !errs.empty() {
		writeAPIErrors(w, errs)
		return
	}
	user, ok := s.userByID(w, ctx, userID)
	if !ok {
		return
	}
	if !user.Verified {
		writeUnverified(w)
		return
	}
	app, rpID, origins := s.ceremonyApp(w, ctx, param(req.ApplicationID))
	if app == nil {
		return
	}
	wu, err := newWebAuthnUser(user)
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	if display != "" {
		wu.display = display
	}
	if len(wu.keys) >= maxPasskeys {
		writeAPIErrors(w, new(apiErrors).general("[TooManyPasskeys]", "The user has the most passkeys allowed; remove one first."))
		return
	}
	// WA-9: a user's live ceremonies are few (one per open tab), so a
	// caller looping on one user's registrations stops here too.
	if n, err := s.store.CountTickets(ctx, user.ID, store.TicketWebAuthn, s.now().Add(-webAuthnChallengeTTL)); err != nil {
		s.log.Error("webauthn register start", "userId", user.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	} else if n >= maxLiveCeremonies {
		s.ceremonyThrottled(w)
		return
	}
	rp, err := relyingParty(app, rpID, origins)
	if err != nil {
		s.log.Error("webauthn register start", "applicationId", app.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	opts := []webauthn.RegistrationOption{webauthn.WithExclusions(wu.descriptors())}
	if param(req.Workflow) == "reauthentication" { // FusionAuth: this device's own authenticator
		opts = append(opts, webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			AuthenticatorAttachment: protocol.Platform, RequireResidentKey: rp.Config.AuthenticatorSelection.RequireResidentKey,
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired}))
	}
	creation, session, err := rp.BeginRegistration(wu, opts...)
	if err != nil {
		s.log.Error("webauthn register start", "applicationId", app.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	if err := s.saveCeremony(ctx, user.ID, app.ID, ceremony{Purpose: ceremonyRegister, Session: *session,
		Name: name, DisplayName: display}); err != nil {
		s.log.Error("webauthn register start", "userId", user.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": creation.Response})
}

// maxLiveCeremonies caps a user's WebAuthn challenges of the last five
// minutes at a registration start (WA-9).
const maxLiveCeremonies = 10

// ceremonyAllowed takes one token from the end-user IP's ceremony bucket
// (WA-9): every start stores a challenge, so every start pays, and an
// empty bucket answers 429 before anything is looked up or stored. The
// starts need the API key, so the app's X-Forwarded-For (its browser's
// address) is the key.
func (s *Server) ceremonyAllowed(w http.ResponseWriter, r *http.Request) bool {
	ip := clientIP(r, true)
	if !s.ceremonyLimit.allowed(ip) {
		s.ceremonyThrottled(w)
		return false
	}
	s.ceremonyLimit.fail(ip)
	return true
}

// ceremonyThrottled answers 429 with FusionAuth's error shape.
func (s *Server) ceremonyThrottled(w http.ResponseWriter) {
	s.metrics.throttled.Inc()
	w.Header().Set("Retry-After", fmt.Sprint(int(s.cfg.Throttle.CeremonyEvery.Seconds())+1))
	writeJSON(w, http.StatusTooManyRequests, new(apiErrors).general("[TooManyRequests]", "Too many passkey requests from this address. Try again later."))
}

// userByID loads the user of a request's userId (passkey and two-factor
// APIs); false (and a 404 written) when it is not a UUID or unknown.
func (s *Server) userByID(w http.ResponseWriter, ctx context.Context, id string) (*store.User, bool) {
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return nil, false
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		writeAdminError(w, err, "")
		return nil, false
	}
	return u, true
}

// checkCeremonyOrigin checks the request's origin and rpId against the
// application's relying party (WA-2); false (and the 400 written) when
// they do not match.
func checkCeremonyOrigin(w http.ResponseWriter, origin, rpIDParam, rpID string, origins []string) bool {
	if !slices.Contains(origins, origin) {
		writeAPIErrors(w, fieldError("origin", "invalid", "The origin is not one of the application's WebAuthn origins."))
		return false
	}
	if rpIDParam != "" && rpIDParam != rpID {
		writeAPIErrors(w, fieldError("rpId", "invalid", "The rpId is not the application's relying party id."))
		return false
	}
	return true
}

// errPasskeyLimit and errPasskeyDuplicate abort a registration's write.
var (
	errPasskeyLimit     = errors.New("passkey limit reached")
	errPasskeyDuplicate = errors.New("passkey already registered")
)

// handleWebAuthnRegisterComplete is POST /api/webauthn/register/complete:
// verify the authenticator's attestation against the challenge the start
// handed out (taken: single use) and store the passkey.
func (s *Server) handleWebAuthnRegisterComplete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		UserID        string          `json:"userId"`
		Credential    json.RawMessage `json:"credential"`
		Origin        string          `json:"origin"`
		RPID          string          `json:"rpId"`
		ApplicationID string          `json:"applicationId"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	userID, origin := param(req.UserID), param(req.Origin)
	errs := new(apiErrors)
	if userID == "" {
		errs.field("userId", "blank", "The userId is required.")
	}
	credentialOriginBlank(errs, req.Credential, origin)
	if !errs.empty() {
		writeAPIErrors(w, errs)
		return
	}
	body, err := normalizeCredentialJSON(req.Credential)
	var parsed *protocol.ParsedCredentialCreationData
	if err == nil {
		parsed, err = protocol.ParseCredentialCreationResponseBytes(body)
	}
	if err != nil {
		writeAPIErrors(w, fieldError("credential", "invalid", "The credential is not a WebAuthn registration response."))
		return
	}
	t, c, ok := s.completedCeremony(w, ctx, parsed.Response.CollectedClientData.Challenge, ceremonyRegister, nil)
	if !ok {
		return
	}
	if t.UserID != userID || (param(req.ApplicationID) != "" && param(req.ApplicationID) != t.ApplicationID) {
		writeEmpty(w, http.StatusNotFound) // another user's or application's ceremony: as if unknown
		return
	}
	app, rpID, origins := s.ceremonyApp(w, ctx, t.ApplicationID)
	if app == nil {
		return
	}
	if !checkCeremonyOrigin(w, origin, param(req.RPID), rpID, origins) {
		return
	}
	user, ok := s.userByID(w, ctx, userID)
	if !ok {
		return
	}
	wu, err := newWebAuthnUser(user)
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	rp, err := relyingParty(app, rpID, []string{origin})
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	cred, err := rp.CreateCredential(wu, c.Session, parsed)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelInfo, "passkey registration refused", slog.String("event", "webauthn_register_failed"),
			slog.String("userId", userID), slog.String("reason", webAuthnReason(err)))
		writeAPIErrors(w, fieldError("credential", "invalid", "The credential did not verify."))
		return
	}
	pk := newPasskey(cred, rpID, c.Name, c.DisplayName, s.now())
	err = updateMultiFactor(ctx, s.store, userID, func(m *multiFactor) error {
		if len(m.Passkeys) >= maxPasskeys {
			return errPasskeyLimit
		}
		if m.findPasskey(cred.ID) >= 0 {
			return errPasskeyDuplicate
		}
		m.Passkeys = append(m.Passkeys, pk)
		return nil
	})
	switch {
	case errors.Is(err, errPasskeyLimit):
		writeAPIErrors(w, new(apiErrors).general("[TooManyPasskeys]", "The user has the most passkeys allowed; remove one first."))
		return
	case errors.Is(err, errPasskeyDuplicate):
		writeAPIErrors(w, fieldError("credential", "duplicate", "This passkey is already registered."))
		return
	case err != nil:
		writeAdminError(w, err, "")
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "passkey registered", slog.String("event", "webauthn_registered"),
		slog.String("userId", userID), slog.String("applicationId", app.ID), slog.String("passkeyId", pk.ID))
	writeJSON(w, http.StatusOK, map[string]any{"credential": pk.toJSON(userID)})
}

// credentialOriginBlank adds the blank errors of the two members every
// ceremony completion needs.
func credentialOriginBlank(errs *apiErrors, credential json.RawMessage, origin string) {
	if len(credential) == 0 || string(credential) == "null" {
		errs.field("credential", "blank", "The credential is required.")
	}
	if origin == "" {
		errs.field("origin", "blank", "The origin is required.")
	}
}

// completedCeremony takes (single use, WA-1) the ceremony a completion's
// challenge names; false when it has answered: 404 for an unknown,
// expired or used challenge (after notFound, when not nil), 500 when the
// store failed.
func (s *Server) completedCeremony(w http.ResponseWriter, ctx context.Context, challenge, purpose string, notFound func()) (*store.Ticket, *ceremony, bool) {
	t, c, err := s.takeCeremony(ctx, challenge, purpose)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			writeEmpty(w, http.StatusInternalServerError)
			return nil, nil, false
		}
		if notFound != nil {
			notFound()
		}
		writeEmpty(w, http.StatusNotFound) // unknown, expired or used challenge (WA-1)
		return nil, nil, false
	}
	return t, c, true
}

// webAuthnReason is a short, secret-free reason for a refused ceremony.
func webAuthnReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Type + ": " + pe.Details
	}
	return err.Error()
}

// handleWebAuthnStart is POST /api/webauthn/start: the request options of
// a passkey login at the application. With a loginId whose user has
// passkeys they are listed (allowCredentials); without one (or for an
// unknown loginId) the login is discoverable: the passkey names its user.
func (s *Server) handleWebAuthnStart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.ceremonyAllowed(w, r) {
		return
	}
	var req struct {
		LoginID       string `json:"loginId"`
		UserID        string `json:"userId"`
		ApplicationID string `json:"applicationId"`
		Workflow      string `json:"workflow"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	app, rpID, origins := s.ceremonyApp(w, ctx, param(req.ApplicationID))
	if app == nil {
		return
	}
	rp, err := relyingParty(app, rpID, origins)
	if err != nil {
		s.log.Error("webauthn start", "applicationId", app.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	var user *store.User
	switch login, id := param(req.LoginID), param(req.UserID); {
	case id != "":
		if _, err := uuid.Parse(id); err == nil {
			user, _ = s.store.GetUser(ctx, id)
		}
	case login != "":
		user, _ = s.store.GetUserByLogin(ctx, login)
	}
	var (
		assertion *protocol.CredentialAssertion
		session   *webauthn.SessionData
		userID    string
	)
	if user != nil {
		wu, err := newWebAuthnUser(user)
		if err != nil {
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		if len(wu.keys) > 0 {
			assertion, session, err = rp.BeginLogin(wu)
			if err != nil {
				s.log.Error("webauthn start", "userId", user.ID, "err", err)
				writeEmpty(w, http.StatusInternalServerError)
				return
			}
			userID = user.ID
		}
	}
	if assertion == nil {
		if assertion, session, err = rp.BeginDiscoverableLogin(); err != nil {
			s.log.Error("webauthn start", "applicationId", app.ID, "err", err)
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
	}
	if err := s.saveCeremony(ctx, userID, app.ID, ceremony{Purpose: ceremonyLogin, Session: *session}); err != nil {
		s.log.Error("webauthn start", "applicationId", app.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"options": assertion.Response})
}

// errPasskeyRefused aborts a login's counter update: the passkey is gone,
// flagged, or its counter went backwards (then flagged, and written).
var errPasskeyRefused = errors.New("passkey refused")

// handleWebAuthnLogin is POST /api/webauthn/login: verify an assertion
// over a challenge of /api/webauthn/start (taken: single use, WA-1) and
// complete a login at the ceremony's application exactly as the second
// step of a password login completes one (completeLogin,
// loginResponse; compat §16's answer). A passkey is a second factor by
// itself: the authenticator step is skipped (WA-6).
func (s *Server) handleWebAuthnLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Credential    json.RawMessage `json:"credential"`
		Origin        string          `json:"origin"`
		RPID          string          `json:"rpId"`
		ApplicationID string          `json:"applicationId"`
		IPAddress     string          `json:"ipAddress"`
		// Scope (GH): the password grant's scope; default offline_access.
		Scope string `json:"scope"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	outcome := func(o string) { s.metrics.grants.WithLabelValues("webauthn", o).Inc() }
	origin := param(req.Origin)
	errs := new(apiErrors)
	credentialOriginBlank(errs, req.Credential, origin)
	scope := param(req.Scope)
	if scope == "" {
		scope = "offline_access"
	}
	scopes, oe := parseScopes(scope)
	if oe != nil {
		errs.field("scope", "invalid", "Unknown scope.")
	}
	if !errs.empty() {
		writeAPIErrors(w, errs)
		return
	}
	body, err := normalizeCredentialJSON(req.Credential)
	var parsed *protocol.ParsedCredentialAssertionData
	if err == nil {
		parsed, err = protocol.ParseCredentialRequestResponseBytes(body)
	}
	if err != nil {
		outcome("invalid")
		writeAPIErrors(w, fieldError("credential", "invalid", "The credential is not a WebAuthn assertion."))
		return
	}
	t, c, ok := s.completedCeremony(w, ctx, parsed.Response.CollectedClientData.Challenge, ceremonyLogin,
		func() { outcome("not_found") })
	if !ok {
		return
	}
	if appID := param(req.ApplicationID); appID != "" && appID != t.ApplicationID {
		outcome("not_found")
		writeEmpty(w, http.StatusNotFound)
		return
	}
	app, rpID, origins := s.ceremonyApp(w, ctx, t.ApplicationID)
	if app == nil {
		return
	}
	if !checkCeremonyOrigin(w, origin, param(req.RPID), rpID, origins) {
		outcome("invalid")
		return
	}
	rp, err := relyingParty(app, rpID, []string{origin})
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	refuse := func(userID string, err error) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "passkey login refused", slog.String("event", "webauthn_login_failed"),
			slog.String("userId", userID), slog.String("applicationId", app.ID), slog.String("reason", webAuthnReason(err)))
		outcome("invalid")
		writeAPIErrors(w, fieldError("credential", "invalid", "The passkey did not verify."))
	}
	// WA-4: the user is the one the user handle (or the start's loginId)
	// names, and the credential must be one of that user's passkeys.
	var user *store.User
	var cred *webauthn.Credential
	if t.UserID != "" {
		u, err := s.store.GetUser(ctx, t.UserID)
		if err != nil {
			refuse(t.UserID, err)
			return
		}
		wu, err := newWebAuthnUser(u)
		if err != nil {
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		if cred, err = rp.ValidateLogin(wu, c.Session, parsed); err != nil {
			refuse(u.ID, err)
			return
		}
		user = u
	} else {
		cred, err = rp.ValidateDiscoverableLogin(func(_, handle []byte) (webauthn.User, error) {
			if _, err := uuid.Parse(string(handle)); err != nil {
				return nil, errors.New("user handle is not a user id")
			}
			u, err := s.store.GetUser(ctx, string(handle))
			if err != nil {
				return nil, err
			}
			user = u
			return newWebAuthnUser(u)
		}, c.Session, parsed)
		if err != nil {
			uid := ""
			if user != nil {
				uid = user.ID
			}
			refuse(uid, err)
			return
		}
	}
	now := s.now()
	// The refusals a right password learns (deactivated, expired, a
	// required password change) refuse a passkey too, before anything is
	// written (WA-7).
	if e := loginRefusal(user, now); e != nil {
		outcome("refused")
		s.writeWebAuthnRefusal(w, e)
		return
	}
	// WA-5: the counter is checked again, and advanced, in one UpdateUser:
	// of two logins with one assertion's counter only one passes, and a
	// passkey removed meanwhile cannot sign in.
	var used passkey
	clone := false
	err = updateMultiFactor(ctx, s.store, user.ID, func(m *multiFactor) error {
		i := m.findPasskey(cred.ID)
		if i < 0 || m.Passkeys[i].CloneWarning {
			return errPasskeyRefused
		}
		p := &m.Passkeys[i]
		a := webauthn.Authenticator{SignCount: p.SignCount}
		a.UpdateCounter(parsed.Response.AuthenticatorData.Counter)
		if a.CloneWarning || cred.Authenticator.CloneWarning {
			clone, p.CloneWarning = true, true
		} else {
			p.SignCount, p.LastUsedAt = a.SignCount, now
			p.BackupState = parsed.Response.AuthenticatorData.Flags.HasBackupState()
		}
		used = *p
		return nil
	})
	switch {
	case errors.Is(err, errPasskeyRefused):
		refuse(user.ID, errors.New("passkey removed or flagged as cloned"))
		return
	case err != nil:
		s.log.Error("webauthn login", "userId", user.ID, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	case clone:
		s.log.LogAttrs(ctx, slog.LevelWarn, "passkey signature counter went backwards: flagged as cloned",
			slog.String("event", "webauthn_clone_warning"), slog.String("userId", user.ID), slog.String("passkeyId", used.ID))
		refuse(user.ID, errors.New("signature counter went backwards"))
		return
	}
	ip := clientIP(r, false)
	if a := net.ParseIP(param(req.IPAddress)); a != nil {
		ip = a.String() // FusionAuth's ipAddress: recorded with the login only
	}
	att := loginAttempt{login: user.Email, ip: ip, app: app, scopes: scopes, amr: used.amr(),
		offline: slices.Contains(scopes, "offline_access") && app.Config.GenerateRefreshTokens}
	fresh, deviceID, fam, e := s.completeLogin(ctx, att, &passedPassword{user: user})
	if e != nil {
		outcome("refused")
		s.writeWebAuthnRefusal(w, e)
		return
	}
	tr, e := s.loginResponse(ctx, fresh, app, scopes, deviceID, fam, att.amr)
	if e != nil {
		outcome("refused")
		s.writeWebAuthnRefusal(w, e)
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "passkey login", slog.String("event", "webauthn_login"),
		slog.String("userId", fresh.ID), slog.String("applicationId", app.ID), slog.String("passkeyId", used.ID))
	outcome("ok")
	writeJSON(w, http.StatusOK, &twoFactorLoginResponse{Token: tr.AccessToken,
		TokenExpirationInstant: s.now().Add(time.Duration(tr.ExpiresIn) * time.Second).UnixMilli(),
		RefreshToken:           tr.RefreshToken, RefreshTokenID: tr.RefreshTokenID, User: s.toUserJSON(r, fresh),
		DeviceToken: tr.DeviceToken, IDToken: tr.IDToken})
}

// writeWebAuthnRefusal answers a login refused after a verified passkey:
// 409 a deactivated user, 410 an expired one (as /api/two-factor/login),
// 400 [ChangePasswordRequired] a user who must change their password
// first, 500, and anything else (the user changed meanwhile) 404.
func (s *Server) writeWebAuthnRefusal(w http.ResponseWriter, e *oauthError) {
	if e.Reason == "change_password_administrative" || e.Code == "change_password_required" {
		writeAPIErrors(w, new(apiErrors).general("[ChangePasswordRequired]", "The user must change their password before signing in."))
		return
	}
	writeEmpty(w, twoFactorStatus(e))
}

// passkeyOwner finds the user holding the passkey id: the given user
// (GH: ?userId= makes it one lookup) or, without one, every user with a
// second factor (FusionAuth's clients name the passkey only).
func (s *Server) passkeyOwner(ctx context.Context, id, userID string) (*store.User, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, store.ErrNotFound
	}
	var users []*store.User
	if userID != "" {
		if _, err := uuid.Parse(userID); err != nil {
			return nil, store.ErrNotFound
		}
		u, err := s.store.GetUser(ctx, userID)
		if err != nil {
			return nil, err
		}
		users = []*store.User{u}
	} else {
		all, err := s.store.ListUsers(ctx, 0)
		if err != nil {
			return nil, err
		}
		users = all
	}
	for _, u := range users {
		if len(u.MultiFactor) == 0 {
			continue
		}
		m, err := parseMultiFactor(u.MultiFactor)
		if err != nil {
			return nil, err
		}
		if m.passkeyByID(id) >= 0 {
			return u, nil
		}
	}
	return nil, store.ErrNotFound
}

// handleWebAuthnList is GET /api/webauthn?userId=: the user's passkeys.
func (s *Server) handleWebAuthnList(w http.ResponseWriter, r *http.Request) {
	u, ok := s.userByID(w, r.Context(), param(r.URL.Query().Get("userId")))
	if !ok {
		return
	}
	m, err := parseMultiFactor(u.MultiFactor)
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	out := []webAuthnCredentialJSON{}
	for i := range m.Passkeys {
		out = append(out, m.Passkeys[i].toJSON(u.ID))
	}
	writeJSON(w, http.StatusOK, map[string]any{"credentials": out})
}

// handleWebAuthnGet is GET /api/webauthn/{id}[?userId=].
func (s *Server) handleWebAuthnGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	u, err := s.passkeyOwner(r.Context(), id, param(r.URL.Query().Get("userId")))
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	m, err := parseMultiFactor(u.MultiFactor)
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	i := m.passkeyByID(id)
	if i < 0 {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": m.Passkeys[i].toJSON(u.ID)})
}

// updatePasskey applies f to the passkey id of its owner in one
// UpdateUser; store.ErrNotFound when there is no such passkey.
func (s *Server) updatePasskey(ctx context.Context, id, userID string, f func(m *multiFactor, i int)) (*store.User, error) {
	u, err := s.passkeyOwner(ctx, id, userID)
	if err != nil {
		return nil, err
	}
	err = updateMultiFactor(ctx, s.store, u.ID, func(m *multiFactor) error {
		i := m.passkeyByID(id)
		if i < 0 {
			return store.ErrNotFound
		}
		f(m, i)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.store.GetUser(ctx, u.ID)
}

// handleWebAuthnDelete is DELETE /api/webauthn/{id}[?userId=]: the passkey
// can no longer sign in (WA-8).
func (s *Server) handleWebAuthnDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	u, err := s.updatePasskey(r.Context(), id, param(r.URL.Query().Get("userId")), func(m *multiFactor, i int) {
		m.Passkeys = slices.Delete(m.Passkeys, i, i+1)
	})
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "passkey removed", slog.String("event", "webauthn_deleted"),
		slog.String("userId", u.ID), slog.String("passkeyId", id))
	writeEmpty(w, http.StatusOK)
}

// handleWebAuthnRename is GH PATCH /api/webauthn/{id}[?userId=] {"name"}.
func (s *Server) handleWebAuthnRename(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string `json:"name"`
		UserID string `json:"userId"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	name := strings.TrimSpace(param(req.Name))
	switch {
	case name == "":
		writeAPIErrors(w, fieldError("name", "blank", "The name is required."))
		return
	case utf8.RuneCountInString(name) > passkeyNameMax || !utf8.ValidString(name):
		writeAPIErrors(w, fieldError("name", "tooLong", "The name is at most 100 characters."))
		return
	}
	userID := param(r.URL.Query().Get("userId"))
	if userID == "" {
		userID = param(req.UserID)
	}
	id := r.PathValue("id")
	u, err := s.updatePasskey(r.Context(), id, userID, func(m *multiFactor, i int) { m.Passkeys[i].Name = name })
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	m, err := parseMultiFactor(u.MultiFactor)
	if err != nil || m.passkeyByID(id) < 0 {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"credential": m.Passkeys[m.passkeyByID(id)].toJSON(u.ID)})
}
