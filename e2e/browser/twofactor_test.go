package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpCode is the authenticator's code for secret on the demo's clock;
// the clock then moves to the next 30 s step (the IdP takes a code once
// per step), so no test waits for real time.
func (e *env) totpCode(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCodeCustom(secret, e.clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		e.t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)
	return c
}

// secondStep submits the password on the Store's login page and expects
// the code form.
func (e *env) secondStep(b *browser, shot string) {
	e.t.Helper()
	b.open(e.store+"/login", shot+"-login")
	b.submitLogin(e.user.Email, e.user.Password, shot)
	if h := b.text("main h1"); h != "Enter your code" {
		e.t.Fatalf("after the password: heading %q (at %s)", h, b.location())
	}
	if got := b.text(`label[for="code"]`); got != "Code" {
		e.t.Errorf("code label %q", got)
	}
	if ac := eval[string](b, `document.getElementById("code").getAttribute("autocomplete")`); ac != "one-time-code" {
		e.t.Errorf("code autocomplete %q", ac)
	}
}

// TestMFA_Browser_AuthenticatorApp: the user sets up an authenticator on
// the Store's account page (QR code and key; the test reads the key from
// the page and computes the codes), keeps the recovery codes, then signs
// in again with a wrong code (a generic error), a right
// code, a recovery code, and with "trust this browser", after which the
// password alone signs that browser in. Every page passes the axe check.
func TestMFA_Browser_AuthenticatorApp(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	b.open(e.store+"/account", "mfa-account-off")
	b.click(`#tf-setup`, "mfa-setup-qr")
	if n := b.count(`.qr svg path`); n != 1 {
		t.Fatalf("QR code paths: %d", n)
	}
	secret := strings.ReplaceAll(b.text("#totp-secret"), " ", "")
	if len(secret) < 26 {
		t.Fatalf("secret on the page %q", secret)
	}
	b.fill("#tf-code", "000000")
	b.click(`form[action="/account/two-factor/enable"] button`, "mfa-setup-wrong-code")
	if got := b.text("#tf-error"); !strings.Contains(got, "did not work") {
		t.Fatalf("wrong setup code error %q", got)
	}
	b.fill("#tf-code", e.totpCode(secret))
	b.click(`form[action="/account/two-factor/enable"] button`, "mfa-recovery-codes")
	codes := eval[[]string](b, `Array.from(document.querySelectorAll("#recovery-codes code")).map(c => c.innerText)`)
	if len(codes) != 10 {
		t.Fatalf("recovery codes shown: %v", codes)
	}
	// A reload re-posts the confirmation: it leads to the account page,
	// which does not show the codes again.
	noCodes := func(page string) {
		t.Helper()
		if n := b.count("#recovery-codes"); n != 0 {
			t.Errorf("the recovery codes are shown again %s", page)
		}
		if n := b.count(".alert:not([hidden])"); n != 0 {
			t.Errorf("an error %s: %q", page, b.text(".alert:not([hidden])"))
		}
	}
	b.reload("mfa-account-reload")
	noCodes("after the reload")
	b.open(e.store+"/account", "mfa-account-on")
	noCodes("on the account page")

	// The same browser (one Chromium, one screenshot folder) signs out and
	// in again.
	p := b
	p.click(`header form[action="/logout"] button`, "mfa-logout-0")
	// A wrong code: a generic error, the form again.
	e.secondStep(p, "mfa-second-step")
	p.fill("#code", "000000")
	p.click(`main form button[type="submit"]`, "mfa-wrong-code")
	if got := p.text("#code-error"); !strings.Contains(got, "did not work") {
		t.Fatalf("wrong code error %q", got)
	}
	// The right code.
	p.fill("#code", e.totpCode(secret))
	p.click(`main form button[type="submit"]`, "mfa-signed-in-code")
	p.wantSignedIn(e.user.Email)
	p.open(e.store+"/account", "mfa-account-amr")
	if got := p.text("#signed-in-with"); !strings.Contains(got, "password and authenticator app") {
		t.Errorf("account page says %q", got)
	}
	p.click(`header form[action="/logout"] button`, "mfa-logout-1")

	// A recovery code.
	e.secondStep(p, "mfa-second-step-recovery")
	p.fill("#code", codes[0])
	p.click(`main form button[type="submit"]`, "mfa-signed-in-recovery")
	p.wantSignedIn(e.user.Email)
	p.click(`header form[action="/logout"] button`, "mfa-logout-2")

	// Trust this browser: the next login needs only the password.
	e.secondStep(p, "mfa-second-step-trust")
	p.fill("#code", e.totpCode(secret))
	p.do("tick trust", chromedp.Click(chromedp.CSS("#trust")))
	p.click(`main form button[type="submit"]`, "mfa-signed-in-trusted")
	p.wantSignedIn(e.user.Email)
	if c := p.cookies(e.store)["store-trust"]; c == nil || !c.HTTPOnly {
		t.Fatalf("trust cookie %+v", c)
	}
	p.click(`header form[action="/logout"] button`, "mfa-logout-3")
	p.open(e.store+"/login", "mfa-trusted-login")
	p.submitLogin(e.user.Email, e.user.Password, "mfa-trusted-signed-in")
	p.wantSignedIn(e.user.Email)
}
