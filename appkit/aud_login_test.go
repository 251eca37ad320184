package appkit_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

// TestAUD2_LockoutAnswerLooksLikeWrongPassword: an identity server that
// answers a lockout with login_prevented (FusionAuth does, to anyone) must
// not make the app's form say "locked" to a stranger: the form answers the
// same 401 and generic message as for a wrong password. user_locked, which
// the Gatehouse IdP sends only to the right password of a deactivated
// account, still says so (403).
func TestAUD2_LockoutAnswerLooksLikeWrongPassword(t *testing.T) {
	reason := "login_prevented"
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid_grant","error_reason":"`+reason+`","error_description":"The user is currently locked."}`)
	}))
	t.Cleanup(fake.Close)
	w := &world{idp: &idptest.IdP{URL: fake.URL}, clientID: "2b0c1c9e-4b8c-4b50-9f3c-3f0a54a1d1a7", secret: "s", email: "x@example.com"}
	a := newApp(t, w, appOpt{devMode: true})
	r := a.browser().post("/login", url.Values{"email": {w.email}, "password": {"some password or other"}})
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, appkit.MsgInvalidCredentials) || strings.Contains(r.body, appkit.MsgLocked) {
		t.Fatalf("login_prevented: %d %q", r.status, r.body)
	}
	reason = "user_locked"
	r = a.browser().post("/login", url.Values{"email": {w.email}, "password": {"some password or other"}})
	if r.status != http.StatusForbidden || !strings.Contains(r.body, appkit.MsgLocked) {
		t.Fatalf("user_locked: %d %q", r.status, r.body)
	}
}
