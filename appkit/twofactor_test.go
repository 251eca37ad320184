package appkit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"
)

// mfaWorld is a real IdP and one app sharing a fake clock (the IdP takes
// a TOTP code once per 30 s step: the tests move to the next step instead
// of waiting), behind a proxy that records the IdP's answers so the tests
// know the twoFactorIds the app saw.
type mfaWorld struct {
	*world
	clk    *fakeclock.Clock
	a      *app
	mu     sync.Mutex
	bodies []string // answers of the token endpoint
}

func newMFAWorld(t *testing.T, kitMod func(*appkit.Config)) *mfaWorld {
	t.Helper()
	clk := fakeclock.New(time.Now())
	i := idptest.StartConfig(t, idp.Config{Now: clk.Now})
	ctx := context.Background()
	appReg, secret, err := i.Server.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "store", Config: store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true,
		Roles: []string{"user"}}})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := i.Server.Admin().CreateScopedAPIKey(ctx, "store app", store.APIKeyPermissions{Endpoints: idpclient.APIKeyPermissions()})
	if err != nil {
		t.Fatal(err)
	}
	m := &mfaWorld{world: &world{idp: i, clientID: appReg.ID, secret: secret, email: "shopper@example.com"}, clk: clk}
	m.userID = i.CreateUser(t, m.email, testPassword, appReg.ID)
	target, _ := url.Parse(i.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ModifyResponse = func(r *http.Response) error {
		if r.Request.URL.Path != "/oauth2/token" {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		m.mu.Lock()
		m.bodies = append(m.bodies, string(b))
		m.mu.Unlock()
		return nil
	}
	proxy := httptest.NewServer(rp)
	t.Cleanup(proxy.Close)
	m.a = newApp(t, m.world, appOpt{apiKeyValue: key, clock: clk, clientNow: clk.Now, idpURL: proxy.URL, kitMod: kitMod})
	return m
}

var twoFactorIDRe = regexp.MustCompile(`"two_factor_id":"([^"]+)"`)

// twoFactorIDs are the twoFactorIds the IdP handed the app so far.
func (m *mfaWorld) twoFactorIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, b := range m.bodies {
		if s := twoFactorIDRe.FindStringSubmatch(b); s != nil {
			ids = append(ids, s[1])
		}
	}
	return ids
}

// code is the authenticator's code for secret now; the clock then moves
// to the next 30 s step, so the next code is a fresh one.
func (m *mfaWorld) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, m.clk.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	m.clk.Advance(30 * time.Second)
	return c
}

func wrongCode(c string) string {
	if c == "000000" {
		return "111111"
	}
	return "000000"
}

var (
	secretRe   = regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`)
	recoveryRe = regexp.MustCompile(`<li><code>([^<]+)</code></li>`)
)

// enrol turns the authenticator on through the account page of a signed-in
// browser and returns the secret and the recovery codes the page showed.
func (m *mfaWorld) enrol(t *testing.T, b *browser) (string, []string) {
	t.Helper()
	if r := b.post("/account/two-factor/setup", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	page := b.get("/account")
	s := secretRe.FindStringSubmatch(page.body)
	if s == nil || !strings.Contains(page.body, "<svg") || strings.Contains(page.body, "data:") || strings.Contains(page.body, "style=") ||
		strings.Contains(page.body, "<script") {
		t.Fatalf("account page shows no QR code and secret: %s", page.body)
	}
	secret := strings.ReplaceAll(s[1], " ", "")
	if strings.Contains(page.body, `name="secret"`) || strings.Contains(page.body, `value="`+secret) {
		t.Fatal("the pending secret is in a form field")
	}
	if r := b.post("/account/two-factor/enable", url.Values{"code": {wrongCode(m.code(t, secret))}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, appkit.MsgInvalidCode) {
		t.Fatalf("enable with a wrong code: %d %s", r.status, r.body)
	}
	r := b.post("/account/two-factor/enable", url.Values{"code": {m.code(t, secret)}})
	var codes []string
	for _, c := range recoveryRe.FindAllStringSubmatch(r.body, -1) {
		codes = append(codes, c[1])
	}
	if r.status != http.StatusOK || len(codes) != 10 {
		t.Fatalf("enable: %d, %d recovery codes: %s", r.status, len(codes), r.body)
	}
	if again := b.get("/account"); strings.Contains(again.body, codes[0]) || !strings.Contains(again.body, "10</span> recovery codes left") {
		t.Fatalf("the account page after enabling: %s", again.body)
	}
	return secret, codes
}

