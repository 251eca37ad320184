package idp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// Helpers of the AUD-5/7/11 tests.

// revokeEvents counts the refresh-token revocation events published so far.
func (f *fixture) revokeEvents() int {
	n := 0
	for _, typ := range f.events.Types() {
		if strings.HasPrefix(typ, webhook.EventRefreshTokenRevoke+":") {
			n++
		}
	}
	return n
}

// bearerGet calls path with Authorization: Bearer tok.
func (f *fixture) bearerGet(path, tok string) *response {
	f.t.Helper()
	req := mustReq(http.MethodGet, f.idp.URL+path)
	req.Header.Set("Authorization", "Bearer "+tok)
	return f.do(req)
}

// introspect answers whether tok is active for the fixture's client.
func (f *fixture) introspect(tok string, hint string) bool {
	f.t.Helper()
	v := url.Values{"token": {tok}, "client_id": {f.clientID}, "client_secret": {f.secret}}
	if hint != "" {
		v.Set("token_type_hint", hint)
	}
	r := f.form("/oauth2/introspect", v)
	if r.status != http.StatusOK {
		f.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	return r.json(f.t)["active"] == true
}

// accepted reports, for each endpoint that takes an access token, whether
// it accepted tok: validate, userinfo, introspect.
func (f *fixture) accepted(tok string) [3]bool {
	f.t.Helper()
	return [3]bool{
		f.bearerGet("/api/jwt/validate", tok).status == http.StatusOK,
		f.bearerGet("/oauth2/userinfo", tok).status == http.StatusOK,
		f.introspect(tok, ""),
	}
}

func (f *fixture) wantAccepted(what, tok string, want bool) {
	f.t.Helper()
	got := f.accepted(tok)
	for i, ep := range []string{"/api/jwt/validate", "/oauth2/userinfo", "/oauth2/introspect"} {
		if got[i] != want {
			f.t.Errorf("%s: %s accepted = %v, want %v", what, ep, got[i], want)
		}
	}
}

// loginNoSID logs in without offline_access: an access token with no sid.
func (f *fixture) loginNoSID() string {
	f.t.Helper()
	r, m := f.login("scope", "")
	if r.status != http.StatusOK {
		f.t.Fatalf("login: %d %s", r.status, r.body)
	}
	if m["refresh_token"] != nil {
		f.t.Fatal("login without offline_access returned a refresh token")
	}
	return m["access_token"].(string)
}

// header decodes a JWT's header.
func header(t testing.TB, tok string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("header: %v", err)
	}
	return m
}

// pastGrace moves the clock beyond the grace period: a token rotated by a
// refused request would now be reuse, not an honest retry.
func (f *fixture) pastGrace() { f.clock.Advance(time.Minute) }

