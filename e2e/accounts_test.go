package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
)

// Issue 11 over HTTP against the real demo: every mail goes through the
// demo's embedded SMTP server into its mailbox, and the tests click the
// links they find in {mailbox}/messages.json, as a person on the Mailbox
// page would.

// mailMsg is one message of {mailbox}/messages.json.
type mailMsg struct {
	ID, To, Subject, Text string
	Links                 []string
}

// mailbox returns the demo's mailbox URL ("mailbox" in demo.json).
func (e *env) mailbox() string {
	e.t.Helper()
	b, _ := json.Marshal(e.info)
	var m struct {
		Mailbox string `json:"mailbox"`
	}
	if json.Unmarshal(b, &m) != nil || m.Mailbox == "" {
		e.t.Fatal(`demo.json has no "mailbox"`)
	}
	return strings.TrimRight(m.Mailbox, "/")
}

// mails returns every message to addr, oldest first.
func (e *env) mails(addr string) []mailMsg {
	e.t.Helper()
	resp, err := http.Get(e.mailbox() + "/messages.json")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var all []mailMsg
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		e.t.Fatalf("messages.json: %v", err)
	}
	var out []mailMsg
	for _, m := range all {
		if strings.Contains(strings.ToLower(m.To), strings.ToLower(addr)) {
			out = append(out, m)
		}
	}
	return out
}

// waitMail waits (real time; delivery is in the background) for message
// number n (from 1) to addr whose subject contains subject, and returns it.
func (e *env) waitMail(addr, subject string, n int) mailMsg {
	e.t.Helper()
	var found []mailMsg
	ok := within(10*time.Second, func() bool {
		found = found[:0]
		for _, m := range e.mails(addr) {
			if strings.Contains(m.Subject, subject) {
				found = append(found, m)
			}
		}
		return len(found) >= n
	})
	if !ok {
		e.t.Fatalf("no mail %d to %s about %q (have %d)", n, addr, subject, len(found))
	}
	return found[n-1]
}

// link returns the message's link to path on app (a base URL).
func link(t *testing.T, m mailMsg, app, path string) string {
	t.Helper()
	for _, l := range m.Links {
		if strings.HasPrefix(l, app+path+"?id=") {
			return l
		}
	}
	t.Fatalf("mail %q has no %s%s link: %v", m.Subject, app, path, m.Links)
	return ""
}

// linkID is the id parameter of a mailed link.
func linkID(t *testing.T, l string) string {
	t.Helper()
	u, err := url.Parse(l)
	if err != nil || u.Query().Get("id") == "" {
		t.Fatalf("link %q has no id", l)
	}
	return u.Query().Get("id")
}

// forge changes the first character of a real id.
func forge(id string) string {
	if id[0] == 'A' {
		return "B" + id[1:]
	}
	return "A" + id[1:]
}

func mustContain(t *testing.T, what string, r response, status int, text string) {
	t.Helper()
	if r.Status != status || !strings.Contains(r.Body, text) {
		t.Fatalf("%s: %d, want %d with %q\n%s", what, r.Status, status, text, r.Body)
	}
}

// Subjects of the IdP's built-in mails.
const (
	subjVerify        = "Confirm your email address"
	subjSignupExists  = "Someone tried to sign up"
	subjReset         = "Reset your"
	subjPwChanged     = "password was changed"
	subjConfirmNew    = "Confirm your new email address"
	subjEmailChanged  = "email address was changed"
	msgLinkExpired    = "expired or has already been used"
	msgCheckYourEmail = "Check your email"
)

