package shop

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/exampletest"
	"github.com/gatehouse-auth/gatehouse/internal/site"
	"github.com/gatehouse-auth/gatehouse/internal/sitetest"
)

// AUD-17, APP-HDR-2: every route of the Store, signed out and signed in
// against a real IdP, plus static files, health checks, the webhook, 404
// and 405, answers with a CSP with script-src and nosniff; 404 and 405 are
// the site's page, 405 with Allow.
func TestAUD17_StoreSecurityHeadersOnEveryRoute(t *testing.T) {
	const email, pw, hookSecret = "ann@example.com", "plum tractor whispers at dawn", "store-test-webhook-secret-0123456789"
	a, cookies := exampletest.SignedIn(t, "Gatehouse Store", email, pw, hookSecret, New)

	rows := []sitetest.Row{
		{Request: sitetest.Out("GET", "/shopping-cart"), Status: 303},
		{Request: sitetest.In("POST", "/shopping-cart/items", "productId=1&quantity=2"), Status: 303},
		{Request: sitetest.In("GET", "/shopping-cart?added=1", ""), Status: 200},
		{Request: sitetest.In("POST", "/shopping-cart/items/1", "quantity=3"), Status: 303},
		{Request: sitetest.In("POST", "/shopping-cart/items/1/remove", ""), Status: 303},
		{Request: sitetest.In("POST", "/shopping-cart/items", "productId=9999"), Status: 404},
		{Request: sitetest.In("POST", "/shopping-cart/items", "productId=1&quantity=500"), Status: 400},
		{Request: sitetest.Out("POST", "/shopping-cart/items"), Status: 303},
		{Request: sitetest.In("PUT", "/sessions", ""), Status: 405, Allow: "GET, HEAD, POST"},
		{Request: sitetest.Out("POST", "/"), Status: 405, Allow: "GET, HEAD"},
		{Request: sitetest.In("GET", "/shopping-cart/items", ""), Status: 405, Allow: "POST"},
	}
	sitetest.CheckRows(t, a, append(rows, sitetest.FrameRows(t, site.WebhookPath, hookSecret, "aud17-store")...), cookies)
}