// TestAUD5_RefusedRefreshLeavesTokenUsable: every refused refresh runs its
// checks before the rotation, so the same token string refreshes afterwards
// and nothing is revoked (AUD-5; IDP-RT-3, IDP-TOK-6, IDP-RT-4).
func TestAUD5_RefusedRefreshLeavesTokenUsable(t *testing.T) {
	ctx := context.Background()
	// after checks that the refused token still refreshes once and that no
	// family was revoked on the way.
	after := func(t *testing.T, f *fixture, rt string) {
		t.Helper()
		f.pastGrace()
		if r := f.refresh(rt); r.status != http.StatusOK {
			t.Fatalf("AUD-5: the token was used up by a refused request: refresh = %d %s", r.status, r.body)
		}
		if n := f.revokeEvents(); n != 0 {
			t.Fatalf("AUD-5: %d revocation events after a refused request: %v", n, f.events.Types())
		}
	}

	t.Run("scope widening on /oauth2/token", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, rt := f.mustLogin()
		r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access openid"}})
		wantOAuthError(t, r, http.StatusBadRequest, "invalid_scope", "")
		after(t, f, rt)
	})
	t.Run("unknown scope on /oauth2/token", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, rt := f.mustLogin()
		r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access admin"}})
		wantOAuthError(t, r, http.StatusBadRequest, "invalid_scope", "unknown_scope")
		after(t, f, rt)
	})
	t.Run("scope narrowing is still allowed", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, m := f.login("scope", "offline_access openid")
		r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)},
			"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access"}})
		if r.status != http.StatusOK || r.json(t)["scope"] != "offline_access" || r.json(t)["id_token"] != nil {
			t.Fatalf("narrowed refresh: %d %s", r.status, r.body)
		}
	})
	t.Run("timeToLiveInSeconds too large on /api/jwt/refresh", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{AccessTTL: 5 * time.Minute})
		_, rt := f.mustLogin()
		r := f.jwtRefresh(`{"refreshToken":"`+rt+`","timeToLiveInSeconds":301}`, "")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[invalid]timeToLiveInSeconds") {
			t.Fatalf("TTL too large: %d %s", r.status, r.body)
		}
		f.pastGrace()
		if r := f.jwtRefresh(`{"refreshToken":"`+rt+`","timeToLiveInSeconds":300}`, ""); r.status != http.StatusOK {
			t.Fatalf("AUD-5: the token was used up by a refused request: %d %s", r.status, r.body)
		}
		if n := f.revokeEvents(); n != 0 {
			t.Fatalf("AUD-5: revocation events: %v", f.events.Types())
		}
	})
	t.Run("allowTokenRefresh false on /api/jwt/refresh", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, rt := f.mustLogin()
		app, _ := f.idp.Store.GetApplication(ctx, f.clientID)
		app.Config.AllowTokenRefresh = false
		if err := f.idp.Store.UpdateApplication(ctx, app); err != nil {
			t.Fatal(err)
		}
		r := f.jwtRefresh(`{"refreshToken":"`+rt+`"}`, "")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[disabled]refreshToken") {
			t.Fatalf("refresh disabled: %d %s", r.status, r.body)
		}
		after(t, f, rt) // the token endpoint, still allowed, takes the same token
	})
	t.Run("deactivated user", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, rt := f.mustLogin()
		// Written straight to the store: the admin path would also delete the
		// families, and this is about the check alone.
		setUser := func(mod func(*store.User)) {
			err := f.idp.Store.UpdateUser(ctx, f.userID, func(u store.User) (store.User, error) {
				mod(&u)
				return u, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		setUser(func(u *store.User) { u.Active = false })
		wantOAuthError(t, f.refresh(rt), http.StatusBadRequest, "invalid_grant", "refresh_token_not_found")
		if r := f.jwtRefresh(`{"refreshToken":"`+rt+`"}`, ""); r.status != http.StatusNotFound {
			t.Fatalf("/api/jwt/refresh for a deactivated user: %d", r.status)
		}
		setUser(func(u *store.User) { u.Active = true; u.Expiry = f.clock.Now().Add(-time.Second) })
		wantOAuthError(t, f.refresh(rt), http.StatusBadRequest, "invalid_grant", "refresh_token_not_found")
		setUser(func(u *store.User) { u.Expiry = time.Time{} })
		after(t, f, rt)
	})
	t.Run("another client's token", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, rt := f.mustLogin()
		other, otherSecret := f.idp.CreateApp(t, idptest.AppOptions{Name: "forums"})
		r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {other}, "client_secret": {otherSecret}})
		wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant", "refresh_token_not_found")
		after(t, f, rt)
	})
	t.Run("inactive application on /api/jwt/refresh", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, rt := f.mustLogin()
		app, _ := f.idp.Store.GetApplication(ctx, f.clientID)
		app.Active = false
		_ = f.idp.Store.UpdateApplication(ctx, app)
		if r := f.jwtRefresh(`{"refreshToken":"`+rt+`"}`, ""); r.status != http.StatusNotFound {
			t.Fatalf("/api/jwt/refresh for an inactive application: %d %s", r.status, r.body)
		}
		app.Active = true
		_ = f.idp.Store.UpdateApplication(ctx, app)
		after(t, f, rt)
	})
	t.Run("refused retry inside the grace period gets no successor", func(t *testing.T) {
		f := newFixture(t, idptest.AppOptions{})
		_, rt0 := f.mustLogin()
		_, rt1 := f.mustRefresh(rt0)
		r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt0},
			"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"openid"}})
		wantOAuthError(t, r, http.StatusBadRequest, "invalid_scope", "")
		after(t, f, rt1)
	})
}

