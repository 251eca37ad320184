package redisstore

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// A session is stored as one compact binary value (no gob: it is slow to
// decode and carries type descriptions in every value). Layout:
//
//	offset 0      version byte (codecVersion)
//	offset 1..8   ExpiresAt, Unix nanoseconds, big-endian int64
//	offset 9..16  LastSeen, same
//	offset 17..18 length of UserID, big-endian uint16
//	offset 19..   UserID, then:
//	              flags byte (flagCompactJWT, flagClaimsArePayload, flagClaimsNil)
//	              AccessToken: with flagCompactJWT, its three base64url
//	                segments decoded, each uvarint(len) + bytes; otherwise
//	                uvarint(len) + the string
//	              Claims, unless flagClaimsArePayload or flagClaimsNil:
//	                uvarint(len) + bytes
//	              RefreshTokenID, IP, UserAgent: uvarint(len) + bytes each
//	              AccessTokenExpiry, AuthTime, CreatedAt, AbsoluteExpiry:
//	                varint Unix nanoseconds each
//
// Every time is Unix nanoseconds with 0 meaning the zero time.
// ExpiresAt, LastSeen and UserID sit at fixed offsets so the Lua scripts can
// read the expiry and owner and rewrite the two times in place (SETRANGE)
// without decoding the rest. The key is not stored: it is the Redis key.
//
// Two facts of real sessions halve their size (issue 6's goal is at most
// 1.5 KB of Redis memory per session holding a ~600-byte access token):
// the access token is a JWT, whose base64url segments take 3/4 of the
// space once decoded, and the claims appkit stores are the token's payload
// byte for byte, so they need not be stored twice. Both are used only when
// the round trip is exact; anything else is stored verbatim.
const (
	codecVersion  = 1
	headerOffset  = 1  // where ExpiresAt starts
	headerLen     = 16 // ExpiresAt + LastSeen
	userLenOffset = headerOffset + headerLen
	fixedLen      = userLenOffset + 2

	flagCompactJWT       = 1 << 0
	flagClaimsArePayload = 1 << 1
	flagClaimsNil        = 1 << 2
)

// splitJWT returns the decoded segments of a compact JWS whose segments
// are canonical unpadded base64url, so re-encoding gives back tok exactly.
func splitJWT(tok string) (seg [3][]byte, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return seg, false
	}
	enc := base64.RawURLEncoding.Strict()
	for i, p := range parts {
		b, err := enc.DecodeString(p)
		if err != nil || enc.EncodeToString(b) != p {
			return seg, false
		}
		seg[i] = b
	}
	return seg, true
}

// unixNano returns t as Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNano is the inverse of unixNano.
func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// header encodes the two times Touch rewrites.
func header(expiresAt, lastSeen time.Time) []byte {
	b := make([]byte, headerLen)
	binary.BigEndian.PutUint64(b[0:8], uint64(unixNano(expiresAt)))
	binary.BigEndian.PutUint64(b[8:16], uint64(unixNano(lastSeen)))
	return b
}

// encode returns the stored form of s.
func encode(s *sessionstore.Session) ([]byte, error) {
	if len(s.UserID) > math.MaxUint16 {
		return nil, fmt.Errorf("user id of %d bytes is too long", len(s.UserID))
	}
	n := fixedLen + len(s.UserID) + 1 + len(s.Claims) + len(s.AccessToken) + len(s.RefreshTokenID) +
		len(s.IP) + len(s.UserAgent) + 8*binary.MaxVarintLen32 + 4*binary.MaxVarintLen64
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = append(b, header(s.ExpiresAt, s.LastSeen)...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.UserID)))
	b = append(b, s.UserID...)

	var flags byte
	seg, jwt := splitJWT(s.AccessToken)
	if jwt {
		flags |= flagCompactJWT
	}
	switch {
	case s.Claims == nil:
		flags |= flagClaimsNil
	case jwt && bytes.Equal(s.Claims, seg[1]):
		flags |= flagClaimsArePayload
	}
	b = append(b, flags)
	if jwt {
		for _, p := range seg {
			b = appendBytes(b, p)
		}
	} else {
		b = appendBytes(b, []byte(s.AccessToken))
	}
	if flags&(flagClaimsNil|flagClaimsArePayload) == 0 {
		b = appendBytes(b, s.Claims)
	}
	for _, str := range []string{s.RefreshTokenID, s.IP, s.UserAgent} {
		b = appendBytes(b, []byte(str))
	}
	for _, t := range []time.Time{s.AccessTokenExpiry, s.AuthTime, s.CreatedAt, s.AbsoluteExpiry} {
		b = binary.AppendVarint(b, unixNano(t))
	}
	return b, nil
}

func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

var errCorrupt = errors.New("corrupt session value")

// decode parses a stored value; key is the session key it was stored under.
func decode(key string, b []byte) (*sessionstore.Session, error) {
	if len(b) < fixedLen || b[0] != codecVersion {
		return nil, errCorrupt
	}
	s := &sessionstore.Session{Key: key}
	s.ExpiresAt = fromUnixNano(int64(binary.BigEndian.Uint64(b[headerOffset:])))
	s.LastSeen = fromUnixNano(int64(binary.BigEndian.Uint64(b[headerOffset+8:])))
	ul := int(binary.BigEndian.Uint16(b[userLenOffset:]))
	rest := b[fixedLen:]
	if len(rest) < ul+1 {
		return nil, errCorrupt
	}
	s.UserID, rest = string(rest[:ul]), rest[ul:]
	flags := rest[0]
	rest = rest[1:]

	ok := true
	field := func() []byte {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			ok = false
			return nil
		}
		f := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		return f
	}
	if flags&flagCompactJWT != 0 {
		h, p, sig := field(), field(), field()
		enc := base64.RawURLEncoding
		var tok strings.Builder
		tok.Grow(enc.EncodedLen(len(h)) + enc.EncodedLen(len(p)) + enc.EncodedLen(len(sig)) + 2)
		var buf [1024]byte
		for i, seg := range [][]byte{h, p, sig} {
			if i > 0 {
				tok.WriteByte('.')
			}
			// Encode in stack-sized chunks (multiples of 3 bytes keep the
			// output identical to encoding the whole segment at once).
			for len(seg) > 0 {
				n := min(len(seg), len(buf)/4*3)
				enc.Encode(buf[:], seg[:n])
				tok.Write(buf[:enc.EncodedLen(n)])
				seg = seg[n:]
			}
		}
		s.AccessToken = tok.String()
		if flags&flagClaimsArePayload != 0 {
			s.Claims = json.RawMessage(bytes.Clone(p))
		}
	} else {
		if flags&flagClaimsArePayload != 0 {
			return nil, errCorrupt
		}
		s.AccessToken = string(field())
	}
	if flags&(flagClaimsNil|flagClaimsArePayload) == 0 {
		s.Claims = json.RawMessage(bytes.Clone(field()))
		if s.Claims == nil {
			s.Claims = json.RawMessage{}
		}
	}
	s.RefreshTokenID = string(field())
	s.IP = string(field())
	s.UserAgent = string(field())
	if !ok {
		return nil, errCorrupt
	}
	for _, dst := range []*time.Time{&s.AccessTokenExpiry, &s.AuthTime, &s.CreatedAt, &s.AbsoluteExpiry} {
		n, w := binary.Varint(rest)
		if w <= 0 {
			return nil, errCorrupt
		}
		*dst = fromUnixNano(n)
		rest = rest[w:]
	}
	if len(rest) != 0 {
		return nil, errCorrupt
	}
	return s, nil
}
