package idp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// countingHasher wraps the real hasher and counts what the server asks of
// it, so tests assert the cost of an answer (one hash) without timing.
type countingHasher struct {
	*password.Hasher
	verify, dummy atomic.Int64
	mu            sync.Mutex
	onVerify      func() // runs inside Verify, between the login's read and write
}

func (h *countingHasher) Verify(ctx context.Context, encoded, pw string) (bool, bool, error) {
	h.verify.Add(1)
	h.mu.Lock()
	hook := h.onVerify
	h.mu.Unlock()
	if hook != nil {
		hook()
	}
	return h.Hasher.Verify(ctx, encoded, pw)
}

func (h *countingHasher) VerifyDummy(ctx context.Context, pw string) {
	h.dummy.Add(1)
	h.Hasher.VerifyDummy(ctx, pw)
}

func (h *countingHasher) setHook(f func()) {
	h.mu.Lock()
	h.onVerify = f
	h.mu.Unlock()
}

// counts returns and resets (real verifications, dummy verifications).
func (h *countingHasher) counts() (int64, int64) {
	return h.verify.Swap(0), h.dummy.Swap(0)
}

// lockFixture is a fixture with a counting hasher and a small, explicit
// lockout policy: 3 free failures, 10 s doubling to 40 s, stop at 8,
// device tokens stop bypassing after 2 failures.
func lockFixture(t *testing.T, more ...func(*idp.Config)) (*fixture, *countingHasher) {
	h := &countingHasher{Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})}
	c := idp.Config{
		Hasher: h,
		Lockout: idp.LockoutPolicy{FreeFailures: 3, BaseDelay: 10 * time.Second, MaxDelay: 40 * time.Second,
			HardStop: 8, DeviceFailures: 2},
		Throttle: idp.ThrottlePolicy{Disabled: true},
	}
	for _, m := range more {
		m(&c)
	}
	f := newFixture(t, idptest.AppOptions{}, c)
	h.counts()
	return f, h
}

// pwLogin runs the password grant for email/pw, with an optional device
// token; header pairs follow.
func (f *fixture) pwLogin(email, pw, device string, header ...string) *response {
	f.t.Helper()
	v := url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw},
		"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access"}}
	if device != "" {
		v.Set("device_token", device)
	}
	return f.form("/oauth2/token", v, header...)
}

func deviceToken(t testing.TB, r *response) string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	d, _ := r.json(t)["device_token"].(string)
	if d == "" {
		t.Fatalf("no device_token in %s", r.body)
	}
	return d
}

