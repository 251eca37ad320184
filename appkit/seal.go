package appkit

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// HKDF labels: one derived key per purpose, so a key never serves two.
const (
	infoRefreshCookie = "gatehouse appkit v1 refresh cookie"
	infoRefreshResult = "gatehouse appkit v1 refresh result"
	claimPrefix       = "gatehouse appkit v1 refresh claim\x00"
	sealVersion       = 1
	// maxRefreshToken bounds what is sealed into the cookie, which must stay
	// under 4096 bytes (APP-CK-2).
	maxRefreshToken = 2048
)

var errSealed = errors.New("sealed value invalid")

// newAEAD derives an AES-256-GCM key from secret for purpose info.
func newAEAD(secret []byte, info string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, secret, nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	return cipher.NewGCM(block)
}

// seal encrypts and authenticates plaintext, bound to aad, and returns
// base64url(version | nonce | ciphertext).
func seal(a cipher.AEAD, plaintext, aad []byte) (string, error) {
	buf := make([]byte, 1+a.NonceSize(), 1+a.NonceSize()+len(plaintext)+a.Overhead())
	buf[0] = sealVersion
	if _, err := rand.Read(buf[1:]); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	buf = a.Seal(buf, buf[1:1+a.NonceSize()], plaintext, aad)
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// open reverses seal.
func open(a cipher.AEAD, s string, aad []byte) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 1+a.NonceSize()+a.Overhead() || raw[0] != sealVersion {
		return nil, errSealed
	}
	n := a.NonceSize()
	pt, err := a.Open(nil, raw[1:1+n], raw[1+n:], aad)
	if err != nil {
		return nil, errSealed
	}
	return pt, nil
}

// refreshCookie is what the browser's refresh cookie carries, sealed with
// the app's key (C-2): the IdP refresh token plus the times the app needs
// to decide before presenting it.
type refreshCookie struct {
	token    string
	authTime time.Time // the password login this grant descends from
	issued   time.Time // when this cookie value was made (APP-CK-4)
}

// sealRefresh seals rc for the cookie named name (the name is bound in, so
// one app's value does not open as another cookie).
func (k *Kit) sealRefresh(rc refreshCookie) (string, error) {
	if len(rc.token) > maxRefreshToken {
		return "", fmt.Errorf("refresh token of %d bytes is too long for a cookie", len(rc.token))
	}
	pt := make([]byte, 16, 16+len(rc.token))
	binary.BigEndian.PutUint64(pt[0:8], uint64(rc.authTime.Unix()))
	binary.BigEndian.PutUint64(pt[8:16], uint64(rc.issued.Unix()))
	pt = append(pt, rc.token...)
	return seal(k.cookieAEAD[0], pt, []byte(k.rtName))
}

// openRefresh opens a refresh cookie with the current or an old key and
// rejects it once older than RefreshCookieMaxAge: the server enforces the
// lifetime, not the browser (APP-CK-4).
func (k *Kit) openRefresh(v string) (refreshCookie, error) {
	if v == "" || len(v) > 4096 {
		return refreshCookie{}, errSealed
	}
	for _, a := range k.cookieAEAD {
		pt, err := open(a, v, []byte(k.rtName))
		if err != nil {
			continue
		}
		if len(pt) <= 16 {
			return refreshCookie{}, errSealed
		}
		rc := refreshCookie{
			authTime: time.Unix(int64(binary.BigEndian.Uint64(pt[0:8])), 0),
			issued:   time.Unix(int64(binary.BigEndian.Uint64(pt[8:16])), 0),
			token:    string(pt[16:]),
		}
		if k.now().Sub(rc.issued) > k.cfg.RefreshCookieMaxAge {
			return refreshCookie{}, errors.New("refresh cookie too old")
		}
		return rc, nil
	}
	return refreshCookie{}, errSealed
}

// maxDeviceToken bounds the device token sealed into its cookie.
const maxDeviceToken = 2048

// sealDevice seals the IdP's device token for the device cookie (bound to
// the cookie's name, like the refresh cookie).
func (k *Kit) sealDevice(tok string) (string, error) {
	if len(tok) > maxDeviceToken {
		return "", fmt.Errorf("device token of %d bytes is too long for a cookie", len(tok))
	}
	return seal(k.cookieAEAD[0], []byte(tok), []byte(k.devName))
}

// openDevice opens a device cookie with the current or an old key; any
// failure yields "" (no device token: the login goes on without one).
func (k *Kit) openDevice(v string) string { return openAny(k.cookieAEAD, v, 4096, k.devName) }

// openAny opens the sealed value v of the cookie name with any of aeads
// (the current key first, then old ones). An empty value, one longer than
// max, and any failure yield "": the secret is simply absent.
func openAny(aeads []cipher.AEAD, v string, max int, name string) string {
	if v == "" || len(v) > max {
		return ""
	}
	for _, a := range aeads {
		if pt, err := open(a, v, []byte(name)); err == nil {
			return string(pt)
		}
	}
	return ""
}

// claimKey is the store key of a refresh token's coordination record. It
// is a labelled hash, so it differs from the IdP's own SHA-256(RT) lookup
// hash and reveals nothing usable.
func claimKey(rt string) string { return labelledKey(claimPrefix, rt) }

// labelledKey is a session-store key derived from a secret v: the hash of
// a label and v, so the store never holds v and keys of different uses
// never meet.
func labelledKey(label, v string) string {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte(v))
	return hex.EncodeToString(h.Sum(nil))
}

// putSealed keeps pt in the session store's short-lived records under key
// for ttl, sealed with a and bound to key; an empty pt stores an empty
// record (ended: getSealed reads it as absent).
func (k *Kit) putSealed(ctx context.Context, a cipher.AEAD, key string, pt []byte, ttl time.Duration) error {
	var sealed string
	if len(pt) > 0 {
		var err error
		if sealed, err = seal(a, pt, []byte(key)); err != nil {
			return err
		}
	}
	return k.store.SetRefreshResult(ctx, key, []byte(sealed), ttl)
}

// getSealed reads and opens the record putSealed kept under key. It
// answers nil, nil for an absent, expired, ended or unopenable record, and
// an error only when the store fails.
func (k *Kit) getSealed(ctx context.Context, a cipher.AEAD, key string) ([]byte, error) {
	b, err := k.store.GetRefreshResult(ctx, key)
	if errors.Is(err, sessionstore.ErrNotFound) || (err == nil && len(b) == 0) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	pt, err := open(a, string(b), []byte(key))
	if err != nil {
		return nil, nil
	}
	return pt, nil
}

// resultAEAD derives the key that seals a refresh result from the refresh
// token itself: only a holder of that token (who could redeem it anyway)
// can read the result, so a store dump leaks nothing.
func resultAEAD(rt string) (cipher.AEAD, error) {
	return newAEAD([]byte(rt), infoRefreshResult)
}
