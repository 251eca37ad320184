package browser

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/examples/shop"
)

// The pages as a new user meets them (issue 11's browser audit): each
// test drives one behaviour the audit found missing; every page they open
// also passes the axe-core check of checkA11y.

// products reads the Store's catalog.
func (e *env) products() []shop.Product {
	e.t.Helper()
	ps, err := e.d.Store.Products(context.Background())
	if err != nil || len(ps) < 3 {
		e.t.Fatalf("catalog: %d products, %v", len(ps), err)
	}
	return ps
}

// headerCartCount is the count the header's Cart link shows, "" for none.
func (b *browser) headerCartCount() string {
	b.t.Helper()
	return strings.Trim(b.text(`header nav a[href="/shopping-cart"] .count`), "()")
}

// TestUI_AddToCartStaysOnCatalog: "Add to cart" answers 303 back to the
// product in the catalog, which says it was added, and the header's
// "Cart (n)" counts it, on every page of the signed-in user.
func TestUI_AddToCartStaysOnCatalog(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	ps := e.products()
	if got := b.headerCartCount(); got != "0" {
		t.Errorf("header cart count on the empty cart: %q, want 0", got)
	}

	b.click(`nav a[href="/"]`, "catalog")
	total := 0
	for i, add := range []struct {
		p   shop.Product
		qty int
	}{{ps[1], 2}, {ps[2], 1}} {
		p := add.p
		btn := fmt.Sprintf(`#product-%d form button[type="submit"]`, p.ID)
		if got, want := b.text(btn), "Add "+p.Name+" to cart"; got != want {
			t.Errorf("add button reads %q, want %q", got, want)
		}
		b.fill(fmt.Sprintf("#q%d", p.ID), fmt.Sprint(add.qty))
		m := b.mark()
		b.click(btn, fmt.Sprintf("added-%d", i+1))
		b.wantHops(m, e.store, "POST /shopping-cart/items 303", fmt.Sprintf("GET /?added=%d 200", p.ID))
		total += add.qty
		if h := b.text("main h1"); h != "Supplies for the gate" {
			t.Errorf("after adding %s the page is %q, want the catalog", p.Name, h)
		}
		if hash := eval[string](b, `location.hash`); hash != fmt.Sprintf("#product-%d", p.ID) {
			t.Errorf("after adding %s the catalog is at %q, want the product's anchor", p.Name, hash)
		}
		if n := b.text(fmt.Sprintf("#product-%d .notice", p.ID)); !strings.HasPrefix(n, "Added to your cart.") {
			t.Errorf("the product card of %s says %q, want that it was added", p.Name, n)
		}
		if n := b.count("main .notice"); n != 1 {
			t.Errorf("%d notices on the catalog, want only the added product's", n)
		}
		if got := b.headerCartCount(); got != fmt.Sprint(total) {
			t.Errorf("header cart count after adding %d items: %q", total, got)
		}
	}
	if c := e.cart(); c.Count != total || len(c.Lines) != 2 {
		t.Fatalf("cart in the database: %+v, want %d items", c, total)
	}
	if got := b.text(`header nav a[href="/shopping-cart"]`); got != fmt.Sprintf("Cart (%d)", total) {
		t.Errorf("header cart link reads %q, want \"Cart (%d)\"", got, total)
	}
	for _, p := range []struct{ path, shot string }{
		{"/shopping-cart", "cart"}, {"/sessions", "sessions"}, {"/no-such-page", "not-found"}, {"/login", "login"},
	} {
		b.open(e.store+p.path, "count-on-"+p.shot)
		if got := b.headerCartCount(); got != fmt.Sprint(total) {
			t.Errorf("%s: header cart count %q, want %d", p.path, got, total)
		}
	}
}

// rightEdges is the largest right edge of the elements matching sel and
// the page's scroll width, against the viewport's width.
func (b *browser) rightEdges(sel string) (right, scroll, viewport float64) {
	b.t.Helper()
	v := eval[[]float64](b, fmt.Sprintf(`[
		Math.max(0, ...Array.from(document.querySelectorAll(%q), el => el.getBoundingClientRect().right)),
		document.documentElement.scrollWidth, Math.min(window.innerWidth, document.documentElement.clientWidth)]`, sel))
	return v[0], v[1], v[2]
}

