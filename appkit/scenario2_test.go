package appkit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sqlitestore"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

// rawGet is a goroutine-safe GET with the given cookies; it returns the
// status and the Set-Cookie values by name.
func rawGet(a *app, path string, cookies map[string]string) (int, map[string]string, error) {
	req, err := http.NewRequest(http.MethodGet, a.srv.URL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	for n, v := range cookies {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	set := map[string]string{}
	for _, c := range resp.Cookies() {
		set[c.Name] = c.Value
	}
	return resp.StatusCode, set, nil
}

// burst sends n concurrent GETs of path with the same cookies, spread over
// apps round-robin, and checks that every one is served (200) and that all
// set the same new session id. It returns that id.
func burst(t *testing.T, apps []*app, n int, path string, cookies map[string]string) string {
	t.Helper()
	type res struct {
		status int
		sid    string
		err    error
	}
	// Open n keep-alive connections first, so the burst itself is not
	// spread out by TLS handshakes and the requests really overlap.
	var warm sync.WaitGroup
	for i := range n {
		warm.Add(1)
		go func() {
			defer warm.Done()
			_, _, _ = rawGet(apps[i%len(apps)], "/login", nil)
		}()
	}
	warm.Wait()
	out := make([]res, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := apps[i%len(apps)]
			<-start
			st, set, err := rawGet(a, path, cookies)
			out[i] = res{st, set[a.kit.SessionCookieName()], err}
		}()
	}
	close(start)
	wg.Wait()
	sid := ""
	for i, r := range out {
		if r.err != nil || r.status != 200 {
			t.Fatalf("request %d: status %d, err %v", i, r.status, r.err)
		}
		if r.sid == "" {
			t.Fatalf("request %d set no session cookie", i)
		}
		if sid == "" {
			sid = r.sid
		} else if r.sid != sid {
			t.Fatalf("requests got different sessions: %q vs %q", sid, r.sid)
		}
	}
	return sid
}

// TestS11ConcurrentRefresh: 100 concurrent requests with the same expired
// session and refresh cookie make exactly one refresh call to the IdP, all
// answer 200 with the same new session, and the user stays logged in
// (APP-REF-4).
func TestS11ConcurrentRefresh(t *testing.T) {
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			w := newWorld(t, idptest.AppOptions{Name: "store"})
			clk := fakeclock.New(time.Now())
			a := newApp(t, w, appOpt{method: m, clock: clk})
			b := a.browser()
			b.login("/")
			clk.Advance(31 * time.Minute)
			calls := w.idp.RefreshCalls()
			sid := burst(t, []*app{a}, 100, "/shopping-cart", b.cookies)
			if n := w.idp.RefreshCalls() - calls; n != 1 {
				t.Fatalf("%d refresh calls reached the IdP, want 1", n)
			}
			l := a.sessions()
			if len(l) != 1 || l[0].Key != keyOf(t, sid) {
				t.Fatalf("want exactly the one new session, store has %d", len(l))
			}
			// A straggler with the old cookies still gets the same session.
			st, set, err := rawGet(a, "/shopping-cart", b.cookies)
			if err != nil || st != 200 || set[a.kit.SessionCookieName()] != sid {
				t.Fatalf("straggler: %d %v %v", st, set, err)
			}
			if n := w.idp.RefreshCalls() - calls; n != 1 {
				t.Fatalf("straggler caused a refresh call")
			}
			b.get("/shopping-cart") // adopt the new cookies
			if r := b.get("/shopping-cart"); r.status != 200 || len(r.cookies) != 0 {
				t.Fatalf("user not logged in after the burst: %d", r.status)
			}
		})
	}
}

