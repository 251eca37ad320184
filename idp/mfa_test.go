package idp_test

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/password"
)

// Second factor (issue 12): MFA-1 … MFA-8 in docs/security.md.

// totpCode computes the authenticator code of secret (base32) at t, as an
// authenticator app would.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wrongCode is a code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// mfaFixture is a fixture whose user has enabled an authenticator.
type mfaFixture struct {
	*fixture
	secret   string   // base32
	recovery []string // the recovery codes shown at enrolment
	methodID string
}

func newMFAFixture(t *testing.T, cfg ...idp.Config) *mfaFixture {
	t.Helper()
	f := &mfaFixture{fixture: newFixture(t, idptest.AppOptions{}, cfg...)}
	r := f.api(http.MethodGet, "/api/two-factor/secret", "")
	if r.status != http.StatusOK {
		t.Fatalf("secret: %d %s", r.status, r.body)
	}
	var sec struct{ Secret, SecretBase32Encoded string }
	if err := json.Unmarshal(r.body, &sec); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(sec.Secret)
	if b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw); b32 != sec.SecretBase32Encoded || len(raw) < 16 {
		t.Fatalf("secret %q and secretBase32Encoded %q disagree", sec.Secret, sec.SecretBase32Encoded)
	}
	f.secret = sec.SecretBase32Encoded
	r = f.enable(f.secret, totpCode(t, f.secret, f.clock.Now()))
	if r.status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	var en struct{ RecoveryCodes []string }
	if err := json.Unmarshal(r.body, &en); err != nil || len(en.RecoveryCodes) != 10 {
		t.Fatalf("enable answered %s", r.body)
	}
	f.recovery = en.RecoveryCodes
	f.nextStep() // the enrolment code is used
	_, tf := f.mustTwoFactorRequired()
	f.methodID = tf.methods[0]
	return f
}

func (f *mfaFixture) enable(secret, code string) *response {
	f.t.Helper()
	return f.api(http.MethodPost, "/api/user/two-factor/"+f.userID,
		fmt.Sprintf(`{"method":"authenticator","secretBase32Encoded":%q,"code":%q}`, secret, code))
}

// nextStep moves the clock to the next TOTP step.
func (f *mfaFixture) nextStep() { f.clock.Advance(30 * time.Second) }

// code is the authenticator's current code.
func (f *mfaFixture) code() string { return totpCode(f.t, f.secret, f.clock.Now()) }

// twoFactorRequired is the password grant's two_factor_required answer.
type twoFactorRequired struct {
	id      string
	methods []string // method ids
}