// TestAUD7_RevokedFamilyRejectsAccessToken: revoking a refresh token ends
// its family, and the access tokens bound to it by sid with it
// (AUD-7, IDP-REV-2).
func TestAUD7_RevokedFamilyRejectsAccessToken(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, rt := f.mustLogin()
	other, _ := f.mustLogin() // another family of the same user
	f.wantAccepted("before revocation", at, true)
	r := f.form("/oauth2/revoke", url.Values{"token": {rt}, "client_id": {f.clientID}, "client_secret": {f.secret}})
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	f.wantAccepted("AUD-7: access token of a revoked family", at, false)
	f.wantAccepted("access token of another, live family", other, true)
}

// TestAUD7_RevokeAllRejectsAccessTokens: DELETE /api/jwt/refresh?userId=
// ends every access token of the user, with or without a sid (AUD-7,
// IDP-REV-2).
func TestAUD7_RevokeAllRejectsAccessTokens(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	withSID, _ := f.mustLogin()
	noSID := f.loginNoSID()
	f.wantAccepted("before revocation", noSID, true)
	f.clock.Advance(time.Second)
	if r := f.api("DELETE", "/api/jwt/refresh?userId="+f.userID, ""); r.status != http.StatusOK {
		t.Fatalf("revoke all: %d %s", r.status, r.body)
	}
	f.wantAccepted("AUD-7: access token with a sid after revoke-all", withSID, false)
	f.wantAccepted("AUD-7: access token without a sid after revoke-all", noSID, false)
	f.clock.Advance(time.Second)
	f.wantAccepted("a token issued after the revocation", f.loginNoSID(), true)
}

// TestAUD7_AdminRevokeAllRejectsAccessTokens: the admin's "revoke all"
// (CLI and embedding code) ends access tokens without a sid too (AUD-7).
func TestAUD7_AdminRevokeAllRejectsAccessTokens(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	noSID := f.loginNoSID()
	f.clock.Advance(time.Second)
	if _, err := f.idp.Server.Admin().RevokeUserTokens(context.Background(), f.userID, ""); err != nil {
		t.Fatal(err)
	}
	f.wantAccepted("AUD-7: access token without a sid after the admin's revoke-all", noSID, false)
}

// TestAUD7_GlobalLogoutRejectsAccessTokens: /api/logout with global ends
// every access token of the user (AUD-7).
func TestAUD7_GlobalLogoutRejectsAccessTokens(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	noSID := f.loginNoSID()
	_, rt := f.mustLogin()
	f.clock.Advance(time.Second)
	req, _ := http.NewRequest(http.MethodPost, f.idp.URL+"/api/logout", strings.NewReader(`{"global":true,"refreshToken":"`+rt+`"}`))
	req.Header.Set("Content-Type", "application/json")
	if r := f.do(req); r.status != http.StatusOK {
		t.Fatalf("logout: %d", r.status)
	}
	f.wantAccepted("AUD-7: access token without a sid after global logout", noSID, false)
}

