package idp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
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
