package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp"
)

// Attack tests for issue 9 items 1-4 against the real demo: the apps'
// public login forms and the IdP's token endpoint.

// smallLockout reaches the hard stop in 20 failures with second-long
// delays, so a test drives it in a minute of demo time (the sessions,
// which idle out after 10 minutes, are still there to be checked).
func smallLockout(o *demo.Options) {
	o.Lockout = idp.LockoutPolicy{FreeFailures: 5, BaseDelay: time.Second, MaxDelay: 2 * time.Second, HardStop: 20}
}

// hammer sends n wrong passwords for email through the Store's form, from
// a new address every 5 attempts (so the per-IP throttle is not what stops
// them), moving the clock past each delay; every answer must be the
// generic 401.
func hammer(t *testing.T, e *env, email string, n int) {
	t.Helper()
	var b *browser
	for i := range n {
		if i%5 == 0 {
			b = e.browser("stranger")
		}
		r := b.post(e.store("/login"), url.Values{"email": {email}, "password": {"stranger guess number " + string(rune('a'+i%26))}})
		if r.Status != http.StatusUnauthorized || strings.Contains(r.Body, appkit.MsgLocked) {
			t.Fatalf("stranger attempt %d: %d", i+1, r.Status)
		}
		e.clock.Advance(3 * time.Second)
	}
}

// AUD-1: strangers hammering the Store's login form for alice past the
// hard stop end none of her sessions (Store and Forums) and revoke none of
// her tokens; her browser that signed in before still signs in at both
// apps; a fresh browser with the right password cannot until an admin
// unlocks the account.
func TestAUD1_StrangersCannotLockTheOwnerOut(t *testing.T) {
	e := newEnv(t, smallLockout)
	alice, aliceID := e.user(0)
	laptop := e.browser("alice-laptop")
	laptop.login(e.info.Store, alice, "/shopping-cart")
	laptop.login(e.info.Forums, alice, "/posts")
	storeFam := e.families(aliceID, e.info.Applications.Store.ID)
	forumsFam := e.families(aliceID, e.info.Applications.Forums.ID)

	hammer(t, e, alice.Email, 30)

	if len(e.storeSessions(aliceID)) == 0 || len(e.forumSessions(aliceID)) == 0 {
		t.Fatal("strangers' failed logins ended alice's sessions")
	}
	if e.families(aliceID, e.info.Applications.Store.ID) != storeFam || e.families(aliceID, e.info.Applications.Forums.ID) != forumsFam {
		t.Fatal("strangers' failed logins revoked alice's refresh tokens")
	}
	if r := laptop.get(e.store("/shopping-cart")); r.Status != http.StatusOK {
		t.Fatalf("alice's Store session after the attack: %d", r.Status)
	}
	// The browser that signed in before signs in again, at both apps.
	laptop.login(e.info.Store, alice, "/shopping-cart")
	laptop.login(e.info.Forums, alice, "/posts")

	// A fresh browser, right password: refused like a wrong one, even
	// long after (the hard stop does not time out).
	fresh := e.browser("alice-new-phone")
	for _, wait := range []time.Duration{0, 24 * time.Hour} {
		e.clock.Advance(wait)
		r := fresh.post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}})
		if r.Status != http.StatusUnauthorized || strings.Contains(r.Body, appkit.MsgLocked) {
			t.Fatalf("fresh browser during the lock (+%v): %d", wait, r.Status)
		}
	}
	// Admin unlock (the API route; `gatehouse user unlock` calls the same
	// Admin.UnlockUser).
	if st := e.adminAPI(t, http.MethodPut, "/api/user/unlock/"+aliceID, ""); st != http.StatusOK {
		t.Fatalf("unlock: %d", st)
	}
	fresh.login(e.info.Store, alice, "/shopping-cart")
}

// AUD-2: unknown email, wrong password, a locked account (with the wrong
// or even the right password) and a deactivated account read the same at
// the Store's form (status and page) and at the IdP's token endpoint
// (status and body).
func TestAUD2_NoEnumerationThroughLockState(t *testing.T) {
	e := newEnv(t, smallLockout)
	alice, _ := e.user(0) // will be locked
	bob, bobID := e.user(1)
	carol := demo.User{Email: "carol@example.com", Password: "an unguessable long passphrase 2026"}
	if _, err := e.admin().CreateUser(e.ctx, idp.UserSpec{Email: carol.Email, Password: carol.Password, Verified: true}); err != nil {
		t.Fatal(err)
	}
	hammer(t, e, alice.Email, 25)
	if err := e.admin().SetActive(e.ctx, bobID, false); err != nil {
		t.Fatal(err)
	}
	const wrong = "a wrong password of some length"
	cases := []struct{ name, email, pw string }{
		{"unknown email", "nobody@example.com", wrong},
		{"wrong password", carol.Email, wrong},
		{"locked, wrong password", alice.Email, wrong},
		{"locked, right password", alice.Email, alice.Password},
		{"deactivated, wrong password", bob.Email, wrong},
	}
	var firstPage, firstBody string
	for _, c := range cases {
		r := e.browser("prober").post(e.store("/login"), url.Values{"email": {c.email}, "password": {c.pw}})
		page := strings.ReplaceAll(r.Body, c.email, "EMAIL")
		if r.Status != http.StatusUnauthorized || strings.Contains(r.Body, appkit.MsgLocked) {
			t.Errorf("form, %s: %d", c.name, r.Status)
		}
		if firstPage == "" {
			firstPage = page
		} else if page != firstPage {
			t.Errorf("form, %s: the page differs from the unknown email's", c.name)
		}
		tr := e.tokenGrant(c.email, c.pw)
		if tr.Status != http.StatusBadRequest {
			t.Errorf("token endpoint, %s: %d %s", c.name, tr.Status, tr.Body)
		}
		if firstBody == "" {
			firstBody = tr.Body
		} else if tr.Body != firstBody {
			t.Errorf("token endpoint, %s answers %s, the unknown email %s", c.name, tr.Body, firstBody)
		}
	}
	if !strings.Contains(firstBody, "invalid_user_credentials") {
		t.Errorf("token endpoint body %s", firstBody)
	}
	// Only the right password learns "deactivated".
	if r := e.tokenGrant(bob.Email, bob.Password); !strings.Contains(r.Body, "user_locked") {
		t.Errorf("deactivated user with the right password: %s", r.Body)
	}
}

