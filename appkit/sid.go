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

// decodeSID decodes a canonical unpadded base64url session id without
// allocating.
func decodeSID(s string) (out [sidBytes]byte, ok bool) {
	if len(s) != sidLen {
		return out, false
	}
	o := 0
	i := 0
	for ; i+4 <= len(s); i += 4 { // 10 groups of 4 chars -> 30 bytes
		a, ok1 := b64val(s[i])
		b, ok2 := b64val(s[i+1])
		c, ok3 := b64val(s[i+2])
		d, ok4 := b64val(s[i+3])
		if !(ok1 && ok2 && ok3 && ok4) {
			return out, false
		}
		out[o] = a<<2 | b>>4
		out[o+1] = b<<4 | c>>2
		out[o+2] = c<<6 | d
		o += 3
	}
	// 3 chars left -> 2 bytes; the last char's low 2 bits must be zero
	// (canonical encoding, so one id has exactly one cookie value).
	a, ok1 := b64val(s[i])
	b, ok2 := b64val(s[i+1])
	c, ok3 := b64val(s[i+2])
	if !(ok1 && ok2 && ok3) || c&3 != 0 {
		return out, false
	}
	out[o] = a<<2 | b>>4
	out[o+1] = b<<4 | c>>2
	return out, true
}

func b64val(c byte) (byte, bool) {
	switch {
	case 'A' <= c && c <= 'Z':
		return c - 'A', true
	case 'a' <= c && c <= 'z':
		return c - 'a' + 26, true
	case '0' <= c && c <= '9':
		return c - '0' + 52, true
	case c == '-':
		return 62, true
	case c == '_':
		return 63, true
	}
	return 0, false
}
