package browser

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Issue 11 in a real browser: sign-up, and forgot → mail → reset, clicking
// the links the demo's mailbox received, with a screenshot of every page.

// mailLink waits for a mail to addr whose subject contains subject and
// returns its link to path, moved to the host the browser uses for the
// app (base, e.g. e.store).
func (e *env) mailLink(addr, subject, base, path string) string {
	e.t.Helper()
	b, _ := json.Marshal(e.d.Info)
	var info struct {
		Mailbox string `json:"mailbox"`
	}
	if json.Unmarshal(b, &info) != nil || info.Mailbox == "" {
		e.t.Fatal(`demo.json has no "mailbox"`)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(strings.TrimRight(info.Mailbox, "/") + "/messages.json")
		if err != nil {
			e.t.Fatal(err)
		}
		var msgs []struct {
			To, Subject string
			Links       []string
		}
		err = json.NewDecoder(resp.Body).Decode(&msgs)
		resp.Body.Close()
		if err != nil {
			e.t.Fatalf("messages.json: %v", err)
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			m := msgs[i]
			if !strings.Contains(strings.ToLower(m.To), strings.ToLower(addr)) || !strings.Contains(m.Subject, subject) {
				continue
			}
			for _, l := range m.Links {
				u, err := url.Parse(l)
				if err == nil && u.Path == path && u.Query().Get("id") != "" {
					return base + u.RequestURI()
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("no %q mail to %s with a %s link", subject, addr, path)
	return ""
}

// TestAccounts_SignupAndVerify: "Create account" from the login page, a
// policy error shown next to the password field, the account created and
// signed in, the verification link opened (a button, nothing changed) and
// confirmed, and the account page saying so.
func TestAccounts_SignupAndVerify(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	const addr, pw = "dana.new@example.com", "velvet compass autumn ferry"

	b.open(e.store+"/login", "login")
	b.click(`main a[href^="/signup"]`, "signup-form")
	if h := b.text("main h1"); !strings.Contains(h, "Create your") {
		t.Fatalf("sign-up heading %q", h)
	}
	if ac := eval[string](b, `document.getElementById("password").getAttribute("autocomplete")`); ac != "new-password" {
		t.Errorf("password autocomplete %q", ac)
	}
	b.fill("#email", addr)
	b.fill("#password", "passwordpassword")
	b.click(`main form button[type="submit"]`, "signup-breached")
	if got := b.text("#password-error"); !strings.Contains(got, "data breach") {
		t.Fatalf("breached password error %q", got)
	}
	if d := eval[string](b, `document.getElementById("password").getAttribute("aria-describedby")`); !strings.Contains(d, "password-error") {
		t.Errorf("password field not described by its error: %q", d)
	}
	b.fill("#email", addr)
	b.fill("#password", pw)
	b.click(`main form button[type="submit"]`, "signup-done")
	if !strings.Contains(b.text("main"), "Check your email") {
		t.Fatalf("after sign-up: %q", b.text("main"))
	}
	// The page reads the same for a taken address (no header change);
	// the next page shows the new account signed in.
	b.click(`main a.button`, "signup-continue")
	b.wantSignedIn(addr)

	link := e.mailLink(addr, "Confirm your email address", e.store, "/verify-email")
	b.open(link, "verify-link")
	if u, _ := e.d.IdPStore.GetUserByLogin(context.Background(), addr); u == nil || u.Verified {
		t.Fatal("opening the link verified the address (or no account)")
	}
	b.click(`main form button[type="submit"]`, "verify-done")
	if !strings.Contains(b.text("main"), "is confirmed") {
		t.Fatalf("after confirm: %q", b.text("main"))
	}
	b.open(e.store+"/account", "account-confirmed")
	if got := b.text("main .tag"); got != "confirmed" {
		t.Errorf("account page tag %q", got)
	}
}

// TestAccounts_ForgotAndReset: "Forgot password?" from the login page, the
// same answer page, the mailed link opened, a new password set, and the
// browser signed in on the account page; the old password no longer works.
func TestAccounts_ForgotAndReset(t *testing.T) {
	e := newEnv(t)
	b := e.newBrowser()
	b.open(e.store+"/login", "login")
	b.click(`main a[href="/forgot-password"]`, "forgot-form")
	b.fill("#email", e.user.Email)
	b.click(`main form button[type="submit"]`, "forgot-sent")
	if !strings.Contains(b.text("main"), "If an account uses") {
		t.Fatalf("after forgot: %q", b.text("main"))
	}
	link := e.mailLink(e.user.Email, "Reset your", e.store, "/reset-password")
	b.open(link, "reset-form")
	b.fill("#password", "harbour lantern quiet thistle")
	b.click(`main form button[type="submit"]`, "reset-signed-in")
	if !strings.HasSuffix(b.location(), "/account?done=reset") {
		t.Fatalf("after reset at %s", b.location())
	}
	b.wantSignedIn(e.user.Email)
	if !strings.Contains(b.text("main"), "Your password was reset") {
		t.Errorf("account page after reset: %q", b.text("main"))
	}
	resp, err := http.PostForm(e.d.Info.Store+"/login", url.Values{"email": {e.user.Email}, "password": {e.user.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("old password: %d, want 401", resp.StatusCode)
	}
}
