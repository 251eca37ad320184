package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// Admin holds the administrative operations shared by the admin HTTP API
// and the gatehouse CLI, so both validate and revoke the same way. A
// Server has one (Server.Admin); NewAdmin builds one without a Server: no
// signing key, no HTTP server (what the CLI's admin commands use).
type Admin struct{ s *core }

// AdminConfig configures an Admin built without a Server. Zero values take
// the same defaults as Config.
type AdminConfig struct {
	// Store is where users, applications and API keys live. Required.
	Store store.Store
	// Hasher hashes new passwords; default password.NewHasher with OWASP
	// argon2id parameters.
	Hasher *password.Hasher
	// Logger receives structured logs; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Events receives the revocation events of password changes,
	// deactivations, deletions and revocations; nil = none.
	Events EventSink
	// Issuer, when set, is the IdP's issuer URL: its host name joins the
	// words a new password may not be built from (AUD-17).
	Issuer string
}

// NewAdmin returns the administrative operations on cfg.Store alone.
func NewAdmin(cfg AdminConfig) (*Admin, error) {
	if cfg.Store == nil {
		return nil, errors.New("idp: AdminConfig.Store is required")
	}
	if cfg.Hasher == nil {
		cfg.Hasher = password.NewHasher(password.Params{})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Admin{s: &core{store: cfg.Store, hasher: cfg.Hasher, log: cfg.Logger, now: cfg.Now, events: cfg.Events, routes: routeTable(), issuer: cfg.Issuer}}, nil
}

// ValidationError is a rejected input field; the admin API answers it as a
// FusionAuth field error ("[kind]field").
type ValidationError struct {
	Field, Kind, Message string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Message) }

func invalid(field, kind, msg string) error {
	return &ValidationError{Field: field, Kind: kind, Message: msg}
}

