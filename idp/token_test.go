package idp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

func (f *fixture) oauth2Config() *oauth2.Config {
	return &oauth2.Config{ClientID: f.clientID, ClientSecret: f.secret, Scopes: []string{"offline_access"},
		Endpoint: oauth2.Endpoint{TokenURL: f.idp.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
}

// verify parses an access token with the server's JWKS, as an app would.
func (f *fixture) verify(tok string) (jwt.MapClaims, *jwt.Token) {
	f.t.Helper()
	r := f.do(mustReq(http.MethodGet, f.idp.URL+"/.well-known/jwks.json"))
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		f.t.Fatalf("jwks: %v", err)
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		keys := set.Key(t.Header["kid"].(string))
		if len(keys) == 0 {
			return nil, jwt.ErrTokenUnverifiable
		}
		return keys[0].Key, nil
	}, jwt.WithValidMethods([]string{"ES256", "RS256", "EdDSA"}), jwt.WithTimeFunc(f.clock.Now))
	if err != nil {
		f.t.Fatalf("verify access token: %v", err)
	}
	return claims, parsed
}

func mustReq(method, u string) *http.Request {
	r, _ := http.NewRequest(method, u, nil)
	return r
}

// The password and refresh grants through golang.org/x/oauth2, a real
// client, with every claim the spec lists.
func TestPasswordGrantWithOAuth2Client(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	cfg := f.oauth2Config()
	ctx := context.Background()
	tok, err := cfg.PasswordCredentialsToken(ctx, f.email, testPassword)
	if err != nil {
		t.Fatalf("PasswordCredentialsToken: %v", err)
	}
	if tok.RefreshToken == "" || tok.TokenType != "Bearer" {
		t.Fatalf("token = %+v, want a refresh token and Bearer", tok)
	}
	// IDP-RT-1: 256-bit opaque refresh token.
	if raw, err := base64.RawURLEncoding.DecodeString(tok.RefreshToken); err != nil || len(raw) != 32 {
		t.Errorf("IDP-RT-1: refresh token %q does not decode to 32 bytes", tok.RefreshToken)
	}
	if in := tok.Extra("expires_in").(float64); in <= 0 || in > 900 {
		t.Errorf("IDP-TOK-4: expires_in = %v, want (0, 900]", in)
	}
	if tok.Extra("userId") != f.userID || tok.Extra("refresh_token_id") == "" {
		t.Errorf("userId/refresh_token_id = %v/%v", tok.Extra("userId"), tok.Extra("refresh_token_id"))
	}
	claims, parsed := f.verify(tok.AccessToken)
	if parsed.Header["kid"] == "" || parsed.Header["typ"] != "at+jwt" || parsed.Method.Alg() != "ES256" {
		t.Errorf("header = %v", parsed.Header)
	}
	want := map[string]any{"iss": f.idp.URL, "sub": f.userID, "aud": f.clientID, "email": f.email,
		"email_verified": true, "applicationId": f.clientID, "authenticationType": "PASSWORD",
		"sid": tok.Extra("refresh_token_id"), "scope": "offline_access"}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	for _, k := range []string{"exp", "iat", "jti", "auth_time", "roles"} {
		if claims[k] == nil {
			t.Errorf("claim %s missing", k)
		}
	}

	// Refresh through the client's TokenSource once the access token is
	// expired: the refresh token rotates (one-time-use default).
	tok.Expiry = time.Now().Add(-time.Minute)
	next, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("TokenSource refresh: %v", err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken || next.RefreshToken == "" {
		t.Fatal("refresh did not return a new access token and a rotated refresh token")
	}
	c2, _ := f.verify(next.AccessToken)
	if c2["authenticationType"] != "REFRESH_TOKEN" || c2["auth_time"] != claims["auth_time"] || c2["sid"] != claims["sid"] {
		t.Errorf("refreshed claims = %v", c2)
	}
	if next.Extra("refresh_token_id") != tok.Extra("refresh_token_id") {
		t.Error("refresh_token_id must stay stable across rotations")
	}
}

func TestPasswordGrantOpenIDAndFormAuth(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	r, m := f.login("scope", "openid offline_access")
	if r.status != 200 || m["id_token"] == nil || m["scope"] != "openid offline_access" {
		t.Fatalf("login with openid: %d %s", r.status, r.body)
	}
	// IDP-TOK-5 on success too.
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Errorf("IDP-TOK-5: headers %v", r.header)
	}
	// Without offline_access: no refresh token.
	r, m = f.login("scope", "")
	if r.status != 200 || m["refresh_token"] != nil {
		t.Fatalf("login without offline_access returned a refresh token: %s", r.body)
	}
}