// TestACC_E2E_SignupAndVerify: a new customer signs up at the Store (signed
// in at once, unverified), gets the verification mail, opens the link (GET
// changes nothing), confirms (POST) and is verified; the account page says
// so. Signing up with alice's address answers the same page and status,
// signs nobody in, changes nothing and mails alice.
func TestACC_E2E_SignupAndVerify(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.user(0)
	const addr, pw = "carla.new@example.com", "copper kettle winter orchard"
	b := e.browser("carla")
	if r := b.get(e.store("/login")); !strings.Contains(r.Body, `href="/signup`) || !strings.Contains(r.Body, `href="/forgot-password"`) {
		t.Fatal("the login page links neither sign-up nor forgot-password")
	}
	mustContain(t, "GET /signup", b.get(e.store("/signup")), 200, `autocomplete="new-password"`)
	rNew := b.post(e.store("/signup"), url.Values{"email": {addr}, "password": {pw}, "next": {"/shopping-cart"}})
	mustContain(t, "sign-up", rNew, 200, msgCheckYourEmail)
	if b.cookie(e.info.Store, "store-sid") == "" {
		t.Fatal("sign-up did not sign the browser in")
	}
	mustContain(t, "cart after sign-up", b.get(e.store("/shopping-cart")), 200, addr)

	// An existing address: same page and status, nobody signed in, alice told.
	x := e.browser("stranger")
	rOld := x.post(e.store("/signup"), url.Values{"email": {alice.Email}, "password": {"another orchard kettle phrase"}, "next": {"/shopping-cart"}})
	if rOld.Status != rNew.Status || strings.ReplaceAll(rOld.Body, alice.Email, "X") != strings.ReplaceAll(rNew.Body, addr, "X") {
		t.Fatalf("sign-up of a taken address differs: %d vs %d", rOld.Status, rNew.Status)
	}
	if x.cookie(e.info.Store, "store-sid") != "" {
		t.Fatal("sign-up of a taken address signed the browser in")
	}
	e.waitMail(alice.Email, subjSignupExists, 1)
	e.browser("alice").login(e.info.Store, alice, "/shopping-cart") // her password still works

	// Verification.
	u, err := e.d.IdPStore.GetUserByLogin(e.ctx, addr)
	if err != nil || u.Verified {
		t.Fatalf("new account: %+v %v", u, err)
	}
	mustContain(t, "account before", b.get(e.store("/account")), 200, "not confirmed")
	l := link(t, e.waitMail(addr, subjVerify, 1), e.info.Store, "/verify-email")
	for range 2 { // a mail scanner, then the person
		mustContain(t, "GET verify link", b.get(l), 200, `name="id"`)
	}
	if u, _ := e.d.IdPStore.GetUserByLogin(e.ctx, addr); u.Verified {
		t.Fatal("GET of the link verified the address")
	}
	mustContain(t, "POST verify", b.post(e.store("/verify-email"), url.Values{"id": {linkID(t, l)}}), 200, "is confirmed")
	if u, _ := e.d.IdPStore.GetUserByLogin(e.ctx, addr); !u.Verified {
		t.Fatal("not verified")
	}
	if r := b.get(e.store("/account")); r.Status != 200 || strings.Contains(r.Body, "not confirmed") {
		t.Fatalf("account after: %d", r.Status)
	}
	mustContain(t, "used link", b.post(e.store("/verify-email"), url.Values{"id": {linkID(t, l)}}), 404, msgLinkExpired)
}

// TestACC_E2E_ForgotAndReset: alice forgets her password; an unknown
// address gets the same answer and no mail; the reset link (GET changes
// nothing) sets a new password, signs the resetting browser in, and ends
// her sessions in both apps; bad input (weak password, used, forged and
// expired ids) is a clear form error and changes nothing.
func TestACC_E2E_ForgotAndReset(t *testing.T) {
	e := newEnv(t)
	alice, aliceID := e.user(0)
	laptop, tablet, phone := e.browser("laptop"), e.browser("tablet"), e.browser("phone")
	laptop.login(e.info.Store, alice, "/shopping-cart")
	tablet.login(e.info.Forums, alice, "/posts")

	rKnown := phone.post(e.store("/forgot-password"), url.Values{"email": {alice.Email}})
	rUnknown := e.browser("x").post(e.store("/forgot-password"), url.Values{"email": {"nobody@example.com"}})
	if rKnown.Status != 200 || rUnknown.Status != 200 ||
		strings.ReplaceAll(rKnown.Body, alice.Email, "X") != strings.ReplaceAll(rUnknown.Body, "nobody@example.com", "X") {
		t.Fatalf("forgot-password answers differ: %d %d", rKnown.Status, rUnknown.Status)
	}
	l := link(t, e.waitMail(alice.Email, subjReset, 1), e.info.Store, "/reset-password")
	id := linkID(t, l)
	mustContain(t, "GET reset link", phone.get(l), 200, `autocomplete="new-password"`)
	mustContain(t, "GET reset link again", phone.get(l), 200, `name="id"`)
	if len(e.mails("nobody@example.com")) != 0 {
		t.Error("mail to an unknown address")
	}

	// Bad input changes nothing.
	mustContain(t, "weak password", phone.post(e.store("/reset-password"), url.Values{"id": {id}, "password": {"short"}}), 400, "at least 15 characters")
	mustContain(t, "breached password", phone.post(e.store("/reset-password"), url.Values{"id": {id}, "password": {"passwordpassword"}}), 400, "data breach")
	mustContain(t, "forged id", phone.post(e.store("/reset-password"), url.Values{"id": {forge(id)}, "password": {"a perfectly fine new phrase"}}), 404, msgLinkExpired)
	if r := e.browser("check").post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}}); r.Status != 303 {
		t.Fatal("bad input changed the password")
	}
	laptop.login(e.info.Store, alice, "/shopping-cart") // the check above made a session; keep one here too

	const newPW = "lighthouse marmalade bicycle rain"
	r := phone.post(e.store("/reset-password"), url.Values{"id": {id}, "password": {newPW}})
	if r.Status != 303 || r.Location != "/account?done=reset" {
		t.Fatalf("reset: %d %q\n%s", r.Status, r.Location, r.Body)
	}
	mustContain(t, "resetting browser", phone.get(e.store("/account?done=reset")), 200, "Your password was reset")
	expectLogin(t, "laptop (Store)", laptop.get(e.store("/shopping-cart")), "/shopping-cart")
	if !within(propagation, func() bool { return len(e.forumSessions(aliceID)) == 0 }) {
		t.Error("alice's Forums session survived the reset")
	}
	expectLogin(t, "tablet (Forums)", tablet.get(e.forums("/posts")), "/posts")
	e.waitMail(alice.Email, subjPwChanged, 1)

	// Used and expired links.
	mustContain(t, "used link", phone.post(e.store("/reset-password"), url.Values{"id": {id}, "password": {"yet another fine phrase"}}), 404, msgLinkExpired)
	e.browser("again").post(e.store("/forgot-password"), url.Values{"email": {alice.Email}})
	late := linkID(t, link(t, e.waitMail(alice.Email, subjReset, 2), e.info.Store, "/reset-password"))
	e.clock.Advance(16 * time.Minute)
	mustContain(t, "expired link", phone.post(e.store("/reset-password"), url.Values{"id": {late}, "password": {"yet another fine phrase"}}), 404, msgLinkExpired)
	if r := e.browser("new").post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {newPW}}); r.Status != 303 {
		t.Fatalf("new password: %d", r.Status)
	}
}

