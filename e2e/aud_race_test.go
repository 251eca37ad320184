package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/examples/demo"
	"github.com/gatehouse-auth/gatehouse/idp"
)

// Attack tests for issue 9 item 6 (lost updates on users) against the real
// demo: an admin change that lands while a login at the Store's form is
// between its read of the user and its write wins. The interleaving is
// forced with a hasher whose Verify waits for the test, not with timing.

// gateHasher wraps the IdP's hasher. Once armed, the next Verify checks
// the password, signals entered and then waits for release, so the test
// can change the user while that login is in progress.
type gateHasher struct {
	idp.PasswordHasher
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

// arm makes the next Verify stop at the gate; it returns the channels the
// test waits on and closes.
func (g *gateHasher) arm() (entered <-chan struct{}, release chan<- struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.entered, g.release = true, make(chan struct{}), make(chan struct{})
	return g.entered, g.release
}

func (g *gateHasher) Verify(ctx context.Context, encoded, pw string) (bool, bool, error) {
	ok, rehash, err := g.PasswordHasher.Verify(ctx, encoded, pw)
	g.mu.Lock()
	armed, entered, release := g.armed, g.entered, g.release
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(entered)
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	return ok, rehash, err
}

// raceLogin starts alice's login at the Store's form in a fresh browser,
// waits until the IdP has checked her password, runs change, lets the
// login finish and returns its answer.
func raceLogin(t *testing.T, e *env, g *gateHasher, u demo.User, change func()) response {
	t.Helper()
	entered, release := g.arm()
	b := e.browser("alice-racing")
	done := make(chan response, 1)
	go func() {
		// b.post may call t.Fatal, which must not run off the test's
		// goroutine: an HTTP error is reported as status 0 instead.
		var r response
		defer func() { done <- r }()
		req, err := http.NewRequest(http.MethodPost, e.store("/login"),
			strings.NewReader(url.Values{"email": {u.Email}, "password": {u.Password}}.Encode()))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", b.ip)
		resp, err := b.hc.Do(req)
		if err != nil {
			t.Errorf("racing login: %v", err)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		r = response{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(data), Header: resp.Header, Cookies: resp.Cookies()}
	}()
	select {
	case <-entered:
	case r := <-done: // failing bound only; the order itself is forced by the gate
		t.Fatalf("the login answered %d before its password check", r.Status)
	case <-time.After(30 * time.Second):
		t.Fatal("the login never reached the IdP's password check")
	}
	change()
	close(release)
	return <-done
}

// adminPutUser sends PUT /api/user/{id} with the demo's operator key.
func (e *env) adminPutUser(id, body string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.info.IdP+"/api/user/"+id, strings.NewReader(body))
	req.Header.Set("Authorization", e.info.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("PUT /api/user/%s %s: %d", id, body, resp.StatusCode)
	}
}

func newRaceEnv(t *testing.T) (*env, *gateHasher) {
	g := &gateHasher{}
	e := newEnv(t, func(o *demo.Options) { g.PasswordHasher = o.Hasher; o.Hasher = g })
	return e, g
}

// expectNoLogin asserts alice got no Store session and no refresh-token
// family from a refused login.
func expectNoLogin(t *testing.T, e *env, userID string, r response) {
	t.Helper()
	if r.Status == http.StatusSeeOther || hasCookie(r, "store-sid") {
		t.Fatalf("the racing login signed in: %d Location %q", r.Status, r.Location)
	}
	if n := len(e.storeSessions(userID)); n != 0 {
		t.Fatalf("the racing login left %d Store sessions", n)
	}
	if n := e.families(userID, e.info.Applications.Store.ID); n != 0 {
		t.Fatalf("the racing login left %d refresh-token families", n)
	}
}

// AUD-6: alice's login at the Store's form has
// checked her (right) password when the operator deactivates her through
// the admin API; the login then gets no session and no refresh token, and
// she stays deactivated. Her password was right for the row the login
// read, so the answer is the same one a deactivated account gives the
// right password (AUD-2: only the right password learns "deactivated").
func TestAUD6_DeactivationRacingLoginWins(t *testing.T) {
	e, g := newRaceEnv(t)
	alice, aliceID := e.user(0)
	r := raceLogin(t, e, g, alice, func() { e.adminPutUser(aliceID, `{"user":{"active":false}}`) })
	expectNoLogin(t, e, aliceID, r)
	if r.Status != http.StatusForbidden || !strings.Contains(r.Body, appkit.MsgLocked) {
		t.Fatalf("racing login: %d, want the deactivated page (403)\n%s", r.Status, r.Body)
	}
	u, err := e.d.IdPStore.GetUser(e.ctx, aliceID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Active {
		t.Fatal("the racing login re-activated alice")
	}
	// Reference: the same answer as a login that did not race.
	if r2 := e.browser("alice-later").post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}}); r2.Status != r.Status {
		t.Fatalf("deactivated alice later: %d, the racing login %d", r2.Status, r.Status)
	}
}

// AUD-6: alice's login with her old password has passed the password
// check when the operator sets a new one; the login gets the generic
// failure, no session and no refresh token, and afterwards only the new
// password works.
func TestAUD6_PasswordChangeRacingLoginWins(t *testing.T) {
	e, g := newRaceEnv(t)
	alice, aliceID := e.user(0)
	const newPW = "a brand new passphrase for twenty twenty-seven"
	r := raceLogin(t, e, g, alice, func() { e.adminPutUser(aliceID, `{"user":{"password":"`+newPW+`"}}`) })
	expectNoLogin(t, e, aliceID, r)
	if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, appkit.MsgInvalidCredentials) || strings.Contains(r.Body, appkit.MsgLocked) {
		t.Fatalf("racing login with the old password: %d, want the generic 401\n%s", r.Status, r.Body)
	}
	if r := e.browser("alice-old").post(e.store("/login"), url.Values{"email": {alice.Email}, "password": {alice.Password}}); r.Status != http.StatusUnauthorized {
		t.Fatalf("old password after the race: %d", r.Status)
	}
	e.browser("alice-new").login(e.info.Store, demo.User{Email: alice.Email, Password: newPW}, "/shopping-cart")
}

// hasCookie reports whether r sets cookie name to a value.
func hasCookie(r response, name string) bool {
	c := r.setCookie(name)
	return c != nil && c.Value != "" && c.MaxAge >= 0
}
