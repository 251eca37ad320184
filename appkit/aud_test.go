package appkit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
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
	clk := fakeclock.New(time.Now())
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
	clk := fakeclock.New(time.Now())
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
	clk := fakeclock.New(time.Now())
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

// deadableStore is one process's view of a shared session store; after
// kill every call fails, as nothing a dead process does reaches the store.
type deadableStore struct {
	sessionstore.Store
	dead atomic.Bool
}

var errDead = errors.New("process is dead")

func (d *deadableStore) Put(ctx context.Context, s *sessionstore.Session) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.Put(ctx, s)
}

func (d *deadableStore) ClaimRefresh(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if d.dead.Load() {
		return false, errDead
	}
	return d.Store.ClaimRefresh(ctx, key, owner, ttl)
}

func (d *deadableStore) SetRefreshResult(ctx context.Context, key string, result []byte, ttl time.Duration) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.SetRefreshResult(ctx, key, result, ttl)
}

func (d *deadableStore) Close() error { return nil } // the shared store is closed by its owner

// TestAUD18_AppDiesAfterRotation: an app process dies right after the IdP
// rotated the refresh token (before it stored the result); the restarted
// app (another process on the same session store) takes the dead process's
// claim over within one lease and presents the old token inside the IdP's
// grace period, so the user stays signed in and the family lives (AUD-18,
// APP-REF-4). The grace here is 6 s: the lease (3 s) fits, a claim that
// outlived one IdP call (the old 10 s) would not.
func TestAUD18_AppDiesAfterRotation(t *testing.T) {
	grace := 6 * time.Second
	w := newWorld(t, idptest.AppOptions{Name: "store", GracePeriod: grace})
	shared := memstore.New(memstore.Config{})
	t.Cleanup(func() { _ = shared.Close() })

	// Process A reaches the IdP through a proxy that, once armed, lets the
	// next token request through (the IdP rotates) and then "kills" A: its
	// store goes dead and the response never arrives.
	target, _ := url.Parse(w.idp.URL)
	var armed atomic.Bool
	rotated := make(chan struct{})
	storeA := &deadableStore{Store: shared}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(resp *http.Response) error {
		if !armed.Load() || !strings.Contains(resp.Request.URL.Path, "/token") && !strings.Contains(resp.Request.URL.Path, "/jwt/refresh") {
			return nil
		}
		storeA.dead.Store(true)
		close(rotated)
		<-resp.Request.Context().Done() // A never hears back
		return resp.Request.Context().Err()
	}
	rp.ErrorLog = log.New(io.Discard, "", 0)
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)

	a := newApp(t, w, appOpt{store: storeA, idpURL: proxy.URL})
	b := a.browser()
	b.login("/")
	a.expire(keyOf(t, b.sid()))

	armed.Store(true)
	go func() { _, _, _ = rawGet(a, "/shopping-cart", b.cookies) }() // dies mid-refresh
	select {
	case <-rotated:
	case <-time.After(20 * time.Second):
		t.Fatal("process A never reached the IdP")
	}
	start := time.Now()

	// The restarted app: a new process (new instance id) on the same store.
	restarted := newApp(t, w, appOpt{store: shared})
	rb := restarted.browser()
	rb.cookies = b.cookies
	r := rb.get("/shopping-cart")
	if r.status != 200 {
		t.Fatalf("after the crash: %d %q (signed out), %v after the rotation", r.status, r.location(), time.Since(start))
	}
	if took := time.Since(start); took >= grace {
		t.Fatalf("the retry took %v, past the IdP's %v grace", took, grace)
	}
	// The family lives: the next refresh works too.
	restarted.expire(keyOf(t, rb.sid()))
	if r := rb.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("refresh after the takeover: %d (family revoked?)", r.status)
	}
}

