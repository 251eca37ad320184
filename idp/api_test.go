package idp_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/password"
)

func (f *fixture) jwtRefresh(body string, cookie string) *response {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.idp.URL+"/api/jwt/refresh", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "refresh_token", Value: cookie})
	}
	return f.do(req)
}

func TestJWTRefreshEndpoint(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	// The Go client's extra members are accepted and ignored.
	r := f.jwtRefresh(`{"refreshToken":"`+rt+`","noJWT":false,"newDevice":false,"metaData":{"device":{}},"eventInfo":{}}`, "")
	if r.status != 200 {
		t.Fatalf("POST /api/jwt/refresh: %d %s", r.status, r.body)
	}
	m := r.json(t)
	if m["token"] == nil || m["refreshToken"] == rt || m["refreshTokenId"] == nil {
		t.Fatalf("body = %s", r.body)
	}
	var sawAccess, sawRefresh bool
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		sawAccess = sawAccess || (c.Name == "access_token" && c.HttpOnly)
		sawRefresh = sawRefresh || (c.Name == "refresh_token" && c.HttpOnly && c.MaxAge > 0)
	}
	if !sawAccess || !sawRefresh {
		t.Errorf("cookies missing: %v", r.header["Set-Cookie"])
	}
	next := m["refreshToken"].(string)
	// The cookie wins over the body.
	if r := f.jwtRefresh(`{"refreshToken":"bogus"}`, next); r.status != 200 {
		t.Fatalf("cookie refresh: %d", r.status)
	}
	t.Run("missing", func(t *testing.T) {
		r := f.jwtRefresh(`{}`, "")
		if r.status != 400 || !strings.Contains(string(r.body), `"[missing]refreshToken"`) {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("dead token is 404 with empty body", func(t *testing.T) {
		r := f.jwtRefresh(`{"refreshToken":"`+strings.Repeat("B", 43)+`"}`, "")
		if r.status != 404 || len(r.body) != 0 {
			t.Fatalf("%d %q", r.status, r.body)
		}
	})
	t.Run("null is absent", func(t *testing.T) {
		r := f.jwtRefresh(`{"refreshToken":"null"}`, "")
		if r.status != 400 {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		r := f.jwtRefresh(`{"refreshToken":`, "")
		if r.status != 400 {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("disabled for the application", func(t *testing.T) {
		app, _ := f.idp.Store.GetApplication(context.Background(), f.clientID)
		app.Config.AllowTokenRefresh = false
		_ = f.idp.Store.UpdateApplication(context.Background(), app)
		defer func() {
			app.Config.AllowTokenRefresh = true
			_ = f.idp.Store.UpdateApplication(context.Background(), app)
		}()
		_, rt := f.mustLogin()
		r := f.jwtRefresh(`{"refreshToken":"`+rt+`"}`, "")
		if r.status != 400 || !strings.Contains(string(r.body), "[disabled]refreshToken") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestRefreshTokenAdminAPI(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt1 := f.mustLogin()
	_, m := f.login()
	id2 := m["refresh_token_id"].(string)

	noKey := mustReq("GET", f.idp.URL+"/api/jwt/refresh?userId="+f.userID)
	if r := f.do(noKey); r.status != 401 || len(r.body) != 0 {
		t.Fatalf("without API key: %d %q", r.status, r.body)
	}
	r := f.api("GET", "/api/jwt/refresh?userId="+f.userID, "")
	var list struct {
		RefreshTokens []struct {
			ID, UserID, ApplicationID string
			InsertInstant             int64
		}
	}
	_ = json.Unmarshal(r.body, &list)
	if r.status != 200 || len(list.RefreshTokens) != 2 || list.RefreshTokens[0].ID != id2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), rt1) {
		t.Fatal("IDP-RT-2: the list leaks a token value")
	}
	if r := f.api("GET", "/api/jwt/refresh/"+id2, ""); r.status != 200 {
		t.Fatalf("get by id: %d", r.status)
	}
	if r := f.api("GET", "/api/jwt/refresh/not-a-uuid", ""); r.status != 404 {
		t.Fatalf("get bad id: %d", r.status)
	}
	if r := f.api("DELETE", "/api/jwt/refresh", ""); r.status != 400 || !strings.Contains(string(r.body), `"[invalid]"`) {
		t.Fatalf("delete without params: %d %s", r.status, r.body)
	}
	if r := f.api("DELETE", "/api/jwt/refresh?userId=00000000-0000-4000-8000-000000000000", ""); r.status != 400 || !strings.Contains(string(r.body), "userId") {
		t.Fatalf("delete unknown user: %d %s", r.status, r.body)
	}
	if r := f.api("DELETE", "/api/jwt/refresh?token="+strings.Repeat("C", 43), ""); r.status != 404 {
		t.Fatalf("delete unknown token: %d", r.status)
	}
	if r := f.api("DELETE", "/api/jwt/refresh/"+id2, ""); r.status != 200 {
		t.Fatalf("delete by id: %d", r.status)
	}
	if r := f.api("DELETE", "/api/jwt/refresh?token="+rt1, ""); r.status != 200 {
		t.Fatalf("delete by token: %d", r.status)
	}
	wantOAuthError(t, f.refresh(rt1), 400, "invalid_grant", "refresh_token_not_found")
	f.mustLogin()
	if r := f.api("DELETE", "/api/jwt/refresh?userId="+f.userID+"&applicationId=null", ""); r.status != 200 {
		t.Fatalf("delete by user: %d %s", r.status, r.body)
	}
	r = f.api("GET", "/api/jwt/refresh?userId="+f.userID, "")
	if !strings.Contains(string(r.body), `"refreshTokens":[]`) {
		t.Fatalf("after delete: %s", r.body)
	}
}

// IDP-REV-1: RFC 7009 revocation.
func TestRevoke(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	other, otherSecret := f.idp.CreateApp(t, idptest.AppOptions{Name: "forums"})
	revoke := func(tok, id, secret string) *response {
		return f.form("/oauth2/revoke", url.Values{"token": {tok}, "client_id": {id}, "client_secret": {secret}})
	}
	if r := revoke("garbage", f.clientID, f.secret); r.status != 200 {
		t.Fatalf("unknown token: %d", r.status)
	}
	wantOAuthError(t, revoke(rt, other, otherSecret), 400, "unauthorized_client", "")
	_, rt = f.mustRefresh(rt) // still valid after the refused revocation
	wantOAuthError(t, revoke(rt, f.clientID, "wrong"), 401, "invalid_client", "")
	if r := revoke(rt, f.clientID, f.secret); r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantOAuthError(t, f.refresh(rt), 400, "invalid_grant", "refresh_token_not_found")
	wantOAuthError(t, f.form("/oauth2/revoke", url.Values{"client_id": {f.clientID}, "client_secret": {f.secret}}), 400, "invalid_request", "missing_token")
}

func TestIntrospect(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, rt := f.mustLogin()
	intro := func(v url.Values) map[string]any {
		v.Set("client_id", f.clientID)
		r := f.form("/oauth2/introspect", v)
		if r.status != 200 {
			t.Fatalf("introspect: %d %s", r.status, r.body)
		}
		return r.json(t)
	}
	if m := intro(url.Values{"token": {at}}); m["active"] != true || m["sub"] != f.userID {
		t.Fatalf("access token: %v", m)
	}
	if m := intro(url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}}); m["active"] != true || m["exp"] == nil {
		t.Fatalf("refresh token: %v", m)
	}
	if m := intro(url.Values{"token": {"a.b.c"}}); m["active"] != false {
		t.Fatalf("garbage: %v", m)
	}
	other, _ := f.idp.CreateApp(t, idptest.AppOptions{Name: "forums"})
	r := f.form("/oauth2/introspect", url.Values{"token": {at}, "client_id": {other}})
	if r.status != 200 || r.json(t)["active"] != false {
		t.Fatalf("other app's token must be inactive: %s", r.body)
	}
	wantOAuthError(t, f.form("/oauth2/introspect", url.Values{"token": {at}}), 400, "invalid_request", "missing_client_id")
	wantOAuthError(t, f.form("/oauth2/introspect", url.Values{"client_id": {f.clientID}}), 400, "invalid_request", "missing_token")
	wantOAuthError(t, f.form("/oauth2/introspect", url.Values{"client_id": {f.clientID}, "token": {at}, "token_type_hint": {"bogus"}}), 400, "unsupported_token_type", "")
	wantOAuthError(t, f.form("/oauth2/introspect", url.Values{"client_id": {f.clientID}, "token": {rt}, "token_type_hint": {"access_token"}}), 400, "invalid_request", "token_type_hint_mismatch")
}

func TestUserinfoAndValidate(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, _ := f.mustLogin()
	get := func(path, auth string) *response {
		req := mustReq("GET", f.idp.URL+path)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return f.do(req)
	}
	r := get("/oauth2/userinfo", "Bearer "+at)
	if r.status != 200 || r.json(t)["email"] != f.email {
		t.Fatalf("userinfo: %d %s", r.status, r.body)
	}
	if r := get("/oauth2/userinfo", ""); r.status != 401 {
		t.Fatalf("userinfo without token: %d", r.status)
	}
	wantOAuthError(t, get("/oauth2/userinfo", "Bearer nonsense"), 401, "invalid_token", "access_token_invalid")
	r = get("/api/jwt/validate", "Bearer "+at)
	if r.status != 200 || r.json(t)["jwt"] == nil {
		t.Fatalf("validate: %d %s", r.status, r.body)
	}
	if r := get("/api/jwt/validate", "Bearer x.y.z"); r.status != 401 || len(r.body) != 0 {
		t.Fatalf("validate garbage: %d %q", r.status, r.body)
	}
}

// IDP-TOK-1 / IDP-TOK-2 / ATK-9: alg=none, HS256 keyed with the public
// key, and a token pointing at an attacker's key via jwk/jku are rejected.
func TestForgedTokensRejected(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	at, _ := f.mustLogin()
	claims, parsed := f.verify(at)
	kid := parsed.Header["kid"].(string)
	validate := func(tok string) int {
		req := mustReq("GET", f.idp.URL+"/api/jwt/validate")
		req.Header.Set("Authorization", "Bearer "+tok)
		return f.do(req).status
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	none.Header["kid"], none.Header["typ"] = kid, "at+jwt" // only the alg is wrong
	s, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if validate(s) != 401 {
		t.Error("IDP-TOK-1: alg=none accepted")
	}
	r := f.do(mustReq("GET", f.idp.URL+"/api/jwt/public-key?kid="+kid))
	pemKey := r.json(t)["publicKey"].(string)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	hs.Header["kid"], hs.Header["typ"] = kid, "at+jwt"
	s, _ = hs.SignedString([]byte(pemKey))
	if validate(s) != 401 {
		t.Error("IDP-TOK-1: HS256 keyed with the public key accepted")
	}
	// An attacker's own ES256 key, advertised in the header.
	var attacker jose.JSONWebKey
	priv, _ := x509.ParseECPrivateKey(mustECKey(t))
	attacker = jose.JSONWebKey{Key: priv.Public(), KeyID: "evil", Algorithm: "ES256"}
	es := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	es.Header["kid"], es.Header["typ"] = "evil", "at+jwt"
	es.Header["jwk"] = attacker
	es.Header["jku"] = "http://127.0.0.1:1/evil.json"
	s, _ = es.SignedString(priv)
	if validate(s) != 401 {
		t.Error("IDP-TOK-2: token with attacker's jwk/jku accepted")
	}
}

// IDP-TOK-7: after rotation, old tokens verify and new ones carry the new
// kid; the JWKS publishes both.
func TestSigningKeyRotation(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	old, _ := f.mustLogin()
	_, p := f.verify(old)
	kid, err := f.idp.Server.RotateSigningKey(context.Background(), "EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := f.mustLogin()
	_, p2 := f.verify(fresh)
	if p2.Header["kid"] != kid || p2.Method.Alg() != "EdDSA" || p.Header["kid"] == kid {
		t.Fatalf("kids: old %v new %v want %s", p.Header["kid"], p2.Header["kid"], kid)
	}
	f.verify(old) // still verifies through the JWKS
	req := mustReq("GET", f.idp.URL+"/api/jwt/validate")
	req.Header.Set("Authorization", "Bearer "+old)
	if r := f.do(req); r.status != 200 {
		t.Fatalf("old token after rotation: %d", r.status)
	}
	r := f.do(mustReq("GET", f.idp.URL+"/api/jwt/public-key"))
	if keys := r.json(t)["publicKeys"].(map[string]any); len(keys) != 2 {
		t.Fatalf("public keys: %v", keys)
	}
	if _, err := f.idp.Server.RotateSigningKey(context.Background(), "RS256"); err != nil {
		t.Fatal(err)
	}
	rs, _ := f.mustLogin()
	if _, p := f.verify(rs); p.Method.Alg() != "RS256" {
		t.Fatal("RS256 key not used")
	}
}

func TestDiscovery(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	r := f.do(mustReq("GET", f.idp.URL+"/.well-known/openid-configuration"))
	m := r.json(t)
	if m["issuer"] != f.idp.URL || m["token_endpoint"] != f.idp.URL+"/oauth2/token" || m["jwks_uri"] == nil {
		t.Fatalf("discovery: %v", m)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := f.do(mustReq("GET", f.idp.URL+p)); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
	r = f.do(mustReq("GET", f.idp.URL+"/metrics"))
	if !strings.Contains(string(r.body), "gatehouse_idp_http_requests_total") {
		t.Error("metrics missing request counter")
	}
}

func TestUserAdminAPI(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	r := f.api("POST", "/api/user", `{"user":{"email":"Carol@Example.com","password":"her own long passphrase","firstName":"Carol","data":{"plan":"gold"}},"skipVerification":true}`)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if strings.Contains(string(r.body), "passphrase") || strings.Contains(string(r.body), "argon2") {
		t.Fatal("user response leaks the password or its hash")
	}
	id := r.json(t)["user"].(map[string]any)["id"].(string)
	cases := []struct{ body, want string }{
		{`{"user":{"email":"carol@example.com","password":"another long passphrase"}}`, "[duplicate]user.email"},
		{`{"user":{"email":"dave@example.com","password":"fourteen chars"}}`, "[tooShort]user.password"},
		{`{"user":{"email":"not an email","password":"a long enough passphrase"}}`, "[notEmail]user.email"},
		{`{"user":{"password":"a long enough passphrase"}}`, "[blank]user.email"},
		{`{"user":`, "[invalid]body"},
	}
	for _, c := range cases {
		if r := f.api("POST", "/api/user", c.body); r.status != 400 || !strings.Contains(string(r.body), c.want) {
			t.Errorf("%s: %d %s", c.want, r.status, r.body)
		}
	}
	if r := f.api("GET", "/api/user?email=carol@example.com", ""); r.status != 200 {
		t.Fatalf("get by email: %d", r.status)
	}
	if r := f.api("GET", "/api/user/"+id, ""); r.status != 200 {
		t.Fatalf("get by id: %d", r.status)
	}
	if r := f.api("GET", "/api/user/00000000-0000-4000-8000-000000000000", ""); r.status != 404 || len(r.body) != 0 {
		t.Fatalf("missing user: %d", r.status)
	}
	r = f.api("POST", "/api/user/registration/"+id, `{"registration":{"applicationId":"`+f.clientID+`","roles":["admin"]}}`)
	if r.status != 200 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if r := f.api("POST", "/api/user/registration/"+id, `{"registration":{"applicationId":"`+f.clientID+`"}}`); r.status != 400 {
		t.Fatalf("duplicate registration: %d", r.status)
	}
	r = f.api("POST", "/api/application", `{"application":{"name":"Billing","oauthConfiguration":{"enabledGrants":["password"]}}}`)
	if r.status != 200 {
		t.Fatalf("create app: %d %s", r.status, r.body)
	}
	oc := r.json(t)["application"].(map[string]any)["oauthConfiguration"].(map[string]any)
	if len(oc["clientSecret"].(string)) < 43 {
		t.Fatalf("IDP-CLI-1: client secret shorter than 256 bits: %v", oc["clientSecret"])
	}
	if r := f.api("PATCH", "/api/user/"+id, `{"user":{"active":false}}`); r.status != 200 || r.json(t)["user"].(map[string]any)["active"] != false {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	if r := f.api("DELETE", "/api/user/"+id+"?hardDelete=true", ""); r.status != 200 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := f.api("GET", "/api/user/"+id, ""); r.status != 404 {
		t.Fatalf("after delete: %d", r.status)
	}
}

// IDP-HASH-2: a user imported with FusionAuth's salted-pbkdf2-hmac-sha256
// logs in, and the hash is upgraded to argon2id at that login.
func TestImportedPBKDF2UserIsRehashed(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	salt := make([]byte, 32)
	_, _ = rand.Read(salt)
	const pw = "imported user passphrase"
	key, _ := pbkdf2.Key(sha256.New, pw, salt, 24000, 32)
	body, _ := json.Marshal(map[string]any{"users": []map[string]any{{
		"email": "imported@example.com", "password": base64.StdEncoding.EncodeToString(key),
		"encryptionScheme": "salted-pbkdf2-hmac-sha256", "factor": 24000, "salt": base64.StdEncoding.EncodeToString(salt),
		"registrations": []map[string]any{{"applicationId": f.clientID, "roles": []string{}}},
	}}})
	if r := f.api("POST", "/api/user/import", string(body)); r.status != 200 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	r := f.form("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"imported@example.com"}, "password": {pw},
		"client_id": {f.clientID}, "client_secret": {f.secret}})
	if r.status != 200 {
		t.Fatalf("login with imported hash: %d %s", r.status, r.body)
	}
	u, err := f.idp.Store.GetUserByLogin(context.Background(), "imported@example.com")
	if err != nil {
		t.Fatal(err)
	}
	info, err := password.Inspect(u.PasswordHash)
	if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Fatalf("hash not upgraded: %v %v", info, err)
	}
	if r := f.api("POST", "/api/user/import", `{"users":[{"email":"x@example.com","password":"abc","encryptionScheme":"salted-md5"}]}`); r.status != 400 {
		t.Fatalf("unsupported scheme: %d", r.status)
	}
}

func TestLogoutEndpoint(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	_, rt := f.mustLogin()
	req, _ := http.NewRequest("POST", f.idp.URL+"/api/logout?refreshToken="+rt, nil)
	req.Header.Set("Content-Type", "text/plain")
	if r := f.do(req); r.status != 200 {
		t.Fatalf("logout: %d", r.status)
	}
	wantOAuthError(t, f.refresh(rt), 400, "invalid_grant", "refresh_token_not_found")
	// Always 200, even with nothing to revoke.
	if r := f.do(mustReq("POST", f.idp.URL+"/api/logout")); r.status != 200 {
		t.Fatalf("empty logout: %d", r.status)
	}
}
