package appkit_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"
	"github.com/gatehouse-auth/gatehouse/internal/lockedbuf"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// testPassword is ≥ 15 characters (IdP policy) and easy to find in logs.
const testPassword = "marker-password-7f3a9c-correct-horse"

// world is a real IdP with one app (OAuth client) and one user.
type world struct {
	idp              *idptest.IdP
	clientID, secret string
	email, userID    string
}

func newWorld(t *testing.T, o idptest.AppOptions) *world {
	t.Helper()
	i := idptest.Start(t)
	id, secret := i.CreateApp(t, o)
	w := &world{idp: i, clientID: id, secret: secret, email: "shopper@example.com"}
	w.userID = i.CreateUser(t, w.email, testPassword, id)
	return w
}

// revokeUser kills all the user's refresh tokens at the IdP (admin API).
func (w *world) revokeUser(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, w.idp.URL+"/api/jwt/refresh?userId="+w.userID, nil)
	req.Header.Set("Authorization", w.idp.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke user: %d", resp.StatusCode)
	}
}

// app is an app backend using the kit: the Store example's routes, served
// over TLS on loopback (so cookies are Secure and __Host-).
type app struct {
	t     *testing.T
	w     *world
	kit   *appkit.Kit
	idp   *idpclient.Client
	store sessionstore.Store
	srv   *httptest.Server
	hc    *http.Client
	logs  *lockedbuf.Buffer

	mu    sync.Mutex
	carts map[string]int // the app's own data: items per user id
}

type appOpt struct {
	method idpclient.RefreshMethod
	store  sessionstore.Store // default: memstore on clock
	clock  *fakeclock.Clock   // default: real time
	apiKey bool
	// apiKeyValue is the app's API key (a scoped one); it wins over apiKey.
	apiKeyValue string
	devMode     bool
	kitMod      func(*appkit.Config)
	idpURL      string           // default: the world's IdP (a proxy in front of it, say)
	clientNow   func() time.Time // the idpclient's clock (an IdP on a fake clock); default real time
}

func newApp(t *testing.T, w *world, o appOpt) *app {
	t.Helper()
	logs := &lockedbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	idpURL := w.idp.URL
	if o.idpURL != "" {
		idpURL = o.idpURL
	}
	icfg := idpclient.Config{
		BaseURL: idpURL, ClientID: w.clientID, ClientSecret: w.secret,
		RefreshMethod: o.method, Timeout: 5 * time.Second, Logger: logger, Now: o.clientNow,
	}
	if o.apiKey {
		icfg.APIKey = w.idp.APIKey
	}
	if o.apiKeyValue != "" {
		icfg.APIKey = o.apiKeyValue
	}
	ic, err := idpclient.New(icfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now
	if o.clock != nil {
		now = o.clock.Now
	}
	st := o.store
	if st == nil {
		ms := memstore.New(memstore.Config{Now: now})
		t.Cleanup(func() { _ = ms.Close() })
		st = ms
	}
	cfg := appkit.Config{
		IdP: ic, Store: st, SealKey: bytes.Repeat([]byte("k"), 32), CookieName: "store",
		DevMode: o.devMode, Logger: logger, Now: now, HomePath: "/shopping-cart",
	}
	if o.kitMod != nil {
		o.kitMod(&cfg)
	}
	kit, err := appkit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{t: t, w: w, kit: kit, idp: ic, store: st, logs: logs, carts: map[string]int{}}
	mux := http.NewServeMux()
	mux.Handle("/login", kit.LoginHandler())
	mux.Handle("/logout", kit.LogoutHandler())
	mux.Handle("/sessions", kit.SessionsHandler(nil))
	kit.AccountRoutes(mux)
	kit.PasskeyRoutes(mux)
	mux.Handle("GET /shopping-cart", kit.RequireLogin(http.HandlerFunc(a.cart)))
	mux.Handle("POST /shopping-cart/items", kit.RequireLogin(http.HandlerFunc(a.addItem)))
	mux.Handle("GET /{$}", kit.OptionalLogin(http.HandlerFunc(a.home)))
	a.srv = httptest.NewUnstartedServer(mux)
	// Connections cut by the test's end are not errors worth printing.
	a.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if o.devMode {
		a.srv.Start()
	} else {
		a.srv.StartTLS()
	}
	t.Cleanup(a.srv.Close)
	a.hc = a.srv.Client()
	a.hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 200
	a.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	a.hc.Timeout = 30 * time.Second
	return a
}

func (a *app) cart(w http.ResponseWriter, r *http.Request) {
	u := appkit.User(r.Context())
	a.mu.Lock()
	n := a.carts[u.ID]
	a.mu.Unlock()
	fmt.Fprintf(w, "cart of %s: %d items", u.Email, n)
}

func (a *app) addItem(w http.ResponseWriter, r *http.Request) {
	u := appkit.User(r.Context())
	a.mu.Lock()
	a.carts[u.ID]++
	a.mu.Unlock()
	http.Redirect(w, r, "/shopping-cart", http.StatusSeeOther)
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	if u := appkit.User(r.Context()); u != nil {
		fmt.Fprintf(w, "welcome back %s", u.Email)
		return
	}
	io.WriteString(w, `welcome, <a href="/login">sign in</a>`)
}

// response is a finished request with its body and Set-Cookie headers.
type response struct {
	status  int
	header  http.Header
	body    string
	cookies map[string]*http.Cookie
}

func (r *response) location() string { return r.header.Get("Location") }

// browser holds cookies like a browser would (by name; the tests use one
// host), applying Set-Cookie from every response.
type browser struct {
	a       *app
	cookies map[string]string
	header  http.Header // sent with every request
}

func (a *app) browser() *browser {
	return &browser{a: a, cookies: map[string]string{}, header: http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}}}
}

