package idpclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/internal/softpasskey"
)

// TestPasskeysAgainstRealIdP runs the passkey calls against the Gatehouse
// IdP with an API key holding exactly APIKeyPermissions, a software
// authenticator playing the browser: registration, discoverable and
// login-id logins with their tokens, list, rename, delete, and the error
// kinds (replayed assertion, foreign origin, removed passkey).
func TestPasskeysAgainstRealIdP(t *testing.T) {
	ctx := context.Background()
	const origin = "https://store.example"
	i := idptest.Start(t)
	appID, secret := i.CreateApp(t, idptest.AppOptions{Name: "store", WebAuthnRelyingPartyID: "store.example",
		WebAuthnOrigins: []string{origin}})
	userID := i.CreateUser(t, "ann@example.com", pw, appID)
	key, _, err := i.Server.Admin().CreateScopedAPIKey(ctx, "store app", store.APIKeyPermissions{Endpoints: idpclient.APIKeyPermissions()})
	if err != nil {
		t.Fatalf("the IdP refuses APIKeyPermissions: %v", err)
	}
	c := newClient(t, i, appID, secret, func(c *idpclient.Config) { c.APIKey = key })
	k := softpasskey.New(origin)

	opts, err := c.StartPasskeyRegistration(ctx, userID, "Laptop", "203.0.113.9")
	if err != nil || !strings.Contains(string(opts), `"challenge"`) || strings.Contains(string(opts), `"options"`) {
		t.Fatalf("start registration: %s %v", opts, err)
	}
	cred, err := k.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CompletePasskeyRegistration(ctx, userID, cred, origin); err != nil {
		t.Fatalf("complete registration: %v", err)
	}
	if err := c.CompletePasskeyRegistration(ctx, userID, cred, origin); !errors.Is(err, idpclient.ErrPasskeyExpired) {
		t.Fatalf("replayed registration: %v, want ErrPasskeyExpired", err)
	}

	login := func(loginID string) (json.RawMessage, error) {
		opts, err := c.StartPasskeyLogin(ctx, loginID, "203.0.113.9")
		if err != nil {
			t.Fatalf("start login: %v", err)
		}
		return k.Assert(opts)
	}
	as, err := login("")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.PasskeyLogin(ctx, as, origin, "203.0.113.9")
	if err != nil || tok.Claims.Subject != userID || tok.RefreshToken == "" || tok.DeviceToken == "" ||
		fmt.Sprint(tok.Claims.AMR) != "[hwk user mfa]" {
		t.Fatalf("passkey login: %+v %v", tok, err)
	}
	if _, err := c.Refresh(ctx, tok.RefreshToken, "203.0.113.9"); err != nil {
		t.Fatalf("refresh after a passkey login: %v", err)
	}
	if _, err := c.PasskeyLogin(ctx, as, origin, ""); !errors.Is(err, idpclient.ErrPasskeyExpired) {
		t.Fatalf("replayed assertion: %v, want ErrPasskeyExpired", err)
	}
	// A login id is sent: its options list the user's passkey; without
	// one (discoverable) they list none.
	for _, tt := range []struct {
		loginID string
		want    int
	}{{"", 0}, {"ann@example.com", 1}} {
		opts, err := c.StartPasskeyLogin(ctx, tt.loginID, "203.0.113.9")
		var o struct {
			AllowCredentials []json.RawMessage `json:"allowCredentials"`
		}
		if err != nil || json.Unmarshal(opts, &o) != nil || len(o.AllowCredentials) != tt.want {
			t.Fatalf("options for login id %q: %s %v", tt.loginID, opts, err)
		}
	}
	if as, err = login("ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PasskeyLogin(ctx, as, "https://store-example.evil", ""); !errors.Is(err, idpclient.ErrPasskeyRejected) {
		t.Fatalf("foreign origin: %v, want ErrPasskeyRejected", err)
	}

	pks, err := c.ListPasskeys(ctx, userID)
	if err != nil || len(pks) != 1 || pks[0].Name != "Laptop" || pks[0].ID == "" || pks[0].LastUsedAt.Before(pks[0].CreatedAt) {
		t.Fatalf("list: %+v %v", pks, err)
	}
	if err := c.RenamePasskey(ctx, userID, pks[0].ID, "Work laptop"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if err := c.RenamePasskey(ctx, userID, pks[0].ID, ""); !errors.Is(err, idpclient.ErrPasskeyRejected) {
		t.Fatalf("rename to nothing: %v", err)
	}
	if pks, err = c.ListPasskeys(ctx, userID); err != nil || pks[0].Name != "Work laptop" {
		t.Fatalf("list after rename: %+v %v", pks, err)
	}
	if as, err = login(""); err != nil {
		t.Fatal(err)
	}
	if err := c.DeletePasskey(ctx, userID, pks[0].ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := c.DeletePasskey(ctx, userID, pks[0].ID); !errors.Is(err, idpclient.ErrPasskeyNotFound) {
		t.Fatalf("delete again: %v, want ErrPasskeyNotFound", err)
	}
	if _, err := c.PasskeyLogin(ctx, as, origin, ""); !errors.Is(err, idpclient.ErrPasskeyRejected) {
		t.Fatalf("removed passkey: %v, want ErrPasskeyRejected", err)
	}
	if pks, err = c.ListPasskeys(ctx, userID); err != nil || len(pks) != 0 {
		t.Fatalf("list after delete: %+v %v", pks, err)
	}
}

// TestPasskeyStartsForwardClientIP: both starts forward the browser's
// address, so the IdP's per-IP ceremony bucket (WA-9) counts browsers,
// not the app: one browser past its burst gets ErrThrottled (its 429)
// while another still starts.
func TestPasskeyStartsForwardClientIP(t *testing.T) {
	ctx := context.Background()
	i := idptest.StartConfig(t, idp.Config{Throttle: idp.ThrottlePolicy{CeremonyBurst: 2, CeremonyEvery: time.Hour}})
	appID, secret := i.CreateApp(t, idptest.AppOptions{Name: "store", WebAuthnRelyingPartyID: "store.example",
		WebAuthnOrigins: []string{"https://store.example"}})
	userID := i.CreateUser(t, "ann@example.com", "correct-horse-battery-staple-9", appID)
	c := newClient(t, i, appID, secret, func(c *idpclient.Config) { c.APIKey = i.APIKey })

	if _, err := c.StartPasskeyLogin(ctx, "", "198.51.100.7"); err != nil {
		t.Fatalf("login start: %v", err)
	}
	if _, err := c.StartPasskeyRegistration(ctx, userID, "Laptop", "198.51.100.7"); err != nil {
		t.Fatalf("registration start: %v", err)
	}
	_, err := c.StartPasskeyLogin(ctx, "", "198.51.100.7")
	var e *idpclient.Error
	if !errors.Is(err, idpclient.ErrThrottled) || !errors.As(err, &e) || e.StatusCode != 429 || e.Code != "[TooManyRequests]" {
		t.Fatalf("login start past the burst: %v, want ErrThrottled 429 [TooManyRequests]", err)
	}
	if _, err := c.StartPasskeyRegistration(ctx, userID, "Laptop", "198.51.100.7"); !errors.Is(err, idpclient.ErrThrottled) {
		t.Fatalf("registration start past the burst: %v, want ErrThrottled", err)
	}
	if _, err := c.StartPasskeyLogin(ctx, "", "203.0.113.9"); err != nil {
		t.Fatalf("another browser: %v", err)
	}
}
