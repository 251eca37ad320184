package webhooksender_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/postgres"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
	"github.com/gatehouse-auth/gatehouse/password"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

const testSecret = "whsec-test-0123456789abcdef-marker"

// syncBuf collects logs from goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recv is a test app: a real webhook.Receiver in front of "sessions" (one
// per refresh-token family, per user), ended as an app ends them, plus a
// switchable failure mode and counters.
type recv struct {
	srv      *httptest.Server
	mu       sync.Mutex
	events   []webhook.Event
	sessions map[string]string // family id -> user id
	hits     atomic.Int64
	tooLarge atomic.Int64 // 413s the Receiver answered
	failN    atomic.Int64 // answer 503 to this many more requests
	status   atomic.Int64 // when non-zero, always answer this
}

func newRecv(t *testing.T, secret string, maxBody int64) *recv {
	t.Helper()
	r := &recv{sessions: map[string]string{}}
	rc, err := webhook.NewReceiver(webhook.ReceiverConfig{Secret: []byte(secret), Logger: slog.New(slog.DiscardHandler),
		MaxBodyBytes: maxBody,
		Handle: func(_ context.Context, e webhook.Event) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.events = append(r.events, e)
			if len(e.RefreshTokenIDs) == 0 { // every family of the user
				for f, u := range r.sessions {
					if u == e.UserID {
						delete(r.sessions, f)
					}
				}
			}
			for _, f := range e.RefreshTokenIDs {
				delete(r.sessions, f)
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if s := r.status.Load(); s != 0 {
			w.WriteHeader(int(s))
			return
		}
		if r.failN.Load() > 0 {
			r.failN.Add(-1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rec := httptest.NewRecorder()
		rc.ServeHTTP(rec, req)
		if rec.Code == http.StatusRequestEntityTooLarge {
			r.tooLarge.Add(1)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recv) Events() []webhook.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Event(nil), r.events...)
}

func (r *recv) live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func createApp(t *testing.T, st store.Store, secret string, urls ...string) string {
	t.Helper()
	a := &store.Application{ID: uuid.NewString(), Name: "app " + uuid.NewString()[:8], Active: true, CreatedAt: time.Now(),
		Config: store.ApplicationConfig{WebhookURLs: urls, WebhookSecret: secret}}
	if err := st.CreateApplication(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func enqueue(t *testing.T, st store.Store, e webhook.Event) webhook.Event {
	t.Helper()
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	body, err := webhook.Marshal(e.Normalize())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.EnqueueOutbox(context.Background(), []*store.OutboxMessage{{
		ID: e.ID, ApplicationID: e.ApplicationID, Payload: body, CreatedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	return e
}

func newSender(t *testing.T, st webhooksender.Store, logs io.Writer, mod func(*webhooksender.Config)) *webhooksender.Sender {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	cfg := webhooksender.Config{Store: st, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	s, err := webhooksender.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func outboxLen(t *testing.T, st store.Store) int {
	t.Helper()
	// Counted, not claimed: a claim here would steal a message the sender
	// is about to complete and hide it for the claim's lease.
	n, err := st.CountOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The sender signs with the application's secret, sends FusionAuth-shaped
// JSON, routes by application, and never logs the secret, the signature or
// a URL's query.
func TestSenderRoutesAndSigns(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "idp.db"))
	const secret2 = "second-app-secret-0123456789"
	r1, r2 := newRecv(t, testSecret, 0), newRecv(t, secret2, 0)
	app1 := createApp(t, st, testSecret, r1.srv.URL+"/hook?token=query-marker")
	createApp(t, st, secret2, r2.srv.URL+"/hook")
	createApp(t, st, "", r2.srv.URL+"/unsigned") // no secret: never sent
	logs := &syncBuf{}
	newSender(t, st, logs, nil)

	e1 := enqueue(t, st, webhook.Event{Type: webhook.EventRefreshTokenRevoke, UserID: "u1", ApplicationID: app1, RefreshTokenIDs: []string{"f1"}, Reason: "logout"})
	eventually(t, "the app's event", func() bool { return len(r1.Events()) == 1 })
	if got := r1.Events()[0]; got.ID != e1.ID || got.UserID != "u1" || got.RefreshToken == nil || got.RefreshToken.ID != "f1" {
		t.Fatalf("delivered %+v", got)
	}
	enqueue(t, st, webhook.Event{Type: webhook.EventUserPasswordUpdate, UserID: "u2"})
	eventually(t, "the all-apps event", func() bool { return len(r1.Events()) == 2 && len(r2.Events()) == 1 })
	time.Sleep(50 * time.Millisecond)
	if r2.hits.Load() != 1 {
		t.Fatalf("r2 hits %d: an app without a secret got a delivery", r2.hits.Load())
	}
	eventually(t, "an empty outbox", func() bool { return outboxLen(t, st) == 0 })
	for _, secret := range []string{testSecret, secret2, "query-marker", "sha256="} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("logs contain %q", secret)
		}
	}
}

// gathered returns the value of the sender's outcome counter.
func gathered(t *testing.T, s prometheus.Collector, outcome string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_idp_webhook_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no gatehouse_idp_webhook_deliveries_total{outcome=%q}", outcome)
	return 0
}

// AUD-8: a delivery refused with a 4xx is not dropped after one try: it is
// retried with backoff, and given up only after MaxAttempts rounds, with
// an ERROR line and the gave_up counter.
func TestAUD8_RefusedDeliveryRetriedThenGivenUpLoudly(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "idp.db"))
	r := newRecv(t, testSecret, 0)
	r.status.Store(http.StatusBadRequest)
	app := createApp(t, st, testSecret, r.srv.URL)
	logs := &syncBuf{}
	s := newSender(t, st, logs, func(c *webhooksender.Config) { c.MaxAttempts = 4 })
	e := enqueue(t, st, webhook.Event{Type: webhook.EventUserDeactivate, UserID: "u1", ApplicationID: app})
	eventually(t, "the sender to give up", func() bool { return s.Stats().GaveUp == 1 })
	if got := r.hits.Load(); got != 4 {
		t.Fatalf("a 400 was tried %d times, want 4 (retried, not dropped)", got)
	}
	if st := s.Stats(); st.Retried != 3 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}
	if v := gathered(t, s, "gave_up"); v != 1 {
		t.Fatalf("gave_up counter %v", v)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "delivery given up") || !strings.Contains(l, e.ID) {
		t.Fatalf("no ERROR line naming the event:\n%s", l)
	}
	if n := outboxLen(t, st); n != 0 {
		t.Fatalf("%d messages left after giving up", n)
	}
}

// A failing target is retried until it acknowledges; a target that
// acknowledged is not sent the event again.
func TestAUD8_RetryUntilDeliveredSkipsDoneTargets(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "idp.db"))
	ok, flaky := newRecv(t, testSecret, 0), newRecv(t, testSecret, 0)
	flaky.failN.Store(3)
	createApp(t, st, testSecret, ok.srv.URL)
	createApp(t, st, testSecret, flaky.srv.URL)
	s := newSender(t, st, nil, nil)
	enqueue(t, st, webhook.Event{Type: webhook.EventUserDelete, UserID: "u1"})
	eventually(t, "both apps", func() bool { return len(ok.Events()) == 1 && len(flaky.Events()) == 1 })
	eventually(t, "an empty outbox", func() bool { return outboxLen(t, st) == 0 })
	if ok.hits.Load() != 1 || flaky.hits.Load() != 4 {
		t.Fatalf("hits ok=%d flaky=%d, want 1 and 4", ok.hits.Load(), flaky.hits.Load())
	}
	if got := s.Stats(); got.Retried != 3 || got.Delivered != 2 || got.GaveUp != 0 {
		t.Fatalf("stats %+v", got)
	}
}

// AUD-8: a receiver answering 413 gets the event in parts, each with a
// stable derived id, until every family is delivered.
func TestAUD8_TooLargeSplitsTheEvent(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "idp.db"))
	r := newRecv(t, testSecret, 2<<10) // a receiver with a 2 KiB limit
	app := createApp(t, st, testSecret, r.srv.URL)
	var ids []string
	for i := range 300 {
		id := fmt.Sprintf("fam-%03d-%s", i, uuid.NewString())
		ids = append(ids, id)
		r.sessions[id] = "u1"
	}
	s := newSender(t, st, nil, nil)
	e := enqueue(t, st, webhook.Event{Type: webhook.EventRefreshTokenRevoke, UserID: "u1", ApplicationID: app, RefreshTokenIDs: ids})
	eventually(t, "every family's session to end", func() bool { return r.live() == 0 })
	eventually(t, "an empty outbox", func() bool { return outboxLen(t, st) == 0 })
	if r.tooLarge.Load() == 0 {
		t.Fatal("the receiver never refused a body: the test proves nothing")
	}
	for _, got := range r.Events() {
		if !strings.HasPrefix(got.ID, e.ID+".") {
			t.Fatalf("part id %q does not derive from %q", got.ID, e.ID)
		}
	}
	if s.Stats().GaveUp != 0 {
		t.Fatal("gave up")
	}
}

// AUD-8, IDP-REV-1: revoking 5,000 refresh-token families of one user
// reaches the app (a real webhook.Receiver with its 64 KiB limit) and ends
// every family's session, without a single 413: the IdP splits the
// revocation into events well under the limit.
func TestAUD8_RevocationOf5000FamiliesReachesTheApp(t *testing.T) {
	i := idptest.Start(t)
	r := newRecv(t, testSecret, 0)
	appID, _ := i.CreateApp(t, idptest.AppOptions{Name: "five thousand", WebhookURLs: []string{r.srv.URL}})
	ctx := context.Background()
	app, err := i.Store.GetApplication(ctx, appID)
	if err != nil {
		t.Fatal(err)
	}
	app.Config.WebhookSecret = testSecret
	if err := i.Store.UpdateApplication(ctx, app); err != nil {
		t.Fatal(err)
	}
	uid := i.CreateUser(t, "many@example.com", "a long enough test passphrase", appID)
	now := time.Now()
	const families = 5000
	for n := range families {
		id := uuid.NewString()
		h := sha256.Sum256([]byte(id))
		if err := i.Store.CreateRefreshToken(ctx, &store.RefreshToken{ID: id, UserID: uid, ApplicationID: appID, TokenHash: h[:],
			CreatedAt: now, StartAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: now, Grants: []string{"password"}}); err != nil {
			t.Fatalf("family %d: %v", n, err)
		}
		r.sessions[id] = uid
	}
	r.sessions["other-user-family"] = "someone-else"
	newSender(t, i.Store, nil, nil)

	req, _ := http.NewRequest(http.MethodDelete, i.URL+"/api/jwt/refresh?userId="+uid, nil)
	req.Header.Set("Authorization", i.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	eventually(t, "every family's session to end", func() bool { return r.live() == 1 })
	if r.tooLarge.Load() != 0 {
		t.Fatalf("%d deliveries refused as too large", r.tooLarge.Load())
	}
	if got := len(r.Events()); got != families/webhook.MaxIDsPerEvent {
		t.Fatalf("%d events, want %d", got, families/webhook.MaxIDsPerEvent)
	}
}

// AUD-8: deliveries pending when the IdP dies (kill -9: nothing released,
// no Close) are delivered by the next process on the same database: both
// a revocation no sender had picked up yet and one a dead sender had
// claimed (once its lease ends).
func TestAUD8_PendingDeliveriesSurviveAnIdPKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	ctx := context.Background()
	r := newRecv(t, testSecret, 0)

	// First life: revoke while the app is unreachable, then die.
	st1, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := idp.New(ctx, idp.Config{Store: st1, Issuer: "http://idp.test", Logger: slog.New(slog.DiscardHandler),
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := srv.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "app", Config: store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true,
		WebhookURLs: []string{r.srv.URL}, WebhookSecret: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	users := []string{uuid.NewString(), uuid.NewString()}
	for n, uid := range users {
		if err := st1.CreateUser(ctx, &store.User{ID: uid, Email: fmt.Sprintf("u%d@example.com", n), Active: true, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			id := uuid.NewString()
			h := sha256.Sum256([]byte(id))
			if err := st1.CreateRefreshToken(ctx, &store.RefreshToken{ID: id, UserID: uid, ApplicationID: app.ID, TokenHash: h[:],
				CreatedAt: now, StartAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: now}); err != nil {
				t.Fatal(err)
			}
			r.sessions[id] = uid
		}
	}
	// User 0: deactivated; no sender ever ran in this life.
	if err := srv.Admin().SetActive(ctx, users[0], false); err != nil {
		t.Fatal(err)
	}
	// User 1: password changed; a sender claimed the event and died
	// holding the lease (never completed, never released).
	if err := srv.Admin().SetPassword(ctx, users[1], "another long enough passphrase"); err != nil {
		t.Fatal(err)
	}
	claimed, err := st1.ClaimOutbox(ctx, time.Now(), time.Minute, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("dead sender's claim: %d, %v", len(claimed), err)
	}
	if err := st1.Close(); err != nil { // the process is gone
		t.Fatal(err)
	}
	if r.hits.Load() != 0 {
		t.Fatal("something was delivered in the first life")
	}

	// Second life: a new process on the same file, its clock past the dead
	// sender's lease.
	st2 := openStore(t, path)
	newSender(t, st2, nil, func(c *webhooksender.Config) {
		c.Schedule = func() time.Time { return time.Now().Add(2 * time.Minute) }
	})
	eventually(t, "every session of both users to end", func() bool { return r.live() == 0 })
	eventually(t, "an empty outbox", func() bool { return outboxLen(t, st2) == 0 })
	types := map[string]bool{}
	for _, e := range r.Events() {
		types[e.Type] = true
	}
	if !types[webhook.EventUserDeactivate] || !types[webhook.EventUserPasswordUpdate] {
		t.Fatalf("delivered types %v", types)
	}
}

// AUD-8: with PostgreSQL, several IdP processes share the outbox: two
// senders on two connection pools (two processes) deliver every message,
// and never the same message at once (FOR UPDATE SKIP LOCKED and the
// lease), so each event reaches the app exactly once.
func TestAUD8_TwoSendersShareThePostgresOutbox(t *testing.T) {
	url := pgtest.NewSchema(t)
	ctx := context.Background()
	open := func() *postgres.Store {
		st, err := postgres.Open(ctx, postgres.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	st1, st2 := open(), open()
	r := newRecv(t, testSecret, 0)
	app := createApp(t, st1, testSecret, r.srv.URL)
	const n = 200
	for i := range n {
		enqueue(t, st1, webhook.Event{Type: webhook.EventRefreshTokenRevoke, UserID: fmt.Sprintf("u%d", i), ApplicationID: app})
	}
	s1 := newSender(t, st1, nil, func(c *webhooksender.Config) { c.Batch = 5 })
	s2 := newSender(t, st2, nil, func(c *webhooksender.Config) { c.Batch = 5 })
	eventually(t, "every event", func() bool { return len(r.Events()) == n })
	eventually(t, "an empty outbox", func() bool { return outboxLen(t, st1) == 0 })
	if h := r.hits.Load(); h != n {
		t.Fatalf("%d requests for %d events: a message was delivered twice", h, n)
	}
	if s1.Stats().Delivered == 0 || s2.Stats().Delivered == 0 {
		t.Logf("one sender delivered everything (s1 %d, s2 %d)", s1.Stats().Delivered, s2.Stats().Delivered)
	}
}

// A round ends inside its lease: a target that hangs is cut off and
// retried in a later round, rather than the round outliving the lease (and
// another sender claiming the message meanwhile).
func TestRoundEndsInsideTheLease(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "idp.db"))
	r := newRecv(t, testSecret, 0)
	release := make(chan struct{})
	var first atomic.Bool
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if first.CompareAndSwap(false, true) {
			select { // hang until the client gives up or the test ends
			case <-req.Context().Done():
			case <-release:
			}
			return
		}
		r.srv.Config.Handler.ServeHTTP(w, req)
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs before hang.Close
	app := createApp(t, st, testSecret, hang.URL)
	logs := &syncBuf{}
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	s := newSender(t, st, logs, func(c *webhooksender.Config) { c.Lease, c.Timeout = 200*time.Millisecond, time.Hour })
	enqueue(t, st, webhook.Event{Type: webhook.EventUserDelete, UserID: "u1", ApplicationID: app})
	eventually(t, "the retry's delivery", func() bool { return len(r.Events()) == 1 })
	if got := s.Stats(); got.Retried < 1 || got.Attempts < 2 {
		t.Fatalf("stats %+v", got)
	}
}