// TestS11TwoProcessesSharedSQLite: the same with two Kit instances (two
// app processes) sharing one SQLite session store file: the claim and the
// sealed result in the store make one refresh serve both.
func TestS11TwoProcessesSharedSQLite(t *testing.T) {
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			w := newWorld(t, idptest.AppOptions{Name: "store"})
			path := filepath.Join(t.TempDir(), "sessions.db")
			ctx := context.Background()
			var apps []*app
			for range 2 {
				st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = st.Close() })
				apps = append(apps, newApp(t, w, appOpt{method: m, store: st}))
			}
			b := apps[0].browser()
			b.login("/")
			apps[0].expire(keyOf(t, b.sid()))
			calls := w.idp.RefreshCalls()
			sid := burst(t, apps, 100, "/shopping-cart", b.cookies)
			if n := w.idp.RefreshCalls() - calls; n != 1 {
				t.Fatalf("%d refresh calls reached the IdP, want 1", n)
			}
			for _, a := range apps {
				if l := a.sessions(); len(l) != 1 || l[0].Key != keyOf(t, sid) {
					t.Fatalf("store has %d sessions, want the one new session", len(l))
				}
			}
			// The user stays logged in on both processes.
			for _, a := range apps {
				st, set, err := rawGet(a, "/shopping-cart", map[string]string{a.kit.SessionCookieName(): sid})
				if err != nil || st != 200 || len(set) != 0 {
					t.Fatalf("new session on %s: %d %v %v", a.srv.URL, st, set, err)
				}
			}
		})
	}
}

// TestSessionFixation_APP_SID_2_3: a planted id is never adopted, and the
// id after login and after refresh differs from every id presented before;
// the earlier ids are destroyed.
func TestSessionFixation_APP_SID_2_3(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	clk := fakeclock.New(time.Now())
	a := newApp(t, w, appOpt{clock: clk})
	b := a.browser()
	sidName := a.kit.SessionCookieName()
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // valid shape, attacker-chosen
	b.cookies[sidName] = planted
	if r := b.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Fatalf("planted id served: %d", r.status)
	}
	b.cookies[sidName] = planted
	b.login("/")
	presented := []string{planted}
	first := b.sid()
	if first == planted {
		t.Fatal("login adopted the planted id")
	}
	if _, err := a.store.Get(context.Background(), keyOf(t, planted)); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatal("planted id stored")
	}
	presented = append(presented, first)
	// Log in again on top of a live session: a new id, the old one gone.
	b.login("/")
	second := b.sid()
	for _, p := range presented {
		if second == p {
			t.Fatal("second login reused an id")
		}
	}
	if _, err := a.store.Get(context.Background(), keyOf(t, first)); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatal("session of the first login survives the second login")
	}
	presented = append(presented, second)
	// Refresh: again a new id.
	clk.Advance(31 * time.Minute)
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("refresh: %d", r.status)
	}
	for _, p := range presented {
		if b.sid() == p {
			t.Fatal("refresh reused an id")
		}
	}
	if l := a.sessions(); len(l) != 1 {
		t.Fatalf("%d live sessions, want 1", len(l))
	}
	// APP-SID-5: the id is read from the cookie only.
	anon := a.browser()
	if r := anon.get("/shopping-cart?sid=" + b.sid()); r.status != http.StatusSeeOther {
		t.Fatalf("?sid= accepted: %d", r.status)
	}
}

// TestOpenRedirect_APP_RED_1: next values that would leave the app land
// on the home page; same-origin paths are kept.
func TestOpenRedirect_APP_RED_1(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	for _, next := range []string{"//evil.example", "https://evil.example", "/\\evil.example", "\\/evil.example",
		"%2F%2Fevil.example", "/%2F/evil.example", "/%5Cevil.example", "http:evil.example", "javascript:alert(1)",
		"//evil.example/%2F..", "/\t/evil.example", " //evil.example", "evil.example"} {
		b := a.browser()
		r := b.post("/login", url.Values{"email": {w.email}, "password": {testPassword}, "next": {next}})
		if r.status != http.StatusSeeOther || r.location() != "/shopping-cart" {
			t.Errorf("next %q: %d -> %q", next, r.status, r.location())
		}
		// The form does not carry it either.
		r = b.get("/login?next=" + url.QueryEscape(next))
		if strings.Contains(r.body, "evil") {
			t.Errorf("login form echoes next %q", next)
		}
	}
	b := a.browser()
	if r := b.post("/login", url.Values{"email": {w.email}, "password": {testPassword}, "next": {"/shopping-cart?tab=2"}}); r.location() != "/shopping-cart?tab=2" {
		t.Errorf("safe next not kept: %q", r.location())
	}
}

