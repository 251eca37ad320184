package appkit_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// outbox records the mails the IdP queues (the SMTP path itself is tested
// in idp/mail and e2e; here only the links matter).
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (o *outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return nil
}

// find returns the mails to addr with template tmpl, oldest first.
func (o *outbox) find(to, tmpl string) []mail.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []mail.Message
	for _, m := range o.msgs {
		if strings.EqualFold(m.To, to) && m.Template == tmpl {
			out = append(out, m)
		}
	}
	return out
}

// link returns the path and query of the last mail to addr with tmpl.
func (o *outbox) link(t *testing.T, to, tmpl string) string {
	t.Helper()
	ms := o.find(to, tmpl)
	if len(ms) == 0 {
		t.Fatalf("no %s mail to %s", tmpl, to)
	}
	u, err := url.Parse(ms[len(ms)-1].Data.Link)
	if err != nil || u.Query().Get("id") == "" {
		t.Fatalf("%s mail link %q", tmpl, ms[len(ms)-1].Data.Link)
	}
	return u.RequestURI()
}

// newAccountWorld is a real IdP with a mail outbox and one app with a base
// URL (so the IdP sends mail), a verified user, and the app's scoped API
// key (exactly idpclient.APIKeyPermissions, AUD-13).
func newAccountWorld(t *testing.T) (*world, *outbox, string) {
	t.Helper()
	box := &outbox{}
	i := idptest.StartConfig(t, idp.Config{Mailer: box})
	ctx := context.Background()
	app, secret, err := i.Server.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "store", Config: store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true,
		Roles: []string{"user", "admin"}, BaseURL: "https://store.example"}})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := i.Server.Admin().CreateScopedAPIKey(ctx, "store app", store.APIKeyPermissions{Endpoints: idpclient.APIKeyPermissions()})
	if err != nil {
		t.Fatalf("scoped key: %v", err)
	}
	w := &world{idp: i, clientID: app.ID, secret: secret, email: "shopper@example.com"}
	w.userID = i.CreateUser(t, w.email, testPassword, app.ID)
	return w, box, key
}

func newAccountApp(t *testing.T, w *world, key string) *app {
	return newApp(t, w, appOpt{apiKeyValue: key})
}

// userOf reads the account at the IdP.
func (w *world) user(t *testing.T, email string) *store.User {
	t.Helper()
	u, err := w.idp.Store.GetUserByLogin(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

// canLogin reports whether email and pw sign in (a fresh browser).
func (a *app) canLogin(email, pw string) bool {
	a.t.Helper()
	return a.browser().post("/login", url.Values{"email": {email}, "password": {pw}}).status == http.StatusSeeOther
}

// TestAPPACC1_SignupDoesNotEnumerate: sign-up of a taken address answers
// with the same status and page as a new one (the IdP mails the owner),
// signs nobody in and changes nothing; a new address gets an account, a
// verification mail and a signed-in browser whose user is unverified.
func TestAPPACC1_SignupDoesNotEnumerate(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)

	if r := a.browser().get("/signup?next=/shopping-cart"); r.status != 200 || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("GET /signup: %d", r.status)
	}
	fresh := a.browser()
	newAddr := "new.customer@example.com"
	rNew := fresh.post("/signup", url.Values{"email": {newAddr}, "password": {"a fresh long passphrase for me"}, "next": {"/shopping-cart"}})
	taken := a.browser()
	rTaken := taken.post("/signup", url.Values{"email": {w.email}, "password": {"another long passphrase here"}, "next": {"/shopping-cart"}})
	if rNew.status != http.StatusOK || rTaken.status != rNew.status {
		t.Fatalf("status new %d, taken %d", rNew.status, rTaken.status)
	}
	if strings.ReplaceAll(rNew.body, newAddr, "X") != strings.ReplaceAll(rTaken.body, w.email, "X") {
		t.Fatalf("pages differ:\n%s\n---\n%s", rNew.body, rTaken.body)
	}
	if r := a.browser().post("/signup", url.Values{"email": {"with.next@example.com"}, "password": {"a fresh long passphrase for me"}, "next": {"/orders"}}); !strings.Contains(r.body, `href="/orders"`) {
		t.Errorf("the done page does not continue to next: %d", r.status)
	}
	if r := a.browser().post("/signup", url.Values{"email": {"no.next@example.com"}, "password": {"a fresh long passphrase for me"}}); !strings.Contains(r.body, `href="/shopping-cart"`) {
		t.Errorf("without next the done page does not continue home: %d", r.status)
	}
	if taken.sid() != "" {
		t.Error("sign-up of a taken address signed the browser in")
	}
	if !a.canLogin(w.email, testPassword) || a.canLogin(w.email, "another long passphrase here") {
		t.Error("sign-up of a taken address changed its password")
	}
	if len(box.find(w.email, mail.TemplateSignupExisting)) != 1 {
		t.Error("the owner of the taken address was not told")
	}
	// The new account: created unverified, mailed, signed in.
	if u := w.user(t, newAddr); u.Verified {
		t.Error("new account is verified before the link")
	}
	box.link(t, newAddr, mail.TemplateVerifyEmail)
	if fresh.sid() == "" || fresh.rt() == "" {
		t.Fatal("new account not signed in")
	}
	if r := fresh.get("/shopping-cart"); r.status != 200 || !strings.Contains(r.body, newAddr) {
		t.Fatalf("cart after sign-up: %d %q", r.status, r.body)
	}
}

