package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sqlitestore"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
)

// aud18ChildRole is the childproc role of the killable app: an appkit app
// on a SQLite session store shared by all its incarnations, until killed.
const aud18ChildRole = "aud18-app"

func runAUD18Child() error {
	ctx := context.Background()
	seal, err := hex.DecodeString(os.Getenv("AUD18_SEAL"))
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: os.Getenv("AUD18_DB"), Logger: logger})
	if err != nil {
		return err
	}
	ic, err := idpclient.New(idpclient.Config{BaseURL: os.Getenv("AUD18_IDP"), ClientID: os.Getenv("AUD18_CLIENT"),
		ClientSecret: os.Getenv("AUD18_SECRET"), Logger: logger})
	if err != nil {
		return err
	}
	kit, err := appkit.New(appkit.Config{IdP: ic, Store: st, SealKey: seal, CookieName: "killable", DevMode: true,
		// Every session ends a millisecond after it starts, so nearly every
		// request is a refresh: a kill lands in the middle of many.
		AbsoluteLifetime: time.Millisecond,
		TrustedProxies:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Logger: logger})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/login", kit.LoginHandler())
	mux.Handle("/page", kit.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "page of "+appkit.User(r.Context()).Email)
	})))
	var ln net.Listener
	for try := 0; ; try++ { // the killed incarnation's port may linger a moment
		if ln, err = net.Listen("tcp", os.Getenv("AUD18_ADDR")); err == nil || try == 100 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	childproc.Ready(ln.Addr().String())
	return http.Serve(ln, mux)
}

// aud18Child is one incarnation of the killable app.
type aud18Child struct {
	*childproc.Child
	addr string
}

func startAUD18Child(t *testing.T, env []string, addr string) *aud18Child {
	t.Helper()
	c := childproc.Start(t, aud18ChildRole, append([]string{"AUD18_ADDR=" + addr}, env...)...)
	return &aud18Child{Child: c, addr: c.Info}
}

// TestAUD18_AppKilledUnderRefreshLoad: 16 browsers refresh through an app
// process continuously; the process is killed with SIGKILL twice (in the
// middle of refreshes) and restarted 2 s later on the same SQLite session
// store. Nobody is signed out: the restarted process takes the dead one's
// refresh claims over within one lease and presents the old tokens inside
// the IdP's 10 s grace (AUD-18, APP-REF-4).
func TestAUD18_AppKilledUnderRefreshLoad(t *testing.T) {
	e := newEnv(t, func(o *demo.Options) {
		o.Now = time.Now // the IdP's grace period runs on real time here
		o.Throttle = idp.ThrottlePolicy{Disabled: true}
	})
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	env := []string{
		"AUD18_SEAL=" + hex.EncodeToString(seal), "AUD18_DB=" + filepath.Join(t.TempDir(), "sessions.db"),
		"AUD18_IDP=" + e.info.IdP, "AUD18_CLIENT=" + e.info.Applications.Store.ID,
		"AUD18_SECRET=" + e.info.Applications.Store.Secret,
	}
	child := startAUD18Child(t, env, "127.0.0.1:0")
	base := "http://" + child.addr

	const browsers = 16
	bs := make([]*browser, browsers)
	for i := range bs {
		bs[i] = e.browser(fmt.Sprint("killtest-", i))
		u, _ := e.user(i % 2)
		bs[i].login(base, u, "/")
	}

	var (
		stop       atomic.Bool
		mu         sync.Mutex
		logouts    []string
		served     [browsers]atomic.Int64
		interrupts atomic.Int64 // requests cut by a kill or refused while down
		wg         sync.WaitGroup
	)
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				req, _ := http.NewRequest(http.MethodGet, base+"/page", nil)
				req.Header.Set("X-Forwarded-For", b.ip)
				resp, err := b.hc.Do(req)
				if err != nil {
					interrupts.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusOK:
					served[i].Add(1)
				case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
					mu.Lock()
					logouts = append(logouts, b.name)
					mu.Unlock()
					return
				default: // 503 while a claim is waited out: not a logout
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}

	for kill := range 2 {
		time.Sleep(1500 * time.Millisecond)
		before := interrupts.Load()
		child.Kill()
		time.Sleep(2 * time.Second)
		if interrupts.Load() == before {
			t.Fatalf("kill %d interrupted no request", kill+1)
		}
		child = startAUD18Child(t, env, child.addr)
	}
	// Longer than a lease plus the IdP's grace: every browser has come back.
	var after [browsers]int64
	for i := range after {
		after[i] = served[i].Load()
	}
	time.Sleep(12 * time.Second)
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(logouts) > 0 {
		t.Fatalf("%d of %d browsers signed out by an app crash: %v", len(logouts), browsers, logouts)
	}
	for i := range bs {
		if served[i].Load() == after[i] {
			t.Errorf("%s was not served after the last restart", bs[i].name)
		}
	}
	total := int64(0)
	for i := range served {
		total += served[i].Load()
	}
	t.Logf("%d pages served (nearly all refreshes), %d requests cut by the kills or refused while down, 0 logouts", total, interrupts.Load())
	if total < browsers*10 {
		t.Fatalf("only %d pages served: the load did not run", total)
	}
}

