package e2e

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/examples/shop"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// S10: when the IdP revokes a user's tokens — admin, password change,
// deactivation, "sign out everywhere" — the apps' live sessions for that
// user end within a second, without waiting for them to expire. Reuse
// detection ends the sessions of the reused grant.
func TestS10_RevocationReachesApps(t *testing.T) {
	// signedInBoth signs alice in to both apps in one browser.
	signedInBoth := func(t *testing.T, e *env) (*browser, demo.User, string) {
		b := e.browser("alice-laptop")
		alice, aliceID := e.user(0)
		b.login(e.info.Store, alice, "/shopping-cart")
		b.login(e.info.Forums, alice, "/posts")
		if len(e.storeSessions(aliceID)) != 1 || len(e.forumSessions(aliceID)) != 1 {
			t.Fatal("setup: want one session in each app")
		}
		return b, alice, aliceID
	}
	// bothEnd asserts both apps' sessions end within the bound, measured
	// from the moment the IdP call returned, and the pages say "login".
	bothEnd := func(t *testing.T, e *env, b *browser, userID string, start time.Time) {
		t.Helper()
		left := propagation - time.Since(start)
		if !within(left, func() bool { return len(e.forumSessions(userID)) == 0 && len(e.storeSessions(userID)) == 0 }) {
			t.Fatalf("after %v: %d store and %d forum sessions still live", propagation, len(e.storeSessions(userID)), len(e.forumSessions(userID)))
		}
		expectLogin(t, "forums", b.get(e.forums("/posts")), "/posts")
		expectLogin(t, "store", b.get(e.store("/shopping-cart")), "/shopping-cart")
	}

	t.Run("admin revocation", func(t *testing.T) {
		e := newEnv(t)
		b, _, id := signedInBoth(t, e)
		if _, err := e.admin().RevokeUserTokens(e.ctx, id, ""); err != nil {
			t.Fatal(err)
		}
		bothEnd(t, e, b, id, time.Now())
	})
	t.Run("admin API revocation", func(t *testing.T) {
		e := newEnv(t)
		b, _, id := signedInBoth(t, e)
		if st := e.adminAPI(t, http.MethodDelete, "/api/jwt/refresh?userId="+id, ""); st != http.StatusOK {
			t.Fatalf("DELETE /api/jwt/refresh: %d", st)
		}
		bothEnd(t, e, b, id, time.Now())
	})
	t.Run("password change", func(t *testing.T) {
		e := newEnv(t)
		b, alice, id := signedInBoth(t, e)
		if err := e.admin().SetPassword(e.ctx, id, "a brand new long passphrase"); err != nil {
			t.Fatal(err)
		}
		bothEnd(t, e, b, id, time.Now())
		if r := b.post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}}); r.Status != http.StatusUnauthorized {
			t.Fatalf("old password: %d", r.Status)
		}
		alice.Password = "a brand new long passphrase"
		b.login(e.info.Store, alice, "/shopping-cart")
	})
	t.Run("deactivation", func(t *testing.T) {
		e := newEnv(t)
		b, alice, id := signedInBoth(t, e)
		if err := e.admin().SetActive(e.ctx, id, false); err != nil {
			t.Fatal(err)
		}
		bothEnd(t, e, b, id, time.Now())
		if r := b.post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}}); r.Status == http.StatusSeeOther {
			t.Fatal("deactivated user logged in")
		}
	})
	t.Run("sign out everywhere from the store", func(t *testing.T) {
		e := newEnv(t)
		b, _, id := signedInBoth(t, e)
		phone := e.browser("alice-phone")
		alice, _ := e.user(0)
		phone.login(e.info.Forums, alice, "/posts")
		start := time.Now()
		if r := b.post(e.store("/sessions"), url.Values{"action": {"end-all"}, "confirm": {"yes"}}); r.Status != 303 {
			t.Fatalf("end-all: %d", r.Status)
		}
		bothEnd(t, e, b, id, start)
		expectLogin(t, "phone at the forums", phone.get(e.forums("/posts")), "/posts")
	})
	t.Run("reuse ends the reused grant only", func(t *testing.T) {
		e := newEnv(t)
		b, _, id := signedInBoth(t, e)
		attacker := e.browser("attacker")
		attacker.setCookie(e.info.Store, "store-rt", b.cookie(e.info.Store, "store-rt"))
		e.clock.Advance(idle - 2*time.Minute)
		b.get(e.forums("/posts")) // keep the forum session alive
		if r := attacker.get(e.store("/shopping-cart")); r.Status != 200 {
			t.Fatalf("attacker: %d", r.Status)
		}
		e.clock.Advance(3 * time.Minute)
		delivered := e.d.Webhooks.Stats().Delivered
		expectLogin(t, "victim", b.get(e.store("/shopping-cart")), "/shopping-cart")
		if !within(propagation, func() bool { return len(e.storeSessions(id)) == 0 && e.d.Webhooks.Stats().Delivered > delivered }) {
			t.Fatal("the reused grant's sessions did not end")
		}
		if r := b.get(e.forums("/posts")); r.Status != 200 {
			t.Fatalf("forum session (another grant) ended by the store's reuse: %d", r.Status)
		}
	})
	t.Run("logout on one device leaves the others", func(t *testing.T) {
		e := newEnv(t)
		laptop, phone := e.browser("laptop"), e.browser("phone")
		alice, id := e.user(0)
		laptop.login(e.info.Store, alice, "/shopping-cart")
		phone.login(e.info.Store, alice, "/shopping-cart")
		delivered := e.d.Webhooks.Stats().Delivered
		phone.post(e.store("/logout"), nil)
		if !within(5*time.Second, func() bool { return e.d.Webhooks.Stats().Delivered > delivered }) {
			t.Fatal("logout event not delivered")
		}
		if r := laptop.get(e.store("/shopping-cart")); r.Status != 200 || len(e.storeSessions(id)) != 1 {
			t.Fatalf("laptop signed out by the phone's logout: %d", r.Status)
		}
	})
	t.Run("forged events are refused", func(t *testing.T) {
		e := newEnv(t)
		b, _, id := signedInBoth(t, e)
		body, _ := webhook.Marshal(webhook.Event{ID: "forged-1", Type: webhook.EventUserDeactivate, UserID: id})
		ts, sig := webhook.Sign([]byte("not-the-webhook-secret-at-all"), e.clock.Now(), body)
		for _, c := range []struct {
			ts, sig string
			want    int
		}{{ts, sig, 401}, {"", "", 400}} {
			req, _ := http.NewRequest(http.MethodPost, e.forums("/webhooks/gatehouse"), bytes.NewReader(body))
			if c.ts != "" {
				req.Header.Set(webhook.HeaderTimestamp, c.ts)
				req.Header.Set(webhook.HeaderSignature, c.sig)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Fatalf("forged event: %d, want %d", resp.StatusCode, c.want)
			}
		}
		if r := b.get(e.forums("/posts")); r.Status != 200 {
			t.Fatalf("forged event ended the session: %d", r.Status)
		}
	})
}

