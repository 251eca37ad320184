// Package store defines what the Gatehouse identity server persists: users,
// applications (OAuth clients), registrations, API keys, signing keys and
// refresh-token families, as one small interface per concern.
//
// It owns the data model and the contracts every backend must honour (see the
// conformance suite in package storetest); it does not own policy. Deciding
// whether a refresh token is expired, whether a password is right or whether
// a client may use a grant is the job of package idp. The one exception is
// atomicity: operations documented as atomic (RotateRefreshToken,
// UpdateUser, RecordLogin, RecordLoginFailure) must be a single transaction
// or compare-and-swap in the backend, because only the backend can make
// them safe across processes.
//
// Secrets never reach a store in usable form: client secrets, API keys and
// refresh tokens are stored as SHA-256 digests, passwords as password hashes.
// Signing keys are the exception (the IdP must sign with them), so a store
// dump must be protected like a key file.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Errors returned by every backend. Backends wrap them with context; callers
// test with errors.Is.
var (
	// ErrNotFound means the record does not exist (or, for refresh tokens,
	// no longer exists).
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate means a unique field (email, username, id, registration
	// pair, hash) is already taken.
	ErrDuplicate = errors.New("store: duplicate")
	// ErrConflict means a compare-and-swap lost: the record changed between
	// the caller's read and its write.
	ErrConflict = errors.New("store: conflict")
)

// User is an account that can log in.
type User struct {
	ID       string // UUID
	Email    string // stored lower-cased; unique when not empty
	Username string // unique when not empty
	// FirstName, LastName and FullName are profile fields, echoed by the
	// user API.
	FirstName string
	LastName  string
	FullName  string
	// PasswordHash is the self-describing encoded hash produced by package
	// password (PHC string for argon2id, FusionAuth encodings for imports).
	PasswordHash string
	Active       bool // false = deactivated ("locked" in FusionAuth's words)
	Verified     bool // email verified
	// Data is free-form JSON owned by the caller; nil means absent.
	Data json.RawMessage
	// PasswordChangeRequired makes the password grant answer
	// change_password_required.
	PasswordChangeRequired bool
	PasswordUpdatedAt      time.Time
	// Expiry, when not zero, is the instant after which the user can no
	// longer log in (FusionAuth's user.expiry).
	Expiry      time.Time
	LastLoginAt time.Time
	CreatedAt   time.Time
	// LockedUntil is no longer set by the IdP: the brute-force state lives
	// in the failure counters (GetLoginFailures). Kept so existing
	// databases and imports round-trip.
	LockedUntil time.Time
	// TokensRevokedBefore: access tokens issued (iat) before this instant
	// are no longer valid at introspection/validation (IDP-REV-2).
	TokensRevokedBefore time.Time
	// MultiFactor is the user's second factors (authenticator secret,
	// recovery-code hashes, passkeys) as one JSON document owned by package
	// idp; secrets inside it are sealed by the IdP. Nil means none. It is a
	// user field, not a table, so UpdateUser's one transaction makes a
	// code's single use and a passkey's counter check atomic.
	MultiFactor json.RawMessage
}

// UserStore persists users and their brute-force counters.
//
// Request paths never write a whole user row they read earlier (a
// deactivation or password change landing in between would be undone):
// they use UpdateUser's read-modify-write in one transaction, or the narrow
// operations RecordLogin and RecordLoginFailure.
type UserStore interface {
	// CreateUser inserts u. ErrDuplicate if the id, email or username is
	// taken (email compared case-insensitively).
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user by id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByLogin returns the user whose email (case-insensitive) or
	// username equals login, or ErrNotFound.
	GetUserByLogin(ctx context.Context, login string) (*User, error)
	// UpdateUser reads the user id, calls fn with it and writes every field
	// of fn's result back (keyed by id; the ID fn returns is ignored), all in
	// one transaction that holds the row, so concurrent updates of the same
	// user serialise and none is lost (Dex's UpdateX model). An error from
	// fn aborts without writing and is returned wrapped. ErrNotFound if
	// absent, ErrDuplicate on a taken email/username. fn may run more than
	// once if the backend retries, so it must not have side effects.
	UpdateUser(ctx context.Context, id string, fn func(old User) (User, error)) error
	// DeleteUser removes the user, its registrations, failure counters and
	// refresh tokens. ErrNotFound if absent.
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns users ordered by creation time, oldest first, at
	// most limit (limit <= 0 means all).
	ListUsers(ctx context.Context, limit int) ([]*User, error)

	// RecordLogin records a successful password login in one conditional
	// write: only if the user is still active and its PasswordHash still
	// equals p.OldHash (the hash the password was verified against), it
	// sets LastLoginAt, replaces the hash with p.NewHash when that is not
	// empty (rehash on login), clears the account's failure counter when
	// p.ResetAccount and the counter of device p.DeviceID when not empty,
	// and inserts p.Family when not nil, all in one transaction. It returns
	// the row as written. If the user was deactivated or its
	// password changed in the meantime nothing is written and the error is
	// ErrConflict: the concurrent change wins. ErrNotFound if absent.
	// ErrDuplicate if p.Family's id or hash is taken (nothing is written).
	RecordLogin(ctx context.Context, p LoginRecord) (*User, error)
	// GetLoginFailures returns the consecutive-failure counter of the
	// account (deviceID "") or of one device of the account; the zero
	// value when there is none.
	GetLoginFailures(ctx context.Context, userID, deviceID string) (LoginFailures, error)
	// RecordLoginFailure atomically adds one to the counter of the account
	// (deviceID "") or of one device of it, sets its LastFailureAt to now
	// and returns the new counter. Counters never reset by themselves.
	// ErrNotFound if the user does not exist.
	RecordLoginFailure(ctx context.Context, userID, deviceID string, now time.Time) (LoginFailures, error)
	// ResetLoginFailures clears the account's counter and every device
	// counter of the user (admin unlock, new password).
	ResetLoginFailures(ctx context.Context, userID string) error
}

// UserImporter inserts a batch of users all or nothing
// (POST /api/user/import, AUD-15).
type UserImporter interface {
	// ImportUsers inserts every user, then every registration, in one
	// transaction. If any insert fails nothing is kept: ErrDuplicate when
	// an id, email or username is taken (in the store or twice in the
	// batch), ErrNotFound when a registration names an unknown
	// application or user.
	ImportUsers(ctx context.Context, users []*User, regs []*Registration) error
}

// LoginFailures is a consecutive-failure counter (IDP-BF-1): the number of
// failed password checks since the last reset, and when the last one was.
type LoginFailures struct {
	Count         int
	LastFailureAt time.Time
}

// LoginRecord describes a successful password login for RecordLogin.
type LoginRecord struct {
	UserID string
	At     time.Time
	// OldHash is the hash the password was verified against; NewHash, when
	// not empty, replaces it (rehash to current parameters).
	OldHash, NewHash string
	// ResetAccount clears the account's failure counter; DeviceID, when not
	// empty, clears that device's counter.
	ResetAccount bool
	DeviceID     string
	// Family, when not nil, is the login's new refresh-token family
	// (CreateRefreshToken's argument). It is written with the login record
	// so a login costs one write transaction, not two, and only when the
	// login record is.
	Family *RefreshToken
}

// Application is an OAuth client. Its ID is the client_id.
type Application struct {
	ID     string // UUID = client_id
	Name   string
	Active bool
	// ClientSecretHash is SHA-256 of the client secret. Secrets are 256-bit
	// random, so a fast hash is as safe as a slow one and keeps every
	// refresh cheap. Empty = public client (no secret).
	ClientSecretHash []byte
	Config           ApplicationConfig
	CreatedAt        time.Time
}

// ApplicationConfig holds the per-application OAuth and token settings.
// Backends store it as one JSON document, so adding a setting needs no
// migration. Zero values mean "use the IdP default".
type ApplicationConfig struct {
	EnabledGrants         []string `json:"enabledGrants,omitempty"`         // "password", "refresh_token"
	GenerateRefreshTokens bool     `json:"generateRefreshTokens,omitempty"` // token endpoint issues RTs with offline_access
	AllowTokenRefresh     bool     `json:"allowTokenRefresh,omitempty"`     // POST /api/jwt/refresh permitted
	// ClientAuthenticationPolicy: "Required" (default), "NotRequired",
	// "NotRequiredWhenUsingPKCE".
	ClientAuthenticationPolicy string   `json:"clientAuthenticationPolicy,omitempty"`
	Roles                      []string `json:"roles,omitempty"` // roles this application defines

	AccessTokenTTLSeconds  int `json:"accessTokenTimeToLiveInSeconds,omitempty"`
	RefreshTokenTTLMinutes int `json:"refreshTokenTimeToLiveInMinutes,omitempty"`
	// RefreshTokenExpirationPolicy: "Fixed", "SlidingWindow",
	// "SlidingWindowWithMaximumLifetime".
	RefreshTokenExpirationPolicy   string `json:"refreshTokenExpirationPolicy,omitempty"`
	RefreshTokenMaxLifetimeMinutes int    `json:"refreshTokenMaximumTimeToLiveInMinutes,omitempty"`
	// RefreshTokenUsagePolicy: "OneTimeUse" (Gatehouse default) or "Reusable".
	RefreshTokenUsagePolicy string `json:"refreshTokenUsagePolicy,omitempty"`
	// GracePeriodSeconds: how long the just-rotated token may be presented
	// again as an honest retry. Nil = IdP default (10 s); 0 = none.
	GracePeriodSeconds *int `json:"gracePeriodInSeconds,omitempty"`

	// Webhooks: event receivers for this application (revocation events).
	WebhookURLs   []string `json:"webhookURLs,omitempty"`
	WebhookSecret string   `json:"webhookSecret,omitempty"` // HMAC key for the event signature
	// BaseURL is the application's public base URL (https, or http on
	// loopback): the links in its users' mails point at its own pages
	// under it (BaseURL + "/verify-email?id=…", "/reset-password?id=…").
	// A Gatehouse addition; empty = the application sends no links.
	BaseURL string `json:"baseURL,omitempty"`
	// WebAuthnRelyingPartyID and WebAuthnOrigins are the application's
	// WebAuthn relying party (passkeys): its id (a domain) and the origins
	// (scheme://host[:port]) its pages run the ceremonies at. Empty =
	// from BaseURL: its host, and scheme://host[:port]. A Gatehouse
	// addition (FusionAuth has one relying party per tenant).
	WebAuthnRelyingPartyID string   `json:"webAuthnRelyingPartyId,omitempty"`
	WebAuthnOrigins        []string `json:"webAuthnOrigins,omitempty"`
	// WebhookAllowLinkLocal is the explicit opt-in for webhook URLs at
	// link-local or cloud-metadata addresses, refused by default (AUD-15).
	WebhookAllowLinkLocal bool `json:"webhookAllowLinkLocal,omitempty"`
}

// ApplicationStore persists applications.
type ApplicationStore interface {
	CreateApplication(ctx context.Context, a *Application) error // ErrDuplicate on id
	GetApplication(ctx context.Context, id string) (*Application, error)
	UpdateApplication(ctx context.Context, a *Application) error
	// DeleteApplication removes the application with its registrations and
	// refresh tokens.
	DeleteApplication(ctx context.Context, id string) error
	ListApplications(ctx context.Context) ([]*Application, error) // oldest first
}

// Registration links a user to an application, with roles.
type Registration struct {
	ID            string // UUID
	UserID        string
	ApplicationID string
	Roles         []string
	Verified      bool
	CreatedAt     time.Time
}

// RegistrationStore persists registrations. A (user, application) pair is
// unique.
type RegistrationStore interface {
	CreateRegistration(ctx context.Context, r *Registration) error // ErrDuplicate on the pair
	GetRegistration(ctx context.Context, userID, applicationID string) (*Registration, error)
	UpdateRegistration(ctx context.Context, r *Registration) error // keyed by pair
	DeleteRegistration(ctx context.Context, userID, applicationID string) error
	ListRegistrations(ctx context.Context, userID string) ([]*Registration, error) // oldest first
}

// APIKey authorises calls to /api/*. Only its SHA-256 is stored.
type APIKey struct {
	ID          string
	KeyHash     []byte // SHA-256 of the key
	Description string
	CreatedAt   time.Time
	// Permissions limit what the key may call. A key with no endpoints is
	// a super key (FusionAuth semantics): every /api/* route.
	Permissions APIKeyPermissions
}

// APIKeyPermissions is FusionAuth's API-key permissions object. Backends
// store it as one JSON document.
type APIKeyPermissions struct {
	// Endpoints maps an endpoint (a route pattern without its path
	// parameters, e.g. "/api/user" for /api/user/{id}) to the HTTP methods
	// the key may use on it.
	Endpoints map[string][]string `json:"endpoints,omitempty"`
}

// APIKeyStore persists API keys.
type APIKeyStore interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error                 // ErrDuplicate on id or hash
	GetAPIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error) // ErrNotFound
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	DeleteAPIKey(ctx context.Context, id string) error
}

