// Package sitetest holds test helpers shared by the example apps' tests:
// requests from a loopback browser, a login through an app's own form,
// and the checks every response and every error page must pass (AUD-17,
// APP-HDR-2).
package sitetest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/webhook"
)

// Request is one row of a request table.
type Request struct {
	Method, Path string
	// Body is sent as a form unless Header sets another Content-Type.
	Body   string
	Header map[string]string
	// SignedIn sends the signed-in browser's cookies.
	SignedIn bool
}

// In is a request by the signed-in browser, with body as its form.
func In(method, path, body string) Request {
	return Request{Method: method, Path: path, Body: body, SignedIn: true}
}

// Out is a request by a browser that is not signed in.
func Out(method, path string) Request { return Request{Method: method, Path: path} }

// Serve runs req against h as a same-origin browser on loopback (what
// DevMode serves) would send it, with cookies when given.
func Serve(h http.Handler, req Request, cookies []*http.Cookie) *httptest.ResponseRecorder {
	var body io.Reader
	if req.Body != "" {
		body = strings.NewReader(req.Body)
	}
	r := httptest.NewRequest(req.Method, req.Path, body)
	r.RemoteAddr = "127.0.0.1:5555"
	if req.Body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range req.Header {
		r.Header.Set(k, v)
	}
	if req.SignedIn {
		for _, c := range cookies {
			r.AddCookie(c)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// Login signs email in through the app's /login form and returns the
// session cookies it set.
func Login(t testing.TB, h http.Handler, email, password string) []*http.Cookie {
	t.Helper()
	form := url.Values{"email": {email}, "password": {password}, "next": {"/"}}
	rec := Serve(h, Request{Method: http.MethodPost, Path: "/login", Body: form.Encode()}, nil)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) == 0 {
		t.Fatal("login set no cookie")
	}
	return cookies
}

// CheckSecurityHeaders fails t unless h has X-Content-Type-Options:
// nosniff and a CSP with a script-src that allows no inline or injected
// script (only 'none', 'self', 'strict-dynamic', nonces and hashes), and
// object-src, base-uri and frame-ancestors 'none' (APP-HDR-2).
func CheckSecurityHeaders(t testing.TB, name string, h http.Header) {
	t.Helper()
	if got := h.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", name, got)
	}
	csp := h.Values("Content-Security-Policy")
	if len(csp) != 1 {
		t.Errorf("%s: %d Content-Security-Policy headers, want 1: %q", name, len(csp), csp)
		return
	}
	d := directives(csp[0])
	script, ok := d["script-src"]
	if !ok || script == "" {
		t.Errorf("%s: CSP %q has no script-src", name, csp[0])
	}
	for _, src := range strings.Fields(script) {
		switch {
		case src == "'none'", src == "'self'", src == "'strict-dynamic'",
			strings.HasPrefix(src, "'nonce-"), strings.HasPrefix(src, "'sha256-"):
		default:
			t.Errorf("%s: CSP script-src allows %s (CSP %q)", name, src, csp[0])
		}
	}
	for _, k := range []string{"object-src", "base-uri", "frame-ancestors"} {
		if d[k] != "'none'" {
			t.Errorf("%s: CSP %s = %q, want 'none' (CSP %q)", name, k, d[k], csp[0])
		}
	}
}

// directives splits a CSP into its directives' values.
func directives(csp string) map[string]string {
	d := map[string]string{}
	for _, part := range strings.Split(csp, ";") {
		f := strings.Fields(part)
		if len(f) > 0 {
			d[strings.ToLower(f[0])] = strings.Join(f[1:], " ")
		}
	}
	return d
}

var (
	htmlLang   = regexp.MustCompile(`(?i)<html[^>]*\slang="[a-z]{2}(-[A-Za-z]+)?"`)
	titleTag   = regexp.MustCompile(`(?is)<title>\s*([^<]*\S)\s*</title>`)
	stylesheet = regexp.MustCompile(`<link rel="stylesheet" href="/static/style\.css">`)
	homeLink   = regexp.MustCompile(`<a[^>]*href="/"`)
)

// CheckErrorPage fails t unless rec is a real HTML page of the site with
// status: an html element with lang, a title that names titleWant, the
// site's stylesheet and a link to the start page.
func CheckErrorPage(t testing.TB, name string, rec *httptest.ResponseRecorder, status int, titleWant string) {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != status {
		t.Errorf("%s: status %d, want %d", name, rec.Code, status)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want text/html", name, ct)
	}
	if !strings.HasPrefix(strings.TrimSpace(strings.ToLower(body)), "<!doctype html>") {
		t.Errorf("%s: no <!doctype html>:\n%s", name, body)
	}
	if !htmlLang.MatchString(body) {
		t.Errorf("%s: <html> has no lang:\n%s", name, body)
	}
	if m := titleTag.FindStringSubmatch(body); m == nil || !strings.Contains(m[1], titleWant) {
		t.Errorf("%s: title %q, want one naming %q", name, m, titleWant)
	}
	if !stylesheet.MatchString(body) {
		t.Errorf("%s: the site's stylesheet is missing", name)
	}
	if !homeLink.MatchString(body) {
		t.Errorf("%s: no link to the start page", name)
	}
}

// Row is one request of a table and what it must answer.
type Row struct {
	Request
	Status int
	// Allow is the Allow header a 405 must carry.
	Allow string
}

// CheckRows serves the rows in order (signed-in ones with cookies) and
// checks each answer: its status, the security headers, and for 404 and
// 405 the site's error page (405 with Allow).
func CheckRows(t testing.TB, h http.Handler, rows []Row, cookies []*http.Cookie) {
	t.Helper()
	for _, row := range rows {
		name := row.Method + " " + row.Path
		if row.SignedIn {
			name += " (signed in)"
		}
		rec := Serve(h, row.Request, cookies)
		if rec.Code != row.Status {
			t.Errorf("%s: status %d, want %d", name, rec.Code, row.Status)
		}
		CheckSecurityHeaders(t, name, rec.Header())
		switch {
		case row.Method == http.MethodHead:
		case rec.Code == http.StatusNotFound:
			CheckErrorPage(t, name, rec, rec.Code, "Not Found")
		case rec.Code == http.StatusMethodNotAllowed:
			CheckErrorPage(t, name, rec, rec.Code, "Method Not Allowed")
		}
		if rec.Code == http.StatusMethodNotAllowed {
			if got := rec.Header().Get("Allow"); got != row.Allow {
				t.Errorf("%s: Allow %q, want %q", name, got, row.Allow)
			}
		}
	}
}

// FrameRows are the rows every example app answers the same way, because
// internal/site serves them: the catalog or front page, the login form,
// static files, health checks, the sessions page, unknown paths, the
// webhook route at webhookPath (a GET, and a POST signed with hookSecret
// carrying an event named eventID), and finally the logout. Apps append their own routes
// before these.
func FrameRows(t testing.TB, webhookPath, hookSecret, eventID string) []Row {
	t.Helper()
	ev, err := webhook.Marshal(webhook.Event{ID: eventID, Type: webhook.EventUserDeactivate, UserID: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	ts, sig := webhook.Sign([]byte(hookSecret), time.Now(), ev)
	hook := map[string]string{"Content-Type": "application/json", webhook.HeaderTimestamp: ts, webhook.HeaderSignature: sig}
	in := func(method, path string) Request { return Request{Method: method, Path: path, SignedIn: true} }
	out := func(method, path string) Request { return Request{Method: method, Path: path} }
	return []Row{
		{Request: out("GET", "/"), Status: 200},
		{Request: in("GET", "/"), Status: 200},
		{Request: in("GET", "/sessions"), Status: 200},
		{Request: out("GET", "/login"), Status: 200},
		{Request: out("GET", "/static/style.css"), Status: 200},
		{Request: out("GET", "/static/icon.svg"), Status: 200},
		{Request: out("GET", "/healthz"), Status: 200},
		{Request: out("GET", "/readyz"), Status: 200},
		{Request: out("GET", "/no-such-page"), Status: 404},
		{Request: in("GET", "/no-such-page"), Status: 404},
		{Request: out("DELETE", "/healthz"), Status: 405, Allow: "GET, HEAD"},
		{Request: out("GET", webhookPath), Status: 405, Allow: "POST"},
		{Request: Request{Method: "POST", Path: webhookPath, Body: string(ev), Header: hook}, Status: 200},
		{Request: in("POST", "/logout"), Status: 303},
	}
}
