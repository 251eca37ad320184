package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// S1: GET / and GET /login render; POST /login makes the Store call the
// token endpoint with the password grant, its own client credentials and
// offline_access; the IdP answers 200 with a JWT and a refresh token.
func TestS1_StoreLogin(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, _ := e.user(0)

	home := b.get(e.store("/"))
	if home.Status != 200 || !strings.Contains(home.Body, `href="/login`) || !strings.Contains(home.Body, "Brass door key") {
		t.Fatalf("home: %d\n%s", home.Status, home.Body)
	}
	form := b.get(e.store("/login"))
	if form.Status != 200 {
		t.Fatalf("login form: %d", form.Status)
	}
	for _, want := range []string{`<form method="post" action="/login"`, `<label for="email">`, `type="email" name="email"`,
		`<label for="password">`, `type="password" name="password"`, `autocomplete="current-password"`, `name="next"`} {
		if !strings.Contains(form.Body, want) {
			t.Errorf("login form lacks %s", want)
		}
	}
	if strings.Contains(form.Body, `autocomplete="off"`) { // APP-LOGIN-3
		t.Error("login form disables autocomplete")
	}
	if form.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("login form Cache-Control %q", form.Header.Get("Cache-Control"))
	}

	mark := e.rec.mark()
	b.login(e.info.Store, alice, "/shopping-cart")
	var calls []idpCall
	for _, c := range e.rec.since(mark) {
		if c.Path == "/oauth2/token" {
			calls = append(calls, c)
		}
	}
	if len(calls) != 1 {
		t.Fatalf("%d token calls, want 1: %+v", len(calls), calls)
	}
	c := calls[0]
	if c.Method != http.MethodPost || c.GrantType != "password" || c.ClientID != e.info.Applications.Store.ID || !c.ClientSecretOK {
		t.Fatalf("token call %+v: want POST, password grant, the Store's client id and secret", c)
	}
	if !slices.Contains(strings.Fields(c.Scope), "offline_access") {
		t.Fatalf("scope %q lacks offline_access", c.Scope)
	}
	if c.XForwardedFor != b.ip { // IDP-BF-3: the browser's IP reaches the IdP
		t.Fatalf("X-Forwarded-For %q, want %q", c.XForwardedFor, b.ip)
	}
	at, rt := jsonField(c.Body, "access_token"), jsonField(c.Body, "refresh_token")
	if c.Status != 200 || strings.Count(at, ".") != 2 || rt == "" || jsonField(c.Body, "token_type") != "Bearer" {
		t.Fatalf("token response %d: access token %d parts, refresh token present %v", c.Status, strings.Count(at, ".")+1, rt != "")
	}
}

