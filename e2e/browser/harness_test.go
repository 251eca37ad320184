package browser

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"
	"github.com/gatehouse-auth/gatehouse/internal/lockedbuf"

	"github.com/gatehouse-auth/gatehouse/internal/testneeds"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
	"github.com/gatehouse-auth/gatehouse/password"
)

// Lifetimes of the test demo. They are the realistic ones: S4 and S5 move
// the shared clock past them instead of waiting. The refresh cookie
// outlives the IdP's refresh token on purpose, so that in S5 the browser
// still presents the cookie and the IdP itself refuses the dead token.
const (
	idle         = 10 * time.Minute
	absolute     = time.Hour
	refreshTTL   = 24 * time.Hour
	cookieMaxAge = 48 * time.Hour
)

// Bounds on real time: every browser step (a navigation, a click, a
// read) and the browser's start. They only stop a hung test; no pass or
// fail depends on how fast anything is.
const (
	stepTimeout  = 20 * time.Second
	startTimeout = 45 * time.Second
)

// Names the apps are reached by. Chromium resolves *.localhost to
// loopback, and the two names keep the apps' cookies apart as two real
// hosts would.
const (
	storeHost  = "store.localhost"
	forumsHost = "forums.localhost"
)

// idpCall is one request an app made to the IdP's token, refresh,
// revocation or passkey-login endpoints. Passwords and tokens are not
// kept.
type idpCall struct {
	Path, GrantType, ClientID, Scope string
	Status                           int
}

func (c idpCall) String() string {
	return fmt.Sprintf("%s grant_type=%q client=%s → %d", c.Path, c.GrantType, c.ClientID, c.Status)
}

// recorder wraps the IdP's handler and records the calls the apps make.
type recorder struct {
	mu    sync.Mutex
	calls []idpCall
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/oauth2/token", "/api/jwt/refresh", "/oauth2/revoke", "/api/logout", "/api/webauthn/login":
		default:
			h.ServeHTTP(w, req)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(req.Body, 64<<10))
		req.Body = io.NopCloser(bytes.NewReader(body))
		c := idpCall{Path: req.URL.Path}
		if form, err := url.ParseQuery(string(body)); err == nil {
			c.GrantType, c.ClientID, c.Scope = form.Get("grant_type"), form.Get("client_id"), form.Get("scope")
		}
		if id, _, ok := req.BasicAuth(); ok {
			c.ClientID = id
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, req)
		c.Status = sw.status
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// mark returns a position for since.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// since returns the calls recorded after mark.
func (r *recorder) since(mark int) []idpCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]idpCall(nil), r.calls[mark:]...)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// env is one running demo: IdP, Store and Forums on free loopback ports,
// sharing a settable clock, with the IdP's traffic recorded.
type env struct {
	t        *testing.T
	chromium string // the browser's executable
	clock    *fakeclock.Clock
	rec      *recorder
	d        *demo.Demo
	user     demo.User
	userID   string
	axe      string // axe-core's source, "" when the checks are off
	// Store and Forums as the browser reaches them, e.g.
	// http://store.localhost:41234 (no trailing slash).
	store, forums string
}

// newEnv starts the demo for one test and stops it when the test ends.
func newEnv(t *testing.T) *env {
	t.Helper()
	// Look for the browser first: skipping needs no servers.
	e := &env{t: t, chromium: chromiumPath(t), clock: fakeclock.New(time.Now()), rec: &recorder{}}
	e.axe = axeSource(t)
	logs := &lockedbuf.Buffer{}
	d, err := demo.Start(context.Background(), demo.Options{
		Dir: t.TempDir(), IdPAddr: "127.0.0.1:0", StoreAddr: "127.0.0.1:0", ForumsAddr: "127.0.0.1:0", MailboxAddr: "127.0.0.1:0",
		SessionIdle: idle, SessionAbsolute: absolute, RefreshTTL: refreshTTL, RefreshCookieMaxAge: cookieMaxAge,
		// A cheap hash: the suite is about the browser, not argon2id cost.
		Hasher:  password.NewHasher(password.Params{Memory: 64, Time: 1}),
		WrapIdP: e.rec.wrap,
		Webhook: webhooksender.Config{
			InitialBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    e.clock.Now,
	})
	if err != nil {
		t.Fatalf("start demo: %v", err)
	}
	e.d = d
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close demo: %v", err)
		}
		out := logs.String()
		// APP-LOGIN-2: the password typed into the browser never reaches a log line.
		if strings.Contains(out, e.user.Password) {
			t.Errorf("the user's password appears in the demo's logs")
		}
		if t.Failed() {
			t.Logf("last demo log lines:\n%s", tail(out, 40))
		}
	})
	if len(d.Info.Users) == 0 {
		t.Fatal("demo has no users")
	}
	e.user = d.Info.Users[0]
	u, err := d.IdPStore.GetUserByLogin(context.Background(), e.user.Email)
	if err != nil {
		t.Fatalf("look up demo user: %v", err)
	}
	e.userID = u.ID
	e.store = hostURL(t, d.Info.Store, storeHost)
	e.forums = hostURL(t, d.Info.Forums, forumsHost)
	return e
}

