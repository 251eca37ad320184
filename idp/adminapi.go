package idp

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// The FusionAuth-style admin API (compat §13), behind an API key.

func (s *Server) adminRoutes(h func(pattern, route string, f http.HandlerFunc)) {
	k := s.requireAPIKey
	h("POST /api/user", "user_create", k(s.handleCreateUser))
	h("POST /api/user/{id}", "user_create", k(s.handleCreateUser))
	h("GET /api/user", "user_get", k(s.handleGetUser))
	h("GET /api/user/{id}", "user_get", k(s.handleGetUser))
	h("PUT /api/user/{id}", "user_update", k(s.handleUpdateUser))
	h("PATCH /api/user/{id}", "user_update", k(s.handleUpdateUser))
	h("DELETE /api/user/{id}", "user_delete", k(s.handleDeleteUser))
	h("PUT /api/user/unlock/{userId}", "user_unlock", k(s.handleUnlockUser))
	h("POST /api/user/import", "user_import", k(s.handleImportUsers))
	h("POST /api/user/registration", "registration_create", k(s.handleCreateRegistration))
	h("POST /api/user/registration/{userId}", "registration_create", k(s.handleCreateRegistration))
	h("GET /api/user/registration/{userId}/{applicationId}", "registration_get", k(s.handleGetRegistration))
	h("DELETE /api/user/registration/{userId}/{applicationId}", "registration_delete", k(s.handleDeleteRegistration))
	h("POST /api/application", "application_create", k(s.handleCreateApplication))
	h("POST /api/application/{id}", "application_create", k(s.handleCreateApplication))
	h("GET /api/application", "application_get", k(s.handleListApplications))
	h("GET /api/application/{id}", "application_get", k(s.handleGetApplication))
	h("DELETE /api/application/{id}", "application_delete", k(s.handleDeleteApplication))
	h("POST /api/api-key", "api_key_create", k(s.handleCreateAPIKey))
	s.accountRoutes(h)
}

// userJSON is FusionAuth's user object; it never carries a password.
type userJSON struct {
	ID                        string             `json:"id,omitempty"`
	Email                     string             `json:"email,omitempty"`
	Username                  string             `json:"username,omitempty"`
	Password                  string             `json:"password,omitempty"` // input only
	FirstName                 string             `json:"firstName,omitempty"`
	LastName                  string             `json:"lastName,omitempty"`
	FullName                  string             `json:"fullName,omitempty"`
	Active                    *bool              `json:"active,omitempty"`
	Verified                  *bool              `json:"verified,omitempty"`
	Data                      json.RawMessage    `json:"data,omitempty"`
	PasswordChangeRequired    bool               `json:"passwordChangeRequired"`
	Registrations             []registrationJSON `json:"registrations,omitempty"`
	InsertInstant             int64              `json:"insertInstant,omitempty"`
	LastLoginInstant          int64              `json:"lastLoginInstant,omitempty"`
	PasswordLastUpdateInstant int64              `json:"passwordLastUpdateInstant,omitempty"`
	// TwoFactor lists the enabled second factors (output only, compat §16).
	TwoFactor *userTwoFactorJSON `json:"twoFactor,omitempty"`
	// Import fields (POST /api/user/import).
	EncryptionScheme string `json:"encryptionScheme,omitempty"`
	Factor           int    `json:"factor,omitempty"`
	Salt             string `json:"salt,omitempty"`
}

type registrationJSON struct {
	ID            string   `json:"id,omitempty"`
	ApplicationID string   `json:"applicationId"`
	Roles         []string `json:"roles"`
	Verified      bool     `json:"verified"`
	InsertInstant int64    `json:"insertInstant,omitempty"`
}

func toRegistrationJSON(r *store.Registration) registrationJSON {
	if r.Roles == nil {
		r.Roles = []string{} // FusionAuth answers [] for a registration without roles
	}
	return registrationJSON{ID: r.ID, ApplicationID: r.ApplicationID, Roles: r.Roles, Verified: r.Verified, InsertInstant: r.CreatedAt.UnixMilli()}
}

