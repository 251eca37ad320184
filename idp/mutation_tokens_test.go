package idp_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
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
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// Tests that kill mutants gremlins left alive in the token code (see
// docs/security.md, "Mutation testing").

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t testing.TB, tok string) jwt.MapClaims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	c := jwt.MapClaims{}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("payload: %v", err)
	}
	return c
}

// resign signs a copy of claims, with edit applied, with the IdP's own
// current key.
func (f *fixture) resign(claims jwt.MapClaims, edit func(jwt.MapClaims)) string {
	f.t.Helper()
	c := jwt.MapClaims{}
	for k, v := range claims {
		c[k] = v
	}
	edit(c)
	tok, err := idp.SignAccessClaims(f.idp.Server, c)
	if err != nil {
		f.t.Fatalf("sign: %v", err)
	}
	return tok
}

// TestAUD7_AccessTokenSIDMustBeItsOwnFamily: an access token's sid only
// keeps it alive if the family it names belongs to the token's own user
// (sub) and application (aud). A token signed by the IdP's key whose sid
// names a live family of another user, or of the same user at another
// application, is refused: otherwise revoking the token's own family (or
// the user at that application) would not reach it (AUD-7, IDP-REV-2).
func TestAUD7_AccessTokenSIDMustBeItsOwnFamily(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, idptest.AppOptions{})
	aliceAT, _ := f.mustLogin()
	alice := claimsOf(t, aliceAT)
	if alice["sid"] == nil || alice["sid"] == "" {
		t.Fatal("setup: login with offline_access minted no sid")
	}

	// Bob, same application.
	f.idp.CreateUser(t, otherEmail, testPassword, f.clientID)
	r := f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {otherEmail}, "password": {testPassword},
		"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access"}})
	if r.status != http.StatusOK {
		t.Fatalf("bob's login: %d %s", r.status, r.body)
	}
	bobSID := claimsOf(t, r.json(t)["access_token"].(string))["sid"]

	// Alice at a second application.
	appB, secretB := f.idp.CreateApp(t, idptest.AppOptions{Name: "other app"})
	if _, err := f.idp.Server.Admin().Register(ctx, f.userID, appB, []string{"user"}); err != nil {
		t.Fatal(err)
	}
	r = f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {f.email}, "password": {testPassword},
		"client_id": {appB}, "client_secret": {secretB}, "scope": {"offline_access"}})
	if r.status != http.StatusOK {
		t.Fatalf("alice's login at the second app: %d %s", r.status, r.body)
	}
	aliceBSID := claimsOf(t, r.json(t)["access_token"].(string))["sid"]

	// Control: the same claims re-signed pass, so a refusal below is the
	// sid check and nothing else.
	f.wantAccepted("alice's claims re-signed", f.resign(alice, func(jwt.MapClaims) {}), true)
	f.wantAccepted("AUD-7: sid of another user's family",
		f.resign(alice, func(c jwt.MapClaims) { c["sid"] = bobSID }), false)
	f.wantAccepted("AUD-7: sid of the user's family at another application",
		f.resign(alice, func(c jwt.MapClaims) { c["sid"] = aliceBSID }), false)
}

// TestAUD8_ApplicationWideRevocationNamesEachUser: DELETE
// /api/jwt/refresh?applicationId= ends every family of the application and
// announces it per user, each event naming its user and only that user's
// families, so every app can end each user's sessions (AUD-8, IDP-REV-3).
func TestAUD8_ApplicationWideRevocationNamesEachUser(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	f.mustLogin()
	f.mustLogin()
	bob := f.idp.CreateUser(t, otherEmail, testPassword, f.clientID)
	r := f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {otherEmail}, "password": {testPassword},
		"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access"}})
	if r.status != http.StatusOK {
		t.Fatalf("bob's login: %d %s", r.status, r.body)
	}
	if r := f.api(http.MethodDelete, "/api/jwt/refresh?applicationId="+f.clientID, ""); r.status != http.StatusOK {
		t.Fatalf("revoke by application: %d %s", r.status, r.body)
	}
	f.events.mu.Lock()
	defer f.events.mu.Unlock()
	families := map[string]int{}
	for _, e := range f.events.events {
		if e.Type != webhook.EventRefreshTokenRevoke {
			continue
		}
		if e.ApplicationID != f.clientID {
			t.Errorf("event %s: applicationId %q, want %q", e.ID, e.ApplicationID, f.clientID)
		}
		families[e.UserID] += len(e.RefreshTokenIDs)
	}
	if want := map[string]int{f.userID: 2, bob: 1}; len(families) != 2 || families[f.userID] != 2 || families[bob] != 1 {
		t.Fatalf("families announced per user: %v, want %v", families, want)
	}
}

