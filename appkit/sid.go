package appkit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// sidBytes is the session id length: 256 bits (APP-SID-1, C-3).
const sidBytes = 32

// sidLen is the length of a session id cookie value: unpadded base64url.
const sidLen = 43 // base64.RawURLEncoding.EncodedLen(32)

// newSessionID returns a fresh random session id (the cookie value) and
// its store key.
func newSessionID() (id, key string, err error) {
	var b [sidBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("session id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), storeKey(&b), nil
}

// storeKey is what the store is keyed by: hex SHA-256 of the id's bytes,
// so a store dump yields no usable cookie (APP-SID-4).
func storeKey(b *[sidBytes]byte) string {
	sum := sha256.Sum256(b[:])
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// keyForCookie validates a session cookie value and returns its store key.
// Anything that is not exactly a canonical 43-character base64url encoding
// of 32 bytes is rejected before any lookup (APP-SID-3). It does not
// allocate except for the returned key.
func keyForCookie(v string) (string, bool) {
	b, ok := decodeSID(v)
	if !ok {
		return "", false
	}
	return storeKey(&b), true
}

// decodeSID decodes a session id: exactly 43 characters of unpadded
// base64url whose unused low bits are zero (Strict), so one id has exactly
// one cookie value. The length check comes first; Decode skips CR and LF,
// which the byte count then rejects.
func decodeSID(s string) (out [sidBytes]byte, ok bool) {
	if len(s) != sidLen {
		return out, false
	}
	n, err := base64.RawURLEncoding.Strict().Decode(out[:], []byte(s))
	return out, err == nil && n == sidBytes
}
