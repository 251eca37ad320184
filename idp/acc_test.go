package idp_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// ACC-1: a sign-up with a taken address costs the same password work as a
// new one and its owner is told (the app answers both with the same page);
// an email change to a taken address answers exactly like a free one and
// changes nothing, its owner told.
func TestACC1_TakenAddressesAnswerAlikeAndOwnerIsTold(t *testing.T) {
	a := newAccFixture(t)

	r := a.signup("newcomer@example.com", otherPW)
	wantStatus(t, "sign-up", r, http.StatusOK)
	newWork := a.hasher.work()
	if u := r.json(t)["user"].(map[string]any); u["verified"] != false {
		t.Errorf("new user verified = %v, want false", u["verified"])
	}
	a.oneMail(mail.TemplateVerifyEmail, "newcomer@example.com")

	r = a.signup(a.email, otherPW)
	wantFieldCode(t, "sign-up with a taken address", r, "user.email", "[duplicate]user.email")
	if w := a.hasher.work(); w != newWork {
		t.Errorf("password work: taken address %v, new address %v", w, newWork)
	}
	a.oneMail(mail.TemplateSignupExisting, a.email)

	// Email change: a taken and a free address answer the same.
	taken := a.changeEmail(a.email, testPassword, "newcomer@example.com")
	takenMail := a.mail.take()
	free := a.changeEmail(a.email, testPassword, "free@example.com")
	freeMail := a.mail.take()
	if taken.status != http.StatusOK || free.status != taken.status || string(free.body) != string(taken.body) {
		t.Fatalf("change-email: taken %d %s, free %d %s; want the same 200", taken.status, taken.body, free.status, free.body)
	}
	if len(takenMail) != 1 || takenMail[0].Template != mail.TemplateSignupExisting || takenMail[0].To != "newcomer@example.com" {
		t.Errorf("taken address: mails %+v, want signup-existing to its owner", takenMail)
	}
	if len(freeMail) != 1 || freeMail[0].Template != mail.TemplateEmailChangeVerify {
		t.Errorf("free address: mails %+v, want email-change-verify", freeMail)
	}
	if u := a.user(a.userID); u.Email != a.email {
		t.Errorf("email = %s after change requests, want %s (nothing changes before verification)", u.Email, a.email)
	}
}

// ACC-2: a changePasswordId is 256 random bits (43 base64url characters),
// stored only as its SHA-256, works once and for 15 minutes; forged,
// truncated and used ids are 404.
func TestACC2_ResetIDRandomHashedSingleUseFifteenMinutes(t *testing.T) {
	a := newAccFixture(t)
	ctx := context.Background()

	id := a.resetID(a.email)
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) != 32 || len(id) != 43 {
		t.Fatalf("changePasswordId %q: want 32 random bytes in base64url (%v)", id, err)
	}
	if other := a.resetID(a.email); other == id {
		t.Fatal("two changePasswordIds are equal")
	}
	if _, err := a.idp.Store.GetTicket(ctx, store.TicketPasswordReset, sum256(id), a.clock.Now()); err != nil {
		t.Fatalf("the ticket is not stored under SHA-256(id): %v", err)
	}
	if _, err := a.idp.Store.GetTicket(ctx, store.TicketPasswordReset, []byte(id), a.clock.Now()); err == nil {
		t.Fatal("the ticket is stored under the id itself")
	}

	// GET /api/user?changePasswordId= shows whose it is and uses nothing.
	r := a.call("GET", "/api/user?changePasswordId="+id, "")
	wantStatus(t, "lookup", r, http.StatusOK)
	if got := r.json(t)["user"].(map[string]any)["id"]; got != a.userID {
		t.Fatalf("lookup user = %v, want %s", got, a.userID)
	}

	forged := []byte(id)
	forged[10] ^= 1
	for _, bad := range []string{string(forged), id[:42], id + "A", "not-an-id"} {
		wantStatus(t, "forged id "+bad, a.reset(bad, newPW), http.StatusNotFound)
		wantStatus(t, "lookup of forged id", a.call("GET", "/api/user?changePasswordId="+bad, ""), http.StatusNotFound)
	}

	wantStatus(t, "reset", a.reset(id, newPW), http.StatusOK)
	wantStatus(t, "second use", a.reset(id, otherPW), http.StatusNotFound)
	wantStatus(t, "lookup of a used id", a.call("GET", "/api/user?changePasswordId="+id, ""), http.StatusNotFound)
	wantStatus(t, "login with the new password", a.pwLogin(a.email, newPW, ""), http.StatusOK)

	// 15 minutes: just inside works, just past does not.
	inside := a.resetID(a.email)
	a.clock.Advance(15*time.Minute - time.Second)
	wantStatus(t, "reset at 14:59", a.reset(inside, otherPW), http.StatusOK)
	past := a.resetID(a.email)
	a.clock.Advance(15*time.Minute + time.Second)
	wantStatus(t, "lookup at 15:01", a.call("GET", "/api/user?changePasswordId="+past, ""), http.StatusNotFound)
	wantStatus(t, "reset at 15:01", a.reset(past, newPW), http.StatusNotFound)
}