func (s *Server) toUserJSON(r *http.Request, u *store.User) userJSON {
	active, verified := u.Active, u.Verified
	j := userJSON{ID: u.ID, Email: u.Email, Username: u.Username, FirstName: u.FirstName, LastName: u.LastName,
		FullName: u.FullName, Active: &active, Verified: &verified, Data: u.Data, PasswordChangeRequired: u.PasswordChangeRequired,
		InsertInstant: u.CreatedAt.UnixMilli(), PasswordLastUpdateInstant: u.PasswordUpdatedAt.UnixMilli()}
	if !u.LastLoginAt.IsZero() {
		j.LastLoginInstant = u.LastLoginAt.UnixMilli()
	}
	if m, err := parseMultiFactor(u.MultiFactor); err == nil && m.enabled() {
		j.TwoFactor = &userTwoFactorJSON{Methods: m.methods()}
	}
	if regs, err := s.store.ListRegistrations(r.Context(), u.ID); err == nil {
		for _, reg := range regs {
			j.Registrations = append(j.Registrations, toRegistrationJSON(reg))
		}
	}
	return j
}

// writeAdminError maps an Admin error to the API's shape: validation →
// 400 field error, not found → 404, anything else → 500.
func writeAdminError(w http.ResponseWriter, err error, prefix string) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		writeAPIErrors(w, fieldError(prefix+ve.Field, ve.Kind, ve.Message))
	case errors.Is(err, store.ErrNotFound):
		writeEmpty(w, http.StatusNotFound)
	default:
		writeEmpty(w, http.StatusInternalServerError)
	}
}

func (s *Server) badJSON(w http.ResponseWriter) {
	writeAPIErrors(w, new(apiErrors).general("[invalid]body", "The request body is not valid JSON."))
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var req struct {
		User             userJSON `json:"user"`
		SkipVerification bool     `json:"skipVerification"`
		ApplicationID    string   `json:"applicationId"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	u := req.User
	u.ID = r.PathValue("id")
	verified := req.SkipVerification || (u.Verified != nil && *u.Verified)
	user, err := s.admin.CreateUser(r.Context(), UserSpec{ID: u.ID, Email: u.Email, Username: u.Username, Password: u.Password,
		FirstName: u.FirstName, LastName: u.LastName, FullName: u.FullName, Data: u.Data, Verified: verified,
		PasswordChangeRequired: u.PasswordChangeRequired, ApplicationID: req.ApplicationID})
	if err != nil {
		writeAdminError(w, err, "user.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.toUserJSON(r, user)})
}

func (s *Server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var u *store.User
	var err error
	if id := r.PathValue("id"); id != "" {
		if _, perr := uuid.Parse(id); perr != nil {
			writeEmpty(w, http.StatusNotFound)
			return
		}
		u, err = s.store.GetUser(ctx, id)
	} else {
		q := r.URL.Query()
		login := param(q.Get("loginId"))
		for _, k := range []string{"email", "username"} {
			if login == "" {
				login = param(q.Get(k))
			}
		}
		if id := param(q.Get("changePasswordId")); id != "" && login == "" {
			// compat §18: whose reset id is this (it stays usable).
			u, err = s.userByChangePasswordID(ctx, id)
		} else if login == "" {
			writeAPIErrors(w, new(apiErrors).general("[invalid]", "Specify a userId, loginId, email, username or changePasswordId."))
			return
		} else {
			u, err = s.store.GetUserByLogin(ctx, login)
		}
	}
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.toUserJSON(r, u)})
}

// handleUpdateUser applies the given fields (PUT and PATCH alike: absent
// fields are kept). A new password revokes the user's tokens; active=false
// deactivates.
func (s *Server) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	var req struct {
		User userJSON `json:"user"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	in := req.User
	in.Email = strings.ToLower(strings.TrimSpace(in.Email))
	if err := validateProfile(in.Email, in.Username, in.FirstName, in.LastName, in.FullName); err != nil {
		writeAdminError(w, err, "user.")
		return
	}
	if len(in.Data) > 0 && !json.Valid(in.Data) {
		writeAPIErrors(w, fieldError("user.data", "invalid", "data must be JSON."))
		return
	}
	// AUD-6: the profile fields given are applied to the current row in
	// one transaction; password and active go through their own paths.
	err := s.store.UpdateUser(ctx, id, func(u store.User) (store.User, error) {
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&u.Email, in.Email)
		set(&u.Username, in.Username)
		set(&u.FirstName, in.FirstName)
		set(&u.LastName, in.LastName)
		set(&u.FullName, in.FullName)
		if len(in.Data) > 0 {
			u.Data = in.Data
		}
		if in.Verified != nil {
			u.Verified = *in.Verified
		}
		return u, nil
	})
	if err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			writeAPIErrors(w, fieldError("user.email", "duplicate", "A user with that email or username already exists."))
			return
		}
		writeAdminError(w, err, "user.")
		return
	}
	if in.Password != "" {
		if err := s.admin.SetPassword(ctx, id, in.Password); err != nil {
			writeAdminError(w, err, "user.")
			return
		}
	}
	if in.Active != nil || r.URL.Query().Get("reactivate") == "true" {
		active := r.URL.Query().Get("reactivate") == "true" || *in.Active
		if err := s.admin.SetActive(ctx, id, active); err != nil {
			writeAdminError(w, err, "user.")
			return
		}
	}
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.toUserJSON(r, u)})
}

