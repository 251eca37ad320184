package idpclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestNewRefusesPlainHTTP(t *testing.T) {
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://idp.example.com", true},
		{"https://idp.example.com:9011/base/", true},
		{"http://127.0.0.1:9011", true},
		{"http://localhost:9011", true},
		{"http://[::1]:9011", true},
		{"http://idp.example.com", false},
		{"http://10.0.0.1:9011", false},
		{"http://127.0.0.1.evil.example", false},
		{"ftp://idp.example.com", false},
		{"idp.example.com", false},
		{"https://user:pw@idp.example.com", false},
		{"", false},
	} {
		_, err := New(Config{BaseURL: tt.url, ClientID: "c"})
		if (err == nil) != tt.ok {
			t.Errorf("New(%q) err = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
	if _, err := New(Config{BaseURL: "https://idp.example.com", ClientID: "c", JWKSURL: "http://keys.example.com/jwks"}); err == nil {
		t.Error("plain-http JWKS URL accepted")
	}
	if _, err := New(Config{BaseURL: "https://idp.example.com", ClientID: "c", ClockSkew: 2 * time.Minute}); err == nil {
		t.Error("ClockSkew above 60 s accepted (IDP-TOK-3)")
	}
	// design §7: zero means the default; a negative duration is refused.
	if _, err := New(Config{BaseURL: "https://idp.example.com", ClientID: "c", Timeout: -time.Second}); err == nil {
		t.Error("negative Timeout accepted")
	}
}

// tokenEndpoint answers the token endpoint with status and body, and
// serves a valid token for 200.
func oauthAnswer(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

func TestPasswordLoginErrorClassification(t *testing.T) {
	f := newFakeIdP(t)
	c := f.client(t, func(c *Config) { c.Issuer = testIssuer })
	tests := []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"invalid_user_credentials", 400, `{"error":"invalid_grant","error_reason":"invalid_user_credentials","error_description":"The user credentials are invalid."}`, ErrInvalidCredentials},
		{"login_prevented is locked", 400, `{"error":"invalid_grant","error_reason":"login_prevented"}`, ErrLocked},
		{"user_locked is locked", 400, `{"error":"invalid_grant","error_reason":"user_locked"}`, ErrLocked},
		{"user_expired is rejected credentials", 400, `{"error":"invalid_grant","error_reason":"user_expired"}`, ErrInvalidCredentials},
		{"invalid_client is a rejection (config)", 401, `{"error":"invalid_client","error_reason":"invalid_client_authentication"}`, ErrRejected},
		{"change_password_required is a rejection", 400, `{"error":"change_password_required","error_reason":"change_password_administrative"}`, ErrRejected},
		{"429 throttled", 429, `{"error":"too_many_requests"}`, ErrThrottled},
		{"500", 500, `{"error":"server_error"}`, ErrUnavailable},
		{"502 html", 502, `<html>bad gateway</html>`, ErrUnavailable},
		{"200 without a token", 200, `{"token_type":"Bearer"}`, ErrUnavailable},
		{"200 garbage", 200, `not json`, ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.handle("POST /oauth2/token", oauthAnswer(tt.status, tt.body))
			_, err := c.PasswordLogin(context.Background(), "a@example.com", "correct horse battery staple", "203.0.113.9")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			// APP-LOGIN-4: the IdP's description never reaches the error text.
			if strings.Contains(err.Error(), "credentials are invalid") || strings.Contains(err.Error(), "correct horse") {
				t.Fatalf("error text leaks IdP description or password: %q", err)
			}
		})
	}
}

func TestPasswordLoginNetworkAndTimeout(t *testing.T) {
	f := newFakeIdP(t)
	c := f.client(t, func(c *Config) { c.Issuer = testIssuer; c.Timeout = 200 * time.Millisecond })
	release := make(chan struct{})
	f.handle("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	start := time.Now()
	_, err := c.PasswordLogin(context.Background(), "a@example.com", "pw-pw-pw-pw-pw-pw", "")
	close(release)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("timeout: err = %v, want ErrUnavailable", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("timeout not applied")
	}
	f.srv.Close()
	_, err = c.PasswordLogin(context.Background(), "a@example.com", "pw-pw-pw-pw-pw-pw", "")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("connection refused: err = %v, want ErrUnavailable", err)
	}
}

