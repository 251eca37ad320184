package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
)

// S6: the Forums is another app, another OAuth client and other cookies:
// being signed in to the Store does not sign you in to the Forums, which
// runs its own login (S1-S5 again).
func TestS6_ForumsLoginNoSSO(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)
	b.login(e.info.Store, alice, "/shopping-cart")
	// Both apps live on 127.0.0.1, so the browser sends the Store's
	// cookies to the Forums too (cookies ignore ports): the Forums must
	// not accept them.
	if b.cookie(e.info.Forums, "store-sid") == "" {
		t.Fatal("test setup: the jar does not send the Store's cookies to the Forums' host")
	}
	expectLogin(t, "forums with store cookies", b.get(e.forums("/posts")), "/posts")
	if r := b.post(e.forums("/posts"), url.Values{"title": {"x"}, "body": {"y"}}); r.Status != 303 || r.Location != "/login" {
		t.Fatalf("posting without a forum session: %d %q", r.Status, r.Location)
	}
	home := b.get(e.forums("/"))
	if home.Status != 200 || !strings.Contains(home.Body, "Sign in") || strings.Contains(home.Body, alice.Email) {
		t.Fatalf("forums home shows a signed-in user: %d", home.Status)
	}
	if len(e.forumSessions(aliceID)) != 0 {
		t.Fatal("a forum session exists before the forum login")
	}
	// A Store refresh cookie copied into the Forums' cookie does not open
	// there: sealed with the Store's key and bound to its name (ATK-6).
	x := e.browser("cross-app")
	x.setCookie(e.info.Forums, "forums-rt", b.cookie(e.info.Store, "store-rt"))
	r := x.get(e.forums("/posts"))
	expectLogin(t, "store refresh cookie at the forums", r, "/posts")

	mark := e.rec.mark()
	form := b.get(e.forums("/login?next=%2Fposts"))
	if form.Status != 200 || !strings.Contains(form.Body, "Sign in to Gatehouse Forums") || !strings.Contains(form.Body, `value="/posts"`) {
		t.Fatalf("forums login form: %d", form.Status)
	}
	b.login(e.info.Forums, alice, "/posts")
	var token []idpCall
	for _, c := range e.rec.since(mark) {
		if c.Path == "/oauth2/token" {
			token = append(token, c)
		}
	}
	if len(token) != 1 || token[0].GrantType != "password" || token[0].ClientID != e.info.Applications.Forums.ID || !token[0].ClientSecretOK {
		t.Fatalf("forums token call %+v: want the password grant with the Forums' own client", token)
	}
	if b.cookie(e.info.Forums, "forums-sid") == "" || b.cookie(e.info.Forums, "forums-rt") == "" {
		t.Fatal("forums cookies missing")
	}
	fs := e.forumSessions(aliceID)
	if len(fs) != 1 || !strings.Contains(string(fs[0].Claims), e.info.Applications.Forums.ID) {
		t.Fatalf("forum session %+v: want one, with the Forums as audience", fs)
	}
	threads := b.get(e.forums("/posts"))
	if threads.Status != 200 || !strings.Contains(threads.Body, "Welcome to the Gatehouse forums") {
		t.Fatalf("threads: %d", threads.Status)
	}
	r = b.post(e.forums("/posts"), url.Values{"title": {"Cart survives refresh?"}, "body": {"It does <b>not</b> vanish."}})
	if r.Status != 303 || !strings.HasPrefix(r.Location, "/posts/") {
		t.Fatalf("new thread: %d %q", r.Status, r.Location)
	}
	thread := b.get(e.forums(r.Location))
	if thread.Status != 200 || !strings.Contains(thread.Body, "It does &lt;b&gt;not&lt;/b&gt; vanish.") || !strings.Contains(thread.Body, "<strong>alice</strong>") {
		t.Fatalf("thread page (escaped body, author): %d\n%s", thread.Status, thread.Body)
	}
	reply := b.post(e.forums(r.Location+"/replies"), url.Values{"body": {"Confirmed."}})
	if reply.Status != 303 || !strings.Contains(reply.Location, "#post-") {
		t.Fatalf("reply: %d %q", reply.Status, reply.Location)
	}
	if bad := b.post(e.forums("/posts"), url.Values{"title": {""}, "body": {"x"}}); bad.Status != 400 || !strings.Contains(bad.Body, "Give the thread a title.") {
		t.Fatalf("empty title: %d", bad.Status)
	}
	if bad := b.get(e.forums("/posts/99999")); bad.Status != 404 {
		t.Fatalf("missing thread: %d", bad.Status)
	}
	// The forum session expires and refreshes on its own (S4 for the forum).
	e.clock.Advance(idle + time.Minute)
	if p := b.get(e.forums(r.Location)); p.Status != 200 || p.setCookie("forums-sid") == nil {
		t.Fatalf("forum refresh: %d", p.Status)
	}
	// Logging out of the Forums leaves the Store session alone.
	if lo := b.post(e.forums("/logout"), nil); lo.Status != 303 {
		t.Fatalf("forum logout: %d", lo.Status)
	}
	expectLogin(t, "forums after forum logout", b.get(e.forums("/posts")), "/posts")
	if p := b.get(e.store("/shopping-cart")); p.Status != 200 {
		t.Fatalf("store after forum logout: %d", p.Status)
	}
}

