package redisstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// realisticClaims is the payload of a Gatehouse access token (12 claims).
const realisticClaims = `{"aud":"3c219e58-ed0e-4b18-ad48-f4f92793ae32","exp":1764115200,"iat":1764114600,` +
	`"iss":"http://127.0.0.1:9011","sub":"00000000-0000-0001-0000-000000000001",` +
	`"jti":"b3f1d6a2-6c3e-4a55-9a51-0d8f7f2c1e9a","authenticationType":"PASSWORD",` +
	`"email":"richard@example.com","email_verified":true,"applicationId":"3c219e58-ed0e-4b18-ad48-f4f92793ae32",` +
	`"roles":["user"],"sid":"9c1a3c8e-2b7d-4f7e-8e0a-5b6f4d3c2a10","auth_time":1764114600,"scope":"offline_access"}`

// realisticSession is what appkit stores after a login: the claims are
// the JWT's payload byte for byte.
func realisticSession(key string) *sessionstore.Session {
	enc := base64.RawURLEncoding
	hdr := `{"alg":"ES256","kid":"6f3a2c1b-9d8e-4f7a-b6c5-d4e3f2a1b0c9","typ":"JWT"}`
	sig := bytes.Repeat([]byte{0xa5}, 64)
	tok := enc.EncodeToString([]byte(hdr)) + "." + enc.EncodeToString([]byte(realisticClaims)) + "." + enc.EncodeToString(sig)
	now := time.Now()
	return &sessionstore.Session{
		Key:               key,
		UserID:            "00000000-0000-0001-0000-000000000001",
		Claims:            json.RawMessage(realisticClaims),
		AccessToken:       tok,
		AccessTokenExpiry: now.Add(10 * time.Minute),
		RefreshTokenID:    "9c1a3c8e-2b7d-4f7e-8e0a-5b6f4d3c2a10",
		AuthTime:          now,
		CreatedAt:         now,
		LastSeen:          now,
		ExpiresAt:         now.Add(30 * time.Minute),
		AbsoluteExpiry:    now.Add(12 * time.Hour),
		IP:                "203.0.113.77",
		UserAgent:         "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
}

func sameSession(t *testing.T, want, got *sessionstore.Session) {
	t.Helper()
	eqT := func(a, b time.Time) bool { return a.IsZero() == b.IsZero() && a.Equal(b) }
	if got.Key != want.Key || got.UserID != want.UserID || got.AccessToken != want.AccessToken ||
		got.RefreshTokenID != want.RefreshTokenID || got.IP != want.IP || got.UserAgent != want.UserAgent ||
		!bytes.Equal(got.Claims, want.Claims) || (got.Claims == nil) != (want.Claims == nil) ||
		!eqT(got.AccessTokenExpiry, want.AccessTokenExpiry) || !eqT(got.AuthTime, want.AuthTime) ||
		!eqT(got.CreatedAt, want.CreatedAt) || !eqT(got.LastSeen, want.LastSeen) ||
		!eqT(got.ExpiresAt, want.ExpiresAt) || !eqT(got.AbsoluteExpiry, want.AbsoluteExpiry) {
		t.Errorf("round trip changed the session:\n got %+v\nwant %+v", got, want)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	real := realisticSession("k")
	otherClaims := *real
	otherClaims.Claims = json.RawMessage(`{"sub":"someone else"}`)
	nilClaims := *real
	nilClaims.Claims = nil
	emptyClaims := *real
	emptyClaims.Claims = json.RawMessage{}
	// Not canonical base64url (trailing bits set): must be kept verbatim.
	oddB64 := *real
	oddB64.AccessToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In1.AB"
	padded := *real
	padded.AccessToken = "eyJh.eyJz.c2ln=="
	opaque := *real
	opaque.AccessToken = "opaque-token-not-a-jwt"
	opaque.Claims = json.RawMessage(`{"a":1}`)
	sparse := &sessionstore.Session{Key: "s", UserID: "ü-user", ExpiresAt: time.Now().Add(time.Hour)}
	huge := *real
	huge.UserAgent = strings.Repeat("x", 70000)

	for name, s := range map[string]*sessionstore.Session{
		"realistic": real, "claims differ from payload": &otherClaims, "nil claims": &nilClaims,
		"empty claims": &emptyClaims, "non-canonical base64": &oddB64, "padded segments": &padded,
		"opaque token": &opaque, "sparse": sparse, "long user agent": &huge,
	} {
		t.Run(name, func(t *testing.T) {
			b, err := encode(s)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			got, err := decode(s.Key, b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			sameSession(t, s, got)
		})
	}
}

// TestCodecCompact checks the two size savings apply to a real session:
// the encoded value is well under the raw token plus claims.
func TestCodecCompact(t *testing.T) {
	s := realisticSession("k")
	b, err := encode(s)
	if err != nil {
		t.Fatal(err)
	}
	raw := len(s.AccessToken) + len(s.Claims)
	t.Logf("access token %d B, claims %d B, encoded session %d B", len(s.AccessToken), len(s.Claims), len(b))
	if b[fixedLen+len(s.UserID)] != flagCompactJWT|flagClaimsArePayload {
		t.Errorf("flags = %08b, want compact JWT with claims taken from its payload", b[fixedLen+len(s.UserID)])
	}
	if len(b) >= raw {
		t.Errorf("encoded session is %d B, not smaller than token+claims (%d B)", len(b), raw)
	}
}

func TestCodecUserIDTooLong(t *testing.T) {
	s := &sessionstore.Session{Key: "k", UserID: strings.Repeat("u", 1<<16)}
	if _, err := encode(s); err == nil {
		t.Error("encode accepted a user id longer than 65535 bytes")
	}
}

// FuzzDecode: decoding arbitrary bytes returns an error or a session,
// never panics, and whatever decodes re-encodes to a value that decodes
// to the same session.
func FuzzDecode(f *testing.F) {
	for _, s := range []*sessionstore.Session{realisticSession("k"), {Key: "k", UserID: "u"}} {
		b, _ := encode(s)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{codecVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decode("k", b)
		if err != nil {
			return
		}
		b2, err := encode(s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		s2, err := decode("k", b2)
		if err != nil {
			t.Fatalf("decode of re-encoded value: %v", err)
		}
		sameSession(t, s, s2)
	})
}