// handleUnlockUser is PUT /api/user/unlock/{userId} (Gatehouse; FusionAuth
// unlocks through user actions): it clears the account's brute-force delay
// or hard stop and its device counters (AUD-1). 200 with the user, 404 for
// an unknown user. Setting a new password unlocks too.
func (s *Server) handleUnlockUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("userId")
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	if err := s.admin.UnlockUser(r.Context(), id); err != nil {
		writeAdminError(w, err, "")
		return
	}
	u, err := s.store.GetUser(r.Context(), id)
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.toUserJSON(r, u)})
}

// handleDeleteUser deactivates the user, or deletes it with
// hardDelete=true (FusionAuth semantics).
func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	var err error
	if r.URL.Query().Get("hardDelete") == "true" {
		err = s.admin.DeleteUser(r.Context(), id)
	} else {
		err = s.admin.SetActive(r.Context(), id, false)
	}
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeEmpty(w, http.StatusOK)
}

// handleImportUsers is POST /api/user/import: users with FusionAuth hashes
// (salted-pbkdf2-hmac-sha256, bcrypt), rehashed to argon2id at first login.
// All or nothing (AUD-15): any refused user refuses the batch.
func (s *Server) handleImportUsers(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Users []userJSON `json:"users"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	batch := make([]ImportUser, 0, len(req.Users))
	for i, u := range req.Users {
		enc, err := password.ImportFusionAuth(u.EncryptionScheme, u.Factor, u.Salt, u.Password)
		if err != nil {
			writeAPIErrors(w, fieldError("users["+itoa(i)+"].encryptionScheme", "invalid", "Unsupported or malformed password hash."))
			return
		}
		in := ImportUser{UserSpec: UserSpec{ID: u.ID, Email: u.Email, Username: u.Username, PasswordHash: enc, FirstName: u.FirstName,
			LastName: u.LastName, FullName: u.FullName, Data: u.Data, Verified: u.Verified != nil && *u.Verified}}
		for _, reg := range u.Registrations {
			in.Registrations = append(in.Registrations, ImportRegistration{ApplicationID: reg.ApplicationID, Roles: reg.Roles, Verified: true})
		}
		batch = append(batch, in)
	}
	if err := s.admin.ImportUsers(r.Context(), batch); err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeEmpty(w, http.StatusOK)
}

func (s *Server) handleCreateRegistration(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		Registration     registrationJSON `json:"registration"`
		User             *userJSON        `json:"user"`
		SkipVerification bool             `json:"skipVerification"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	userID := r.PathValue("userId")
	if req.User != nil && absent(req.User.Email) && absent(req.User.Username) && absent(req.User.Password) {
		// Empty values are absent (compat §0): FusionAuth's Go client always
		// sends a user object ({"active":false,"twoFactor":{},...}); without
		// an identity or a password it does not describe a user to create,
		// so the call registers the existing user (AUD-16).
		req.User = nil
	}
	if _, err := uuid.Parse(req.Registration.ApplicationID); err != nil {
		writeAPIErrors(w, fieldError("registration.applicationId", "invalid", "registration.applicationId must be a UUID."))
		return
	}
	var user *store.User
	var err error
	if req.User != nil {
		// A sign-up an app makes for a browser (a scoped key) costs a
		// password hash and a mail: it pays a token of the browser IP's
		// mail bucket first, before any account is looked at, so an empty
		// bucket (429) says nothing about the address (ACC-4). The
		// operator's super key creates users unthrottled.
		paid := false
		if k := callerAPIKey(ctx); k != nil && len(k.Permissions.Endpoints) != 0 {
			if err := s.mailAllowed(clientIP(r, true)); err != nil {
				s.writeAccountError(w, r, err)
				return
			}
			paid = true
		}
		// Check the registration first: a refused one creates no user.
		if _, err := s.admin.CheckRegistration(ctx, req.Registration.ApplicationID, req.Registration.Roles); err != nil {
			writeAdminError(w, err, "")
			return
		}
		u := req.User
		user, err = s.admin.CreateUser(ctx, UserSpec{ID: userID, Email: u.Email, Username: u.Username, Password: u.Password,
			FirstName: u.FirstName, LastName: u.LastName, FullName: u.FullName, Data: u.Data, Verified: req.SkipVerification,
			ApplicationID: req.Registration.ApplicationID})
		if err != nil {
			var ve *ValidationError
			if errors.As(err, &ve) && ve.Kind == "duplicate" && u.Email != "" && (paid || s.mailAllowed(clientIP(r, true)) == nil) {
				// Sign-up with a taken address (compat §18, ACC-1): its owner
				// is told; the IP's mail bucket bounds such mails (ACC-4)
				// without changing the answer.
				s.signupMails(ctx, req.Registration.ApplicationID, nil, strings.ToLower(strings.TrimSpace(u.Email)))
			}
			writeAdminError(w, err, "user.")
			return
		}
	} else {
		if _, perr := uuid.Parse(userID); perr != nil {
			writeAPIErrors(w, fieldError("userId", "invalid", "userId must be a UUID."))
			return
		}
		if user, err = s.store.GetUser(ctx, userID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				writeAPIErrors(w, fieldError("userId", "invalid", "No user exists with that id."))
				return
			}
			writeAdminError(w, err, "")
			return
		}
	}
	reg, err := s.admin.Register(ctx, user.ID, req.Registration.ApplicationID, req.Registration.Roles)
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	if req.User != nil { // a sign-up: the verification mail (compat §18)
		s.signupMails(ctx, req.Registration.ApplicationID, user, "")
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": s.toUserJSON(r, user), "registration": toRegistrationJSON(reg)})
}

