package idp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

// fuzzServe sends one request to the in-process handler and checks the
// bad-input rules: never a 5xx, and a 4xx from the OAuth endpoints carries
// the JSON error shape.
func fuzzServe(t testing.TB, f *fixture, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.idp.Server.Handler().ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s → %d %s", req.Method, req.URL, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && rec.Code != 404 && strings.HasPrefix(req.URL.Path, "/oauth2/") {
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["error"] == nil {
			t.Fatalf("error without OAuth shape: %d %q", rec.Code, rec.Body)
		}
	}
	return rec
}

// FuzzTokenRequest: arbitrary bodies, content types and Authorization
// headers at the token endpoint; the existing user's grant survives.
func FuzzTokenRequest(f *testing.F) {
	f.Add("grant_type=password&username=a%40b.c&password=x&client_id=x", "application/x-www-form-urlencoded", "")
	f.Add("grant_type=refresh_token&refresh_token=AAAA", "application/x-www-form-urlencoded", "Basic Zm9vOmJhcg==")
	f.Add("grant_type=password&scope=openid%20offline_access%20%00", "application/x-www-form-urlencoded; charset=utf-8", "Bearer x")
	f.Add(`{"grant_type":"password"}`, "application/json", "Basic")
	f.Add("%zz&&==;", "application/x-www-form-urlencoded", "Basic OjpfOjo=")
	f.Add("grant_type=password&client_id=null&client_secret=undefined", "application/x-www-form-urlencoded", "basic !!")
	fx := newFixture(f, idptest.AppOptions{})
	f.Fuzz(func(t *testing.T, body, ctype, auth string) {
		fx.t = t
		req := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		fuzzServe(t, fx, req)
		if _, err := fx.idp.Store.GetUser(context.Background(), fx.userID); err != nil {
			t.Fatalf("user lost: %v", err)
		}
	})
}

// FuzzRefreshTokenLookup: arbitrary refresh-token strings through both
// refresh paths, authenticated; none is accepted and the real family's
// current token keeps working.
func FuzzRefreshTokenLookup(f *testing.F) {
	f.Add(strings.Repeat("A", 43))
	f.Add("")
	f.Add("null")
	f.Add(strings.Repeat("-_", 22))
	f.Add("\x00\xff" + strings.Repeat("z", 41))
	f.Add(strings.Repeat("a", 4096))
	fx := newFixture(f, idptest.AppOptions{})
	_, live := fx.mustLogin()
	f.Fuzz(func(t *testing.T, tok string) {
		fx.t = t
		if tok == live {
			return
		}
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "client_id": {fx.clientID}, "client_secret": {fx.secret}}
		req := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if rec := fuzzServe(t, fx, req); rec.Code != 400 {
			t.Fatalf("token endpoint accepted %q: %d", tok, rec.Code)
		}
		b, _ := json.Marshal(map[string]string{"refreshToken": tok})
		req = httptest.NewRequest("POST", "/api/jwt/refresh", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if rec := fuzzServe(t, fx, req); rec.Code != 404 && rec.Code != 400 {
			t.Fatalf("/api/jwt/refresh accepted %q: %d", tok, rec.Code)
		}
		if _, err := fx.idp.Store.GetRefreshTokenByHash(context.Background(), sha256Of(live)); err != nil {
			t.Fatalf("live token lost after fuzz input: %v", err)
		}
	})
}

// accountPaths are the account endpoints of issue 11 (ACC-12), with the
// method each is fuzzed with.
var accountPaths = []struct{ method, path string }{
	{"POST", "/api/user/registration"},
	{"POST", "/api/user/verify-email"},
	{"PUT", "/api/user/verify-email?email=alice%40example.com&applicationId=x"},
	{"POST", "/api/user/forgot-password"},
	{"POST", "/api/user/change-password"},
	{"POST", "/api/user/change-password/" + strings.Repeat("A", 43)},
	{"POST", "/api/user/change-email"},
	{"GET", "/api/user?changePasswordId=" + strings.Repeat("A", 43)},
}

// FuzzAccountRequests: arbitrary JSON bodies at every account endpoint,
// with the API key: never a 5xx, a 400 carries FusionAuth's error shape,
// and the existing user keeps its address and password (ACC-12).
func FuzzAccountRequests(f *testing.F) {
	f.Add(0, `{"user":{"email":"a@b.c","password":"x"},"registration":{"applicationId":"null"}}`)
	f.Add(1, `{"verificationId":"`+strings.Repeat("A", 43)+`"}`)
	f.Add(1, `{"verificationId":12}`)
	f.Add(3, `{"loginId":"alice@example.com","applicationId":"00000000-0000-4000-8000-000000000000"}`)
	f.Add(3, `{"loginId":"`+strings.Repeat("a", 5000)+`"}`)
	f.Add(4, `{"loginId":"alice@example.com","currentPassword":"x","password":"y"}`)
	f.Add(4, `{"changePasswordId":"../../x","password":"p"}`)
	f.Add(5, `{"password":null}`)
	f.Add(6, `{"loginId":"alice@example.com","currentPassword":"x","email":"\u0000@x"}`)
	f.Add(7, `[]`)
	f.Add(2, `{"}`)
	fx := newFixture(f, idptest.AppOptions{})
	before, err := fx.idp.Store.GetUser(context.Background(), fx.userID)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which int, body string) {
		fx.t = t
		ep := accountPaths[uint(which)%uint(len(accountPaths))]
		req := httptest.NewRequest(ep.method, ep.path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", fx.idp.APIKey)
		rec := fuzzServe(t, fx, req)
		if rec.Code == 400 {
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || (m["fieldErrors"] == nil && m["generalErrors"] == nil) {
				t.Fatalf("%s %s: 400 without the error shape: %q", ep.method, ep.path, rec.Body)
			}
		}
		u, err := fx.idp.Store.GetUser(context.Background(), fx.userID)
		if err != nil || u.Email != before.Email || u.PasswordHash != before.PasswordHash {
			t.Fatalf("the user changed: %+v %v", u, err)
		}
	})
}
