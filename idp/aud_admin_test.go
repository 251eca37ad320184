package idp_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// apiWith calls path with the given API key.
func (f *fixture) apiWith(key, method, path, body string) *response {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.idp.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return f.do(req)
}

func (f *fixture) scopedKey(endpoints map[string][]string) string {
	f.t.Helper()
	key, _, err := f.idp.Server.Admin().CreateScopedAPIKey(f.t.(*testing.T).Context(), "scoped", store.APIKeyPermissions{Endpoints: endpoints})
	if err != nil {
		f.t.Fatalf("CreateScopedAPIKey: %v", err)
	}
	return key
}

func want401Empty(t *testing.T, what string, r *response) {
	t.Helper()
	if r.status != http.StatusUnauthorized || len(r.body) != 0 {
		t.Errorf("%s: %d %q, want 401 with an empty body", what, r.status, r.body)
	}
}

// TestAUD13_AppKeyRefusedOutsideItsPermissions: an app's key (the
// permissions idpclient's calls need, as the demo gives the Store and the
// Forums) still revokes tokens but is refused with 401 at user creation
// outside a registration, user updates (an admin password change), user
// deletion, imports, token listing and key creation. (It may read users:
// the account pages do, issue 11.)
func TestAUD13_AppKeyRefusedOutsideItsPermissions(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	app := f.scopedKey(idpclient.APIKeyPermissions())
	newUser := `{"user":{"email":"mallory@example.com","password":"a long enough passphrase"}}`

	want401Empty(t, "POST /api/user", f.apiWith(app, "POST", "/api/user", newUser))
	want401Empty(t, "DELETE /api/user/{id}", f.apiWith(app, "DELETE", "/api/user/"+f.userID, ""))
	want401Empty(t, "PUT /api/user/{id}", f.apiWith(app, "PUT", "/api/user/"+f.userID, `{"user":{"password":"attacker's new passphrase"}}`))
	want401Empty(t, "POST /api/user/import", f.apiWith(app, "POST", "/api/user/import", `{"users":[]}`))
	want401Empty(t, "GET /api/jwt/refresh", f.apiWith(app, "GET", "/api/jwt/refresh?userId="+f.userID, ""))
	want401Empty(t, "POST /api/api-key", f.apiWith(app, "POST", "/api/api-key", `{"apiKey":{}}`))
	if _, err := f.idp.Store.GetUserByLogin(t.Context(), "mallory@example.com"); err == nil {
		t.Fatal("the app key created a user")
	}

	// What the app does need still works, through the real client.
	c, err := idpclient.New(idpclient.Config{BaseURL: f.idp.URL, ClientID: f.clientID, ClientSecret: f.secret, APIKey: app, Issuer: f.idp.URL})
	if err != nil {
		t.Fatal(err)
	}
	f.mustLogin()
	if err := c.RevokeUser(t.Context(), f.userID); err != nil {
		t.Fatalf("RevokeUser with the app key: %v", err)
	}
	f.mustLogin()
	list, _ := f.idp.Store.ListRefreshTokens(t.Context(), f.userID)
	if len(list) != 1 {
		t.Fatalf("families = %d", len(list))
	}
	if err := c.RevokeRefreshTokenID(t.Context(), list[0].ID); err != nil {
		t.Fatalf("RevokeRefreshTokenID with the app key: %v", err)
	}
	if list, _ = f.idp.Store.ListRefreshTokens(t.Context(), f.userID); len(list) != 0 {
		t.Fatalf("families after revoke = %d", len(list))
	}

	// The operator's super key still reaches everything.
	if r := f.api("POST", "/api/user", newUser); r.status != http.StatusOK {
		t.Fatalf("super key POST /api/user: %d %s", r.status, r.body)
	}
}

