package idpclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Passkeys (FusionAuth's WebAuthn API; the Gatehouse IdP's compat §17).
// The app's backend relays between the browser and the IdP: it asks for
// options (StartPasskeyRegistration, StartPasskeyLogin), hands them to its
// page, which passes them to PublicKeyCredential.parseCreationOptionsFromJSON
// / parseRequestOptionsFromJSON and navigator.credentials.create / get, and
// posts the credential's toJSON() back; the backend completes with
// CompletePasskeyRegistration or PasskeyLogin, naming the page's origin.
// The relying party (id and origins) is the application's, configured at
// the IdP.

// Failure kinds of passkeys (see Error).
var (
	// ErrPasskeyRejected: the IdP refused the credential (400): it did
	// not verify, is unknown or not the user's, was removed, its counter
	// went backwards, or the origin is not one of the application's.
	// Error.Code says which field: "[invalid]credential",
	// "[invalid]origin", "[duplicate]credential" …
	ErrPasskeyRejected = errors.New("passkey rejected")
	// ErrPasskeyExpired: the ceremony's challenge is unknown, expired
	// (five minutes) or already used (404): start again.
	ErrPasskeyExpired = errors.New("passkey ceremony expired")
	// ErrPasskeyNotFound: no such user or passkey (404).
	ErrPasskeyNotFound = errors.New("passkey not found")
)

// Passkey is one of a user's registered passkeys.
type Passkey struct {
	ID           string // the IdP's id (a UUID): RenamePasskey, DeletePasskey
	CredentialID string // the authenticator's credential id, base64url
	Name         string
	CreatedAt    time.Time
	LastUsedAt   time.Time // CreatedAt until its first login
	// BackupEligible: a synced passkey (its key can leave the device);
	// BackedUp: it is synced now.
	BackupEligible, BackedUp bool
	// CloneWarning: its signature counter went backwards; it can no
	// longer sign in (remove it).
	CloneWarning bool
	Transports   []string
}

// passkeyJSON is FusionAuth's WebAuthnCredential (the members Passkey
// keeps).
type passkeyJSON struct {
	ID             string   `json:"id"`
	CredentialID   string   `json:"credentialId"`
	Name           string   `json:"name"`
	InsertInstant  int64    `json:"insertInstant"`
	LastUseInstant int64    `json:"lastUseInstant"`
	BackupEligible bool     `json:"backupEligible"`
	BackedUp       bool     `json:"backedUp"`
	CloneWarning   bool     `json:"cloneWarning"`
	Transports     []string `json:"transports"`
}

func (p passkeyJSON) passkey() Passkey {
	return Passkey{ID: p.ID, CredentialID: p.CredentialID, Name: p.Name, CreatedAt: time.UnixMilli(p.InsertInstant),
		LastUsedAt: time.UnixMilli(p.LastUseInstant), BackupEligible: p.BackupEligible, BackedUp: p.BackedUp,
		CloneWarning: p.CloneWarning, Transports: p.Transports}
}

// passkeyCall is twoFactorCall with passkey error kinds: 400 answers
// ErrPasskeyRejected, 404 notFound (ErrPasskeyExpired or
// ErrPasskeyNotFound), 409/410 ErrLocked.
func (c *Client) passkeyCall(ctx context.Context, op, method, path string, apiKey bool, ip string, in, out any, notFound error) error {
	status, err := c.twoFactorCall(ctx, op, method, path, apiKey, ip, in, out)
	var e *Error
	if err != nil && errors.As(err, &e) && e.StatusCode == status {
		switch {
		case status == http.StatusBadRequest && e.Code != "[ChangePasswordRequired]":
			e.Kind = ErrPasskeyRejected
		case status == http.StatusNotFound:
			e.Kind = notFound
		}
	}
	return err
}

// optionsOf returns the "options" member of a start answer.
func optionsOf(op string, body json.RawMessage) (json.RawMessage, error) {
	var resp struct {
		Options json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Options) == 0 || resp.Options[0] != '{' {
		return nil, &Error{Op: op, Kind: ErrUnavailable, Err: errors.New("response has no options")}
	}
	return resp.Options, nil
}

