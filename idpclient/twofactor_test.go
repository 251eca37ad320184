package idpclient_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// stepClock is a settable clock shared by the IdP and the client.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) next()          { c.mu.Lock(); c.t = c.t.Add(30 * time.Second); c.mu.Unlock() }

// TestTwoFactorAgainstRealIdP runs the second factor's calls against the
// Gatehouse IdP with an API key holding exactly APIKeyPermissions:
// enrolment, the password grant's ErrTwoFactorRequired, TwoFactorLogin
// with its error kinds and trust, the trust id on the next password
// login, recovery codes and disabling.
func TestTwoFactorAgainstRealIdP(t *testing.T) {
	ctx := context.Background()
	clk := &stepClock{t: time.Now()}
	i := idptest.StartConfig(t, idp.Config{Now: clk.Now})
	appID, secret := i.CreateApp(t, idptest.AppOptions{Name: "store"})
	userID := i.CreateUser(t, "ann@example.com", pw, appID)
	perms := idpclient.APIKeyPermissions()
	perms["/api/user"] = []string{"GET"} // TwoFactorStatus; the account calls (issue 11) list it too
	key, _, err := i.Server.Admin().CreateScopedAPIKey(ctx, "store app", store.APIKeyPermissions{Endpoints: perms})
	if err != nil {
		t.Fatalf("the IdP refuses APIKeyPermissions: %v", err)
	}
	c := newClient(t, i, appID, secret, func(c *idpclient.Config) { c.APIKey = key; c.Now = clk.Now })
	code := func(sec string) string {
		s, err := totp.GenerateCodeCustom(sec, clk.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	wrong := func(c string) string {
		if c == "000000" {
			return "111111"
		}
		return "000000"
	}

	st, err := c.TwoFactorStatus(ctx, userID)
	if err != nil || len(st.Methods) != 0 {
		t.Fatalf("status before: %+v %v", st, err)
	}
	sec, err := c.GenerateTwoFactorSecret(ctx)
	if err != nil || len(sec) < 26 {
		t.Fatalf("secret %q: %v", sec, err)
	}
	if _, err := c.EnableTwoFactor(ctx, userID, sec, wrong(code(sec))); !errors.Is(err, idpclient.ErrInvalidCode) {
		t.Fatalf("enable with a wrong code: %v, want ErrInvalidCode", err)
	}
	recovery, err := c.EnableTwoFactor(ctx, userID, sec, code(sec))
	if err != nil || len(recovery) != 10 {
		t.Fatalf("enable: %v %v", recovery, err)
	}
	clk.next()

	// The password grant: ErrTwoFactorRequired with the id and methods.
	_, err = c.PasswordLogin(ctx, "ann@example.com", pw, "203.0.113.9")
	var tf *idpclient.TwoFactorRequired
	if !errors.Is(err, idpclient.ErrTwoFactorRequired) || !errors.As(err, &tf) || tf.TwoFactorID == "" ||
		len(tf.Methods) != 1 || tf.Methods[0].Method != "authenticator" {
		t.Fatalf("password login of an MFA user: %v (%+v)", err, tf)
	}
	if s := err.Error(); len(tf.TwoFactorID) > 0 && strings.Contains(s, tf.TwoFactorID) {
		t.Fatalf("the error text carries the twoFactorId: %s", s)
	}
	if _, _, err := c.TwoFactorLogin(ctx, tf.TwoFactorID, wrong(code(sec)), false, "203.0.113.9"); !errors.Is(err, idpclient.ErrInvalidCode) {
		t.Fatalf("wrong code: %v, want ErrInvalidCode", err)
	}
	tok, trustID, err := c.TwoFactorLogin(ctx, tf.TwoFactorID, code(sec), true, "203.0.113.9")
	if err != nil {
		t.Fatalf("two-factor login: %v", err)
	}
	if tok.Claims.Subject != userID || tok.RefreshToken == "" || tok.DeviceToken == "" || trustID == "" ||
		fmt.Sprint(tok.Claims.AMR) != "[pwd otp mfa]" {
		t.Fatalf("two-factor login answered %+v, trust %q", tok.Claims, trustID)
	}
	if _, err := c.Refresh(ctx, tok.RefreshToken, "203.0.113.9"); err != nil {
		t.Fatalf("refresh after a two-factor login: %v", err)
	}
	if _, _, err := c.TwoFactorLogin(ctx, tf.TwoFactorID, code(sec), false, ""); !errors.Is(err, idpclient.ErrTwoFactorExpired) {
		t.Fatalf("used twoFactorId: %v, want ErrTwoFactorExpired", err)
	}

	// The trust id skips the step; PasswordLoginDevice still asks for it.
	if tok, err := c.PasswordLoginWith(ctx, "ann@example.com", pw, "203.0.113.9",
		idpclient.PasswordLoginOptions{TwoFactorTrustID: trustID, DeviceToken: tok.DeviceToken}); err != nil || tok.DeviceToken == "" {
		t.Fatalf("password login with the trust id: %v", err)
	}
	if _, err := c.PasswordLoginDevice(ctx, "ann@example.com", pw, "203.0.113.9", tok.DeviceToken); !errors.Is(err, idpclient.ErrTwoFactorRequired) {
		t.Fatalf("password login without the trust id: %v", err)
	}

	st, err = c.TwoFactorStatus(ctx, userID)
	if err != nil || len(st.Methods) != 1 || st.RecoveryCodesLeft != 10 {
		t.Fatalf("status: %+v %v", st, err)
	}
	fresh, err := c.RegenerateRecoveryCodes(ctx, userID)
	if err != nil || len(fresh) != 10 || fresh[0] == recovery[0] {
		t.Fatalf("regenerate: %v %v", fresh, err)
	}
	if err := c.DisableTwoFactor(ctx, userID, st.Methods[0].ID, recovery[0]); !errors.Is(err, idpclient.ErrInvalidCode) {
		t.Fatalf("disable with a replaced recovery code: %v, want ErrInvalidCode", err)
	}
	// The methodId is sent: another method's id refuses even a right code.
	if err := c.DisableTwoFactor(ctx, userID, "no-such-method", fresh[1]); err == nil {
		t.Fatal("disable naming another method succeeded")
	}
	if st, err := c.TwoFactorStatus(ctx, userID); err != nil || len(st.Methods) != 1 {
		t.Fatalf("status after a disable naming another method: %+v %v", st, err)
	}
	if err := c.DisableTwoFactor(ctx, userID, st.Methods[0].ID, fresh[0]); err != nil {
		t.Fatalf("disable with a recovery code: %v", err)
	}
	if tok, err := c.PasswordLogin(ctx, "ann@example.com", pw, "203.0.113.9"); err != nil || fmt.Sprint(tok.Claims.AMR) != "[pwd]" {
		t.Fatalf("password login after disable: %v", err)
	}
	// The current password turns it off too (GH); a wrong one is
	// ErrInvalidCredentials.
	clk.next()
	sec, _ = c.GenerateTwoFactorSecret(ctx)
	if _, err := c.EnableTwoFactor(ctx, userID, sec, code(sec)); err != nil {
		t.Fatalf("enable again: %v", err)
	}
	if err := c.DisableTwoFactorWithPassword(ctx, userID, "not the password at all", "203.0.113.9"); !errors.Is(err, idpclient.ErrInvalidCredentials) {
		t.Fatalf("disable with a wrong password: %v, want ErrInvalidCredentials", err)
	}
	if err := c.DisableTwoFactorWithPassword(ctx, userID, pw, "203.0.113.9"); err != nil {
		t.Fatalf("disable with the password: %v", err)
	}
	if _, err := c.PasswordLogin(ctx, "ann@example.com", pw, "203.0.113.9"); err != nil {
		t.Fatalf("password login after disabling with the password: %v", err)
	}
	// Without an API key the enrolment calls fail cleanly.
	bare := newClient(t, i, appID, secret, nil)
	if _, err := bare.GenerateTwoFactorSecret(ctx); !errors.Is(err, idpclient.ErrNoAPIKey) {
		t.Fatalf("no API key: %v", err)
	}
}