// SigningKey is an asymmetric key the IdP signs access tokens with.
type SigningKey struct {
	ID        string // kid
	Algorithm string // "ES256", "RS256", "EdDSA"
	// PrivateKey is the private key as package idp stores it: sealed with
	// a key-encryption key (idp's versioned format), or PKCS#8 DER in
	// databases written before keys were encrypted. Stores keep the bytes
	// opaque.
	PrivateKey []byte
	CreatedAt  time.Time
	// RetiredAt, when not zero, is when the key stopped signing. Retired keys
	// stay published in the JWKS until tokens they signed have expired.
	RetiredAt time.Time
}

// SigningKeyStore persists signing keys.
type SigningKeyStore interface {
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every key, newest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	// RetireSigningKey sets RetiredAt (if not already set).
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
	// SwapSigningKeyPrivateKey replaces the key's PrivateKey bytes with next
	// if they still equal prev (compare-and-swap, so two processes sealing or
	// re-wrapping the same key cannot undo each other): ErrNotFound for an
	// unknown id, ErrConflict when the stored bytes are no longer prev.
	SwapSigningKeyPrivateKey(ctx context.Context, id string, prev, next []byte) error
	DeleteSigningKey(ctx context.Context, id string) error
}

// RefreshToken is one refresh-token family: the grant created by one
// password login, carried forward by every rotation. Its ID is the
// FusionAuth refreshTokenId (stable across rotations) and the access token's
// sid claim. Only the SHA-256 of the current token string is stored.
type RefreshToken struct {
	ID            string // UUID, family id
	UserID        string
	ApplicationID string
	TokenHash     []byte // SHA-256 of the current (live) token string
	Scopes        []string
	// CreatedAt is the family's insert instant (start of the maximum
	// lifetime); StartAt is when the current expiry window began (moves on
	// each refresh under the sliding policies); ExpiresAt is the current
	// expiry computed by the IdP (backends index it for collection).
	CreatedAt time.Time
	StartAt   time.Time
	ExpiresAt time.Time
	// AuthTime is the original password authentication (auth_time claim).
	AuthTime time.Time
	// Grants is the history of grant types (JWT header gty).
	Grants []string
	// Device metadata (FusionAuth metaData.device).
	DeviceName, DeviceType, DeviceDescription string
	LastUsedAt                                time.Time
	LastUsedIP                                string
	// Generation counts rotations (0 for the first token).
	Generation int
}