// Every error row of compat §3 that applies to the two grants.
func TestTokenEndpointErrors(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	public, _ := f.idp.CreateApp(t, idptest.AppOptions{Name: "public", Public: true})
	basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	pw := func(extra ...string) url.Values {
		v := url.Values{"grant_type": {"password"}, "username": {f.email}, "password": {testPassword},
			"client_id": {f.clientID}, "client_secret": {f.secret}}
		for i := 0; i+1 < len(extra); i += 2 {
			if extra[i+1] == "-" {
				v.Del(extra[i])
			} else {
				v.Set(extra[i], extra[i+1])
			}
		}
		return v
	}
	cases := []struct {
		name         string
		form         url.Values
		header       []string
		status       int
		code, reason string
	}{
		{"missing grant_type", pw("grant_type", "-"), nil, 400, "invalid_request", "missing_grant_type"},
		{"unsupported grant", pw("grant_type", "magic"), nil, 400, "unsupported_grant_type", ""},
		{"other known grant", pw("grant_type", "client_credentials"), nil, 400, "unauthorized_client", "grant_type_disabled"},
		{"missing client_id", pw("client_id", "-", "client_secret", "-"), nil, 400, "invalid_request", "missing_client_id"},
		{"client_id not a UUID", pw("client_id", "store"), nil, 401, "invalid_client", "invalid_client_id"},
		{"unknown client", pw("client_id", "6f1c7a52-3a63-4c2e-9a5e-000000000000"), nil, 401, "invalid_client", "invalid_client_id"},
		{"IDP-CLI-1 missing secret", pw("client_secret", "-"), nil, 401, "invalid_client", "client_authentication_missing"},
		{"IDP-CLI-1 wrong secret", pw("client_secret", "wrong"), nil, 401, "invalid_client", "invalid_client_authentication"},
		{"empty secret is absent", pw("client_secret", ""), nil, 401, "invalid_client", "client_authentication_missing"},
		{"bad basic base64", pw("client_id", "-", "client_secret", "-"), []string{"Authorization", "Basic !!!"}, 401, "invalid_client", "invalid_client_authentication"},
		{"basic without colon", pw("client_id", "-", "client_secret", "-"), []string{"Authorization", basic(f.clientID)}, 401, "invalid_client", "invalid_client_authentication"},
		{"not basic", pw(), []string{"Authorization", "Bearer x"}, 401, "invalid_client", "invalid_client_authentication_scheme"},
		{"client_id mismatch", pw("client_id", public), []string{"Authorization", basic(f.clientID + ":" + f.secret)}, 401, "invalid_client", "client_id_mismatch"},
		{"unknown scope", pw("scope", "admin"), nil, 400, "invalid_scope", "unknown_scope"},
		{"wrong password", pw("password", "not the password at all"), nil, 400, "invalid_grant", "invalid_user_credentials"},
		{"unknown user", pw("username", "nobody@example.com"), nil, 400, "invalid_grant", "invalid_user_credentials"},
		{"blank username", pw("username", "-"), nil, 400, "invalid_grant", "unknown"},
		{"missing refresh_token", url.Values{"grant_type": {"refresh_token"}, "client_id": {f.clientID}, "client_secret": {f.secret}}, nil, 400, "invalid_request", "missing_refresh_token"},
		{"IDP-RT-7 unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("A", 43)}, "client_id": {f.clientID}, "client_secret": {f.secret}}, nil, 400, "invalid_grant", "refresh_token_not_found"},
		{"IDP-RT-7 garbage refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"%%%\x00"}, "client_id": {f.clientID}, "client_secret": {f.secret}}, nil, 400, "invalid_grant", "refresh_token_not_found"},
		{"IDP-CLI-2 public client cannot use password", pw("client_id", public, "client_secret", "-"), nil, 401, "invalid_client", "client_authentication_missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.form("/oauth2/token", c.form, c.header...)
			wantOAuthError(t, r, c.status, c.code, c.reason)
			if c.status == 401 && len(c.header) > 0 && strings.HasPrefix(c.header[1], "Basic") && r.header.Get("WWW-Authenticate") == "" {
				t.Error("401 after Basic auth must carry WWW-Authenticate")
			}
		})
	}
	t.Run("JSON body refused", func(t *testing.T) {
		req, _ := http.NewRequest("POST", f.idp.URL+"/oauth2/token", strings.NewReader(`{"grant_type":"password"}`))
		req.Header.Set("Content-Type", "application/json")
		wantOAuthError(t, f.do(req), 400, "invalid_request", "")
	})
	t.Run("query string ignored", func(t *testing.T) {
		req, _ := http.NewRequest("POST", f.idp.URL+"/oauth2/token?"+pw().Encode(), nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		wantOAuthError(t, f.do(req), 400, "invalid_request", "missing_grant_type")
	})
	t.Run("oversized body", func(t *testing.T) {
		r := f.form("/oauth2/token", pw("password", strings.Repeat("x", 100<<10)))
		wantOAuthError(t, r, 400, "invalid_request", "")
	})
	t.Run("IDP-HASH-5 10 KB password is a fast 400", func(t *testing.T) {
		r := f.form("/oauth2/token", pw("password", strings.Repeat("x", 10<<10)))
		wantOAuthError(t, r, 400, "invalid_grant", "invalid_user_credentials")
	})
	t.Run("grant disabled", func(t *testing.T) {
		id, secret := f.idp.CreateApp(t, idptest.AppOptions{Name: "no refresh"})
		app, _ := f.idp.Store.GetApplication(context.Background(), id)
		app.Config.EnabledGrants = []string{"password"}
		if err := f.idp.Store.UpdateApplication(context.Background(), app); err != nil {
			t.Fatal(err)
		}
		r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {id}, "client_secret": {secret}})
		wantOAuthError(t, r, 400, "unauthorized_client", "grant_type_disabled")
	})
}