// S2: a verified JWT, a new server-side session, 303 to the cart or a safe
// next, two HttpOnly host-only cookies.
func TestS2_CreateSession(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)
	// APP-SID-2/3: an id planted before login is never adopted.
	planted := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	b.setCookie(e.info.Store, "store-sid", planted)

	r := b.login(e.info.Store, alice, "/shopping-cart")
	sid, rt := r.setCookie("store-sid"), r.setCookie("store-rt")
	if sid == nil || rt == nil {
		t.Fatalf("login set %v, want store-sid and store-rt", r.Cookies)
	}
	raw := r.Header.Values("Set-Cookie")
	for _, line := range raw {
		l := strings.ToLower(line)
		if strings.Contains(l, "domain=") || !strings.Contains(l, "httponly") || !strings.Contains(l, "path=/") {
			t.Errorf("cookie not HttpOnly/host-only/Path=/: %s", line)
		}
	}
	if sid.SameSite != http.SameSiteLaxMode || rt.SameSite != http.SameSiteStrictMode { // APP-CK-3
		t.Errorf("SameSite sid %v rt %v", sid.SameSite, rt.SameSite)
	}
	if sid.MaxAge != 0 || !sid.Expires.IsZero() || rt.MaxAge <= 0 { // APP-CK-4
		t.Errorf("sid persistent (MaxAge %d) or rt not (MaxAge %d)", sid.MaxAge, rt.MaxAge)
	}
	if sid.Value == planted {
		t.Fatal("planted session id adopted")
	}
	if raw, err := base64.RawURLEncoding.DecodeString(sid.Value); err != nil || len(raw) != 32 { // APP-SID-1
		t.Fatalf("session id is not 32 random bytes: %v", err)
	}
	list := e.storeSessions(aliceID)
	if len(list) != 1 {
		t.Fatalf("%d store sessions, want 1", len(list))
	}
	s := list[0]
	var claims struct {
		Sub string `json:"sub"`
		Aud any    `json:"aud"`
	}
	if err := json.Unmarshal(s.Claims, &claims); err != nil || claims.Sub != aliceID || s.UserID != aliceID {
		t.Fatalf("session claims %s, user %s", s.Claims, s.UserID)
	}
	if aud, _ := json.Marshal(claims.Aud); !strings.Contains(string(aud), e.info.Applications.Store.ID) {
		t.Fatalf("access token aud %s is not the Store", aud)
	}
	if strings.Count(s.AccessToken, ".") != 2 || s.RefreshTokenID == "" {
		t.Fatalf("session holds no JWT or no refresh-token id")
	}
	if strings.Contains(string(s.Key), sid.Value) { // APP-SID-4
		t.Fatal("store is keyed by the raw session id")
	}
	if n := e.families(aliceID, e.info.Applications.Store.ID); n != 1 {
		t.Fatalf("%d refresh-token families at the IdP, want 1", n)
	}
	// The page behind the redirect works with the two cookies.
	if p := b.get(e.store("/shopping-cart")); p.Status != 200 || !strings.Contains(p.Body, alice.Email) {
		t.Fatalf("cart after login: %d", p.Status)
	}

	// A second login in the same browser replaces the session (APP-SID-2).
	r2 := b.post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}, "next": {"/shopping-cart?view=1"}})
	if r2.Status != 303 || r2.Location != "/shopping-cart?view=1" {
		t.Fatalf("login with safe next: %d %q", r2.Status, r2.Location)
	}
	if r2.setCookie("store-sid").Value == sid.Value || len(e.storeSessions(aliceID)) != 1 {
		t.Fatal("second login kept the old session")
	}
	// Unsafe next values fall back to the cart (APP-RED-1).
	for _, next := range []string{"//evil.example/", "https://evil.example/", `/\evil.example`, "%2F%2Fevil.example"} {
		r := b.post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}, "next": {next}})
		if r.Status != 303 || r.Location != "/shopping-cart" {
			t.Errorf("next %q: %d %q", next, r.Status, r.Location)
		}
	}
}

