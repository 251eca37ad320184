// Package storeproctest runs the Store example app in child processes that
// share one session store, so each session backend can show that a user
// logged in on one app process is served by another, and that an expired
// session is refreshed exactly once across processes (S11, issue 6). It is
// test support, used by the backends' tests; it owns no backend.
//
// The test binary plays both sides (see internal/childproc): its TestMain
// gives childproc.Main a ChildRole role that calls ServeChild, and the test
// calls Run.
package storeproctest

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/examples/shop"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
)

// ChildRole is the childproc role of a Store app child.
const ChildRole = "storeapp"

// ServeChild serves the Store example app with its sessions in the store
// open returns, printing "url URL sid COOKIE rt COOKIE", until it is
// killed. Everything that must agree between processes (IdP client, seal
// key, the app's own database) comes from the environment Run sets; the
// backend's own settings come from the env Run was given.
func ServeChild(open func(context.Context) (sessionstore.Store, error)) error {
	ctx := context.Background()
	rs, err := open(ctx)
	if err != nil {
		return err
	}
	defer rs.Close()
	key, err := hex.DecodeString(os.Getenv("GATEHOUSE_CHILD_SEALKEY"))
	if err != nil {
		return err
	}
	app, err := shop.New(ctx, shop.Config{
		IdPURL: os.Getenv("GATEHOUSE_CHILD_IDP"), ClientID: os.Getenv("GATEHOUSE_CHILD_CLIENT_ID"),
		ClientSecret: os.Getenv("GATEHOUSE_CHILD_CLIENT_SECRET"), DBPath: os.Getenv("GATEHOUSE_CHILD_DB"),
		Sessions: rs, SealKey: key, DevMode: true, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	childproc.Ready(fmt.Sprintf("url http://%s sid %s rt %s", ln.Addr(), app.Kit.SessionCookieName(), app.Kit.RefreshCookieName()))
	return http.Serve(ln, app)
}

// storeProc is a Store app child process.
type storeProc struct {
	url, sid, rt string
}

func startStoreApp(t *testing.T, env []string) *storeProc {
	t.Helper()
	c := childproc.Start(t, ChildRole, env...)
	f := strings.Fields(c.Info)
	if len(f) != 6 || f[0] != "url" {
		t.Fatalf("Store app child is ready with %q, want url URL sid COOKIE rt COOKIE", c.Info)
	}
	return &storeProc{url: f[1], sid: f[3], rt: f[5]}
}

// do sends one request with cookies and returns the status, the cookies
// it set (value "" = cleared) and the Location.
func do(hc *http.Client, method, u string, cookies map[string]string, form url.Values) (int, map[string]string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return 0, nil, "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	set := map[string]string{}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			set[c.Name] = ""
		} else {
			set[c.Name] = c.Value
		}
	}
	return resp.StatusCode, set, resp.Header.Get("Location"), nil
}

// Run is the two-process test: two Store app processes share one session
// store (env tells the children how to open it; s is the test's own handle
// on the same store). A login on A works on B; when the session is gone, 20
// requests with the same cookies hit A and B at once: exactly one refresh
// reaches the IdP, every request is served (200, nobody sent to /login),
// all get the same new session, and the user stays signed in on both
// processes.
func Run(t *testing.T, env []string, s sessionstore.Store) {
	t.Helper()
	idp := idptest.Start(t)
	clientID, secret := idp.CreateApp(t, idptest.AppOptions{Name: "store"})
	const email, password = "shopper@example.com", "two-processes-password-42"
	userID := idp.CreateUser(t, email, password, clientID)

	env = append(env, "GATEHOUSE_CHILD_SEALKEY="+strings.Repeat("5a", 32), "GATEHOUSE_CHILD_IDP="+idp.URL,
		"GATEHOUSE_CHILD_CLIENT_ID="+clientID, "GATEHOUSE_CHILD_CLIENT_SECRET="+secret,
		"GATEHOUSE_CHILD_DB="+filepath.Join(t.TempDir(), "store.db"))
	a := startStoreApp(t, env) // one at a time: the first creates the app's database
	b := startStoreApp(t, env)
	hc := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	// Login on A.
	st, set, loc, err := do(hc, http.MethodPost, a.url+"/login", nil, url.Values{"email": {email}, "password": {password}})
	if err != nil || st != http.StatusSeeOther || set[a.sid] == "" || set[a.rt] == "" {
		t.Fatalf("login on A: %d %v %q %v", st, set, loc, err)
	}
	cookies := map[string]string{a.sid: set[a.sid], a.rt: set[a.rt]}

	// The cart on B, and adding an item there, with the session made on A.
	if st, set, _, err := do(hc, http.MethodGet, b.url+"/shopping-cart", cookies, nil); err != nil || st != 200 || len(set) != 0 {
		t.Fatalf("cart on B with A's session: %d %v %v", st, set, err)
	}
	if st, _, _, err := do(hc, http.MethodPost, b.url+"/shopping-cart/items", cookies, url.Values{"productId": {"1"}, "quantity": {"2"}}); err != nil || st != http.StatusSeeOther {
		t.Fatalf("add to cart on B: %d %v", st, err)
	}

	// The session disappears from the shared store (idle timeout,
	// eviction, sign-out elsewhere...): the refresh cookie must bring the
	// user back, once, on either process.
	if n, err := s.DeleteByUser(t.Context(), userID); err != nil || n != 1 {
		t.Fatalf("DeleteByUser = %d, %v; want the one session", n, err)
	}
	calls := idp.RefreshCalls()
	const n = 20
	type result struct {
		status int
		sid    string
		loc    string
		err    error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := a
			if i%2 == 1 {
				p = b
			}
			<-start
			st, set, loc, err := do(hc, http.MethodGet, p.url+"/shopping-cart", cookies, nil)
			results[i] = result{st, set[a.sid], loc, err}
		})
	}
	close(start)
	wg.Wait()
	newSID := ""
	for i, r := range results {
		if r.err != nil || r.status != 200 {
			t.Errorf("request %d: %d (Location %q) %v; want 200 with a refreshed session", i, r.status, r.loc, r.err)
			continue
		}
		if r.sid == "" {
			t.Errorf("request %d: no new session cookie", i)
		} else if newSID == "" {
			newSID = r.sid
		} else if r.sid != newSID {
			t.Errorf("request %d got another new session: the refresh ran more than once", i)
		}
	}
	if got := idp.RefreshCalls() - calls; got != 1 {
		t.Errorf("%d refresh calls reached the IdP for one expired session, want 1", got)
	}
	// Still signed in, on both processes, with the new session.
	if newSID != "" {
		for name, p := range map[string]*storeProc{"A": a, "B": b} {
			c := map[string]string{a.sid: newSID, a.rt: cookies[a.rt]}
			if st, set, loc, err := do(hc, http.MethodGet, p.url+"/shopping-cart", c, nil); err != nil || st != 200 || set[a.sid] == "" && len(set) != 0 {
				t.Errorf("cart on %s after the refresh: %d %v %q %v", name, st, set, loc, err)
			}
		}
		if l, err := s.ListByUser(t.Context(), userID); err != nil || len(l) != 1 {
			t.Errorf("ListByUser after the burst = %d sessions, %v; want the one new session", len(l), err)
		}
	}
}
