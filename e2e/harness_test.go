package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"
	"github.com/gatehouse-auth/gatehouse/internal/lockedbuf"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
	"github.com/gatehouse-auth/gatehouse/password"
)

// Lifetimes of the test demo. The refresh cookie outlives the IdP's
// refresh token on purpose, so S5 can watch the IdP itself refuse an
// expired token (with equal lifetimes the kit refuses the cookie first,
// which ends the same way without asking the IdP).
const (
	idle         = 10 * time.Minute
	absolute     = time.Hour
	refreshTTL   = 24 * time.Hour
	cookieMaxAge = 48 * time.Hour
	lockoutDelay = 30 * time.Second // the IdP's first delay, after 5 failures (default)
	// propagation is the S10 bound: a revocation reaches the other app's
	// sessions within this much real time.
	propagation = time.Second
)

// idpCall is one request an app made to the IdP, as the recorder saw it.
// The password is never kept.
type idpCall struct {
	Method, Path        string
	GrantType, ClientID string
	Scope               string
	ClientSecretOK      bool // the client secret sent equals the app's
	XForwardedFor       string
	Status              int
	Body                []byte // response body
}

// recorder wraps the IdP handler and records token, refresh and revoke
// traffic.
type recorder struct {
	mu      sync.Mutex
	calls   []idpCall
	secrets map[string]string // client id -> secret
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/oauth2/token", "/api/jwt/refresh", "/oauth2/revoke", "/api/logout":
		default:
			h.ServeHTTP(w, req)
			return
		}
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		c := idpCall{Method: req.Method, Path: req.URL.Path, XForwardedFor: req.Header.Get("X-Forwarded-For")}
		if form, err := url.ParseQuery(string(body)); err == nil && strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			c.GrantType, c.ClientID, c.Scope = form.Get("grant_type"), form.Get("client_id"), form.Get("scope")
			secret := form.Get("client_secret")
			if id, s, ok := req.BasicAuth(); ok {
				c.ClientID, secret = id, s
			}
			r.mu.Lock()
			c.ClientSecretOK = secret != "" && r.secrets[c.ClientID] == secret
			r.mu.Unlock()
		}
		rw := &captureWriter{ResponseWriter: w, status: 200}
		h.ServeHTTP(rw, req)
		c.Status, c.Body = rw.status, rw.buf.Bytes()
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
	})
}

type captureWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (c *captureWriter) WriteHeader(s int) { c.status = s; c.ResponseWriter.WriteHeader(s) }
func (c *captureWriter) Write(b []byte) (int, error) {
	c.buf.Write(b)
	return c.ResponseWriter.Write(b)
}

// since returns the calls recorded after mark (a length from mark()).
func (r *recorder) since(mark int) []idpCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]idpCall(nil), r.calls[mark:]...)
}

func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// env is one running demo with its clock, recorder and logs.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *fakeclock.Clock
	rec   *recorder
	logs  *lockedbuf.Buffer
	opts  demo.Options
	d     *demo.Demo
	info  demo.Info
	ips   atomic.Int64
}

// newEnv starts the demo in a fresh directory on free loopback ports.
func newEnv(t *testing.T, mods ...func(*demo.Options)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: fakeclock.New(time.Now()), rec: &recorder{secrets: map[string]string{}}, logs: &lockedbuf.Buffer{}}
	e.opts = demo.Options{
		Dir: t.TempDir(), IdPAddr: "127.0.0.1:0", StoreAddr: "127.0.0.1:0", ForumsAddr: "127.0.0.1:0", MailboxAddr: "127.0.0.1:0",
		SessionIdle: idle, SessionAbsolute: absolute, RefreshTTL: refreshTTL, RefreshCookieMaxAge: cookieMaxAge,
		Hasher:         password.NewHasher(password.Params{Memory: 64, Time: 1}),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		WrapIdP:        e.rec.wrap,
		Webhook: webhooksender.Config{
			InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		},
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clock.Now,
	}
	for _, m := range mods {
		m(&e.opts)
	}
	e.start()
	t.Cleanup(func() {
		e.stop()
		logs := e.logs.String()
		// APP-LOGIN-2, IDP-BF-5: no password ever reaches a log line.
		for _, u := range e.info.Users {
			if strings.Contains(logs, u.Password) {
				t.Errorf("a user's password appears in the logs")
			}
		}
		if t.Failed() || os.Getenv("E2E_LOGS") != "" {
			lines := strings.Split(strings.TrimSpace(logs), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("last demo log lines:\n%s", strings.Join(lines, "\n"))
		}
	})
	return e
}

func (e *env) start() {
	e.t.Helper()
	d, err := demo.Start(e.ctx, e.opts)
	if err != nil {
		e.t.Fatalf("start demo: %v", err)
	}
	e.d, e.info = d, d.Info
	e.rec.mu.Lock()
	e.rec.secrets[d.Info.Applications.Store.ID] = d.Info.Applications.Store.Secret
	e.rec.secrets[d.Info.Applications.Forums.ID] = d.Info.Applications.Forums.Secret
	e.rec.mu.Unlock()
}

func (e *env) stop() {
	if e.d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.d.Close(ctx); err != nil {
		e.t.Errorf("close demo: %v", err)
	}
	e.d = nil
}

// restart stops the demo and starts it again on the same directory and
// addresses.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.opts.IdPAddr = strings.TrimPrefix(e.info.IdP, "http://")
	e.opts.StoreAddr = strings.TrimPrefix(e.info.Store, "http://")
	e.opts.ForumsAddr = strings.TrimPrefix(e.info.Forums, "http://")
	e.opts.MailboxAddr = strings.TrimPrefix(e.info.Mailbox, "http://")
	var err error
	for try := 0; try < 50; try++ { // a port can linger a moment after close
		if e.d, err = demo.Start(e.ctx, e.opts); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("restart demo: %v", err)
	}
	e.info = e.d.Info
}