// Rotation records a token string that has been replaced: presenting it
// again is either an honest retry within the grace period or reuse.
type Rotation struct {
	TokenHash []byte // SHA-256 of the retired string
	FamilyID  string
	RotatedAt time.Time
	// Successor is the token that replaced it, sealed with a key derived
	// from the retired token itself, so only its presenter can open it. The
	// IdP clears it once the grace period is over (ClearSuccessors).
	Successor []byte
}

// RotateParams describes one compare-and-swap rotation.
type RotateParams struct {
	FamilyID  string
	OldHash   []byte // must equal the family's current TokenHash
	NewHash   []byte
	Successor []byte // sealed new token, kept for the grace period
	Now       time.Time
	StartAt   time.Time // new expiry window start
	ExpiresAt time.Time // new expiry
	Grants    []string
	IP        string
}

// RefreshTokenStore persists refresh-token families and their rotation
// history.
type RefreshTokenStore interface {
	// CreateRefreshToken inserts a new family. ErrDuplicate on id or hash.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// GetRefreshTokenByHash returns the family whose current token hashes to
	// hash, or ErrNotFound (retired strings are not found here).
	GetRefreshTokenByHash(ctx context.Context, hash []byte) (*RefreshToken, error)
	// GetRefreshToken returns a family by id.
	GetRefreshToken(ctx context.Context, id string) (*RefreshToken, error)
	// ListRefreshTokens returns the user's families, newest first.
	ListRefreshTokens(ctx context.Context, userID string) ([]*RefreshToken, error)

	// RotateRefreshToken atomically replaces the family's current hash with
	// p.NewHash if and only if it still equals p.OldHash, records the old
	// hash as a Rotation carrying p.Successor, and updates StartAt,
	// ExpiresAt, Grants, LastUsedAt/IP and Generation. If the current hash
	// differs (another rotation won) it returns ErrConflict and changes
	// nothing; if the family is gone, ErrNotFound. A crash at any point
	// leaves either the old or the new token live, never both or neither.
	RotateRefreshToken(ctx context.Context, p RotateParams) error
	// TouchRefreshToken records a use without rotating (Reusable policy):
	// sets StartAt, ExpiresAt, Grants and LastUsedAt/IP.
	TouchRefreshToken(ctx context.Context, id string, startAt, expiresAt, now time.Time, grants []string, ip string) error
	// GetRotation returns the rotation record of a retired token string, or
	// ErrNotFound.
	GetRotation(ctx context.Context, hash []byte) (*Rotation, error)

	// DeleteRefreshToken removes one family and its rotation history.
	// ErrNotFound if absent. When notify is not nil it is called with the
	// family once it is deleted, and the messages it returns are enqueued
	// in the outbox in the same transaction (see Notify).
	DeleteRefreshToken(ctx context.Context, id string, notify Notify) error
	// DeleteRefreshTokensByUser removes the user's families (all of them
	// when applicationID is empty) and returns the ids removed. notify, if
	// not nil, is called with those families (possibly none) and its
	// messages are enqueued in the same transaction.
	DeleteRefreshTokensByUser(ctx context.Context, userID, applicationID string, notify Notify) ([]string, error)
	// DeleteRefreshTokensByApplication removes every family of the app,
	// enqueuing notify's messages in the same transaction.
	DeleteRefreshTokensByApplication(ctx context.Context, applicationID string, notify Notify) ([]string, error)

	// DeleteExpiredRefreshTokens removes families with ExpiresAt <= now
	// (using an index, never a scan per request) and clears Successor on
	// rotations older than successorCutoff. Returns the families removed.
	DeleteExpiredRefreshTokens(ctx context.Context, now, successorCutoff time.Time) (int, error)
}