// TestAPPACC2_SignupPolicyErrors: weak, breached and context passwords
// re-render the form (400) with a clear sentence next to the field, for a
// new and a taken address alike, and create nothing.
func TestAPPACC2_SignupPolicyErrors(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	for _, tt := range []struct{ pw, want string }{
		{"short", appkit.MsgPasswordTooShort},
		{"passwordpassword", appkit.MsgPasswordBreached},
		{"newbie@example.com and more", appkit.MsgPasswordContext},
	} {
		for _, email := range []string{"newbie@example.com", w.email} {
			pw := strings.ReplaceAll(tt.pw, "newbie@example.com", email)
			r := a.browser().post("/signup", url.Values{"email": {email}, "password": {pw}})
			if r.status != http.StatusBadRequest || !strings.Contains(r.body, htmlEscape(tt.want)) {
				t.Errorf("%s / %q: %d, want 400 with %q\n%s", email, pw, r.status, tt.want, r.body)
			}
		}
	}
	if _, err := w.idp.Store.GetUserByLogin(context.Background(), "newbie@example.com"); err == nil {
		t.Error("a refused sign-up created the account")
	}
	big := url.Values{"email": {"big@example.com"}, "password": {strings.Repeat("x", 20<<10)}}
	if r := a.browser().post("/signup", big); r.status != http.StatusBadRequest {
		t.Errorf("oversized form: %d", r.status)
	}
	if r := a.browser().post("/signup", url.Values{"email": {"not an address"}, "password": {"a fresh long passphrase"}}); r.status != 400 ||
		!strings.Contains(r.body, htmlEscape(appkit.MsgEmailInvalid)) {
		t.Errorf("malformed address: %d", r.status)
	}
}

func htmlEscape(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }

// TestAPPACC3_ForgotPasswordDoesNotEnumerate: the same status and page for
// a known and an unknown address; only the known one gets a mail.
func TestAPPACC3_ForgotPasswordDoesNotEnumerate(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	unknown := "nobody.here@example.com"
	rKnown := a.browser().post("/forgot-password", url.Values{"email": {w.email}})
	rUnknown := a.browser().post("/forgot-password", url.Values{"email": {unknown}})
	if rKnown.status != http.StatusOK || rUnknown.status != rKnown.status ||
		strings.ReplaceAll(rKnown.body, w.email, "X") != strings.ReplaceAll(rUnknown.body, unknown, "X") {
		t.Fatalf("known %d, unknown %d:\n%s\n---\n%s", rKnown.status, rUnknown.status, rKnown.body, rUnknown.body)
	}
	box.link(t, w.email, mail.TemplatePasswordReset)
	if len(box.find(unknown, mail.TemplatePasswordReset)) != 0 {
		t.Error("mail to an unknown address")
	}
}

