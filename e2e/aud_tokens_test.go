package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// Attack tests of audit items 5, 7 and 11 against the running demo: an
// attacker (or a buggy client) talks to the IdP directly with what it
// captured.

// idpDo sends one request to the demo's IdP and returns status and body.
func (e *env) idpDo(method, path, contentType, body string, header ...string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.info.IdP+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (e *env) idpForm(path string, v url.Values) (int, []byte) {
	e.t.Helper()
	return e.idpDo(http.MethodPost, path, "application/x-www-form-urlencoded", v.Encode())
}

// tokenAccepted reports whether /api/jwt/validate, /oauth2/userinfo and
// /oauth2/introspect (as the Store) accept tok as an access token.
func (e *env) tokenAccepted(tok string) [3]bool {
	e.t.Helper()
	validate, _ := e.idpDo(http.MethodGet, "/api/jwt/validate", "", "", "Authorization", "Bearer "+tok)
	userinfo, _ := e.idpDo(http.MethodGet, "/oauth2/userinfo", "", "", "Authorization", "Bearer "+tok)
	st := e.info.Applications.Store
	status, body := e.idpForm("/oauth2/introspect", url.Values{"token": {tok}, "client_id": {st.ID}, "client_secret": {st.Secret}})
	var intro struct {
		Active bool `json:"active"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &intro) != nil {
		e.t.Fatalf("introspect: %d %s", status, body)
	}
	return [3]bool{validate == http.StatusOK, userinfo == http.StatusOK, intro.Active}
}

func (e *env) wantTokenAccepted(what, tok string, want bool) {
	e.t.Helper()
	got := e.tokenAccepted(tok)
	for i, ep := range []string{"/api/jwt/validate", "/oauth2/userinfo", "/oauth2/introspect"} {
		if got[i] != want {
			e.t.Errorf("%s: %s accepted = %v, want %v", what, ep, got[i], want)
		}
	}
}

// storeLoginTokens signs b in to the Store as u and returns the access and
// refresh tokens the IdP answered the Store's password grant with (what
// an attacker who reads the app's traffic or memory holds).
func (e *env) storeLoginTokens(b *browser, u demo.User) (access, refresh string) {
	e.t.Helper()
	mark := e.rec.mark()
	b.login(e.info.Store, u, "/shopping-cart")
	for _, c := range e.rec.since(mark) {
		if c.Path == "/oauth2/token" && c.GrantType == "password" && c.Status == http.StatusOK {
			return jsonField(c.Body, "access_token"), jsonField(c.Body, "refresh_token")
		}
	}
	e.t.Fatal("no password grant recorded for the login")
	return "", ""
}

// TestAUD5_RefusedRefreshKeepsSessions: refresh requests the IdP refuses
// — a widened scope at the token endpoint, a too long
// timeToLiveInSeconds or a disabled /api/jwt/refresh — leave the
// refresh token as it was: the browser's next silent refresh (after the
// grace period) works and nobody is signed out (AUD-5, IDP-TOK-6,
// IDP-RT-4).
func TestAUD5_RefusedRefreshKeepsSessions(t *testing.T) {
	e := newEnv(t) // the apps refresh at the token endpoint
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)
	_, rt := e.storeLoginTokens(b, alice)
	phone := e.browser("alice-phone")
	phone.login(e.info.Forums, alice, "/posts")
	st := e.info.Applications.Store

	status, body := e.idpForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {st.ID}, "client_secret": {st.Secret}, "scope": {"openid offline_access email profile"}})
	if status != http.StatusBadRequest || jsonField(body, "error") != "invalid_scope" {
		t.Fatalf("widened scope: %d %s", status, body)
	}
	status, body = e.idpDo(http.MethodPost, "/api/jwt/refresh", "application/json",
		`{"refreshToken":"`+rt+`","timeToLiveInSeconds":100000000}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "timeToLiveInSeconds") {
		t.Fatalf("timeToLiveInSeconds too large: %d %s", status, body)
	}
	app, err := e.d.IdPStore.GetApplication(e.ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	app.Config.AllowTokenRefresh = false
	if err := e.d.IdPStore.UpdateApplication(e.ctx, app); err != nil {
		t.Fatal(err)
	}
	status, body = e.idpDo(http.MethodPost, "/api/jwt/refresh", "application/json", `{"refreshToken":"`+rt+`"}`)
	if status != http.StatusBadRequest || !strings.Contains(string(body), "[disabled]refreshToken") {
		t.Fatalf("/api/jwt/refresh disabled: %d %s", status, body)
	}

	// The session idles out; the next page refreshes silently, well after
	// the grace period in which a rotated token could still be retried.
	e.clock.Advance(idle + time.Minute)
	mark := e.rec.mark()
	if r := b.get(e.store("/shopping-cart")); r.Status != http.StatusOK {
		t.Fatalf("AUD-5: the browser was signed out after refused refreshes: %d %s", r.Status, r.Location)
	}
	if calls := refreshCalls(e.rec.since(mark)); len(calls) != 1 || calls[0].Status != http.StatusOK {
		t.Fatalf("silent refresh: %+v", calls)
	}
	if n := e.families(aliceID, st.ID); n != 1 {
		t.Fatalf("AUD-5: %d Store families, want 1 (none revoked)", n)
	}
	if r := phone.get(e.forums("/posts")); r.Status != http.StatusOK {
		t.Fatalf("AUD-5: the phone at the forums was signed out: %d", r.Status)
	}
}

// TestAUD7_RevocationReachesAccessTokens: after "sign out everywhere",
// a global logout or reuse detection, an access token captured before is
// refused by validate, userinfo and introspect, though it has not expired
// (AUD-7, IDP-REV-2).
func TestAUD7_RevocationReachesAccessTokens(t *testing.T) {
	t.Run("sign out everywhere", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser("alice-laptop")
		alice, _ := e.user(0)
		at, _ := e.storeLoginTokens(b, alice)
		e.wantTokenAccepted("before", at, true)
		e.clock.Advance(time.Second)
		if r := b.post(e.store("/sessions"), url.Values{"action": {"end-all"}, "confirm": {"yes"}}); r.Status != http.StatusSeeOther {
			t.Fatalf("end-all: %d", r.Status)
		}
		e.wantTokenAccepted("AUD-7: captured access token after sign-out everywhere", at, false)
		// Signing in again afterwards gives a token that works.
		e.clock.Advance(time.Second)
		at2, _ := e.storeLoginTokens(e.browser("alice-again"), alice)
		e.wantTokenAccepted("access token issued after the revocation", at2, true)
	})
	t.Run("revoke all by the admin API", func(t *testing.T) {
		e := newEnv(t)
		alice, aliceID := e.user(0)
		at, _ := e.storeLoginTokens(e.browser("alice-laptop"), alice)
		e.clock.Advance(time.Second)
		if status, body := e.idpDo(http.MethodDelete, "/api/jwt/refresh?userId="+aliceID, "", "", "Authorization", e.info.APIKey); status != http.StatusOK {
			t.Fatalf("DELETE /api/jwt/refresh: %d %s", status, body)
		}
		e.wantTokenAccepted("AUD-7: captured access token after revoke-all", at, false)
	})
	t.Run("global logout", func(t *testing.T) {
		e := newEnv(t)
		alice, _ := e.user(0)
		at, rt := e.storeLoginTokens(e.browser("alice-laptop"), alice)
		e.clock.Advance(time.Second)
		if status, _ := e.idpDo(http.MethodPost, "/api/logout", "application/json", `{"global":true,"refreshToken":"`+rt+`"}`); status != http.StatusOK {
			t.Fatalf("logout: %d", status)
		}
		e.wantTokenAccepted("AUD-7: captured access token after global logout", at, false)
	})
	t.Run("reuse detection", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser("alice-laptop")
		alice, _ := e.user(0)
		at, rt := e.storeLoginTokens(b, alice)
		// The browser's session idles out and refreshes: rt is retired.
		e.clock.Advance(idle + time.Minute)
		if r := b.get(e.store("/shopping-cart")); r.Status != http.StatusOK {
			t.Fatalf("silent refresh: %d", r.Status)
		}
		// Past the grace period, the thief replays the captured refresh
		// token: reuse.
		e.clock.Advance(time.Minute)
		st := e.info.Applications.Store
		status, _ := e.idpForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {st.ID}, "client_secret": {st.Secret}})
		if status != http.StatusBadRequest {
			t.Fatalf("replayed refresh token: %d", status)
		}
		// 12 minutes in, the captured access token (15 min) has not expired.
		e.wantTokenAccepted("AUD-7: captured access token after reuse detection", at, false)
	})
}