// TestIdPDown_APP_REF_3: with the IdP unreachable, a request needing a
// refresh answers 503, sets no cookie and creates no session; the home
// page stays anonymous; a login attempt says "unavailable"; and the first
// request after the IdP is back works.
func TestIdPDown_APP_REF_3(t *testing.T) {
	for _, m := range methods {
		t.Run(string(m), func(t *testing.T) {
			w := newWorld(t, idptest.AppOptions{Name: "store"})
			clk := fakeclock.New(time.Now())
			a := newApp(t, w, appOpt{method: m, clock: clk})
			b := a.browser()
			b.login("/")
			clk.Advance(31 * time.Minute)
			sid, rt := b.sid(), b.rt()
			w.idp.Stop()
			r := b.get("/shopping-cart")
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("IdP down: %d %q", r.status, r.body)
			}
			checkNoCookies(t, r)
			checkNoStore(t, r)
			if r := b.get("/shopping-cart"); r.status != http.StatusServiceUnavailable || len(r.cookies) != 0 {
				t.Fatalf("second request while down: %d", r.status)
			}
			if r := b.get("/"); r.status != 200 || !strings.Contains(r.body, "sign in") || len(r.cookies) != 0 {
				t.Fatalf("home while down: %d %q", r.status, r.body)
			}
			if b.sid() != sid || b.rt() != rt {
				t.Fatal("cookies changed while the IdP was down")
			}
			if l := a.sessions(); len(l) != 0 {
				t.Fatalf("%d sessions created while down", len(l))
			}
			other := a.browser()
			r = other.post("/login", url.Values{"email": {w.email}, "password": {testPassword}})
			if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "temporarily unavailable") || len(r.cookies) != 0 {
				t.Fatalf("login while down: %d %q", r.status, r.body)
			}
			if err := w.idp.Restart(); err != nil {
				t.Fatal(err)
			}
			r = b.get("/shopping-cart")
			if r.status != 200 || r.cookies[a.kit.SessionCookieName()] == nil {
				t.Fatalf("after restart: %d %q", r.status, r.body)
			}
		})
	}
}

// TestCrossOrigin_APP_LOGIN_1: cross-origin POSTs to login, logout and a
// RequireLogin handler are refused with 403 and change nothing.
func TestCrossOrigin_APP_LOGIN_1(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	b := a.browser()
	b.login("/")
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"https://evil.example"}},
	} {
		anon := a.browser()
		r := anon.do(http.MethodPost, "/login", url.Values{"email": {w.email}, "password": {testPassword}}, h)
		if r.status != http.StatusForbidden || len(r.cookies) != 0 {
			t.Errorf("cross-origin login %v: %d", h, r.status)
		}
		if r := b.do(http.MethodPost, "/shopping-cart/items", url.Values{"productId": {"1"}}, h); r.status != http.StatusForbidden {
			t.Errorf("cross-origin add %v: %d", h, r.status)
		}
		if r := b.do(http.MethodPost, "/logout", nil, h); r.status != http.StatusForbidden || len(r.cookies) != 0 {
			t.Errorf("cross-origin logout %v: %d", h, r.status)
		}
	}
	if r := b.get("/shopping-cart"); r.status != 200 || r.body != "cart of "+w.email+": 0 items" {
		t.Fatalf("state changed by cross-origin requests: %d %q", r.status, r.body)
	}
	// Same-origin browser requests pass.
	if r := b.do(http.MethodPost, "/shopping-cart/items", url.Values{"productId": {"1"}}, http.Header{"Sec-Fetch-Site": {"same-origin"}}); r.status != http.StatusSeeOther {
		t.Errorf("same-origin add: %d", r.status)
	}
}