// jwtPart decodes one part of a JWT.
func jwtPart(t testing.TB, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const wrongPW = "not the password at all"

// AUD-1 (IDP-BF-5): strangers' failed logins never revoke a token, end a
// session or emit a revocation event, however many there are.
func TestAUD1_FailedLoginsNeverRevokeTokens(t *testing.T) {
	f, _ := lockFixture(t)
	_, rt := f.mustLogin()
	for range 20 { // past the delay and the hard stop
		f.pwLogin(f.email, wrongPW, "")
		f.clock.Advance(time.Minute)
	}
	if r := f.refresh(rt); r.status != 200 {
		t.Fatalf("refresh after 20 failed logins: %d %s", r.status, r.body)
	}
	for _, e := range f.events.Types() {
		t.Errorf("event emitted by failed logins: %s", e)
	}
}

// AUD-1: the counter is consecutive; time alone never resets it (a few
// guesses an hour are counted like a burst), and after FreeFailures the
// account accepts one attempt per delay, doubling up to MaxDelay.
func TestAUD1_ConsecutiveFailuresGrowingDelay(t *testing.T) {
	f, h := lockFixture(t)
	for range 3 { // three guesses, hours apart: no window forgets them
		wantOAuthError(t, f.pwLogin(f.email, wrongPW, ""), 400, "invalid_grant", "invalid_user_credentials")
		f.clock.Advance(5 * time.Hour)
	}
	// 3 failures: the delay is on; the right password inside it is refused.
	wantOAuthError(t, f.pwLogin(f.email, wrongPW, ""), 400, "invalid_grant", "invalid_user_credentials") // 4th, after 5 h
	f.clock.Advance(9 * time.Second)
	h.counts()
	wantOAuthError(t, f.pwLogin(f.email, testPassword, ""), 400, "invalid_grant", "invalid_user_credentials")
	if v, d := h.counts(); v != 0 || d != 1 {
		t.Fatalf("refused attempt: %d real and %d dummy verifications, want 0 and 1 (it must not test the password)", v, d)
	}
	// Delays after 4, 5, 6, 7 failures: 20 s, 40 s, 40 s (cap) ...
	f.clock.Advance(11 * time.Second) // 20 s after the 4th failure
	wantOAuthError(t, f.pwLogin(f.email, wrongPW, ""), 400, "invalid_grant", "invalid_user_credentials")
	h.counts()
	f.clock.Advance(39 * time.Second)
	f.pwLogin(f.email, testPassword, "")
	if v, _ := h.counts(); v != 0 {
		t.Fatal("an attempt 39 s after the 5th failure was checked (delay should be 40 s)")
	}
	f.clock.Advance(time.Second)
	if r := f.pwLogin(f.email, testPassword, ""); r.status != 200 {
		t.Fatalf("right password after the delay: %d %s", r.status, r.body)
	}
	// Success reset the counter: three free failures again.
	for range 3 {
		f.pwLogin(f.email, wrongPW, "")
	}
	h.counts()
	f.pwLogin(f.email, wrongPW, "")
	if v, d := h.counts(); v != 0 || d != 1 {
		t.Fatalf("4th failure right after 3: %d real, %d dummy", v, d)
	}
}

// AUD-1 (NIST 800-63B): at HardStop consecutive failures the account is
// locked until an admin unlocks it (API or CLI) or sets a new password.
func TestAUD1_HardStopUntilAdminUnlock(t *testing.T) {
	f, h := lockFixture(t)
	for range 8 {
		wantOAuthError(t, f.pwLogin(f.email, wrongPW, ""), 400, "invalid_grant", "invalid_user_credentials")
		f.clock.Advance(time.Minute)
	}
	f.clock.Advance(365 * 24 * time.Hour)
	h.counts()
	wantOAuthError(t, f.pwLogin(f.email, testPassword, ""), 400, "invalid_grant", "invalid_user_credentials")
	if v, _ := h.counts(); v != 0 {
		t.Fatal("a hard-stopped account checked a password")
	}
	// Unknown user and a malformed id: 404.
	if r := f.api(http.MethodPut, "/api/user/unlock/6f1c7a52-3a63-4c2e-9a5e-000000000000", ""); r.status != 404 {
		t.Fatalf("unlock unknown user: %d", r.status)
	}
	if r := f.api(http.MethodPut, "/api/user/unlock/nope", ""); r.status != 404 {
		t.Fatalf("unlock bad id: %d", r.status)
	}
	if r := f.api(http.MethodPut, "/api/user/unlock/"+f.userID, ""); r.status != 200 {
		t.Fatalf("unlock: %d %s", r.status, r.body)
	}
	if r := f.pwLogin(f.email, testPassword, ""); r.status != 200 {
		t.Fatalf("login after unlock: %d %s", r.status, r.body)
	}

	// A new password (PUT /api/user) clears the hard stop too.
	for range 8 {
		f.pwLogin(f.email, wrongPW, "")
		f.clock.Advance(time.Minute)
	}
	const newPW = "a brand new password 2027"
	if r := f.api(http.MethodPut, "/api/user/"+f.userID, `{"user":{"password":"`+newPW+`"}}`); r.status != 200 {
		t.Fatalf("set password: %d %s", r.status, r.body)
	}
	if r := f.pwLogin(f.email, newPW, ""); r.status != 200 {
		t.Fatalf("login after password change: %d %s", r.status, r.body)
	}
}

// AUD-1 (OWASP device cookie): a browser that signed in before keeps
// signing in while strangers hold the account in its delay or hard stop;
// its failures count against that device only, and a device token that
// fails too often stops bypassing.
func TestAUD1_DeviceTokenBypassesStrangersLock(t *testing.T) {
	f, h := lockFixture(t)
	dev := deviceToken(t, f.pwLogin(f.email, testPassword, ""))
	if typ := jwtPart(t, dev, 0)["typ"]; typ != "gh-device+jwt" {
		t.Fatalf("device token typ %v", typ)
	}
	devID := jwtPart(t, dev, 1)["jti"]
	for range 12 { // strangers: past the hard stop
		f.pwLogin(f.email, wrongPW, "")
		f.clock.Advance(time.Minute)
	}
	wantOAuthError(t, f.pwLogin(f.email, testPassword, ""), 400, "invalid_grant", "invalid_user_credentials")

	r := f.pwLogin(f.email, testPassword, dev)
	dev2 := deviceToken(t, r)
	if got := jwtPart(t, dev2, 1)["jti"]; got != devID {
		t.Errorf("renewed device token has device id %v, want %v", got, devID)
	}
	// The owner's success did not reset the strangers' lock.
	wantOAuthError(t, f.pwLogin(f.email, testPassword, ""), 400, "invalid_grant", "invalid_user_credentials")

	// A wrong password through the device is checked (one real hash) and
	// counted on the device, not on the account.
	before, err := f.idp.Store.GetLoginFailures(context.Background(), f.userID, "")
	if err != nil {
		t.Fatal(err)
	}
	h.counts()
	wantOAuthError(t, f.pwLogin(f.email, wrongPW, dev2), 400, "invalid_grant", "invalid_user_credentials")
	if v, d := h.counts(); v != 1 || d != 0 {
		t.Fatalf("device attempt: %d real, %d dummy verifications", v, d)
	}
	after, _ := f.idp.Store.GetLoginFailures(context.Background(), f.userID, "")
	if after.Count != before.Count {
		t.Errorf("device failure counted on the account: %d -> %d", before.Count, after.Count)
	}
	if df, _ := f.idp.Store.GetLoginFailures(context.Background(), f.userID, devID.(string)); df.Count != 1 {
		t.Errorf("device counter = %d, want 1", df.Count)
	}
	// Second device failure: DeviceFailures reached, the token stops
	// bypassing, even with the right password.
	f.pwLogin(f.email, wrongPW, dev2)
	h.counts()
	wantOAuthError(t, f.pwLogin(f.email, testPassword, dev2), 400, "invalid_grant", "invalid_user_credentials")
	if v, _ := h.counts(); v != 0 {
		t.Fatal("an untrusted device's attempt during the lock was checked")
	}
	// An admin unlock restores both.
	if err := f.idp.Server.Admin().UnlockUser(context.Background(), f.userID); err != nil {
		t.Fatal(err)
	}
	if r := f.pwLogin(f.email, testPassword, dev2); r.status != 200 {
		t.Fatalf("device login after unlock: %d %s", r.status, r.body)
	}
}

// AUD-1: unknown, forged, foreign and other-user device tokens are ignored
// (treated as none): they bypass nothing and break nothing.
func TestAUD1_ForgedDeviceTokensIgnored(t *testing.T) {
	f, _ := lockFixture(t)
	bobEmail := otherEmail
	f.idp.CreateUser(t, bobEmail, testPassword, f.clientID)
	bobDev := deviceToken(t, f.pwLogin(bobEmail, testPassword, ""))
	aliceDev := deviceToken(t, f.pwLogin(f.email, testPassword, ""))
	otherApp, otherSecret := f.idp.CreateApp(t, idptest.AppOptions{Name: "other"})
	r := f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {f.email}, "password": {testPassword},
		"client_id": {otherApp}, "client_secret": {otherSecret}})
	otherAppDev := deviceToken(t, r)
	access, _ := f.mustLogin()
	parts := strings.Split(aliceDev, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	// A kid this IdP never published (after a key reload finds nothing):
	// ignored, never looked up as a nil key.
	hdr := jwtPart(t, aliceDev, 0)
	hdr["kid"] = "no-such-key"
	hb, _ := json.Marshal(hdr)
	unknownKID := base64.RawURLEncoding.EncodeToString(hb) + "." + parts[1] + "." + parts[2]

	for range 12 {
		f.pwLogin(f.email, wrongPW, "")
		f.clock.Advance(time.Minute)
	}
	for name, tok := range map[string]string{
		"another user's": bobDev, "another app's": otherAppDev, "tampered": tampered,
		"an access token": access, "garbage": "x.y.z", "huge": strings.Repeat("a", 5000),
		"unknown kid": unknownKID,
	} {
		if r := f.pwLogin(f.email, testPassword, tok); r.status != 400 {
			t.Errorf("%s device token bypassed the lock: %d", name, r.status)
		}
	}
	// Expired: the genuine token after its lifetime.
	f.clock.Advance(91 * 24 * time.Hour)
	if r := f.pwLogin(f.email, testPassword, aliceDev); r.status != 400 {
		t.Errorf("expired device token bypassed the lock: %d", r.status)
	}
}