func (s *Server) handleGetRegistration(w http.ResponseWriter, r *http.Request) {
	reg, err := s.store.GetRegistration(r.Context(), r.PathValue("userId"), r.PathValue("applicationId"))
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"registration": toRegistrationJSON(reg)})
}

func (s *Server) handleDeleteRegistration(w http.ResponseWriter, r *http.Request) {
	uid, aid := r.PathValue("userId"), r.PathValue("applicationId")
	if err := s.store.DeleteRegistration(r.Context(), uid, aid); err != nil {
		writeAdminError(w, err, "")
		return
	}
	_, _ = s.revokeUser(r.Context(), uid, aid, "unregistered")
	writeEmpty(w, http.StatusOK)
}

// applicationJSON is the subset of FusionAuth's application object that
// Gatehouse uses.
type applicationJSON struct {
	ID                 string `json:"id,omitempty"`
	Name               string `json:"name"`
	Active             bool   `json:"active"`
	OAuthConfiguration struct {
		ClientID                   string   `json:"clientId,omitempty"`
		ClientSecret               string   `json:"clientSecret,omitempty"`
		EnabledGrants              []string `json:"enabledGrants,omitempty"`
		GenerateRefreshTokens      bool     `json:"generateRefreshTokens"`
		ClientAuthenticationPolicy string   `json:"clientAuthenticationPolicy,omitempty"`
	} `json:"oauthConfiguration"`
	LoginConfiguration struct {
		AllowTokenRefresh bool `json:"allowTokenRefresh"`
	} `json:"loginConfiguration"`
	JWTConfiguration struct {
		Enabled                             bool   `json:"enabled"`
		TimeToLiveInSeconds                 int    `json:"timeToLiveInSeconds,omitempty"`
		RefreshTokenTimeToLiveInMinutes     int    `json:"refreshTokenTimeToLiveInMinutes,omitempty"`
		RefreshTokenExpirationPolicy        string `json:"refreshTokenExpirationPolicy,omitempty"`
		RefreshTokenUsagePolicy             string `json:"refreshTokenUsagePolicy,omitempty"`
		RefreshTokenOneTimeUseConfiguration struct {
			GracePeriodInSeconds *int `json:"gracePeriodInSeconds,omitempty"`
		} `json:"refreshTokenOneTimeUseConfiguration"`
		RefreshTokenSlidingWindowConfiguration struct {
			MaximumTimeToLiveInMinutes int `json:"maximumTimeToLiveInMinutes,omitempty"`
		} `json:"refreshTokenSlidingWindowConfiguration"`
	} `json:"jwtConfiguration"`
	Roles         []roleJSON `json:"roles,omitempty"`
	WebhookURLs   []string   `json:"webhookURLs,omitempty"`
	WebhookSecret string     `json:"webhookSecret,omitempty"` // input only
	// WebhookAllowLinkLocal (a Gatehouse extension) lets webhookURLs name
	// link-local or cloud-metadata addresses (AUD-15).
	WebhookAllowLinkLocal bool `json:"webhookAllowLinkLocal,omitempty"`
	// WebAuthnRelyingPartyID and WebAuthnOrigins (Gatehouse extensions)
	// are the application's passkey relying party (compat §17).
	WebAuthnRelyingPartyID string   `json:"webAuthnRelyingPartyId,omitempty"`
	WebAuthnOrigins        []string `json:"webAuthnOrigins,omitempty"`
	// BaseURL (a Gatehouse extension, compat §18) is the app's public base
	// URL; account mails link to its pages under it.
	BaseURL       string `json:"baseURL,omitempty"`
	InsertInstant int64  `json:"insertInstant,omitempty"`
}