// S7: an attacker with a stolen refresh cookie and a bogus session id.
// The first use succeeds (as the article shows); rotation with reuse
// detection revokes the whole family as soon as the stolen and the real
// token have both been used, after which both the attacker and the victim
// are sent to login. Logout and "sign out everywhere" also kill it.
func TestS7_StolenRefreshToken(t *testing.T) {
	bogus := "bogus-session-id"
	steal := func(e *env, victim, attacker *browser) {
		attacker.setCookie(e.info.Store, "store-rt", victim.cookie(e.info.Store, "store-rt"))
		attacker.setCookie(e.info.Store, "store-sid", bogus)
	}

	t.Run("attacker first", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, aliceID := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		victim.post(e.store("/shopping-cart/items"), url.Values{"productId": {"8"}})
		steal(e, victim, attacker)

		e.clock.Advance(idle - 2*time.Minute) // the victim's session is still live
		r := attacker.get(e.store("/shopping-cart"))
		if r.Status != 200 || !strings.Contains(r.Body, "Wax seal kit") {
			t.Fatalf("attacker's first use: %d (the article's attack succeeds once)", r.Status)
		}
		// Past the grace period and the apps' shared-result window, and past
		// the victim's idle timeout: the victim's browser presents the
		// token the attacker already rotated.
		e.clock.Advance(3 * time.Minute)
		mark := e.rec.mark()
		r = victim.get(e.store("/shopping-cart"))
		expectLogin(t, "victim", r, "/shopping-cart")
		expectCleared(t, "victim", r, "store")
		if c := refreshCalls(e.rec.since(mark)); len(c) != 1 || jsonField(c[0].Body, "error") != "invalid_grant" {
			t.Fatalf("victim's refresh %+v: want invalid_grant (reuse)", c)
		}
		if n := e.families(aliceID, e.info.Applications.Store.ID); n != 0 {
			t.Fatalf("%d families left: reuse must revoke the family (IDP-RT-4)", n)
		}
		// The attacker's live session is ended by the reuse event (S10).
		var last response
		if !within(propagation, func() bool { last = attacker.get(e.store("/shopping-cart")); return last.Status == 303 }) {
			t.Fatalf("attacker still served %d after the reuse", last.Status)
		}
		expectLogin(t, "attacker", last, "/shopping-cart")
		// Logging in again works for the victim.
		victim.login(e.info.Store, alice, "/shopping-cart")
	})

	t.Run("victim first", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, _ := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		steal(e, victim, attacker)
		e.clock.Advance(idle + time.Minute)
		if r := victim.get(e.store("/shopping-cart")); r.Status != 200 || r.setCookie("store-rt") == nil {
			t.Fatalf("victim refresh: %d", r.Status)
		}
		e.clock.Advance(3 * time.Minute)
		r := attacker.get(e.store("/shopping-cart"))
		expectLogin(t, "attacker with the rotated-out token", r, "/shopping-cart")
		var last response
		if !within(propagation, func() bool { last = victim.get(e.store("/shopping-cart")); return last.Status == 303 }) {
			t.Fatalf("victim still served %d after the reuse", last.Status)
		}
		expectLogin(t, "victim", last, "/shopping-cart")
	})

	t.Run("logout revokes it", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, _ := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		steal(e, victim, attacker)
		if r := victim.post(e.store("/logout"), nil); r.Status != 303 {
			t.Fatalf("logout: %d", r.Status)
		}
		expectLogin(t, "attacker after the victim's logout", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
	})

	t.Run("sign out everywhere revokes it", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, aliceID := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		steal(e, victim, attacker)
		if r := attacker.get(e.store("/shopping-cart")); r.Status != 200 {
			t.Fatalf("attacker's first use: %d", r.Status)
		}
		// The victim sees two sessions and signs out everywhere.
		page := victim.get(e.store("/sessions"))
		if others := sessionIDField.FindAllString(page.Body, -1); page.Status != 200 || len(others) != 1 || !strings.Contains(page.Body, "this browser") {
			t.Fatalf("sessions page: %d, want this browser and one other session\n%s", page.Status, page.Body)
		}
		r := victim.post(e.store("/sessions"), url.Values{"action": {"end-all"}, "confirm": {"yes"}})
		if r.Status != 303 || r.Location != "/login" {
			t.Fatalf("end-all: %d %q", r.Status, r.Location)
		}
		expectLogin(t, "attacker", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
		if n := e.families(aliceID, e.info.Applications.Store.ID); n != 0 {
			t.Fatalf("%d families left after sign-out everywhere", n)
		}
	})
}

