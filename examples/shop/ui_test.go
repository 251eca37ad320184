package shop

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/exampletest"
	"github.com/gatehouse-auth/gatehouse/internal/sitetest"
)

// The pages as a new user meets them (issue 11's audit), over HTTP: add
// to cart goes back to the product in the catalog and the header counts
// the cart on every page; "sign out everywhere" asks first and changes
// nothing until confirmed; the login page tells a signed-in user who is
// signed in. e2e/browser drives the same in Chromium.
func TestUI_StoreFlows(t *testing.T) {
	const email, pw, hookSecret = "ann@example.com", "plum tractor whispers at dawn", "store-test-webhook-secret-0123456789"
	a, cookies := exampletest.SignedIn(t, "Gatehouse Store", email, pw, hookSecret, New)
	serve := func(req sitetest.Request) (int, http.Header, string) {
		t.Helper()
		rec := sitetest.Serve(a, req, cookies)
		return rec.Code, rec.Header(), rec.Body.String()
	}

	code, h, _ := serve(sitetest.In("POST", "/shopping-cart/items", "productId=3&quantity=2"))
	if code != http.StatusSeeOther || h.Get("Location") != "/?added=3#product-3" {
		t.Fatalf("add to cart: %d to %q, want 303 to the product in the catalog", code, h.Get("Location"))
	}
	code, _, body := serve(sitetest.In("GET", "/?added=3", ""))
	if code != http.StatusOK || !strings.Contains(body, `id="product-3"`) || strings.Count(body, "Added to your cart.") != 1 {
		t.Errorf("catalog after adding: %d, notice count %d", code, strings.Count(body, "Added to your cart."))
	}
	for _, p := range []string{"/", "/shopping-cart", "/sessions", "/login", "/no-such-page"} {
		_, _, body := serve(sitetest.In("GET", p, ""))
		if !strings.Contains(body, `Cart <span class="count">(2)</span>`) {
			t.Errorf("%s: the header does not show Cart (2)", p)
		}
	}
	if _, _, body := serve(sitetest.Out("GET", "/")); strings.Contains(body, `class="count"`) {
		t.Errorf("a signed-out catalog shows a cart count")
	}

	// The confirmation step keeps the cross-origin check (APP-LOGIN-1)
	// in front of both posts.
	for _, form := range []string{"action=end-all", "action=end-all&confirm=yes"} {
		req := sitetest.In("POST", "/sessions", form)
		req.Header = map[string]string{"Sec-Fetch-Site": "cross-site"}
		if code, _, _ := serve(req); code != http.StatusForbidden {
			t.Errorf("cross-site %s: %d, want 403", form, code)
		}
	}
	code, _, body = serve(sitetest.In("POST", "/sessions", "action=end-all"))
	if code != http.StatusOK || !strings.Contains(body, "This signs you out on every device, including this one.") ||
		!strings.Contains(body, `name="confirm" value="yes"`) {
		t.Errorf("end-all without confirm: %d, want the confirmation page", code)
	}
	if code, _, _ := serve(sitetest.In("GET", "/shopping-cart", "")); code != http.StatusOK {
		t.Fatalf("after the unconfirmed end-all the cart answers %d: the session ended", code)
	}

	_, _, body = serve(sitetest.In("GET", "/login", ""))
	if !strings.Contains(body, "You are signed in as <strong>"+email+"</strong>") {
		t.Errorf("the login page does not say who is signed in")
	}
	if _, _, body := serve(sitetest.Out("GET", "/login")); strings.Contains(body, "You are signed in as") {
		t.Errorf("the login page of a signed-out browser says someone is signed in")
	}

	code, h, _ = serve(sitetest.In("POST", "/sessions", "action=end-all&confirm=yes"))
	if code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Errorf("confirmed end-all: %d to %q, want 303 to /login", code, h.Get("Location"))
	}
	if code, _, _ := serve(sitetest.In("GET", "/shopping-cart", "")); code != http.StatusSeeOther {
		t.Errorf("after the confirmed end-all the cart answers %d, want the login redirect", code)
	}
}