// ACC-2: of two resets racing with one id exactly one succeeds (the second
// arrives while the first hashes its new password).
func TestACC2_ConcurrentResetsOneWins(t *testing.T) {
	a := newAccFixture(t)
	id := a.resetID(a.email)
	var second *response
	var fired atomic.Bool
	a.hasher.onHash.Store(func() {
		if fired.CompareAndSwap(false, true) {
			second = a.reset(id, otherPW)
		}
	})
	first := a.reset(id, newPW)
	a.hasher.onHash.Store(func() {})
	if (first.status == http.StatusOK) == (second.status == http.StatusOK) {
		t.Fatalf("racing resets: %d and %d, want exactly one 200", first.status, second.status)
	}
}

// ACC-2: the mailed link carries a working id to the app's reset page; the
// id also works in the body of POST /api/user/change-password (FusionAuth
// 1.32.2+), without an API key.
func TestACC2_ResetMailLinkWorks(t *testing.T) {
	a := newAccFixture(t)
	r := a.forgot(a.email, true)
	wantStatus(t, "forgot-password", r, http.StatusOK)
	if strings.Contains(string(r.body), "changePasswordId") {
		t.Fatalf("forgot-password with a mail returned the id: %s", r.body)
	}
	m := a.oneMail(mail.TemplatePasswordReset, a.email)
	if m.Data.ValidFor != "15 minutes" || m.Data.AppName != "Pinewood Shop" {
		t.Errorf("mail data = %+v", m.Data)
	}
	id := linkID(t, m, "reset-password")
	wantStatus(t, "reset by body id", a.anon("POST", "/api/user/change-password", `{"changePasswordId":"`+id+`","password":"`+newPW+`"}`), http.StatusOK)
	wantStatus(t, "login", a.pwLogin(a.email, newPW, ""), http.StatusOK)
	wantStatus(t, "unknown user", a.forgot("nobody@example.com", true), http.StatusNotFound)
}

// ACC-3: at most 3 link mails of a kind per account per 15 minutes; past
// that the answer is the same 200 and nothing is sent.
func TestACC3_MailsPerAccountLimited(t *testing.T) {
	a := newAccFixture(t)
	for i := range 3 {
		wantStatus(t, "forgot", a.forgot(a.email, true), http.StatusOK)
		a.oneMail(mail.TemplatePasswordReset, a.email)
		_ = i
	}
	wantStatus(t, "4th forgot", a.forgot(a.email, true), http.StatusOK)
	a.noMail("4th reset mail in 15 minutes")
	a.clock.Advance(15*time.Minute + time.Second)
	wantStatus(t, "forgot after the window", a.forgot(a.email, true), http.StatusOK)
	a.oneMail(mail.TemplatePasswordReset, a.email)

	// Verification mails: the sign-up's and two resends, then nothing.
	wantStatus(t, "sign-up", a.signup("new@example.com", otherPW), http.StatusOK)
	a.oneMail(mail.TemplateVerifyEmail, "new@example.com")
	resend := func() *response {
		return a.call("PUT", "/api/user/verify-email?email=new@example.com&applicationId="+a.shopID+"&sendVerifyEmail=true", "")
	}
	for range 2 {
		wantStatus(t, "resend", resend(), http.StatusOK)
		a.oneMail(mail.TemplateVerifyEmail, "new@example.com")
	}
	wantStatus(t, "4th verification mail", resend(), http.StatusOK)
	a.noMail("4th verification mail in 15 minutes")

	// Email-change mails.
	for i := range 3 {
		wantStatus(t, "change-email", a.changeEmail(a.email, testPassword, "elsewhere@example.com"), http.StatusOK)
		a.oneMail(mail.TemplateEmailChangeVerify, "elsewhere@example.com")
		_ = i
	}
	wantStatus(t, "4th change-email", a.changeEmail(a.email, testPassword, "elsewhere@example.com"), http.StatusOK)
	a.noMail("4th email-change mail in 15 minutes")
}

// ACC-4: every request that may mail a link takes a token from the client
// IP's bucket (known and unknown accounts alike); an empty bucket answers
// 429 with the error shape; another IP is not affected.
func TestACC4_PerIPLimit(t *testing.T) {
	a := newAccFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 3, Every: time.Hour} })
	ip := []string{"X-Forwarded-For", testCtxIP}
	wantStatus(t, "unknown 1", a.forgot("nobody1@example.com", true, ip...), http.StatusNotFound)
	wantStatus(t, "unknown 2", a.forgot("nobody2@example.com", true, ip...), http.StatusNotFound)
	wantStatus(t, "known", a.forgot(a.email, true, ip...), http.StatusOK)
	a.oneMail(mail.TemplatePasswordReset, a.email)
	r := a.forgot(a.email, true, ip...)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("4th request from one IP: %d %s, want 429", r.status, r.body)
	}
	if g, _ := r.json(t)["generalErrors"].([]any); len(g) == 0 {
		t.Errorf("429 body %s, want generalErrors", r.body)
	}
	a.noMail("throttled request")
	wantStatus(t, "unknown from the throttled IP", a.forgot("nobody3@example.com", true, ip...), http.StatusTooManyRequests)
	wantStatus(t, "resend from the throttled IP",
		a.call("PUT", "/api/user/verify-email?email="+a.email+"&applicationId="+a.shopID, "", ip...), http.StatusTooManyRequests)
	wantStatus(t, "another IP", a.forgot(a.email, true, "X-Forwarded-For", "203.0.113.8"), http.StatusOK)
	a.oneMail(mail.TemplatePasswordReset, a.email)

	// A sign-up with a taken address from the exhausted IP: the same
	// answer, but the owner is not mailed again.
	r = a.call("POST", "/api/user/registration", `{"user":{"email":"`+a.email+`","password":"`+otherPW+
		`"},"registration":{"applicationId":"`+a.shopID+`"}}`, ip...)
	wantFieldCode(t, "taken sign-up from the throttled IP", r, "user.email", "[duplicate]user.email")
	a.noMail("taken sign-up from the throttled IP")
}

