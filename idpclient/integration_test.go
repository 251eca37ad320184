package idpclient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

const pw = "integration-password-long-enough"

func newClient(t *testing.T, i *idptest.IdP, id, secret string, mod func(*idpclient.Config)) *idpclient.Client {
	t.Helper()
	cfg := idpclient.Config{BaseURL: i.URL, ClientID: id, ClientSecret: secret, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := idpclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAgainstRealIdP runs every call against the Gatehouse IdP: login,
// verification (issuer from discovery, JWKS), refresh by both methods with
// rotation, revocation, and the error kinds each failure maps to.
func TestAgainstRealIdP(t *testing.T) {
	ctx := context.Background()
	i := idptest.Start(t)
	storeID, storeSecret := i.CreateApp(t, idptest.AppOptions{Name: "store"})
	forumID, forumSecret := i.CreateApp(t, idptest.AppOptions{Name: "forums"})
	userID := i.CreateUser(t, "ann@example.com", pw, storeID, forumID)

	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		for _, m := range []idpclient.RefreshMethod{idpclient.RefreshOAuth2, idpclient.RefreshJWT} {
			c := newClient(t, i, storeID, storeSecret, func(c *idpclient.Config) { c.AuthStyle = style; c.RefreshMethod = m })
			tok, err := c.PasswordLogin(ctx, "ann@example.com", pw, "203.0.113.9")
			if err != nil {
				t.Fatalf("%v/%s login: %v", style, m, err)
			}
			if tok.Claims.Subject != userID || tok.Claims.Email != "ann@example.com" || tok.RefreshToken == "" ||
				tok.Claims.AuthTime.IsZero() || tok.Claims.Audience[0] != storeID {
				t.Fatalf("tokens: %+v", tok.Claims)
			}
			next, err := c.Refresh(ctx, tok.RefreshToken, "203.0.113.9")
			if err != nil {
				t.Fatalf("%v/%s refresh: %v", style, m, err)
			}
			if next.RefreshToken == tok.RefreshToken {
				t.Errorf("%s: one-time-use token not rotated", m)
			}
			// APP-REF-5: auth_time survives the refresh.
			if !next.Claims.AuthTime.Equal(tok.Claims.AuthTime) {
				t.Errorf("%s: auth_time %v -> %v", m, tok.Claims.AuthTime, next.Claims.AuthTime)
			}
			// Revoke, then the token is dead by either method.
			if err := c.Revoke(ctx, next.RefreshToken); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if _, err := c.Refresh(ctx, next.RefreshToken, ""); !errors.Is(err, idpclient.ErrRefreshTokenDead) {
				t.Fatalf("%s refresh after revoke: %v", m, err)
			}
		}
	}

	store := newClient(t, i, storeID, storeSecret, nil)
	forum := newClient(t, i, forumID, forumSecret, nil)
	tok, err := store.PasswordLogin(ctx, "ann@example.com", pw, "")
	if err != nil {
		t.Fatal(err)
	}
	// IDP-TOK-3: the forum rejects the store's token (aud).
	if _, err := forum.Verify(ctx, tok.AccessToken); !errors.Is(err, idpclient.ErrInvalidToken) {
		t.Errorf("forum verified a store token: %v", err)
	}
	// IDP-RT-3: the forum cannot redeem the store's refresh token.
	if _, err := forum.Refresh(ctx, tok.RefreshToken, ""); !errors.Is(err, idpclient.ErrRefreshTokenDead) {
		t.Errorf("forum refreshed a store token: %v", err)
	}

	// Error kinds from the real server.
	if _, err := store.PasswordLogin(ctx, "ann@example.com", "wrong-password-wrong", ""); !errors.Is(err, idpclient.ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if _, err := store.PasswordLogin(ctx, "nobody@example.com", "wrong-password-wrong", ""); !errors.Is(err, idpclient.ErrInvalidCredentials) {
		t.Errorf("unknown user: %v", err)
	}
	bad := newClient(t, i, storeID, "not-the-secret", nil)
	if _, err := bad.PasswordLogin(ctx, "ann@example.com", pw, ""); !errors.Is(err, idpclient.ErrRejected) {
		t.Errorf("wrong client secret: %v", err)
	}
	for _, m := range []idpclient.RefreshMethod{idpclient.RefreshOAuth2, idpclient.RefreshJWT} {
		c := newClient(t, i, storeID, storeSecret, func(c *idpclient.Config) { c.RefreshMethod = m })
		if _, err := c.Refresh(ctx, "no-such-refresh-token", ""); !errors.Is(err, idpclient.ErrRefreshTokenDead) {
			t.Errorf("%s unknown token: %v", m, err)
		}
	}

	// RevokeUser / RevokeRefreshTokenID need the API key.
	admin := newClient(t, i, storeID, storeSecret, func(c *idpclient.Config) { c.APIKey = i.APIKey })
	t1, _ := admin.PasswordLogin(ctx, "ann@example.com", pw, "")
	t2, _ := admin.PasswordLogin(ctx, "ann@example.com", pw, "")
	if err := admin.RevokeRefreshTokenID(ctx, t1.RefreshTokenID); err != nil {
		t.Fatalf("revoke by id: %v", err)
	}
	if _, err := admin.Refresh(ctx, t1.RefreshToken, ""); !errors.Is(err, idpclient.ErrRefreshTokenDead) {
		t.Errorf("token revoked by id still refreshes: %v", err)
	}
	if err := admin.RevokeUser(ctx, userID); err != nil {
		t.Fatalf("revoke user: %v", err)
	}
	if _, err := admin.Refresh(ctx, t2.RefreshToken, ""); !errors.Is(err, idpclient.ErrRefreshTokenDead) {
		t.Errorf("token survives RevokeUser: %v", err)
	}

	// Lockout: inside the delay the right password reads as wrong
	// (AUD-2), except with the device token of an earlier login (AUD-1).
	first, err := store.PasswordLoginDevice(ctx, "ann@example.com", pw, "", "")
	if err != nil || first.DeviceToken == "" {
		t.Fatalf("login: %v, device token %q", err, first.DeviceToken)
	}
	for range 5 {
		_, _ = store.PasswordLogin(ctx, "ann@example.com", "wrong-password-wrong", "")
	}
	if _, err := store.PasswordLogin(ctx, "ann@example.com", pw, ""); !errors.Is(err, idpclient.ErrInvalidCredentials) {
		t.Errorf("delayed account: %v", err)
	}
	again, err := store.PasswordLoginDevice(ctx, "ann@example.com", pw, "", first.DeviceToken)
	if err != nil {
		t.Fatalf("login with the device token during the delay: %v", err)
	}
	if again.DeviceToken == "" {
		t.Error("no renewed device token")
	}

	// IdP down: ErrUnavailable.
	i.Stop()
	if _, err := store.PasswordLogin(ctx, "ann@example.com", pw, ""); !errors.Is(err, idpclient.ErrUnavailable) {
		t.Errorf("IdP down: %v", err)
	}
}