// TestIDP_TOK_4_JWTRefreshAccessTTL: /api/jwt/refresh mints access tokens
// with the application's lifetime when no timeToLiveInSeconds is asked
// for, and with the asked one when it is within that lifetime (IDP-TOK-4,
// AUD-5).
func TestIDP_TOK_4_JWTRefreshAccessTTL(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{AccessTTL: 5 * time.Minute})
	_, rt := f.mustLogin()
	for _, tc := range []struct {
		body string
		want float64
	}{
		{`{"refreshToken":"%s"}`, 300},
		{`{"refreshToken":"%s","timeToLiveInSeconds":0}`, 300},
		{`{"refreshToken":"%s","timeToLiveInSeconds":60}`, 60},
		{`{"refreshToken":"%s","timeToLiveInSeconds":300}`, 300},
	} {
		r := f.jwtRefresh(fmt.Sprintf(tc.body, rt), "")
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.body, r.status, r.body)
		}
		m := r.json(t)
		rt = m["refreshToken"].(string)
		c := claimsOf(t, m["token"].(string))
		iat, _ := c["iat"].(float64)
		exp, _ := c["exp"].(float64)
		if exp-iat != tc.want {
			t.Errorf("%s: exp-iat = %v, want %v", tc.body, exp-iat, tc.want)
		}
	}
}

// TestIDP_REV_2_JWTRefreshCookiesSecureOnTLS: the cookies /api/jwt/refresh
// sets carry Secure when the request came over TLS (so a later plain-HTTP
// request never carries the tokens), and not on plain HTTP, where a Secure
// cookie would never come back.
func TestIDP_REV_2_JWTRefreshCookiesSecureOnTLS(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	for _, overTLS := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodPost, "/api/jwt/refresh", strings.NewReader(`{"refreshToken":"`+rt+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if overTLS {
			req.TLS = &tls.ConnectionState{}
		} else {
			req.TLS = nil
		}
		rec := httptest.NewRecorder()
		f.idp.Server.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("TLS %v: %d %s", overTLS, rec.Code, rec.Body)
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		rt = m["refreshToken"].(string)
		cookies := rec.Result().Cookies()
		if len(cookies) != 2 {
			t.Fatalf("TLS %v: cookies %v", overTLS, rec.Header()["Set-Cookie"])
		}
		for _, c := range cookies {
			if c.Secure != overTLS || !c.HttpOnly {
				t.Errorf("TLS %v: cookie %s Secure=%v HttpOnly=%v", overTLS, c.Name, c.Secure, c.HttpOnly)
			}
		}
	}
}

