package idpclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
)

// seen is one request as the fake IdP received it.
type seen struct {
	method, path, query, auth, xff, ctype string
	body                                  map[string]any
}

// recordAPI answers pattern with status and answer, recording each request.
func recordAPI(f *fakeIdP, pattern string, status int, answer string) func() []seen {
	var mu sync.Mutex
	var got []seen
	f.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, auth: r.Header.Get("Authorization"),
			xff: r.Header.Get("X-Forwarded-For"), ctype: r.Header.Get("Content-Type")}
		if b, _ := io.ReadAll(r.Body); len(b) > 0 {
			if err := json.Unmarshal(b, &s.body); err != nil {
				f.t.Errorf("%s: body is not JSON: %q", pattern, b)
			}
		}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	})
	return func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func one(t *testing.T, name string, got []seen) seen {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("%s: %d requests, want 1", name, len(got))
	}
	return got[0]
}

func wantBody(t *testing.T, name string, s seen, want map[string]any) {
	t.Helper()
	if !reflect.DeepEqual(s.body, want) {
		t.Errorf("%s: body %v, want %v", name, s.body, want)
	}
	if want != nil && s.ctype != "application/json" {
		t.Errorf("%s: Content-Type %q", name, s.ctype)
	}
}

const userAnswer = `{"user":{"id":"u-1","email":"ann@example.com","verified":true,"active":true,"passwordChangeRequired":false}}`

// TestAccountCallsRequestShape: each account call sends FusionAuth's method,
// path, query and JSON body, the API key exactly where the IdP needs one,
// and the browser's address in X-Forwarded-For where it is given.
func TestAccountCallsRequestShape(t *testing.T) {
	ctx := context.Background()
	f := newFakeIdP(t)
	c := f.client(t, func(c *Config) { c.APIKey = "app-key" })
	app := testClientID

	reg := recordAPI(f, "POST /api/user/registration", 200, `{"user":{"id":"u-1","email":"ann@example.com","active":true},"registration":{"applicationId":"`+app+`"}}`)
	u, err := c.Register(ctx, "ann@example.com", "a long passphrase here", "203.0.113.9")
	if err != nil || *u != (User{ID: "u-1", Email: "ann@example.com", Active: true}) {
		t.Fatalf("Register: %+v %v", u, err)
	}
	s := one(t, "Register", reg())
	wantBody(t, "Register", s, map[string]any{"user": map[string]any{"email": "ann@example.com", "password": "a long passphrase here"},
		"registration": map[string]any{"applicationId": app}})
	if s.auth != "app-key" || s.xff != "203.0.113.9" {
		t.Errorf("Register: auth %q xff %q", s.auth, s.xff)
	}

	get := recordAPI(f, "GET /api/user/u-1", 200, userAnswer)
	if u, err := c.GetUser(ctx, "u-1"); err != nil || *u != (User{ID: "u-1", Email: "ann@example.com", Verified: true, Active: true}) {
		t.Fatalf("GetUser: %+v %v", u, err)
	}
	if s := one(t, "GetUser", get()); s.path != "/api/user/u-1" || s.auth != "app-key" || s.body != nil {
		t.Errorf("GetUser: %+v", s)
	}

	byID := recordAPI(f, "GET /api/user", 200, userAnswer)
	if u, err := c.UserByChangePasswordID(ctx, "reset id/+="); err != nil || u.Email != "ann@example.com" {
		t.Fatalf("UserByChangePasswordID: %+v %v", u, err)
	}
	if s := one(t, "UserByChangePasswordID", byID()); s.query != "changePasswordId=reset+id%2F%2B%3D" || s.auth != "app-key" {
		t.Errorf("UserByChangePasswordID: %+v", s)
	}

	forgot := recordAPI(f, "POST /api/user/forgot-password", 200, `{}`)
	if err := c.ForgotPassword(ctx, "ann@example.com", "::ffff:198.51.100.7"); err != nil {
		t.Fatalf("ForgotPassword: %v", err)
	}
	s = one(t, "ForgotPassword", forgot())
	wantBody(t, "ForgotPassword", s, map[string]any{"loginId": "ann@example.com", "applicationId": app, "sendForgotPasswordEmail": true})
	if s.auth != "app-key" || s.xff != "198.51.100.7" {
		t.Errorf("ForgotPassword: auth %q xff %q", s.auth, s.xff)
	}

	reset := recordAPI(f, "POST /api/user/change-password/the-reset-id", 200, `{}`)
	if err := c.ResetPassword(ctx, "the-reset-id", "a brand new passphrase", "203.0.113.9"); err != nil {
		t.Fatalf("ResetPassword: %v", err)
	}
	s = one(t, "ResetPassword", reset())
	wantBody(t, "ResetPassword", s, map[string]any{"password": "a brand new passphrase"})
	if s.path != "/api/user/change-password/the-reset-id" || s.auth != "" || s.xff != "203.0.113.9" {
		t.Errorf("ResetPassword: %+v (the reset id is the credential: no API key)", s)
	}

	change := recordAPI(f, "POST /api/user/change-password", 200, `{}`)
	if err := c.ChangePassword(ctx, "ann@example.com", "old passphrase", "new passphrase", "203.0.113.9"); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	s = one(t, "ChangePassword", change())
	wantBody(t, "ChangePassword", s, map[string]any{"loginId": "ann@example.com", "currentPassword": "old passphrase",
		"password": "new passphrase", "applicationId": app})
	if s.auth != "app-key" || s.xff != "203.0.113.9" {
		t.Errorf("ChangePassword: auth %q xff %q", s.auth, s.xff)
	}

	email := recordAPI(f, "POST /api/user/change-email", 200, `{}`)
	if err := c.ChangeEmail(ctx, "ann@example.com", "old passphrase", "ann@new.example", ""); err != nil {
		t.Fatalf("ChangeEmail: %v", err)
	}
	s = one(t, "ChangeEmail", email())
	wantBody(t, "ChangeEmail", s, map[string]any{"loginId": "ann@example.com", "currentPassword": "old passphrase",
		"email": "ann@new.example", "applicationId": app})
	if s.auth != "app-key" || s.xff != "" {
		t.Errorf("ChangeEmail: auth %q xff %q", s.auth, s.xff)
	}

	verify := recordAPI(f, "POST /api/user/verify-email", 200, `{}`)
	if err := c.VerifyEmail(ctx, "the-verification-id"); err != nil {
		t.Fatalf("VerifyEmail: %v", err)
	}
	s = one(t, "VerifyEmail", verify())
	wantBody(t, "VerifyEmail", s, map[string]any{"verificationId": "the-verification-id"})
	if s.auth != "" {
		t.Errorf("VerifyEmail sent the API key")
	}

	resend := recordAPI(f, "PUT /api/user/verify-email", 200, `{}`)
	if err := c.ResendVerification(ctx, "ann+x@example.com"); err != nil {
		t.Fatalf("ResendVerification: %v", err)
	}
	s = one(t, "ResendVerification", resend())
	if s.query != "applicationId="+app+"&email=ann%2Bx%40example.com&sendVerifyEmail=true" || s.auth != "app-key" || s.body != nil {
		t.Errorf("ResendVerification: %+v", s)
	}
}

