package site

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit"
)

// TestAccountPagesRender: the account pages render in the site's layout
// with no script or inline style (the CSP forbids both), autocomplete
// hints, and every field error tied to its input by aria-describedby.
func TestAccountPagesRender(t *testing.T) {
	s, _ := newSite(t)
	user := &appkit.UserInfo{ID: "u1", Email: "ann@example.com"}
	errs := appkit.FieldErrors{"email": appkit.MsgEmailInvalid, "password": appkit.MsgPasswordBreached, "current_password": appkit.MsgCurrentPasswordWrong}
	for _, tt := range []struct {
		page string
		data any
		want []string
	}{
		{"signup", &appkit.FormPage{Form: "signup", Action: "/signup", Errors: errs, MinPasswordLength: 15},
			[]string{`autocomplete="email"`, `autocomplete="new-password"`, "At least 15 characters", `href="/login"`}},
		{"signup", &appkit.FormPage{Form: "signup", Done: true, Email: "ann@example.com", Next: "/home"}, []string{"Check your email"}},
		{"forgot", &appkit.FormPage{Form: "forgot-password", Action: "/forgot-password", Errors: errs}, []string{`autocomplete="email"`}},
		{"forgot", &appkit.FormPage{Form: "forgot-password", Done: true}, []string{"If an account uses"}},
		{"reset", &appkit.FormPage{Form: "reset-password", Action: "/reset-password", ID: "the-id", Email: "ann@example.com", Errors: errs},
			[]string{`name="id" value="the-id"`, `autocomplete="username"`, `autocomplete="new-password"`}},
		{"reset", &appkit.FormPage{Form: "reset-password", Invalid: true, ForgotPasswordPath: "/forgot-password"}, []string{"expired", `href="/forgot-password"`}},
		{"verify", &appkit.FormPage{Form: "verify-email", Action: "/verify-email", ID: "the-id"}, []string{`name="id" value="the-id"`, "<button"}},
		{"verify", &appkit.FormPage{Form: "verify-email", Done: true, User: user}, []string{"is confirmed", `href="/account"`}},
		{"account", &appkit.AccountPage{User: user, Email: "ann@example.com", PasswordAction: "/account/password", EmailAction: "/account/email",
			ResendAction: "/account/verify-email", Form: "password", Errors: errs}, []string{"not confirmed", `autocomplete="current-password"`, `href="/account"`}},
		{"account", &appkit.AccountPage{User: user, Email: "ann@example.com", Verified: true, Form: "email", Errors: errs, NewEmail: "new@example.com"},
			[]string{"confirmed", `value="new@example.com"`}},
	} {
		var buf bytes.Buffer
		if err := s.pages[tt.page].Execute(&buf, tt.data); err != nil {
			t.Fatalf("%s: %v", tt.page, err)
		}
		html := buf.String()
		for _, w := range append(tt.want, "<title>", "· Test App</title>") {
			if !strings.Contains(html, w) {
				t.Errorf("%s: no %q in\n%s", tt.page, w, html)
			}
		}
		if strings.Contains(html, "<script") || strings.Contains(html, "style=") {
			t.Errorf("%s: script or inline style", tt.page)
		}
		// Every described-by id exists, and every error paragraph is referenced.
		for _, m := range regexp.MustCompile(`aria-describedby="([^"]+)"`).FindAllStringSubmatch(html, -1) {
			for _, id := range strings.Fields(m[1]) {
				if !strings.Contains(html, `id="`+id+`"`) {
					t.Errorf("%s: aria-describedby names missing id %q", tt.page, id)
				}
			}
		}
		for _, m := range regexp.MustCompile(`class="field-error" id="([^"]+)"`).FindAllStringSubmatch(html, -1) {
			if !regexp.MustCompile(`aria-describedby="[^"]*\b` + m[1] + `\b`).MatchString(html) {
				t.Errorf("%s: error %q is not tied to its input", tt.page, m[1])
			}
		}
	}
}

// TestAccountRoutesMounted: the site serves the account pages, the login
// page links to them, and a signed-out visit to /account goes to login.
func TestAccountRoutesMounted(t *testing.T) {
	s, _ := newSite(t)
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)
		r.RemoteAddr = "127.0.0.1:1234"
		s.ServeHTTP(w, r)
		return w
	}
	for path, title := range map[string]string{"/signup": "Create an account", "/forgot-password": "Forgot your password?",
		"/verify-email?id=x": "Confirm your email address"} {
		if w := get(path); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "<title>"+title) {
			t.Errorf("GET %s: %d", path, w.Code)
		}
	}
	if w := get("/account"); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?next=%2Faccount" {
		t.Errorf("GET /account: %d %s", w.Code, w.Header().Get("Location"))
	}
	login := get("/login?next=/home").Body.String()
	if !strings.Contains(login, `href="/forgot-password"`) || !strings.Contains(login, `href="/signup?next=%2fhome"`) {
		t.Errorf("login page lacks the account links:\n%s", login)
	}
}
