package idpclient

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// fakeIdP is a minimal stand-in for unit tests of single functions
// (verification, error classification). Scenario tests use the real IdP.
type fakeIdP struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	jwks      []jose.JSONWebKey
	jwksFetch atomic.Int64
	handlers  map[string]http.HandlerFunc
}

const (
	testIssuer   = "https://idp.test"
	testClientID = "3c219e58-ed0e-4b18-ad48-f4f92793ae32"
)

func newFakeIdP(t *testing.T) *fakeIdP {
	f := &fakeIdP{t: t, handlers: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		h := f.handlers[r.Method+" "+r.URL.Path]
		keys := f.jwks
		f.mu.Unlock()
		switch {
		case h != nil:
			h(w, r)
		case r.URL.Path == "/.well-known/jwks.json":
			f.jwksFetch.Add(1)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
		case r.URL.Path == "/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"issuer":"` + testIssuer + `"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIdP) handle(pattern string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers[pattern] = h
}

func (f *fakeIdP) publish(kid, alg string, pub crypto.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jwks = append(f.jwks, jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"})
}

func (f *fakeIdP) client(t *testing.T, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{BaseURL: f.srv.URL, ClientID: testClientID, ClientSecret: "s3cret-s3cret-s3cret", Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// signer is a locally generated key for minting test tokens.
type signer struct {
	kid    string
	method jwt.SigningMethod
	key    crypto.Signer
}

func newES256(t *testing.T, kid string) signer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodES256, key: k}
}

func newRS256(t *testing.T, kid string, bits int) signer {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodRS256, key: k}
}

func newEdDSA(t *testing.T, kid string) signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, method: jwt.SigningMethodEdDSA, key: k}
}

// goodClaims are claims that Verify accepts at time now.
func goodClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "sub": "user-1", "aud": testClientID,
		"exp": now.Add(10 * time.Minute).Unix(), "iat": now.Unix(),
		"auth_time": now.Add(-time.Hour).Unix(), "email": "a@example.com", "roles": []string{"admin"}, "sid": "rt-id-1",
	}
}

func (s signer) sign(t *testing.T, claims jwt.MapClaims, hdr map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(s.method, claims)
	tok.Header["kid"] = s.kid
	tok.Header["typ"] = "at+jwt"
	for k, v := range hdr {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	str, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return str
}
