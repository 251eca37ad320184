package browser

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"github.com/gatehouse-auth/gatehouse/examples/shop"
)

// money formats cents the way the Store's pages do.
func money(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }

// cart reads the user's cart from the Store's own database.
func (e *env) cart() shop.Cart {
	e.t.Helper()
	c, err := e.d.Store.Cart(context.Background(), e.userID)
	if err != nil {
		e.t.Fatalf("read cart: %v", err)
	}
	return c
}

// addToCart puts a product into the cart directly in the Store's
// database, for tests whose subject is not adding.
func (e *env) addToCart(productID int64, quantity int) {
	e.t.Helper()
	if err := e.d.Store.AddToCart(context.Background(), e.userID, productID, quantity); err != nil {
		e.t.Fatalf("add to cart: %v", err)
	}
}

// wantCart checks that the page is the cart and shows exactly the lines,
// item count and total of the user's cart in the database.
func (b *browser) wantCart() {
	b.t.Helper()
	b.wantNoLoginForm()
	if h := b.text("main h1"); h != "Your cart" {
		b.t.Errorf("page %s shows %q, want the cart", b.location(), h)
		return
	}
	c := b.e.cart()
	if n := b.count("main tbody tr"); n != len(c.Lines) {
		b.t.Errorf("cart page shows %d lines, the database holds %d", n, len(c.Lines))
	}
	for i, l := range c.Lines {
		row := b.text(fmt.Sprintf("main tbody tr:nth-child(%d)", i+1))
		if !strings.Contains(row, l.Name) || !strings.Contains(row, money(l.SubtotalCents)) {
			b.t.Errorf("cart line %d reads %q, want %s with subtotal %s", i+1, row, l.Name, money(l.SubtotalCents))
		}
		q := eval[string](b, fmt.Sprintf(`document.querySelector("main tbody tr:nth-child(%d) input[name=quantity]").value`, i+1))
		if q != fmt.Sprint(l.Quantity) {
			b.t.Errorf("cart line %d shows quantity %s, want %d", i+1, q, l.Quantity)
		}
	}
	if len(c.Lines) > 0 {
		foot := b.text("main tfoot")
		if !strings.Contains(foot, fmt.Sprintf("Total (%d items)", c.Count)) || !strings.Contains(foot, money(c.TotalCents)) {
			b.t.Errorf("cart total reads %q, want %d items and %s", foot, c.Count, money(c.TotalCents))
		}
	}
}

