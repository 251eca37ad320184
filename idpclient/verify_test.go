package idpclient

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

func TestVerify(t *testing.T) {
	f := newFakeIdP(t)
	now := time.Unix(1_800_000_000, 0)
	es := newES256(t, "es-1")
	rs := newRS256(t, "rs-1", 2048)
	ed := newEdDSA(t, "ed-1")
	weak := newRS256(t, "rs-weak", 1024)
	attacker := newES256(t, "attacker")
	f.publish(es.kid, "ES256", es.key.Public())
	f.publish(rs.kid, "RS256", rs.key.Public())
	f.publish(ed.kid, "EdDSA", ed.key.Public())
	f.publish(weak.kid, "", weak.key.Public())
	c := f.client(t, func(c *Config) { c.Now = func() time.Time { return now } })

	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(rs.key.Public()))})
	hsWithPublicKey := func() string { // key confusion (IDP-TOK-1)
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims(now))
		tok.Header["kid"], tok.Header["typ"] = rs.kid, "at+jwt"
		s, err := tok.SignedString(rsaPEM)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims(now))
		tok.Header["kid"], tok.Header["typ"] = es.kid, "at+jwt"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	es384 := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		tok := jwt.NewWithClaims(jwt.SigningMethodES384, goodClaims(now))
		tok.Header["kid"], tok.Header["typ"] = es.kid, "at+jwt"
		s, _ := tok.SignedString(k)
		return s
	}
	with := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := goodClaims(now)
		mod(c)
		return c
	}
	attackerJWK := jose.JSONWebKey{Key: attacker.key.Public(), KeyID: attacker.kid, Algorithm: "ES256"}

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"ES256 valid", es.sign(t, goodClaims(now), nil), true},
		{"RS256 valid", rs.sign(t, goodClaims(now), nil), true},
		{"EdDSA valid", ed.sign(t, goodClaims(now), nil), true},
		{"IDP-TOK-1 alg none rejected", none(), false},
		{"IDP-TOK-1 HS256 keyed with the RSA public key rejected", hsWithPublicKey(), false},
		{"IDP-TOK-1 ES384 not on the allowlist", es384(), false},
		{"IDP-TOK-1 RSA key below 2048 bits rejected", weak.sign(t, goodClaims(now), nil), false},
		{"IDP-TOK-1 alg must fit the key type (RS256 kid, ES256 token)", signer{kid: rs.kid, method: jwt.SigningMethodES256, key: es.key}.sign(t, goodClaims(now), nil), false},
		{"IDP-TOK-2 jku to attacker's key ignored", attacker.sign(t, goodClaims(now), map[string]any{"jku": "https://evil.example/jwks.json"}), false},
		{"IDP-TOK-2 embedded jwk ignored", attacker.sign(t, goodClaims(now), map[string]any{"jwk": attackerJWK}), false},
		{"IDP-TOK-2 x5u ignored, known kid with attacker signature", signer{kid: es.kid, method: jwt.SigningMethodES256, key: attacker.key}.sign(t, goodClaims(now), map[string]any{"x5u": "https://evil.example/cert.pem", "jwk": attackerJWK}), false},
		{"no kid", es.sign(t, goodClaims(now), map[string]any{"kid": nil}), false},
		{"IDP-TOK-3 wrong aud (another app's token)", es.sign(t, with(func(c jwt.MapClaims) { c["aud"] = "forum-client" }), nil), false},
		{"IDP-TOK-3 aud with an extra value", es.sign(t, with(func(c jwt.MapClaims) { c["aud"] = []string{testClientID, "other"} }), nil), false},
		{"IDP-TOK-3 aud as one-element array", es.sign(t, with(func(c jwt.MapClaims) { c["aud"] = []string{testClientID} }), nil), true},
		{"IDP-TOK-3 wrong iss", es.sign(t, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }), nil), false},
		{"IDP-TOK-3 61 s past exp", es.sign(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-61 * time.Second).Unix() }), nil), false},
		{"IDP-TOK-3 59 s past exp within skew", es.sign(t, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-59 * time.Second).Unix() }), nil), true},
		{"IDP-TOK-3 iat 61 s in the future", es.sign(t, with(func(c jwt.MapClaims) { c["iat"] = now.Add(61 * time.Second).Unix() }), nil), false},
		{"IDP-TOK-3 no exp", es.sign(t, with(func(c jwt.MapClaims) { delete(c, "exp") }), nil), false},
		{"IDP-TOK-3 no iat", es.sign(t, with(func(c jwt.MapClaims) { delete(c, "iat") }), nil), false},
		{"IDP-TOK-3 no sub", es.sign(t, with(func(c jwt.MapClaims) { delete(c, "sub") }), nil), false},
		{"AUD-11 id_token (typ JWT) is not an access token", es.sign(t, goodClaims(now), map[string]any{"typ": "JWT"}), false},
		{"AUD-11 no typ", es.sign(t, goodClaims(now), map[string]any{"typ": nil}), false},
		{"AUD-11 typ application/at+jwt (RFC 9068 media type)", es.sign(t, goodClaims(now), map[string]any{"typ": "application/at+jwt"}), true},
		{"garbage", "not.a.jwt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl, err := c.Verify(context.Background(), tt.token)
			if tt.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if cl.Subject != "user-1" || cl.Email != "a@example.com" || cl.SID != "rt-id-1" || len(cl.Roles) != 1 ||
					!cl.AuthTime.Equal(now.Add(-time.Hour)) || len(cl.Raw) == 0 {
					t.Fatalf("claims not decoded: %+v", cl)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// TestJWKSRefetchOnUnknownKid: a rotated key is found by refetching, but
// unknown kids refetch at most once per JWKSRefetchInterval.
func TestJWKSRefetchOnUnknownKid(t *testing.T) {
	f := newFakeIdP(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	old := newES256(t, "k1")
	f.publish(old.kid, "ES256", old.key.Public())
	c := f.client(t, func(c *Config) { c.Now = clock; c.JWKSRefetchInterval = 30 * time.Second })
	ctx := context.Background()

	if _, err := c.Verify(ctx, old.sign(t, goodClaims(now), nil)); err != nil {
		t.Fatal(err)
	}
	if n := f.jwksFetch.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}
	// Cached: no new fetch.
	if _, err := c.Verify(ctx, old.sign(t, goodClaims(now), nil)); err != nil {
		t.Fatal(err)
	}
	// A forged kid right after a fetch: rejected without fetching.
	forged := newES256(t, "forged")
	for range 5 {
		if _, err := c.Verify(ctx, forged.sign(t, goodClaims(now), nil)); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("forged kid: %v", err)
		}
	}
	if n := f.jwksFetch.Load(); n != 1 {
		t.Fatalf("fetches after forged kids = %d, want 1 (rate-limited)", n)
	}
	// The IdP rotates; once the interval has passed the new kid is fetched.
	rotated := newES256(t, "k2")
	f.publish(rotated.kid, "ES256", rotated.key.Public())
	now = now.Add(31 * time.Second)
	if _, err := c.Verify(ctx, rotated.sign(t, goodClaims(now), nil)); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
	if n := f.jwksFetch.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
	// Old tokens still verify (old key still published, IDP-TOK-7).
	if _, err := c.Verify(ctx, old.sign(t, goodClaims(now), nil)); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyJWKSDown: a JWKS that cannot be fetched is ErrUnavailable, not
// ErrInvalidToken (the app answers 503, nobody is logged out).
func TestVerifyJWKSDown(t *testing.T) {
	f := newFakeIdP(t)
	now := time.Unix(1_800_000_000, 0)
	k := newES256(t, "k1")
	c := f.client(t, func(c *Config) { c.Now = func() time.Time { return now }; c.Issuer = testIssuer })
	f.srv.Close()
	_, err := c.Verify(context.Background(), k.sign(t, goodClaims(now), nil))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v, want ErrUnavailable only", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