var sessionIDField = regexp.MustCompile(`name="session" value="([^"]+)"`)

// S8: an attacker with a stolen session cookie. It works until the idle
// or absolute timeout (or, without the refresh cookie, the access token's
// lifetime: AUD-9), until the user signs it out from the sessions page,
// logs out, or the IdP revokes the user (S10).
func TestS8_StolenSessionID(t *testing.T) {
	stealSID := func(e *env, from, to *browser) {
		to.setCookie(e.info.Store, "store-sid", from.cookie(e.info.Store, "store-sid"))
		if r := to.get(e.store("/shopping-cart")); r.Status != 200 {
			t.Fatalf("stolen session id does not work at first: %d", r.Status)
		}
	}
	t.Run("idle timeout", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, _ := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		stealSID(e, victim, attacker)
		e.clock.Advance(idle + time.Second)
		expectLogin(t, "attacker after idle timeout", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
		if r := victim.get(e.store("/shopping-cart")); r.Status != 200 { // the victim refreshes
			t.Fatalf("victim: %d", r.Status)
		}
	})
	t.Run("absolute timeout", func(t *testing.T) {
		// Access tokens outlive the absolute lifetime here: otherwise the
		// stolen session id alone ends at the first re-validation (AUD-9,
		// e2e/aud_appkit_test.go).
		e := newEnv(t, func(o *demo.Options) { o.AccessTTL = 2 * absolute })
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, aliceID := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		stealSID(e, victim, attacker)
		// Active every 5 minutes: the idle timeout never fires...
		for elapsed := time.Duration(0); elapsed < absolute-5*time.Minute; elapsed += 5 * time.Minute {
			e.clock.Advance(5 * time.Minute)
			if r := attacker.get(e.store("/shopping-cart")); r.Status != 200 {
				t.Fatalf("attacker lost the session early at %v: %d", elapsed+5*time.Minute, r.Status)
			}
		}
		// ...but the absolute lifetime does (APP-LIFE-2), and the record goes.
		e.clock.Advance(5*time.Minute + time.Second)
		expectLogin(t, "attacker after absolute lifetime", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
		if n := len(e.storeSessions(aliceID)); n != 0 {
			t.Fatalf("%d sessions remain", n)
		}
	})
	t.Run("sign out other sessions", func(t *testing.T) {
		e := newEnv(t)
		laptop, phone, attacker := e.browser("laptop"), e.browser("phone"), e.browser("attacker")
		alice, _ := e.user(0)
		laptop.login(e.info.Store, alice, "/shopping-cart")
		phone.login(e.info.Store, alice, "/shopping-cart")
		stealSID(e, phone, attacker)
		page := laptop.get(e.store("/sessions"))
		ids := sessionIDField.FindAllStringSubmatch(page.Body, -1)
		if page.Status != 200 || len(ids) != 1 || !strings.Contains(page.Body, "this browser") || !strings.Contains(page.Body, "Firefox on Linux") {
			t.Fatalf("sessions page: %d, %d other sessions\n%s", page.Status, len(ids), page.Body)
		}
		if r := laptop.post(e.store("/sessions"), url.Values{"action": {"end"}, "session": {ids[0][1]}}); r.Status != 303 || r.Location != "/sessions?done=end" {
			t.Fatalf("end session: %d %q", r.Status, r.Location)
		}
		expectLogin(t, "attacker after 'sign out' of that session", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
		// The phone's refresh token was revoked too: the phone is out.
		expectLogin(t, "phone", phone.get(e.store("/shopping-cart")), "/shopping-cart")
		if r := laptop.get(e.store("/sessions?done=end")); r.Status != 200 || !strings.Contains(r.Body, "Signed out that session.") {
			t.Fatalf("laptop: %d", r.Status)
		}
		// "Sign out all other sessions" does the same for every other one.
		phone.login(e.info.Store, alice, "/shopping-cart")
		stealSID(e, phone, attacker)
		if r := laptop.post(e.store("/sessions"), url.Values{"action": {"end-others"}}); r.Status != 303 {
			t.Fatalf("end-others: %d", r.Status)
		}
		expectLogin(t, "attacker after 'sign out all other sessions'", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
		if r := laptop.get(e.store("/shopping-cart")); r.Status != 200 {
			t.Fatalf("laptop after end-others: %d", r.Status)
		}
	})
	t.Run("logout destroys it", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, _ := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		stealSID(e, victim, attacker)
		victim.post(e.store("/logout"), nil)
		expectLogin(t, "attacker after logout", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
	})
	t.Run("revocation at the IdP", func(t *testing.T) {
		e := newEnv(t)
		victim, attacker := e.browser("victim"), e.browser("attacker")
		alice, aliceID := e.user(0)
		victim.login(e.info.Store, alice, "/shopping-cart")
		stealSID(e, victim, attacker)
		if _, err := e.admin().RevokeUserTokens(e.ctx, aliceID, ""); err != nil {
			t.Fatal(err)
		}
		var last response
		if !within(propagation, func() bool { last = attacker.get(e.store("/shopping-cart")); return last.Status == 303 }) {
			t.Fatalf("stolen session still served %d after the IdP revoked the user", last.Status)
		}
	})
}

// S9: logout destroys the session, revokes the refresh token at the IdP
// and clears both cookies; the old cookies no longer work anywhere.
func TestS9_Logout(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)
	b.login(e.info.Store, alice, "/shopping-cart")
	b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"5"}})
	sid, rt := b.cookie(e.info.Store, "store-sid"), b.cookie(e.info.Store, "store-rt")

	if r := b.get(e.store("/logout")); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET /logout: %d", r.Status)
	}
	// Logout CSRF: a cross-site POST is refused and logs nobody out.
	b.headers.Set("Sec-Fetch-Site", "cross-site")
	if r := b.post(e.store("/logout"), nil); r.Status != http.StatusForbidden {
		t.Fatalf("cross-site logout: %d", r.Status)
	}
	b.headers.Del("Sec-Fetch-Site")
	if len(e.storeSessions(aliceID)) != 1 {
		t.Fatal("cross-site logout ended the session")
	}

	mark := e.rec.mark()
	r := b.post(e.store("/logout"), nil)
	if r.Status != 303 || r.Location != "/" {
		t.Fatalf("logout: %d %q", r.Status, r.Location)
	}
	expectCleared(t, "logout", r, "store")
	if r.Header.Get("Clear-Site-Data") == "" {
		t.Error("logout sends no Clear-Site-Data")
	}
	if n := len(e.storeSessions(aliceID)); n != 0 {
		t.Fatalf("%d sessions after logout", n)
	}
	revoked := false
	for _, c := range e.rec.since(mark) {
		if c.Path == "/oauth2/revoke" && c.Status == 200 && c.ClientID == e.info.Applications.Store.ID {
			revoked = true
		}
	}
	if !revoked || e.families(aliceID, e.info.Applications.Store.ID) != 0 {
		t.Fatal("logout did not revoke the refresh token at the IdP")
	}
	if home := b.get(e.store("/")); home.Status != 200 || strings.Contains(home.Body, alice.Email) {
		t.Fatalf("home after logout: %d", home.Status)
	}
	// The old cookies, replayed from a copy, work nowhere.
	replay := e.browser("replay")
	replay.setCookie(e.info.Store, "store-sid", sid)
	replay.setCookie(e.info.Store, "store-rt", rt)
	expectLogin(t, "replayed cookies at the store", replay.get(e.store("/shopping-cart")), "/shopping-cart")
	replay.setCookie(e.info.Store, "store-sid", sid)
	replay.setCookie(e.info.Store, "store-rt", rt)
	expectLogin(t, "replayed cookies at the forums", replay.get(e.forums("/posts")), "/posts")
	// Logging in again finds the cart.
	b.login(e.info.Store, alice, "/shopping-cart")
	if p := b.get(e.store("/shopping-cart")); !strings.Contains(p.Body, "Notebook") {
		t.Fatal("cart lost across logout")
	}
}
