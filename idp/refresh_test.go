package idp_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// IDP-RT-4, S7: RT1 → RT2; RT1 again after the grace period is reuse: it
// fails and so does RT2, because the whole family is revoked; an event is
// published for the apps.
func TestRotationAndReuseDetection(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt1 := f.mustLogin()
	_, rt2 := f.mustRefresh(rt1)
	if rt2 == rt1 {
		t.Fatal("one-time-use token did not rotate")
	}
	f.clock.Advance(11 * time.Second) // past the default 10 s grace period
	wantOAuthError(t, f.refresh(rt1), 400, "invalid_grant", "refresh_token_not_found")
	wantOAuthError(t, f.refresh(rt2), 400, "invalid_grant", "refresh_token_not_found")
	if got := f.events.Types(); len(got) == 0 || got[len(got)-1] != webhook.EventRefreshTokenRevoke+":reuse" {
		t.Fatalf("events = %v, want a reuse revocation", got)
	}
	toks, _ := f.idp.Store.ListRefreshTokens(context.Background(), f.userID)
	if len(toks) != 0 {
		t.Fatalf("family still stored after reuse: %d", len(toks))
	}
}

// Within the grace period the just-rotated token is an honest retry: it
// answers the same successor with a fresh access token and revokes nothing.
func TestGracePeriodRetry(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt1 := f.mustLogin()
	at2, rt2 := f.mustRefresh(rt1)
	f.clock.Advance(5 * time.Second)
	at2b, rt2b := f.mustRefresh(rt1)
	if rt2b != rt2 {
		t.Fatal("retry inside the grace period must answer the same successor")
	}
	if at2b == at2 {
		t.Fatal("retry must mint a fresh access token")
	}
	_, rt3 := f.mustRefresh(rt2) // the family is intact
	if rt3 == rt2 {
		t.Fatal("successor did not rotate")
	}
}

func TestGracePeriodZero(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{DisableGracePeriod: true})
	_, rt1 := f.mustLogin()
	_, rt2 := f.mustRefresh(rt1)
	wantOAuthError(t, f.refresh(rt1), 400, "invalid_grant", "refresh_token_not_found")
	wantOAuthError(t, f.refresh(rt2), 400, "invalid_grant", "refresh_token_not_found")
}

// Config.DisableGracePeriod is the one way to give the whole server no
// grace period (design §7); an application that says nothing inherits it.
func TestDisableGracePeriodServerWide(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{}, idp.Config{DisableGracePeriod: true})
	_, rt1 := f.mustLogin()
	_, rt2 := f.mustRefresh(rt1)
	wantOAuthError(t, f.refresh(rt1), 400, "invalid_grant", "refresh_token_not_found")
	wantOAuthError(t, f.refresh(rt2), 400, "invalid_grant", "refresh_token_not_found")
}

// A negative duration is no longer a way to say "none": New refuses it, and
// refuses a GracePeriod beside DisableGracePeriod.
func TestConfigRefusesNegativeAndContradictoryGrace(t *testing.T) {
	st := idptest.Start(t).Store
	for name, cfg := range map[string]idp.Config{
		"negative grace":      {GracePeriod: -1},
		"negative access ttl": {AccessTokenTTL: -time.Second},
		"grace and disable":   {GracePeriod: time.Second, DisableGracePeriod: true},
	} {
		cfg.Store, cfg.Issuer = st, "http://127.0.0.1"
		if _, err := idp.New(context.Background(), cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}

// IDP-RT-5: concurrent refreshes of one token: exactly one rotation; every
// caller inside the grace period gets the same successor; the family never
// forks.
func TestConcurrentRefreshOneRotation(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt1 := f.mustLogin()
	const n = 20
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := f.refresh(rt1)
			if r.status != http.StatusOK {
				t.Errorf("caller %d: %d %s", i, r.status, r.body)
				return
			}
			got[i] = r.json(t)["refresh_token"].(string)
		}()
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if got[i] != got[0] {
			t.Fatalf("callers got different successors: %q vs %q", got[0][:8], got[i][:8])
		}
	}
	toks, err := f.idp.Store.ListRefreshTokens(context.Background(), f.userID)
	if err != nil || len(toks) != 1 || toks[0].Generation != 1 {
		t.Fatalf("family forked or rotated more than once: %d tokens, err %v", len(toks), err)
	}
	f.mustRefresh(got[0])
}