// APP-LOGIN-4 / IDP-BF-4: unknown account and wrong password answer the
// same bytes; both run one password verification (the unknown one against
// a dummy hash), so their cost is the same by construction.
// The medians are logged for the curious, never asserted (timings decide
// no test here).
func TestUnknownAndWrongPasswordLookAlike(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{}, idp.Config{
		Lockout:  idp.LockoutPolicy{Disabled: true},
		Throttle: idp.ThrottlePolicy{Disabled: true},
	})
	var bodies []string
	var medians []time.Duration
	for _, user := range []string{f.email, "nobody@example.com"} {
		var took []time.Duration
		for range 15 {
			start := time.Now()
			r := f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {"definitely not it!!"},
				"client_id": {f.clientID}, "client_secret": {f.secret}})
			took = append(took, time.Since(start))
			if r.status != 400 {
				t.Fatalf("status %d", r.status)
			}
			bodies = append(bodies, string(r.body)+" "+r.header.Get("Content-Type"))
		}
		slices.Sort(took)
		medians = append(medians, took[len(took)/2])
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("IDP-BF-4: answers differ:\n%s\n%s", bodies[0], b)
		}
	}
	t.Logf("median latency: known account %v, unknown account %v", medians[0], medians[1])
}

// S12 / IDP-BF-1, IDP-BF-2 (new lockout, AUD-1): after 5 consecutive
// failures the account accepts one attempt per delay; even the right
// password is refused (as a wrong one) inside the delay; the delay is per
// account; success resets the count; nothing is revoked.
func TestLockout(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	f.idp.CreateUser(t, otherEmail, testPassword, f.clientID)
	_, rt := f.mustLogin()
	wrong := func(user string) *response {
		return f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {"wrong wrong wrong!"},
			"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access"}}, "X-Forwarded-For", "203.0.113.9")
	}
	// 4 failures, then success resets the counter.
	for range 4 {
		wantOAuthError(t, wrong(f.email), 400, "invalid_grant", "invalid_user_credentials")
	}
	if r, _ := f.login(); r.status != 200 {
		t.Fatalf("login after 4 failures: %d", r.status)
	}
	for range 5 {
		wantOAuthError(t, wrong(f.email), 400, "invalid_grant", "invalid_user_credentials")
	}
	r, _ := f.login()
	wantOAuthError(t, r, 400, "invalid_grant", "invalid_user_credentials")
	// AUD-1: the user's refresh tokens were not revoked.
	if r := f.refresh(rt); r.status != 200 {
		t.Fatalf("refresh after lockout: %d %s", r.status, r.body)
	}
	// IDP-BF-2: another account still works.
	r = f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {otherEmail}, "password": {testPassword},
		"client_id": {f.clientID}, "client_secret": {f.secret}})
	if r.status != 200 {
		t.Fatalf("IDP-BF-2: other account locked too: %d %s", r.status, r.body)
	}
	f.clock.Advance(30*time.Second + time.Millisecond)
	if r, _ := f.login(); r.status != 200 {
		t.Fatalf("delay did not end: %d %s", r.status, r.body)
	}
}