// S3: the cart page with both cookies: session found, expiry slides, cart
// read from the Store's database.
func TestS3_CartLoad(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)

	if r := b.get(e.store("/shopping-cart")); true {
		expectLogin(t, "anonymous", r, "/shopping-cart")
	}
	b.login(e.info.Store, alice, "/shopping-cart")
	if r := b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"1"}, "quantity": {"2"}}); r.Status != 303 || r.Location != "/?added=1#product-1" {
		t.Fatalf("add: %d %q %s", r.Status, r.Location, r.Body)
	}
	if r := b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"4"}}); r.Status != 303 {
		t.Fatalf("add without quantity: %d", r.Status)
	}
	r := b.get(e.store("/shopping-cart?added=1"))
	if r.Status != 200 || !strings.Contains(r.Body, "Brass door key") || !strings.Contains(r.Body, "Padlock") ||
		!strings.Contains(r.Body, "Total (3 items)") || !strings.Contains(r.Body, "Added Brass door key") {
		t.Fatalf("cart: %d\n%s", r.Status, r.Body)
	}
	c, err := e.d.Store.Cart(e.ctx, aliceID)
	if err != nil || c.Count != 3 || len(c.Lines) != 2 {
		t.Fatalf("cart in the database: %+v %v", c, err)
	}

	// Sliding expiry: activity moves the session's expiry, same session id.
	before := e.storeSessions(aliceID)[0].ExpiresAt
	e.clock.Advance(5 * time.Minute)
	r = b.get(e.store("/shopping-cart"))
	if r.Status != 200 || r.setCookie("store-sid") != nil {
		t.Fatalf("cart after 5 min: %d, cookies %v", r.Status, r.Cookies)
	}
	after := e.storeSessions(aliceID)[0].ExpiresAt
	if !after.After(before) || after.Before(e.clock.Now().Add(idle-time.Minute)) {
		t.Fatalf("expiry did not slide: %v -> %v (now %v)", before, after, e.clock.Now())
	}
	// Another 8 minutes: 13 after login, past the first expiry, still in.
	e.clock.Advance(8 * time.Minute)
	if r := b.get(e.store("/shopping-cart")); r.Status != 200 || r.setCookie("store-sid") != nil {
		t.Fatalf("session did not slide: %d", r.Status)
	}

	// Change quantity, remove, and bad input (4xx, nothing changed).
	if r := b.post(e.store("/shopping-cart/items/1"), url.Values{"quantity": {"5"}}); r.Status != 303 {
		t.Fatalf("set quantity: %d", r.Status)
	}
	if r := b.post(e.store("/shopping-cart/items/4/remove"), nil); r.Status != 303 {
		t.Fatalf("remove: %d", r.Status)
	}
	for _, bad := range []struct {
		path string
		form url.Values
		want int
	}{
		{"/shopping-cart/items", url.Values{"productId": {"999"}}, 404},
		{"/shopping-cart/items", url.Values{"productId": {"abc"}}, 400},
		{"/shopping-cart/items", url.Values{"productId": {"1"}, "quantity": {"-3"}}, 400},
		{"/shopping-cart/items", url.Values{"productId": {"1"}, "quantity": {"1000"}}, 400},
		{"/shopping-cart/items/1", url.Values{"quantity": {"many"}}, 400},
		{"/shopping-cart/items/x", url.Values{"quantity": {"1"}}, 404},
	} {
		if r := b.post(e.store(bad.path), bad.form); r.Status != bad.want {
			t.Errorf("POST %s %v: %d, want %d", bad.path, bad.form, r.Status, bad.want)
		}
	}
	c, _ = e.d.Store.Cart(e.ctx, aliceID)
	if c.Count != 5 || len(c.Lines) != 1 || c.Lines[0].ID != 1 {
		t.Fatalf("cart after edits: %+v", c)
	}
	// CSRF: a cross-site form post is refused and changes nothing.
	b.headers.Set("Sec-Fetch-Site", "cross-site")
	if r := b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"2"}}); r.Status != http.StatusForbidden {
		t.Fatalf("cross-site add: %d", r.Status)
	}
	b.headers.Del("Sec-Fetch-Site")
	if c, _ = e.d.Store.Cart(e.ctx, aliceID); c.Count != 5 {
		t.Fatalf("cross-site post changed the cart: %+v", c)
	}
}