// TestAUD11_IDTokenIsNotAnAccessToken: an id_token the IdP issued to the
// Store (same key, issuer and audience as its access tokens) is refused
// wherever an access token is expected: validate, userinfo, introspect
// and the app kit's verifier (AUD-11, RFC 9068).
func TestAUD11_IDTokenIsNotAnAccessToken(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.user(0)
	st := e.info.Applications.Store
	status, body := e.idpForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {alice.Email},
		"password": {alice.Password}, "client_id": {st.ID}, "client_secret": {st.Secret}, "scope": {"openid offline_access"}})
	at, idt := jsonField(body, "access_token"), jsonField(body, "id_token")
	if status != http.StatusOK || at == "" || idt == "" {
		t.Fatalf("login with openid: %d %s", status, body)
	}
	e.wantTokenAccepted("access token", at, true)
	e.wantTokenAccepted("AUD-11: id_token", idt, false)

	c, err := idpclient.New(idpclient.Config{BaseURL: e.info.IdP, ClientID: st.ID, ClientSecret: st.Secret, Timeout: 5 * time.Second,
		Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(e.ctx, at); err != nil {
		t.Fatalf("app kit verifier refused the access token: %v", err)
	}
	if _, err := c.Verify(e.ctx, idt); !errors.Is(err, idpclient.ErrInvalidToken) {
		t.Fatalf("AUD-11: the app kit's verifier accepted an id_token: %v", err)
	}
}
