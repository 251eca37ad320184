package idp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// NewAdmin with only a store fills in the documented defaults (hasher,
// logger, clock): the admin CLI's operations work on a zero config.
func TestNewAdminZeroConfigDefaults(t *testing.T) {
	ctx := context.Background()
	adm, err := idp.NewAdmin(idp.AdminConfig{Store: openSQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := adm.CreateUser(ctx, idp.UserSpec{Email: "ann@example.com", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if u.CreatedAt.IsZero() {
		t.Error("no clock: CreatedAt is zero")
	}
	if err := adm.UnlockUser(ctx, u.ID); err != nil { // logs through the default logger
		t.Fatal(err)
	}
}

// AUD-15: an application id that is not a UUID is a field error, not a
// stored row or a 500.
func TestAUD15_ApplicationIDMustBeUUID(t *testing.T) {
	ctx := context.Background()
	adm, err := idp.NewAdmin(idp.AdminConfig{Store: openSQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = adm.CreateApplication(ctx, idp.ApplicationSpec{ID: "not-a-uuid", Name: "Store"})
	var ve *idp.ValidationError
	if !errors.As(err, &ve) || ve.Field != "id" {
		t.Fatalf("application id not-a-uuid: %v, want a field error on id", err)
	}
}

// AUD-15: an application's grace period is 0 to 86400 seconds, both ends
// included; anything outside is a field error.
func TestAUD15_GracePeriodRange(t *testing.T) {
	ctx := context.Background()
	adm, err := idp.NewAdmin(idp.AdminConfig{Store: openSQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		secs int
		ok   bool
	}{{-1, false}, {0, true}, {86400, true}, {86401, false}} {
		g := tc.secs
		_, _, err := adm.CreateApplication(ctx, idp.ApplicationSpec{Name: "app", Config: store.ApplicationConfig{
			EnabledGrants: []string{"refresh_token"}, GracePeriodSeconds: &g}})
		var ve *idp.ValidationError
		if tc.ok && err != nil {
			t.Errorf("grace period %d s refused: %v", g, err)
		}
		if !tc.ok && !errors.As(err, &ve) {
			t.Errorf("grace period %d s: %v, want a field error", g, err)
		}
	}
}

// AUD-15: every application role is a name (not blank, no markup), and a
// user id chosen by the caller must be a UUID.
func TestAUD15_RoleNamesAndUserIDChecked(t *testing.T) {
	ctx := context.Background()
	adm, err := idp.NewAdmin(idp.AdminConfig{Store: openSQLite(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		roles []string
		field string // "" = accepted
	}{
		{[]string{"buyer", " "}, "roles[1]"},
		{[]string{"buyer", "<script>"}, "roles[1]"},
		{[]string{"buyer", "user"}, ""},
	} {
		_, _, err := adm.CreateApplication(ctx, idp.ApplicationSpec{Name: "app", Config: store.ApplicationConfig{
			EnabledGrants: []string{"refresh_token"}, Roles: tc.roles}})
		var ve *idp.ValidationError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("roles %q refused: %v", tc.roles, err)
		case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field):
			t.Errorf("roles %q: %v, want a field error on %s", tc.roles, err, tc.field)
		}
	}
	_, err = adm.CreateUser(ctx, idp.UserSpec{ID: "not-a-uuid", Email: "ann@example.com", Password: testPassword})
	var ve *idp.ValidationError
	if !errors.As(err, &ve) || ve.Field != "id" {
		t.Fatalf("user id not-a-uuid: %v, want a field error on id", err)
	}
}

// AUD-17 (IDP-HASH-6): the IdP's host name (from the issuer) is a context
// word: a new password built from it is refused; the same password is
// fine for an IdP with another name.
func TestAUD17_IssuerHostIsContext(t *testing.T) {
	ctx := context.Background()
	const pw = "pinecone shop login 2026"
	for _, tc := range []struct {
		issuer  string
		refused bool
	}{{"https://login.pinecone-shop.example", true}, {"https://idp.example.org", false}} {
		adm, err := idp.NewAdmin(idp.AdminConfig{Store: openSQLite(t), Issuer: tc.issuer, Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
		if err != nil {
			t.Fatal(err)
		}
		_, err = adm.CreateUser(ctx, idp.UserSpec{Email: "ann@example.com", Password: pw})
		var ve *idp.ValidationError
		if got := errors.As(err, &ve) && ve.Kind == "contextSpecific"; got != tc.refused {
			t.Errorf("issuer %s, password %q: %v, want refused %v", tc.issuer, pw, err, tc.refused)
		}
	}
}

// IDP-REV-3 (AUD-7): the admin's "revoke all" (CLI and embedding code)
// ends the user's refresh tokens as well as the access tokens.
func TestIDP_REV_3_AdminRevokeAllEndsRefreshTokens(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	f.clock.Advance(time.Second)
	if _, err := f.idp.Server.Admin().RevokeUserTokens(context.Background(), f.userID, ""); err != nil {
		t.Fatal(err)
	}
	if l, err := f.idp.Store.ListRefreshTokens(context.Background(), f.userID); err != nil || len(l) != 0 {
		t.Fatalf("after revoke-all: %d refresh-token families (%v)", len(l), err)
	}
	if r := f.refresh(rt); r.status == 200 {
		t.Fatal("the refresh token still works after revoke-all")
	}
}

// AUD-15: a caller-chosen API key needs at least 32 characters; 32 is
// enough.
func TestAUD15_APIKeyLengthBoundary(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	for _, n := range []int{31, 32} {
		r := f.api("POST", "/api/api-key", `{"apiKey":{"key":"`+strings.Repeat("k", n)+`"}}`)
		if ok := r.status == 200; ok != (n >= 32) {
			t.Errorf("API key of %d characters: %d %s", n, r.status, r.body)
		}
	}
}