// TestUI_PhoneCartFits: on a 390-px phone the cart — every cell, the
// totals, the Update and Remove buttons — and the sessions page lie
// inside the screen, with no horizontal scrolling of the page.
func TestUI_PhoneCartFits(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	ps := e.products()
	for i, p := range ps[:3] {
		e.addToCart(p.ID, 10+i)
	}
	e.putSession("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "203.0.113.7")
	b.setViewport(phone)
	for _, pg := range []struct{ path, shot, sel string }{
		{"/shopping-cart", "phone-cart", "main table, main table *"},
		{"/sessions", "phone-sessions", "main table, main table *"},
		{"/", "phone-catalog", "main *"},
	} {
		b.open(e.store+pg.path, pg.shot)
		right, scroll, vw := b.rightEdges(pg.sel)
		if vw != float64(phone.w) {
			t.Fatalf("viewport %v px wide, want %d", vw, phone.w)
		}
		if right > vw || scroll > vw {
			t.Errorf("%s at %v px: content reaches %v px, the page scrolls to %v px", pg.path, vw, right, scroll)
		}
	}
	b.open(e.store+"/shopping-cart", "phone-cart-again")
	for _, sel := range []string{"main tfoot", "main tbody tr:nth-child(3) form[action$=\"/remove\"] button", "main tbody tr:nth-child(1) form.inline button"} {
		r := eval[[]float64](b, fmt.Sprintf(`(r => [r.left, r.right, r.width])(document.querySelector(%q).getBoundingClientRect())`, sel))
		if r[2] == 0 || r[0] < 0 || r[1] > float64(phone.w) {
			t.Errorf("%s is not on the screen: left %v, right %v, width %v", sel, r[0], r[1], r[2])
		}
	}
	if foot := b.text("main tfoot"); !strings.Contains(foot, money(e.cart().TotalCents)) {
		t.Errorf("phone cart total reads %q, want %s", foot, money(e.cart().TotalCents))
	}
}

// putSession gives the demo user another Store session, as if signed in
// from another device with user agent ua.
func (e *env) putSession(ua, ip string) {
	e.t.Helper()
	now := e.clock.Now()
	err := e.d.Store.Sessions.Put(context.Background(), &sessionstore.Session{
		Key: fmt.Sprintf("other-device-%d", now.UnixNano()), UserID: e.userID, UserAgent: ua, IP: ip,
		AuthTime: now.Add(-time.Hour), CreatedAt: now.Add(-time.Hour), LastSeen: now,
		ExpiresAt: now.Add(idle), AbsoluteExpiry: now.Add(absolute),
	})
	if err != nil {
		e.t.Fatalf("put a session: %v", err)
	}
}

// TestUI_ButtonsNameTheirRow: per-row buttons say what they act on ("Add
// Padlock to cart", "Update quantity of Padlock", "Remove Padlock", "Sign
// out the session on Firefox on Linux, …"); the last column of each table
// has a header; the first Tab reaches "Skip to content", which leads to
// the main element.
func TestUI_ButtonsNameTheirRow(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	ps := e.products()
	e.addToCart(ps[0].ID, 1)
	e.addToCart(ps[3].ID, 2)
	e.putSession("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "203.0.113.7")

	// textContent includes the visually hidden part of a button's name.
	name := func(sel string) string {
		t.Helper()
		return strings.Join(strings.Fields(eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel))), " ")
	}
	b.open(e.store+"/shopping-cart", "cart")
	for i, l := range e.cart().Lines {
		row := fmt.Sprintf("main tbody tr:nth-child(%d) ", i+1)
		if got, want := name(row+`form[action$="/remove"] button`), "Remove "+l.Name; got != want {
			t.Errorf("remove button of line %d is named %q, want %q", i+1, got, want)
		}
		if got, want := name(row+`form:not([action$="/remove"]) button`), "Update quantity of "+l.Name; got != want {
			t.Errorf("update button of line %d is named %q, want %q", i+1, got, want)
		}
	}
	if h := name("main thead th:last-child"); h == "" {
		t.Errorf("the cart's last column has no header")
	}

	b.open(e.store+"/sessions", "sessions")
	if got := name(`main tbody form button`); !strings.HasPrefix(got, "Sign out the session on Firefox on Linux, signed in ") {
		t.Errorf("the other session's button is named %q, want it to name Firefox on Linux", got)
	}
	if h := name("main thead th:last-child"); h == "" {
		t.Errorf("the sessions table's last column has no header")
	}

	b.open(e.store+"/", "catalog")
	for _, p := range ps {
		if got, want := name(fmt.Sprintf("#product-%d button", p.ID)), "Add "+p.Name+" to cart"; got != want {
			t.Errorf("add button %q, want %q", got, want)
		}
	}
	b.do("press Tab", chromedp.KeyEvent(kb.Tab))
	if got := eval[string](b, `document.activeElement.textContent + " → " + document.activeElement.getAttribute("href")`); got != "Skip to content → #main" {
		t.Errorf("the first Tab focuses %q, want the skip link to #main", got)
	}
	b.shot("skip-link-focused")
	b.do("press Enter", chromedp.KeyEvent(kb.Enter))
	b.waitFor("the skip link's target", `location.hash === "#main"`)
	if tag := eval[string](b, `document.getElementById("main").tagName`); tag != "MAIN" {
		t.Errorf("the skip link leads to a %s, want the main element", tag)
	}
}