// AUD-2 (IDP-BF-4): unknown email, wrong password, an account in its
// delay, a hard-stopped account and a deactivated account answer the same
// status and body for exactly one hash to anyone without the right
// password. This is also the test of the dummy hash for unknown accounts:
// without it, the unknown case costs no hash.
func TestAUD2_SameAnswerAndOneHashForStrangers(t *testing.T) {
	f, h := lockFixture(t)
	ctx := context.Background()
	delayed := "delayed@example.com"
	f.idp.CreateUser(t, delayed, testPassword, f.clientID)
	stopped := "stopped@example.com"
	f.idp.CreateUser(t, stopped, testPassword, f.clientID)
	gone := "gone@example.com"
	goneID := f.idp.CreateUser(t, gone, testPassword, f.clientID)
	for range 8 {
		f.pwLogin(stopped, wrongPW, "")
		f.clock.Advance(time.Minute)
	}
	for range 3 { // then, with the clock still: inside its first delay
		f.pwLogin(delayed, wrongPW, "")
	}
	if err := f.idp.Server.Admin().SetActive(ctx, goneID, false); err != nil {
		t.Fatal(err)
	}
	h.counts()
	type tc struct{ name, email, pw string }
	cases := []tc{
		{"unknown email", "nobody@example.com", wrongPW},
		{"wrong password", f.email, wrongPW},
		{"delayed, wrong password", delayed, wrongPW},
		{"delayed, right password", delayed, testPassword},
		{"hard stop, wrong password", stopped, wrongPW},
		{"hard stop, right password", stopped, testPassword},
		{"deactivated, wrong password", gone, wrongPW},
	}
	var first string
	for _, c := range cases {
		r := f.pwLogin(c.email, c.pw, "")
		got := r.header.Get("Content-Type") + " " + string(r.body)
		if r.status != 400 {
			t.Errorf("%s: status %d", c.name, r.status)
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("%s answers differently:\n%s\n%s", c.name, first, got)
		}
		if v, d := h.counts(); v+d != 1 {
			t.Errorf("%s cost %d real + %d dummy verifications, want exactly one", c.name, v, d)
		} else if c.email == "nobody@example.com" && d != 1 {
			t.Errorf("unknown email: no dummy verification")
		}
	}
	wantOAuthError(t, f.pwLogin(f.email, wrongPW, ""), 400, "invalid_grant", "invalid_user_credentials")
	// Only the right password learns "deactivated".
	wantOAuthError(t, f.pwLogin(gone, testPassword, ""), 400, "invalid_grant", "user_locked")
}