// TestIDP_REV_1_DeleteRefreshTokenFromFormBody: DELETE /api/jwt/refresh
// takes the token from a form body too (FusionAuth's clients send it
// there, keeping it out of URLs and logs); the family ends and is
// announced (IDP-REV-1, IDP-REV-2).
func TestIDP_REV_1_DeleteRefreshTokenFromFormBody(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	req, _ := http.NewRequest(http.MethodDelete, f.idp.URL+"/api/jwt/refresh", strings.NewReader(url.Values{"token": {rt}}.Encode()))
	req.Header.Set("Authorization", f.idp.APIKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := f.do(req); r.status != http.StatusOK {
		t.Fatalf("DELETE with a form body: %d %s", r.status, r.body)
	}
	if n := f.revokeEvents(); n != 1 {
		t.Fatalf("revocation events: %v, want one", f.events.Types())
	}
	wantOAuthError(t, f.refresh(rt), http.StatusBadRequest, "invalid_grant", "")
}

// TestIDP_REV_3_LogoutEndsOnlyItsFamilyUnlessGlobal: /api/logout ends the
// presented family and no other; with global=true (query or JSON) it ends
// every family of the user and their access tokens (IDP-REV-3, AUD-7).
func TestIDP_REV_3_LogoutEndsOnlyItsFamilyUnlessGlobal(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt1 := f.mustLogin()
	at2, rt2 := f.mustLogin()
	logout := func(query string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.idp.URL+"/api/logout?"+query, nil)
		r := f.do(req)
		if r.status != http.StatusOK {
			t.Fatalf("logout %s: %d", query, r.status)
		}
		// Both token cookies are deleted (Max-Age=0), not kept a while.
		cleared := map[string]bool{}
		for _, c := range (&http.Response{Header: r.header}).Cookies() {
			cleared[c.Name] = c.MaxAge < 0 && c.Value == ""
		}
		if !cleared["access_token"] || !cleared["refresh_token"] {
			t.Errorf("logout %s: cookies not deleted: %v", query, r.header["Set-Cookie"])
		}
	}
	logout("refreshToken=" + rt1)
	wantOAuthError(t, f.refresh(rt1), http.StatusBadRequest, "invalid_grant", "")
	f.wantAccepted("another device's access token after a plain logout", at2, true)
	_, rt2 = f.mustRefresh(rt2) // the other device stays signed in

	at3, rt3 := f.mustLogin()
	logout("global=true&refreshToken=" + rt2)
	for _, rt := range []string{rt2, rt3} {
		wantOAuthError(t, f.refresh(rt), http.StatusBadRequest, "invalid_grant", "")
	}
	f.wantAccepted("AUD-7: access token after a global logout", at3, false)
}

// TestIDP_RT_SlidingWindowMaximumDefaultsToTTL: an application with the
// SlidingWindowWithMaximumLifetime policy and no maximum set caps its
// families at the refresh-token TTL (the default maximum), not at zero
// (compat §5).
func TestIDP_RT_SlidingWindowMaximumDefaultsToTTL(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{Expiration: idp.PolicySlidingWindowMaximum, RefreshTTL: time.Hour})
	_, rt := f.mustLogin()
	f.clock.Advance(50 * time.Minute)
	_, rt = f.mustRefresh(rt) // the window slides...
	f.clock.Advance(50 * time.Minute)
	// ...but not past the maximum, which defaults to the TTL.
	wantOAuthError(t, f.refresh(rt), http.StatusBadRequest, "invalid_grant", "")
}

// TestAUD18_ApplicationGracePeriodApplies: an application's own grace
// period (here 30 s, above the server's 10 s default) is what an honest
// retry of a rotated token gets: inside it the same successor, after it
// reuse detection (AUD-18, IDP-RT-4).
func TestAUD18_ApplicationGracePeriodApplies(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{GracePeriod: 30 * time.Second})
	_, rt := f.mustLogin()
	_, next := f.mustRefresh(rt)
	f.clock.Advance(20 * time.Second)
	r := f.refresh(rt)
	if r.status != http.StatusOK || r.json(t)["refresh_token"] != next {
		t.Fatalf("retry inside the application's grace period: %d %s, want the successor", r.status, r.body)
	}
	f.clock.Advance(11 * time.Second)
	wantOAuthError(t, f.refresh(rt), http.StatusBadRequest, "invalid_grant", "")
	if n := f.revokeEvents(); n != 1 {
		t.Fatalf("reuse after the grace period: revocation events %v, want one", f.events.Types())
	}
}

