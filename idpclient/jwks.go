package idpclient

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// minRSABits is the smallest RSA key accepted for RS256. FusionAuth's
// default key is 2048 bits; the Gatehouse IdP uses larger keys (IDP-TOK-1).
const minRSABits = 2048

// publicKey is one usable verification key from the JWKS.
type publicKey struct {
	key crypto.PublicKey
	alg string // the JWK's "alg", or "" if absent
}

// keyCache holds the IdP's JWKS by kid. It fetches when the set is older
// than maxAge and, at most once per refetch interval, when a token names a
// kid it does not know (a rotated key), so forged kids cannot turn the app
// into a JWKS-fetching amplifier.
type keyCache struct {
	hc       *http.Client
	url      string
	refetch  time.Duration
	maxAge   time.Duration
	now      func() time.Time
	sf       singleflight.Group
	mu       sync.RWMutex
	keys     map[string]publicKey
	fetched  time.Time // last successful fetch
	attempts time.Time // last fetch attempt (success or not)
}

func newKeyCache(hc *http.Client, url string, refetch, maxAge time.Duration, now func() time.Time) *keyCache {
	return &keyCache{hc: hc, url: url, refetch: refetch, maxAge: maxAge, now: now}
}

// errUnknownKid is returned when the kid is not in a fresh JWKS.
var errUnknownKid = errors.New("unknown kid")

// get returns the key for kid, fetching the JWKS if needed.
func (kc *keyCache) get(ctx context.Context, kid string) (publicKey, error) {
	now := kc.now()
	kc.mu.RLock()
	k, ok := kc.keys[kid]
	stale := kc.keys == nil || now.Sub(kc.fetched) > kc.maxAge
	recent := !kc.attempts.IsZero() && now.Sub(kc.attempts) < kc.refetch
	kc.mu.RUnlock()
	if ok && !stale {
		return k, nil
	}
	if !stale && recent {
		// Unknown kid, and we fetched a moment ago: do not fetch again.
		return publicKey{}, errUnknownKid
	}
	if _, err, _ := kc.sf.Do("", func() (any, error) { return nil, kc.fetch(ctx) }); err != nil {
		if ok {
			// Keep verifying with a stale but known key while the IdP is down.
			return k, nil
		}
		return publicKey{}, err
	}
	kc.mu.RLock()
	k, ok = kc.keys[kid]
	kc.mu.RUnlock()
	if !ok {
		return publicKey{}, errUnknownKid
	}
	return k, nil
}

// fetch downloads and parses the JWKS. Keys that are symmetric, private,
// not for signatures, or of an unsupported type are skipped.
func (kc *keyCache) fetch(ctx context.Context) error {
	const op = "jwks"
	kc.mu.Lock()
	kc.attempts = kc.now()
	kc.mu.Unlock()
	body, err := getOK(ctx, kc.hc, op, kc.url)
	if err != nil {
		return err
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return &Error{Op: op, Kind: ErrUnavailable, StatusCode: http.StatusOK, Err: err}
	}
	kc.mu.Lock()
	kc.keys = keys
	kc.fetched = kc.now()
	kc.mu.Unlock()
	return nil
}

// parseJWKS turns a JWKS document into usable verification keys by kid.
func parseJWKS(body []byte) (map[string]publicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decode jwks: %w", err)
	}
	keys := make(map[string]publicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			continue // one odd key must not hide the others
		}
		if jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") || !jwk.IsPublic() {
			continue
		}
		switch jwk.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			keys[jwk.KeyID] = publicKey{key: jwk.Key, alg: jwk.Algorithm}
		}
	}
	return keys, nil
}

// keyFits reports whether key may verify a token signed with alg: the key
// type and size must match the algorithm, and a JWK "alg", if given, must
// equal it. This is what stops algorithm confusion (IDP-TOK-1).
func keyFits(k publicKey, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return alg == "RS256" && key.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		return alg == "ES256" && key.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == "EdDSA" && len(key) == ed25519.PublicKeySize
	}
	return false
}
