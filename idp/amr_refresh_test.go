package idp_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Refreshed tokens keep the login's amr (compat §16): the refresh-token
// family stores it, and both refresh paths mint with it.

// refreshBothWays refreshes rt with the refresh_token grant, then the
// token it got with POST /api/jwt/refresh, and returns the amr claim of
// each new access token (and of the grant's id_token, "" without one).
func (f *fixture) refreshBothWays(rt string) (grant, grantID, api string) {
	f.t.Helper()
	r := f.refresh(rt)
	if r.status != http.StatusOK {
		f.t.Fatalf("refresh grant: %d %s", r.status, r.body)
	}
	m := r.json(f.t)
	grant = amrOf(f.t, m["access_token"].(string))
	if id, ok := m["id_token"].(string); ok {
		grantID = amrOf(f.t, id)
	}
	r = f.jwtRefresh(`{"refreshToken":"`+m["refresh_token"].(string)+`"}`, "")
	if r.status != http.StatusOK {
		f.t.Fatalf("POST /api/jwt/refresh: %d %s", r.status, r.body)
	}
	api = amrOf(f.t, r.json(f.t)["token"].(string))
	return grant, grantID, api
}

// amrOf is tok's amr claim as fmt.Sprint prints it, or "absent".
func amrOf(t testing.TB, tok string) string {
	t.Helper()
	v, ok := claims(t, tok)["amr"]
	if !ok {
		return "absent"
	}
	return fmt.Sprint(v)
}

// TestRefreshKeepsAMRAfterTwoFactorLogin: the family of a two-factor login
// stores ["pwd","otp","mfa"] and every refresh, on either path, says so.
func TestRefreshKeepsAMRAfterTwoFactorLogin(t *testing.T) {
	f := newMFAFixture(t)
	f.nextStep()
	_, tf := f.mustTwoFactorRequired("scope", "offline_access openid")
	lr := f.mustTwoFactorLogin(tf.id, f.code(), false)
	fam, err := f.idp.Store.GetRefreshToken(context.Background(), lr.RefreshTokenID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fam.AMR, []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("stored family AMR = %v, want [pwd otp mfa]", fam.AMR)
	}
	grant, grantID, api := f.refreshBothWays(lr.RefreshToken)
	if grant != "[pwd otp mfa]" || grantID != "[pwd otp mfa]" || api != "[pwd otp mfa]" {
		t.Fatalf("refreshed amr: grant access %s, grant id_token %s, /api/jwt/refresh %s; want [pwd otp mfa]", grant, grantID, api)
	}
}

// TestRefreshKeepsAMRAfterPasswordLogin: a password-only login's refreshes
// say ["pwd"].
func TestRefreshKeepsAMRAfterPasswordLogin(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	if grant, _, api := f.refreshBothWays(rt); grant != "[pwd]" || api != "[pwd]" {
		t.Fatalf("refreshed amr: grant %s, /api/jwt/refresh %s; want [pwd]", grant, api)
	}
}

// TestRefreshKeepsAMRAfterPasskeyLogin: a passkey login's refreshes say
// what the login said.
func TestRefreshKeepsAMRAfterPasskeyLogin(t *testing.T) {
	w := newWAFixture(t)
	lr := w.mustLogin(w.key, "")
	if grant, _, api := w.refreshBothWays(lr.RefreshToken); grant != "[hwk user mfa]" || api != "[hwk user mfa]" {
		t.Fatalf("refreshed amr: grant %s, /api/jwt/refresh %s; want [hwk user mfa]", grant, api)
	}
}

// TestRefreshOfFamilyWithoutAMR: a family stored before amr was (AMR nil)
// still refreshes on both paths; its tokens carry no amr.
func TestRefreshOfFamilyWithoutAMR(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(tok))
	now := f.clock.Now()
	err := f.idp.Store.CreateRefreshToken(context.Background(), &store.RefreshToken{
		ID: uuid.NewString(), UserID: f.userID, ApplicationID: f.clientID, TokenHash: h[:],
		Scopes: []string{"offline_access"}, CreatedAt: now, StartAt: now, ExpiresAt: now.Add(time.Hour),
		AuthTime: now, Grants: []string{"password"}, LastUsedAt: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if grant, _, api := f.refreshBothWays(tok); grant != "absent" || api != "absent" {
		t.Fatalf("refreshed amr of a family without one: grant %s, /api/jwt/refresh %s; want absent", grant, api)
	}
}
