package appkit_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sqlitestore"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

var methods = []idpclient.RefreshMethod{idpclient.RefreshOAuth2, idpclient.RefreshJWT}

// checkCookie asserts the attributes every kit cookie has (APP-CK-1..4):
// __Host- prefix, Secure, HttpOnly, Path=/, no Domain, SameSite as given,
// persistent (Max-Age ≤ 30 days) or a session cookie.
func checkCookie(t *testing.T, c *http.Cookie, ss http.SameSite, persistent bool) {
	t.Helper()
	if c == nil {
		t.Fatal("cookie not set")
	}
	if !strings.HasPrefix(c.Name, "__Host-") || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != ss {
		t.Errorf("cookie %s attributes wrong: %q", c.Name, c.Raw)
	}
	if persistent && (c.MaxAge <= 0 || c.MaxAge > 30*24*3600) {
		t.Errorf("cookie %s Max-Age %d, want (0, 30 days]", c.Name, c.MaxAge)
	}
	if !persistent && (c.MaxAge != 0 || !c.Expires.IsZero()) {
		t.Errorf("cookie %s must be a session cookie: %q", c.Name, c.Raw)
	}
	if len(c.Raw) > 4096 {
		t.Errorf("cookie %s is %d bytes", c.Name, len(c.Raw))
	}
}

// checkCleared asserts a cookie is expired with its original attributes.
func checkCleared(t *testing.T, r *response, name string, ss http.SameSite) {
	t.Helper()
	c := r.cookies[name]
	if c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("cookie %s not cleared: %+v", name, c)
	}
	if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != ss {
		t.Errorf("cleared cookie %s attributes differ: %q", name, c.Raw)
	}
}

func checkNoCookies(t *testing.T, r *response) {
	t.Helper()
	if len(r.cookies) != 0 {
		t.Errorf("unexpected Set-Cookie: %v", r.header.Values("Set-Cookie"))
	}
}

func checkNoStore(t *testing.T, r *response) {
	t.Helper()
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store (APP-CK-5)", r.header.Get("Cache-Control"))
	}
}

func checkSecurityHeaders(t *testing.T, r *response) {
	t.Helper()
	if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") == "" ||
		!strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		!strings.Contains(r.header.Get("Strict-Transport-Security"), "max-age=31536000") {
		t.Errorf("security headers missing (APP-HDR-1/2): %v", r.header)
	}
}