// hostURL turns http://127.0.0.1:PORT into http://HOST:PORT.
func hostURL(t *testing.T, raw, host string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("demo URL %q: %v", raw, err)
	}
	return "http://" + net.JoinHostPort(host, u.Port())
}

// calls returns the IdP calls since mark, for messages.
func (e *env) calls(mark int) []idpCall { return e.rec.since(mark) }

// wantCalls checks that exactly the IdP calls described by want (path and
// grant type, and status) happened since mark.
func (e *env) wantCalls(mark int, want ...idpCall) {
	e.t.Helper()
	got := e.rec.since(mark)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = got[i].Path == want[i].Path && got[i].GrantType == want[i].GrantType && got[i].Status == want[i].Status
	}
	if !ok {
		e.t.Errorf("IdP calls: got %v, want %v", got, want)
	}
}

// chromiumPath finds Chromium, or skips (fails under GATEHOUSE_CI=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("GATEHOUSE_CHROMIUM=%s is not an executable: %v", p, err)
		}
		return found
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "browser suite needs Chromium: set GATEHOUSE_CHROMIUM or install Debian's chromium package (scripts/test.sh does both)"
	testneeds.Missing(t, msg)
	return ""
}

// hop is one HTTP exchange of a top-level navigation, as the browser saw
// it: a redirect is one hop, its target the next.
type hop struct {
	Method, URL string
	Status      int64 // 0 while no response has arrived
}

func (h hop) String() string { return fmt.Sprintf("%s %s %d", h.Method, h.URL, h.Status) }

// browser is one headless Chromium with a fresh profile and one tab.
type browser struct {
	t   *testing.T
	e   *env
	ctx context.Context   // the tab; no deadline (steps derive their own)
	out *lockedbuf.Buffer // Chromium's own output

	dir   string // screenshot folder
	shots int
	vp    viewport // the tab's viewport now

	mu   sync.Mutex
	hops []hop
	reqs map[network.RequestID]int // request → index of its latest hop
}

// newBrowser starts Chromium for t with exactly the flags this closed
// network needs (see the package doc) and a fresh user-data-dir.
func (e *env) newBrowser() *browser {
	t := e.t
	t.Helper()
	exe := e.chromium
	b := &browser{t: t, e: e, out: &lockedbuf.Buffer{}, dir: screenshotDir(t), reqs: map[network.RequestID]int{}}
	profile := t.TempDir() // removed after the cleanup below has stopped Chromium
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.CombinedOutput(b.out),
	)
	ctx, cancelCtx := chromedp.NewContext(allocCtx,
		chromedp.WithErrorf(func(f string, a ...any) { fmt.Fprintf(b.out, "chromedp: "+f+"\n", a...) }))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc() // waits until Chromium has exited
		if t.Failed() {
			if s := chromiumOutput(b.out.String()); s != "" {
				t.Logf("Chromium output (last lines):\n%s", tail(s, 20))
			}
			t.Logf("browser navigations:\n%s", b.hopLog())
		}
		if b.shots > 0 {
			t.Logf("screenshots of this test: %s", b.dir)
		}
	})
	b.ctx = ctx

	// The first action starts Chromium and ties its life to ctx, so it
	// cannot carry a deadline; bound it from outside instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start Chromium (%s): %v\n%s", exe, err, tail(b.out.String(), 20))
		}
	case <-time.After(startTimeout):
		cancelCtx()
		t.Fatalf("Chromium (%s) did not start within %v\n%s", exe, startTimeout, tail(b.out.String(), 20))
	}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	b.setViewport(desktop)
	return b
}

// onEvent records the top-level document requests and their answers. It
// runs on chromedp's reader goroutine, so it only appends under a lock.
func (b *browser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.Type != network.ResourceTypeDocument {
			return
		}
		if i, ok := b.reqs[ev.RequestID]; ok && ev.RedirectResponse != nil {
			b.hops[i].Status = ev.RedirectResponse.Status
		}
		b.hops = append(b.hops, hop{Method: ev.Request.Method, URL: ev.Request.URL})
		b.reqs[ev.RequestID] = len(b.hops) - 1
	case *network.EventResponseReceived:
		if ev.Type != network.ResourceTypeDocument {
			return
		}
		if i, ok := b.reqs[ev.RequestID]; ok {
			b.hops[i].Status = ev.Response.Status
		}
	}
}

// mark returns a position for hopsSince.
func (b *browser) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.hops)
}

// hopsSince returns the navigation hops after mark.
func (b *browser) hopsSince(mark int) []hop {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]hop(nil), b.hops[mark:]...)
}

func (b *browser) hopLog() string {
	var s strings.Builder
	for _, h := range b.hopsSince(0) {
		fmt.Fprintf(&s, "  %s\n", h)
	}
	return s.String()
}

// wantHops checks the navigation since mark: each entry of want is
// "METHOD URL STATUS" with the URL relative to the app (e.g. "GET
// /login?next=%2Fshopping-cart 200") or absolute.
func (b *browser) wantHops(mark int, base string, want ...string) {
	b.t.Helper()
	got := b.hopsSince(mark)
	var g []string
	for _, h := range got {
		g = append(g, fmt.Sprintf("%s %s %d", h.Method, strings.TrimPrefix(h.URL, base), h.Status))
	}
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		b.t.Errorf("navigation:\n got: %q\nwant: %q", g, want)
	}
}