// TestIDP_REV_1_RevokeTokenTypeHints: /oauth2/revoke ends a refresh token
// presented with token_type_hint=refresh_token, declines access tokens
// (a JWT without a hint, or hinted access_token) and unknown hints with
// unsupported_token_type, and leaves the family alive when it declines
// (IDP-REV-1, RFC 7009 §2.2.1).
func TestIDP_REV_1_RevokeTokenTypeHints(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, rt := f.mustLogin()
	revoke := func(tok, hint string) *response {
		t.Helper()
		v := url.Values{"token": {tok}, "client_id": {f.clientID}, "client_secret": {f.secret}}
		if hint != "" {
			v.Set("token_type_hint", hint)
		}
		return f.form("/oauth2/revoke", v)
	}
	wantOAuthError(t, revoke(at, ""), http.StatusBadRequest, "unsupported_token_type", "")
	wantOAuthError(t, revoke(at, "access_token"), http.StatusBadRequest, "unsupported_token_type", "")
	wantOAuthError(t, revoke(rt, "bogus_hint"), http.StatusBadRequest, "unsupported_token_type", "")
	_, rt = f.mustRefresh(rt) // nothing above revoked it
	if r := revoke(rt, "refresh_token"); r.status != http.StatusOK {
		t.Fatalf("revoke with token_type_hint=refresh_token: %d %s", r.status, r.body)
	}
	wantOAuthError(t, f.refresh(rt), http.StatusBadRequest, "invalid_grant", "")
}

// TestIDP_IntrospectClientIdentification: /oauth2/introspect identifies
// the client by HTTP Basic alone or by the client_id form field, and
// refuses a request that names no client with missing_client_id (compat
// §7, IDP-TOK-5).
func TestIDP_IntrospectClientIdentification(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, _ := f.mustLogin()
	req, _ := http.NewRequest(http.MethodPost, f.idp.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {at}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(f.clientID, f.secret)
	if r := f.do(req); r.status != http.StatusOK || r.json(t)["active"] != true {
		t.Fatalf("introspect with HTTP Basic: %d %s", r.status, r.body)
	}
	wantOAuthError(t, f.form("/oauth2/introspect", url.Values{"token": {at}}), http.StatusBadRequest, "invalid_request", "missing_client_id")
}

// TestIDP_TOK_3_UserinfoClaims: userinfo answers the user's set profile
// fields only, and the application and roles of the token's registration,
// which apps use for authorization (compat §8, IDP-TOK-3).
func TestIDP_TOK_3_UserinfoClaims(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	err := f.idp.Store.UpdateUser(context.Background(), f.userID, func(u store.User) (store.User, error) {
		u.FirstName = "Alice"
		return u, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	at, _ := f.mustLogin()
	r := f.bearerGet("/oauth2/userinfo", at)
	if r.status != http.StatusOK {
		t.Fatalf("userinfo: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["sub"] != f.userID || m["given_name"] != "Alice" || m["applicationId"] != f.clientID {
		t.Errorf("userinfo %s", r.body)
	}
	if _, ok := m["family_name"]; ok {
		t.Errorf("userinfo has an unset family_name: %s", r.body)
	}
	if roles, _ := m["roles"].([]any); len(roles) != 1 || roles[0] != "user" {
		t.Errorf("userinfo roles %v, want [user]", m["roles"])
	}
}

// TestIDP_TOK_3_GrantHistoryRecordedOnce: a family records each grant
// type once, in order: the access tokens of a refreshed family carry gty
// [password refresh_token] however often it was refreshed, so the family
// row does not grow with every refresh (IDP-TOK-3).
func TestIDP_TOK_3_GrantHistoryRecordedOnce(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, rt := f.mustLogin()
	if got := fmt.Sprint(header(t, at)["gty"]); got != "[password]" {
		t.Fatalf("login gty %s", got)
	}
	for i := range 3 {
		at, rt = f.mustRefresh(rt)
		if got := fmt.Sprint(header(t, at)["gty"]); got != "[password refresh_token]" {
			t.Fatalf("refresh %d: gty %s, want [password refresh_token]", i+1, got)
		}
	}
}
