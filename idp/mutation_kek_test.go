package idp_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// TestAUD12_ParseKEKBothAlphabets: a KEK file in standard base64 (with
// '+' and '/') and the same key in URL-safe base64 (with '-' and '_')
// name the same KEK, so the operator's key opens the signing keys whichever
// tool wrote the file (AUD-12).
func TestAUD12_ParseKEKBothAlphabets(t *testing.T) {
	key := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:idp.KEKSize] // encodes to "+/+/" and "-_-_"
	want, err := idp.NewKEK(key)
	if err != nil {
		t.Fatal(err)
	}
	std, url := base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("setup: %q %q", std, url)
	}
	for _, text := range []string{std, url, strings.TrimRight(std, "="), url + "=\n"} {
		k, err := idp.ParseKEK(text)
		if err != nil || k.ID() != want.ID() {
			t.Errorf("ParseKEK(%q): %v, %v; want KEK %s", text, k, err, want.ID())
		}
	}
}

// TestAUD12_DamagedSealedKeysRefused: a stored key that starts like a
// sealed one but is cut short or names a KEK id longer than itself makes
// the IdP refuse to start with an error, never panic and never treat it
// as a plaintext key (AUD-12).
func TestAUD12_DamagedSealedKeysRefused(t *testing.T) {
	for _, damaged := range []string{"GHKEK", "GHKEK\x01", "GHKEK\x01\x05ab", "GHKEK\x01\x10" + strings.Repeat("k", 15)} {
		st := openSQLite(t)
		kek := newKEK(t)
		if err := st.CreateSigningKey(context.Background(), &store.SigningKey{ID: "damaged", Algorithm: idp.AlgES256,
			PrivateKey: []byte(damaged), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%q: panic %v", damaged, p)
				}
			}()
			if _, err := newServer(t, st, kek); err == nil {
				t.Errorf("%q: the IdP started on a damaged key", damaged)
			}
		}()
	}
}

// TestIDP_TOK_7_PublicKeyPEMIsTheSigningKey: /api/jwt/public-key answers
// the PEM of the key that verifies the IdP's tokens (IDP-TOK-7), by kid
// and as the map of all published keys.
func TestIDP_TOK_7_PublicKeyPEMIsTheSigningKey(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, _ := f.mustLogin()
	kid := header(t, at)["kid"].(string)
	r := f.do(mustReq(http.MethodGet, f.idp.URL+"/api/jwt/public-key?kid="+kid))
	if r.status != http.StatusOK {
		t.Fatalf("public-key: %d %s", r.status, r.body)
	}
	block, _ := pem.Decode([]byte(r.json(t)["publicKey"].(string)))
	if block == nil {
		t.Fatalf("publicKey is not PEM: %s", r.body)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(at, func(*jwt.Token) (any, error) { return pub, nil }); err != nil {
		t.Fatalf("the access token does not verify with the published PEM: %v", err)
	}
	r = f.do(mustReq(http.MethodGet, f.idp.URL+"/api/jwt/public-key"))
	if keys, _ := r.json(t)["publicKeys"].(map[string]any); keys[kid] == nil || keys[kid] == "" {
		t.Fatalf("public keys %s lack %s", r.body, kid)
	}
}

// TestIDP_TOK_7_SecondProcessRotationPickedUp: two IdP processes on one
// database: a key rotated by one is used to verify at the other once its
// key cache is older than the reload interval (30 s), so tokens of the
// new key are not refused there (IDP-TOK-7).
func TestIDP_TOK_7_SecondProcessRotationPickedUp(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := openSQLite(t)
	kek := newKEK(t)
	open := func() *idp.Server {
		s, err := idp.New(ctx, idp.Config{Store: st, Issuer: "http://idp.test", KEKs: []*idp.KEK{kek}, Now: clk.Now,
			Logger: slog.New(slog.DiscardHandler), Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := open(), open()
	app, secret, err := a.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "app",
		Config: store.ApplicationConfig{EnabledGrants: []string{"password"}, Roles: []string{"user"}}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.Admin().CreateUser(ctx, idp.UserSpec{Email: "ann@example.com", Password: testPassword, Verified: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Admin().Register(ctx, u.ID, app.ID, []string{"user"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RotateSigningKey(ctx, ""); err != nil {
		t.Fatal(err)
	}
	clk.Advance(31 * time.Second)
	req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(url.Values{"grant_type": {"password"},
		"username": {"ann@example.com"}, "password": {testPassword}, "client_id": {app.ID}, "client_secret": {secret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("login at b: %d %s", rec.Code, rec.Body)
	}
	if code := validate(t, a, tok.AccessToken); code != http.StatusOK {
		t.Fatalf("a token signed with b's new key: validate at a %d, want 200", code)
	}
}
