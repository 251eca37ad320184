package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// Admin holds the administrative operations shared by the admin HTTP API
// and the gatehouse CLI, so both validate and revoke the same way.
type Admin struct{ s *Server }

// ValidationError is a rejected input field; the admin API answers it as a
// FusionAuth field error ("[kind]field").
type ValidationError struct {
	Field, Kind, Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

func invalid(field, kind, msg string) error {
	return &ValidationError{Field: field, Kind: kind, Message: msg}
}

// randomSecret returns 256 random bits, base64url.
func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// ApplicationSpec describes an application to create.
type ApplicationSpec struct {
	ID     string // optional UUID; generated when empty
	Name   string
	Secret string // optional; a 256-bit secret is generated when empty
	Public bool   // no secret at all (cannot use the password grant)
	// Config; when EnabledGrants is empty the application gets the
	// password and refresh_token grants, refresh tokens with
	// offline_access, and /api/jwt/refresh.
	Config store.ApplicationConfig
}

// CreateApplication creates an application and returns it with its client
// secret (shown once; only its hash is stored).
func (a *Admin) CreateApplication(ctx context.Context, spec ApplicationSpec) (*store.Application, string, error) {
	if strings.TrimSpace(spec.Name) == "" {
		return nil, "", invalid("name", "blank", "The application name is required.")
	}
	if spec.ID == "" {
		spec.ID = uuid.NewString()
	} else if _, err := uuid.Parse(spec.ID); err != nil {
		return nil, "", invalid("id", "invalid", "The application id must be a UUID.")
	}
	cfg := spec.Config
	if len(cfg.EnabledGrants) == 0 {
		cfg.EnabledGrants = []string{"password", "refresh_token"}
		cfg.GenerateRefreshTokens = true
		cfg.AllowTokenRefresh = true
	}
	if err := validateConfig(cfg); err != nil {
		return nil, "", err
	}
	app := &store.Application{ID: spec.ID, Name: spec.Name, Active: true, Config: cfg, CreatedAt: a.s.now()}
	secret := ""
	if !spec.Public {
		secret = spec.Secret
		if secret == "" {
			secret = randomSecret()
		}
		app.ClientSecretHash = sha(secret)
	}
	if err := a.s.store.CreateApplication(ctx, app); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return nil, "", invalid("id", "duplicate", "An application with that id already exists.")
		}
		return nil, "", fmt.Errorf("create application: %w", err)
	}
	return app, secret, nil
}

func validateConfig(c store.ApplicationConfig) error {
	for _, g := range c.EnabledGrants {
		if g != "password" && g != "refresh_token" {
			return invalid("oauthConfiguration.enabledGrants", "invalid", "Supported grants are password and refresh_token.")
		}
	}
	switch c.RefreshTokenExpirationPolicy {
	case "", PolicyFixed, PolicySlidingWindow, PolicySlidingWindowMaximum:
	default:
		return invalid("jwtConfiguration.refreshTokenExpirationPolicy", "invalid", "Unknown expiration policy.")
	}
	switch c.RefreshTokenUsagePolicy {
	case "", PolicyOneTimeUse, PolicyReusable:
	default:
		return invalid("jwtConfiguration.refreshTokenUsagePolicy", "invalid", "Unknown usage policy.")
	}
	switch c.ClientAuthenticationPolicy {
	case "", "Required", "NotRequired", "NotRequiredWhenUsingPKCE":
	default:
		return invalid("oauthConfiguration.clientAuthenticationPolicy", "invalid", "Unknown client authentication policy.")
	}
	if c.GracePeriodSeconds != nil && (*c.GracePeriodSeconds < 0 || *c.GracePeriodSeconds > 86400) {
		return invalid("jwtConfiguration.refreshTokenOneTimeUseConfiguration.gracePeriodInSeconds", "invalid", "The grace period must be between 0 and 86400 seconds.")
	}
	if c.AccessTokenTTLSeconds < 0 || c.RefreshTokenTTLMinutes < 0 || c.RefreshTokenMaxLifetimeMinutes < 0 {
		return invalid("jwtConfiguration", "invalid", "Lifetimes must be positive.")
	}
	return nil
}

// UserSpec describes a user to create. Give Password (hashed here, after
// the policy check) or PasswordHash (an already encoded hash, for imports).
type UserSpec struct {
	ID, Email, Username, Password, PasswordHash string
	FirstName, LastName, FullName               string
	Data                                        json.RawMessage
	Verified                                    bool
	PasswordChangeRequired                      bool
}

// CreateUser validates and creates a user.
func (a *Admin) CreateUser(ctx context.Context, spec UserSpec) (*store.User, error) {
	email := strings.ToLower(strings.TrimSpace(spec.Email))
	if email == "" && spec.Username == "" {
		return nil, invalid("email", "blank", "An email or username is required.")
	}
	if email != "" {
		if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
			return nil, invalid("email", "notEmail", "The email address is invalid.")
		}
	}
	if spec.ID == "" {
		spec.ID = uuid.NewString()
	} else if _, err := uuid.Parse(spec.ID); err != nil {
		return nil, invalid("id", "invalid", "The user id must be a UUID.")
	}
	if len(spec.Data) > 0 && !json.Valid(spec.Data) {
		return nil, invalid("data", "invalid", "data must be a JSON object.")
	}
	hash := spec.PasswordHash
	if hash == "" {
		var err error
		if hash, err = a.hashPassword(ctx, spec.Password); err != nil {
			return nil, err
		}
	} else if _, err := password.Inspect(hash); err != nil {
		return nil, invalid("password", "invalid", "The password hash is not in a supported encoding.")
	}
	now := a.s.now()
	u := &store.User{
		ID: spec.ID, Email: email, Username: spec.Username, FirstName: spec.FirstName, LastName: spec.LastName,
		FullName: spec.FullName, PasswordHash: hash, Active: true, Verified: spec.Verified, Data: spec.Data,
		PasswordChangeRequired: spec.PasswordChangeRequired, PasswordUpdatedAt: now, CreatedAt: now,
	}
	if err := a.s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return nil, invalid("email", "duplicate", "A user with that email, username or id already exists.")
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