// minSecretLength is the shortest client secret or API key a caller may
// choose (AUD-15): 32 characters, so even a secret of only hex digits
// carries 128 bits. Generated secrets are 43 characters (256 bits).
const minSecretLength = 32

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
	if err := validateName("name", spec.Name, false); err != nil {
		return nil, "", err
	}
	if spec.Secret != "" && !spec.Public && len(spec.Secret) < minSecretLength {
		return nil, "", invalid("oauthConfiguration.clientSecret", "tooShort", fmt.Sprintf("A client secret must be at least %d characters.", minSecretLength))
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
	// AUD-3 (C-1, IDP-CLI-2): the password grant needs a client that
	// proves its secret; the token endpoint enforces it per request too.
	if c.ClientAuthenticationPolicy == "NotRequired" && slices.Contains(c.EnabledGrants, "password") {
		return invalid("oauthConfiguration.clientAuthenticationPolicy", "invalid",
			"The password grant requires client authentication; clientAuthenticationPolicy NotRequired cannot enable it.")
	}
	if c.GracePeriodSeconds != nil && (*c.GracePeriodSeconds < 0 || *c.GracePeriodSeconds > 86400) {
		return invalid("jwtConfiguration.refreshTokenOneTimeUseConfiguration.gracePeriodInSeconds", "invalid", "The grace period must be between 0 and 86400 seconds.")
	}
	if c.AccessTokenTTLSeconds < 0 || c.RefreshTokenTTLMinutes < 0 || c.RefreshTokenMaxLifetimeMinutes < 0 {
		return invalid("jwtConfiguration", "invalid", "Lifetimes must be positive.")
	}
	for i, u := range c.WebhookURLs {
		if err := validateWebhookURL("webhookURLs["+itoa(i)+"]", u, c.WebhookAllowLinkLocal); err != nil {
			return err
		}
	}
	if c.BaseURL != "" {
		if err := validateBaseURL("baseURL", c.BaseURL); err != nil {
			return err
		}
	}
	if err := validateRelyingParty(c); err != nil {
		return err
	}
	for i, r := range c.Roles {
		if strings.TrimSpace(r) == "" {
			return invalid("roles["+itoa(i)+"]", "blank", "A role needs a name.")
		}
		if err := validateName("roles["+itoa(i)+"]", r, false); err != nil {
			return err
		}
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
	// ApplicationID, when set, is the application the user is created
	// for: its name joins the words a new Password must not be built
	// from (AUD-17). It registers nothing.
	ApplicationID string
}

// CreateUser validates and creates a user.
func (a *Admin) CreateUser(ctx context.Context, spec UserSpec) (*store.User, error) {
	u, err := a.prepareUser(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := a.s.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return nil, invalid("email", "duplicate", "A user with that email, username or id already exists.")
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// prepareUser validates spec and builds the user record (hashing the
// password) without storing it.
func (a *Admin) prepareUser(ctx context.Context, spec UserSpec) (*store.User, error) {
	email := strings.ToLower(strings.TrimSpace(spec.Email))
	if email == "" && spec.Username == "" {
		return nil, invalid("email", "blank", "An email or username is required.")
	}
	if err := validateProfile(email, spec.Username, spec.FirstName, spec.LastName, spec.FullName); err != nil {
		return nil, err
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
		words := a.passwordContext(ctx, email, spec.Username, spec.ApplicationID)
		if hash, err = a.hashPassword(ctx, spec.Password, words); err != nil {
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
	return u, nil
}

// ImportUser is one user of an import batch: a UserSpec with an encoded
// PasswordHash and the applications to register it for.
type ImportUser struct {
	UserSpec
	Registrations []ImportRegistration
}

// ImportRegistration registers an imported user for an application.
type ImportRegistration struct {
	ApplicationID string
	Roles         []string
	Verified      bool
}

// ImportUsers creates every user of the batch or none (AUD-15): each user
// and registration is validated first, duplicates are looked for inside the
// batch and in the store, and then everything is inserted in one store
// transaction. Field names in errors are "users[i].…".
func (a *Admin) ImportUsers(ctx context.Context, batch []ImportUser) error {
	if len(batch) == 0 {
		return invalid("users", "empty", "Specify at least one user.")
	}
	var users []*store.User
	var regs []*store.Registration
	seen := map[string]int{} // "id:", "login:" key -> index in batch
	apps := map[string]*store.Application{}
	for i, in := range batch {
		at := "users[" + itoa(i) + "]."
		prefix := func(err error) error {
			var ve *ValidationError
			if errors.As(err, &ve) {
				return invalid(at+ve.Field, ve.Kind, ve.Message)
			}
			return err
		}
		u, err := a.prepareUser(ctx, in.UserSpec)
		if err != nil {
			return prefix(err)
		}
		keys := []struct{ key, field string }{{"id:" + u.ID, "id"}}
		if u.Email != "" {
			keys = append(keys, struct{ key, field string }{"login:" + u.Email, "email"})
		}
		if u.Username != "" {
			keys = append(keys, struct{ key, field string }{"login:" + strings.ToLower(u.Username), "username"})
		}
		for _, k := range keys {
			if j, dup := seen[k.key]; dup {
				return invalid(at+k.field, "duplicate", fmt.Sprintf("users[%d] has the same %s.", j, k.field))
			}
			seen[k.key] = i
		}
		if _, err := a.s.store.GetUser(ctx, u.ID); err == nil {
			return invalid(at+"id", "duplicate", "A user with that id already exists.")
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("import users: %w", err)
		}
		for _, k := range keys[1:] {
			login := u.Email
			if k.field == "username" {
				login = u.Username
			}
			if _, err := a.s.store.GetUserByLogin(ctx, login); err == nil {
				return invalid(at+k.field, "duplicate", "A user with that "+k.field+" already exists.")
			} else if !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("import users: %w", err)
			}
		}
		users = append(users, u)
		registered := map[string]bool{}
		for j, r := range in.Registrations {
			rat := at + "registrations[" + itoa(j) + "]."
			app, ok := apps[r.ApplicationID]
			if !ok {
				if _, err := uuid.Parse(r.ApplicationID); err != nil {
					return invalid(rat+"applicationId", "invalid", "No application exists with that id.")
				}
				app, err = a.s.store.GetApplication(ctx, r.ApplicationID)
				if errors.Is(err, store.ErrNotFound) {
					return invalid(rat+"applicationId", "invalid", "No application exists with that id.")
				} else if err != nil {
					return fmt.Errorf("import users: %w", err)
				}
				apps[r.ApplicationID] = app
			}
			if registered[app.ID] {
				return invalid(rat+"applicationId", "duplicate", "The user is registered twice for this application.")
			}
			registered[app.ID] = true
			roles, err := checkRoles(app, r.Roles)
			if err != nil {
				return invalid(rat+"roles", "invalid", err.(*ValidationError).Message)
			}
			regs = append(regs, &store.Registration{ID: uuid.NewString(), UserID: u.ID, ApplicationID: app.ID, Roles: roles,
				Verified: r.Verified, CreatedAt: u.CreatedAt})
		}
	}
	if err := a.s.store.ImportUsers(ctx, users, regs); err != nil {
		switch {
		case errors.Is(err, store.ErrDuplicate): // lost a race with another writer
			return invalid("users", "duplicate", "A user of the batch already exists; nothing was imported.")
		case errors.Is(err, store.ErrNotFound):
			return invalid("users", "invalid", "An application of the batch no longer exists; nothing was imported.")
		}
		return fmt.Errorf("import users: %w", err)
	}
	return nil
}

// hashPassword applies the password policy to a new plain-text password
// and hashes it. Besides the length rules, password.Check refuses common
// breached passwords ([breachedCommonPassword]password) and passwords
// built from words (passwordContext: the service's name, the user's email)
// ([contextSpecific]password), per NIST SP 800-63B (AUD-17, IDP-HASH-6).
func (a *Admin) hashPassword(ctx context.Context, pw string, words []string) (string, error) {
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
	if err := password.Check(pw, words...); err != nil {
		switch code := password.Code(err); code {
		case password.CodeBreachedCommon:
			return "", invalid("password", code, "This password is one of the most common leaked passwords. Choose another one.")
		case password.CodeContextSpecific:
			return "", invalid("password", code, "The password must not be made of the email address, username or the name of the service.")
		}
		return "", invalid("password", "invalid", "The password is not allowed.")
	}
	return a.s.hasher.Hash(ctx, pw)
}

// passwordContext returns the words a user's new password must not be
// built from: the product's name, the server's host name (from the
// issuer, unless an IP address), the user's email and username, and the
// names of the given applications (unknown ones are skipped: their
// absence is reported by whatever uses them).
func (a *Admin) passwordContext(ctx context.Context, email, username string, appIDs ...string) []string {
	words := []string{"Gatehouse", email, username}
	if u, err := url.Parse(a.s.issuer); err == nil && u.Hostname() != "" {
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			words = append(words, u.Hostname())
		}
	}
	for _, id := range appIDs {
		if id == "" {
			continue
		}
		if app, err := a.s.store.GetApplication(ctx, id); err == nil {
			words = append(words, app.Name)
		}
	}
	return words
}

// SetPassword changes a user's password, clears its brute-force lock
// (AUD-1) and revokes all its refresh tokens (IDP-REV-3), telling the
// apps. Only the password fields are written, in one transaction (AUD-6).
func (a *Admin) SetPassword(ctx context.Context, userID, pw string) error {
	u, err := a.s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	regs, err := a.s.store.ListRegistrations(ctx, userID)
	if err != nil {
		return fmt.Errorf("set password: registrations: %w", err)
	}
	appIDs := make([]string, 0, len(regs))
	for _, r := range regs {
		appIDs = append(appIDs, r.ApplicationID)
	}
	hash, err := a.hashPassword(ctx, pw, a.passwordContext(ctx, u.Email, u.Username, appIDs...))
	if err != nil {
		return err
	}
	now := a.s.now()
	if err := a.s.store.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		u.PasswordHash, u.PasswordUpdatedAt, u.TokensRevokedBefore, u.PasswordChangeRequired = hash, now, now, false
		return u, nil
	}); err != nil {
		return fmt.Errorf("update password: %w", err)
	}
	if err := a.s.store.ResetLoginFailures(ctx, userID); err != nil {
		return fmt.Errorf("clear lock: %w", err)
	}
	if err := a.s.forgetTrustedBrowsers(ctx, userID); err != nil { // MFA-7
		return err
	}
	_, err = a.s.revokeUserAs(ctx, userID, "", Event{Type: webhook.EventUserPasswordUpdate, UserID: userID, Reason: "password_changed"})
	return err
}

// UnlockUser clears the user's brute-force state: the account's
// consecutive-failure counter (its delay or hard stop) and every device
// counter. It revokes nothing. ErrNotFound for an unknown user.
func (a *Admin) UnlockUser(ctx context.Context, userID string) error {
	if _, err := a.s.store.GetUser(ctx, userID); err != nil {
		return err
	}
	if err := a.s.store.ResetLoginFailures(ctx, userID); err != nil {
		return fmt.Errorf("unlock user: %w", err)
	}
	a.s.log.Info("account unlocked", "event", "account_unlocked", "userId", userID)
	return nil
}

// SetActive deactivates (or reactivates) a user. Deactivation revokes the
// user's refresh tokens and tells the apps (S10). Only Active (and the
// revocation instant) are written, in one transaction, so a concurrent
// login cannot undo it (AUD-6).
func (a *Admin) SetActive(ctx context.Context, userID string, active bool) error {
	now := a.s.now()
	if err := a.s.store.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		u.Active = active
		if !active {
			u.TokensRevokedBefore = now
		}
		return u, nil
	}); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if !active {
		if err := a.s.forgetTrustedBrowsers(ctx, userID); err != nil {
			return err
		}
		if _, err := a.s.revokeUserAs(ctx, userID, "", Event{Type: webhook.EventUserDeactivate, UserID: userID, Reason: "deactivated"}); err != nil {
			return err
		}
	}
	return nil
}