type roleJSON struct {
	Name string `json:"name"`
}

func toApplicationJSON(a *store.Application, secret string) applicationJSON {
	var j applicationJSON
	c := a.Config
	j.ID, j.Name, j.Active, j.InsertInstant = a.ID, a.Name, a.Active, a.CreatedAt.UnixMilli()
	j.OAuthConfiguration.ClientID, j.OAuthConfiguration.ClientSecret = a.ID, secret
	j.OAuthConfiguration.EnabledGrants = c.EnabledGrants
	j.OAuthConfiguration.GenerateRefreshTokens = c.GenerateRefreshTokens
	j.OAuthConfiguration.ClientAuthenticationPolicy = c.ClientAuthenticationPolicy
	j.LoginConfiguration.AllowTokenRefresh = c.AllowTokenRefresh
	jc := &j.JWTConfiguration
	jc.Enabled = c.AccessTokenTTLSeconds > 0 || c.RefreshTokenTTLMinutes > 0
	jc.TimeToLiveInSeconds, jc.RefreshTokenTimeToLiveInMinutes = c.AccessTokenTTLSeconds, c.RefreshTokenTTLMinutes
	jc.RefreshTokenExpirationPolicy, jc.RefreshTokenUsagePolicy = c.RefreshTokenExpirationPolicy, c.RefreshTokenUsagePolicy
	jc.RefreshTokenOneTimeUseConfiguration.GracePeriodInSeconds = c.GracePeriodSeconds
	jc.RefreshTokenSlidingWindowConfiguration.MaximumTimeToLiveInMinutes = c.RefreshTokenMaxLifetimeMinutes
	for _, r := range c.Roles {
		j.Roles = append(j.Roles, roleJSON{Name: r})
	}
	j.WebhookURLs, j.WebhookAllowLinkLocal = c.WebhookURLs, c.WebhookAllowLinkLocal
	j.WebAuthnRelyingPartyID, j.WebAuthnOrigins = c.WebAuthnRelyingPartyID, c.WebAuthnOrigins
	j.BaseURL = c.BaseURL
	return j
}

