package appkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// unitKit is a Kit whose IdP is never contacted.
func unitKit(t *testing.T, mod func(*Config)) *Kit {
	t.Helper()
	c, err := idpclient.New(idpclient.Config{BaseURL: "http://127.0.0.1:1", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New(memstore.Config{})
	t.Cleanup(func() { _ = st.Close() })
	cfg := Config{IdP: c, Store: st, SealKey: bytes.Repeat([]byte{7}, 32), CookieName: "store"}
	if mod != nil {
		mod(&cfg)
	}
	k, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// APP-SID-1: 10^5 ids are unique, 43 base64url characters, 32 bytes; the
// store key is the hex SHA-256 of those bytes (APP-SID-4).
func TestSessionIDs_APP_SID_1(t *testing.T) {
	seen := make(map[string]bool, 100000)
	for range 100000 {
		id, key, err := newSessionID()
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		raw, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(raw) != 32 {
			t.Fatalf("id %q decodes to %d bytes, %v", id, len(raw), err)
		}
		sum := sha256.Sum256(raw)
		if key != hex.EncodeToString(sum[:]) {
			t.Fatalf("key %q is not hex SHA-256 of the id", key)
		}
		if k2, ok := keyForCookie(id); !ok || k2 != key {
			t.Fatalf("keyForCookie(%q) = %q, %v", id, k2, ok)
		}
	}
}

// APP-SID-3: malformed ids are rejected before any lookup.
func TestKeyForCookieRejectsMalformed_APP_SID_3(t *testing.T) {
	id, _, _ := newSessionID()
	bad := []string{
		"", "x", id[:42], id + "A", id[:42] + "=", strings.Repeat("A", 44),
		id[:42] + "B", // non-canonical: low bits of the last character set
		strings.Replace(id, id[:1], "+", 1), strings.Replace(id, id[:1], "/", 1),
		strings.Repeat("é", 21) + "A", "attacker-chosen-session-id",
		// base64 skips CR and LF; 42 A's decode cleanly to 31 bytes
		id[:20] + "\n" + id[21:], strings.Repeat("A", 21) + "\r" + strings.Repeat("A", 21),
	}
	for _, b := range bad {
		if _, ok := keyForCookie(b); ok {
			t.Errorf("keyForCookie(%q) accepted", b)
		}
	}
	// The decoder agrees with the standard library on random input.
	for range 2000 {
		var b [32]byte
		_, _ = rand.Read(b[:])
		s := base64.RawURLEncoding.EncodeToString(b[:])
		got, ok := decodeSID(s)
		if !ok || got != b {
			t.Fatalf("decodeSID(%q) = %x, %v", s, got, ok)
		}
	}
}

func TestHotPathAllocations(t *testing.T) {
	id, _, _ := newSessionID()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "a=b; __Host-store-sid="+id+"; other=1")
	if n := testing.AllocsPerRun(100, func() { _ = cookieValue(r, "__Host-store-sid") }); n != 0 {
		t.Errorf("cookieValue allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = keyForCookie(id) }); n > 1 {
		t.Errorf("keyForCookie allocates %v times, want 1 (the key)", n)
	}
}

func TestCookieValue(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Add("Cookie", "x=1;  sid=abc ; rt=")
	r.Header.Add("Cookie", "sid=second; y=2")
	for name, want := range map[string]string{"sid": "abc", "x": "1", "y": "2", "rt": "", "nope": ""} {
		if got := cookieValue(r, name); got != want {
			t.Errorf("cookieValue(%q) = %q, want %q", name, got, want)
		}
	}
}

// C-2, APP-CK-4: the refresh cookie opens only with the app's key, under
// its own name, unmodified, and not after RefreshCookieMaxAge.
func TestSealedRefreshCookie(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k := unitKit(t, func(c *Config) { c.Now = func() time.Time { return now } })
	rc := refreshCookie{token: "the-refresh-token", authTime: now.Add(-time.Hour), issued: now}
	v, err := k.sealRefresh(rc)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, rc.token) || len(v) > 4096 {
		t.Fatalf("cookie value leaks the token or is too long: %q", v)
	}
	got, err := k.openRefresh(v)
	if err != nil || got.token != rc.token || !got.authTime.Equal(rc.authTime) || !got.issued.Equal(now) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	v2, _ := k.sealRefresh(rc)
	if v2 == v {
		t.Error("two seals of the same token are equal (nonce reuse?)")
	}
	// Tampering: flip each byte position's low bit in turn.
	raw, _ := base64.RawURLEncoding.DecodeString(v)
	for i := range raw {
		m := bytes.Clone(raw)
		m[i] ^= 1
		if _, err := k.openRefresh(base64.RawURLEncoding.EncodeToString(m)); err == nil {
			t.Fatalf("tampered byte %d accepted", i)
		}
	}
	// Another app's key, or the same key under another cookie name.
	other := unitKit(t, func(c *Config) { c.SealKey = bytes.Repeat([]byte{8}, 32) })
	if _, err := other.openRefresh(v); err == nil {
		t.Error("opened with another key")
	}
	forum := unitKit(t, func(c *Config) { c.CookieName = "forum"; c.Now = func() time.Time { return now } })
	if _, err := forum.openRefresh(v); err == nil {
		t.Error("opened under another cookie name")
	}
	// Key rotation: an old key still opens.
	rotated := unitKit(t, func(c *Config) {
		c.SealKey = bytes.Repeat([]byte{9}, 32)
		c.OldSealKeys = [][]byte{bytes.Repeat([]byte{7}, 32)}
		c.Now = func() time.Time { return now }
	})
	if _, err := rotated.openRefresh(v); err != nil {
		t.Errorf("old key does not open: %v", err)
	}
	// Server-side max age.
	now = now.Add(DefaultRefreshCookieMaxAge + time.Second)
	if _, err := k.openRefresh(v); err == nil {
		t.Error("cookie older than RefreshCookieMaxAge accepted")
	}
}

// APP-RED-1.
func TestSafeNext_APP_RED_1(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/shopping-cart", "/shopping-cart"},
		{"/shopping-cart?x=1&y=%20z", "/shopping-cart?x=1&y=%20z"},
		{"/", "/"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"https://evil.com", "/"},
		{"http:evil.com", "/"},
		{"javascript:alert(1)", "/"},
		{"%2F%2Fevil.com", "/"},
		{"/%2F/evil.com", "/"},
		{"/%5Cevil.com", "/"},
		{"/%2f%2fevil.com", "/"},
		{"/\t/evil.com", "/"},
		{"/\n/evil.com", "/"},
		{"/a\\b", "/"},
		{"evil.com", "/"},
		{"", "/"},
		{" /x", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	} {
		if got := SafeNext(tt.in, "/"); got != tt.want {
			t.Errorf("SafeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// APP-HDR-3: X-Forwarded-For counts only from configured proxies.
func TestClientIP_APP_HDR_3(t *testing.T) {
	k := unitKit(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	for _, tt := range []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "1.2.3.4", "203.0.113.5"}, // forged by a non-proxy
		{"10.0.0.2:1234", "198.51.100.7", "198.51.100.7"},
		{"10.0.0.2:1234", "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"},
		{"10.0.0.2:1234", "garbage", "10.0.0.2"},
		{"[::ffff:203.0.113.5]:1", "", "203.0.113.5"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := k.clientIP(r); got != tt.want {
			t.Errorf("clientIP(%s, %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
		}
	}
	// Several X-Forwarded-For lines are one list, read from the last hop
	// back: a last line of trusted proxies only moves on to the line before
	// (found by mutation testing).
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.2:1234"
	r.Header.Add("X-Forwarded-For", "6.6.6.6, 198.51.100.7")
	r.Header.Add("X-Forwarded-For", "10.0.0.9")
	if got := k.clientIP(r); got != "198.51.100.7" {
		t.Errorf("clientIP over two X-Forwarded-For lines = %q, want 198.51.100.7", got)
	}
}

func TestNewValidates(t *testing.T) {
	c, _ := idpclient.New(idpclient.Config{BaseURL: "http://127.0.0.1:1", ClientID: "app"})
	st := memstore.New(memstore.Config{})
	defer st.Close()
	key := bytes.Repeat([]byte{1}, 32)
	for name, cfg := range map[string]Config{
		"no idp":        {Store: st, SealKey: key},
		"no store":      {IdP: c, SealKey: key},
		"short key":     {IdP: c, Store: st, SealKey: key[:16]},
		"bad name":      {IdP: c, Store: st, SealKey: key, CookieName: "a;b"},
		"samesite none": {IdP: c, Store: st, SealKey: key, RefreshCookieSameSite: http.SameSiteNoneMode},
		"unsafe path":   {IdP: c, Store: st, SealKey: key, LoginPath: "//evil/login"},
		// design §7: zero is the default, DisableX the one way to say none.
		"negative idle":    {IdP: c, Store: st, SealKey: key, IdleTimeout: -time.Second},
		"negative ttl":     {IdP: c, Store: st, SealKey: key, RefreshResultTTL: -1},
		"old '-' sentinel": {IdP: c, Store: st, SealKey: key, ClearSiteData: "-"},
		"header and off":   {IdP: c, Store: st, SealKey: key, ClearSiteData: `"cache"`, DisableClearSiteData: true},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	k, err := New(Config{IdP: c, Store: st, SealKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if k.SessionCookieName() != "__Host-sid" || k.RefreshCookieName() != "__Host-rt" {
		t.Errorf("default names %q %q", k.SessionCookieName(), k.RefreshCookieName())
	}
	if k.cfg.IdleTimeout != DefaultIdleTimeout || k.cfg.AbsoluteLifetime != DefaultAbsoluteLifetime ||
		k.cfg.RefreshCookieMaxAge != DefaultRefreshCookieMaxAge || k.cfg.ClearSiteData != DefaultClearSiteData {
		t.Errorf("zero Config did not take the Default… constants: %+v", k.cfg)
	}
	d, _ := New(Config{IdP: c, Store: st, SealKey: key, DevMode: true, CookieName: "store"})
	if d.SessionCookieName() != "store-sid" || d.RefreshCookieName() != "store-rt" {
		t.Errorf("dev names %q %q", d.SessionCookieName(), d.RefreshCookieName())
	}
}

// Logout sends DefaultClearSiteData unless DisableClearSiteData, the one
// way to send none (design §7).
func TestClearSiteDataDefaultAndDisable(t *testing.T) {
	for _, off := range []bool{false, true} {
		k := unitKit(t, func(c *Config) { c.DevMode, c.DisableClearSiteData = true, off })
		r := httptest.NewRequest("POST", "/logout", nil)
		r.RemoteAddr = "127.0.0.1:5000"
		w := httptest.NewRecorder()
		k.LogoutHandler().ServeHTTP(w, r)
		got, want := w.Header().Get("Clear-Site-Data"), DefaultClearSiteData
		if off {
			want = ""
		}
		if w.Code != http.StatusSeeOther || got != want {
			t.Errorf("DisableClearSiteData %v: %d, Clear-Site-Data %q, want %q", off, w.Code, got, want)
		}
	}
}

// Development mode serves loopback peers only.
func TestDevModeLoopbackOnly(t *testing.T) {
	k := unitKit(t, func(c *Config) { c.DevMode = true })
	h := k.OptionalLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for remote, want := range map[string]int{"127.0.0.1:5000": 200, "[::1]:5000": 200, "192.0.2.1:5000": 403} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: %d, want %d", remote, w.Code, want)
		}
	}
}

func benchIdP(tb testing.TB) *idpclient.Client {
	c, err := idpclient.New(idpclient.Config{BaseURL: "http://127.0.0.1:1", ClientID: "app"})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// User decodes the claims once per session and access token; a new access
// token (a refresh writes a new session anyway) is decoded afresh.
func TestUserDecodedOncePerSessionToken(t *testing.T) {
	cache := newUserCache(2)
	sess := &sessionstore.Session{Key: "k1", UserID: "u1", AccessToken: "tok-1",
		Claims: json.RawMessage(`{"sub":"u1","email":"a@example.com","roles":["buyer"]}`)}
	user := func(s *sessionstore.Session) *UserInfo {
		return User(withState(context.Background(), &reqState{sess: s, users: cache}))
	}
	u1 := user(sess)
	if u1.Email != "a@example.com" || !u1.HasRole("buyer") {
		t.Fatalf("decoded user = %+v", u1)
	}
	if u2 := user(sess); u2 != u1 {
		t.Fatal("the same session and token were decoded again")
	}
	next := *sess
	next.AccessToken, next.Claims = "tok-2", json.RawMessage(`{"sub":"u1","email":"b@example.com"}`)
	if u3 := user(&next); u3 == u1 || u3.Email != "b@example.com" {
		t.Fatalf("a new access token reused the old user: %+v", u3)
	}
	// Bounded: filling past max empties the cache instead of growing.
	for _, k := range []string{"k2", "k3", "k4"} {
		s := *sess
		s.Key = k
		user(&s)
	}
	if n := len(cache.m); n > 2 {
		t.Fatalf("cache holds %d entries, max 2", n)
	}
}

// TestHeadersNotSharedBetweenResponses: a handler that writes into a
// header value the kit set (h[k][0] = ...) changes only its own response,
// never the next one (issue 10: the values were slices shared by all
// responses).
func TestHeadersNotSharedBetweenResponses(t *testing.T) {
	st := memstore.New(memstore.Config{})
	defer st.Close()
	k, err := New(Config{IdP: benchIdP(t), Store: st, SealKey: make([]byte, 32), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	id, key, err := newSessionID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.Put(context.Background(), &sessionstore.Session{Key: key, UserID: "u", ExpiresAt: now.Add(time.Hour),
		AbsoluteExpiry: now.Add(time.Hour), AccessTokenExpiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	evil := true
	h := k.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if evil {
			for _, name := range []string{"X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy", "Strict-Transport-Security", "Cache-Control"} {
				w.Header()[name][0] = "tampered"
			}
		}
	}))
	serve := func() http.Header {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", k.sidName+"="+id)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		return w.Header()
	}
	serve()
	evil = false
	got := serve()
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains", "Cache-Control": "no-store",
	} {
		if got.Get(name) != want {
			t.Errorf("%s = %q after an earlier handler wrote into its own, want %q", name, got.Get(name), want)
		}
	}
	if !strings.Contains(got.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q after an earlier handler wrote into its own", got.Get("Content-Security-Policy"))
	}
}

// countingStore counts ClaimRefresh calls.
type countingStore struct {
	sessionstore.Store
	claims atomic.Int64
}

func (c *countingStore) ClaimRefresh(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	c.claims.Add(1)
	return c.Store.ClaimRefresh(ctx, key, owner, ttl)
}

// TestCoordinatorUsesKitClock: a request waiting for another process's
// refresh gives up by the kit's clock (issue 10: the coordinator mixed
// time.Now and Config.Now). The clock here jumps a minute at every
// reading, so the first deadline check is past the wait bound; on
// time.Now the request would poll the store for waitMax of real time.
func TestCoordinatorUsesKitClock(t *testing.T) {
	ms := memstore.New(memstore.Config{})
	defer ms.Close()
	st := &countingStore{Store: ms}
	var mu sync.Mutex
	t0 := time.Now()
	clk := t0
	k, err := New(Config{IdP: benchIdP(t), Store: st, SealKey: make([]byte, 32), Logger: discardLogger(),
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); clk = clk.Add(time.Minute); return clk }})
	if err != nil {
		t.Fatal(err)
	}
	// Another, live process holds the claim.
	if ok, err := ms.ClaimRefresh(t.Context(), claimKey("rt"), "other-process", time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	out := k.refresh(r, refreshCookie{token: "rt", authTime: t0, issued: t0})
	if out.kind != outUnavailable {
		t.Fatalf("outcome %v, want unavailable", out.kind)
	}
	if n := st.claims.Load(); n > 3 {
		t.Fatalf("%d claim attempts: the wait ran on another clock than the kit's", n)
	}
}

// TestRefreshSealErrorHandled: the IdP rotates the refresh token but its
// access token fails verification, and the new token cannot be sealed
// into a cookie (longer than a cookie holds): the kit reports it (issue
// 10: the error was dropped) and sets no cookie.
func TestRefreshSealErrorHandled(t *testing.T) {
	var fake *httptest.Server
	fake = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/.well-known/openid-configuration" {
			_, _ = w.Write([]byte(`{"issuer":"` + fake.URL + `"}`))
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"not.a.jwt","token_type":"Bearer","expires_in":300,"refresh_token":"` + strings.Repeat("r", maxRefreshToken+1) + `"}`))
	}))
	defer fake.Close()
	ic, err := idpclient.New(idpclient.Config{BaseURL: fake.URL, ClientID: "app", ClientSecret: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New(memstore.Config{})
	defer st.Close()
	var logs bytes.Buffer
	k, err := New(Config{IdP: ic, Store: st, SealKey: make([]byte, 32), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	out := k.refresh(httptest.NewRequest("GET", "/", nil), refreshCookie{token: "old", authTime: now, issued: now})
	if out.kind != outUnavailable || out.sealed != "" {
		t.Fatalf("outcome %v sealed %q, want unavailable and no cookie", out.kind, out.sealed)
	}
	if !strings.Contains(logs.String(), "seal refresh cookie") {
		t.Fatalf("the seal error was not reported:\n%s", logs.String())
	}
}