func keyOf(t *testing.T, sid string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.Strict().DecodeString(sid)
	if err != nil || len(raw) != 32 {
		t.Fatalf("session id %q is not 32 bytes of base64url (APP-SID-1): %v", sid, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func near(a, b time.Time) bool { d := a.Sub(b); return d < 2*time.Second && d > -2*time.Second }

// TestScenarios_S1_S5_S9 walks the DESIGN table's steps S1-S5 and S9
// against the real IdP, for both refresh methods, asserting status,
// cookies and their attributes, and the session store at each step.
func TestScenarios_S1_S5_S9(t *testing.T) {
	for _, storeName := range []string{"sqlite", "memory"} {
		for _, m := range methods {
			t.Run(storeName+"/"+string(m), func(t *testing.T) { testScenarios(t, storeName, m) })
		}
	}
}

func testScenarios(t *testing.T, storeName string, method idpclient.RefreshMethod) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	clk := fakeclock.New(time.Now())
	o := appOpt{method: method, clock: clk}
	if storeName == "sqlite" {
		st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "sessions.db"), Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		o.store = st
	}
	a := newApp(t, w, o)
	b := a.browser()
	sidName, rtName := a.kit.SessionCookieName(), a.kit.RefreshCookieName()
	var firstAuthTime time.Time

	t.Run("S1 store login: form", func(t *testing.T) {
		r := b.get("/")
		if r.status != 200 || !strings.Contains(r.body, "sign in") {
			t.Fatalf("GET / = %d %q", r.status, r.body)
		}
		checkNoCookies(t, r)
		r = b.get("/shopping-cart")
		if r.status != http.StatusSeeOther || r.location() != "/login?next=%2Fshopping-cart" {
			t.Fatalf("GET /shopping-cart = %d %q", r.status, r.location())
		}
		checkNoCookies(t, r)
		r = b.get("/login?next=%2Fshopping-cart")
		if r.status != 200 || !strings.Contains(r.body, `name="email"`) || !strings.Contains(r.body, `type="password"`) ||
			!strings.Contains(r.body, `value="/shopping-cart"`) {
			t.Fatalf("GET /login = %d %q", r.status, r.body)
		}
		// APP-LOGIN-3: password managers and paste allowed.
		if strings.Contains(r.body, "autocomplete=\"off\"") || strings.Contains(r.body, "onpaste") {
			t.Error("login form blocks password managers or paste")
		}
		checkNoStore(t, r)
		checkSecurityHeaders(t, r)
		checkNoCookies(t, r)
	})

	t.Run("S1-S2 login creates a session", func(t *testing.T) {
		calls := w.idp.RefreshCalls()
		r := b.post("/login", url.Values{"email": {w.email}, "password": {testPassword}, "next": {"/shopping-cart"}})
		// APP-RED-2: 303, never 307/308.
		if r.status != http.StatusSeeOther || r.location() != "/shopping-cart" {
			t.Fatalf("POST /login = %d %q %q", r.status, r.location(), r.body)
		}
		checkNoStore(t, r)
		checkCookie(t, r.cookies[sidName], http.SameSiteLaxMode, false)
		checkCookie(t, r.cookies[rtName], http.SameSiteStrictMode, true)
		sid := b.sid()
		key := keyOf(t, sid)
		l := a.sessions()
		if len(l) != 1 {
			t.Fatalf("store holds %d sessions, want 1", len(l))
		}
		s := l[0]
		now := clk.Now()
		if s.Key != key || s.Key == sid || s.UserID != w.userID || s.AccessToken == "" || s.RefreshTokenID == "" ||
			s.IP != "127.0.0.1" || !strings.Contains(s.UserAgent, "Firefox") ||
			!near(s.ExpiresAt, now.Add(30*time.Minute)) || !near(s.AbsoluteExpiry, now.Add(12*time.Hour)) ||
			!near(s.CreatedAt, now) || !near(s.AuthTime, time.Now()) {
			t.Fatalf("stored session wrong: %+v", s)
		}
		var claims map[string]any
		if err := json.Unmarshal(s.Claims, &claims); err != nil || claims["email"] != w.email || claims["sub"] != w.userID {
			t.Fatalf("claims %s: %v", s.Claims, err)
		}
		firstAuthTime = s.AuthTime
		// APP-SID-4, APP-LOGIN-2: no raw id, no password, no refresh cookie in the store.
		if _, err := a.store.Get(context.Background(), sid); !errors.Is(err, sessionstore.ErrNotFound) {
			t.Error("the raw session id is a store key")
		}
		dump, _ := json.Marshal(s)
		for _, secret := range []string{testPassword, sid, b.rt()} {
			if strings.Contains(string(dump), secret) {
				t.Errorf("store holds a secret: %q", secret)
			}
		}
		if n := w.idp.RefreshCalls(); n != calls {
			t.Errorf("login made %d refresh calls", n-calls)
		}
	})

	t.Run("S3 cart load with a live session", func(t *testing.T) {
		calls := w.idp.RefreshCalls()
		r := b.get("/shopping-cart")
		if r.status != 200 || r.body != "cart of "+w.email+": 0 items" {
			t.Fatalf("GET /shopping-cart = %d %q", r.status, r.body)
		}
		checkNoCookies(t, r)
		checkNoStore(t, r)
		checkSecurityHeaders(t, r)
		if r := b.post("/shopping-cart/items", url.Values{"productId": {"1"}, "quantity": {"1"}}); r.status != http.StatusSeeOther {
			t.Fatalf("add item = %d", r.status)
		}
		if r := b.get("/shopping-cart"); r.body != "cart of "+w.email+": 1 items" {
			t.Fatalf("cart after add: %q", r.body)
		}
		// Sliding expiry: after 5 minutes the expiry moves (written);
		// 10 s later it would move by less than TouchInterval (not written).
		key := keyOf(t, b.sid())
		clk.Advance(5 * time.Minute)
		if r := b.get("/shopping-cart"); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
		s, err := a.store.Get(context.Background(), key)
		if err != nil || !near(s.ExpiresAt, clk.Now().Add(30*time.Minute)) || !near(s.LastSeen, clk.Now()) {
			t.Fatalf("expiry not extended: %+v %v", s, err)
		}
		extended := s.ExpiresAt
		clk.Advance(10 * time.Second)
		b.get("/shopping-cart")
		s, _ = a.store.Get(context.Background(), key)
		if !s.ExpiresAt.Equal(extended) {
			t.Errorf("expiry written again after 10 s: %v -> %v", extended, s.ExpiresAt)
		}
		if n := w.idp.RefreshCalls(); n != calls {
			t.Errorf("live session made %d refresh calls", n-calls)
		}
	})

	t.Run("S4 session expired, refresh alive", func(t *testing.T) {
		oldSid, oldRt := b.sid(), b.rt()
		oldKey := keyOf(t, oldSid)
		clk.Advance(31 * time.Minute) // APP-LIFE-1: idle timeout passed
		if _, err := a.store.Get(context.Background(), oldKey); !errors.Is(err, sessionstore.ErrNotFound) {
			t.Fatalf("session still live after idle timeout: %v", err)
		}
		calls := w.idp.RefreshCalls()
		r := b.get("/shopping-cart")
		// Same response: the cart, not a redirect.
		if r.status != 200 || r.body != "cart of "+w.email+": 1 items" {
			t.Fatalf("GET /shopping-cart = %d %q", r.status, r.body)
		}
		if n := w.idp.RefreshCalls() - calls; n != 1 {
			t.Fatalf("%d refresh calls, want 1", n)
		}
		checkNoStore(t, r)
		checkCookie(t, r.cookies[sidName], http.SameSiteLaxMode, false)
		checkCookie(t, r.cookies[rtName], http.SameSiteStrictMode, true)
		// APP-REF-1, APP-SID-2: new id and new refresh cookie.
		if b.sid() == oldSid || b.rt() == oldRt {
			t.Fatal("session id or refresh cookie not replaced")
		}
		l := a.sessions()
		if len(l) != 1 || l[0].Key != keyOf(t, b.sid()) || l[0].Key == oldKey {
			t.Fatalf("store after refresh: %+v", l)
		}
		// APP-REF-5: a refresh keeps auth_time.
		if !l[0].AuthTime.Equal(firstAuthTime) {
			t.Errorf("AuthTime %v changed from %v", l[0].AuthTime, firstAuthTime)
		}
		// APP-SID-2: the old id is rejected.
		old := a.browser()
		old.cookies[sidName] = oldSid
		if r := old.get("/shopping-cart"); r.status != http.StatusSeeOther {
			t.Errorf("old session id still works: %d", r.status)
		}
		// The next request uses the new session without refreshing.
		calls = w.idp.RefreshCalls()
		if r := b.get("/shopping-cart"); r.status != 200 || len(r.cookies) != 0 {
			t.Fatalf("after refresh: %d %v", r.status, r.cookies)
		}
		if w.idp.RefreshCalls() != calls {
			t.Error("refreshed again with a live session")
		}
	})

	t.Run("S5 refresh dead", func(t *testing.T) {
		w.revokeUser(t)
		clk.Advance(31 * time.Minute)
		calls := w.idp.RefreshCalls()
		r := b.get("/shopping-cart")
		if r.status != http.StatusSeeOther || r.location() != "/login?next=%2Fshopping-cart" {
			t.Fatalf("GET /shopping-cart = %d %q", r.status, r.location())
		}
		if n := w.idp.RefreshCalls() - calls; n != 1 {
			t.Fatalf("%d refresh calls, want 1", n)
		}
		checkCleared(t, r, sidName, http.SameSiteLaxMode)
		checkCleared(t, r, rtName, http.SameSiteStrictMode)
		if l := a.sessions(); len(l) != 0 {
			t.Fatalf("sessions left: %d", len(l))
		}
		// Logging in again works as in S1.
		b.login("/shopping-cart")
		if r := b.get("/shopping-cart"); r.status != 200 {
			t.Fatalf("after re-login: %d", r.status)
		}
	})

	t.Run("S9 logout", func(t *testing.T) {
		oldCookies := b.clone()
		// GET /logout changes nothing (APP-LOGIN-1).
		if r := b.get("/logout"); r.status != http.StatusMethodNotAllowed || len(r.cookies) != 0 {
			t.Fatalf("GET /logout = %d", r.status)
		}
		if r := b.get("/shopping-cart"); r.status != 200 {
			t.Fatal("GET /logout ended the session")
		}
		r := b.post("/logout", nil)
		if r.status != http.StatusSeeOther || r.location() != "/shopping-cart" {
			t.Fatalf("POST /logout = %d %q", r.status, r.location())
		}
		checkCleared(t, r, sidName, http.SameSiteLaxMode)
		checkCleared(t, r, rtName, http.SameSiteStrictMode)
		checkNoStore(t, r)
		if !strings.Contains(r.header.Get("Clear-Site-Data"), `"cache"`) {
			t.Errorf("Clear-Site-Data = %q", r.header.Get("Clear-Site-Data"))
		}
		if l := a.sessions(); len(l) != 0 {
			t.Fatalf("sessions left after logout: %d", len(l))
		}
		// The old cookies no longer work: the session is gone and the
		// refresh token was revoked at the IdP (the refresh is refused).
		calls := w.idp.RefreshCalls()
		r = oldCookies.get("/shopping-cart")
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
			t.Fatalf("old cookies after logout: %d %q", r.status, r.location())
		}
		if n := w.idp.RefreshCalls() - calls; n != 1 {
			t.Errorf("%d refresh calls, want 1 (refused)", n)
		}
		checkCleared(t, r, rtName, http.SameSiteStrictMode)
		if l := a.sessions(); len(l) != 0 {
			t.Fatal("old refresh cookie created a session after logout")
		}
	})
}