// TestLoginErrors_APP_LOGIN_4: unknown user and wrong password read the
// same; a locked account says so; the IdP's description never shows.
func TestLoginErrors_APP_LOGIN_4(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	b := a.browser()
	wrong := b.post("/login", url.Values{"email": {w.email}, "password": {"wrong-password-wrong-password"}})
	unknown := b.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong-password-wrong-password"}})
	if wrong.status != http.StatusUnauthorized || unknown.status != wrong.status {
		t.Fatalf("statuses %d / %d", wrong.status, unknown.status)
	}
	if strings.ReplaceAll(wrong.body, w.email, "X") != strings.ReplaceAll(unknown.body, "nobody@example.com", "X") {
		t.Fatalf("bodies differ:\n%s\n%s", wrong.body, unknown.body)
	}
	if !strings.Contains(wrong.body, appkit.MsgInvalidCredentials) || strings.Contains(wrong.body, "credentials are invalid") {
		t.Fatalf("message: %q", wrong.body)
	}
	if len(wrong.cookies) != 0 || strings.Contains(wrong.body, "wrong-password") {
		t.Fatal("failed login set cookies or echoed the password")
	}
	checkNoStore(t, wrong)
	// Missing fields: same generic message, no IdP call needed.
	if r := b.post("/login", url.Values{"email": {w.email}}); r.status != http.StatusBadRequest || !strings.Contains(r.body, appkit.MsgInvalidCredentials) {
		t.Fatalf("missing password: %d", r.status)
	}
	// Lockout (IdP default: delay after 5 failures): the right password
	// from a browser without a device cookie reads like a wrong one, and
	// never "locked" (AUD-2).
	for range 5 {
		b.post("/login", url.Values{"email": {w.email}, "password": {"wrong-password-wrong-password"}})
	}
	r := b.post("/login", url.Values{"email": {w.email}, "password": {testPassword}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, appkit.MsgInvalidCredentials) ||
		strings.Contains(r.body, appkit.MsgLocked) || len(r.cookies) != 0 {
		t.Fatalf("delayed account: %d %q", r.status, r.body)
	}
}

// TestAUD1_DeviceCookieSignsInDuringStrangersLock (OWASP device cookie,
// IDP-BF-5): the kit keeps the IdP's device token in its own sealed,
// HttpOnly, Secure, SameSite=Lax, long-lived cookie that survives logout,
// and forwards it on the next login, so the owner's browser signs in while
// strangers hold the account in its delay; a fresh browser cannot.
func TestAUD1_DeviceCookieSignsInDuringStrangersLock(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	owner := a.browser()
	r := owner.login("")
	dc := r.cookies[a.kit.DeviceCookieName()]
	if dc == nil {
		t.Fatal("no device cookie set at login")
	}
	if !dc.HttpOnly || !dc.Secure || dc.SameSite != http.SameSiteLaxMode || dc.MaxAge < 30*24*3600 ||
		!strings.HasPrefix(dc.Name, "__Host-") || strings.Count(dc.Value, ".") == 2 {
		t.Fatalf("device cookie attributes: %+v (value must be sealed, not the raw JWT)", dc)
	}
	if r := owner.post("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if owner.cookies[a.kit.DeviceCookieName()] == "" {
		t.Fatal("logout cleared the device cookie")
	}
	stranger := a.browser()
	for range 8 {
		stranger.post("/login", url.Values{"email": {w.email}, "password": {"guess-guess-guess-guess"}})
	}
	fresh := a.browser()
	if r := fresh.post("/login", url.Values{"email": {w.email}, "password": {testPassword}}); r.status != http.StatusUnauthorized {
		t.Fatalf("fresh browser during the lock: %d", r.status)
	}
	owner.login("")
	// A tampered device cookie is ignored (treated as none).
	forged := a.browser()
	forged.cookies[a.kit.DeviceCookieName()] = owner.cookies[a.kit.DeviceCookieName()][:20] + "AAAA"
	if r := forged.post("/login", url.Values{"email": {w.email}, "password": {testPassword}}); r.status != http.StatusUnauthorized {
		t.Fatalf("forged device cookie: %d", r.status)
	}
}

// TestForwardedIP_IDP_BF_3: the app forwards the browser's IP (from a
// trusted proxy's X-Forwarded-For) and the IdP throttles per browser IP:
// one IP spraying passwords gets "too many attempts" while another IP is
// unaffected.
func TestForwardedIP_IDP_BF_3(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{kitMod: func(c *appkit.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}})
	spray := func(ip, email string) *response {
		b := a.browser()
		return b.do(http.MethodPost, "/login", url.Values{"email": {email}, "password": {"spray-password-spray-password"}}, http.Header{"X-Forwarded-For": {ip}})
	}
	var last *response
	for i := range 40 {
		last = spray("198.51.100.7", "user"+string(rune('a'+i%26))+"@example.com")
		if last.status == http.StatusTooManyRequests {
			break
		}
	}
	if last.status != http.StatusTooManyRequests || !strings.Contains(last.body, appkit.MsgThrottled) {
		t.Fatalf("sprayed IP not throttled: %d", last.status)
	}
	if r := spray("203.0.113.50", "other@example.com"); r.status != http.StatusUnauthorized {
		t.Fatalf("another browser IP affected: %d", r.status)
	}
}