// startLogin posts the password of an MFA user: the second step.
func startLogin(t *testing.T, b *browser, next string) *response {
	t.Helper()
	r := b.post("/login", url.Values{"email": {b.a.w.email}, "password": {testPassword}, "next": {next}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="code"`) || !strings.Contains(r.body, `action="/login/two-factor"`) {
		t.Fatalf("password of an MFA user: %d %s", r.status, r.body)
	}
	return r
}

// TestAPPMFA1_SecondStepSignsInLikeAPassword: the password of a user with
// an authenticator answers the code form (200) and sets only the short
// step cookie; the code then signs in with exactly the cookies of a
// password-only login, the session says "password and authenticator app",
// and a silent refresh keeps it.
func TestAPPMFA1_SecondStepSignsInLikeAPassword(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	plain := a.browser()
	plainLogin := plain.login("/shopping-cart")
	if acc := plain.get("/account"); !strings.Contains(acc.body, "Signed in with password.") {
		t.Fatalf("password-only account page: %s", acc.body)
	}
	secret, _ := m.enrol(t, plain)

	b := a.browser()
	r := startLogin(t, b, "/shopping-cart")
	step := r.cookies[a.kit.SecondStepCookieName()]
	if step == nil || !step.HttpOnly || step.MaxAge <= 0 || step.MaxAge > 300 || !step.Secure || step.SameSite != http.SameSiteStrictMode {
		t.Fatalf("step cookie %+v", step)
	}
	if r.cookies[a.kit.SessionCookieName()] != nil || r.cookies[a.kit.RefreshCookieName()] != nil {
		t.Fatal("the password alone set session cookies")
	}
	if b.get("/shopping-cart").status == http.StatusOK {
		t.Fatal("signed in before the second step")
	}
	done := b.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}})
	if done.status != http.StatusSeeOther || done.location() != "/shopping-cart" {
		t.Fatalf("code: %d %q %s", done.status, done.location(), a.logs.String())
	}
	for _, name := range []string{a.kit.SessionCookieName(), a.kit.RefreshCookieName(), a.kit.DeviceCookieName()} {
		got, want := done.cookies[name], plainLogin.cookies[name]
		if got == nil || want == nil || got.HttpOnly != want.HttpOnly || got.Secure != want.Secure ||
			got.SameSite != want.SameSite || got.Path != want.Path || got.MaxAge != want.MaxAge {
			t.Fatalf("cookie %s after the second step %+v, after a password login %+v", name, got, want)
		}
	}
	if c := done.cookies[a.kit.SecondStepCookieName()]; c == nil || c.MaxAge >= 0 {
		t.Fatalf("step cookie not cleared: %+v", c)
	}
	// Replayed at once (the record's own lifetime not over), the used
	// step's cookie finds nothing: the kit ended the record itself, so the
	// page does not name the account the step was for.
	early := a.browser()
	early.cookies[a.kit.SecondStepCookieName()] = step.Value
	if r := early.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}}); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.body, appkit.MsgSecondStepExpired) || early.sid() != "" || strings.Contains(r.body, m.email) {
		t.Fatalf("step replayed at once: %d %s", r.status, r.body)
	}
	if acc := b.get("/account"); !strings.Contains(acc.body, "Signed in with password and authenticator app.") {
		t.Fatalf("account page: %s", acc.body)
	}
	// A silent refresh after the access token's lifetime keeps the amr.
	m.clk.Advance(16 * time.Minute)
	oldRT := b.rt()
	if r := b.get("/account"); r.status != http.StatusOK || !strings.Contains(r.body, "Signed in with password and authenticator app.") {
		t.Fatalf("after a refresh: %d %s", r.status, r.body)
	}
	if b.rt() == oldRT {
		t.Fatal("no silent refresh happened")
	}
	// The step is single-use: replaying its cookie shows the login form.
	replay := a.browser()
	replay.cookies[a.kit.SecondStepCookieName()] = step.Value
	if r := replay.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}}); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.body, appkit.MsgSecondStepExpired) || replay.sid() != "" {
		t.Fatalf("replayed step: %d %s", r.status, r.body)
	}
}

// TestAPPMFA2_TwoFactorIDStaysOnTheServer: the twoFactorId the IdP
// answered appears in no page, header or cookie the browser gets, and the
// step cannot be completed without the step cookie.
func TestAPPMFA2_TwoFactorIDStaysOnTheServer(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	secret, _ := m.enrol(t, a.browser().loginB())
	b := a.browser()
	r := startLogin(t, b, "")
	wrong := b.post("/login/two-factor", url.Values{"code": {wrongCode(m.code(t, secret))}})
	ids := m.twoFactorIDs()
	if len(ids) != 1 {
		t.Fatalf("twoFactorIds seen: %d", len(ids))
	}
	for _, resp := range []*response{r, wrong} {
		if strings.Contains(resp.body, ids[0]) || strings.Contains(headerText(resp.header), ids[0]) {
			t.Fatal("the twoFactorId reached the browser")
		}
	}
	for _, v := range b.cookies {
		if strings.Contains(v, ids[0]) {
			t.Fatal("the twoFactorId is in a cookie")
		}
	}
	if logs := a.logs.String(); strings.Contains(logs, ids[0]) || strings.Contains(logs, secret) {
		t.Fatal("the twoFactorId or the secret is in the app's logs")
	}
	// Without the step cookie the code leads back to the login form.
	noCookie := a.browser()
	if r := noCookie.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}}); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.body, appkit.MsgSecondStepExpired) {
		t.Fatalf("code without the step cookie: %d", r.status)
	}
	// Cross-origin posts are refused; oversized forms too.
	if r := b.do(http.MethodPost, "/login/two-factor", url.Values{"code": {"123456"}},
		http.Header{"Sec-Fetch-Site": {"cross-site"}}); r.status != http.StatusForbidden {
		t.Fatalf("cross-origin second step: %d", r.status)
	}
	if r := b.post("/login/two-factor", url.Values{"code": {strings.Repeat("1", 20<<10)}}); r.status != http.StatusBadRequest {
		t.Fatalf("oversized second step: %d", r.status)
	}
}

func headerText(h http.Header) string {
	var sb strings.Builder
	for k, v := range h {
		sb.WriteString(k + ": " + strings.Join(v, ",") + "\n")
	}
	return sb.String()
}

// loginB signs the browser in with the password (no second factor yet).
func (b *browser) loginB() *browser {
	b.login("")
	return b
}

// TestAPPMFA2_WrongCodeGenericError: a wrong code re-renders the step
// (401) with one generic message and the step goes on; five wrong codes
// end it and the login form says so; an expired step too.
func TestAPPMFA2_WrongCodeGenericError(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	secret, _ := m.enrol(t, a.browser().loginB())
	b := a.browser()
	startLogin(t, b, "")
	for _, c := range []string{wrongCode(m.code(t, secret)), "not-a-code"} {
		r := b.post("/login/two-factor", url.Values{"code": {c}})
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, appkit.MsgInvalidCode) || !strings.Contains(r.body, `name="code"`) {
			t.Fatalf("wrong code %q: %d %s", c, r.status, r.body)
		}
	}
	if r := b.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("right code after wrong ones: %d", r.status)
	}

	// Five wrong codes end the step.
	c := a.browser()
	startLogin(t, c, "")
	for range 5 {
		c.post("/login/two-factor", url.Values{"code": {wrongCode(m.code(t, secret))}})
	}
	r := c.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, appkit.MsgSecondStepExpired) || c.sid() != "" {
		t.Fatalf("after five wrong codes: %d %s", r.status, r.body)
	}

	// A step cookie with no record (forged, or the record gone from the
	// store) is no step: the login form, not an error page.
	f := a.browser()
	f.cookies[a.kit.SecondStepCookieName()] = strings.Repeat("A", 43)
	if r := f.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}}); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.body, appkit.MsgSecondStepExpired) || f.sid() != "" {
		t.Fatalf("step cookie without a record: %d %s", r.status, r.body)
	}

	// A step older than five minutes is gone.
	d := a.browser()
	startLogin(t, d, "")
	m.clk.Advance(appkit.SecondStepLifetime + time.Second)
	r = d.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, appkit.MsgSecondStepExpired) || d.sid() != "" {
		t.Fatalf("expired step: %d %s", r.status, r.body)
	}
}

// TestAPPMFA4_RecoveryCodeWorksOnce: a recovery code completes the step
// once; the same code in a later login is refused; the account page
// counts what is left.
func TestAPPMFA4_RecoveryCodeWorksOnce(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	owner := a.browser().loginB()
	_, codes := m.enrol(t, owner)
	b := a.browser()
	startLogin(t, b, "")
	if r := b.post("/login/two-factor", url.Values{"code": {codes[0]}}); r.status != http.StatusSeeOther {
		t.Fatalf("recovery code: %d %s", r.status, r.body)
	}
	c := a.browser()
	startLogin(t, c, "")
	if r := c.post("/login/two-factor", url.Values{"code": {codes[0]}}); r.status != http.StatusUnauthorized ||
		!strings.Contains(r.body, appkit.MsgInvalidCode) {
		t.Fatalf("used recovery code: %d", r.status)
	}
	if acc := b.get("/account"); !strings.Contains(acc.body, "9</span> recovery codes left") {
		t.Fatalf("account page after a recovery code: %s", acc.body)
	}
}

// TestAPPMFA3_TrustThisBrowser: "trust" puts the twoFactorTrustId, sealed,
// in its own 30-day HttpOnly cookie; the next password login of that
// browser skips the step; sign-out everywhere clears the cookie and the
// IdP no longer honours the old value.
func TestAPPMFA3_TrustThisBrowser(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	secret, _ := m.enrol(t, a.browser().loginB())
	b := a.browser()
	startLogin(t, b, "")
	r := b.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}, "trust": {"yes"}})
	tc := r.cookies[a.kit.TrustCookieName()]
	if r.status != http.StatusSeeOther || tc == nil || !tc.HttpOnly || !tc.Secure || tc.MaxAge != 30*24*3600 {
		t.Fatalf("trust: %d cookie %+v", r.status, tc)
	}
	if len(tc.Value) < 60 {
		t.Fatalf("trust cookie is not sealed: %q", tc.Value)
	}
	// Logout keeps the trust; the next login skips the step.
	b.post("/logout", url.Values{})
	if r := b.post("/login", url.Values{"email": {m.email}, "password": {testPassword}}); r.status != http.StatusSeeOther {
		t.Fatalf("login of a trusted browser: %d %s", r.status, r.body)
	}
	// Another browser is not trusted.
	startLogin(t, a.browser(), "")
	// A forged or foreign trust cookie is ignored.
	f := a.browser()
	f.cookies[a.kit.TrustCookieName()] = strings.Repeat("A", len(tc.Value))
	startLogin(t, f, "")

	kept := b.clone()
	if r := b.post("/sessions", url.Values{"action": {"end-all"}}); r.status != http.StatusSeeOther {
		t.Fatalf("sign out everywhere: %d", r.status)
	}
	if _, ok := b.cookies[a.kit.TrustCookieName()]; ok {
		t.Fatal("sign-out everywhere left the trust cookie")
	}
	startLogin(t, b, "")
	// The IdP forgot the trust id too: the old cookie value is worthless.
	delete(kept.cookies, a.kit.SessionCookieName())
	delete(kept.cookies, a.kit.RefreshCookieName())
	startLogin(t, kept, "")
}

// TestAPPMFA5_PasswordChangeAsksTheSecondStep: changing the password
// (which ends every session and trust) signs this browser in again through
// the second step, and the code lands on the account page.
func TestAPPMFA5_PasswordChangeAsksTheSecondStep(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	b := a.browser().loginB()
	secret, _ := m.enrol(t, b)
	newPW := "another-long-password-9c1e-battery"
	r := b.post("/account/password", url.Values{"current_password": {testPassword}, "password": {newPW}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="code"`) {
		t.Fatalf("password change of an MFA user: %d %s", r.status, r.body)
	}
	if b.sid() != "" {
		t.Fatal("the old session survived the password change")
	}
	r = b.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}})
	if r.status != http.StatusSeeOther || r.location() != "/account?done=password" || b.sid() == "" {
		t.Fatalf("code after the password change: %d %q", r.status, r.location())
	}
}

