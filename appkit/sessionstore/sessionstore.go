// Package sessionstore defines where an app's server-side sessions live and
// provides the backends: an in-memory store (tests, single process) and a
// SQLite store (the embedded default). Every backend passes the conformance
// suite in package sessionstoretest.
//
// A store never sees a session id: it is keyed by Key, the SHA-256 of the
// 256-bit id (computed by package appkit), so a store dump yields no usable
// cookie. A store does not decide policy (idle or absolute timeouts, when to
// extend): it keeps what appkit gives it, hides and removes what has passed
// ExpiresAt, and answers by user so "sign out everywhere" works.
//
// Besides sessions, a store keeps short-lived refresh-coordination records
// (ClaimRefresh / SetRefreshResult / GetRefreshResult): when several app
// processes receive the same expired session and refresh cookie at once,
// exactly one of them presents the refresh token to the IdP and the others
// read its result (scenario S11).
package sessionstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound means there is no live record under the key.
var ErrNotFound = errors.New("sessionstore: not found")

// Session is one logged-in browser.
type Session struct {
	// Key is the SHA-256 of the session id, hex or base64url encoded by the
	// caller; the store treats it as an opaque string.
	Key    string
	UserID string
	// Claims are the verified access-token claims (JSON object).
	Claims json.RawMessage
	// AccessToken is the JWT from the IdP and its expiry.
	AccessToken       string
	AccessTokenExpiry time.Time
	// RefreshTokenID is the IdP's refresh-token (family) id, so ending this
	// session can revoke its grant.
	RefreshTokenID string
	AuthTime       time.Time // original password login (auth_time)
	CreatedAt      time.Time
	LastSeen       time.Time
	// ExpiresAt is when the session dies unless extended (idle timeout,
	// capped by AbsoluteExpiry). The store hides the session after it and
	// removes it eventually.
	ExpiresAt      time.Time
	AbsoluteExpiry time.Time
	IP             string
	UserAgent      string
}

// Store keeps sessions. Implementations are safe for concurrent use.
type Store interface {
	// Put creates or replaces the session under s.Key.
	Put(ctx context.Context, s *Session) error
	// Get returns the live session (ExpiresAt after now), or ErrNotFound.
	Get(ctx context.Context, key string) (*Session, error)
	// Touch sets LastSeen and ExpiresAt of a live session. ErrNotFound if
	// the session is gone or expired.
	Touch(ctx context.Context, key string, lastSeen, expiresAt time.Time) error
	// Delete removes the session; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// ListByUser returns the user's live sessions, most recently seen first.
	ListByUser(ctx context.Context, userID string) ([]*Session, error)
	// DeleteByUser removes all the user's sessions and returns how many
	// live ones there were.
	DeleteByUser(ctx context.Context, userID string) (int, error)

	// ClaimRefresh atomically claims the right to refresh the token whose
	// hash is key, for owner (a non-empty id of the calling process,
	// random at every start), for ttl: a lease. It returns true when there
	// is neither a live claim nor a live result under key, or when the live
	// claim is owner's own, which it renews (its expiry becomes now+ttl).
	// So exactly one owner holds a key at a time, and a claim of a process
	// that died lapses ttl after its last renewal (AUD-18: a restarted app
	// takes over inside the IdP's grace period).
	ClaimRefresh(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// SetRefreshResult stores the (sealed) outcome of a refresh under key
	// for ttl, for other processes holding the same refresh cookie. While
	// the result lives nobody, its owner included, can claim key.
	SetRefreshResult(ctx context.Context, key string, result []byte, ttl time.Duration) error
	// GetRefreshResult returns the stored result, or ErrNotFound.
	GetRefreshResult(ctx context.Context, key string) ([]byte, error)

	// Close releases the store's resources (and stops its collector).
	Close() error
}