// DeletedFamily is a refresh-token family a deletion removed.
type DeletedFamily struct {
	ID     string
	UserID string
}

// Notify turns the refresh-token families a deletion removed into the
// outbox messages announcing it. A deletion method calls it inside
// its transaction, after the delete, and enqueues what it returns in that
// same transaction: the revocation and its announcement commit together or
// not at all, so a crash can never lose the announcement (AUD-8). It must
// not do I/O; an error rolls the deletion back.
type Notify func(deleted []DeletedFamily) ([]*OutboxMessage, error)

// OutboxMessage is one event waiting in the transactional outbox for
// delivery to the applications' webhooks.
type OutboxMessage struct {
	// ID is unique (the event id); it stays the same across retries.
	ID string
	// ApplicationID selects the webhooks: that application's, or every
	// application's when empty.
	ApplicationID string
	// Payload is the encoded event, opaque to the store.
	Payload   []byte
	CreatedAt time.Time
	// Attempts counts the failed delivery rounds so far.
	Attempts int
	// Done lists the targets (sender-defined keys) that have acknowledged
	// the message already, so a retry skips them.
	Done []string
	// Claim is set by ClaimOutbox: the token that proves the lease when the
	// message is completed or released.
	Claim string
}

// OutboxStore is the transactional outbox of webhook deliveries. Messages
// enter it in the transaction of the change they announce (Notify) or by
// EnqueueOutbox; senders lease them with ClaimOutbox, so several IdP
// processes share the outbox without delivering one message twice at
// once, and a sender that dies gives its leases back when they expire.
type OutboxStore interface {
	// EnqueueOutbox inserts messages, available for claiming at once.
	// ErrDuplicate on an existing id.
	EnqueueOutbox(ctx context.Context, msgs []*OutboxMessage) error
	// ClaimOutbox leases up to limit messages that are available at now
	// (never claimed, released for a time <= now, or whose lease ended)
	// until now+lease, oldest first, each with a fresh Claim token. Two
	// concurrent claims never return the same message.
	ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*OutboxMessage, error)
	// CompleteOutbox deletes a claimed message (delivered, or given up).
	// ErrConflict if the claim is no longer the message's (its lease ended
	// and another sender claimed it); ErrNotFound if it is gone.
	CompleteOutbox(ctx context.Context, id, claim string) error
	// ReleaseOutbox ends the claim on m (by m.ID and m.Claim), records
	// m.Attempts and m.Done, and makes it available again at at.
	// ErrConflict / ErrNotFound as CompleteOutbox.
	ReleaseOutbox(ctx context.Context, m *OutboxMessage, at time.Time) error
	// CountOutbox returns how many messages wait for delivery, leased or
	// not, without claiming any (the pending-deliveries gauge; tests).
	CountOutbox(ctx context.Context) (int, error)
}