// S4: the session has expired, the refresh token lives: the app refreshes
// (both refresh methods), creates a new session and renders the cart in
// the same response with new cookies; the cart survives.
func TestS4_SessionExpiredRefreshAlive(t *testing.T) {
	for _, m := range []idpclient.RefreshMethod{idpclient.RefreshOAuth2, idpclient.RefreshJWT} {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t, func(o *demo.Options) { o.RefreshMethod = m })
			b := e.browser("alice-laptop")
			alice, aliceID := e.user(0)
			b.login(e.info.Store, alice, "/shopping-cart")
			b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"3"}, "quantity": {"2"}})
			sid0, rt0 := b.cookie(e.info.Store, "store-sid"), b.cookie(e.info.Store, "store-rt")

			e.clock.Advance(idle + time.Minute)
			mark := e.rec.mark()
			r := b.get(e.store("/shopping-cart"))
			if r.Status != 200 || !strings.Contains(r.Body, "Lantern") || !strings.Contains(r.Body, "Total (2 items)") {
				t.Fatalf("cart after the session expired: %d\n%s", r.Status, r.Body)
			}
			sid, rt := r.setCookie("store-sid"), r.setCookie("store-rt")
			if sid == nil || rt == nil || sid.Value == sid0 || rt.Value == rt0 {
				t.Fatalf("refresh did not set a new session and refresh cookie: %v", r.Cookies)
			}
			calls := refreshCalls(e.rec.since(mark))
			if len(calls) != 1 || calls[0].Status != 200 {
				t.Fatalf("refresh calls %+v, want one answered 200", calls)
			}
			if m == idpclient.RefreshOAuth2 && (calls[0].Path != "/oauth2/token" || calls[0].ClientID != e.info.Applications.Store.ID || !calls[0].ClientSecretOK) {
				t.Fatalf("oauth2 refresh %+v", calls[0])
			}
			if m == idpclient.RefreshJWT && calls[0].Path != "/api/jwt/refresh" {
				t.Fatalf("jwt refresh %+v", calls[0])
			}
			if n := len(e.storeSessions(aliceID)); n != 1 {
				t.Fatalf("%d sessions after refresh, want 1 (the old one is gone)", n)
			}
			// The old session id alone no longer works (APP-SID-2).
			old := e.browser("old-cookie")
			old.setCookie(e.info.Store, "store-sid", sid0)
			expectLogin(t, "old session id", old.get(e.store("/shopping-cart")), "/shopping-cart")
			// The new session serves without another refresh.
			mark = e.rec.mark()
			if r := b.get(e.store("/shopping-cart")); r.Status != 200 || len(refreshCalls(e.rec.since(mark))) != 0 {
				t.Fatalf("after refresh: %d", r.Status)
			}
		})
	}
}

// S5: the refresh token is dead: the IdP refuses it (400 invalid_grant on
// the token endpoint, 404 on /api/jwt/refresh), the app clears both
// cookies and sends the browser to /login?next=…; logging in again works
// and the cart is still there.
func TestS5_RefreshDead(t *testing.T) {
	for _, m := range []idpclient.RefreshMethod{idpclient.RefreshOAuth2, idpclient.RefreshJWT} {
		t.Run(string(m), func(t *testing.T) {
			e := newEnv(t, func(o *demo.Options) { o.RefreshMethod = m })
			b := e.browser("alice-laptop")
			alice, aliceID := e.user(0)
			b.login(e.info.Store, alice, "/shopping-cart")
			b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"2"}})

			e.clock.Advance(refreshTTL + time.Minute)
			mark := e.rec.mark()
			r := b.get(e.store("/shopping-cart"))
			expectLogin(t, "dead refresh", r, "/shopping-cart")
			expectCleared(t, "dead refresh", r, "store")
			calls := refreshCalls(e.rec.since(mark))
			if len(calls) != 1 {
				t.Fatalf("%d refresh calls, want 1: the IdP must be asked", len(calls))
			}
			switch m {
			case idpclient.RefreshOAuth2:
				if calls[0].Status != 400 || jsonField(calls[0].Body, "error") != "invalid_grant" {
					t.Fatalf("token endpoint answered %d %s", calls[0].Status, calls[0].Body)
				}
			case idpclient.RefreshJWT:
				if calls[0].Status != 404 {
					t.Fatalf("/api/jwt/refresh answered %d", calls[0].Status)
				}
			}
			if b.cookie(e.info.Store, "store-sid") != "" || b.cookie(e.info.Store, "store-rt") != "" {
				t.Fatal("browser still holds the cookies")
			}
			if len(e.storeSessions(aliceID)) != 0 {
				t.Fatal("a session survived")
			}
			// The login form remembers where to go.
			if f := b.get(e.store(r.Location)); f.Status != 200 || !strings.Contains(f.Body, `name="next" value="/shopping-cart"`) {
				t.Fatalf("login form with next: %d", f.Status)
			}
			b.login(e.info.Store, alice, "/shopping-cart")
			if p := b.get(e.store("/shopping-cart")); p.Status != 200 || !strings.Contains(p.Body, "Gatehouse mug") {
				t.Fatalf("cart after logging in again: %d", p.Status)
			}
		})
	}
}