// TestS2_SessionAndRefreshCookies: a visit to the cart without a session
// goes to the login form with next; the login lands on the cart with two
// cookies that are HttpOnly (script cannot read them), host-only
// (store.localhost, never sent to forums.localhost), Path=/, the session
// cookie SameSite=Lax and non-persistent, the refresh cookie
// SameSite=Strict with Max-Age (APP-CK-1..4). A second login issues a new
// session id (APP-SID-2) and an off-site next is not followed (APP-RED-1).
func TestS2_SessionAndRefreshCookies(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()

	m := b.mark()
	b.open(e.store+"/shopping-cart", "cart-asks-for-login")
	b.wantHops(m, e.store, "GET /shopping-cart 303", "GET /login?next=%2Fshopping-cart 200")
	b.wantLoginForm(storeName)
	if c := b.cookies(e.store); len(c) != 0 {
		t.Errorf("cookies before login: %v", names(c))
	}

	m = b.mark()
	loginAt := time.Now()
	b.submitLogin(e.user.Email, e.user.Password, "cart-after-login")
	b.wantHops(m, e.store, "POST /login 303", "GET /shopping-cart 200")
	b.wantCart()

	c := b.cookies(e.store)
	// store-dev is the device cookie (AUD-1).
	if got := strings.Join(names(c), " "); got != "store-dev store-rt store-sid" {
		t.Fatalf("store cookies after login: %q, want store-dev, store-rt and store-sid", got)
	}
	sid, rt := c["store-sid"], c["store-rt"]
	for _, ck := range []*network.Cookie{sid, rt, c["store-dev"]} {
		if !ck.HTTPOnly {
			t.Errorf("%s is not HttpOnly (APP-CK-2)", ck.Name)
		}
		// Chromium reports a host-only cookie with the bare host as its
		// domain, a Domain cookie with a leading dot.
		if ck.Domain != storeHost {
			t.Errorf("%s has domain %q, want host-only %q (APP-CK-1)", ck.Name, ck.Domain, storeHost)
		}
		if ck.Path != "/" {
			t.Errorf("%s has path %q, want /", ck.Name, ck.Path)
		}
		if ck.Value == "" {
			t.Errorf("%s is empty", ck.Name)
		}
	}
	if sid.SameSite != network.CookieSameSiteLax {
		t.Errorf("store-sid SameSite=%q, want Lax (APP-CK-3)", sid.SameSite)
	}
	if rt.SameSite != network.CookieSameSiteStrict {
		t.Errorf("store-rt SameSite=%q, want Strict (APP-CK-3)", rt.SameSite)
	}
	if !sid.Session {
		t.Errorf("store-sid is persistent (expires %v), want a session cookie (APP-CK-4)", time.Unix(int64(sid.Expires), 0))
	}
	if exp := time.Unix(int64(rt.Expires), 0); rt.Session || exp.Before(loginAt.Add(cookieMaxAge-time.Hour)) || exp.After(loginAt.Add(cookieMaxAge+time.Hour)) {
		t.Errorf("store-rt expires %v (session=%v), want about %v from now (APP-CK-4)", exp, rt.Session, cookieMaxAge)
	}
	if dc := eval[string](b, `document.cookie`); dc != "" {
		t.Errorf("page script reads cookies %q; both must be HttpOnly (APP-CK-2)", dc)
	}
	if fc := b.cookies(e.forums); len(fc) != 0 {
		t.Errorf("forums.localhost would get cookies %v; the Store's must be host-only", names(fc))
	}

	// Signing in again (here with an off-site next) replaces the session.
	b.open(e.store+"/login?next=%2F%2Fevil.localhost%2Fsteal", "login-with-offsite-next")
	m = b.mark()
	b.submitLogin(e.user.Email, e.user.Password, "offsite-next-not-followed")
	b.wantHops(m, e.store, "POST /login 303", "GET /shopping-cart 200")
	if loc := b.location(); !strings.HasPrefix(loc, e.store+"/") {
		t.Errorf("login with next=//evil.localhost/steal landed on %s (APP-RED-1)", loc)
	}
	c2 := b.cookies(e.store)
	if c2["store-sid"] == nil || c2["store-sid"].Value == sid.Value {
		t.Errorf("a new login kept the session id (APP-SID-2)")
	}
}

// TestS3_CartLoad: adding from the catalog (a same-origin form post the
// CSRF check lets through) and loading the cart serve the items and
// totals from the Store's database; the session slides: two cart loads
// 7 minutes apart each keep a 10-minute idle session alive 14 minutes
// with no refresh (APP-LIFE-1; inside the 15-minute access-token lifetime,
// after which the kit re-validates at the IdP, AUD-9); the sessions page
// lists this browser.
func TestS3_CartLoad(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	sid := b.cookies(e.store)["store-sid"].Value

	ps, err := e.d.Store.Products(context.Background())
	if err != nil || len(ps) < 3 {
		t.Fatalf("catalog: %d products, %v", len(ps), err)
	}
	add := func(p shop.Product, qty int, shot string) {
		t.Helper()
		b.click(`nav a[href="/"]`, "catalog")
		b.fill(fmt.Sprintf("#q%d", p.ID), fmt.Sprint(qty))
		m := b.mark()
		b.click(fmt.Sprintf(`form:has(input[name="productId"][value="%d"]) button[type="submit"]`, p.ID), shot)
		b.wantHops(m, e.store, "POST /shopping-cart/items 303", fmt.Sprintf("GET /?added=%d 200", p.ID))
		if n := b.text(fmt.Sprintf("#product-%d .notice", p.ID)); !strings.HasPrefix(n, "Added to your cart.") {
			t.Errorf("notice %q after adding %s", n, p.Name)
		}
	}
	add(ps[0], 2, "added-first")
	add(ps[2], 1, "added-second")
	b.click(`nav a[href="/shopping-cart"]`, "cart")
	c := e.cart()
	if len(c.Lines) != 2 || c.Count != 3 || c.TotalCents != 2*ps[0].PriceCents+ps[2].PriceCents {
		t.Fatalf("cart in the database after adding: %+v", c)
	}
	b.wantCart()

	calls := e.rec.mark()
	e.clock.Advance(idle - 3*time.Minute)
	m := b.mark()
	b.click(`nav a[href="/shopping-cart"]`, "cart-7min-later")
	e.clock.Advance(idle - 3*time.Minute)
	b.reload("cart-14min-later")
	b.wantHops(m, e.store, "GET /shopping-cart 200", "GET /shopping-cart 200")
	b.wantCart()
	e.wantCalls(calls) // the session itself was alive: no refresh
	if got := b.cookies(e.store)["store-sid"]; got == nil || got.Value != sid {
		t.Errorf("the session cookie changed although the session was alive")
	}

	m = b.mark()
	b.click(`header a[href="/sessions"]`, "sessions")
	b.wantHops(m, e.store, "GET /sessions 200")
	if h := b.text("main h1"); h != "Your sessions" {
		t.Fatalf("sessions page heading %q", h)
	}
	if n := b.count("main tbody tr"); n != 1 {
		t.Errorf("sessions page lists %d sessions, want 1", n)
	}
	if tag := b.text("main tbody tr .tag"); tag != "this browser" {
		t.Errorf("current session tagged %q, want \"this browser\"", tag)
	}
}