// ACC-5: a reset ends everything the old password opened: every refresh
// token of every application (through the revocation path: the event
// reaches the apps), every access token, trusted browsers and the other
// reset ids; the owner is told by mail.
func TestACC5_ResetRevokesEverything(t *testing.T) {
	a := newAccFixture(t)
	ctx := context.Background()
	access, rt := a.mustLogin()
	noSID := a.loginNoSID() // only TokensRevokedBefore ends this one
	shop := a.shopLogin(a.email, testPassword)
	wantStatus(t, "shop login", shop, http.StatusOK)
	shopRT := shop.json(t)["refresh_token"].(string)
	trust := a.trustTicket()
	id, other := a.resetID(a.email), a.resetID(a.email)
	a.mail.take()
	a.clock.Advance(time.Second) // tokens issued before the reset

	wantStatus(t, "reset", a.reset(id, newPW), http.StatusOK)

	wantOAuthError(t, a.refresh(rt), http.StatusBadRequest, "invalid_grant", "")
	r := a.form("/oauth2/token", map[string][]string{"grant_type": {"refresh_token"}, "refresh_token": {shopRT},
		"client_id": {a.shopID}, "client_secret": {a.shopSecret}})
	wantOAuthError(t, r, http.StatusBadRequest, "invalid_grant", "")
	a.wantAccepted("access token issued before the reset", access, false)
	a.wantAccepted("access token without sid issued before the reset", noSID, false)
	if !containsStr(a.events.Types(), webhook.EventUserPasswordUpdate+":password_reset") {
		t.Errorf("events %v, want %s:password_reset", a.events.Types(), webhook.EventUserPasswordUpdate)
	}
	if _, err := a.idp.Store.GetTicket(ctx, store.TicketTrust, sum256(trust), a.clock.Now()); err == nil {
		t.Error("a trusted-browser ticket survived the reset")
	}
	wantStatus(t, "the other reset id", a.reset(other, otherPW), http.StatusNotFound)
	a.oneMail(mail.TemplatePasswordChanged, a.email)
}

// ACC-5: a password change (current password given) has the same effects:
// every session everywhere ends, trusted browsers and reset ids are void,
// the owner is told.
func TestACC5_ChangeRevokesEverything(t *testing.T) {
	a := newAccFixture(t)
	ctx := context.Background()
	access, rt := a.mustLogin()
	noSID := a.loginNoSID()
	trust := a.trustTicket()
	id := a.resetID(a.email)
	a.clock.Advance(time.Second)

	wantStatus(t, "change", a.changePassword(a.email, testPassword, newPW), http.StatusOK)

	wantOAuthError(t, a.refresh(rt), http.StatusBadRequest, "invalid_grant", "")
	a.wantAccepted("access token issued before the change", access, false)
	a.wantAccepted("access token without sid issued before the change", noSID, false)
	if !containsStr(a.events.Types(), webhook.EventUserPasswordUpdate+":password_changed") {
		t.Errorf("events %v, want %s:password_changed", a.events.Types(), webhook.EventUserPasswordUpdate)
	}
	if _, err := a.idp.Store.GetTicket(ctx, store.TicketTrust, sum256(trust), a.clock.Now()); err == nil {
		t.Error("a trusted-browser ticket survived the change")
	}
	wantStatus(t, "reset id issued before the change", a.reset(id, otherPW), http.StatusNotFound)
	a.oneMail(mail.TemplatePasswordChanged, a.email)
	wantStatus(t, "login with the old password", a.pwLogin(a.email, testPassword, ""), http.StatusBadRequest)
	wantStatus(t, "login with the new password", a.pwLogin(a.email, newPW, ""), http.StatusOK)
}

// trustTicket stores a trusted-browser ticket for the user (issue 12
// creates them; a password change must end them).
func (a *accFixture) trustTicket() string {
	a.t.Helper()
	id := "trust-" + a.userID
	now := a.clock.Now()
	if err := a.idp.Store.CreateTicket(context.Background(), &store.Ticket{Hash: sum256(id), Kind: store.TicketTrust,
		UserID: a.userID, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}); err != nil {
		a.t.Fatalf("create trust ticket: %v", err)
	}
	return id
}

