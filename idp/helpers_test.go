package idp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
)

const (
	testPassword = "correct horse battery staple"
	otherEmail   = "bob@example.com"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sink records events.
type sink struct {
	mu     sync.Mutex
	events []idp.Event
}

func (s *sink) Publish(_ context.Context, e idp.Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func (s *sink) Types() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, e := range s.events {
		out = append(out, e.Type+":"+e.Reason)
	}
	return out
}

// fixture is one IdP with one app and one user.
type fixture struct {
	t        testing.TB
	idp      *idptest.IdP
	clock    *clock
	events   *sink
	clientID string
	secret   string
	userID   string
	email    string
}

// newFixture starts an IdP configured by cfg (its clock and event sink are
// the fixture's) with one application and one user.
func newFixture(t testing.TB, app idptest.AppOptions, cfg ...idp.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newClock(), events: &sink{}, email: "alice@example.com"}
	var c idp.Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.Now, c.Events = f.clock.Now, f.events
	f.idp = idptest.StartConfig(t, c)
	f.clientID, f.secret = f.idp.CreateApp(t, app)
	f.userID = f.idp.CreateUser(t, f.email, testPassword, f.clientID)
	return f
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%d): %q", r.status, r.body)
	}
	return m
}

func (f *fixture) do(req *http.Request) *response {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: b}
}

// form posts a form to path; header pairs follow.
func (f *fixture) form(path string, v url.Values, header ...string) *response {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.idp.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return f.do(req)
}

func (f *fixture) api(method, path, body string) *response {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.idp.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", f.idp.APIKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return f.do(req)
}

// login runs the password grant and returns the decoded body.
func (f *fixture) login(extra ...string) (*response, map[string]any) {
	f.t.Helper()
	v := url.Values{"grant_type": {"password"}, "username": {f.email}, "password": {testPassword},
		"client_id": {f.clientID}, "client_secret": {f.secret}, "scope": {"offline_access"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	r := f.form("/oauth2/token", v)
	if r.status != http.StatusOK {
		return r, nil
	}
	return r, r.json(f.t)
}

func (f *fixture) mustLogin() (access, refresh string) {
	f.t.Helper()
	r, m := f.login()
	if r.status != http.StatusOK {
		f.t.Fatalf("login: %d %s", r.status, r.body)
	}
	return m["access_token"].(string), m["refresh_token"].(string)
}

// refresh runs the refresh_token grant.
func (f *fixture) refresh(rt string) *response {
	f.t.Helper()
	return f.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {f.clientID}, "client_secret": {f.secret}})
}

func (f *fixture) mustRefresh(rt string) (access, refresh string) {
	f.t.Helper()
	r := f.refresh(rt)
	if r.status != http.StatusOK {
		f.t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	m := r.json(f.t)
	return m["access_token"].(string), m["refresh_token"].(string)
}

// wantOAuthError asserts status, error and error_reason.
func wantOAuthError(t testing.TB, r *response, status int, code, reason string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	m := r.json(t)
	if m["error"] != code || (reason != "" && m["error_reason"] != reason) {
		t.Fatalf("error = %v/%v, want %s/%s", m["error"], m["error_reason"], code, reason)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("IDP-TOK-5: Cache-Control = %q", r.header.Get("Cache-Control"))
	}
}
