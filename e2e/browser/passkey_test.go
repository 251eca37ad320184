package browser

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-auth/gatehouse/appkit"
)

// addVirtualAuthenticator gives the tab Chromium's virtual authenticator
// (the DevTools WebAuthn domain): a platform passkey device with resident
// keys and user verification that always succeeds, as a phone or laptop
// with a fingerprint reader would.
func (b *browser) addVirtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// credentials are the passkeys the virtual authenticator holds.
func (b *browser) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// clickScript clicks sel, whose handler (the passkey script) navigates
// by itself later, and waits until the page is at a URL containing want
// and loaded; then the screenshot and the accessibility check.
func (b *browser) clickScript(sel, want, shot string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
	b.waitFor("the page after "+sel, fmt.Sprintf(`location.href.includes(%q) && document.readyState === "complete"`, want))
	b.shot(shot)
	b.checkA11y()
}

// passkeyLoginCalled reports whether an app signed in at the IdP's
// /api/webauthn/login since mark.
func (e *env) passkeyLoginCalled(mark int) bool {
	for _, c := range e.calls(mark) {
		if c.Path == "/api/webauthn/login" && c.Status == 200 {
			return true
		}
	}
	return false
}

// visible is a JavaScript condition: the element sel is shown.
func visible(sel string) string {
	return fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.hidden && e.offsetParent !== null; })()`, sel)
}

// TestPasskeysInTheStore (issue 12) in Chromium with its virtual
// authenticator: the Store at 127.0.0.1 sends the user to its localhost
// address for passkeys (an IP address cannot be a relying party); there
// a signed-in user adds a passkey on the account page, signs out, signs
// in with "Sign in with a passkey" (the same cookies as a password
// login), renames and removes it (plain POST forms); a login with the
// removed passkey then fails with a message on the page and no cookie.
// Every page is screenshotted and passes axe-core.
func TestPasskeysInTheStore(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(e.d.Info.Store)
	if err != nil {
		t.Fatal(err)
	}
	// The demo's Store names http://localhost:PORT as its passkey origin.
	e.store = "http://localhost:" + u.Port()
	b := e.newBrowser()
	auth := b.addVirtualAuthenticator()

	// At 127.0.0.1 the script points to the localhost address instead.
	b.open(e.d.Info.Store+"/login", "passkey-login-at-ip")
	b.waitFor("the note about localhost", visible("#passkey-elsewhere"))
	if b.count(`#passkey-login:not([hidden])`) != 0 {
		t.Error("the passkey button is offered at 127.0.0.1")
	}
	if !strings.Contains(b.text("#passkey-elsewhere"), e.store+"/login") {
		t.Errorf("note: %q", b.text("#passkey-elsewhere"))
	}

	e.loginStore(b)
	pwCookies := b.cookies(e.store)

	b.open(e.store+"/account", "passkey-account-empty")
	b.waitFor("the add-passkey form", visible("#passkey-register"))
	if !strings.Contains(b.text("#passkeys"), "No passkeys yet") {
		t.Errorf("passkeys section: %q", b.text("#passkeys"))
	}
	b.fill("#passkey-name", "Test laptop")
	m := e.rec.mark()
	b.clickScript("#passkey-register button", "done=passkey-added", "passkey-added")
	if got := b.text("#passkeys table"); !strings.Contains(got, "Test laptop") {
		t.Fatalf("the new passkey is not listed: %q (IdP calls %v)", got, e.calls(m))
	}
	if creds := b.credentials(auth); len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator credentials: %+v", creds)
	}

	b.click(`form[action="/logout"] button`, "passkey-signed-out")
	if len(b.cookies(e.store)) != 1 { // only the device cookie stays
		t.Errorf("cookies after sign-out: %v", names(b.cookies(e.store)))
	}

	// Autofill: the login page's conditional request (mediation
	// "conditional") is answered by the virtual authenticator at once,
	// as if the user picked the passkey the email field offered.
	m = e.rec.mark()
	b.startNavigation(e.store + "/login")
	b.waitFor("the autofill sign-in", `location.pathname === "/shopping-cart" && document.readyState === "complete"`)
	b.shot("passkey-signed-in-by-autofill")
	b.checkA11y()
	if !e.passkeyLoginCalled(m) {
		t.Errorf("no successful /api/webauthn/login in %v", e.calls(m))
	}
	if got, want := names(b.cookies(e.store)), names(pwCookies); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("cookies after the passkey login %v, after the password login %v", got, want)
	}
	b.click(`form[action="/logout"] button`, "passkey-signed-out-after-autofill")

	// The button: from here on the browser offers no autofill, so only a
	// click asks for the passkey.
	ctx, cancel := b.step()
	_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`})
	cancel()
	if err != nil {
		t.Fatalf("turn autofill off: %v", err)
	}
	b.open(e.store+"/login", "passkey-login")
	b.waitFor("the passkey button", visible("#passkey-login button"))
	if ac := eval[string](b, `document.querySelector("#email").autocomplete`); ac != "username webauthn" {
		t.Errorf("email autocomplete %q", ac)
	}
	m = e.rec.mark()
	b.clickScript("#passkey-login button", "/shopping-cart", "passkey-signed-in")
	if got := b.text("main"); !strings.Contains(strings.ToLower(got), "cart") {
		t.Errorf("after the passkey login: %q", got)
	}
	if got, want := names(b.cookies(e.store)), names(pwCookies); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("cookies after the passkey login %v, after the password login %v", got, want)
	}
	if !e.passkeyLoginCalled(m) {
		t.Errorf("no successful /api/webauthn/login in %v", e.calls(m))
	}

	b.open(e.store+"/account", "passkey-account")
	b.fill("#pk-name-0", "Work laptop")
	b.click(`form[action="/account/passkeys/rename"] button`, "passkey-renamed")
	if !strings.Contains(b.location(), "done=passkey-renamed") || !strings.Contains(b.text("#passkeys table"), "Work laptop") {
		t.Errorf("rename: %s %q", b.location(), b.text("#passkeys"))
	}
	b.click(`form[action="/account/passkeys/remove"] button`, "passkey-removed")
	if !strings.Contains(b.location(), "done=passkey-removed") || !strings.Contains(b.text("#passkeys"), "No passkeys yet") {
		t.Errorf("remove: %s %q", b.location(), b.text("#passkeys"))
	}

	// The authenticator still holds the removed passkey: the login with it
	// fails cleanly, on the login page, and signs nobody in.
	b.click(`form[action="/logout"] button`, "passkey-signed-out-again")
	b.open(e.store+"/login", "passkey-login-again")
	b.waitFor("the passkey button", visible("#passkey-login button"))
	b.do("click the passkey button", chromedp.Click(chromedp.CSS("#passkey-login button")))
	b.waitFor("the error message", visible("#passkey-error"))
	b.shot("passkey-removed-login-refused")
	b.checkA11y()
	if got := b.text("#passkey-error"); got != appkit.MsgPasskeyFailed {
		t.Errorf("message %q, want %q", got, appkit.MsgPasskeyFailed)
	}
	if !strings.HasPrefix(b.location(), e.store+"/login") {
		t.Errorf("left the login page: %s", b.location())
	}
	if c := b.cookies(e.store); len(c) != 1 {
		t.Errorf("cookies after the refused passkey login: %v", names(c))
	}
	// The password form still works on the same page.
	b.submitLogin(e.user.Email, e.user.Password, "passkey-then-password")
	if !strings.Contains(b.location(), "/shopping-cart") {
		t.Errorf("password login after the refused passkey: %s", b.location())
	}
}