func containsStr(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ACC-6: a reset clears the account's lock (the owner gets back in after
// strangers' guesses) and marks the address verified (the mail reached it).
func TestACC6_ResetClearsLockAndVerifies(t *testing.T) {
	a := newAccFixture(t, func(c *idp.Config) {
		c.Lockout = idp.LockoutPolicy{FreeFailures: 1, BaseDelay: time.Hour, HardStop: 3}
	})
	ctx := context.Background()
	if err := a.idp.Store.UpdateUser(ctx, a.userID, func(u store.User) (store.User, error) { u.Verified = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a.pwLogin(a.email, "a wrong guess by a stranger", "")
		a.clock.Advance(2 * time.Hour)
	}
	wantOAuthError(t, a.pwLogin(a.email, testPassword, ""), http.StatusBadRequest, "invalid_grant", "invalid_user_credentials")

	wantStatus(t, "reset", a.reset(a.resetID(a.email), newPW), http.StatusOK)
	r := a.pwLogin(a.email, newPW, "")
	wantStatus(t, "login after the reset", r, http.StatusOK)
	if !a.user(a.userID).Verified {
		t.Error("the reset did not mark the address verified")
	}
	claims, _ := a.verify(r.json(t)["access_token"].(string))
	if claims["email_verified"] != true {
		t.Errorf("email_verified = %v after the reset", claims["email_verified"])
	}
}

// ACC-7 (APP-LIFE-4): a password change needs the current password; a
// wrong one (or an unknown login) answers 400 [invalid]currentPassword and
// changes nothing; without an API key the loginId form is 401.
func TestACC7_ChangePasswordNeedsCurrentPassword(t *testing.T) {
	a := newAccFixture(t)
	wantFieldCode(t, "wrong current", a.changePassword(a.email, "not the current password", newPW), "currentPassword", "[invalid]currentPassword")
	wrong := a.changePassword(a.email, "not the current password", newPW)
	unknown := a.changePassword("nobody@example.com", "not the current password", newPW)
	if unknown.status != wrong.status || string(unknown.body) != string(wrong.body) {
		t.Errorf("unknown login %d %s, wrong password %d %s: want the same answer", unknown.status, unknown.body, wrong.status, wrong.body)
	}
	wantFieldCode(t, "no current", a.changePassword(a.email, "", newPW), "currentPassword", "[blank]currentPassword")
	a.noMail("refused changes")
	wantStatus(t, "old password still works", a.pwLogin(a.email, testPassword, ""), http.StatusOK)
	r := a.anon("POST", "/api/user/change-password", `{"loginId":"`+a.email+`","currentPassword":"`+testPassword+`","password":"`+newPW+`"}`)
	wantStatus(t, "change without an API key", r, http.StatusUnauthorized)
	wantStatus(t, "change", a.changePassword(a.email, testPassword, newPW), http.StatusOK)
}

// ACC-7: current-password guesses are login failures: they count against
// the account's lockout (a stolen session cannot brute-force the current
// password; the right one is refused during the delay) and the IP's
// password bucket (429).
func TestACC7_CurrentPasswordGuessesLockAndThrottle(t *testing.T) {
	a := newAccFixture(t, func(c *idp.Config) {
		c.Lockout = idp.LockoutPolicy{FreeFailures: 2, BaseDelay: time.Hour, HardStop: 50}
	})
	for range 2 {
		wantFieldCode(t, "guess", a.changePassword(a.email, "guess from a stolen session", newPW), "currentPassword", "[invalid]currentPassword")
	}
	a.hasher.work()
	wantFieldCode(t, "right password during the delay", a.changePassword(a.email, testPassword, newPW), "currentPassword", "[invalid]currentPassword")
	wantFieldCode(t, "change-email during the delay", a.changeEmail(a.email, testPassword, "x@example.com"), "currentPassword", "[invalid]currentPassword")
	if w := a.hasher.work(); w[0] != 0 {
		t.Errorf("refused attempts hashed a new password: %v", w)
	}
	wantOAuthError(t, a.pwLogin(a.email, testPassword, ""), http.StatusBadRequest, "invalid_grant", "invalid_user_credentials")
	a.clock.Advance(2 * time.Hour)
	wantStatus(t, "after the delay", a.changePassword(a.email, testPassword, newPW), http.StatusOK)

	b := newAccFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 2, Every: time.Hour} })
	ip := []string{"X-Forwarded-For", testCtxIP}
	b.changePassword(b.email, "guess one", newPW, ip...)
	b.changeEmail(b.email, "guess two", "y@example.com", ip...)
	wantStatus(t, "third guess from the IP", b.changePassword(b.email, testPassword, newPW, ip...), http.StatusTooManyRequests)
	wantStatus(t, "change-email from the IP", b.changeEmail(b.email, testPassword, "y@example.com", ip...), http.StatusTooManyRequests)
	wantStatus(t, "another IP", b.changePassword(b.email, testPassword, newPW, "X-Forwarded-For", "203.0.113.9"), http.StatusOK)
}

// ACC-7: an email change needs the current password.
func TestACC7_ChangeEmailNeedsCurrentPassword(t *testing.T) {
	a := newAccFixture(t)
	wantFieldCode(t, "wrong current", a.changeEmail(a.email, "not the current password", "new@example.com"), "currentPassword", "[invalid]currentPassword")
	wantFieldCode(t, "no current", a.changeEmail(a.email, "", "new@example.com"), "currentPassword", "[blank]currentPassword")
	a.noMail("refused email changes")
	n, err := a.idp.Store.CountTickets(context.Background(), a.userID, store.TicketEmailChange, time.Time{})
	if err != nil || n != 0 {
		t.Fatalf("email-change tickets = %d, %v; want none", n, err)
	}
	wantFieldCode(t, "malformed email", a.changeEmail(a.email, testPassword, "not an email"), "email", "[invalid]email")
}