// Ticket kinds (Ticket.Kind). A kind is a namespace: a ticket is only ever
// looked up with the kind it was created with.
const (
	TicketVerifyEmail   = "verify-email"   // email verification (FusionAuth verificationId)
	TicketPasswordReset = "password-reset" // forgotten password (FusionAuth changePasswordId)
	TicketEmailChange   = "email-change"   // a new address waiting for its verification
	TicketTwoFactor     = "two-factor"     // a login waiting for its second step (twoFactorId)
	TicketTrust         = "two-factor-trust"
	TicketWebAuthn      = "webauthn" // a WebAuthn ceremony's challenge
)

// Ticket is a short-lived secret the IdP hands out, by mail or to an app,
// that later proves one step of a flow: a password-reset id, an
// email-verification id, a pending email change, a twoFactorId, a trusted
// browser, a WebAuthn challenge. Only the SHA-256 of the secret is stored.
type Ticket struct {
	Hash []byte // SHA-256 of the secret; unique
	Kind string // one of the Ticket* constants
	// UserID may be empty: a passkey login's challenge names no user
	// until the assertion does (a discoverable credential).
	UserID        string
	ApplicationID string // may be empty
	// Data is kind-specific JSON owned by package idp (the new address of
	// an email change, a WebAuthn session); nil means none.
	Data      json.RawMessage
	Attempts  int // failed uses so far (FailTicket)
	CreatedAt time.Time
	ExpiresAt time.Time
}

