package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// idpAPI calls the demo's IdP admin API with key.
func (e *env) idpAPI(key, method, path, body string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.info.IdP+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAUD13_AppKeysOnlyRevoke: the demo gives the Store and the Forums API
// keys that may only make the calls their IdP client makes (revoking
// refresh tokens and, since issue 11, the account calls:
// idpclient.APIKeyPermissions): each is refused with 401 at POST
// /api/user, user updates and deletion, token listing and key creation,
// while the apps' "sign out that session", "sign out all other
// sessions" and "sign out everywhere" still reach the IdP. The operator's
// key in demo.json stays a super key.
func TestAUD13_AppKeysOnlyRevoke(t *testing.T) {
	e := newEnv(t)
	alice, aliceID := e.user(0)
	newUser := `{"user":{"email":"mallory@example.com","password":"mallory's long passphrase"}}`
	for app, key := range map[string]string{"store": e.d.StoreConfig.APIKey, "forums": e.d.ForumsConfig.APIKey} {
		if key == "" || key == e.info.APIKey {
			t.Fatalf("%s: key %q is empty or the operator's", app, key)
		}
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/api/user", newUser},
			{"DELETE", "/api/user/" + aliceID, ""},
			{"PATCH", "/api/user/" + aliceID, `{"user":{"password":"attacker's new passphrase"}}`},
			{"GET", "/api/jwt/refresh?userId=" + aliceID, ""},
			{"POST", "/api/api-key", `{"apiKey":{}}`},
		} {
			if status, body := e.idpAPI(key, c.method, c.path, c.body); status != http.StatusUnauthorized || body != "" {
				t.Errorf("%s key: %s %s = %d %q, want 401 empty", app, c.method, c.path, status, body)
			}
		}
	}
	if _, err := e.d.IdPStore.GetUserByLogin(e.ctx, "mallory@example.com"); err == nil {
		t.Fatal("an app key created a user")
	}

	// The apps' own revocations still work with those keys.
	storeID, forumsID := e.info.Applications.Store.ID, e.info.Applications.Forums.ID
	laptop, phone, tablet := e.browser("laptop"), e.browser("phone"), e.browser("tablet")
	laptop.login(e.info.Store, alice, "/shopping-cart")
	phone.login(e.info.Store, alice, "/shopping-cart")
	tablet.login(e.info.Store, alice, "/shopping-cart")
	if n := e.families(aliceID, storeID); n != 3 {
		t.Fatalf("store families = %d, want 3", n)
	}
	page := laptop.get(e.store("/sessions"))
	ids := sessionIDField.FindAllStringSubmatch(page.Body, -1)
	if len(ids) != 2 {
		t.Fatalf("sessions page lists %d other sessions", len(ids))
	}
	if r := laptop.post(e.store("/sessions"), url.Values{"action": {"end"}, "session": {ids[0][1]}}); r.Status != 303 {
		t.Fatalf("end one session: %d", r.Status)
	}
	if n := e.families(aliceID, storeID); n != 2 {
		t.Fatalf("after 'sign out that session' store families = %d, want 2", n)
	}
	if r := laptop.post(e.store("/sessions"), url.Values{"action": {"end-others"}}); r.Status != 303 {
		t.Fatalf("end-others: %d", r.Status)
	}
	if n := e.families(aliceID, storeID); n != 1 {
		t.Fatalf("after 'sign out all other sessions' store families = %d, want 1", n)
	}
	forumsBrowser := e.browser("forums")
	forumsBrowser.login(e.info.Forums, alice, "/posts")
	if r := forumsBrowser.post(e.forums("/sessions"), url.Values{"action": {"end-all"}, "confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("forums end-all: %d", r.Status)
	}
	if n := e.families(aliceID, storeID) + e.families(aliceID, forumsID); n != 0 {
		t.Fatalf("after 'sign out everywhere' at the forums %d families remain", n)
	}

	// The operator's key reaches everything.
	if status, body := e.idpAPI(e.info.APIKey, "GET", "/api/user?email="+url.QueryEscape(alice.Email), ""); status != http.StatusOK {
		t.Fatalf("operator key: %d %s", status, body)
	}
}
