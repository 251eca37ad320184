package forums

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/exampletest"
	"github.com/gatehouse-auth/gatehouse/internal/site"
	"github.com/gatehouse-auth/gatehouse/internal/sitetest"
)

// AUD-17, APP-HDR-2: every route of the Forums, signed out and signed in
// against a real IdP, plus static files, health checks, the webhook, 404
// and 405, answers with a CSP with script-src and nosniff; 404 and 405 are
// the site's page, 405 with Allow.
func TestAUD17_ForumsSecurityHeadersOnEveryRoute(t *testing.T) {
	const email, pw, hookSecret = "ann@example.com", "plum tractor whispers at dawn", "forums-test-webhook-secret-0123456789"
	a, cookies := exampletest.SignedIn(t, "Gatehouse Forums", email, pw, hookSecret, New)

	rows := []sitetest.Row{
		{Request: sitetest.Out("GET", "/posts"), Status: 303},
		{Request: sitetest.In("GET", "/posts", ""), Status: 200},
		{Request: sitetest.In("POST", "/posts", "title=Hello&body=First+post"), Status: 303},
		{Request: sitetest.In("POST", "/posts", "title=&body="), Status: 400},
		{Request: sitetest.In("GET", "/posts/1", ""), Status: 200},
		{Request: sitetest.In("POST", "/posts/1/replies", "body=A+reply"), Status: 303},
		{Request: sitetest.In("GET", "/posts/9999", ""), Status: 404},
		{Request: sitetest.In("DELETE", "/posts", ""), Status: 405, Allow: "GET, HEAD, POST"},
		{Request: sitetest.In("GET", "/posts/1/replies", ""), Status: 405, Allow: "POST"},
		{Request: sitetest.Out("PUT", "/"), Status: 405, Allow: "GET, HEAD"},
	}
	sitetest.CheckRows(t, a, append(rows, sitetest.FrameRows(t, site.WebhookPath, hookSecret, "aud17-forums")...), cookies)
}