// TestAUD7_ReuseDetectionRejectsAccessTokens: a replayed refresh token
// ends the user's access tokens, also those without a sid (AUD-7,
// IDP-RT-4).
func TestAUD7_ReuseDetectionRejectsAccessTokens(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	noSID := f.loginNoSID()
	at0, rt0 := f.mustLogin()
	at1, _ := f.mustRefresh(rt0)
	f.pastGrace()
	wantOAuthError(t, f.refresh(rt0), http.StatusBadRequest, "invalid_grant", "refresh_token_not_found")
	f.wantAccepted("AUD-7: the family's first access token after reuse", at0, false)
	f.wantAccepted("AUD-7: the family's current access token after reuse", at1, false)
	f.wantAccepted("AUD-7: access token without a sid after reuse", noSID, false)
}

// TestAUD7_RevokedBeforeClockGranularity: iat has whole seconds. A token
// issued in the same second as the revocation but before it must die, and
// one issued after it, in that same second or later, must live (AUD-7,
// IDP-REV-2). Removing the "revoked before" check, or comparing whole
// seconds only, fails it.
func TestAUD7_RevokedBeforeClockGranularity(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	// Start at 0.400 s into a second.
	now := f.clock.Now()
	f.clock.Advance(now.Truncate(time.Second).Add(time.Second + 400*time.Millisecond).Sub(now))

	prevSecond := f.loginNoSID() // x-1.400 s … issued a second earlier
	f.clock.Advance(time.Second)
	sameSecondBefore := f.loginNoSID() // x.400
	f.clock.Advance(100 * time.Millisecond)
	// Revocation at x.500 (a password change sets the same instant).
	if err := f.idp.Server.Admin().SetPassword(context.Background(), f.userID, testPassword+" new"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(100 * time.Millisecond)
	pw := testPassword + " new"
	login := func() string {
		r, m := f.login("password", pw, "scope", "")
		if r.status != http.StatusOK {
			t.Fatalf("login: %d %s", r.status, r.body)
		}
		return m["access_token"].(string)
	}
	sameSecondAfter := login() // x.600
	f.clock.Advance(time.Second)
	nextSecond := login() // x+1.600

	f.wantAccepted("token of the second before the revocation", prevSecond, false)
	f.wantAccepted("AUD-7: token issued in the revocation's second, before it", sameSecondBefore, false)
	f.wantAccepted("token issued in the revocation's second, after it", sameSecondAfter, true)
	f.wantAccepted("token issued a second after the revocation", nextSecond, true)
}

// TestAUD11_IDTokenIsNotAnAccessToken: access tokens carry typ at+jwt (RFC
// 9068); a real id_token from the token endpoint (typ JWT, same key, same
// audience) is refused by validate and userinfo and introspects inactive
// (AUD-11, IDP-TOK-3).
func TestAUD11_IDTokenIsNotAnAccessToken(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	r, m := f.login("scope", "openid offline_access")
	if r.status != http.StatusOK || m["id_token"] == nil {
		t.Fatalf("login with openid: %d %s", r.status, r.body)
	}
	at, idt := m["access_token"].(string), m["id_token"].(string)
	if typ := header(t, at)["typ"]; typ != "at+jwt" {
		t.Fatalf("access token typ = %v, want at+jwt", typ)
	}
	if typ := header(t, idt)["typ"]; typ != "JWT" {
		t.Fatalf("id_token typ = %v, want JWT", typ)
	}
	f.wantAccepted("access token", at, true)
	f.wantAccepted("AUD-11: id_token", idt, false)
	if f.introspect(idt, "id_token") {
		t.Error("AUD-11: id_token introspects active with token_type_hint=id_token")
	}
	if f.introspect(idt, "access_token") {
		t.Error("AUD-11: id_token introspects active with token_type_hint=access_token")
	}
	// Refreshed tokens are access tokens too.
	r = f.refresh(m["refresh_token"].(string))
	if r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	m = r.json(t)
	f.wantAccepted("refreshed access token", m["access_token"].(string), true)
	f.wantAccepted("AUD-11: refreshed id_token", m["id_token"].(string), false)
}