// TestAUD18_SavedResultHonouredAfterSessionIdledOut: a refresh was stored
// as a result, but the browser never got the answer (the app died) and the
// result's session idled out meanwhile. The retry with the old cookies
// must not clear the refresh cookie without asking the IdP: the stored
// successor token is presented, and the user stays signed in (AUD-18).
func TestAUD18_SavedResultHonouredAfterSessionIdledOut(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	b := a.browser()
	b.login("/")
	a.expire(keyOf(t, b.sid()))
	lost := b.clone() // the response of the refresh below never arrives
	if r := b.get("/shopping-cart"); r.status != 200 || r.cookies[a.kit.SessionCookieName()] == nil {
		t.Fatalf("refresh: %d", r.status)
	}
	if err := a.store.Delete(context.Background(), keyOf(t, b.sid())); err != nil { // idled out
		t.Fatal(err)
	}
	calls := w.idp.RefreshCalls()
	r := lost.get("/shopping-cart")
	if r.status != 200 || r.cookies[a.kit.SessionCookieName()] == nil || r.cookies[a.kit.RefreshCookieName()] == nil {
		t.Fatalf("retry with the old cookies: %d %q, cookies %v", r.status, r.location(), r.cookies)
	}
	if n := w.idp.RefreshCalls() - calls; n != 1 {
		t.Fatalf("%d refresh calls, want 1 (the stored successor)", n)
	}
	// The grant it holds is alive.
	a.expire(keyOf(t, lost.sid()))
	if r := lost.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("next refresh: %d", r.status)
	}
}

// TestAUD17_SessionsPageIsOnePage: a user with 10,000 sessions gets one
// small page of the most recently seen 50, the count of the rest, a link
// to the next page and the sign-out-all actions (AUD-17; the unpaged page
// was 4.7 MB).
func TestAUD17_SessionsPageIsOnePage(t *testing.T) {
	w := newWorld(t, idptest.AppOptions{Name: "store"})
	a := newApp(t, w, appOpt{})
	b := a.browser()
	b.login("/")
	ctx := context.Background()
	now := time.Now()
	const n = 10_000
	for i := range n {
		err := a.store.Put(ctx, &sessionstore.Session{
			Key: fmt.Sprintf("other-%05d", i), UserID: w.userID, CreatedAt: now.Add(-time.Hour),
			LastSeen: now.Add(-time.Duration(i+1) * time.Second), ExpiresAt: now.Add(time.Hour), AbsoluteExpiry: now.Add(time.Hour),
			IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (Windows NT 10.0) Chrome/140.0 " + strings.Repeat("x", 200),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := b.get("/sessions")
	if r.status != 200 {
		t.Fatalf("sessions page: %d", r.status)
	}
	if rows := strings.Count(r.body, "<tr><td>"); rows != appkit.SessionsPageSize {
		t.Fatalf("%d rows, want %d", rows, appkit.SessionsPageSize)
	}
	if len(r.body) > 64<<10 {
		t.Fatalf("page of %d bytes for %d sessions, want a small page", len(r.body), n+1)
	}
	if !strings.Contains(r.body, fmt.Sprintf("%d more of your %d sessions", n+1-appkit.SessionsPageSize, n+1)) ||
		!strings.Contains(r.body, `href="/sessions?page=2"`) || !strings.Contains(r.body, `value="end-others"`) ||
		!strings.Contains(r.body, "this browser") { // the current session is the most recently seen
		t.Fatalf("page lacks the count, the next link, the sign-out-all action or this browser:\n%s", r.body)
	}
	// The last page holds the rest; a page past the end shows the last.
	last := (n + 1 + appkit.SessionsPageSize - 1) / appkit.SessionsPageSize
	for _, q := range []string{fmt.Sprint(last), "999999", "-3"} {
		r := b.get("/sessions?page=" + q)
		want := (n + 1) - (last-1)*appkit.SessionsPageSize
		if q == "-3" {
			want = appkit.SessionsPageSize
		}
		if rows := strings.Count(r.body, "<tr><td>"); r.status != 200 || rows != want {
			t.Errorf("page %s: %d, %d rows, want %d", q, r.status, rows, want)
		}
	}
	// Signing all the others out is one action, whatever their number.
	if r := b.post("/sessions", url.Values{"action": {"end-others"}}); r.status != http.StatusSeeOther {
		t.Fatalf("end-others: %d", r.status)
	}
	if l := a.sessions(); len(l) != 1 {
		t.Fatalf("%d sessions after end-others", len(l))
	}
}