// TestAccountCallsNeedAPIKey: without Config.APIKey the keyed calls fail
// with ErrNoAPIKey before any request; the id-authenticated ones still go.
func TestAccountCallsNeedAPIKey(t *testing.T) {
	ctx := context.Background()
	f := newFakeIdP(t)
	c := f.client(t, nil)
	var mu sync.Mutex
	n := 0
	count := func() int { mu.Lock(); defer mu.Unlock(); return n }
	for _, p := range []string{"POST /api/user/registration", "GET /api/user/u", "GET /api/user", "POST /api/user/forgot-password",
		"POST /api/user/change-password", "POST /api/user/change-email", "PUT /api/user/verify-email",
		"POST /api/user/verify-email", "POST /api/user/change-password/id"} {
		f.handle(p, func(w http.ResponseWriter, r *http.Request) { mu.Lock(); n++; mu.Unlock(); w.WriteHeader(200) })
	}
	for name, err := range map[string]error{
		"Register":               func() error { _, err := c.Register(ctx, "a@example.com", "pw", ""); return err }(),
		"GetUser":                func() error { _, err := c.GetUser(ctx, "u"); return err }(),
		"UserByChangePasswordID": func() error { _, err := c.UserByChangePasswordID(ctx, "x"); return err }(),
		"ForgotPassword":         c.ForgotPassword(ctx, "a@example.com", ""),
		"ChangePassword":         c.ChangePassword(ctx, "a@example.com", "a", "b", ""),
		"ChangeEmail":            c.ChangeEmail(ctx, "a@example.com", "a", "b@example.com", ""),
		"ResendVerification":     c.ResendVerification(ctx, "a@example.com"),
	} {
		if !errors.Is(err, ErrNoAPIKey) {
			t.Errorf("%s without a key: %v", name, err)
		}
	}
	if count() != 0 {
		t.Errorf("%d requests sent without a key", count())
	}
	if err := c.VerifyEmail(ctx, "id"); err != nil {
		t.Errorf("VerifyEmail needs no key: %v", err)
	}
	if err := c.ResetPassword(ctx, "id", "pw", ""); err != nil {
		t.Errorf("ResetPassword needs no key: %v", err)
	}
	// Empty ids are unknown ids, without asking.
	before := count()
	if err := c.VerifyEmail(ctx, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyEmail(\"\"): %v", err)
	}
	if err := c.ResetPassword(ctx, "", "pw", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResetPassword(\"\"): %v", err)
	}
	if count() != before {
		t.Errorf("empty ids sent to the IdP")
	}
}