// IDP-BF-3: one IP spraying one password over many accounts is throttled
// with 429; the X-Forwarded-For the confidential app sends is the key, so
// another browser IP behind the same app is unaffected.
func TestPerIPThrottle(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	spray := func(i int, ip string) *response {
		return f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"user" + string(rune('a'+i%26)) + "@example.com"},
			"password": {"Summer2026Summer2026"}, "client_id": {f.clientID}, "client_secret": {f.secret}}, "X-Forwarded-For", ip)
	}
	got429 := false
	for i := range 50 {
		if r := spray(i, "198.51.100.7"); r.status == http.StatusTooManyRequests {
			got429 = true
			if r.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			break
		}
	}
	if !got429 {
		t.Fatal("IDP-BF-3: 50 failed logins from one IP were never throttled")
	}
	if r := spray(0, "198.51.100.8"); r.status != 400 {
		t.Fatalf("another IP was throttled too: %d", r.status)
	}
	if r, _ := f.login(); r.status != 200 { // the real user from another IP (the test peer's own address counts nothing)
		t.Fatalf("login: %d", r.status)
	}
}

// The remaining Login-API outcomes of compat §1: password change required,
// expired user, deactivated user (user_locked, with the right password
// only: AUD-2).
func TestPasswordGrantAccountStates(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	ctx := context.Background()
	try := func(email, pw string) *response {
		return f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw},
			"client_id": {f.clientID}, "client_secret": {f.secret}})
	}
	if _, err := f.idp.Server.Admin().CreateUser(ctx, idp.UserSpec{Email: "change@example.com", Password: testPassword, PasswordChangeRequired: true}); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, try("change@example.com", testPassword), 400, "change_password_required", "change_password_administrative")

	update := func(fn func(u *store.User)) {
		t.Helper()
		if err := f.idp.Store.UpdateUser(ctx, f.userID, func(u store.User) (store.User, error) { fn(&u); return u, nil }); err != nil {
			t.Fatal(err)
		}
	}
	update(func(u *store.User) { u.Expiry = f.clock.Now().Add(-time.Second) })
	wantOAuthError(t, try(f.email, testPassword), 400, "invalid_grant", "user_expired")

	update(func(u *store.User) { u.Expiry, u.Active = time.Time{}, false })
	wantOAuthError(t, try(f.email, testPassword), 400, "invalid_grant", "user_locked")
	// AUD-2: only the right password learns "deactivated".
	wantOAuthError(t, try(f.email, "a wrong password here"), 400, "invalid_grant", "invalid_user_credentials")
}
