package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/postgres"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
	"github.com/gatehouse-auth/gatehouse/password"
)

// These tests run real identity servers (package idp on this store) as
// separate OS processes on one database, the scale-out deployment of issue
// 6, and drive them over HTTP.

const (
	idpIssuer   = "http://idp.gatehouse.test" // one issuer behind a load balancer
	idpPassword = "multi-process-password-0123456789"
)

func cheapHasher() *password.Hasher { return password.NewHasher(password.Params{Memory: 64, Time: 1}) }

// idpChild serves an identity server on a free loopback port, ready with
// its base URL, until it is killed.
func idpChild(ctx context.Context) error {
	st, err := postgres.Open(ctx, postgres.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL")})
	if err != nil {
		return err
	}
	srv, err := idp.New(ctx, idp.Config{Store: st, Issuer: idpIssuer, Hasher: cheapHasher(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	childproc.Ready("http://" + ln.Addr().String())
	return http.Serve(ln, srv.Handler())
}

// idpProc is an identity server child process.
type idpProc struct {
	*childproc.Child
	url string
}

func startIdP(t *testing.T, dbURL string) *idpProc {
	t.Helper()
	c := childproc.Start(t, "idp", "GATEHOUSE_CHILD_URL="+dbURL)
	return &idpProc{Child: c, url: c.Info}
}

// idpWorld is a database with one application and users, set up through
// the admin operations (as `gatehouse user create` would), before the IdP
// processes start.
type idpWorld struct {
	db               string
	clientID, secret string
	emails           []string
	hc               *http.Client
}

func newIdPWorld(t *testing.T, users int, grace time.Duration) *idpWorld {
	t.Helper()
	ctx := t.Context()
	w := &idpWorld{db: pgtest.NewDatabase(t),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	st, err := postgres.Open(ctx, postgres.Config{URL: w.db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := idp.New(ctx, idp.Config{Store: st, Issuer: idpIssuer, Hasher: cheapHasher(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	g := int(grace / time.Second)
	app, secret, err := srv.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "store", Config: store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true,
		GracePeriodSeconds: &g,
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.clientID, w.secret = app.ID, secret
	for i := range users {
		email := fmt.Sprintf("user%d@example.com", i)
		u, err := srv.Admin().CreateUser(ctx, idp.UserSpec{Email: email, Password: idpPassword, Verified: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Admin().Register(ctx, u.ID, app.ID, nil); err != nil {
			t.Fatal(err)
		}
		w.emails = append(w.emails, email)
	}
	return w
}

type tokenResponse struct {
	RefreshToken   string `json:"refresh_token"`
	RefreshTokenID string `json:"refresh_token_id"`
	AccessToken    string `json:"access_token"`
	Error          string `json:"error"`
}

// token posts form to base's token endpoint with the app's credentials.
func (w *idpWorld) token(base string, form url.Values) (int, tokenResponse, error) {
	form.Set("client_id", w.clientID)
	form.Set("client_secret", w.secret)
	resp, err := w.hc.PostForm(base+"/oauth2/token", form)
	if err != nil {
		return 0, tokenResponse{}, err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	err = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr, err
}

func (w *idpWorld) login(t *testing.T, base, email string) tokenResponse {
	t.Helper()
	st, tr, err := w.token(base, url.Values{"grant_type": {"password"}, "username": {email},
		"password": {idpPassword}, "scope": {"offline_access"}})
	if err != nil || st != 200 || tr.RefreshToken == "" {
		t.Fatalf("login on %s: %d %+v %v", base, st, tr, err)
	}
	return tr
}

func (w *idpWorld) refresh(base, rt string) (int, tokenResponse, error) {
	return w.token(base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// generation reads a family's rotation count from the database.
func generation(t *testing.T, db, familyID string) int {
	t.Helper()
	st, err := postgres.Open(t.Context(), postgres.Config{URL: db})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, err := st.GetRefreshToken(t.Context(), familyID)
	if err != nil {
		t.Fatalf("family %s: %v", familyID, err)
	}
	return f.Generation
}

// TestTwoIdPProcesses (S11, IDP-RT-5 across IdP processes): a login on
// one IdP process refreshes on the other; then 16 requests present the same
// refresh token at once, half to each process. The family rotates exactly
// once, every request gets the same new token (the losers answer the
// winner's successor inside the grace period), and nothing is revoked.
func TestTwoIdPProcesses(t *testing.T) {
	w := newIdPWorld(t, 1, time.Minute)
	a, b := startIdP(t, w.db), startIdP(t, w.db)

	tr := w.login(t, a.url, w.emails[0])
	st, r1, err := w.refresh(b.url, tr.RefreshToken)
	if err != nil || st != 200 || r1.RefreshToken == "" || r1.RefreshToken == tr.RefreshToken {
		t.Fatalf("refresh on B of A's login: %d %+v %v", st, r1, err)
	}
	family := tr.RefreshTokenID
	if family == "" {
		t.Fatal("token response carries no refresh_token_id")
	}
	before := generation(t, w.db, family)

	const n = 16
	type result struct {
		status int
		tr     tokenResponse
		err    error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			base := a.url
			if i%2 == 1 {
				base = b.url
			}
			<-start
			st, tr, err := w.refresh(base, r1.RefreshToken)
			results[i] = result{st, tr, err}
		})
	}
	close(start)
	wg.Wait()
	next := ""
	for i, r := range results {
		if r.err != nil || r.status != 200 {
			t.Errorf("request %d: %d %+v %v", i, r.status, r.tr, r.err)
			continue
		}
		if next == "" {
			next = r.tr.RefreshToken
		} else if r.tr.RefreshToken != next {
			t.Errorf("request %d got a different refresh token: the family forked", i)
		}
	}
	if g := generation(t, w.db, family); g != before+1 {
		t.Errorf("family rotated %d times for one token presented 16 times, want 1", g-before)
	}
	// The user is still logged in, on either process.
	if st, _, err := w.refresh(a.url, next); err != nil || st != 200 {
		t.Errorf("refresh with the new token on A: %d %v", st, err)
	}
}

// TestKillIdPDuringRefreshLoad: 12 users keep refreshing through IdP
// process A; A is killed with SIGKILL mid-load. Each user then presents the
// last refresh token they received to process B: it works (it is live, or
// its rotation committed but the answer was lost and the grace period
// returns the same successor), so every family still has exactly one live
// token and nobody is logged out.
func TestKillIdPDuringRefreshLoad(t *testing.T) {
	const users = 12
	w := newIdPWorld(t, users, 5*time.Minute)
	a, b := startIdP(t, w.db), startIdP(t, w.db)

	last := make([]string, users)
	families := make([]string, users)
	for i := range users {
		tr := w.login(t, a.url, w.emails[i])
		last[i], families[i] = tr.RefreshToken, tr.RefreshTokenID
	}
	var mu sync.Mutex
	done := make(chan struct{})
	progress := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	for i := range users {
		wg.Go(func() {
			for n := 0; n < 5000; n++ {
				select {
				case <-done:
					return
				default:
				}
				mu.Lock()
				rt := last[i]
				mu.Unlock()
				st, tr, err := w.refresh(a.url, rt)
				if err != nil {
					return // A is gone
				}
				if st != 200 {
					t.Errorf("user %d: refresh on A before the kill: %d %+v", i, st, tr)
					return
				}
				mu.Lock()
				last[i] = tr.RefreshToken
				mu.Unlock()
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	for range 200 { // kill once the load is well under way
		<-progress
	}
	a.Kill()
	close(done)
	wg.Wait()

	for i := range users {
		st, tr, err := w.refresh(b.url, last[i])
		if err != nil || st != 200 {
			t.Errorf("user %d: last token received from A, presented to B: %d %+v %v", i, st, tr, err)
			continue
		}
		if st, _, err := w.refresh(b.url, tr.RefreshToken); err != nil || st != 200 {
			t.Errorf("user %d: the chain does not go on on B: %d %v", i, st, err)
		}
		generation(t, w.db, families[i]) // the family still exists
	}
}