// TestAPPACC4_ResetPassword: GET of the link changes nothing; a weak
// password is a form error and the link still works; the reset signs this
// browser in and ends the user's other sessions (their refresh tokens are
// dead at the IdP); the link is single use; forged ids are refused.
func TestAPPACC4_ResetPassword(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	other := a.browser()
	other.login("/shopping-cart")
	otherRT := other.clone()

	a.browser().post("/forgot-password", url.Values{"email": {w.email}})
	link := box.link(t, w.email, mail.TemplatePasswordReset)
	id, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	b := a.browser()
	for range 3 { // mail scanners prefetch: nothing happens
		r := b.get(link)
		if r.status != 200 || !strings.Contains(r.body, `name="id"`) {
			t.Fatalf("GET reset link: %d %s", r.status, r.body)
		}
		// The id is in the URL: no Referer carries it, no cache keeps it.
		if r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("reset page headers: %v", r.header)
		}
	}
	if !a.canLogin(w.email, testPassword) {
		t.Fatal("GET of the link changed the password")
	}
	r := b.post("/reset-password", url.Values{"id": {id.Get("id")}, "password": {"short"}})
	if r.status != 400 || !strings.Contains(r.body, htmlEscape(appkit.MsgPasswordTooShort)) {
		t.Fatalf("weak password: %d", r.status)
	}
	const newPW = "a brand new passphrase after reset"
	r = b.post("/reset-password", url.Values{"id": {id.Get("id")}, "password": {newPW}})
	if r.status != http.StatusSeeOther || r.location() != "/account?done=reset" || b.sid() == "" {
		t.Fatalf("reset: %d %s", r.status, r.location())
	}
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("resetting browser not signed in: %d", r.status)
	}
	if a.canLogin(w.email, testPassword) || !a.canLogin(w.email, newPW) {
		t.Fatal("password not changed")
	}
	// The other browser: session gone, refresh token revoked.
	if r := other.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Errorf("other session survived the reset: %d", r.status)
	}
	delete(otherRT.cookies, a.kit.SessionCookieName())
	if r := otherRT.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Errorf("other browser's refresh token survived the reset: %d", r.status)
	}
	// Single use, and forged ids.
	for _, bad := range []string{id.Get("id"), "forged-" + id.Get("id")[7:], "", strings.Repeat("A", 500)} {
		if r := a.browser().post("/reset-password", url.Values{"id": {bad}, "password": {"yet another long passphrase"}}); r.status != http.StatusNotFound ||
			!strings.Contains(r.body, "expired") {
			t.Errorf("id %.12q: %d", bad, r.status)
		}
		if r := a.browser().get("/reset-password?id=" + url.QueryEscape(bad)); r.status != http.StatusNotFound {
			t.Errorf("GET id %.12q: %d", bad, r.status)
		}
	}
	if !a.canLogin(w.email, newPW) {
		t.Error("a refused reset changed the password")
	}
}

