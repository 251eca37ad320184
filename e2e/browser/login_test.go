package browser

import (
	"strings"
	"testing"
)

// Store texts the assertions look for.
const (
	storeName  = "Gatehouse Store"
	forumsName = "Gatehouse Forums"
)

// wantLoginForm checks that the page is app's login form: a heading, and
// labelled email and password fields (APP-LOGIN-3: a real password field,
// password managers allowed).
func (b *browser) wantLoginForm(app string) {
	b.t.Helper()
	if h := b.text("main h1"); h != "Sign in to "+app {
		b.t.Errorf("heading %q, want the %s login form (at %s)", h, app, b.location())
		return
	}
	for _, f := range []struct{ id, label, typ string }{{"email", "Email", "email"}, {"password", "Password", "password"}} {
		if got := b.text(`label[for="` + f.id + `"]`); got != f.label {
			b.t.Errorf("label of #%s is %q, want %q", f.id, got, f.label)
		}
		if got := eval[string](b, `(document.getElementById("`+f.id+`") || {}).type || ""`); got != f.typ {
			b.t.Errorf("#%s has type %q, want %q", f.id, got, f.typ)
		}
	}
	if ac := eval[string](b, `document.getElementById("password").getAttribute("autocomplete") || ""`); ac == "off" {
		b.t.Errorf("password field has autocomplete=off (APP-LOGIN-3)")
	}
}

// wantNoLoginForm checks that the page holds no password field.
func (b *browser) wantNoLoginForm() {
	b.t.Helper()
	if n := b.count(`input[type="password"]`); n != 0 {
		b.t.Errorf("page %s shows a login form", b.location())
	}
}

// wantSignedIn checks the header names the user.
func (b *browser) wantSignedIn(email string) {
	b.t.Helper()
	if got := b.text("header .who .email"); got != email {
		b.t.Errorf("header shows user %q, want %q (at %s)", got, email, b.location())
	}
}

// loginStore signs in to the Store from its login page and lands on the
// cart.
func (e *env) loginStore(b *browser) {
	e.t.Helper()
	b.open(e.store+"/login", "store-login")
	m := b.mark()
	b.submitLogin(e.user.Email, e.user.Password, "store-cart-after-login")
	b.wantHops(m, e.store, "POST /login 303", "GET /shopping-cart 200")
	if e.t.Failed() {
		e.t.FailNow()
	}
}

// TestS1_StoreLogin: the catalog links to the login form, which has
// labelled fields; submitting it makes the Store call the IdP's token
// endpoint with the password grant, its own client and offline_access,
// and signs the user in (APP-RED-2: 303 after the POST).
func TestS1_StoreLogin(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()

	m := b.mark()
	b.open(e.store+"/", "catalog")
	b.wantHops(m, e.store, "GET / 200")
	if n := b.count(`header a[href="/login"]`); n != 1 {
		t.Fatalf("catalog shows %d sign-in links in the header, want 1", n)
	}
	if n := b.count(".product"); n == 0 {
		t.Errorf("catalog lists no products")
	}

	b.click(`header a[href="/login"]`, "login-form")
	b.wantLoginForm(storeName)

	m, calls := b.mark(), e.rec.mark()
	b.submitLogin(e.user.Email, e.user.Password, "signed-in")
	b.wantHops(m, e.store, "POST /login 303", "GET /shopping-cart 200")
	e.wantCalls(calls, idpCall{Path: "/oauth2/token", GrantType: "password", Status: 200})
	for _, c := range e.calls(calls) {
		if c.ClientID != e.d.Info.Applications.Store.ID {
			t.Errorf("token call by client %q, want the Store's %q", c.ClientID, e.d.Info.Applications.Store.ID)
		}
		if !strings.Contains(" "+c.Scope+" ", " offline_access ") {
			t.Errorf("token call scope %q lacks offline_access", c.Scope)
		}
	}
	b.wantSignedIn(e.user.Email)
	b.wantNoLoginForm()
	if h := b.text("main h1"); h != "Your cart" {
		t.Errorf("landed on %q, want the cart", h)
	}
}

// TestS1_WrongPassword: a wrong password shows the login form again with
// a generic error message (APP-LOGIN-4), the email kept and the password
// emptied, sets no cookie, and the form then still signs the user in.
func TestS1_WrongPassword(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()

	b.open(e.store+"/login", "login-form")
	m, calls := b.mark(), e.rec.mark()
	b.submitLogin(e.user.Email, "not-the-password-at-all", "wrong-password")
	b.wantHops(m, e.store, "POST /login 401")
	e.wantCalls(calls, idpCall{Path: "/oauth2/token", GrantType: "password", Status: 400})

	b.wantLoginForm(storeName)
	if msg := b.text("#login-error"); msg != "Invalid email or password." {
		t.Errorf("error message %q, want %q", msg, "Invalid email or password.")
	}
	if role := eval[string](b, `(document.getElementById("login-error") || {getAttribute(){return ""}}).getAttribute("role") || ""`); role != "alert" {
		t.Errorf("error message has role %q, want alert (read out by screen readers)", role)
	}
	// Both fields are described by the message, not only the email.
	for _, f := range []string{"email", "password"} {
		if d := eval[string](b, `document.getElementById("`+f+`").getAttribute("aria-describedby") || ""`); d != "login-error" {
			t.Errorf("#%s aria-describedby=%q, want login-error", f, d)
		}
	}
	if v := eval[string](b, `document.getElementById("email").value`); v != e.user.Email {
		t.Errorf("email field holds %q after the error, want %q", v, e.user.Email)
	}
	if v := eval[string](b, `document.getElementById("password").value`); v != "" {
		t.Errorf("password field is not emptied after the error")
	}
	if c := b.cookies(e.store); len(c) != 0 {
		t.Errorf("a failed login set cookies: %v", names(c))
	}

	m = b.mark()
	b.fill("#password", e.user.Password)
	b.click(`main form button[type="submit"]`, "signed-in")
	b.wantHops(m, e.store, "POST /login 303", "GET /shopping-cart 200")
	b.wantSignedIn(e.user.Email)
}