// StartPasskeyRegistration begins adding a passkey named name (a label
// the account page shows, e.g. "Laptop"; empty: "Passkey") for the user
// at this application (POST /api/webauthn/register/start). It answers the
// PublicKeyCredentialCreationOptionsJSON for the page
// (PublicKeyCredential.parseCreationOptionsFromJSON), valid five minutes.
// clientIP (the browser's address) is forwarded: the IdP limits the
// starts per browser IP and live ceremonies per user, answering
// ErrThrottled. It needs Config.APIKey.
func (c *Client) StartPasskeyRegistration(ctx context.Context, userID, name, clientIP string) (json.RawMessage, error) {
	const op = "start passkey registration"
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var body json.RawMessage
	if err := c.passkeyCall(ctx, op, http.MethodPost, "/api/webauthn/register/start", true, normalizeIP(clientIP), map[string]any{
		"userId": userID, "name": name, "applicationId": c.cfg.ClientID, "workflow": "general",
	}, &body, ErrPasskeyNotFound); err != nil {
		return nil, err
	}
	return optionsOf(op, body)
}

// CompletePasskeyRegistration stores the passkey the browser created:
// credentialJSON is the PublicKeyCredential's toJSON(), origin the page's
// origin (scheme://host[:port]), which must be one of the application's
// (POST /api/webauthn/register/complete). Failures: ErrPasskeyRejected
// (Error.Code "[duplicate]credential": already registered),
// ErrPasskeyExpired, ErrRejected (Code "[TooManyPasskeys]"),
// ErrUnavailable. It needs Config.APIKey.
func (c *Client) CompletePasskeyRegistration(ctx context.Context, userID string, credentialJSON json.RawMessage, origin string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.passkeyCall(ctx, "complete passkey registration", http.MethodPost, "/api/webauthn/register/complete", true, "",
		map[string]any{"userId": userID, "credential": credentialJSON, "origin": origin, "applicationId": c.cfg.ClientID},
		nil, ErrPasskeyExpired)
}

// StartPasskeyLogin begins a passkey login at this application (POST
// /api/webauthn/start). With loginID empty the login is discoverable
// (the browser offers the user's passkeys for the site, also as
// autofill); with a login id whose user has passkeys, the options list
// them. It answers the PublicKeyCredentialRequestOptionsJSON for the page
// (PublicKeyCredential.parseRequestOptionsFromJSON), valid five minutes.
// clientIP (the browser's address) is forwarded: the IdP limits the
// starts per browser IP (every start stores a challenge), answering
// ErrThrottled. It needs Config.APIKey.
func (c *Client) StartPasskeyLogin(ctx context.Context, loginID, clientIP string) (json.RawMessage, error) {
	const op = "start passkey login"
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	in := map[string]any{"applicationId": c.cfg.ClientID}
	if loginID != "" {
		in["loginId"] = loginID
	}
	var body json.RawMessage
	if err := c.passkeyCall(ctx, op, http.MethodPost, "/api/webauthn/start", true, normalizeIP(clientIP), in, &body, ErrPasskeyNotFound); err != nil {
		return nil, err
	}
	return optionsOf(op, body)
}