// TestAPPACC5_ChangePasswordNeedsCurrent (APP-LIFE-4): without the current
// password (400) or with a wrong one (403) nothing changes; with it the
// other sessions end, this browser stays signed in on a new refresh family
// and the old password stops working.
func TestAPPACC5_ChangePasswordNeedsCurrent(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	b, other := a.browser(), a.browser()
	b.login("/")
	other.login("/")
	const newPW = "my next long passphrase 2026"
	if r := b.post("/account/password", url.Values{"password": {newPW}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, appkit.MsgCurrentPasswordRequired) {
		t.Errorf("no current password: %d", r.status)
	}
	if r := b.post("/account/password", url.Values{"current_password": {"not my password at all"}, "password": {newPW}}); r.status != http.StatusForbidden ||
		!strings.Contains(r.body, appkit.MsgCurrentPasswordWrong) {
		t.Errorf("wrong current password: %d", r.status)
	}
	if r := b.post("/account/password", url.Values{"current_password": {testPassword}, "password": {"short"}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, htmlEscape(appkit.MsgPasswordTooShort)) {
		t.Errorf("weak new password: %d", r.status)
	}
	if !a.canLogin(w.email, testPassword) || a.canLogin(w.email, newPW) {
		t.Fatal("a refused change changed the password")
	}
	if len(a.sessions()) < 2 {
		t.Fatal("a refused change ended sessions")
	}
	oldRT := b.rt()
	r := b.post("/account/password", url.Values{"current_password": {testPassword}, "password": {newPW}})
	if r.status != http.StatusSeeOther || r.location() != "/account?done=password" {
		t.Fatalf("change: %d %s", r.status, r.location())
	}
	if b.rt() == oldRT || b.sid() == "" {
		t.Error("this browser was not signed in again")
	}
	if r := b.get("/account?done=password"); r.status != 200 || !strings.Contains(r.body, "Your password was changed") {
		t.Errorf("account page after change: %d", r.status)
	}
	if r := other.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Errorf("other session survived: %d", r.status)
	}
	if a.canLogin(w.email, testPassword) || !a.canLogin(w.email, newPW) {
		t.Error("password not changed")
	}
}

// TestAPPACC6_VerifyEmail: GET of the link changes nothing; POST verifies,
// and the signed-in session reports EmailVerified on the next request; a
// used link is refused.
func TestAPPACC6_VerifyEmail(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	b := a.browser()
	addr := "to.verify@example.com"
	b.post("/signup", url.Values{"email": {addr}, "password": {"verify me long passphrase"}})
	link := box.link(t, addr, mail.TemplateVerifyEmail)
	if r := b.get("/account"); r.status != 200 || !strings.Contains(r.body, "not confirmed") {
		t.Fatalf("account before: %d %s", r.status, r.body)
	} else if !strings.Contains(r.body, "Confirm your email address to set up an authenticator app") ||
		strings.Contains(r.body, `action="/account/two-factor/setup"`) {
		// ACC-13: an unconfirmed account is offered no second factor.
		t.Errorf("account before confirmation offers an authenticator setup: %s", r.body)
	}
	for range 2 {
		if r := b.get(link); r.status != 200 || !strings.Contains(r.body, `name="id"`) {
			t.Fatalf("GET verify link: %d", r.status)
		}
	}
	if w.user(t, addr).Verified {
		t.Fatal("GET verified the address")
	}
	id, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	if r := b.post("/verify-email", url.Values{"id": {id.Get("id")}}); r.status != 200 || !strings.Contains(r.body, "is confirmed") {
		t.Fatalf("POST verify: %d %s", r.status, r.body)
	}
	if !w.user(t, addr).Verified {
		t.Fatal("not verified")
	}
	if r := b.get("/account"); r.status != 200 || strings.Contains(r.body, "not confirmed") {
		t.Errorf("account after: %d", r.status)
	} else if !strings.Contains(r.body, `action="/account/two-factor/setup"`) {
		t.Errorf("account after confirmation offers no authenticator setup: %s", r.body)
	}
	// The session's token itself now says so (what apps read through User).
	list, err := a.store.ListByUser(context.Background(), w.user(t, addr).ID)
	if err != nil || len(list) != 1 || !strings.Contains(string(list[0].Claims), `"email_verified":true`) {
		t.Errorf("session after verification: %v %v", list, err)
	}
	if r := b.post("/verify-email", url.Values{"id": {id.Get("id")}}); r.status != http.StatusNotFound {
		t.Errorf("used link: %d", r.status)
	}
}

// TestAPPACC7_ChangeEmailNeedsCurrent (APP-LIFE-4): without or with a wrong
// current password nothing is mailed; with it the new address gets the
// confirmation link, and following it switches the account's address.
func TestAPPACC7_ChangeEmailNeedsCurrent(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	b := a.browser()
	b.login("/")
	newAddr := "moved@example.com"
	if r := b.post("/account/email", url.Values{"email": {newAddr}}); r.status != http.StatusBadRequest {
		t.Errorf("no current password: %d", r.status)
	}
	if r := b.post("/account/email", url.Values{"email": {newAddr}, "current_password": {"not my password at all"}}); r.status != http.StatusForbidden {
		t.Errorf("wrong current password: %d", r.status)
	}
	if len(box.find(newAddr, mail.TemplateEmailChangeVerify)) != 0 {
		t.Fatal("a refused change mailed the new address")
	}
	r := b.post("/account/email", url.Values{"email": {newAddr}, "current_password": {testPassword}})
	if r.status != http.StatusSeeOther || r.location() != "/account?done=email" {
		t.Fatalf("change email: %d %s", r.status, r.location())
	}
	if w.user(t, w.email).Email != w.email {
		t.Fatal("the address changed before it was confirmed")
	}
	link := box.link(t, newAddr, mail.TemplateEmailChangeVerify)
	id, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	if r := b.post("/verify-email", url.Values{"id": {id.Get("id")}}); r.status != 200 {
		t.Fatalf("confirm: %d", r.status)
	}
	if u := w.user(t, newAddr); u.ID != w.userID {
		t.Fatal("address not switched")
	}
	if len(box.find(w.email, mail.TemplateEmailChanged)) != 1 {
		t.Error("the old address was not told")
	}
	if r := b.get("/shopping-cart"); r.status != 200 || !strings.Contains(r.body, newAddr) {
		t.Errorf("session still shows the old address: %d %q", r.status, r.body)
	}
}

// TestAPPACC8_AccountFormsCrossOriginRefused: every account form's POST
// from another site is refused (403) before it reaches the IdP.
func TestAPPACC8_AccountFormsCrossOriginRefused(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	b := a.browser()
	b.login("/")
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	for path, form := range map[string]url.Values{
		"/signup":               {"email": {"csrf@example.com"}, "password": {"a fresh long passphrase"}},
		"/forgot-password":      {"email": {w.email}},
		"/reset-password":       {"id": {"x"}, "password": {"a fresh long passphrase"}},
		"/verify-email":         {"id": {"x"}},
		"/account/password":     {"current_password": {testPassword}, "password": {"a fresh long passphrase"}},
		"/account/email":        {"current_password": {testPassword}, "email": {"csrf@example.com"}},
		"/account/verify-email": {},
	} {
		if r := b.do(http.MethodPost, path, form, cross); r.status != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d", path, r.status)
		}
	}
	if _, err := w.idp.Store.GetUserByLogin(context.Background(), "csrf@example.com"); err == nil {
		t.Error("a cross-site sign-up created an account")
	}
	if len(box.find(w.email, mail.TemplatePasswordReset)) != 0 || !a.canLogin(w.email, testPassword) {
		t.Error("a cross-site POST reached the IdP")
	}
}