func (s *Server) handleCreateApplication(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Application applicationJSON `json:"application"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	a := req.Application
	cfg := store.ApplicationConfig{
		EnabledGrants: a.OAuthConfiguration.EnabledGrants, GenerateRefreshTokens: a.OAuthConfiguration.GenerateRefreshTokens,
		ClientAuthenticationPolicy: a.OAuthConfiguration.ClientAuthenticationPolicy, AllowTokenRefresh: a.LoginConfiguration.AllowTokenRefresh,
		AccessTokenTTLSeconds: a.JWTConfiguration.TimeToLiveInSeconds, RefreshTokenTTLMinutes: a.JWTConfiguration.RefreshTokenTimeToLiveInMinutes,
		RefreshTokenExpirationPolicy:   a.JWTConfiguration.RefreshTokenExpirationPolicy,
		RefreshTokenUsagePolicy:        a.JWTConfiguration.RefreshTokenUsagePolicy,
		GracePeriodSeconds:             a.JWTConfiguration.RefreshTokenOneTimeUseConfiguration.GracePeriodInSeconds,
		RefreshTokenMaxLifetimeMinutes: a.JWTConfiguration.RefreshTokenSlidingWindowConfiguration.MaximumTimeToLiveInMinutes,
		WebhookURLs:                    a.WebhookURLs, WebhookSecret: a.WebhookSecret,
		WebhookAllowLinkLocal: a.WebhookAllowLinkLocal, BaseURL: a.BaseURL,
		WebAuthnRelyingPartyID: a.WebAuthnRelyingPartyID, WebAuthnOrigins: a.WebAuthnOrigins,
	}
	for _, role := range a.Roles {
		cfg.Roles = append(cfg.Roles, role.Name)
	}
	app, secret, err := s.admin.CreateApplication(r.Context(), ApplicationSpec{ID: r.PathValue("id"), Name: a.Name,
		Secret: a.OAuthConfiguration.ClientSecret, Config: cfg})
	if err != nil {
		writeAdminError(w, err, "application.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"application": toApplicationJSON(app, secret)})
}

func (s *Server) handleGetApplication(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	app, err := s.store.GetApplication(r.Context(), id)
	if err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"application": toApplicationJSON(app, "")})
}

func (s *Server) handleListApplications(w http.ResponseWriter, r *http.Request) {
	apps, err := s.store.ListApplications(r.Context())
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	out := []applicationJSON{}
	for _, a := range apps {
		out = append(out, toApplicationJSON(a, ""))
	}
	writeJSON(w, http.StatusOK, map[string]any{"applications": out})
}

func (s *Server) handleDeleteApplication(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	if err := s.store.DeleteApplication(r.Context(), id); err != nil {
		writeAdminError(w, err, "")
		return
	}
	writeEmpty(w, http.StatusOK)
}
