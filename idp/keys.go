package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Supported signing algorithms (IDP-TOK-1: asymmetric only, never none/HMAC).
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgEdDSA = "EdDSA"
)

// signingMethod maps an algorithm name to its golang-jwt method.
func signingMethod(alg string) (jwt.SigningMethod, error) {
	switch alg {
	case AlgES256:
		return jwt.SigningMethodES256, nil
	case AlgRS256:
		return jwt.SigningMethodRS256, nil
	case AlgEdDSA:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q (want ES256, RS256 or EdDSA)", alg)
}

// generateKey makes a new private key for alg. RSA keys are 3072 bits
// (IDP-TOK-1: ≥128-bit security).
func generateKey(alg string) (crypto.Signer, error) {
	switch alg {
	case AlgES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		return rsa.GenerateKey(rand.Reader, 3072)
	case AlgEdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}

// loadedKey is a signing key parsed once.
type loadedKey struct {
	rec    *store.SigningKey
	signer crypto.Signer
	method jwt.SigningMethod
}

// keyring caches the store's signing keys. It reloads them periodically so
// several IdP processes on one database pick up a rotation.
type keyring struct {
	st        store.SigningKeyStore
	keks      kekSet        // the first seals new keys; all open (AUD-12)
	alg       string        // algorithm for new keys
	retention time.Duration // how long a retired key stays published
	reload    time.Duration
	now       func() time.Time

	mu       sync.RWMutex
	keys     []*loadedKey // newest first
	loadedAt time.Time
}

// openKeyring loads the signing keys, refusing keys it cannot open. It
// creates and changes no key.
func openKeyring(ctx context.Context, st store.SigningKeyStore, keks []*KEK, alg string, retention time.Duration, now func() time.Time) (*keyring, error) {
	if _, err := signingMethod(alg); err != nil {
		return nil, err
	}
	kr := &keyring{st: st, keks: keks, alg: alg, retention: retention, reload: 30 * time.Second, now: now}
	if err := kr.load(ctx); err != nil {
		return nil, err
	}
	return kr, nil
}

// newKeyring opens the keyring, seals legacy plaintext keys with the first
// KEK (the migration of databases written before keys were encrypted) and
// creates a first key when there is none.
func newKeyring(ctx context.Context, st store.SigningKeyStore, keks []*KEK, alg string, retention time.Duration, now func() time.Time) (*keyring, error) {
	kr, err := openKeyring(ctx, st, keks, alg, retention, now)
	if err != nil {
		return nil, err
	}
	if len(keks) > 0 {
		if _, err := kr.rewrap(ctx, false); err != nil {
			return nil, err
		}
	}
	if kr.current() == nil {
		if _, err := kr.Rotate(ctx, alg); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

func (kr *keyring) load(ctx context.Context) error {
	recs, err := kr.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	keys := make([]*loadedKey, 0, len(recs))
	for _, rec := range recs {
		k, err := kr.keks.parseSigningKey(rec)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", rec.ID, err)
		}
		keys = append(keys, k)
	}
	kr.mu.Lock()
	kr.keys, kr.loadedAt = keys, kr.now()
	kr.mu.Unlock()
	return nil
}

func (ks kekSet) parseSigningKey(rec *store.SigningKey) (*loadedKey, error) {
	method, err := signingMethod(rec.Algorithm)
	if err != nil {
		return nil, err
	}
	der, _, err := ks.privateKeyDER(rec.PrivateKey, rec.ID, rec.Algorithm)
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#8: %w", err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, errors.New("key is not a signer")
	}
	return &loadedKey{rec: rec, signer: signer, method: method}, nil
}

// rewrap seals with the first KEK every key stored in plaintext and, when
// all is set, every key sealed by another KEK (KEK rotation). It returns
// how many keys it re-sealed. A key another process re-sealed meanwhile
// (store.ErrConflict) is left to it.
func (kr *keyring) rewrap(ctx context.Context, all bool) (int, error) {
	if len(kr.keks) == 0 {
		return 0, errors.New("no key-encryption key given")
	}
	kr.mu.RLock()
	keys := append([]*loadedKey(nil), kr.keys...)
	kr.mu.RUnlock()
	n := 0
	for _, k := range keys {
		id, sealed := sealedKEKID(k.rec.PrivateKey)
		if sealed && (!all || id == kr.keks[0].id) {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.signer)
		if err != nil {
			return n, fmt.Errorf("signing key %s: marshal: %w", k.rec.ID, err)
		}
		next, err := kr.keks[0].seal(der, k.rec.ID, k.rec.Algorithm)
		if err != nil {
			return n, err
		}
		err = kr.st.SwapSigningKeyPrivateKey(ctx, k.rec.ID, k.rec.PrivateKey, next)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("signing key %s: store sealed key: %w", k.rec.ID, err)
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return n, kr.load(ctx)
}

// maybeReload reloads the keys when the cache is older than the reload
// interval. Errors keep the old cache: signing must not stop because the
// database blinked.
func (kr *keyring) maybeReload(ctx context.Context) {
	kr.mu.RLock()
	stale := kr.now().Sub(kr.loadedAt) > kr.reload
	kr.mu.RUnlock()
	if stale {
		_ = kr.load(ctx)
	}
}

// current returns the newest active key of any algorithm, or nil.
func (kr *keyring) current() *loadedKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.keys {
		if k.rec.RetiredAt.IsZero() {
			return k
		}
	}
	return nil
}

// byKID returns a published key by kid.
func (kr *keyring) byKID(kid string) *loadedKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	for _, k := range kr.keys {
		if k.rec.ID == kid && kr.published(k) {
			return k
		}
	}
	return nil
}

func (kr *keyring) published(k *loadedKey) bool {
	return k.rec.RetiredAt.IsZero() || kr.now().Before(k.rec.RetiredAt.Add(kr.retention))
}

// publishedKeys returns every key that verifies tokens: active ones and
// retired ones still inside the retention window (IDP-TOK-7).
func (kr *keyring) publishedKeys() []*loadedKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	out := make([]*loadedKey, 0, len(kr.keys))
	for _, k := range kr.keys {
		if kr.published(k) {
			out = append(out, k)
		}
	}
	return out
}