// DeleteUser deletes a user with registrations and tokens. The tokens go
// first, with the user.delete event in their transaction (AUD-8): a crash
// before the user row goes leaves a user who is signed out everywhere, and
// the apps told so, never a deletion the apps miss.
func (a *Admin) DeleteUser(ctx context.Context, userID string) error {
	if _, err := a.s.store.GetUser(ctx, userID); err != nil {
		return err
	}
	if _, err := a.s.revokeUserAs(ctx, userID, "", Event{Type: webhook.EventUserDelete, UserID: userID, Reason: "deleted"}); err != nil {
		return err
	}
	return a.s.store.DeleteUser(ctx, userID)
}

// RevokeUserTokens ends the user's refresh tokens (one application or all)
// and tells the apps: the server side of "sign out everywhere". For all
// applications it ends the user's access tokens too (AUD-7).
func (a *Admin) RevokeUserTokens(ctx context.Context, userID, applicationID string) ([]string, error) {
	if applicationID == "" {
		if err := a.s.revokeAccessBefore(ctx, userID, a.s.now()); err != nil {
			return nil, err
		}
		if err := a.s.forgetTrustedBrowsers(ctx, userID); err != nil { // MFA-7
			return nil, err
		}
	}
	return a.s.revokeUser(ctx, userID, applicationID, "admin")
}