// TestPasswordLoginRequest checks what is sent: grant, scope, client
// authentication in either style, and the browser IP in X-Forwarded-For
// (IDP-BF-3); and that the answer is verified and decoded.
func TestPasswordLoginRequest(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		f := newFakeIdP(t)
		now := time.Now()
		k := newES256(t, "k1")
		f.publish(k.kid, "ES256", k.key.Public())
		access := k.sign(t, goodClaims(now), nil)
		f.handle("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "expires_in": 600, "refresh_token": "rt-1", "refresh_token_id": "rtid-1", "token_type": "Bearer", "userId": "user-1"})
		})
		c := f.client(t, func(c *Config) { c.AuthStyle = style })
		tok, err := c.PasswordLogin(context.Background(), "a@example.com", "correct horse battery staple", "203.0.113.9")
		if err != nil {
			t.Fatalf("style %v: %v", style, err)
		}
		if tok.RefreshToken != "rt-1" || tok.RefreshTokenID != "rtid-1" || tok.Claims.Subject != "user-1" || tok.AccessToken != access {
			t.Fatalf("tokens = %+v", tok)
		}
		// Inspect the token request itself (the JWKS fetch follows it).
		var gotXFF, gotAuth string
		var gotForm map[string][]string
		f.handle("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
			gotXFF = r.Header.Get("X-Forwarded-For")
			gotAuth = r.Header.Get("Authorization")
			_ = r.ParseForm()
			gotForm = r.PostForm
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer"})
		})
		if _, err := c.PasswordLogin(context.Background(), "a@example.com", "correct horse battery staple", "203.0.113.9"); err != nil {
			t.Fatal(err)
		}
		if gotXFF != "203.0.113.9" {
			t.Errorf("X-Forwarded-For = %q", gotXFF)
		}
		get := func(k string) string {
			if v := gotForm[k]; len(v) > 0 {
				return v[0]
			}
			return ""
		}
		if get("grant_type") != "password" || get("username") != "a@example.com" || get("scope") != "offline_access" {
			t.Errorf("form = %v", gotForm)
		}
		if style == oauth2.AuthStyleInParams && (get("client_id") != testClientID || get("client_secret") == "" || gotAuth != "") {
			t.Errorf("in-params auth: form %v, Authorization %q", gotForm, gotAuth)
		}
		if style == oauth2.AuthStyleInHeader && (get("client_secret") != "" || !strings.HasPrefix(gotAuth, "Basic ")) {
			t.Errorf("header auth: form %v, Authorization %q", gotForm, gotAuth)
		}
		// A non-IP value is not forwarded (no header injection).
		if _, err := c.PasswordLogin(context.Background(), "a@example.com", "correct horse battery staple", "1.2.3.4\r\nX-Evil: 1"); err != nil {
			t.Fatal(err)
		}
		if gotXFF != "" {
			t.Errorf("bogus IP forwarded as %q", gotXFF)
		}
	}
}