// TestAUD13_EndpointMatching documents what an endpoint covers: its path
// parameters (/api/user -> /api/user/{id}), not other fixed paths
// (/api/user/import, /api/user/registration), and only the listed methods.
func TestAUD13_EndpointMatching(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	key := f.scopedKey(map[string][]string{"/api/user": {"get"}, "/api/user/registration/": {"GET"}})
	if r := f.apiWith(key, "GET", "/api/user/"+f.userID, ""); r.status != http.StatusOK {
		t.Errorf("GET /api/user/{id}: %d", r.status)
	}
	if r := f.apiWith(key, "GET", "/api/user?email="+f.email, ""); r.status != http.StatusOK {
		t.Errorf("GET /api/user?email=: %d", r.status)
	}
	if r := f.apiWith(key, "GET", "/api/user/registration/"+f.userID+"/"+f.clientID, ""); r.status != http.StatusOK {
		t.Errorf("GET /api/user/registration/{u}/{a}: %d", r.status)
	}
	want401Empty(t, "PATCH /api/user/{id}", f.apiWith(key, "PATCH", "/api/user/"+f.userID, `{"user":{"firstName":"X"}}`))
	want401Empty(t, "DELETE /api/user/{id}", f.apiWith(key, "DELETE", "/api/user/"+f.userID, ""))
	want401Empty(t, "POST /api/user/import", f.apiWith(key, "POST", "/api/user/import", `{"users":[]}`))
	want401Empty(t, "DELETE /api/user/registration", f.apiWith(key, "DELETE", "/api/user/registration/"+f.userID+"/"+f.clientID, ""))
	want401Empty(t, "GET /api/application", f.apiWith(key, "GET", "/api/application", ""))
}

// TestAUD13_APIKeyAPI: POST /api/api-key in FusionAuth's shape; a key can
// only create keys within its own permissions (never a super key), and
// unknown endpoints or methods are field errors.
func TestAUD13_APIKeyAPI(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{})
	r := f.api("POST", "/api/api-key", `{"apiKey":{"permissions":{"endpoints":{"/api/user":["GET"],"/api/api-key":["POST"]}},"metaData":{"attributes":{"description":"support desk"}}}}`)
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var out struct {
		APIKey struct {
			ID, Key     string
			Permissions struct{ Endpoints map[string][]string }
			MetaData    struct{ Attributes struct{ Description string } }
		}
	}
	if err := json.Unmarshal(r.body, &out); err != nil || len(out.APIKey.Key) < 43 || out.APIKey.MetaData.Attributes.Description != "support desk" ||
		len(out.APIKey.Permissions.Endpoints["/api/user"]) != 1 {
		t.Fatalf("answer %s (%v)", r.body, err)
	}
	desk := out.APIKey.Key
	want401Empty(t, "scoped key POST /api/user", f.apiWith(desk, "POST", "/api/user", `{"user":{"email":"x@example.com","password":"a long enough passphrase"}}`))
	want401Empty(t, "scoped key creates a super key", f.apiWith(desk, "POST", "/api/api-key", `{"apiKey":{}}`))
	want401Empty(t, "scoped key widens itself", f.apiWith(desk, "POST", "/api/api-key", `{"apiKey":{"permissions":{"endpoints":{"/api/user":["GET","POST"]}}}}`))
	if r := f.apiWith(desk, "POST", "/api/api-key", `{"apiKey":{"permissions":{"endpoints":{"/api/user":["GET"]}}}}`); r.status != http.StatusOK {
		t.Errorf("scoped key creates a narrower key: %d %s", r.status, r.body)
	}
	for name, body := range map[string]string{
		"unknown endpoint":  `{"apiKey":{"permissions":{"endpoints":{"/api/nope":["GET"]}}}}`,
		"unknown method":    `{"apiKey":{"permissions":{"endpoints":{"/api/user":["BREW"]}}}}`,
		"no methods":        `{"apiKey":{"permissions":{"endpoints":{"/api/user":[]}}}}`,
		"method not routed": `{"apiKey":{"permissions":{"endpoints":{"/api/jwt/refresh":["PUT"]}}}}`,
		"short key":         `{"apiKey":{"key":"short"}}`,
	} {
		r := f.api("POST", "/api/api-key", body)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"fieldErrors"`) || !strings.Contains(string(r.body), `apiKey.`) {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
}

// TestAUD13_APIEndpointOfRoutes pins the endpoint rule on route patterns,
// including routes with a fixed segment after a parameter.
func TestAUD13_APIEndpointOfRoutes(t *testing.T) {
	for pattern, want := range map[string]string{
		"POST /api/user":            "/api/user",
		"GET /api/user/{id}":        "/api/user",
		"PUT /api/user/{id}/unlock": "/api/user",
		"POST /api/user/import":     "/api/user/import",
		"DELETE /api/user/registration/{userId}/{applicationId}": "/api/user/registration",
		"DELETE /api/jwt/refresh/{id}":                           "/api/jwt/refresh",
	} {
		if got := idp.APIEndpoint(pattern); got != want {
			t.Errorf("APIEndpoint(%q) = %q, want %q", pattern, got, want)
		}
	}
}