// TestUI_SignOutEverywhereAsksFirst (APP-OUT-2's button): "Sign out
// everywhere" first shows what it does, with Confirm and Cancel, and
// changes nothing; Cancel goes back to the sessions; Confirm signs out
// every session.
func TestUI_SignOutEverywhereAsksFirst(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	e.putSession("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "203.0.113.7")
	sessions := func() int {
		t.Helper()
		l, err := e.d.Store.Sessions.ListByUser(context.Background(), e.userID)
		if err != nil {
			t.Fatalf("list sessions: %v", err)
		}
		return len(l)
	}
	b.open(e.store+"/sessions", "sessions")
	everywhere := `main form:has(input[name="action"][value="end-all"]) button`
	m, calls := b.mark(), e.rec.mark()
	b.click(everywhere, "asks-first")
	b.wantHops(m, e.store, "POST /sessions 200")
	e.wantCalls(calls)
	if h := b.text("main h1"); h != "Sign out everywhere?" {
		t.Errorf("heading %q, want the confirmation", h)
	}
	if body := b.text("main"); !strings.Contains(body, "This signs you out on every device, including this one.") {
		t.Errorf("the confirmation says %q", body)
	}
	if n := sessions(); n != 2 {
		t.Errorf("%d sessions after the first click, want both still there", n)
	}
	b.wantSignedIn(e.user.Email)

	m = b.mark()
	b.click(`main a[href="/sessions"]`, "cancelled")
	b.wantHops(m, e.store, "GET /sessions 200")
	if n := b.count("main tbody tr"); n != 2 || sessions() != 2 {
		t.Errorf("after Cancel: %d sessions listed, %d stored, want 2", n, sessions())
	}

	b.click(everywhere, "asks-again")
	m, calls = b.mark(), e.rec.mark()
	b.click(`main form:has(input[name="confirm"][value="yes"]) button`, "confirmed")
	b.wantHops(m, e.store, "POST /sessions 303", "GET /login 200")
	if n := sessions(); n != 0 {
		t.Errorf("%d sessions after Confirm, want none", n)
	}
	if c := b.cookies(e.store); strings.Join(names(c), " ") != "store-dev" {
		t.Errorf("cookies after Confirm: %v, want only the device cookie", names(c))
	}
	if len(e.calls(calls)) == 0 {
		t.Errorf("Confirm revoked nothing at the IdP")
	}
}

// TestUI_LoginSaysWhoIsSignedIn: a signed-in user who opens the login
// page is told who is signed in, with a way back; signing in there as
// someone else switches the user.
func TestUI_LoginSaysWhoIsSignedIn(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	e.loginStore(b)
	m := b.mark()
	b.open(e.store+"/login?next=%2Fsessions", "login-while-signed-in")
	b.wantHops(m, e.store, "GET /login?next=%2Fsessions 200")
	b.wantLoginForm(storeName)
	want := "You are signed in as " + e.user.Email + ". Sign in below as someone else, or go back."
	if got := b.text("#signed-in-as"); got != want {
		t.Errorf("login page says %q, want %q", got, want)
	}
	if href := eval[string](b, `document.querySelector("#signed-in-as a").getAttribute("href")`); href != "/sessions" {
		t.Errorf("go back leads to %q, want /sessions", href)
	}
	b.wantSignedIn(e.user.Email)
	if len(e.d.Info.Users) < 2 {
		t.Fatal("the demo has one user; this test signs in as the second")
	}
	other := e.d.Info.Users[1]
	m = b.mark()
	b.submitLogin(other.Email, other.Password, "signed-in-as-other")
	b.wantHops(m, e.store, "POST /login 303", "GET /sessions 200")
	b.wantSignedIn(other.Email)

	// Signed out, the page says nothing of the kind.
	b.click(`header form[action="/logout"] button`, "signed-out")
	b.open(e.store+"/login", "login-signed-out")
	if n := b.count("#signed-in-as"); n != 0 {
		t.Errorf("the login page of a signed-out browser says who is signed in")
	}
}

// TestUI_ForumsPages: the Forums' pages a member meets — start page,
// thread list, a thread, a reply posted, an unknown thread — at desktop
// and phone width, each checked by axe-core (checkA11y) and fitting a
// 390-px screen.
func TestUI_ForumsPages(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	b.open(e.forums+"/login?next=%2Fposts", "forums-login")
	m := b.mark()
	b.submitLogin(e.user.Email, e.user.Password, "forums-threads")
	b.wantHops(m, e.forums, "POST /login 303", "GET /posts 200")
	b.click(`main .threads a.title`, "forums-thread")
	if n := b.count("main article.post"); n == 0 {
		t.Fatalf("the thread at %s shows no post", b.location())
	}
	b.do("type a reply", chromedp.SendKeys(chromedp.CSS("#body"), "Thanks, the phone layout works.")) // empty: nothing to clear
	b.click(`main form button[type="submit"]`, "forums-reply-posted")
	if body := b.text("main"); !strings.Contains(body, "Thanks, the phone layout works.") {
		t.Errorf("the reply is not shown: %q", body)
	}
	b.setViewport(phone)
	for _, p := range []struct{ path, shot string }{
		{"/", "phone-forums-home"}, {"/posts", "phone-forums-threads"}, {"/posts/1", "phone-forums-thread"}, {"/posts/999999", "phone-forums-no-thread"},
	} {
		b.open(e.forums+p.path, p.shot)
		if right, scroll, vw := b.rightEdges("main *"); right > vw || scroll > vw {
			t.Errorf("%s at %v px: content reaches %v px, the page scrolls to %v px", p.path, vw, right, scroll)
		}
	}
}