func TestRefreshClassification(t *testing.T) {
	for _, method := range []RefreshMethod{RefreshOAuth2, RefreshJWT} {
		f := newFakeIdP(t)
		c := f.client(t, func(c *Config) { c.Issuer = testIssuer; c.RefreshMethod = method })
		path := "POST /oauth2/token"
		if method == RefreshJWT {
			path = "POST /api/jwt/refresh"
		}
		for _, tt := range []struct {
			status int
			body   string
			want   error
		}{
			{400, `{"error":"invalid_grant","error_reason":"refresh_token_not_found"}`, ErrRefreshTokenDead},
			{400, `{"fieldErrors":{"refreshToken":[{"code":"[invalid]refreshToken"}]}}`, ErrRefreshTokenDead},
			{401, `{"error":"invalid_client"}`, ErrRefreshTokenDead},
			{404, ``, ErrRefreshTokenDead},
			{429, ``, ErrThrottled},
			{500, `{"error":"server_error"}`, ErrUnavailable},
			{503, ``, ErrUnavailable},
		} {
			f.handle(path, oauthAnswer(tt.status, tt.body))
			_, err := c.Refresh(context.Background(), "rt-1", "203.0.113.9")
			if !errors.Is(err, tt.want) {
				t.Errorf("%s %d: err = %v, want %v", method, tt.status, err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "rt-1") {
				t.Errorf("error text leaks the refresh token: %q", err)
			}
		}
	}
}

func TestRefreshSuccessBothMethods(t *testing.T) {
	now := time.Now()
	for _, method := range []RefreshMethod{RefreshOAuth2, RefreshJWT} {
		f := newFakeIdP(t)
		k := newES256(t, "k1")
		f.publish(k.kid, "ES256", k.key.Public())
		access := k.sign(t, goodClaims(now), nil)
		var presented, xff string
		f.handle("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("client_id") != testClientID {
				w.WriteHeader(400)
				return
			}
			presented, xff = r.PostForm.Get("refresh_token"), r.Header.Get("X-Forwarded-For")
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "refresh_token": "rt-2", "refresh_token_id": "id", "token_type": "Bearer"})
		})
		f.handle("POST /api/jwt/refresh", func(w http.ResponseWriter, r *http.Request) {
			var in struct{ RefreshToken string }
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				w.WriteHeader(400)
				return
			}
			presented, xff = in.RefreshToken, r.Header.Get("X-Forwarded-For")
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"token": access, "refreshToken": "rt-2", "refreshTokenId": "id"})
		})
		c := f.client(t, func(c *Config) { c.RefreshMethod = method })
		tok, err := c.Refresh(context.Background(), "rt-1", "2001:db8::1")
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if presented != "rt-1" || xff != "2001:db8::1" || tok.RefreshToken != "rt-2" || tok.RefreshTokenID != "id" || tok.Claims.Subject != "user-1" {
			t.Fatalf("%s: presented %q xff %q tokens %+v", method, presented, xff, tok)
		}
	}
}

func TestRevoke(t *testing.T) {
	f := newFakeIdP(t)
	var got map[string][]string
	var status = 200
	f.handle("POST /oauth2/revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		got = r.PostForm
		w.WriteHeader(status)
	})
	var logoutBody map[string]any
	f.handle("POST /api/logout", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&logoutBody)
	})
	var apiAuth, apiQuery string
	f.handle("DELETE /api/jwt/refresh", func(w http.ResponseWriter, r *http.Request) {
		apiAuth, apiQuery = r.Header.Get("Authorization"), r.URL.RawQuery
	})
	c := f.client(t, nil)
	ctx := context.Background()
	if err := c.Revoke(ctx, "rt-1"); err != nil {
		t.Fatal(err)
	}
	if got["token"][0] != "rt-1" || got["token_type_hint"][0] != "refresh_token" || got["client_id"][0] != testClientID || got["client_secret"][0] == "" {
		t.Fatalf("revoke form = %v", got)
	}
	status = 503
	if err := c.Revoke(ctx, "rt-1"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("503: %v", err)
	}
	status = 401
	if err := c.Revoke(ctx, "rt-1"); !errors.Is(err, ErrRejected) {
		t.Fatalf("401: %v", err)
	}

	lc := f.client(t, func(c *Config) { c.RevokeMethod = RevokeLogout })
	if err := lc.Revoke(ctx, "rt-9"); err != nil || logoutBody["refreshToken"] != "rt-9" || logoutBody["global"] != false {
		t.Fatalf("logout revoke: %v %v", err, logoutBody)
	}

	if err := c.RevokeUser(ctx, "user-1"); !errors.Is(err, ErrNoAPIKey) {
		t.Fatalf("RevokeUser without key: %v", err)
	}
	kc := f.client(t, func(c *Config) { c.APIKey = "key-123" })
	if err := kc.RevokeUser(ctx, "user-1"); err != nil || apiAuth != "key-123" || apiQuery != "userId=user-1" {
		t.Fatalf("RevokeUser: %v auth %q query %q", err, apiAuth, apiQuery)
	}
}