// step returns a context for one bounded browser step.
func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// do runs actions within one step; what names the step in a failure.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// open navigates to url, waits for the page and takes its screenshot.
func (b *browser) open(url, shot string) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	b.shot(shot)
	b.checkA11y()
	return resp
}

// click clicks the first element matching the CSS selector sel, waits for
// the page it leads to and takes its screenshot.
func (b *browser) click(sel, shot string) *network.Response {
	b.t.Helper()
	return b.navigate("click "+sel, shot, chromedp.Click(chromedp.CSS(sel)))
}

// back goes back in history like the browser's back button.
func (b *browser) back(shot string) {
	b.t.Helper()
	b.navigate("back", shot, chromedp.NavigateBack())
}

// reload reloads the page like the browser's reload button.
func (b *browser) reload(shot string) {
	b.t.Helper()
	b.navigate("reload", shot, chromedp.Reload())
}

func (b *browser) navigate(what, shot string, a chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	b.shot(shot)
	b.checkA11y()
	return resp
}

// startNavigation asks the tab to load url without waiting for anything:
// for pages that navigate on by themselves.
func (b *browser) startNavigation(url string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	res, err := chromedp.Call(ctx, page.Navigate, page.NavigateParams{URL: url})
	if err == nil && res.ErrorText != "" {
		err = fmt.Errorf("%s", res.ErrorText)
	}
	if err != nil {
		b.t.Fatalf("navigate to %s: %v", url, err)
	}
}

// waitFor polls cond (a JavaScript expression) until it is true, within
// one step. Evaluation errors while a navigation replaces the document
// are retried.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	b.t.Fatalf("waiting for %s (%s): not true within %v (last error: %v)", what, cond, stepTimeout, last)
}

// waitHop waits until a navigation hop after mark to a URL starting with
// prefix has its answer, and returns it.
func (b *browser) waitHop(mark int, method, prefix string) hop {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		for _, h := range b.hopsSince(mark) {
			if h.Method == method && strings.HasPrefix(h.URL, prefix) && h.Status != 0 {
				return h
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	b.t.Fatalf("no answered %s %s* within %v; navigation so far:\n%s", method, prefix, stepTimeout, b.hopLog())
	return hop{}
}

// fill types value into the form field matched by sel, replacing what is
// there.
func (b *browser) fill(sel, value string) {
	b.t.Helper()
	b.do("fill "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), value))
}

// submitLogin fills the login form on the current page and submits it.
func (b *browser) submitLogin(email, pw, shot string) *network.Response {
	b.t.Helper()
	b.fill("#email", email)
	b.fill("#password", pw)
	return b.click(`main form button[type="submit"]`, shot)
}

// location is the page's URL.
func (b *browser) location() string { return eval[string](b, `location.href`) }

// text is the visible text of the first element matching sel, or "" when
// there is none.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(eval[string](b, fmt.Sprintf(`(document.querySelector(%q) || {innerText: ""}).innerText`, sel)))
}

// count is the number of elements matching sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// cookies returns the cookies the browser would send to url.
func (b *browser) cookies(url string) map[string]*network.Cookie {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		b.t.Fatalf("read cookies of %s: %v", url, err)
	}
	m := map[string]*network.Cookie{}
	for _, c := range res.Cookies {
		m[c.Name] = c
	}
	return m
}

// setCookie puts a cookie into the browser, as an attacker replaying a
// copied cookie would (host-only, HttpOnly, like the app's own).
func (b *browser) setCookie(url string, c *network.Cookie) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	httpOnly := true
	p := network.SetCookieParams{Name: c.Name, Value: c.Value, URL: url, Path: "/", HTTPOnly: &httpOnly, SameSite: c.SameSite}
	if !c.Session {
		p.Expires = cdp.TimeSinceEpoch(c.Expires)
	}
	if _, err := chromedp.Call(ctx, network.SetCookie, p); err != nil {
		b.t.Fatalf("set cookie %s: %v", c.Name, err)
	}
}

// shot writes a full-page PNG of the current page as NN-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.shots++
	path := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// screenshotDir is the test's screenshot folder, emptied: under
// $GATEHOUSE_SCREENSHOTS, or screenshots/ beside this package's sources.
func screenshotDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if root == "" {
		root = "screenshots" // go test runs in the package directory
	}
	dir, err := filepath.Abs(filepath.Join(root, unsafeName.ReplaceAllString(t.Name(), "_")))
	if err != nil {
		t.Fatalf("screenshot folder: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("clear screenshot folder: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create screenshot folder: %v", err)
	}
	return dir
}

// names lists cookie names, sorted.
func names(m map[string]*network.Cookie) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// chromiumOutput drops the lines Chromium always prints on a machine
// without a D-Bus daemon; they say nothing about a failure.
func chromiumOutput(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" && !strings.Contains(l, "dbus") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