// ACC-8: every new password goes through the policy (length, breached,
// context words) with the codes of compat §18; a refused password leaves the
// reset id usable.
func TestACC8_PolicyOnEveryNewPassword(t *testing.T) {
	a := newAccFixture(t)
	wantFieldCode(t, "sign-up short", a.signup("zed@example.com", "short"), "user.password", "[tooShort]user.password")
	wantFieldCode(t, "sign-up breached", a.signup("zed@example.com", "PasswordPassword"), "user.password", "[breachedCommonPassword]user.password")
	wantFieldCode(t, "sign-up context", a.signup("zelda.fitz@example.com", "Zelda.Fitz rules the world"), "user.password", "[contextSpecific]user.password")
	wantFieldCode(t, "sign-up app name", a.signup("zed@example.com", "pinewood shop forever"), "user.password", "[contextSpecific]user.password")

	id := a.resetID(a.email)
	wantFieldCode(t, "reset short", a.reset(id, "short"), "password", "[tooShort]password")
	wantFieldCode(t, "reset breached", a.reset(id, "qwertyuiop12345"), "password", "[breachedCommonPassword]password")
	wantFieldCode(t, "reset context", a.reset(id, "alice in wonderland"), "password", "[contextSpecific]password")
	wantFieldCode(t, "reset blank", a.reset(id, ""), "password", "[blank]password")
	wantFieldCode(t, "change breached", a.changePassword(a.email, testPassword, "1qaz2wsx3edc4rfv"), "password", "[breachedCommonPassword]password")
	wantFieldCode(t, "change app name", a.changePassword(a.email, testPassword, "the pinewood shop password"), "password", "[contextSpecific]password")
	a.noMail("refused passwords")
	wantStatus(t, "the id after refused passwords", a.reset(id, newPW), http.StatusOK)
}

// ACC-9: an email change takes effect only when the link mailed to the NEW
// address is used; then the address is verified and the old address is
// told. The link is single use; an address taken meanwhile changes nothing.
func TestACC9_EmailChangeVerifiedBeforeEffect(t *testing.T) {
	a := newAccFixture(t)
	wantStatus(t, "change-email", a.changeEmail(a.email, testPassword, "New.Alice@Example.com"), http.StatusOK)
	m := a.oneMail(mail.TemplateEmailChangeVerify, "new.alice@example.com")
	if m.Data.NewEmail != "new.alice@example.com" || m.Data.Email != a.email {
		t.Errorf("mail data = %+v", m.Data)
	}
	id := linkID(t, m, "verify-email")
	if u := a.user(a.userID); u.Email != a.email {
		t.Fatalf("email changed to %s before verification", u.Email)
	}
	wantOAuthError(t, a.pwLogin("new.alice@example.com", testPassword, ""), http.StatusBadRequest, "invalid_grant", "")

	wantStatus(t, "verify", a.verifyEmail(id), http.StatusOK)
	u := a.user(a.userID)
	if u.Email != "new.alice@example.com" || !u.Verified {
		t.Fatalf("after verification: email %s verified %v", u.Email, u.Verified)
	}
	told := a.oneMail(mail.TemplateEmailChanged, a.email)
	if told.Data.NewEmail != "new.alice@example.com" || told.Data.AppName != "Pinewood Shop" {
		t.Errorf("notice data = %+v (the notice names the application of the change)", told.Data)
	}
	wantStatus(t, "reuse", a.verifyEmail(id), http.StatusNotFound)
	wantStatus(t, "login with the new address", a.pwLogin("new.alice@example.com", testPassword, ""), http.StatusOK)

	// Taken between the request and the link: nothing changes.
	wantStatus(t, "change-email", a.changeEmail("new.alice@example.com", testPassword, "late@example.com"), http.StatusOK)
	late := linkID(t, a.oneMail(mail.TemplateEmailChangeVerify, "late@example.com"), "verify-email")
	wantStatus(t, "sign-up of the address meanwhile", a.signup("late@example.com", otherPW), http.StatusOK)
	a.mail.take()
	wantStatus(t, "verify a taken address", a.verifyEmail(late), http.StatusNotFound)
	if u := a.user(a.userID); u.Email != "new.alice@example.com" {
		t.Fatalf("email = %s, want unchanged", u.Email)
	}

	// 24 hours.
	wantStatus(t, "change-email", a.changeEmail("new.alice@example.com", testPassword, "slow@example.com"), http.StatusOK)
	slow := linkID(t, a.oneMail(mail.TemplateEmailChangeVerify, "slow@example.com"), "verify-email")
	a.clock.Advance(24*time.Hour + time.Second)
	wantStatus(t, "verify after 24 h", a.verifyEmail(slow), http.StatusNotFound)
}