// S11: many requests at once with the same expired session and the same
// refresh cookie, spread over two processes of the Store sharing its
// database and session store: exactly one refresh reaches the IdP, every
// request succeeds, and nobody is logged out by reuse detection.
func TestS11_ConcurrentRefresh(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, aliceID := e.user(0)
	b.login(e.info.Store, alice, "/shopping-cart")
	b.post(e.store("/shopping-cart/items"), url.Values{"productId": {"6"}, "quantity": {"3"}})

	// A second Store process: same configuration, files and seal key.
	second, err := shop.New(context.Background(), e.d.StoreConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	srv := httptest.NewServer(second)
	defer srv.Close()

	e.clock.Advance(idle + time.Minute)
	cookie := "store-sid=" + b.cookie(e.info.Store, "store-sid") + "; store-rt=" + b.cookie(e.info.Store, "store-rt")
	before := e.d.IdP.RefreshRequests()
	const n = 24
	type result struct {
		status  int
		body    string
		sid, rt string
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := e.info.Store
			if i%2 == 1 {
				base = srv.URL
			}
			req, _ := http.NewRequest(http.MethodGet, base+"/shopping-cart", nil)
			req.Header.Set("Cookie", cookie)
			<-startGate
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results[i] = result{status: -1, body: err.Error()}
				return
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			r := result{status: resp.StatusCode, body: buf.String()}
			for _, c := range resp.Cookies() {
				switch c.Name {
				case "store-sid":
					r.sid = c.Value
				case "store-rt":
					r.rt = c.Value
				}
			}
			results[i] = r
		}(i)
	}
	close(startGate)
	wg.Wait()
	sids := map[string]bool{}
	for i, r := range results {
		if r.status != 200 || !strings.Contains(r.body, "Wool scarf") || r.rt == "" {
			t.Fatalf("request %d: %d (new refresh cookie %v) %s", i, r.status, r.rt != "", r.body)
		}
		sids[r.sid] = true
	}
	if got := e.d.IdP.RefreshRequests() - before; got != 1 {
		t.Fatalf("%d refreshes reached the IdP, want exactly 1", got)
	}
	if len(sids) != 1 || sids[""] {
		t.Fatalf("requests got %d different new sessions, want all the same one", len(sids))
	}
	if fam := e.families(aliceID, e.info.Applications.Store.ID); fam != 1 {
		t.Fatalf("%d families: reuse detection fired", fam)
	}
	// The browser carries on with the cookies of any one response (here
	// the last): no refresh now, and a normal refresh later.
	b.setCookie(e.info.Store, "store-sid", results[n-1].sid)
	b.setCookie(e.info.Store, "store-rt", results[n-1].rt)
	before = e.d.IdP.RefreshRequests()
	if r := b.get(e.store("/shopping-cart")); r.Status != 200 || e.d.IdP.RefreshRequests() != before {
		t.Fatalf("with the new cookies: %d", r.Status)
	}
	e.clock.Advance(idle + time.Minute)
	if r := b.get(e.store("/shopping-cart")); r.Status != 200 || e.d.IdP.RefreshRequests() != before+1 {
		t.Fatalf("next refresh: %d", r.Status)
	}
}