// TestNoSecretsInLogs_APP_LOGIN_2: after login, refresh and logout the
// app's logs hold no password, session id or refresh cookie.
func TestNoSecretsInLogs_APP_LOGIN_2(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	clk := fakeclock.New(time.Now())
	a := newApp(t, w, appOpt{clock: clk})
	b := a.browser()
	b.login("/")
	secrets := []string{testPassword, b.sid(), b.rt()}
	clk.Advance(31 * time.Minute)
	b.get("/shopping-cart")
	secrets = append(secrets, b.sid(), b.rt())
	for _, s := range a.sessions() {
		secrets = append(secrets, s.AccessToken)
	}
	b.post("/logout", nil)
	logs := a.logs.String()
	if !strings.Contains(logs, "appkit: login") || !strings.Contains(logs, "session refreshed") || !strings.Contains(logs, "logout") {
		t.Fatalf("events missing from logs:\n%s", logs)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Fatalf("logs contain a secret %q", s)
		}
	}
}

// TestSessionsPage_S8: the user lists their sessions and ends one, all
// others, or all (APP-OUT-2); ended sessions cannot come back through
// their refresh cookie because the kit revokes it at the IdP.
func TestSessionsPage_S8(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	clk := fakeclock.New(time.Now())
	a := newApp(t, w, appOpt{clock: clk, apiKey: true})
	laptop, phone, tablet := a.browser(), a.browser(), a.browser()
	phone.header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
	for _, b := range []*browser{laptop, phone, tablet} {
		b.login("/")
	}
	r := laptop.get("/sessions")
	if r.status != 200 || strings.Count(r.body, "<tr><td>") != 3 || !strings.Contains(r.body, "Safari on iOS") || !strings.Contains(r.body, "this browser") {
		t.Fatalf("sessions page: %d\n%s", r.status, r.body)
	}
	checkNoStore(t, r)
	// End the phone's session by its id.
	ctx := context.Background()
	var phoneID string
	for _, s := range a.sessions() {
		if strings.Contains(s.UserAgent, "iPhone") {
			// The page's id for it is the only one next to "Safari on iOS".
			i := strings.Index(r.body, "Safari on iOS")
			j := strings.Index(r.body[i:], `name="session" value="`)
			rest := r.body[i+j+len(`name="session" value="`):]
			phoneID = rest[:strings.IndexByte(rest, '"')]
			_ = s
		}
	}
	if r := laptop.post("/sessions", url.Values{"action": {"end"}, "session": {phoneID}}); r.status != http.StatusSeeOther {
		t.Fatalf("end: %d", r.status)
	}
	if _, err := a.store.Get(ctx, keyOf(t, phone.sid())); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatal("phone session survives")
	}
	// Its refresh cookie is revoked too: the phone is sent to login.
	clk.Advance(time.Second)
	if r := phone.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Fatalf("ended phone session came back: %d", r.status)
	}
	// End all others: the tablet goes, the laptop stays.
	if r := laptop.post("/sessions", url.Values{"action": {"end-others"}}); r.status != http.StatusSeeOther {
		t.Fatalf("end-others: %d", r.status)
	}
	if r := tablet.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Fatalf("tablet still in: %d", r.status)
	}
	if r := laptop.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("laptop logged out by end-others: %d", r.status)
	}
	// End all: the user is out everywhere, refresh tokens revoked.
	tablet.login("/")
	r = laptop.post("/sessions", url.Values{"action": {"end-all"}})
	if r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("end-all: %d %q", r.status, r.location())
	}
	checkCleared(t, r, a.kit.SessionCookieName(), http.SameSiteLaxMode)
	if l := a.sessions(); len(l) != 0 {
		t.Fatalf("%d sessions after end-all", len(l))
	}
	if r := tablet.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Fatalf("tablet survives end-all: %d", r.status)
	}
	// Cross-origin session actions are refused.
	tablet.login("/")
	if r := tablet.do(http.MethodPost, "/sessions", url.Values{"action": {"end-all"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); r.status != http.StatusForbidden {
		t.Fatalf("cross-site end-all: %d", r.status)
	}
}

// TestEndUserSessions_S10_hook: the hook a revocation webhook will call
// ends the user's live sessions at once.
func TestEndUserSessions_S10_hook(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	b1, b2 := a.browser(), a.browser()
	b1.login("/")
	b2.login("/")
	n, err := a.kit.EndUserSessions(context.Background(), w.userID)
	if err != nil || n != 2 {
		t.Fatalf("EndUserSessions = %d, %v", n, err)
	}
	// With the tokens revoked at the IdP too (as S10 does), both are out.
	w.revokeUser(t)
	for _, b := range []*browser{b1, b2} {
		if r := b.get("/shopping-cart"); r.status != http.StatusSeeOther {
			t.Fatalf("session survives: %d", r.status)
		}
	}
}

// TestLifetimes: APP-LIFE-2 (absolute lifetime, activity does not extend
// it; the record is removed) and APP-LIFE-3 (after ReauthAfter the
// password is required even with a live refresh token).
func TestLifetimes(t *testing.T) {
	// Access tokens outlive the absolute lifetime here, so no re-validation
	// (AUD-9) refreshes the session before it.
	w := newWorld(t, idptest.AppOptions{Name: "store", AccessTTL: 4 * time.Hour})
	clk := fakeclock.New(time.Now())
	a := newApp(t, w, appOpt{clock: clk, kitMod: func(c *appkit.Config) {
		c.AbsoluteLifetime = time.Hour
		c.ReauthAfter = 3 * time.Hour
	}})
	b := a.browser()
	b.login("/")
	first := keyOf(t, b.sid())
	calls := w.idp.RefreshCalls()
	for range 5 { // activity every 10 minutes
		clk.Advance(10 * time.Minute)
		if r := b.get("/shopping-cart"); r.status != 200 || len(r.cookies) != 0 {
			t.Fatalf("active session: %d", r.status)
		}
	}
	if w.idp.RefreshCalls() != calls || keyOf(t, b.sid()) != first {
		t.Fatal("an active session was refreshed before its absolute lifetime")
	}
	clk.Advance(10*time.Minute + time.Second) // 1 h + 1 s after login
	if r := b.get("/shopping-cart"); r.status != 200 || w.idp.RefreshCalls() != calls+1 {
		t.Fatalf("after the absolute lifetime the refresh path must run: %d", r.status)
	}
	if _, err := a.store.Get(context.Background(), first); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatal("session past its absolute lifetime still stored")
	}
	// APP-LIFE-3: 3 h after the password, refresh is no longer allowed.
	clk.Advance(3*time.Hour + time.Second)
	r := b.get("/shopping-cart")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Fatalf("after ReauthAfter: %d %q", r.status, r.location())
	}
	checkCleared(t, r, a.kit.RefreshCookieName(), http.SameSiteStrictMode)
}