// TestAPPACC1_DisableSignupSignInAnswersIdentically: with
// DisableSignupSignIn a new and a taken address get the same status, page
// and cookies (none), so not even Set-Cookie tells them apart.
func TestAPPACC1_DisableSignupSignInAnswersIdentically(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newApp(t, w, appOpt{apiKeyValue: key, kitMod: func(c *appkit.Config) { c.DisableSignupSignIn = true }})
	newAddr := "quiet.newcomer@example.com"
	rNew := a.browser().post("/signup", url.Values{"email": {newAddr}, "password": {"a fresh long passphrase for me"}})
	rTaken := a.browser().post("/signup", url.Values{"email": {w.email}, "password": {"another long passphrase here"}})
	if rNew.status != 200 || rTaken.status != 200 || len(rNew.cookies) != 0 || len(rTaken.cookies) != 0 ||
		strings.ReplaceAll(rNew.body, newAddr, "X") != strings.ReplaceAll(rTaken.body, w.email, "X") {
		t.Fatalf("new %d %v, taken %d %v", rNew.status, rNew.cookies, rTaken.status, rTaken.cookies)
	}
	if _, err := w.idp.Store.GetUserByLogin(context.Background(), newAddr); err != nil {
		t.Fatalf("account not created: %v", err)
	}
	if !a.canLogin(newAddr, "a fresh long passphrase for me") {
		t.Error("the new account cannot sign in")
	}
}

