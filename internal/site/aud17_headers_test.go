package site

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/internal/sitetest"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// signedEvent is a webhook delivery signed with the test secret.
func signedEvent(t *testing.T, id string) (body string, hdr map[string]string) {
	t.Helper()
	ev, err := webhook.Marshal(webhook.Event{ID: id, Type: webhook.EventUserDeactivate, UserID: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	ts, sig := webhook.Sign([]byte(hookSecret), time.Now(), ev)
	return string(ev), map[string]string{"Content-Type": "application/json", webhook.HeaderTimestamp: ts, webhook.HeaderSignature: sig}
}

// AUD-17, APP-HDR-2: every response of the frame carries a CSP with
// script-src and nosniff: pages, static files, health checks, redirects
// (the kit's and the mux's), 403/404/405/503 answers and the webhook
// route; 404 and 405 are the site's HTML page, 405 with Allow.
func TestAUD17_SecurityHeadersOnEveryResponse(t *testing.T) {
	s, _ := newSite(t)
	hookBody, hookHdr := signedEvent(t, "aud17-1")
	sitetest.CheckRows(t, s, []sitetest.Row{
		{Request: sitetest.Request{Method: "GET", Path: "/healthz"}, Status: 200},
		{Request: sitetest.Request{Method: "HEAD", Path: "/healthz"}, Status: 200},
		{Request: sitetest.Request{Method: "GET", Path: "/readyz"}, Status: 200},
		{Request: sitetest.Request{Method: "GET", Path: "/static/style.css"}, Status: 200},
		{Request: sitetest.Request{Method: "GET", Path: "/static/icon.svg"}, Status: 200},
		{Request: sitetest.Request{Method: "GET", Path: "/static/missing.js"}, Status: 404},
		{Request: sitetest.Request{Method: "GET", Path: "/login"}, Status: 200},
		{Request: sitetest.Request{Method: "POST", Path: "/login", Body: "email=a%40example.com&password=some+long+password"}, Status: 503}, // IdP down
		{Request: sitetest.Request{Method: "PUT", Path: "/login"}, Status: 405, Allow: "GET, HEAD, POST"},
		{Request: sitetest.Request{Method: "POST", Path: "/logout"}, Status: 303},
		{Request: sitetest.Request{Method: "GET", Path: "/logout"}, Status: 405, Allow: "POST"},
		{Request: sitetest.Request{Method: "POST", Path: "/logout", Header: map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}}, Status: 403},
		{Request: sitetest.Request{Method: "GET", Path: "/sessions"}, Status: 303},
		{Request: sitetest.Request{Method: "GET", Path: "/no/such/page"}, Status: 404},
		{Request: sitetest.Request{Method: "POST", Path: "/no/such/page"}, Status: 404},
		{Request: sitetest.Request{Method: "POST", Path: "/healthz"}, Status: 405, Allow: "GET, HEAD"},
		{Request: sitetest.Request{Method: "DELETE", Path: "/static/style.css"}, Status: 405, Allow: "GET, HEAD"},
		{Request: sitetest.Request{Method: "GET", Path: "/static/../healthz"}, Status: 307}, // the mux's path cleaning
		{Request: sitetest.Request{Method: "GET", Path: WebhookPath}, Status: 405, Allow: "POST"},
		{Request: sitetest.Request{Method: "POST", Path: WebhookPath, Body: hookBody, Header: hookHdr}, Status: 200},
		{Request: sitetest.Request{Method: "POST", Path: WebhookPath, Body: hookBody, Header: map[string]string{"Content-Type": "application/json"}}, Status: 400}, // unsigned
	}, nil)
}

// AUD-17: the 405 page is the site's page (layout, lang, title, CSS, a
// link home), not net/http's "method not allowed" text or the webhook
// receiver's JSON.
func TestAUD17_MethodNotAllowedIsARealPage(t *testing.T) {
	s, _ := newSite(t)
	for _, req := range []sitetest.Request{
		{Method: "GET", Path: "/logout"},
		{Method: "GET", Path: WebhookPath},
		{Method: "PATCH", Path: "/healthz"},
	} {
		rec := sitetest.Serve(s, req, nil)
		name := req.Method + " " + req.Path
		sitetest.CheckErrorPage(t, name, rec, http.StatusMethodNotAllowed, "Method Not Allowed")
		body := rec.Body.String()
		if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "<title>Method Not Allowed · Test App</title>") {
			t.Errorf("%s: not the layout's page:\n%s", name, body)
		}
		if strings.Contains(body, "method not allowed\n") || strings.Contains(body, `{"status"`) {
			t.Errorf("%s: the inner handler's body leaked into the page:\n%s", name, body)
		}
	}
}

// Outside development mode the frame adds HSTS too (APP-HDR-1), also on
// responses the kit never sees.
func TestAUD17_HSTSOutsideDevMode(t *testing.T) {
	ms := memstore.New(memstore.Config{})
	t.Cleanup(func() { ms.Close() })
	s, err := New(context.Background(), Config{
		IdPURL: "http://127.0.0.1:1", ClientID: clientID, ClientSecret: "secret",
		DBPath: filepath.Join(t.TempDir(), "app.db"), Sessions: ms, SealKey: bytes.Repeat([]byte("k"), 32),
		Logger: slog.New(slog.DiscardHandler),
	}, Spec{Name: "Prod App", CookieName: "prod", HomePath: "/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, p := range []string{"/healthz", "/static/style.css", "/nope"} {
		rec := sitetest.Serve(s, sitetest.Request{Method: "GET", Path: p}, nil)
		if got := rec.Header().Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=31536000") {
			t.Errorf("GET %s: Strict-Transport-Security %q", p, got)
		}
		sitetest.CheckSecurityHeaders(t, "GET "+p, rec.Header())
	}
}