// TestS4_SessionExpiredWhileOnCart: the browser sits on the cart until the
// session's idle timeout passes; the next click — a link, and later a form
// post — shows the cart in the same response, without a login form: the
// Store redeemed the refresh cookie once (APP-REF-1), set a new session id
// (APP-SID-2) and the rotated refresh cookie.
func TestS4_SessionExpiredWhileOnCart(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	e.addToCart(1, 1)
	b.reload("cart")
	b.wantCart()

	for i, click := range []struct {
		name string
		do   func() []string // clicks; returns the navigation to expect
	}{
		{"link", func() []string {
			b.click(`nav a[href="/shopping-cart"]`, "cart-after-expiry-link")
			return []string{"GET /shopping-cart 200"}
		}},
		{"form post", func() []string {
			b.fill("main tbody tr:nth-child(1) input[name=quantity]", "3")
			b.click("main tbody tr:nth-child(1) form.inline button", "cart-after-expiry-update")
			return []string{"POST /shopping-cart/items/1 303", "GET /shopping-cart 200"}
		}},
	} {
		before := b.cookies(e.store)
		e.clock.Advance(idle + time.Minute)
		m, calls := b.mark(), e.rec.mark()
		want := click.do()
		b.wantHops(m, e.store, want...)
		e.wantCalls(calls, idpCall{Path: "/oauth2/token", GrantType: "refresh_token", Status: 200})
		b.wantCart()
		after := b.cookies(e.store)
		for _, n := range []string{"store-sid", "store-rt"} {
			if after[n] == nil || after[n].Value == before[n].Value {
				t.Errorf("%s (%d): %s was not replaced by the refresh", click.name, i, n)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	if c := e.cart(); len(c.Lines) != 1 || c.Lines[0].Quantity != 3 {
		t.Errorf("the update posted after expiry did not reach the cart: %+v", c)
	}

	// The new session is a live one: no further refresh.
	calls := e.rec.mark()
	b.reload("cart-again")
	e.wantCalls(calls)
}

// TestS5_RefreshExpired: the refresh token has expired at the IdP (the
// cookie is still in the browser); asking for the sessions page shows the
// login form (APP-REF-2: cookies cleared), and signing in lands on the
// sessions page the user asked for.
func TestS5_RefreshExpired(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)

	e.clock.Advance(refreshTTL + time.Minute)
	if c := b.cookies(e.store); c["store-rt"] == nil {
		t.Fatal("the browser dropped the refresh cookie; this test needs the IdP to refuse it")
	}
	m, calls := b.mark(), e.rec.mark()
	b.click(`header a[href="/sessions"]`, "login-form-after-refresh-expired")
	b.wantHops(m, e.store, "GET /sessions 303", "GET /login?next=%2Fsessions 200")
	e.wantCalls(calls, idpCall{Path: "/oauth2/token", GrantType: "refresh_token", Status: 400})
	b.wantLoginForm(storeName)
	if c := b.cookies(e.store); strings.Join(names(c), " ") != "store-dev" {
		t.Errorf("cookies left after the refused refresh: %v, want only the device cookie", names(c))
	}
	if next := eval[string](b, `document.querySelector("main form input[name=next]").value`); next != "/sessions" {
		t.Errorf("login form carries next=%q, want /sessions", next)
	}

	m, calls = b.mark(), e.rec.mark()
	b.submitLogin(e.user.Email, e.user.Password, "sessions-after-login")
	b.wantHops(m, e.store, "POST /login 303", "GET /sessions 200")
	e.wantCalls(calls, idpCall{Path: "/oauth2/token", GrantType: "password", Status: 200})
	if h := b.text("main h1"); h != "Your sessions" {
		t.Errorf("after login the page shows %q, want the sessions page", h)
	}
	b.wantSignedIn(e.user.Email)
}