// tokenGrant runs the password grant as the Store app (with its secret)
// straight at the IdP.
func (e *env) tokenGrant(email, pw string) response {
	e.t.Helper()
	b := e.browser("store-backend")
	return b.post(e.info.IdP+"/oauth2/token", url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw},
		"client_id": {e.info.Applications.Store.ID}, "client_secret": {e.info.Applications.Store.Secret}})
}

// AUD-3: a client_id alone never gets tokens from the password grant,
// even for an application stored with clientAuthenticationPolicy
// NotRequired, and the admin API refuses to create such an application.
func TestAUD3_ClientIDAloneGetsNoTokens(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.user(0)
	if st := e.adminAPI(t, http.MethodPost, "/api/application", `{"application":{"name":"spa",
		"oauthConfiguration":{"clientAuthenticationPolicy":"NotRequired","enabledGrants":["password","refresh_token"]}}}`); st != http.StatusBadRequest {
		t.Fatalf("admin API created a password-grant app without client authentication: %d", st)
	}
	// Legacy data: the Store app switched to NotRequired in the database.
	app, err := e.d.IdPStore.GetApplication(e.ctx, e.info.Applications.Store.ID)
	if err != nil {
		t.Fatal(err)
	}
	app.Config.ClientAuthenticationPolicy = "NotRequired"
	if err := e.d.IdPStore.UpdateApplication(e.ctx, app); err != nil {
		t.Fatal(err)
	}
	attacker := e.browser("attacker")
	for i := range 30 { // spoofed X-Forwarded-For values would defeat the per-IP limit
		attacker.ip = "198.51.100." + string(rune('0'+i%10))
		r := attacker.post(e.info.IdP+"/oauth2/token", url.Values{"grant_type": {"password"}, "username": {alice.Email},
			"password": {alice.Password}, "client_id": {app.ID}})
		if r.Status == http.StatusOK || !strings.Contains(r.Body, "unauthorized_client") {
			t.Fatalf("password grant with client_id alone: %d %s", r.Status, r.Body)
		}
	}
}

// AUD-4: in the demo the browsers, the apps and the attacker all reach the
// IdP from 127.0.0.1. 25 client-secret guesses and then 25 wrong passwords
// from that address are throttled, each in its own bucket, yet another
// user's login and silent refresh from the same address still work. The
// buckets do not refill during the test (one token a day), so only the
// separation of kinds can explain a success.
func TestAUD4_PasswordGuessesDoNotThrottleRefreshes(t *testing.T) {
	e := newEnv(t, func(o *demo.Options) { o.Throttle = idp.ThrottlePolicy{Burst: 20, Every: 24 * time.Hour} })
	alice, _ := e.user(0)
	bob, bobID := e.user(1)
	const shared = "127.0.0.1"
	bobB := e.browser("bob")
	bobB.ip = shared
	bobB.login(e.info.Store, bob, "/shopping-cart")
	attacker := e.browser("attacker")
	attacker.ip = shared

	// Client-secret guesses (TCP peer 127.0.0.1).
	throttled := false
	for range 25 {
		r := attacker.post(e.info.IdP+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"},
			"client_id": {e.info.Applications.Store.ID}, "client_secret": {"guess"}})
		throttled = throttled || r.Status == http.StatusTooManyRequests
	}
	if !throttled {
		t.Fatal("IDP-CLI-3: 25 client-secret guesses from one address were never throttled")
	}
	// They throttle neither a password login from that address...
	aliceB := e.browser("alice")
	aliceB.ip = shared
	aliceB.login(e.info.Store, alice, "/shopping-cart")
	// ...nor the app's refresh (bob's session idles out; the refresh
	// cookie renews it silently).
	before := e.d.IdP.RefreshRequests()
	e.clock.Advance(idle + time.Minute)
	if r := bobB.get(e.store("/shopping-cart")); r.Status != http.StatusOK || e.d.IdP.RefreshRequests() != before+1 {
		t.Fatalf("bob's silent refresh after client-secret guesses: %d", r.Status)
	}

	// Password guesses through the Store's form from the same address.
	throttled = false
	for i := range 25 {
		r := attacker.post(e.store("/login"), url.Values{"email": {"victim" + string(rune('a'+i)) + "@example.com"}, "password": {"Summer2026!Summer2026!"}})
		throttled = throttled || r.Status == http.StatusTooManyRequests
	}
	if !throttled {
		t.Fatal("IDP-BF-3: 25 password guesses from one address were never throttled")
	}
	before = e.d.IdP.RefreshRequests()
	e.clock.Advance(idle + time.Minute)
	if r := bobB.get(e.store("/shopping-cart")); r.Status != http.StatusOK || e.d.IdP.RefreshRequests() != before+1 {
		t.Fatalf("bob's silent refresh after password guesses: %d", r.Status)
	}
	if len(e.storeSessions(bobID)) == 0 {
		t.Fatal("bob has no session")
	}
	// bob signs in again from the shared address: his browser carries its
	// device cookie, which the per-IP limit for strangers does not apply
	// to (a new browser at a throttled address waits, by design).
	bobB.login(e.info.Store, bob, "/shopping-cart")
}