// ACC-10: a verification id is single use, lasts 24 hours and verifies only
// the address it was sent to; email_verified in access tokens follows.
func TestACC10_VerificationSingleUseAndClaim(t *testing.T) {
	a := newAccFixture(t)
	const email = "vera@example.com"
	r := a.signup(email, otherPW)
	wantStatus(t, "sign-up", r, http.StatusOK)
	uid := r.json(t)["user"].(map[string]any)["id"].(string)
	id := linkID(t, a.oneMail(mail.TemplateVerifyEmail, email), "verify-email")

	login := a.shopLogin(email, otherPW)
	wantStatus(t, "login unverified", login, http.StatusOK)
	if c, _ := a.fixture.verify(login.json(t)["access_token"].(string)); c["email_verified"] != false {
		t.Fatalf("email_verified = %v before verification", c["email_verified"])
	}
	wantStatus(t, "verify", a.verifyEmail(id), http.StatusOK)
	wantStatus(t, "reuse", a.verifyEmail(id), http.StatusNotFound)
	login = a.shopLogin(email, otherPW)
	if c, _ := a.fixture.verify(login.json(t)["access_token"].(string)); c["email_verified"] != true {
		t.Fatalf("email_verified = %v after verification", c["email_verified"])
	}

	// Bound to the address: an id for the old address verifies nothing
	// after an admin changed it.
	ctx := context.Background()
	if err := a.idp.Store.UpdateUser(ctx, uid, func(u store.User) (store.User, error) { u.Verified = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	r = a.call("PUT", "/api/user/verify-email?email="+email+"&applicationId="+a.shopID+"&sendVerifyEmail=false", "")
	wantStatus(t, "resend without mail", r, http.StatusOK)
	old := r.json(t)["verificationId"].(string)
	a.noMail("sendVerifyEmail=false")
	wantStatus(t, "admin changes the address", a.call("PATCH", "/api/user/"+uid, `{"user":{"email":"vera2@example.com"}}`), http.StatusOK)
	wantStatus(t, "id for the old address", a.verifyEmail(old), http.StatusNotFound)
	if a.user(uid).Verified {
		t.Fatal("an id for the old address verified the new one")
	}

	// 24 hours.
	r = a.call("PUT", "/api/user/verify-email?email=vera2@example.com&applicationId="+a.shopID, "")
	wantStatus(t, "resend", r, http.StatusOK)
	late := linkID(t, a.oneMail(mail.TemplateVerifyEmail, "vera2@example.com"), "verify-email")
	a.clock.Advance(24*time.Hour + time.Second)
	wantStatus(t, "verify after 24 h", a.verifyEmail(late), http.StatusNotFound)
	wantStatus(t, "resend for an unknown address", a.call("PUT", "/api/user/verify-email?email=nobody@example.com", ""), http.StatusNotFound)
}

// ACC-11: ids are bound to their kind (a verification id is no reset id and
// the reverse) and expired tickets are collected.
func TestACC11_TicketsBoundToKindAndCollected(t *testing.T) {
	a := newAccFixture(t)
	ctx := context.Background()
	reset := a.resetID(a.email)
	wantStatus(t, "reset id at verify-email", a.verifyEmail(reset), http.StatusNotFound)
	r := a.call("PUT", "/api/user/verify-email?email="+a.email+"&sendVerifyEmail=false", "")
	wantStatus(t, "verification id", r, http.StatusOK)
	ver := r.json(t)["verificationId"].(string)
	wantStatus(t, "verification id as changePasswordId", a.reset(ver, newPW), http.StatusNotFound)
	wantStatus(t, "lookup by verification id", a.call("GET", "/api/user?changePasswordId="+ver, ""), http.StatusNotFound)

	a.clock.Advance(25 * time.Hour)
	if _, err := a.idp.Server.CollectGarbage(ctx); err != nil {
		t.Fatalf("CollectGarbage: %v", err)
	}
	for _, kind := range []string{store.TicketPasswordReset, store.TicketVerifyEmail} {
		if n, err := a.idp.Store.CountTickets(ctx, a.userID, kind, time.Time{}); err != nil || n != 0 {
			t.Errorf("%s tickets after collection: %d, %v", kind, n, err)
		}
	}
}

// Without a Mailer, or for an application without a BaseURL, the flows
// still work through the API; a warning is logged, never the id.
func TestAccountsWithoutMailOrBaseURL(t *testing.T) {
	a := newAccFixture(t)
	// The fixture's first application has no BaseURL.
	r := a.call("POST", "/api/user/forgot-password", `{"loginId":"`+a.email+`","applicationId":"`+a.clientID+`"}`)
	wantStatus(t, "forgot for an app without baseURL", r, http.StatusOK)
	a.noMail("no baseURL")
	if !strings.Contains(a.logs.String(), "no baseURL") {
		t.Errorf("no warning logged: %s", a.logs.String())
	}
	r = a.call("POST", "/api/user/forgot-password", `{"loginId":"`+a.email+`"}`)
	wantStatus(t, "forgot without an application", r, http.StatusOK)
	a.noMail("no application")
	id := a.resetID(a.email)
	wantStatus(t, "reset", a.reset(id, newPW), http.StatusOK)
	if strings.Contains(a.logs.String(), id) {
		t.Fatal("a changePasswordId reached the logs")
	}

	b := newAccFixture(t, func(c *idp.Config) { c.Mailer = nil })
	wantStatus(t, "forgot without a mailer", b.forgot(b.email, true), http.StatusOK)
	wantStatus(t, "sign-up without a mailer", b.signup("nomail@example.com", otherPW), http.StatusOK)
	if !strings.Contains(b.logs.String(), "no mailer") {
		t.Errorf("no warning logged: %s", b.logs.String())
	}
}

// ACC-12: bad input at the account endpoints answers 4xx with FusionAuth's
// error shape, never a 5xx, and changes nothing; a key sent to the
// endpoints that need none is still checked; scoped keys name the new
// endpoints like any other (AUD-13).
func TestACC12_BadInputAndKeys(t *testing.T) {
	a := newAccFixture(t)
	long := strings.Repeat("a", 400) + "@example.com"
	unknownApp := "00000000-0000-4000-8000-000000000000"
	cases := []struct {
		name, method, path, body string
		status                   int
		field, code              string // for 400: the field error expected ("" = general error)
	}{
		{"verify: malformed JSON", "POST", "/api/user/verify-email", `{"verificationId":`, 400, "", ""},
		{"verify: missing id", "POST", "/api/user/verify-email", `{}`, 400, "verificationId", "[blank]verificationId"},
		{"verify: wrong type", "POST", "/api/user/verify-email", `{"verificationId":7}`, 400, "", ""},
		{"verify: unknown id", "POST", "/api/user/verify-email", `{"verificationId":"` + strings.Repeat("A", 43) + `"}`, 404, "", ""},
		{"verify: overlong id", "POST", "/api/user/verify-email", `{"verificationId":"` + strings.Repeat("A", 5000) + `"}`, 404, "", ""},
		{"resend: no email", "PUT", "/api/user/verify-email", ``, 400, "email", "[blank]email"},
		{"resend: overlong email", "PUT", "/api/user/verify-email?email=" + long, ``, 400, "email", "[tooLong]email"},
		{"resend: bad application", "PUT", "/api/user/verify-email?email=" + a.email + "&applicationId=nope", ``, 400, "applicationId", "[invalid]applicationId"},
		{"forgot: malformed JSON", "POST", "/api/user/forgot-password", `{"loginId"`, 400, "", ""},
		{"forgot: missing loginId", "POST", "/api/user/forgot-password", `{"applicationId":"` + a.shopID + `"}`, 400, "loginId", "[blank]loginId"},
		{"forgot: overlong loginId", "POST", "/api/user/forgot-password", `{"loginId":"` + long + `"}`, 400, "loginId", "[tooLong]loginId"},
		{"forgot: unknown application", "POST", "/api/user/forgot-password", `{"loginId":"` + a.email + `","applicationId":"` + unknownApp + `"}`, 400, "applicationId", "[invalid]applicationId"},
		{"forgot: unknown user", "POST", "/api/user/forgot-password", `{"loginId":"nobody@example.com"}`, 404, "", ""},
		{"reset: malformed JSON", "POST", "/api/user/change-password/" + strings.Repeat("A", 43), `{"password":`, 400, "", ""},
		{"reset: unknown id", "POST", "/api/user/change-password/" + strings.Repeat("A", 43), `{"password":"` + newPW + `"}`, 404, "", ""},
		{"reset: overlong id", "POST", "/api/user/change-password/" + strings.Repeat("A", 3000), `{"password":"` + newPW + `"}`, 404, "", ""},
		{"change: missing loginId", "POST", "/api/user/change-password", `{"currentPassword":"x","password":"y"}`, 400, "loginId", "[blank]loginId"},
		{"change: missing password", "POST", "/api/user/change-password", `{"loginId":"` + a.email + `","currentPassword":"` + testPassword + `"}`, 400, "password", "[blank]password"},
		{"change: overlong current", "POST", "/api/user/change-password", `{"loginId":"` + a.email + `","currentPassword":"` + strings.Repeat("x", 5000) + `","password":"` + newPW + `"}`, 400, "currentPassword", "[invalid]currentPassword"},
		{"change: bad application", "POST", "/api/user/change-password", `{"loginId":"` + a.email + `","currentPassword":"x","password":"y","applicationId":"` + unknownApp + `"}`, 400, "applicationId", "[invalid]applicationId"},
		{"change-email: malformed JSON", "POST", "/api/user/change-email", `[`, 400, "", ""},
		{"change-email: missing email", "POST", "/api/user/change-email", `{"loginId":"` + a.email + `","currentPassword":"` + testPassword + `"}`, 400, "email", "[blank]email"},
		{"change-email: markup", "POST", "/api/user/change-email", `{"loginId":"` + a.email + `","currentPassword":"` + testPassword + `","email":"<b>@example.com"}`, 400, "email", "[invalid]email"},
		{"change-email: overlong", "POST", "/api/user/change-email", `{"loginId":"` + a.email + `","currentPassword":"` + testPassword + `","email":"` + long + `"}`, 400, "email", "[invalid]email"},
		{"lookup: unknown id", "GET", "/api/user?changePasswordId=nope", ``, 404, "", ""},
		{"sign-up: blank application", "POST", "/api/user/registration", `{"user":{"email":"x@example.com","password":"` + otherPW + `"},"registration":{}}`, 400, "registration.applicationId", "[invalid]registration.applicationId"},
	}
	for _, c := range cases {
		r := a.call(c.method, c.path, c.body)
		if r.status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, r.status, r.body, c.status)
			continue
		}
		if c.status == 400 {
			if c.field != "" {
				wantFieldCode(t, c.name, r, c.field, c.code)
			} else if g, _ := r.json(t)["generalErrors"].([]any); len(g) == 0 {
				t.Errorf("%s: %s, want generalErrors", c.name, r.body)
			}
		}
	}
	a.noMail("bad input")
	if u := a.user(a.userID); u.Email != a.email || !u.Active {
		t.Fatalf("the user changed: %+v", u)
	}
	wantStatus(t, "password unchanged", a.pwLogin(a.email, testPassword, ""), http.StatusOK)

	// A key sent where none is needed is still checked.
	id := a.resetID(a.email)
	req := func(key, method, path, body string) *response {
		return a.apiWith(key, method, path, body)
	}
	wantStatus(t, "bogus key at verify-email", req("not a key", "POST", "/api/user/verify-email", `{"verificationId":"x"}`), http.StatusUnauthorized)
	wantStatus(t, "bogus key at reset", req("not a key", "POST", "/api/user/change-password/"+id, `{"password":"`+newPW+`"}`), http.StatusUnauthorized)
	for _, p := range []string{"/api/user/forgot-password", "/api/user/change-email", "/api/user/change-password"} {
		wantStatus(t, "no key at "+p, a.anon("POST", p, `{"loginId":"`+a.email+`"}`), http.StatusUnauthorized)
	}
	wantStatus(t, "no key at resend", a.anon("PUT", "/api/user/verify-email?email="+a.email, ""), http.StatusUnauthorized)
	wantStatus(t, "no key at lookup", a.anon("GET", "/api/user?changePasswordId="+id, ""), http.StatusUnauthorized)

	// Scoped keys: each endpoint is its own permission.
	forgotOnly := a.scopedKey(map[string][]string{"/api/user/forgot-password": {"POST"}})
	wantStatus(t, "scoped key: forgot", req(forgotOnly, "POST", "/api/user/forgot-password", `{"loginId":"`+a.email+`","sendForgotPasswordEmail":false}`), http.StatusOK)
	wantStatus(t, "scoped key: change-email", req(forgotOnly, "POST", "/api/user/change-email", `{}`), http.StatusUnauthorized)
	wantStatus(t, "scoped key: reset", req(forgotOnly, "POST", "/api/user/change-password/"+id, `{"password":"`+newPW+`"}`), http.StatusUnauthorized)
	wantStatus(t, "scoped key: resend", req(forgotOnly, "PUT", "/api/user/verify-email?email="+a.email, ""), http.StatusUnauthorized)
	all := a.scopedKey(map[string][]string{"/api/user/verify-email": {"POST", "PUT"}, "/api/user/change-password": {"POST"},
		"/api/user/change-email": {"POST"}, "/api/user": {"GET"}})
	wantStatus(t, "scoped key: lookup", req(all, "GET", "/api/user?changePasswordId="+id, ""), http.StatusOK)
	wantStatus(t, "scoped key: reset", req(all, "POST", "/api/user/change-password/"+id, `{"password":"`+newPW+`"}`), http.StatusOK)
}

