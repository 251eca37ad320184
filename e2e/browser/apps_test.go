package browser

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestS6_ForumsAsksForItsOwnLogin: signed in to the Store, the user opens
// the forum's thread list: the forum (another host, other cookies, another
// OAuth client) shows its own login form, having asked the IdP nothing;
// signing in there lands on the thread list with the forum's own
// host-only cookies, and the Store's session is untouched (no SSO,
// APP-OUT-2).
func TestS6_ForumsAsksForItsOwnLogin(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	store := b.cookies(e.store)

	m, calls := b.mark(), e.rec.mark()
	b.open(e.forums+"/", "forums-home")
	b.wantHops(m, e.forums, "GET / 200")
	if n := b.count("header .who .email"); n != 0 {
		t.Errorf("the forum shows a signed-in user to a browser signed in only to the Store")
	}
	m = b.mark()
	b.click(`main a[href="/login?next=%2Fposts"]`, "forums-login-form")
	b.wantHops(m, e.forums, "GET /login?next=%2Fposts 200")
	b.wantLoginForm(forumsName)
	m = b.mark()
	b.open(e.forums+"/posts", "forums-threads-ask-for-login")
	b.wantHops(m, e.forums, "GET /posts 303", "GET /login?next=%2Fposts 200")
	b.wantLoginForm(forumsName)
	e.wantCalls(calls) // the forum did not try to use anything of the Store's
	if c := b.cookies(e.forums); len(c) != 0 {
		t.Errorf("forum cookies before its login: %v", names(c))
	}

	m = b.mark()
	b.submitLogin(e.user.Email, e.user.Password, "forums-threads")
	b.wantHops(m, e.forums, "POST /login 303", "GET /posts 200")
	e.wantCalls(calls, idpCall{Path: "/oauth2/token", GrantType: "password", Status: 200})
	for _, c := range e.calls(calls) {
		if c.ClientID != e.d.Info.Applications.Forums.ID {
			t.Errorf("the forum's login used client %q, want the forum's own %q", c.ClientID, e.d.Info.Applications.Forums.ID)
		}
	}
	b.wantSignedIn(e.user.Email)
	if h := b.text("main h1"); h != "Threads" {
		t.Errorf("forum landed on %q, want the thread list", h)
	}
	if n := b.count("main .threads tbody tr"); n == 0 {
		t.Errorf("thread list is empty; the demo seeds a welcome thread")
	}

	fc := b.cookies(e.forums)
	// -dev is the device cookie (AUD-1): it marks a browser that signed in
	// before, so strangers' failed logins cannot hold it back.
	if got := strings.Join(names(fc), " "); got != "forums-dev forums-rt forums-sid" {
		t.Errorf("forum cookies %q, want forums-dev, forums-rt and forums-sid", got)
	}
	for _, c := range fc {
		if c.Domain != forumsHost || !c.HTTPOnly {
			t.Errorf("forum cookie %s: domain %q HttpOnly=%v, want host-only %s and HttpOnly", c.Name, c.Domain, c.HTTPOnly, forumsHost)
		}
	}
	sc := b.cookies(e.store)
	if got := strings.Join(names(sc), " "); got != "store-dev store-rt store-sid" {
		t.Errorf("store.localhost would get cookies %q, want only the Store's", got)
	}
	for n, c := range store {
		if sc[n] == nil || sc[n].Value != c.Value {
			t.Errorf("signing in to the forum changed the Store's %s", n)
		}
	}
	m, calls = b.mark(), e.rec.mark()
	b.open(e.store+"/shopping-cart", "store-still-signed-in")
	b.wantHops(m, e.store, "GET /shopping-cart 200")
	e.wantCalls(calls)
	b.wantCart()
}

