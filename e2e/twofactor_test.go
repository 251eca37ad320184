package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The authenticator app over HTTP against the real demo (issue 12). The
// demo runs on the test's fake clock, so the tests move to the next 30 s
// step after every code (the IdP takes a code once per step) instead of
// waiting.

var (
	e2eSecretRe   = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)
	e2eRecoveryRe = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
)

// totpCode is the authenticator's code now; the clock then moves one step.
func (e *env) totpCode(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, e.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)
	return c
}

// enrolStore turns the authenticator on from the Store's account page of
// a signed-in browser: the secret is read from the page (the QR code is
// inline SVG next to it); it returns the secret and the recovery codes.
func (e *env) enrolStore(b *browser) (string, []string) {
	t := e.t
	t.Helper()
	if r := b.post(e.store("/account/two-factor/setup"), url.Values{}); r.Status != 303 {
		t.Fatalf("setup: %d %s", r.Status, r.Body)
	}
	page := b.get(e.store("/account"))
	m := e2eSecretRe.FindStringSubmatch(page.Body)
	if m == nil || !strings.Contains(page.Body, "<svg") {
		t.Fatalf("no secret and QR code on the account page:\n%s", page.Body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	r := b.post(e.store("/account/two-factor/enable"), url.Values{"code": {e.totpCode(secret)}})
	var codes []string
	for _, c := range e2eRecoveryRe.FindAllStringSubmatch(r.Body, -1) {
		codes = append(codes, c[1])
	}
	if r.Status != 200 || len(codes) != 10 {
		t.Fatalf("enable: %d with %d recovery codes\n%s", r.Status, len(codes), r.Body)
	}
	return secret, codes
}

// passwordStep posts the password at app and expects the second step.
func passwordStep(t *testing.T, b *browser, app, email, pw string) {
	t.Helper()
	r := b.post(app+"/login", url.Values{"email": {email}, "password": {pw}})
	if r.Status != 200 || !strings.Contains(r.Body, `name="code"`) || !strings.Contains(r.Body, `action="/login/two-factor"`) {
		t.Fatalf("%s: password of an MFA user at %s: %d\n%s", b.name, app, r.Status, r.Body)
	}
}

// TestMFA_E2E_StoreAndForums: alice turns the authenticator on in the
// Store; the Store then signs her in with a code, with a recovery code
// (once), and skips the step in a browser she trusted until she signs out
// everywhere; the Forums, a separate app, asks its own second step.
func TestMFA_E2E_StoreAndForums(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.user(0)
	laptop := e.browser("laptop")
	laptop.login(e.info.Store, alice, "/shopping-cart")
	secret, codes := e.enrolStore(laptop)
	mustContain(t, "account page", laptop.get(e.store("/account")), 200, "10</span> recovery codes left")

	// A code.
	phone := e.browser("phone")
	passwordStep(t, phone, e.info.Store, alice.Email, alice.Password)
	mustContain(t, "wrong code", phone.post(e.store("/login/two-factor"), url.Values{"code": {"000000"}}), 401, "did not work")
	r := phone.post(e.store("/login/two-factor"), url.Values{"code": {e.totpCode(secret)}})
	if r.Status != 303 || r.Location != "/shopping-cart" || phone.cookie(e.info.Store, "store-sid") == "" || phone.cookie(e.info.Store, "store-rt") == "" {
		t.Fatalf("code: %d %q", r.Status, r.Location)
	}
	mustContain(t, "amr", phone.get(e.store("/account")), 200, "Signed in with password and authenticator app")

	// The Forums asks its own second step, with its own code.
	passwordStep(t, phone, e.info.Forums, alice.Email, alice.Password)
	if r := phone.post(e.forums("/login/two-factor"), url.Values{"code": {e.totpCode(secret)}}); r.Status != 303 || r.Location != "/posts" {
		t.Fatalf("Forums code: %d %q", r.Status, r.Location)
	}

	// A recovery code, once.
	tablet := e.browser("tablet")
	passwordStep(t, tablet, e.info.Store, alice.Email, alice.Password)
	if r := tablet.post(e.store("/login/two-factor"), url.Values{"code": {codes[3]}}); r.Status != 303 {
		t.Fatalf("recovery code: %d", r.Status)
	}
	other := e.browser("other")
	passwordStep(t, other, e.info.Store, alice.Email, alice.Password)
	mustContain(t, "used recovery code", other.post(e.store("/login/two-factor"), url.Values{"code": {codes[3]}}), 401, "did not work")
	mustContain(t, "recovery codes left", tablet.get(e.store("/account")), 200, "9</span> recovery codes left")

	// Trust this browser: the next Store login skips the step (not the
	// Forums'); sign-out everywhere ends the trust.
	home := e.browser("home")
	passwordStep(t, home, e.info.Store, alice.Email, alice.Password)
	r = home.post(e.store("/login/two-factor"), url.Values{"code": {e.totpCode(secret)}, "trust": {"yes"}})
	if r.Status != 303 || home.cookie(e.info.Store, "store-trust") == "" {
		t.Fatalf("trust: %d", r.Status)
	}
	if c := r.setCookie("store-trust"); c == nil || !c.HttpOnly || c.MaxAge != 30*24*3600 {
		t.Fatalf("trust cookie %+v", c)
	}
	if r := home.post(e.store("/logout"), url.Values{}); r.Status != 303 {
		t.Fatalf("logout: %d", r.Status)
	}
	home.login(e.info.Store, alice, "/shopping-cart")
	passwordStep(t, home, e.info.Forums, alice.Email, alice.Password)
	if r := home.post(e.store("/sessions"), url.Values{"action": {"end-all"}, "confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("sign out everywhere: %d %s", r.Status, r.Body)
	}
	if home.cookie(e.info.Store, "store-trust") != "" {
		t.Fatal("sign-out everywhere left the trust cookie")
	}
	passwordStep(t, home, e.info.Store, alice.Email, alice.Password)

	if r := home.post(e.store("/login/two-factor"), url.Values{"code": {e.totpCode(secret)}}); r.Status != 303 {
		t.Fatalf("code after sign-out everywhere: %d", r.Status)
	}

	// Turning it off needs a code; then the password alone signs in.
	mustContain(t, "disable, wrong code", home.post(e.store("/account/two-factor/disable"), url.Values{"code": {"000000"}}), 403, "did not work")
	if r := home.post(e.store("/account/two-factor/disable"), url.Values{"code": {e.totpCode(secret)}}); r.Status != 303 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	e.browser("after").login(e.info.Store, alice, "/shopping-cart")
}

// TestMFA_E2E_StepExpires: a second step older than five minutes sends the
// browser back to the login form with a clear message.
func TestMFA_E2E_StepExpires(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.user(0)
	laptop := e.browser("laptop")
	laptop.login(e.info.Store, alice, "/shopping-cart")
	secret, _ := e.enrolStore(laptop)
	b := e.browser("slow")
	passwordStep(t, b, e.info.Store, alice.Email, alice.Password)
	e.clock.Advance(6 * time.Minute)
	r := b.post(e.store("/login/two-factor"), url.Values{"code": {e.totpCode(secret)}})
	mustContain(t, "expired step", r, http.StatusUnauthorized, "sign in again")
	if b.cookie(e.info.Store, "store-sid") != "" {
		t.Fatal("an expired step signed in")
	}
}