// TestAccountErrorMapping: the IdP's answers become the documented kinds,
// with every field-error code in Error.Fields and no message text kept.
func TestAccountErrorMapping(t *testing.T) {
	ctx := context.Background()
	f := newFakeIdP(t)
	c := f.client(t, func(c *Config) { c.APIKey = "app-key" })
	fe := func(field string, codes ...string) string {
		var list []string
		for _, code := range codes {
			list = append(list, `{"code":"`+code+`","message":"secret-ish text"}`)
		}
		return `{"fieldErrors":{"` + field + `":[` + strings.Join(list, ",") + `]}}`
	}
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   error
		fields []string
	}{
		{"duplicate email", 400, fe("user.email", "[duplicate]user.email"), ErrDuplicate, []string{"[duplicate]user.email"}},
		{"policy", 400, fe("user.password", "[tooShort]user.password", "[breachedCommonPassword]user.password"), ErrInvalidInput,
			[]string{"[breachedCommonPassword]user.password", "[tooShort]user.password"}},
		{"two fields, one duplicate", 400, `{"fieldErrors":{"user.password":[{"code":"[tooShort]user.password"}],"user.email":[{"code":"[duplicate]user.email"}]}}`,
			ErrDuplicate, []string{"[duplicate]user.email", "[tooShort]user.password"}},
		{"400 general error only", 400, `{"generalErrors":[{"code":"[invalid]","message":"x"}]}`, ErrRejected, nil},
		{"404", 404, ``, ErrNotFound, nil},
		{"401 key refused", 401, ``, ErrRejected, nil},
		{"429", 429, `{"generalErrors":[{"code":"[TooManyRequests]"}]}`, ErrThrottled, nil},
		{"500", 500, `oops`, ErrUnavailable, nil},
		{"200 not json", 200, `not json`, ErrUnavailable, nil},
		{"200 without a user", 200, `{}`, ErrUnavailable, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.handle("POST /api/user/registration", oauthAnswer(tt.status, tt.body))
			_, err := c.Register(ctx, "ann@example.com", "pw", "")
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("not an *Error: %v", err)
			}
			if !slices.Equal(e.Fields, tt.fields) {
				t.Fatalf("fields = %v, want %v", e.Fields, tt.fields)
			}
			if strings.Contains(err.Error(), "secret-ish") {
				t.Errorf("the IdP's message text is kept: %v", err)
			}
		})
	}
}

// TestChangePasswordWrongCurrentIsInvalidCredentials: the IdP's
// "[invalid]currentPassword" is ErrInvalidCredentials for both calls that
// prove the current password; a policy refusal stays ErrInvalidInput.
func TestChangePasswordWrongCurrentIsInvalidCredentials(t *testing.T) {
	ctx := context.Background()
	f := newFakeIdP(t)
	c := f.client(t, func(c *Config) { c.APIKey = "app-key" })
	wrong := `{"fieldErrors":{"currentPassword":[{"code":"[invalid]currentPassword","message":"x"}]}}`
	f.handle("POST /api/user/change-password", oauthAnswer(400, wrong))
	f.handle("POST /api/user/change-email", oauthAnswer(400, wrong))
	if err := c.ChangePassword(ctx, "a@example.com", "bad", "new passphrase", ""); !errors.Is(err, ErrInvalidCredentials) || errors.Is(err, ErrInvalidInput) {
		t.Errorf("ChangePassword wrong current: %v", err)
	}
	if err := c.ChangeEmail(ctx, "a@example.com", "bad", "b@example.com", ""); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("ChangeEmail wrong current: %v", err)
	}
	f.handle("POST /api/user/change-password", oauthAnswer(400, `{"fieldErrors":{"password":[{"code":"[tooShort]password"}]}}`))
	err := c.ChangePassword(ctx, "a@example.com", "good", "short", "")
	var e *Error
	if !errors.Is(err, ErrInvalidInput) || !errors.As(err, &e) || !slices.Equal(e.Fields, []string{"[tooShort]password"}) {
		t.Errorf("ChangePassword policy: %v", err)
	}
	f.handle("POST /api/user/change-email", oauthAnswer(400, `{"fieldErrors":{"email":[{"code":"[invalid]email"}]}}`))
	if err := c.ChangeEmail(ctx, "a@example.com", "good", "nope", ""); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("ChangeEmail malformed: %v", err)
	}
	// A reset id that is unknown, expired or used.
	f.handle("POST /api/user/change-password/gone", oauthAnswer(404, ``))
	if err := c.ResetPassword(ctx, "gone", "a brand new passphrase", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("ResetPassword unknown id: %v", err)
	}
}

// TestAPIKeyPermissionsMinimal (AUD-13): the app key's permissions are
// exactly the endpoints and methods the client's keyed calls use (the
// account calls here, the second factor's and the passkeys' in
// twofactor.go and webauthn.go).
func TestAPIKeyPermissionsMinimal(t *testing.T) {
	want := map[string][]string{
		"/api/jwt/refresh":          {"DELETE"},
		"/api/user":                 {"GET"},
		"/api/user/registration":    {"POST"},
		"/api/user/verify-email":    {"PUT"},
		"/api/user/forgot-password": {"POST"},
		"/api/user/change-password": {"POST"},
		"/api/user/change-email":    {"POST"},
	}
	maps.Copy(want, twoFactorPermissions())
	maps.Copy(want, passkeyPermissions())
	if got := APIKeyPermissions(); !reflect.DeepEqual(got, want) {
		t.Fatalf("APIKeyPermissions() = %v, want %v", got, want)
	}
}