// ACC-4: a sign-up an app makes for a browser (a scoped key) pays a token
// of the browser IP's mail bucket before anything else, so one address
// cannot create accounts (and password hashes, and mails) without bound;
// the 429 comes before any lookup, for a new and a taken address alike.
// The operator's super key is not throttled.
func TestACC4_SignUpsThrottledPerIP(t *testing.T) {
	a := newAccFixture(t, func(c *idp.Config) { c.Throttle = idp.ThrottlePolicy{Burst: 2, Every: time.Hour} })
	key, _, err := a.idp.Server.Admin().CreateScopedAPIKey(context.Background(), "shop app",
		store.APIKeyPermissions{Endpoints: map[string][]string{"/api/user/registration": {"POST"}}})
	if err != nil {
		t.Fatal(err)
	}
	signup := func(email, ip, authz string) *response {
		t.Helper()
		req, _ := http.NewRequest("POST", a.idp.URL+"/api/user/registration", strings.NewReader(`{"user":{"email":"`+email+
			`","password":"`+otherPW+`"},"registration":{"applicationId":"`+a.shopID+`"}}`))
		req.Header.Set("Authorization", authz)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", ip)
		return a.do(req)
	}
	wantStatus(t, "first sign-up", signup("new1@example.com", "198.51.100.7", key), http.StatusOK)
	wantFieldCode(t, "taken address", signup(a.email, "198.51.100.7", key), "user.email", "[duplicate]user.email")
	a.hasher.work()
	for _, email := range []string{"new2@example.com", a.email} {
		r := signup(email, "198.51.100.7", key)
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("sign-up of %s past the IP's bucket: %d %s, want 429", email, r.status, r.body)
		}
	}
	if w := a.hasher.work(); w != [2]int64{} {
		t.Errorf("throttled sign-ups did password work %v, want none", w)
	}
	if _, err := a.idp.Store.GetUserByLogin(context.Background(), "new2@example.com"); err == nil {
		t.Error("a throttled sign-up created its user")
	}
	wantStatus(t, "another IP", signup("new3@example.com", "198.51.100.8", key), http.StatusOK)
	wantStatus(t, "the operator's super key", signup("new4@example.com", "198.51.100.7", a.idp.APIKey), http.StatusOK)
}
