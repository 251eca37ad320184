package appkit_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

// TestAUD9_RevocationReachesSessionWithinAccessTTL: with no webhook at
// all, a revocation at the IdP ends a live, active session at the first
// request after the access token's lifetime, because the kit re-validates
// every session at the IdP (a refresh) once per access-token lifetime
// (AUD-9, APP-REF-1).
func TestAUD9_RevocationReachesSessionWithinAccessTTL(t *testing.T) {
	const accessTTL = 5 * time.Minute
	w := newWorld(t, idptest.AppOptions{Name: "store", AccessTTL: accessTTL}) // no webhook URLs
	clk := newClock()
	a := newApp(t, w, appOpt{clock: clk})
	b := a.browser()
	b.login("/")
	first := keyOf(t, b.sid())

	// Not revoked: one refresh per access-token lifetime, in the same
	// response, and none before.
	calls := w.idp.RefreshCalls()
	clk.Advance(accessTTL - time.Second)
	if r := b.get("/shopping-cart"); r.status != 200 || len(r.cookies) != 0 || w.idp.RefreshCalls() != calls {
		t.Fatalf("inside the access-token lifetime: %d, %d refreshes", r.status, w.idp.RefreshCalls()-calls)
	}
	clk.Advance(2 * time.Second)
	r := b.get("/shopping-cart")
	if r.status != 200 || r.cookies[a.kit.SessionCookieName()] == nil || w.idp.RefreshCalls() != calls+1 {
		t.Fatalf("past the access-token lifetime: %d, %d refreshes, cookies %v", r.status, w.idp.RefreshCalls()-calls, r.cookies)
	}
	if _, err := a.store.Get(context.Background(), first); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatal("the re-validated session's old id still lives (APP-SID-2)")
	}
	if r := b.get("/shopping-cart"); r.status != 200 || len(r.cookies) != 0 || w.idp.RefreshCalls() != calls+1 {
		t.Fatalf("right after the re-validation: %d, %d refreshes", r.status, w.idp.RefreshCalls()-calls)
	}

	// Revoked at the IdP, every webhook lost: signed out within the
	// access-token lifetime although the session is live and in use.
	w.revokeUser(t)
	clk.Advance(accessTTL / 2)
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("half-way: %d", r.status)
	}
	clk.Advance(accessTTL/2 + time.Second)
	r = b.get("/shopping-cart")
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/login") {
		t.Fatalf("revoked user still served after the access-token lifetime: %d %q", r.status, r.location())
	}
	checkCleared(t, r, a.kit.RefreshCookieName(), http.SameSiteStrictMode)
	if n := len(a.sessions()); n != 0 {
		t.Fatalf("%d sessions of the revoked user remain", n)
	}
}

// TestAUD9_ExpiredAccessTokenNeedsRefreshCookie: a session cookie alone
// (a stolen one, or a request without the refresh cookie) is not served
// once the access token has expired: it cannot be re-validated.
func TestAUD9_ExpiredAccessTokenNeedsRefreshCookie(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store", AccessTTL: 5 * time.Minute})
	clk := newClock()
	a := newApp(t, w, appOpt{clock: clk})
	b := a.browser()
	b.login("/")
	thief := b.clone()
	delete(thief.cookies, a.kit.RefreshCookieName())
	if r := thief.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("live access token: %d", r.status)
	}
	clk.Advance(5*time.Minute + time.Second)
	if r := thief.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Fatalf("session cookie alone past the access-token lifetime: %d", r.status)
	}
	// The owner, with both cookies, is re-validated and stays in.
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("owner: %d", r.status)
	}
}

// TestAUD9_OutageLogsNobodyOut: the re-validation is due but the IdP is
// down: the live session is served (APP-REF-3), and re-validated once the
// IdP is back.
func TestAUD9_OutageLogsNobodyOut(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store", AccessTTL: 5 * time.Minute})
	clk := newClock()
	a := newApp(t, w, appOpt{clock: clk})
	b := a.browser()
	b.login("/")
	w.idp.Stop()
	clk.Advance(5*time.Minute + time.Second)
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("IdP down, session live: %d", r.status)
	}
	if err := w.idp.Restart(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(3 * time.Second) // past the shared "unavailable" outcome
	calls := w.idp.RefreshCalls()
	if r := b.get("/shopping-cart"); r.status != 200 || r.cookies[a.kit.SessionCookieName()] == nil || w.idp.RefreshCalls() != calls+1 {
		t.Fatalf("IdP back: %d, %d refreshes", r.status, w.idp.RefreshCalls()-calls)
	}
}