// TestOptionalLoginRefreshes: the home page (OptionalLogin) recognizes a
// user whose session expired through the refresh cookie, and is anonymous
// with a dead one.
func TestOptionalLoginRefreshes(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	clk := fakeclock.New(time.Now())
	a := newApp(t, w, appOpt{clock: clk})
	b := a.browser()
	b.login("/")
	clk.Advance(31 * time.Minute)
	r := b.get("/")
	if r.status != 200 || r.body != "welcome back "+w.email || r.cookies[a.kit.SessionCookieName()] == nil {
		t.Fatalf("home after expiry: %d %q", r.status, r.body)
	}
	checkNoStore(t, r)
	w.revokeUser(t)
	clk.Advance(31 * time.Minute)
	r = b.get("/")
	if r.status != 200 || !strings.Contains(r.body, "sign in") {
		t.Fatalf("home with dead refresh: %d %q", r.status, r.body)
	}
	checkCleared(t, r, a.kit.RefreshCookieName(), http.SameSiteStrictMode)
	checkNoStore(t, r)
}

// TestSecurityHeaders_APP_HDR_2 asserts the headers on every kit route,
// including redirects, errors and the 503 page.
func TestSecurityHeaders_APP_HDR_2(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	clk := fakeclock.New(time.Now())
	a := newApp(t, w, appOpt{clock: clk})
	anon := a.browser()
	for _, r := range []*response{
		anon.get("/"), anon.get("/login"), anon.get("/shopping-cart"), anon.get("/sessions"), anon.get("/logout"),
		anon.post("/login", url.Values{"email": {"x@example.com"}, "password": {"wrong-password-wrong"}}),
		anon.do(http.MethodPost, "/logout", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}),
	} {
		checkSecurityHeaders(t, r)
	}
	b := a.browser()
	b.login("/")
	checkSecurityHeaders(t, b.get("/shopping-cart"))
	checkSecurityHeaders(t, b.get("/sessions"))
	clk.Advance(31 * time.Minute)
	w.idp.Stop()
	r := b.get("/shopping-cart")
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d", r.status)
	}
	checkSecurityHeaders(t, r)
	checkSecurityHeaders(t, b.post("/logout", nil))
}

// TestTwoAppsNoSSO_S6: a second app (another client, other cookie names,
// its own store) does not accept the first app's cookies.
func TestTwoAppsNoSSO_S6(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	store := newApp(t, w, appOpt{})
	forumID, forumSecret := w.idp.CreateApp(t, idptest.AppOptions{Name: "forums"})
	fw := &world{idp: w.idp, clientID: forumID, secret: forumSecret, email: w.email, userID: w.userID}
	forum := newApp(t, fw, appOpt{kitMod: func(c *appkit.Config) { c.CookieName = "forum" }})
	b := store.browser()
	b.login("/")
	// Same cookies presented to the forum (as if the names matched).
	fb := forum.browser()
	fb.cookies[forum.kit.SessionCookieName()] = b.sid()
	fb.cookies[forum.kit.RefreshCookieName()] = b.rt()
	if r := fb.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Fatalf("forum accepted the store's cookies: %d", r.status)
	}
	// The user is not registered to the forum app: their login there is
	// the forum's own business; the store session is untouched.
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("store session: %d", r.status)
	}
}
