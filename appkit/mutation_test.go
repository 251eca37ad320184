package appkit_test

// Tests added from mutation testing (gremlins) of the app kit: each pins a
// boundary or a guard that a mutant could change without any other test
// noticing.

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

// APP-SID-2: logging in again in a browser that still holds a refresh
// cookie revokes that earlier refresh token at the IdP: a copy of the old
// cookies (a thief's) cannot refresh into a session afterwards.
func TestAPP_SID_2_LoginRevokesThePreviousRefreshToken(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	b := a.browser()
	b.login("")
	stolen := b.clone()
	b.login("")
	if b.rt() == stolen.rt() {
		t.Fatal("second login kept the refresh cookie")
	}
	// The old session id died at the second login; the old refresh token
	// must be dead at the IdP too, so the copy is sent to log in.
	calls := w.idp.RefreshCalls()
	if r := stolen.get("/shopping-cart"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Fatalf("old cookies after a new login: %d %q, want 303 to /login", r.status, r.location())
	}
	if w.idp.RefreshCalls() == calls {
		t.Fatal("the old refresh token was not even tried")
	}
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("new session: %d", r.status)
	}
}

// IDP-HASH-5, APP-LOGIN-4: the login form's input caps are inclusive: an
// email of 320 and a password of 1,024 bytes reach the IdP (401 for a
// wrong password); one byte more is a 400 without an IdP call, and an
// over-long email is not echoed back into the form, while a normal one is.
func TestLoginInputBounds_IDPHASH5(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	b := a.browser()
	email320 := strings.Repeat("a", 320-len("@example.com")) + "@example.com"
	email321 := "a" + email320
	pw1024 := strings.Repeat("p", 1024)
	for _, c := range []struct {
		name, email, pw string
		status          int
		echoed          bool
	}{
		{"email 320", email320, testPassword, http.StatusUnauthorized, true},
		{"email 321", email321, testPassword, http.StatusBadRequest, false},
		{"password 1024", w.email, pw1024, http.StatusUnauthorized, true},
		{"password 1025", w.email, pw1024 + "p", http.StatusBadRequest, true},
		{"email 320, no password", email320, "", http.StatusBadRequest, true},
		{"email 321, no password", email321, "", http.StatusBadRequest, false},
	} {
		r := b.post("/login", url.Values{"email": {c.email}, "password": {c.pw}})
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, r.status, c.status)
		}
		if got := strings.Contains(r.body, html.EscapeString(c.email)); got != c.echoed {
			t.Errorf("%s: email echoed = %v, want %v", c.name, got, c.echoed)
		}
	}
}

// APP-OUT-1: a logout from a browser whose refresh cookie is gone (lost,
// or stripped by a proxy) still revokes the session's grant at the IdP by
// its id when the kit has an API key: a copy of the old refresh cookie is
// dead afterwards.
func TestAPP_OUT_1_LogoutWithoutRefreshCookieRevokesByID(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{apiKey: true})
	b := a.browser()
	b.login("")
	stolen := b.clone()
	delete(b.cookies, a.kit.RefreshCookieName())
	if r := b.post("/logout", nil); r.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", r.status)
	}
	if r := stolen.get("/shopping-cart"); r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Fatalf("copied refresh cookie after logout: %d %q, want 303 to /login", r.status, r.location())
	}
}

// AUD-18: when the stored successor of a lost refresh is presented and the
// IdP says it is dead (the user was revoked meanwhile), the browser is
// logged out (303 to login, cookies cleared), not served a 503 as if the
// IdP were down; when the IdP is down instead, the 503 hands the browser
// the successor cookie, so the next try presents the live token.
func TestAUD18_StoredSuccessorDeadOrUnreachable(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	rtName := a.kit.RefreshCookieName()
	// lostRefresh makes a browser whose last refresh answer never arrived
	// and whose stored result's session idled out.
	lostRefresh := func() *browser {
		b := a.browser()
		b.login("/")
		a.expire(keyOf(t, b.sid()))
		lost := b.clone()
		if r := b.get("/shopping-cart"); r.status != 200 {
			t.Fatalf("refresh: %d", r.status)
		}
		if err := a.store.Delete(context.Background(), keyOf(t, b.sid())); err != nil {
			t.Fatal(err)
		}
		return lost
	}

	down := lostRefresh()
	old := down.rt()
	w.idp.Stop()
	r := down.get("/shopping-cart")
	if err := w.idp.Restart(); err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusServiceUnavailable || r.cookies[rtName] == nil || down.rt() == old {
		t.Fatalf("IdP down: %d, refresh cookie %v (want 503 with the successor cookie)", r.status, r.cookies[rtName])
	}
	if r := down.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("after the IdP is back: %d", r.status)
	}

	dead := lostRefresh()
	w.revokeUser(t)
	r = dead.get("/shopping-cart")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") || dead.rt() != "" {
		t.Fatalf("revoked successor: %d %q, refresh cookie %q (want 303 to /login, cookie cleared)", r.status, r.location(), dead.rt())
	}
}
