package idp_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
)

// Tests added for mutants that survived the login and admin security code
// (docs/security.md, gremlins); each names the requirement it protects.

// IDP-BF-3: with the default table size (MaxIPs 0 = 100,000), an address's
// failures are remembered while other addresses fail too: a stranger at a
// second address cannot reset the first address's bucket.
func TestIDP_BF_3_ThrottleRemembersOtherAddresses(t *testing.T) {
	f, _ := lockFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 3, Every: time.Hour} })
	guess := func(ip string) int {
		return f.pwLogin("nobody@example.com", wrongPW, "", "X-Forwarded-For", ip).status
	}
	for range 3 {
		guess("198.51.100.40")
	}
	for i := range 3 {
		guess("198.51.100." + string(rune('1'+i)))
	}
	if s := guess("198.51.100.40"); s != http.StatusTooManyRequests {
		t.Fatalf("4th failure from an address after other addresses failed: %d, want 429", s)
	}
}

// IDP-CLI-3 (AUD-4): failed client authentications are counted per
// address, not per connection: guesses that each open a new connection
// (a new source port) still empty the address's bucket.
func TestIDP_CLI_3_ThrottleKeyIsTheAddressNotTheConnection(t *testing.T) {
	f, _ := lockFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 3, Every: time.Hour} })
	guess := func() *response {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {f.clientID}, "client_secret": {"guess"}}
		req, _ := http.NewRequest(http.MethodPost, f.idp.URL+"/oauth2/token", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Close = true // one connection per guess
		return f.do(req)
	}
	for i := range 3 {
		if r := guess(); r.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d, want 401", i+1, r.status)
		}
	}
	r := guess()
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("4th guess from the same address on a new connection: %d, want 429", r.status)
	}
	// Retry-After: one refill interval (an hour) and a second of margin.
	if ra := r.header.Get("Retry-After"); ra != "3601" {
		t.Errorf("Retry-After %q, want 3601", ra)
	}
}

// IDP-CLI-1: a deactivated application is an unknown client (401
// invalid_client), even with its right secret, never a 500.
func TestIDP_CLI_1_InactiveApplicationIsInvalidClient(t *testing.T) {
	f, _ := lockFixture(t)
	app, err := f.idp.Store.GetApplication(context.Background(), f.clientID)
	if err != nil {
		t.Fatal(err)
	}
	app.Active = false
	if err := f.idp.Store.UpdateApplication(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	wantOAuthError(t, f.pwLogin(f.email, testPassword, ""), 401, "invalid_client", "invalid_client_id")
}