// TestS9_Logout: signing out of the Store ends the session and revokes
// the refresh token (APP-OUT-1); neither the back button, nor a reload,
// nor a fresh visit shows the cart again, and the old cookies put back
// into the browser no longer work.
func TestS9_Logout(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	e.addToCart(2, 1)
	b.reload("cart")
	b.wantCart()
	old := b.cookies(e.store)
	cart := e.cart()

	m, calls := b.mark(), e.rec.mark()
	b.click(`header form[action="/logout"] button`, "after-logout")
	b.wantHops(m, e.store, "POST /logout 303", "GET / 200")
	e.wantCalls(calls, idpCall{Path: "/oauth2/revoke", Status: 200})
	// Only the device cookie (AUD-1) outlives a logout: it grants nothing
	// without the password.
	if c := b.cookies(e.store); strings.Join(names(c), " ") != "store-dev" {
		t.Errorf("cookies left after logout: %v, want only store-dev", names(c))
	}
	if n := b.count("header .who .email"); n != 0 {
		t.Errorf("the page after logout still shows the user")
	}
	if n := b.count(`header a[href="/login"]`); n != 1 {
		t.Errorf("the page after logout offers no sign-in link")
	}

	noCart := func(when string) {
		t.Helper()
		if h := b.text("main h1"); h == "Your cart" {
			t.Errorf("%s: the cart is shown", when)
		}
		if body := b.text("main"); strings.Contains(body, cart.Lines[0].Name) {
			t.Errorf("%s: the page shows the cart's %q", when, cart.Lines[0].Name)
		}
		b.wantLoginForm(storeName)
	}

	m = b.mark()
	b.back("back-button")
	b.wantHops(m, e.store, "GET /shopping-cart 303", "GET /login?next=%2Fshopping-cart 200")
	noCart("back button")

	m = b.mark()
	b.reload("reload")
	b.wantHops(m, e.store, "GET /login?next=%2Fshopping-cart 200")
	noCart("reload")

	m = b.mark()
	b.open(e.store+"/shopping-cart", "visit-cart")
	b.wantHops(m, e.store, "GET /shopping-cart 303", "GET /login?next=%2Fshopping-cart 200")
	noCart("new visit")

	// Someone who copied the cookies before the logout puts them back.
	for _, c := range old {
		b.setCookie(e.store, c)
	}
	m, calls = b.mark(), e.rec.mark()
	b.open(e.store+"/shopping-cart", "old-cookies-replayed")
	b.wantHops(m, e.store, "GET /shopping-cart 303", "GET /login?next=%2Fshopping-cart 200")
	e.wantCalls(calls, idpCall{Path: "/oauth2/token", GrantType: "refresh_token", Status: 400})
	noCart("old cookies replayed")
	if c := b.cookies(e.store); strings.Join(names(c), " ") != "store-dev" {
		t.Errorf("replayed cookies were not cleared: %v", names(c))
	}

	if got := e.cart(); !reflect.DeepEqual(got, cart) {
		t.Errorf("logout changed the cart: %+v, was %+v", got, cart)
	}
}

// attackPage is a page on another origin that posts a form to target as
// soon as it loads: the classic CSRF.
func attackPage(target string, fields url.Values) string {
	var in strings.Builder
	for k, vs := range fields {
		for _, v := range vs {
			fmt.Fprintf(&in, `<input type="hidden" name="%s" value="%s">`, html.EscapeString(k), html.EscapeString(v))
		}
	}
	return fmt.Sprintf(`<!doctype html><title>You won!</title><h1>Collecting your prize…</h1>
<form id="f" method="post" action="%s">%s</form>
<script>document.getElementById("f").submit()</script>`, html.EscapeString(target), in.String())
}

// TestCrossSiteFormPostRejected (APP-LOGIN-1, ATK-4): pages on other
// origins auto-submit forms to the Store's add-to-cart and logout. The
// Store refuses each with 403 — also from store.localhost on another
// port, which is same-site, so the browser sends the SameSite cookies
// along and only the cross-origin check stands in the way. The cart is
// unchanged, nothing reached the IdP and the user is still signed in with
// the same session.
func TestCrossSiteFormPostRejected(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	e.addToCart(1, 2)
	b.reload("cart-before")
	b.wantCart()
	cart, cookies := e.cart(), b.cookies(e.store)

	targets := []struct{ path, name string }{
		{"/shopping-cart/items", "add-to-cart"},
		{"/logout", "logout"},
	}
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, tg := range targets {
			if r.URL.Path == "/"+tg.name {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprint(w, attackPage(e.store+tg.path, url.Values{"productId": {"3"}, "quantity": {"5"}}))
				return
			}
		}
		http.NotFound(w, r)
	}))
	defer evil.Close()
	port := strings.TrimPrefix(evil.URL, "http://127.0.0.1:")

	for _, origin := range []struct{ url, name string }{
		{"http://evil.localhost:" + port, "cross-site"},
		{evil.URL, "cross-site-ip"},
		{"http://" + storeHost + ":" + port, "same-site-other-port"},
	} {
		for _, tg := range targets {
			m, calls := b.mark(), e.rec.mark()
			b.startNavigation(origin.url + "/" + tg.name)
			h := b.waitHop(m, "POST", e.store+tg.path)
			if h.Status != http.StatusForbidden {
				t.Errorf("%s form post to %s from %s: status %d, want 403", origin.name, tg.path, origin.url, h.Status)
			}
			b.waitFor("the Store's answer", fmt.Sprintf(`location.href === %q && document.readyState === "complete"`, e.store+tg.path))
			b.shot(origin.name + "-" + tg.name)
			if body := b.text("body"); !strings.Contains(body, "cross-origin request refused") {
				t.Errorf("%s form post to %s: page says %q", origin.name, tg.path, body)
			}
			e.wantCalls(calls)
		}
	}

	if got := e.cart(); !reflect.DeepEqual(got, cart) {
		t.Errorf("cross-site posts changed the cart: %+v, was %+v", got, cart)
	}
	now := b.cookies(e.store)
	for n, c := range cookies {
		if now[n] == nil || now[n].Value != c.Value {
			t.Errorf("cross-site posts changed the cookie %s", n)
		}
	}
	m, calls := b.mark(), e.rec.mark()
	b.open(e.store+"/shopping-cart", "cart-after")
	b.wantHops(m, e.store, "GET /shopping-cart 200")
	e.wantCalls(calls)
	b.wantSignedIn(e.user.Email)
	b.wantCart()
}