// S12: repeated bad passwords: per-account delay (AUD-1) and per-client-IP
// throttling at the IdP (the apps forward the browser's IP), with the
// same answer for unknown and known accounts.
func TestS12_BruteForce(t *testing.T) {
	t.Run("same answer for unknown and known accounts", func(t *testing.T) {
		e := newEnv(t)
		alice, _ := e.user(0)
		known, unknown := e.browser("known"), e.browser("unknown")
		mark := e.rec.mark()
		rk := known.post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {"wrong password of some length"}})
		ru := unknown.post(e.store("/login"), url.Values{"email": {"nobody@example.com"}, "password": {"wrong password of some length"}})
		if rk.Status != http.StatusUnauthorized || ru.Status != http.StatusUnauthorized {
			t.Fatalf("statuses %d / %d, want 401 for both", rk.Status, ru.Status)
		}
		if strings.ReplaceAll(rk.Body, alice.Email, "X") != strings.ReplaceAll(ru.Body, "nobody@example.com", "X") {
			t.Fatalf("pages differ for unknown and known accounts (APP-LOGIN-4)")
		}
		if !strings.Contains(rk.Body, appkit.MsgInvalidCredentials) {
			t.Fatal("no generic error message on the form")
		}
		var idp []idpCall
		for _, c := range e.rec.since(mark) {
			if c.Path == "/oauth2/token" {
				idp = append(idp, c)
			}
		}
		if len(idp) != 2 || idp[0].Status != idp[1].Status || !bytes.Equal(idp[0].Body, idp[1].Body) {
			t.Fatalf("IdP answers differ for unknown and known accounts (IDP-BF-4): %+v", idp)
		}
	})

	t.Run("per-account lockout", func(t *testing.T) {
		e := newEnv(t)
		alice, aliceID := e.user(0)
		bob, _ := e.user(1)
		other := e.browser("alice-other-device")
		other.login(e.info.Store, alice, "/shopping-cart")
		// Five failures from five addresses: the count is per account,
		// not per IP (IDP-BF-1).
		for i := 0; i < 5; i++ {
			r := e.browser("guesser").post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {"guess number " + string(rune('a'+i)) + " is wrong"}})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d", i+1, r.Status)
			}
		}
		// A new browser, even with the right password, waits out the delay
		// and is told nothing more than "invalid" (AUD-2).
		b := e.browser("alice-laptop")
		r := b.post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}})
		if r.Status != http.StatusUnauthorized || strings.Contains(r.Body, appkit.MsgLocked) {
			t.Fatalf("right password from a new browser during the delay: %d", r.Status)
		}
		// AUD-1: the failures ended nothing; the browser alice signed in
		// with before signs in again.
		if len(e.storeSessions(aliceID)) == 0 {
			t.Fatal("failed logins ended alice's session")
		}
		other.login(e.info.Store, alice, "/shopping-cart")
		// IDP-BF-2: another account is not affected.
		e.browser("bob").login(e.info.Store, bob, "/shopping-cart")
		// The delay ends by itself (the count does not).
		e.clock.Advance(lockoutDelay + time.Second)
		b.login(e.info.Store, alice, "/shopping-cart")
	})

	t.Run("per-IP throttling", func(t *testing.T) {
		e := newEnv(t)
		bob, _ := e.user(1)
		sprayer := e.browser("sprayer")
		// Spray one password over many accounts from one IP: the burst of
		// 20 failures is allowed, then the IP is refused before any
		// password is checked (IDP-BF-3).
		var last response
		for i := 0; i < 21; i++ {
			last = sprayer.post(e.store("/login"), url.Values{"email": {"user" + string(rune('a'+i)) + "@example.com"}, "password": {"Summer2026!Summer2026!"}})
			if i < 20 && last.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i+1, last.Status)
			}
		}
		if last.Status != http.StatusTooManyRequests || !strings.Contains(last.Body, appkit.MsgThrottled) {
			t.Fatalf("attempt 21: %d, want 429", last.Status)
		}
		// Even a correct password from that IP waits...
		if r := sprayer.post(e.store("/login"), url.Values{"email": {bob.Email}, "password": {bob.Password}}); r.Status != http.StatusTooManyRequests {
			t.Fatalf("throttled IP with a right password: %d", r.Status)
		}
		// ...while the same account from another IP is fine.
		e.browser("bob").login(e.info.Store, bob, "/shopping-cart")
		// A token comes back after a while.
		e.clock.Advance(7 * time.Second)
		sprayer.login(e.info.Store, bob, "/shopping-cart")
	})
}