func (e *env) store(path string) string  { return e.info.Store + path }
func (e *env) forums(path string) string { return e.info.Forums + path }

// user returns demo user i (0: alice, 1: bob) and their IdP id.
func (e *env) user(i int) (demo.User, string) {
	e.t.Helper()
	u := e.info.Users[i]
	rec, err := e.d.IdPStore.GetUserByLogin(e.ctx, u.Email)
	if err != nil {
		e.t.Fatalf("user %s: %v", u.Email, err)
	}
	return u, rec.ID
}

// storeSessions and forumSessions list a user's live sessions in the
// app's session store.
func (e *env) storeSessions(userID string) []*sessionstore.Session {
	e.t.Helper()
	l, err := e.d.Store.Sessions.ListByUser(e.ctx, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) forumSessions(userID string) []*sessionstore.Session {
	e.t.Helper()
	l, err := e.d.Forums.Sessions.ListByUser(e.ctx, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// families counts the user's live refresh-token families at the IdP for
// one application.
func (e *env) families(userID, appID string) int {
	e.t.Helper()
	l, err := e.d.IdPStore.ListRefreshTokens(e.ctx, userID)
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, f := range l {
		if f.ApplicationID == appID && f.ExpiresAt.After(e.clock.Now()) {
			n++
		}
	}
	return n
}

// within polls cond until it holds or d (real time) has passed.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// browser is one cookie jar with its own client IP (sent as
// X-Forwarded-For, which the demo apps trust from loopback) and user agent.
type browser struct {
	t    *testing.T
	name string
	jar  *cookiejar.Jar
	hc   *http.Client
	ip   string
	// headers are added to every request (e.g. Sec-Fetch-Site).
	headers http.Header
}

// browser returns a new browser with a fresh client IP.
func (e *env) browser(name string) *browser {
	jar, _ := cookiejar.New(nil)
	n := e.ips.Add(1)
	return &browser{t: e.t, name: name, jar: jar, ip: fmt.Sprintf("203.0.%d.%d", 113+n/250, n%250+1), headers: http.Header{},
		hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// response is what a request got back.
type response struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
	Cookies  []*http.Cookie // Set-Cookie
}

func (r response) setCookie(name string) *http.Cookie {
	for _, c := range r.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (b *browser) do(method, rawURL string, form url.Values) response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0 e2e-"+b.name)
	req.Header.Set("X-Forwarded-For", b.ip)
	for k, v := range b.headers {
		req.Header[k] = v
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s %s: %v", b.name, method, rawURL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(data), Header: resp.Header, Cookies: resp.Cookies()}
}

func (b *browser) get(u string) response { b.t.Helper(); return b.do(http.MethodGet, u, nil) }
func (b *browser) post(u string, form url.Values) response {
	b.t.Helper()
	return b.do(http.MethodPost, u, form)
}

// cookie returns the value the jar would send to base for name.
func (b *browser) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie plants a cookie for base's host (what an attacker does with a
// stolen value).
func (b *browser) setCookie(base, name, value string) {
	u, _ := url.Parse(base)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// login signs in at app (a base URL) and expects 303 to want.
func (b *browser) login(app string, u demo.User, want string) response {
	b.t.Helper()
	r := b.post(app+"/login", url.Values{"email": {u.Email}, "password": {u.Password}})
	if r.Status != http.StatusSeeOther || r.Location != want {
		b.t.Fatalf("%s: login at %s: %d Location %q, want 303 %q\n%s", b.name, app, r.Status, r.Location, want, r.Body)
	}
	return r
}

// expectLogin asserts r sends the browser to the login page.
func expectLogin(t *testing.T, who string, r response, next string) {
	t.Helper()
	want := "/login"
	if next != "" {
		want += "?next=" + url.QueryEscape(next)
	}
	if r.Status != http.StatusSeeOther || r.Location != want {
		t.Fatalf("%s: got %d Location %q, want 303 to %q", who, r.Status, r.Location, want)
	}
}

// expectCleared asserts r expires both cookies of the app named prefix.
func expectCleared(t *testing.T, who string, r response, prefix string) {
	t.Helper()
	for _, n := range []string{prefix + "-sid", prefix + "-rt"} {
		c := r.setCookie(n)
		if c == nil || c.MaxAge >= 0 || c.Value != "" {
			t.Fatalf("%s: cookie %s not cleared: %+v", who, n, c)
		}
	}
}

// jsonField reads a top-level string field of a JSON body.
func jsonField(body []byte, name string) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	s, _ := m[name].(string)
	return s
}

// refreshCalls filters calls to the refresh ones.
func refreshCalls(calls []idpCall) []idpCall {
	var out []idpCall
	for _, c := range calls {
		if c.Path == "/api/jwt/refresh" || (c.Path == "/oauth2/token" && c.GrantType == "refresh_token") {
			out = append(out, c)
		}
	}
	return out
}

// admin is the IdP's admin interface of the running demo.
func (e *env) admin() *idp.Admin { return e.d.IdP.Admin() }

// adminAPI calls the IdP's HTTP admin API: method on path with the demo's
// API key, and body as JSON unless it is empty. It returns the status.
func (e *env) adminAPI(t *testing.T, method, path, body string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(e.ctx, method, e.info.IdP+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", e.info.APIKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