// TestAPPACC2_AddressEchoBounded: a form refused for its address shows
// the typed address again (sign-up, email change), except one longer than
// an address can be, which is not echoed back.
func TestAPPACC2_AddressEchoBounded(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	long := strings.Repeat("l", 400) + "@example.com"
	for _, tt := range []struct {
		email string
		echo  bool
	}{{"not an address", true}, {long, false}} {
		r := a.browser().post("/signup", url.Values{"email": {tt.email}, "password": {"a fresh long passphrase"}})
		if r.status != http.StatusBadRequest || strings.Contains(r.body, `value="`+tt.email+`"`) != tt.echo {
			t.Errorf("sign-up %.20q: %d, echoed %v, want %v", tt.email, r.status, !tt.echo, tt.echo)
		}
		b := a.browser()
		b.login("/")
		r = b.post("/account/email", url.Values{"email": {tt.email}, "current_password": {testPassword}})
		if r.status != http.StatusBadRequest || strings.Contains(r.body, `value="`+tt.email+`"`) != tt.echo {
			t.Errorf("change email %.20q: %d, echoed %v, want %v", tt.email, r.status, !tt.echo, tt.echo)
		}
	}
}

// TestAPPACC6_AccountPageReadsTheIdP: the account page shows what the IdP
// says now, not what the session's token said: an address confirmed from
// another browser (no session there to re-validate) shows as confirmed.
func TestAPPACC6_AccountPageReadsTheIdP(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	b := a.browser()
	addr := "elsewhere@example.com"
	b.post("/signup", url.Values{"email": {addr}, "password": {"verify me long passphrase"}})
	link := box.link(t, addr, mail.TemplateVerifyEmail)
	id, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	if r := a.browser().post("/verify-email", url.Values{"id": {id.Get("id")}}); r.status != 200 {
		t.Fatalf("verify from another browser: %d", r.status)
	}
	if r := b.get("/account"); r.status != 200 || strings.Contains(r.body, "not confirmed") || !strings.Contains(r.body, "(confirmed)") {
		t.Errorf("account page after confirming elsewhere: %d", r.status)
	}
}

// TestAPPACC6_ResendVerification: the account page's "send the link
// again" mails a new verification link (303 to the account page).
func TestAPPACC6_ResendVerification(t *testing.T) {
	w, box, key := newAccountWorld(t)
	a := newAccountApp(t, w, key)
	b := a.browser()
	addr := "resend.me@example.com"
	b.post("/signup", url.Values{"email": {addr}, "password": {"verify me long passphrase"}})
	before := len(box.find(addr, mail.TemplateVerifyEmail))
	r := b.post("/account/verify-email", nil)
	if r.status != http.StatusSeeOther || r.location() != "/account?done=verification" {
		t.Fatalf("resend: %d %s", r.status, r.location())
	}
	if n := len(box.find(addr, mail.TemplateVerifyEmail)); n != before+1 {
		t.Errorf("verification mails %d, want %d", n, before+1)
	}
}