// lostDeliveries fails every webhook delivery, as a network that drops them.
type lostDeliveries struct{}

func (lostDeliveries) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("delivery lost")
}

// TestAUD9_LostWebhooksRevocationWithinAccessTTL: every revocation webhook
// is lost, yet a user revoked at the IdP is signed out of both apps (the
// attacker holding both stolen cookies as well) within the access-token
// lifetime, while active the whole time (AUD-9, APP-REF-1).
func TestAUD9_LostWebhooksRevocationWithinAccessTTL(t *testing.T) {
	const accessTTL = 5 * time.Minute // under the demo's 10 min idle timeout
	e := newEnv(t, func(o *demo.Options) {
		o.AccessTTL = accessTTL
		o.Webhook.Client = &http.Client{Transport: lostDeliveries{}}
		o.Webhook.MaxAttempts, o.Webhook.InitialBackoff, o.Webhook.MaxBackoff = 1, time.Millisecond, time.Millisecond
	})
	alice, aliceID := e.user(0)
	victim, attacker := e.browser("victim"), e.browser("attacker")
	victim.login(e.info.Store, alice, "/shopping-cart")
	victim.login(e.info.Forums, alice, "/posts")
	for _, n := range []string{"store-sid", "store-rt"} {
		attacker.setCookie(e.info.Store, n, victim.cookie(e.info.Store, n))
	}
	if r := attacker.get(e.store("/shopping-cart")); r.Status != 200 {
		t.Fatalf("stolen cookies do not work at first: %d", r.Status)
	}
	if _, err := e.admin().RevokeUserTokens(e.ctx, aliceID, ""); err != nil {
		t.Fatal(err)
	}
	// The webhooks are lost: the apps' sessions stay.
	time.Sleep(propagation)
	if len(e.storeSessions(aliceID)) == 0 || len(e.forumSessions(aliceID)) == 0 {
		t.Fatal("test setup: a revocation webhook arrived")
	}
	// Active every minute, all of them: still in before the access
	// token's lifetime, out right after it.
	for elapsed := time.Minute; elapsed < accessTTL; elapsed += time.Minute {
		e.clock.Advance(time.Minute)
		for who, r := range map[string]response{
			"attacker": attacker.get(e.store("/shopping-cart")), "victim store": victim.get(e.store("/shopping-cart")),
			"victim forums": victim.get(e.forums("/posts")),
		} {
			if r.Status != 200 {
				t.Fatalf("%s lost the session at %v, before the access-token lifetime: %d", who, elapsed, r.Status)
			}
		}
	}
	e.clock.Advance(time.Minute + time.Second)
	expectLogin(t, "attacker", attacker.get(e.store("/shopping-cart")), "/shopping-cart")
	expectLogin(t, "victim at the Store", victim.get(e.store("/shopping-cart")), "/shopping-cart")
	expectLogin(t, "victim at the Forums", victim.get(e.forums("/posts")), "/posts")
	if n, m := len(e.storeSessions(aliceID)), len(e.forumSessions(aliceID)); n != 0 || m != 0 {
		t.Fatalf("%d Store and %d Forums sessions remain", n, m)
	}
}