func (a *Admin) hashPassword(ctx context.Context, pw string) (string, error) {
	if pw == "" {
		return "", invalid("password", "blank", "A password is required.")
	}
	if err := a.s.hasher.Validate(pw); err != nil {
		switch {
		case errors.Is(err, password.ErrTooShort):
			return "", invalid("password", "tooShort", fmt.Sprintf("The password must be at least %d characters.", a.s.hasher.Params().MinLength))
		case errors.Is(err, password.ErrTooLong):
			return "", invalid("password", "tooLong", "The password is too long.")
		}
		return "", invalid("password", "invalid", err.Error())
	}
	return a.s.hasher.Hash(ctx, pw)
}

// SetPassword changes a user's password and revokes all their refresh
// tokens (IDP-REV-3), telling the apps.
func (a *Admin) SetPassword(ctx context.Context, userID, pw string) error {
	u, err := a.s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = a.hashPassword(ctx, pw); err != nil {
		return err
	}
	u.PasswordUpdatedAt, u.TokensRevokedBefore, u.PasswordChangeRequired = a.s.now(), a.s.now(), false
	if err := a.s.store.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("update password: %w", err)
	}
	ids, err := a.s.store.DeleteRefreshTokensByUser(ctx, userID, "")
	if err != nil {
		return err
	}
	a.s.emit(ctx, Event{Type: EventUserPasswordUpdate, UserID: userID, RefreshTokenIDs: ids, Reason: "password_changed"})
	return nil
}

// SetActive deactivates (or reactivates) a user. Deactivation revokes the
// user's refresh tokens and tells the apps (S10).
func (a *Admin) SetActive(ctx context.Context, userID string, active bool) error {
	u, err := a.s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	u.Active = active
	if !active {
		u.TokensRevokedBefore = a.s.now()
	}
	if err := a.s.store.UpdateUser(ctx, u); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if !active {
		ids, err := a.s.store.DeleteRefreshTokensByUser(ctx, userID, "")
		if err != nil {
			return err
		}
		a.s.emit(ctx, Event{Type: EventUserDeactivate, UserID: userID, RefreshTokenIDs: ids, Reason: "deactivated"})
	}
	return nil
}

// DeleteUser deletes a user with registrations and tokens.
func (a *Admin) DeleteUser(ctx context.Context, userID string) error {
	if err := a.s.store.DeleteUser(ctx, userID); err != nil {
		return err
	}
	a.s.emit(ctx, Event{Type: EventUserDelete, UserID: userID, Reason: "deleted"})
	return nil
}

// RevokeUserTokens ends the user's refresh tokens (one application or all)
// and tells the apps: the server side of "sign out everywhere". For all
// applications it ends the user's access tokens too (AUD-7).
func (a *Admin) RevokeUserTokens(ctx context.Context, userID, applicationID string) ([]string, error) {
	if applicationID == "" {
		if err := a.s.revokeAccessBefore(ctx, userID, a.s.now()); err != nil {
			return nil, err
		}
	}
	return a.s.revokeUser(ctx, userID, applicationID, "admin")
}

// Register registers a user for an application with roles.
func (a *Admin) Register(ctx context.Context, userID, applicationID string, roles []string) (*store.Registration, error) {
	if _, err := a.s.store.GetUser(ctx, userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalid("userId", "invalid", "No user exists with that id.")
		}
		return nil, err
	}
	if _, err := a.s.store.GetApplication(ctx, applicationID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalid("registration.applicationId", "invalid", "No application exists with that id.")
		}
		return nil, err
	}
	if roles == nil {
		roles = []string{}
	}
	reg := &store.Registration{ID: uuid.NewString(), UserID: userID, ApplicationID: applicationID, Roles: roles, Verified: true, CreatedAt: a.s.now()}
	if err := a.s.store.CreateRegistration(ctx, reg); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return nil, invalid("registration.applicationId", "duplicate", "The user is already registered for this application.")
		}
		return nil, fmt.Errorf("create registration: %w", err)
	}
	return reg, nil
}

// CreateAPIKey creates an API key for /api/*; the key is returned once and
// only its hash is stored.
func (a *Admin) CreateAPIKey(ctx context.Context, description string) (string, *store.APIKey, error) {
	key := randomSecret()
	rec := &store.APIKey{ID: uuid.NewString(), KeyHash: sha(key), Description: description, CreatedAt: a.s.now()}
	if err := a.s.store.CreateAPIKey(ctx, rec); err != nil {
		return "", nil, fmt.Errorf("create API key: %w", err)
	}
	return key, rec, nil
}