// mustTwoFactorRequired runs the password grant (extra form pairs
// appended) and requires two_factor_required without tokens.
func (f *mfaFixture) mustTwoFactorRequired(extra ...string) (*response, twoFactorRequired) {
	f.t.Helper()
	r, _ := f.login(extra...)
	if r.status != http.StatusBadRequest {
		f.t.Fatalf("password grant: %d %s, want 400 two_factor_required", r.status, r.body)
	}
	var body struct {
		Error       string                        `json:"error"`
		TwoFactorID string                        `json:"two_factor_id"`
		Methods     []struct{ ID, Method string } `json:"two_factor_methods"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		f.t.Fatal(err)
	}
	if body.Error != "two_factor_required" || len(body.TwoFactorID) != 43 || len(body.Methods) != 1 || body.Methods[0].Method != "authenticator" {
		f.t.Fatalf("password grant answered %s", r.body)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token", "device_token"} {
		if strings.Contains(string(r.body), k) {
			f.t.Fatalf("MFA-6: two_factor_required carries %s: %s", k, r.body)
		}
	}
	return r, twoFactorRequired{id: body.TwoFactorID, methods: []string{body.Methods[0].ID}}
}

// twoFactorLogin posts the second step.
func (f *mfaFixture) twoFactorLogin(id, code string, trust bool) *response {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.idp.URL+"/api/two-factor/login", strings.NewReader(
		fmt.Sprintf(`{"twoFactorId":%q,"code":%q,"applicationId":%q,"trustComputer":%t}`, id, code, f.clientID, trust)))
	req.Header.Set("Content-Type", "application/json")
	return f.do(req)
}

// loginResponse decodes a 200 of /api/two-factor/login.
type loginResponse struct {
	Token            string `json:"token"`
	RefreshToken     string `json:"refreshToken"`
	RefreshTokenID   string `json:"refreshTokenId"`
	TwoFactorTrustID string `json:"twoFactorTrustId"`
	DeviceToken      string `json:"deviceToken"`
	User             struct {
		ID string `json:"id"`
	} `json:"user"`
}

func (f *mfaFixture) mustTwoFactorLogin(id, code string, trust bool) loginResponse {
	f.t.Helper()
	r := f.twoFactorLogin(id, code, trust)
	if r.status != http.StatusOK {
		f.t.Fatalf("two-factor login: %d %s", r.status, r.body)
	}
	var lr loginResponse
	if err := json.Unmarshal(r.body, &lr); err != nil {
		f.t.Fatal(err)
	}
	return lr
}

// claims decodes a JWT's payload without verifying it (the IdP's own
// tests verify signatures elsewhere).
func claims(t testing.TB, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatalf("parse %q: %v", tok, err)
	}
	return c
}

func (f *mfaFixture) refreshTokens() []*store.RefreshToken {
	f.t.Helper()
	fams, err := f.idp.Store.ListRefreshTokens(context.Background(), f.userID)
	if err != nil {
		f.t.Fatal(err)
	}
	return fams
}

// TestMFA1_TwoFactorIDExpiresIsSingleUseAndUnknownIs404: a twoFactorId
// lives five minutes, is used once, and an unknown or malformed one is a
// plain 404.
func TestMFA1_TwoFactorIDExpiresIsSingleUseAndUnknownIs404(t *testing.T) {
	f := newMFAFixture(t)

	_, tf := f.mustTwoFactorRequired()
	f.clock.Advance(5*time.Minute + time.Second)
	if r := f.twoFactorLogin(tf.id, f.code(), false); r.status != http.StatusNotFound {
		t.Fatalf("expired twoFactorId: %d %s, want 404", r.status, r.body)
	}

	f.nextStep()
	_, tf = f.mustTwoFactorRequired()
	f.mustTwoFactorLogin(tf.id, f.code(), false)
	f.nextStep()
	if r := f.twoFactorLogin(tf.id, f.code(), false); r.status != http.StatusNotFound {
		t.Fatalf("used twoFactorId: %d %s, want 404", r.status, r.body)
	}

	for _, id := range []string{strings.Repeat("A", 43), "not-an-id", strings.Repeat("x", 500)} {
		if r := f.twoFactorLogin(id, f.code(), false); r.status != http.StatusNotFound {
			t.Fatalf("unknown twoFactorId %q: %d %s, want 404", id, r.status, r.body)
		}
	}
	// Another application's login is not this one's to finish.
	_, tf = f.mustTwoFactorRequired()
	req, _ := http.NewRequest(http.MethodPost, f.idp.URL+"/api/two-factor/login", strings.NewReader(
		fmt.Sprintf(`{"twoFactorId":%q,"code":%q,"applicationId":"9b0c1ad2-4c9b-4f8a-9a0e-1f2e3d4c5b6a"}`, tf.id, f.code())))
	req.Header.Set("Content-Type", "application/json")
	if r := f.do(req); r.status != http.StatusNotFound {
		t.Fatalf("other application's twoFactorId: %d %s, want 404", r.status, r.body)
	}
	// Bad input is a 400 with field errors, never a 500.
	r := f.do(jsonReq(t, http.MethodPost, f.idp.URL+"/api/two-factor/login", `{"twoFactorId":""}`))
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[blank]code") {
		t.Fatalf("blank fields: %d %s", r.status, r.body)
	}
	if r := f.do(jsonReq(t, http.MethodPost, f.idp.URL+"/api/two-factor/login", `{`)); r.status != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d %s", r.status, r.body)
	}
}

func jsonReq(t testing.TB, method, u, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestMFA2_FiveWrongCodesEndTheTwoFactorID: each wrong code is 421; the
// fifth ends the twoFactorId, so even the right code then finds nothing.
func TestMFA2_FiveWrongCodesEndTheTwoFactorID(t *testing.T) {
	f := newMFAFixture(t)
	_, tf := f.mustTwoFactorRequired()
	for i := range 5 {
		if r := f.twoFactorLogin(tf.id, wrongCode(f.code()), false); r.status != 421 || len(r.body) != 0 {
			t.Fatalf("wrong code %d: %d %q, want 421 empty", i+1, r.status, r.body)
		}
	}
	if r := f.twoFactorLogin(tf.id, f.code(), false); r.status != http.StatusNotFound {
		t.Fatalf("right code after five wrong ones: %d %s, want 404", r.status, r.body)
	}
	// Four wrong codes leave it usable (the user's own delay, MFA-5, set
	// out of the way).
	g := newMFAFixture(t, idp.Config{Lockout: idp.LockoutPolicy{FreeFailures: 50}})
	_, tf = g.mustTwoFactorRequired()
	for range 4 {
		if r := g.twoFactorLogin(tf.id, wrongCode(g.code()), false); r.status != 421 {
			t.Fatalf("wrong code: %d", r.status)
		}
	}
	g.mustTwoFactorLogin(tf.id, g.code(), false)
}

// TestMFA3_CodeIsAcceptedOnce: a code that completed a login (or the
// enrolment) is refused inside its whole window, also with a new
// twoFactorId.
func TestMFA3_CodeIsAcceptedOnce(t *testing.T) {
	f := newMFAFixture(t)
	code := f.code()
	_, tf := f.mustTwoFactorRequired()
	f.mustTwoFactorLogin(tf.id, code, false)
	_, tf = f.mustTwoFactorRequired()
	if r := f.twoFactorLogin(tf.id, code, false); r.status != 421 {
		t.Fatalf("replayed code: %d %s, want 421", r.status, r.body)
	}
	// Still refused a step later, while the skew would accept it.
	f.clock.Advance(30 * time.Second)
	if r := f.twoFactorLogin(tf.id, code, false); r.status != 421 {
		t.Fatalf("replayed code, next step: %d %s, want 421", r.status, r.body)
	}
	f.mustTwoFactorLogin(tf.id, f.code(), false)

	// The enrolment code cannot sign in either.
	g := &mfaFixture{fixture: newFixture(t, idptest.AppOptions{})}
	g.secret = strings.Repeat("JBSWY3DPEHPK3PXP", 2)
	enrol := g.code()
	if r := g.enable(g.secret, enrol); r.status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	_, tf = g.mustTwoFactorRequired()
	if r := g.twoFactorLogin(tf.id, enrol, false); r.status != 421 {
		t.Fatalf("enrolment code at login: %d %s, want 421", r.status, r.body)
	}
}

// TestMFA3_ConcurrentUsesOfOneCode: two second steps racing with the same
// code (two twoFactorIds): exactly one signs in.
func TestMFA3_ConcurrentUsesOfOneCode(t *testing.T) {
	f := newMFAFixture(t)
	for round := range 5 {
		f.nextStep()
		_, a := f.mustTwoFactorRequired()
		_, b := f.mustTwoFactorRequired()
		code := f.code()
		statuses := make(chan int, 2)
		for _, id := range []string{a.id, b.id} {
			go func() {
				req := jsonReq(t, http.MethodPost, f.idp.URL+"/api/two-factor/login",
					fmt.Sprintf(`{"twoFactorId":%q,"code":%q}`, id, code))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- 0
					return
				}
				resp.Body.Close()
				statuses <- resp.StatusCode
			}()
		}
		s1, s2 := <-statuses, <-statuses
		if !(s1 == http.StatusOK && s2 == 421 || s1 == 421 && s2 == http.StatusOK) {
			t.Fatalf("round %d: one code, two logins answered %d and %d; want one 200 and one 421", round, s1, s2)
		}
	}
}

// TestMFA4_RecoveryCodeSingleUseAndDisablingNeedsACode: a recovery code
// signs in once; an application's key cannot disable the factor without
// a right code; a recovery code disables it.
func TestMFA4_RecoveryCodeSingleUseAndDisablingNeedsACode(t *testing.T) {
	f := newMFAFixture(t)
	rc := strings.ToLower(f.recovery[3]) // case and dashes do not matter
	_, tf := f.mustTwoFactorRequired()
	lr := f.mustTwoFactorLogin(tf.id, rc, false)
	if lr.Token == "" || lr.RefreshToken == "" {
		t.Fatalf("recovery-code login answered no tokens: %+v", lr)
	}
	_, tf = f.mustTwoFactorRequired()
	if r := f.twoFactorLogin(tf.id, rc, false); r.status != 421 {
		t.Fatalf("used recovery code: %d %s, want 421", r.status, r.body)
	}
	if r := f.api(http.MethodGet, "/api/user/two-factor/recovery-code/"+f.userID, ""); !strings.Contains(string(r.body), `"remainingCount":9`) {
		t.Fatalf("recovery codes left: %s", r.body)
	}

	// An application's scoped key (AUD-13) needs the user's code.
	key, _, err := f.idp.Server.Admin().CreateScopedAPIKey(context.Background(), "app",
		store.APIKeyPermissions{Endpoints: map[string][]string{"/api/user/two-factor": {"DELETE"}}})
	if err != nil {
		t.Fatal(err)
	}
	del := func(query string) *response {
		req, _ := http.NewRequest(http.MethodDelete, f.idp.URL+"/api/user/two-factor/"+f.userID+query, nil)
		req.Header.Set("Authorization", key)
		return f.do(req)
	}
	if r := del("?methodId=" + f.methodID); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[blank]code") {
		t.Fatalf("disable without a code: %d %s, want 400 [blank]code", r.status, r.body)
	}
	if r := del("?methodId=" + f.methodID + "&code=" + wrongCode(f.code())); r.status != 421 {
		t.Fatalf("disable with a wrong code: %d %s, want 421", r.status, r.body)
	}
	f.mustTwoFactorRequired()
	if r := del("?methodId=" + f.methodID + "&code=" + url.QueryEscape(f.recovery[5])); r.status != http.StatusOK {
		t.Fatalf("disable with a recovery code: %d %s", r.status, r.body)
	}
	if r, _ := f.login(); r.status != http.StatusOK {
		t.Fatalf("password login after disable: %d %s", r.status, r.body)
	}
}

// TestMFA4_DisableWithCodeAndBySuperKey: an authenticator code disables
// too (JSON body form), and the operator's super key may without one.
func TestMFA4_DisableWithCodeAndBySuperKey(t *testing.T) {
	f := newMFAFixture(t)
	// A code in the body is read and checked, also with the super key.
	if r := f.api(http.MethodDelete, "/api/user/two-factor/"+f.userID,
		fmt.Sprintf(`{"methodId":%q,"code":%q}`, f.methodID, wrongCode(f.code()))); r.status != 421 {
		t.Fatalf("disable with a wrong code in the body: %d %s, want 421", r.status, r.body)
	}
	if r := f.api(http.MethodDelete, "/api/user/two-factor/"+f.userID,
		fmt.Sprintf(`{"methodId":%q,"code":%q}`, f.methodID, f.code())); r.status != http.StatusOK {
		t.Fatalf("disable with a code: %d %s", r.status, r.body)
	}
	if r, _ := f.login(); r.status != http.StatusOK {
		t.Fatalf("password login after disable: %d %s", r.status, r.body)
	}
	f.nextStep()
	if r := f.enable(f.secret, f.code()); r.status != http.StatusOK {
		t.Fatalf("enable again: %d %s", r.status, r.body)
	}
	if r := f.api(http.MethodDelete, "/api/user/two-factor/"+f.userID, ""); r.status != http.StatusOK {
		t.Fatalf("super key disable: %d %s", r.status, r.body)
	}
	if r, _ := f.login(); r.status != http.StatusOK {
		t.Fatalf("password login after admin disable: %d %s", r.status, r.body)
	}
}

// TestMFA5_WrongCodesDelayTheUser: wrong codes count per user across
// twoFactorIds; past FreeFailures the right code is refused unchecked
// until the delay has passed.
func TestMFA5_WrongCodesDelayTheUser(t *testing.T) {
	f := newMFAFixture(t)
	for range 5 { // a fresh twoFactorId each time: the per-ticket limit never bites
		_, tf := f.mustTwoFactorRequired()
		if r := f.twoFactorLogin(tf.id, wrongCode(f.code()), false); r.status != 421 {
			t.Fatalf("wrong code: %d", r.status)
		}
	}
	_, tf := f.mustTwoFactorRequired()
	if r := f.twoFactorLogin(tf.id, f.code(), false); r.status != 421 {
		t.Fatalf("right code inside the delay: %d %s, want 421", r.status, r.body)
	}
	f.clock.Advance(31 * time.Second) // the default BaseDelay is 30 s
	f.mustTwoFactorLogin(tf.id, f.code(), false)
}

// TestMFA6_PasswordGrantNeverIssuesTokensForMFAUser: the password grant
// answers two_factor_required and writes no refresh token; the second step
// answers the tokens a password login would (family, device token), with
// amr saying a second factor was used.
func TestMFA6_PasswordGrantNeverIssuesTokensForMFAUser(t *testing.T) {
	f := newMFAFixture(t)
	before := len(f.refreshTokens())
	_, tf := f.mustTwoFactorRequired("scope", "offline_access openid")
	if n := len(f.refreshTokens()); n != before {
		t.Fatalf("MFA-6: the first step stored %d refresh tokens", n-before)
	}
	// A wrong password still says nothing about the second factor.
	r, _ := f.login("password", "wrong password, long enough")
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant", "invalid_user_credentials")

	lr := f.mustTwoFactorLogin(tf.id, f.code(), false)
	if lr.User.ID != f.userID || lr.DeviceToken == "" || lr.RefreshTokenID == "" {
		t.Fatalf("second step answered %+v", lr)
	}
	c := claims(t, lr.Token)
	if c["sub"] != f.userID || c["aud"] != f.clientID || c["sid"] != lr.RefreshTokenID || c["authenticationType"] != "PASSWORD" {
		t.Fatalf("access token claims %v", c)
	}
	if fmt.Sprint(c["amr"]) != "[pwd otp mfa]" {
		t.Fatalf("amr = %v, want [pwd otp mfa]", c["amr"])
	}
	fams := f.refreshTokens()
	if len(fams) != before+1 || fams[0].ID != lr.RefreshTokenID {
		t.Fatalf("refresh-token families %d, want one new, %s", len(fams), lr.RefreshTokenID)
	}
	if r := f.api(http.MethodGet, "/api/user/"+f.userID, ""); !strings.Contains(string(r.body), `"twoFactor":{"methods":[{"id":"`+f.methodID+`","method":"authenticator"`) {
		t.Fatalf("user JSON lacks twoFactor.methods: %s", r.body)
	}
	// The session after it is a password login's: the refresh token works.
	f.mustRefresh(lr.RefreshToken)
	// A password-only user's tokens say pwd.
	g := newFixture(t, idptest.AppOptions{})
	access, _ := g.mustLogin()
	if c := claims(t, access); fmt.Sprint(c["amr"]) != "[pwd]" {
		t.Fatalf("password-only amr = %v", c["amr"])
	}
}

// TestMFA7_TrustIDSkipsTheStepAndDiesWithRevokeAll: trustComputer hands
// out a twoFactorTrustId that skips the second step for this user at this
// application only, until "sign out everywhere", a new password or a
// global logout.
func TestMFA7_TrustIDSkipsTheStepAndDiesWithRevokeAll(t *testing.T) {
	f := newMFAFixture(t)
	trust := func() string {
		f.t.Helper()
		f.nextStep()
		_, tf := f.mustTwoFactorRequired()
		lr := f.mustTwoFactorLogin(tf.id, f.code(), true)
		if len(lr.TwoFactorTrustID) != 43 {
			t.Fatalf("trustComputer answered no twoFactorTrustId: %+v", lr)
		}
		return lr.TwoFactorTrustID
	}
	id := trust()
	r, m := f.login("twoFactorTrustId", id)
	if r.status != http.StatusOK {
		t.Fatalf("password grant with trust id: %d %s", r.status, r.body)
	}
	if c := claims(t, m["access_token"].(string)); fmt.Sprint(c["amr"]) != "[pwd]" {
		t.Fatalf("trusted login amr = %v, want [pwd]", c["amr"])
	}
	f.mustTwoFactorRequired("twoFactorTrustId", strings.Repeat("A", 43))
	// Another application of the same user asks for its own second step.
	otherID, otherSecret := f.idp.CreateApp(t, idptest.AppOptions{Name: "forums"})
	if _, err := f.idp.Server.Admin().Register(context.Background(), f.userID, otherID, nil); err != nil {
		t.Fatal(err)
	}
	f.mustTwoFactorRequired("twoFactorTrustId", id, "client_id", otherID, "client_secret", otherSecret)

	// Sign out everywhere (DELETE /api/jwt/refresh?userId=) ends it.
	if r := f.api(http.MethodDelete, "/api/jwt/refresh?userId="+f.userID, ""); r.status != http.StatusOK {
		t.Fatalf("revoke all: %d %s", r.status, r.body)
	}
	f.mustTwoFactorRequired("twoFactorTrustId", id)

	// A new password ends it.
	id = trust()
	if err := f.idp.Server.Admin().SetPassword(context.Background(), f.userID, testPassword+" again"); err != nil {
		t.Fatal(err)
	}
	if err := f.idp.Server.Admin().SetPassword(context.Background(), f.userID, testPassword); err != nil {
		t.Fatal(err)
	}
	f.mustTwoFactorRequired("twoFactorTrustId", id)

	// The global logout ends it.
	id = trust()
	_, tf := f.mustTwoFactorRequired()
	f.nextStep()
	lr := f.mustTwoFactorLogin(tf.id, f.code(), false)
	req := jsonReq(t, http.MethodPost, f.idp.URL+"/api/logout", fmt.Sprintf(`{"global":true,"refreshToken":%q}`, lr.RefreshToken))
	if r := f.do(req); r.status != http.StatusOK {
		t.Fatalf("global logout: %d", r.status)
	}
	f.mustTwoFactorRequired("twoFactorTrustId", id)

	// A deactivation ends it (reactivating does not bring it back).
	id = trust()
	if err := f.idp.Server.Admin().SetActive(context.Background(), f.userID, false); err != nil {
		t.Fatal(err)
	}
	if err := f.idp.Server.Admin().SetActive(context.Background(), f.userID, true); err != nil {
		t.Fatal(err)
	}
	f.mustTwoFactorRequired("twoFactorTrustId", id)

	// And it lives 30 days.
	id = trust()
	f.clock.Advance(30*24*time.Hour + time.Second)
	f.mustTwoFactorRequired("twoFactorTrustId", id)
}

// TestMFA8_EnableNeedsAValidCodeAndSecretIsSealed: enabling needs a code
// of the secret; the stored secret is neither its base32 nor its base64.
func TestMFA8_EnableNeedsAValidCodeAndSecretIsSealed(t *testing.T) {
	f := &mfaFixture{fixture: newFixture(t, idptest.AppOptions{})}
	f.secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	if r := f.enable(f.secret, wrongCode(f.code())); r.status != 421 {
		t.Fatalf("enable with a wrong code: %d %s, want 421", r.status, r.body)
	}
	if r, _ := f.login(); r.status != http.StatusOK {
		t.Fatalf("a refused enable changed the login: %d %s", r.status, r.body)
	}
	for body, want := range map[string]string{
		`{"method":"sms","secretBase32Encoded":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","code":"123456"}`: "[invalid]method",
		`{"method":"authenticator","code":"123456"}`:                                                "[blank]secret",
		`{"method":"authenticator","secretBase32Encoded":"JBSWY3DP","code":"123456"}`:               "[invalid]secretBase32Encoded",
		`{"method":"authenticator","secret":"%%%","code":"123456"}`:                                 "[invalid]secret",
		`{"method":"authenticator","secretBase32Encoded":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}`:       "[blank]code",
		`[`: "[invalid]body",
	} {
		r := f.api(http.MethodPost, "/api/user/two-factor/"+f.userID, body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), want) {
			t.Errorf("enable %s: %d %s, want 400 %s", body, r.status, r.body, want)
		}
	}
	if r := f.api(http.MethodPost, "/api/user/two-factor/9b0c1ad2-4c9b-4f8a-9a0e-1f2e3d4c5b6a",
		`{"method":"authenticator","secretBase32Encoded":"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP","code":"123456"}`); r.status != http.StatusNotFound {
		t.Errorf("enable for an unknown user: %d", r.status)
	}
	if r := f.enable(f.secret, f.code()); r.status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	f.nextStep()
	if r := f.enable(f.secret, f.code()); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[duplicate]method") {
		t.Fatalf("enable twice: %d %s", r.status, r.body)
	}
	u, err := f.idp.Store.GetUser(context.Background(), f.userID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(f.secret)
	row := string(u.MultiFactor)
	for _, plain := range []string{f.secret, base64.StdEncoding.EncodeToString(raw), base64.RawStdEncoding.EncodeToString(raw), string(raw)} {
		if strings.Contains(row, plain) {
			t.Fatalf("MFA-8: the stored second factor contains the secret in plaintext: %s", row)
		}
	}
	if !strings.Contains(row, "sealedSecret") {
		t.Fatalf("no sealed secret stored: %s", row)
	}
	// The recovery codes are stored as digests only.
	r := f.api(http.MethodPost, "/api/user/two-factor/recovery-code/"+f.userID, "")
	var rc struct{ RecoveryCodes []string }
	if err := json.Unmarshal(r.body, &rc); err != nil || len(rc.RecoveryCodes) != 10 {
		t.Fatalf("regenerate: %d %s", r.status, r.body)
	}
	u, _ = f.idp.Store.GetUser(context.Background(), f.userID)
	for _, c := range rc.RecoveryCodes {
		if strings.Contains(string(u.MultiFactor), c) || strings.Contains(string(u.MultiFactor), strings.ReplaceAll(c, "-", "")) {
			t.Fatalf("recovery code %s stored in plaintext", c)
		}
	}
	_, tf := f.mustTwoFactorRequired()
	f.mustTwoFactorLogin(tf.id, rc.RecoveryCodes[0], false)
}

// sealedBy returns the id of the KEK that sealed the user's authenticator
// secret, read from the store row.
func (f *mfaFixture) sealedBy() string {
	f.t.Helper()
	u, err := f.idp.Store.GetUser(context.Background(), f.userID)
	if err != nil {
		f.t.Fatal(err)
	}
	var m struct {
		Authenticator struct {
			SealedSecret []byte `json:"sealedSecret"`
		} `json:"authenticator"`
	}
	if err := json.Unmarshal(u.MultiFactor, &m); err != nil {
		f.t.Fatal(err)
	}
	b := m.Authenticator.SealedSecret
	if len(b) < 7 || string(b[:5]) != "GHKEK" || len(b) < 7+int(b[6]) {
		f.t.Fatalf("not a sealed secret: %q", b)
	}
	return string(b[7 : 7+int(b[6])])
}

// TestMFA8_KEKRotationResealsSecrets: `gatehouse key rewrap`
// (RewrapSigningKeys) re-seals the authenticator secrets with the new
// key-encryption key too, so a server with only the new KEK still checks
// codes; a code used with the old KEK still configured re-seals on use.
func TestMFA8_KEKRotationResealsSecrets(t *testing.T) {
	oldKEK, _, _ := idp.GenerateKEK()
	newKEK, _, _ := idp.GenerateKEK()
	f := newMFAFixture(t, idp.Config{KEKs: []*idp.KEK{oldKEK}})
	if f.sealedBy() != oldKEK.ID() {
		t.Fatalf("sealed by %s, want the old KEK %s", f.sealedBy(), oldKEK.ID())
	}
	n, err := idp.RewrapSigningKeys(context.Background(), idp.SigningKeysConfig{Store: f.idp.Store, KEKs: []*idp.KEK{newKEK, oldKEK}})
	if err != nil || n < 2 {
		t.Fatalf("rewrap: %d %v (want the signing key and the secret)", n, err)
	}
	if f.sealedBy() != newKEK.ID() {
		t.Fatalf("after rewrap sealed by %s, want the new KEK %s", f.sealedBy(), newKEK.ID())
	}
	// A server that has only the new KEK checks the code.
	srv, err := idp.New(context.Background(), idp.Config{Store: f.idp.Store, Issuer: f.idp.URL, KEKs: []*idp.KEK{newKEK},
		Now: f.clock.Now, Logger: slog.New(slog.DiscardHandler), Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	f.idp.URL = hs.URL // the fixture's calls go to the new server
	f.nextStep()
	_, tf := f.mustTwoFactorRequired()
	f.mustTwoFactorLogin(tf.id, f.code(), false)

	// Lazy re-seal: a use under [new, old] moves a secret the old KEK sealed.
	g := newMFAFixture(t, idp.Config{KEKs: []*idp.KEK{oldKEK}})
	srv2, err := idp.New(context.Background(), idp.Config{Store: g.idp.Store, Issuer: g.idp.URL, KEKs: []*idp.KEK{newKEK, oldKEK},
		Now: g.clock.Now, Logger: slog.New(slog.DiscardHandler), Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
	if err != nil {
		t.Fatal(err)
	}
	hs2 := httptest.NewServer(srv2.Handler())
	defer hs2.Close()
	g.idp.URL = hs2.URL
	g.nextStep()
	_, tf = g.mustTwoFactorRequired()
	g.mustTwoFactorLogin(tf.id, g.code(), false)
	if g.sealedBy() != newKEK.ID() {
		t.Fatalf("after a use sealed by %s, want the new KEK", g.sealedBy())
	}
}

// TestMFA4_DisableWithTheCurrentPassword (GH): an application's scoped key
// may disable with the user's current password in the JSON body, checked
// like a login (a wrong one is 400 [invalid]currentPassword and counts as
// a failed login); in the query it is ignored.
func TestMFA4_DisableWithTheCurrentPassword(t *testing.T) {
	f := newMFAFixture(t)
	key, _, err := f.idp.Server.Admin().CreateScopedAPIKey(context.Background(), "app",
		store.APIKeyPermissions{Endpoints: map[string][]string{"/api/user/two-factor": {"DELETE"}}})
	if err != nil {
		t.Fatal(err)
	}
	del := func(query, body string) *response {
		req, _ := http.NewRequest(http.MethodDelete, f.idp.URL+"/api/user/two-factor/"+f.userID+query, strings.NewReader(body))
		req.Header.Set("Authorization", key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		return f.do(req)
	}
	if r := del("?currentPassword="+url.QueryEscape(testPassword), ""); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[blank]code") {
		t.Fatalf("password in the query: %d %s, want 400 [blank]code", r.status, r.body)
	}
	if r := del("", `{"currentPassword":"not the password at all"}`); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "[invalid]currentPassword") {
		t.Fatalf("wrong password: %d %s", r.status, r.body)
	}
	af, err := f.idp.Store.GetLoginFailures(context.Background(), f.userID, "")
	if err != nil || af.Count == 0 {
		t.Fatalf("a wrong password did not count as a failed login: %+v %v", af, err)
	}
	f.mustTwoFactorRequired()
	if r := del("", fmt.Sprintf(`{"methodId":%q,"currentPassword":%q}`, f.methodID, testPassword)); r.status != http.StatusOK {
		t.Fatalf("disable with the password: %d %s", r.status, r.body)
	}
	if r, _ := f.login(); r.status != http.StatusOK {
		t.Fatalf("password login after disable: %d %s", r.status, r.body)
	}
}