// Rotate creates a new signing key with alg (the configured one when
// empty) and retires the previous ones. Tokens they signed keep verifying
// until the retention window ends, so rotation needs no downtime.
func (kr *keyring) Rotate(ctx context.Context, alg string) (*store.SigningKey, error) {
	if alg == "" {
		alg = kr.alg
	}
	signer, err := generateKey(alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, fmt.Errorf("marshal key: %w", err)
	}
	now := kr.now()
	rec := &store.SigningKey{ID: uuid.NewString(), Algorithm: alg, PrivateKey: der, CreatedAt: now}
	if len(kr.keks) > 0 {
		if rec.PrivateKey, err = kr.keks[0].seal(der, rec.ID, alg); err != nil {
			return nil, err
		}
	}
	if err := kr.st.CreateSigningKey(ctx, rec); err != nil {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	kr.mu.RLock()
	old := append([]*loadedKey(nil), kr.keys...)
	kr.mu.RUnlock()
	for _, k := range old {
		if k.rec.RetiredAt.IsZero() {
			if err := kr.st.RetireSigningKey(ctx, k.rec.ID, now); err != nil {
				return nil, fmt.Errorf("retire key %s: %w", k.rec.ID, err)
			}
		}
	}
	if err := kr.load(ctx); err != nil {
		return nil, err
	}
	return rec, nil
}

// jwks returns the public JSON Web Key Set.
func (kr *keyring) jwks() jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range kr.publishedKeys() {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key: k.signer.Public(), KeyID: k.rec.ID, Algorithm: k.rec.Algorithm, Use: "sig",
		})
	}
	return set
}

// publicPEM returns the PEM encoding of k's public key.
func publicPEM(k *loadedKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// SigningKeysConfig configures RotateSigningKeys and RewrapSigningKeys, the
// signing-key operations that need no Server (gatehouse key ...).
type SigningKeysConfig struct {
	// Store holds the keys. Required.
	Store store.SigningKeyStore
	// KEKs are the key-encryption keys: the first seals, every one opens.
	// Required (at least one).
	KEKs []*KEK
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c SigningKeysConfig) open(ctx context.Context) (*keyring, error) {
	if c.Store == nil {
		return nil, errors.New("idp: SigningKeysConfig.Store is required")
	}
	if len(c.KEKs) == 0 {
		return nil, errors.New("idp: a key-encryption key is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return openKeyring(ctx, c.Store, c.KEKs, AlgES256, 24*time.Hour, c.Now)
}

// RotateSigningKey creates a new signing key with alg (ES256 when empty),
// sealed with cfg.KEKs[0], and retires the current ones; it returns the new
// key's id. Every stored key must open with cfg.KEKs.
func RotateSigningKey(ctx context.Context, cfg SigningKeysConfig, alg string) (string, error) {
	kr, err := cfg.open(ctx)
	if err != nil {
		return "", fmt.Errorf("idp: signing keys: %w", err)
	}
	if _, err := kr.rewrap(ctx, false); err != nil {
		return "", fmt.Errorf("idp: seal signing keys: %w", err)
	}
	k, err := kr.Rotate(ctx, alg)
	if err != nil {
		return "", fmt.Errorf("idp: rotate signing key: %w", err)
	}
	return k.ID, nil
}

// RewrapSigningKeys re-seals every stored signing key with cfg.KEKs[0]
// (rotation of the key-encryption key): keys sealed by any KEK of cfg.KEKs
// and legacy plaintext keys. It returns how many keys it re-sealed. The
// signing keys themselves do not change, so issued tokens stay valid.
// When cfg.Store is also a store.UserStore the users' authenticator
// secrets are re-sealed too (RewrapTOTPSecrets), and counted.
func RewrapSigningKeys(ctx context.Context, cfg SigningKeysConfig) (int, error) {
	kr, err := cfg.open(ctx)
	if err != nil {
		return 0, fmt.Errorf("idp: signing keys: %w", err)
	}
	n, err := kr.rewrap(ctx, true)
	if err != nil {
		return n, fmt.Errorf("idp: re-seal signing keys: %w", err)
	}
	// The authenticator secrets are sealed with the same KEK (MFA-8): a
	// rotation that left them behind would lock their users out once the
	// old KEK is dropped.
	if us, ok := cfg.Store.(store.UserStore); ok {
		m, err := RewrapTOTPSecrets(ctx, us, cfg.KEKs)
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}