func (b *browser) clone() *browser {
	c := &browser{a: b.a, cookies: map[string]string{}, header: b.header.Clone()}
	for k, v := range b.cookies {
		c.cookies[k] = v
	}
	return c
}

func (b *browser) sid() string { return b.cookies[b.a.kit.SessionCookieName()] }
func (b *browser) rt() string  { return b.cookies[b.a.kit.RefreshCookieName()] }

func (b *browser) get(path string) *response { return b.do(http.MethodGet, path, nil, nil) }

func (b *browser) post(path string, form url.Values) *response {
	return b.do(http.MethodPost, path, form, nil)
}

func (b *browser) do(method, path string, form url.Values, extra http.Header) *response {
	b.a.t.Helper()
	var body io.Reader
	ctype := ""
	if form != nil {
		body, ctype = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
	}
	return b.send(method, path, ctype, body, extra)
}

// send makes one request of the browser (its headers, then extra, then
// Content-Type when ctype is set, its cookies) and keeps the cookies the
// answer sets or deletes.
func (b *browser) send(method, path, ctype string, body io.Reader, extra http.Header) *response {
	b.a.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, b.a.srv.URL+path, body)
	if err != nil {
		b.a.t.Fatal(err)
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	for k, v := range extra {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for n, v := range b.cookies {
		req.AddCookie(&http.Cookie{Name: n, Value: v})
	}
	resp, err := b.a.hc.Do(req)
	if err != nil {
		b.a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := &response{status: resp.StatusCode, header: resp.Header, body: string(data), cookies: map[string]*http.Cookie{}}
	for _, c := range resp.Cookies() {
		r.cookies[c.Name] = c
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return r
}

// login posts the login form and requires success.
func (b *browser) login(next string) *response {
	b.a.t.Helper()
	r := b.post("/login", url.Values{"email": {b.a.w.email}, "password": {testPassword}, "next": {next}})
	if r.status != http.StatusSeeOther {
		b.a.t.Fatalf("login: status %d, body %q", r.status, r.body)
	}
	return r
}

// sessions returns the user's live sessions in the app's store.
func (a *app) sessions() []*sessionstore.Session {
	a.t.Helper()
	l, err := a.store.ListByUser(context.Background(), a.w.userID)
	if err != nil {
		a.t.Fatal(err)
	}
	return l
}

// expire makes the session with key expired in the store (the store's
// own expiry hides it from then on): works for any store and clock.
func (a *app) expire(key string) {
	a.t.Helper()
	ctx := context.Background()
	s, err := a.store.Get(ctx, key)
	if err != nil {
		a.t.Fatalf("expire: %v", err)
	}
	s.ExpiresAt = time.Now().Add(-time.Hour)
	if err := a.store.Put(ctx, s); err != nil {
		a.t.Fatal(err)
	}
	if _, err := a.store.Get(ctx, key); err == nil {
		a.t.Fatal("expired session still returned")
	}
}