// CheckRegistration validates a registration before anything is created:
// the application exists and defines every role (AUD-15). It returns the
// roles without duplicates. Callers that create a user and register it
// check first, so a refused registration leaves no user behind.
func (a *Admin) CheckRegistration(ctx context.Context, applicationID string, roles []string) ([]string, error) {
	if _, err := uuid.Parse(applicationID); err != nil {
		return nil, invalid("registration.applicationId", "invalid", "No application exists with that id.")
	}
	app, err := a.s.store.GetApplication(ctx, applicationID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalid("registration.applicationId", "invalid", "No application exists with that id.")
		}
		return nil, err
	}
	return checkRoles(app, roles)
}

// Register registers a user for an application with roles.
func (a *Admin) Register(ctx context.Context, userID, applicationID string, roles []string) (*store.Registration, error) {
	if _, err := a.s.store.GetUser(ctx, userID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, invalid("userId", "invalid", "No user exists with that id.")
		}
		return nil, err
	}
	roles, err := a.CheckRegistration(ctx, applicationID, roles)
	if err != nil {
		return nil, err
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
//
// The key is a super key (no permissions: every /api/* route), for the
// operator; give apps CreateScopedAPIKey keys (AUD-13).
func (a *Admin) CreateAPIKey(ctx context.Context, description string) (string, *store.APIKey, error) {
	return a.createAPIKey(ctx, "", description, store.APIKeyPermissions{})
}

// CreateScopedAPIKey creates an API key limited to perms (FusionAuth's
// permissions.endpoints: endpoint -> methods; see apikeys.go for what an
// endpoint covers). Empty perms make a super key, like CreateAPIKey.
func (a *Admin) CreateScopedAPIKey(ctx context.Context, description string, perms store.APIKeyPermissions) (string, *store.APIKey, error) {
	return a.createAPIKey(ctx, "", description, perms)
}

func (a *Admin) createAPIKey(ctx context.Context, key, description string, perms store.APIKeyPermissions) (string, *store.APIKey, error) {
	perms, err := a.s.normalizePermissions(perms)
	if err != nil {
		return "", nil, err
	}
	if key == "" {
		key = randomSecret()
	} else if len(key) < minSecretLength {
		return "", nil, invalid("key", "tooShort", fmt.Sprintf("An API key must be at least %d characters.", minSecretLength))
	}
	rec := &store.APIKey{ID: uuid.NewString(), KeyHash: sha(key), Description: description, CreatedAt: a.s.now(), Permissions: perms}
	if err := a.s.store.CreateAPIKey(ctx, rec); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return "", nil, invalid("key", "duplicate", "That API key already exists.")
		}
		return "", nil, fmt.Errorf("create API key: %w", err)
	}
	return key, rec, nil
}

// checkRoles refuses roles the application does not define (AUD-15) and
// returns them without duplicates (never nil).
func checkRoles(app *store.Application, roles []string) ([]string, error) {
	out := []string{}
	for _, r := range roles {
		if !slices.Contains(app.Config.Roles, r) {
			return nil, invalid("registration.roles", "invalid", fmt.Sprintf("The application does not define the role %q.", r))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