// PasskeyLogin signs the user in with the assertion the browser made
// (credentialJSON: the PublicKeyCredential's toJSON(); origin: the page's
// origin) at POST /api/webauthn/login. The tokens are those a password
// login answers (refresh token with Config.Scopes, device token),
// verified; the access token's amr says how ("hwk"/"swk", "user", "mfa").
// A passkey needs no second step.
//
// Failures: ErrPasskeyRejected (did not verify, unknown or removed
// passkey, counter went backwards, foreign origin), ErrPasskeyExpired
// (start again), ErrLocked (deactivated or expired user), ErrRejected
// (Code "[ChangePasswordRequired]"), ErrThrottled, ErrUnavailable,
// ErrInvalidToken.
func (c *Client) PasskeyLogin(ctx context.Context, credentialJSON json.RawMessage, origin, clientIP string) (*Tokens, error) {
	const op = "passkey login"
	if len(credentialJSON) == 0 || origin == "" {
		return nil, &Error{Op: op, Kind: ErrPasskeyRejected, Err: errors.New("empty credential or origin")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var resp struct {
		Token          string `json:"token"`
		RefreshToken   string `json:"refreshToken"`
		RefreshTokenID string `json:"refreshTokenId"`
		DeviceToken    string `json:"deviceToken"`
	}
	ip := normalizeIP(clientIP)
	if err := c.passkeyCall(ctx, op, http.MethodPost, "/api/webauthn/login", false, ip, map[string]any{
		"credential": credentialJSON, "origin": origin, "applicationId": c.cfg.ClientID, "ipAddress": ip,
		"scope": strings.Join(c.cfg.Scopes, " "),
	}, &resp, ErrPasskeyExpired); err != nil {
		return nil, err
	}
	if resp.Token == "" {
		return nil, &Error{Op: op, Kind: ErrUnavailable, StatusCode: http.StatusOK, Err: errors.New("response has no token")}
	}
	t, err := c.finish(ctx, op, resp.Token, resp.RefreshToken, resp.RefreshTokenID)
	if t != nil {
		t.DeviceToken = resp.DeviceToken
	}
	return t, err
}

// ListPasskeys answers the user's passkeys, oldest first (GET
// /api/webauthn?userId=). ErrPasskeyNotFound: no such user. It needs
// Config.APIKey.
func (c *Client) ListPasskeys(ctx context.Context, userID string) ([]Passkey, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var resp struct {
		Credentials []passkeyJSON `json:"credentials"`
	}
	if err := c.passkeyCall(ctx, "list passkeys", http.MethodGet, "/api/webauthn?"+url.Values{"userId": {userID}}.Encode(),
		true, "", nil, &resp, ErrPasskeyNotFound); err != nil {
		return nil, err
	}
	out := make([]Passkey, 0, len(resp.Credentials))
	for _, p := range resp.Credentials {
		out = append(out, p.passkey())
	}
	return out, nil
}

// RenamePasskey gives the user's passkey a new name (at most 100
// characters; Gatehouse's PATCH /api/webauthn/{id}). Failures:
// ErrPasskeyNotFound, ErrPasskeyRejected (Code "[blank]name",
// "[tooLong]name"). It needs Config.APIKey.
func (c *Client) RenamePasskey(ctx context.Context, userID, passkeyID, name string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.passkeyCall(ctx, "rename passkey", http.MethodPatch, passkeyPath(userID, passkeyID), true, "",
		map[string]any{"name": name}, nil, ErrPasskeyNotFound)
}

// DeletePasskey removes the user's passkey (DELETE /api/webauthn/{id}): it
// can no longer sign in. ErrPasskeyNotFound when the user has no such
// passkey. It needs Config.APIKey.
func (c *Client) DeletePasskey(ctx context.Context, userID, passkeyID string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	return c.passkeyCall(ctx, "delete passkey", http.MethodDelete, passkeyPath(userID, passkeyID), true, "", nil, nil, ErrPasskeyNotFound)
}

// passkeyPath names the passkey with its user, so the IdP finds it with
// one look-up (and only among that user's).
func passkeyPath(userID, passkeyID string) string {
	return "/api/webauthn/" + url.PathEscape(passkeyID) + "?" + url.Values{"userId": {userID}}.Encode()
}

// passkeyPermissions are the API-key permissions of the passkey calls
// (APIKeyPermissions); PasskeyLogin needs none.
func passkeyPermissions() map[string][]string {
	return map[string][]string{
		"/api/webauthn/register/start":    {"POST"},
		"/api/webauthn/register/complete": {"POST"},
		"/api/webauthn/start":             {"POST"},
		"/api/webauthn":                   {"DELETE", "GET", "PATCH"},
	}
}