// TestACC_E2E_ChangePassword (APP-LIFE-4): without or with a wrong current
// password nothing changes; a change ends alice's other sessions in both
// apps, keeps this browser signed in, and mails her.
func TestACC_E2E_ChangePassword(t *testing.T) {
	e := newEnv(t)
	alice, aliceID := e.user(0)
	laptop, phone, tablet := e.browser("laptop"), e.browser("phone"), e.browser("tablet")
	laptop.login(e.info.Store, alice, "/shopping-cart")
	phone.login(e.info.Store, alice, "/shopping-cart")
	tablet.login(e.info.Forums, alice, "/posts")
	const newPW = "saffron glacier typewriter moss"
	mustContain(t, "no current password", laptop.post(e.store("/account/password"), url.Values{"password": {newPW}}), 400, "Enter your current password")
	mustContain(t, "wrong current password", laptop.post(e.store("/account/password"), url.Values{"current_password": {"not alice's password"}, "password": {newPW}}), 403, "not your current password")
	mustContain(t, "weak new password", laptop.post(e.store("/account/password"), url.Values{"current_password": {alice.Password}, "password": {"tiny"}}), 400, "at least 15 characters")
	if phone.get(e.store("/shopping-cart")).Status != 200 || len(e.forumSessions(aliceID)) != 1 {
		t.Fatal("a refused change ended sessions")
	}
	r := laptop.post(e.store("/account/password"), url.Values{"current_password": {alice.Password}, "password": {newPW}})
	if r.Status != 303 || r.Location != "/account?done=password" {
		t.Fatalf("change: %d %q", r.Status, r.Location)
	}
	mustContain(t, "this browser", laptop.get(e.store("/shopping-cart")), 200, alice.Email)
	expectLogin(t, "phone", phone.get(e.store("/shopping-cart")), "/shopping-cart")
	if !within(propagation, func() bool { return len(e.forumSessions(aliceID)) == 0 }) {
		t.Error("the Forums session survived the change")
	}
	e.waitMail(alice.Email, subjPwChanged, 1)
	if r := e.browser("old").post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}}); r.Status == 303 {
		t.Error("the old password still works")
	}
}

// TestACC_E2E_ChangeEmail (APP-LIFE-4): a wrong current password changes
// nothing; otherwise the new address gets a confirmation link and the
// address switches only when it is followed; the old address is told.
func TestACC_E2E_ChangeEmail(t *testing.T) {
	e := newEnv(t)
	bob, bobID := e.user(1)
	b := e.browser("bob")
	b.login(e.info.Forums, bob, "/posts")
	const newAddr = "robert@example.org"
	mustContain(t, "wrong current password", b.post(e.forums("/account/email"), url.Values{"email": {newAddr}, "current_password": {"not bob's password"}}), 403, "not your current password")
	r := b.post(e.forums("/account/email"), url.Values{"email": {newAddr}, "current_password": {bob.Password}})
	if r.Status != 303 || r.Location != "/account?done=email" {
		t.Fatalf("change email: %d %q", r.Status, r.Location)
	}
	if u, err := e.d.IdPStore.GetUserByLogin(e.ctx, bob.Email); err != nil || u.ID != bobID {
		t.Fatal("the address changed before it was confirmed")
	}
	l := link(t, e.waitMail(newAddr, subjConfirmNew, 1), e.info.Forums, "/verify-email")
	mustContain(t, "GET confirm link", b.get(l), 200, `name="id"`)
	mustContain(t, "POST confirm", b.post(e.forums("/verify-email"), url.Values{"id": {linkID(t, l)}}), 200, "is confirmed")
	if u, err := e.d.IdPStore.GetUserByLogin(e.ctx, newAddr); err != nil || u.ID != bobID {
		t.Fatalf("address not switched: %v", err)
	}
	e.waitMail(bob.Email, subjEmailChanged, 1)
	mustContain(t, "account page", b.get(e.forums("/account")), 200, newAddr)
	e.browser("new").login(e.info.Forums, demo.User{Email: newAddr, Password: bob.Password}, "/posts")
}