// AUD-3 (C-1, IDP-CLI-2): the password grant needs a client that proved
// its secret in this request; an application stored with
// clientAuthenticationPolicy NotRequired (legacy data, created before the
// admin check) still cannot log users in with its client_id alone, and its
// X-Forwarded-For is trusted only when the secret was sent.
func TestAUD3_PasswordGrantNeedsSecretInRequest(t *testing.T) {
	f, _ := lockFixture(t)
	ctx := context.Background()
	app, err := f.idp.Store.GetApplication(ctx, f.clientID)
	if err != nil {
		t.Fatal(err)
	}
	app.Config.ClientAuthenticationPolicy = "NotRequired"
	if err := f.idp.Store.UpdateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	noSecret := url.Values{"grant_type": {"password"}, "username": {f.email}, "password": {testPassword},
		"client_id": {f.clientID}, "scope": {"offline_access"}}
	wantOAuthError(t, f.form("/oauth2/token", noSecret), 400, "unauthorized_client", "grant_type_disabled")
	_, rt := f.mustLogin() // with the secret: fine

	// IDP-BF-3: a refresh without the secret cannot choose the IP recorded.
	r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {f.clientID}},
		"X-Forwarded-For", "203.0.113.77")
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	toks, err := f.idp.Store.ListRefreshTokens(ctx, f.userID)
	if err != nil || len(toks) == 0 {
		t.Fatal(err, len(toks))
	}
	for _, tok := range toks {
		if tok.LastUsedIP == "203.0.113.77" {
			t.Fatal("X-Forwarded-For trusted from a client that sent no secret")
		}
	}
}