// TicketStore persists tickets. A ticket is live while ExpiresAt > now;
// an expired ticket is never returned, whether or not it was collected.
type TicketStore interface {
	// CreateTicket inserts t. ErrDuplicate if its hash exists.
	CreateTicket(ctx context.Context, t *Ticket) error
	// GetTicket returns the live ticket of that kind and hash, or
	// ErrNotFound. It does not use the ticket up.
	GetTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*Ticket, error)
	// TakeTicket deletes the live ticket of that kind and hash and returns
	// it: single use. Of concurrent takers exactly one gets it, the others
	// ErrNotFound.
	TakeTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*Ticket, error)
	// FailTicket adds one to the live ticket's Attempts and returns the new
	// count; when the count reaches maxAttempts the ticket is deleted in
	// the same write. ErrNotFound if there is no live ticket.
	FailTicket(ctx context.Context, kind string, hash []byte, now time.Time, maxAttempts int) (int, error)
	// DeleteTickets removes the user's tickets of the given kinds (every
	// kind when none is given) and returns how many it removed.
	DeleteTickets(ctx context.Context, userID string, kinds ...string) (int, error)
	// CountTickets returns how many tickets of the kind the user has that
	// were created at or after since (expired or not, until collected):
	// the per-account rate limit of mails.
	CountTickets(ctx context.Context, userID, kind string, since time.Time) (int, error)
	// DeleteExpiredTickets removes tickets with ExpiresAt <= now and
	// returns how many.
	DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error)
}

// Store is everything the IdP persists. Backends: sqlite (embedded
// default); postgres for scale-out.
type Store interface {
	UserStore
	UserImporter
	ApplicationStore
	RegistrationStore
	APIKeyStore
	SigningKeyStore
	RefreshTokenStore
	OutboxStore
	TicketStore
	// Ping reports whether the backend can serve (used by /readyz).
	Ping(ctx context.Context) error
	Close() error
}