func TestReusablePolicy(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{Reusable: true})
	_, rt := f.mustLogin()
	_, again := f.mustRefresh(rt)
	if again != rt {
		t.Fatal("Reusable policy must answer the same refresh token")
	}
	f.clock.Advance(time.Hour)
	f.mustRefresh(rt)
}

// Fixed: the window starts at login and never moves (IDP-RT-6).
func TestFixedExpiry(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{RefreshTTL: 10 * time.Minute})
	_, rt := f.mustLogin()
	f.clock.Advance(6 * time.Minute)
	_, rt = f.mustRefresh(rt)
	f.clock.Advance(5 * time.Minute) // 11 min after login
	wantOAuthError(t, f.refresh(rt), 400, "invalid_grant", "refresh_token_not_found")
}

// SlidingWindow: each refresh restarts the window.
func TestSlidingWindowExpiry(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{RefreshTTL: 10 * time.Minute, Expiration: idp.PolicySlidingWindow})
	_, rt := f.mustLogin()
	for range 3 {
		f.clock.Advance(8 * time.Minute)
		_, rt = f.mustRefresh(rt)
	}
	f.clock.Advance(11 * time.Minute)
	wantOAuthError(t, f.refresh(rt), 400, "invalid_grant", "refresh_token_not_found")
}

// SlidingWindowWithMaximumLifetime: sliding, but never past created+max.
func TestSlidingWindowWithMaximumLifetime(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{RefreshTTL: 10 * time.Minute, MaxLifetime: 20 * time.Minute,
		Expiration: idp.PolicySlidingWindowMaximum})
	_, rt := f.mustLogin()
	f.clock.Advance(8 * time.Minute)
	_, rt = f.mustRefresh(rt)
	f.clock.Advance(8 * time.Minute)
	_, rt = f.mustRefresh(rt)        // 16 min: still inside the maximum
	f.clock.Advance(5 * time.Minute) // 21 min: sliding window alive, maximum passed
	wantOAuthError(t, f.refresh(rt), 400, "invalid_grant", "refresh_token_not_found")
}

// IDP-RT-3: a refresh token is bound to its client.
func TestRefreshTokenBoundToClient(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	other, otherSecret := f.idp.CreateApp(t, idptest.AppOptions{Name: "forums"})
	r := f.form("/oauth2/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {other}, "client_secret": {otherSecret}})
	wantOAuthError(t, r, 400, "invalid_grant", "refresh_token_not_found")
	f.mustRefresh(rt) // still valid for its own client
}

// IDP-TOK-6: scope can narrow at refresh but never grow.
func TestRefreshScopeCannotGrow(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	r := f.form("/oauth2/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access openid"}})
	wantOAuthError(t, r, 400, "invalid_scope", "")
}

// IDP-REV-3: a password change and a deactivation revoke the user's
// refresh tokens and publish events.
func TestPasswordChangeAndDeactivateRevoke(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	ctx := context.Background()
	_, rt := f.mustLogin()
	if err := f.idp.Server.Admin().SetPassword(ctx, f.userID, "a brand new passphrase"); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, f.refresh(rt), 400, "invalid_grant", "refresh_token_not_found")

	f2 := newFixture(t, idptest.AppOptions{})
	at, rt := f2.mustLogin()
	if err := f2.idp.Server.Admin().SetActive(ctx, f2.userID, false); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, f2.refresh(rt), 400, "invalid_grant", "refresh_token_not_found")
	// IDP-REV-2: the older access token is rejected too.
	req := mustReq("GET", f2.idp.URL+"/api/jwt/validate")
	req.Header.Set("Authorization", "Bearer "+at)
	if r := f2.do(req); r.status != 401 {
		t.Fatalf("IDP-REV-2: validate after deactivation = %d", r.status)
	}
	r, _ := f2.login()
	wantOAuthError(t, r, 400, "invalid_grant", "user_locked")
	types := f2.events.Types()
	if len(types) == 0 || types[len(types)-1] != webhook.EventUserDeactivate+":deactivated" {
		t.Fatalf("events = %v", types)
	}
}

// Garbage collection removes expired families via the store.
func TestCollectGarbage(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{RefreshTTL: time.Minute})
	f.mustLogin()
	f.mustLogin()
	f.clock.Advance(2 * time.Minute)
	n, err := f.idp.Server.CollectGarbage(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("CollectGarbage = %d, %v; want 2", n, err)
	}
}