// AUD-3: the admin API and Admin.CreateApplication refuse enabling the
// password grant for an application that does not require client
// authentication (FusionAuth fieldErrors shape).
func TestAUD3_AdminRefusesPasswordGrantWithoutClientAuth(t *testing.T) {
	f, _ := lockFixture(t)
	r := f.api(http.MethodPost, "/api/application", `{"application":{"name":"spa","oauthConfiguration":{
		"clientAuthenticationPolicy":"NotRequired","enabledGrants":["password","refresh_token"]}}}`)
	if r.status != 400 {
		t.Fatalf("status %d %s", r.status, r.body)
	}
	var body struct {
		FieldErrors map[string][]struct{ Code string } `json:"fieldErrors"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	fe := body.FieldErrors["application.oauthConfiguration.clientAuthenticationPolicy"]
	if len(fe) == 0 || fe[0].Code != "[invalid]application.oauthConfiguration.clientAuthenticationPolicy" {
		t.Fatalf("fieldErrors %s", r.body)
	}
	_, _, err := f.idp.Server.Admin().CreateApplication(context.Background(), idp.ApplicationSpec{Name: "x",
		Config: store.ApplicationConfig{EnabledGrants: []string{"password"}, ClientAuthenticationPolicy: "NotRequired"}})
	var ve *idp.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Admin.CreateApplication: %v", err)
	}
	// The refresh grant alone stays allowed without client authentication.
	r = f.api(http.MethodPost, "/api/application", `{"application":{"name":"refresh only","oauthConfiguration":{
		"clientAuthenticationPolicy":"NotRequired","enabledGrants":["refresh_token"]}}}`)
	if r.status != 200 {
		t.Fatalf("refresh-only NotRequired app: %d %s", r.status, r.body)
	}
}

// AUD-4: password failures (keyed by the end-user IP, after client
// authentication) never throttle an authenticated app's refresh, nor
// another browser's login; the password bucket is checked only after the
// client authenticated.
func TestAUD4_PasswordGuessesNeverThrottleRefresh(t *testing.T) {
	f, _ := lockFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 3, Every: time.Hour} })
	_, rt := f.mustLogin()
	const ip = "198.51.100.20"
	got429 := false
	for i := range 10 { // the browser and the app share this address
		r := f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"u" + string(rune('a'+i)) + "@example.com"},
			"password": {wrongPW}, "client_id": {f.clientID}, "client_secret": {f.secret}}, "X-Forwarded-For", ip)
		got429 = got429 || r.status == http.StatusTooManyRequests
	}
	if !got429 {
		t.Fatal("IDP-BF-3: password spraying from one IP never throttled")
	}
	r := f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {f.clientID}, "client_secret": {f.secret}}, "X-Forwarded-For", ip)
	if r.status != 200 {
		t.Fatalf("refresh after password guesses from its IP: %d %s", r.status, r.body)
	}
	// The IP check comes after client authentication: a bad client gets
	// invalid_client, not 429, and takes nothing from the password bucket.
	r = f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {f.email}, "password": {testPassword},
		"client_id": {f.clientID}, "client_secret": {"wrong"}}, "X-Forwarded-For", ip)
	wantOAuthError(t, r, 401, "invalid_client", "")
	// Another browser's login (another IP behind the same app) works.
	if r := f.pwLogin(f.email, testPassword, "", "X-Forwarded-For", "198.51.100.21"); r.status != 200 {
		t.Fatalf("login from another IP: %d %s", r.status, r.body)
	}
}

// AUD-4 / IDP-CLI-3: failed client authentications are throttled per TCP
// peer (429 once the bucket is empty) in a bucket of their own: they
// neither consume the password bucket nor refuse a client that does
// authenticate (its refresh and logins go on).
func TestAUD4_ClientAuthFailuresThrottledSeparately(t *testing.T) {
	f, _ := lockFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 3, Every: time.Hour} })
	_, rt := f.mustLogin()
	bad := func() *response {
		return f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
			"client_id": {f.clientID}, "client_secret": {"guess"}})
	}
	for range 3 {
		wantOAuthError(t, bad(), 401, "invalid_client", "invalid_client_authentication")
	}
	r := bad()
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th failed client authentication from one peer: %d (Retry-After %q), want 429", r.status, r.header.Get("Retry-After"))
	}
	// Introspection authenticates clients too: same bucket.
	r = f.form("/oauth2/introspect", url.Values{"token": {"x"}, "client_id": {f.clientID}, "client_secret": {"guess"}})
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("introspect with a wrong secret from a throttled peer: %d", r.status)
	}
	if _, rt2 := f.mustRefresh(rt); rt2 == "" {
		t.Fatal("no rotated token")
	}
	for range 4 { // the password bucket is untouched (burst 3)
		if r := f.pwLogin(f.email, testPassword, ""); r.status != 200 {
			t.Fatalf("login after client-secret guesses: %d %s", r.status, r.body)
		}
	}
}

// AUD-6: a deactivation that lands while a login hashes wins: the login is
// refused and the user stays deactivated (the old login wrote its whole
// stale row back, re-activating the user).
func TestAUD6_DeactivationDuringLoginWins(t *testing.T) {
	f, h := lockFixture(t)
	ctx := context.Background()
	var once sync.Once
	h.setHook(func() {
		once.Do(func() {
			if err := f.idp.Server.Admin().SetActive(ctx, f.userID, false); err != nil {
				t.Error(err)
			}
		})
	})
	r := f.pwLogin(f.email, testPassword, "")
	h.setHook(nil)
	wantOAuthError(t, r, 400, "invalid_grant", "user_locked")
	u, err := f.idp.Store.GetUser(ctx, f.userID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Active {
		t.Fatal("the login undid the deactivation")
	}
	if toks, _ := f.idp.Store.ListRefreshTokens(ctx, f.userID); len(toks) != 0 {
		t.Fatalf("%d refresh tokens issued to a deactivated user", len(toks))
	}
}

// AUD-6: a password change that lands while a login with the old password
// hashes wins: the login is refused and the new password stays.
func TestAUD6_PasswordChangeDuringLoginWins(t *testing.T) {
	f, h := lockFixture(t)
	ctx := context.Background()
	const newPW = "the new password of 2027"
	var once sync.Once
	h.setHook(func() {
		once.Do(func() {
			if err := f.idp.Server.Admin().SetPassword(ctx, f.userID, newPW); err != nil {
				t.Error(err)
			}
		})
	})
	r := f.pwLogin(f.email, testPassword, "")
	h.setHook(nil)
	wantOAuthError(t, r, 400, "invalid_grant", "invalid_user_credentials")
	if r := f.pwLogin(f.email, newPW, ""); r.status != 200 {
		t.Fatalf("new password after the race: %d %s", r.status, r.body)
	}
	if r := f.pwLogin(f.email, testPassword, ""); r.status != 400 {
		t.Fatalf("old password still works: %d", r.status)
	}
}

// AUD-4 / AUD-1: the per-IP limit is for strangers. A browser presenting
// its valid device token still signs in from an address whose password
// bucket is empty (its own guesses are bounded by DeviceFailures); the
// same address without the token waits.
func TestAUD4_DeviceTokenNotStoppedByIPThrottle(t *testing.T) {
	f, _ := lockFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 3, Every: time.Hour} })
	const ip = "198.51.100.30"
	dev := deviceToken(t, f.pwLogin(f.email, testPassword, "", "X-Forwarded-For", ip))
	for i := range 5 {
		f.pwLogin("u"+string(rune('a'+i))+"@example.com", wrongPW, "", "X-Forwarded-For", ip)
	}
	if r := f.pwLogin(f.email, testPassword, "", "X-Forwarded-For", ip); r.status != http.StatusTooManyRequests {
		t.Fatalf("no device token, throttled address: %d", r.status)
	}
	if r := f.pwLogin(f.email, testPassword, dev, "X-Forwarded-For", ip); r.status != 200 {
		t.Fatalf("device token, throttled address: %d %s", r.status, r.body)
	}
}