// TestAPPMFA5_PasswordResetAsksTheSecondStep: a reset link sets the
// password, and signing the browser in afterwards goes through the second
// step (the reset does not bypass the authenticator).
func TestAPPMFA5_PasswordResetAsksTheSecondStep(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	secret, _ := m.enrol(t, a.browser().loginB())
	req, _ := http.NewRequest(http.MethodPost, m.idp.URL+"/api/user/forgot-password", strings.NewReader(
		`{"loginId":"`+m.email+`","applicationId":"`+m.clientID+`","sendForgotPasswordEmail":false}`))
	req.Header.Set("Authorization", m.idp.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	id := regexp.MustCompile(`"changePasswordId":"([^"]+)"`).FindStringSubmatch(string(body))
	if resp.StatusCode != 200 || id == nil {
		t.Fatalf("forgot password: %d %s", resp.StatusCode, body)
	}
	b := a.browser()
	r := b.post("/reset-password", url.Values{"id": {id[1]}, "password": {"another-long-password-9c1e-battery"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="code"`) || b.sid() != "" {
		t.Fatalf("reset of an MFA user: %d %s", r.status, r.body)
	}
	r = b.post("/login/two-factor", url.Values{"code": {m.code(t, secret)}})
	if r.status != http.StatusSeeOther || r.location() != "/account?done=reset" || b.sid() == "" {
		t.Fatalf("code after the reset: %d %q", r.status, r.location())
	}
}

// TestAPPMFA6_AccountPageTurnsItOff: regenerating shows ten new codes
// once; turning off needs a right code or recovery code (a wrong one
// changes nothing); afterwards the password alone signs in.
func TestAPPMFA6_AccountPageTurnsItOff(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	b := a.browser().loginB()
	secret, old := m.enrol(t, b)
	// The confirmation posted again (a reload) leads to the account page.
	if r := b.post("/account/two-factor/enable", url.Values{"code": {"123456"}}); r.status != http.StatusSeeOther || r.location() != "/account#two-factor" {
		t.Fatalf("enable again: %d %q", r.status, r.location())
	}
	r := b.post("/account/two-factor/recovery-codes", url.Values{})
	fresh := recoveryRe.FindAllStringSubmatch(r.body, -1)
	if r.status != http.StatusOK || len(fresh) != 10 || fresh[0][1] == old[0] {
		t.Fatalf("regenerate: %d %d", r.status, len(fresh))
	}
	if r := b.post("/account/two-factor/disable", url.Values{"code": {wrongCode(m.code(t, secret))}}); r.status != http.StatusForbidden ||
		!strings.Contains(r.body, appkit.MsgInvalidCode) {
		t.Fatalf("disable with a wrong code: %d", r.status)
	}
	if r := b.post("/account/two-factor/disable", url.Values{"code": {old[1]}}); r.status != http.StatusForbidden {
		t.Fatalf("disable with a replaced recovery code: %d", r.status)
	}
	startLogin(t, a.browser(), "")
	if r := b.post("/account/two-factor/disable", url.Values{"code": {m.code(t, secret)}}); r.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if !a.canLogin(m.email, testPassword) {
		t.Fatal("password-only login after turning the authenticator off")
	}
	if r := a.browser().post("/account/two-factor/setup", url.Values{}); r.status == http.StatusSeeOther && r.location() == "/account#two-factor" {
		t.Fatal("setup without a session")
	}
}

// TestAPPMFA6_QRCodeIsTheOTPAuthURI: the otpauth:// URI names the app and
// the account and carries the secret (as authenticator apps read it), and
// the SVG's dark squares are exactly the QR code's modules of that URI,
// inside a four-module quiet zone, with no style attribute or script.
func TestAPPMFA6_QRCodeIsTheOTPAuthURI(t *testing.T) {
	uri := appkit.OTPAuthURI("Gatehouse Store", "ann+shop@example.com", "JBSWY3DPEHPK3PXP")
	k, err := otp.NewKeyFromURL(uri)
	if err != nil || k.Issuer() != "Gatehouse Store" || k.AccountName() != "ann+shop@example.com" || k.Secret() != "JBSWY3DPEHPK3PXP" ||
		k.Period() != 30 || k.Type() != "totp" {
		t.Fatalf("otpauth URI %q: %v", uri, err)
	}
	svg, err := appkit.QRCodeSVG(uri)
	if err != nil {
		t.Fatal(err)
	}
	s := string(svg)
	if strings.Contains(s, "style") || strings.Contains(s, "script") || strings.Contains(s, "ann") || !strings.HasPrefix(s, "<svg ") {
		t.Fatalf("SVG: %s", s)
	}
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	n := code.Bounds().Dx()
	dark := map[[2]int]bool{}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(s, -1) {
		var x, y, w int
		fmt.Sscan(m[1], &x)
		fmt.Sscan(m[2], &y)
		fmt.Sscan(m[3], &w)
		for i := range w {
			dark[[2]int{x + i - 4, y - 4}] = true
		}
	}
	for y := range n {
		for x := range n {
			r, _, _, _ := code.At(x, y).RGBA()
			if (r == 0) != dark[[2]int{x, y}] {
				t.Fatalf("module %d,%d differs", x, y)
			}
			delete(dark, [2]int{x, y})
		}
	}
	if len(dark) != 0 {
		t.Fatalf("%d dark squares outside the code", len(dark))
	}
}

// TestAPPMFA1_SignedInWithNamesTheAMR: the account page's sentence for
// each amr the Gatehouse IdP issues.
func TestAPPMFA1_SignedInWithNamesTheAMR(t *testing.T) {
	for _, c := range []struct {
		amr  []string
		want string
		mfa  bool
	}{
		{nil, "", false},
		{[]string{"pwd"}, "password", false},
		{[]string{"pwd", "otp", "mfa"}, "password and authenticator app", true},
		{[]string{"hwk", "user", "mfa"}, "passkey", true},
		{[]string{"swk", "mfa"}, "passkey", true},
	} {
		u := &appkit.UserInfo{AMR: c.amr}
		if got := u.SignedInWith(); got != c.want || u.MultiFactor() != c.mfa {
			t.Errorf("amr %v: %q (mfa %v), want %q (%v)", c.amr, got, u.MultiFactor(), c.want, c.mfa)
		}
	}
}

// TestAPPMFA6_TurnOffWithThePassword: with neither a code nor the
// password nothing happens (400); a wrong current password is refused
// (403) and changes nothing; the right one turns the authenticator off.
func TestAPPMFA6_TurnOffWithThePassword(t *testing.T) {
	m := newMFAWorld(t, nil)
	a := m.a
	b := a.browser().loginB()
	m.enrol(t, b)
	if r := b.post("/account/two-factor/disable", url.Values{}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, appkit.MsgDisableNeedsProof) {
		t.Fatalf("disable with nothing: %d", r.status)
	}
	if r := b.post("/account/two-factor/disable", url.Values{"current_password": {"not the password at all"}}); r.status != http.StatusForbidden ||
		!strings.Contains(r.body, appkit.MsgCurrentPasswordWrong) {
		t.Fatalf("disable with a wrong password: %d %s", r.status, r.body)
	}
	startLogin(t, a.browser(), "")
	if r := b.post("/account/two-factor/disable", url.Values{"current_password": {testPassword}}); r.status != http.StatusSeeOther {
		t.Fatalf("disable with the password: %d %s", r.status, r.body)
	}
	if !a.canLogin(m.email, testPassword) {
		t.Fatal("password-only login after turning the authenticator off")
	}
}
