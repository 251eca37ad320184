package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
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
//	              Claims         uvarint(len+1) + bytes (0 = nil)
//	              AccessToken    uvarint(len) + bytes
//	              RefreshTokenID uvarint(len) + bytes
//	              IP             uvarint(len) + bytes
//	              UserAgent      uvarint(len) + bytes
//	              AccessTokenExpiry, AuthTime, CreatedAt, AbsoluteExpiry:
//	                             varint Unix nanoseconds each
//
// Every time is Unix nanoseconds with 0 meaning the zero time.
// ExpiresAt, LastSeen and UserID sit at fixed offsets so the Lua scripts can
// read the expiry and owner and rewrite the two times in place (SETRANGE)
// without decoding the rest. The key is not stored: it is the Redis key.
const (
	codecVersion  = 1
	headerOffset  = 1  // where ExpiresAt starts
	headerLen     = 16 // ExpiresAt + LastSeen
	userLenOffset = headerOffset + headerLen
	fixedLen      = userLenOffset + 2
)

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
	n := fixedLen + len(s.UserID) + len(s.Claims) + len(s.AccessToken) + len(s.RefreshTokenID) +
		len(s.IP) + len(s.UserAgent) + 5*binary.MaxVarintLen32 + 4*binary.MaxVarintLen64
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = append(b, header(s.ExpiresAt, s.LastSeen)...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.UserID)))
	b = append(b, s.UserID...)
	if s.Claims == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(s.Claims))+1)
		b = append(b, s.Claims...)
	}
	for _, str := range []string{s.AccessToken, s.RefreshTokenID, s.IP, s.UserAgent} {
		b = binary.AppendUvarint(b, uint64(len(str)))
		b = append(b, str...)
	}
	for _, t := range []time.Time{s.AccessTokenExpiry, s.AuthTime, s.CreatedAt, s.AbsoluteExpiry} {
		b = binary.AppendVarint(b, unixNano(t))
	}
	return b, nil
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
	if len(rest) < ul {
		return nil, errCorrupt
	}
	s.UserID, rest = string(rest[:ul]), rest[ul:]

	bytesField := func() ([]byte, bool) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return nil, false
		}
		f := rest[w : w+int(n)]
		rest = rest[w+int(n):]
		return f, true
	}
	cl, w := binary.Uvarint(rest)
	if w <= 0 || cl > uint64(len(rest)-w)+1 {
		return nil, errCorrupt
	}
	rest = rest[w:]
	if cl > 0 {
		s.Claims = json.RawMessage(append([]byte(nil), rest[:cl-1]...))
		rest = rest[cl-1:]
	}
	for _, dst := range []*string{&s.AccessToken, &s.RefreshTokenID, &s.IP, &s.UserAgent} {
		f, ok := bytesField()
		if !ok {
			return nil, errCorrupt
		}
		*dst = string(f)
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
