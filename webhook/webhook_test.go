package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const testSecret = "whsec-test-0123456789abcdef-marker"

// apps is an in-memory Applications.
type apps struct {
	mu   sync.Mutex
	list []*store.Application
	fail atomic.Bool
}

func (a *apps) GetApplication(_ context.Context, id string) (*store.Application, error) {
	if a.fail.Load() {
		return nil, errors.New("store down")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, x := range a.list {
		if x.ID == id {
			return x, nil
		}
	}
	return nil, store.ErrNotFound
}

func (a *apps) ListApplications(context.Context) ([]*store.Application, error) {
	if a.fail.Load() {
		return nil, errors.New("store down")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*store.Application(nil), a.list...), nil
}

func app(id, secret string, urls ...string) *store.Application {
	return &store.Application{ID: id, Name: id, Active: true,
		Config: store.ApplicationConfig{WebhookURLs: urls, WebhookSecret: secret}}
}

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

// recv is a test endpoint: a real Receiver plus a switchable failure mode.
type recv struct {
	srv     *httptest.Server
	mu      sync.Mutex
	events  []Event
	hits    atomic.Int64
	failN   atomic.Int64 // answer 503 to this many more requests
	status  atomic.Int64 // when non-zero, always answer this
	handled chan Event
}

func newRecv(t *testing.T, secret string) *recv {
	t.Helper()
	r := &recv{handled: make(chan Event, 100)}
	rc, err := NewReceiver(ReceiverConfig{Secret: []byte(secret), Logger: slog.New(slog.DiscardHandler),
		Handle: func(_ context.Context, e Event) error {
			r.mu.Lock()
			r.events = append(r.events, e)
			r.mu.Unlock()
			r.handled <- e
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
		rc.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recv) wait(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-r.handled:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event delivered within 5 s")
		return Event{}
	}
}

func newTestSender(t *testing.T, a Applications, logs io.Writer, mod func(*SenderConfig)) *Sender {
	t.Helper()
	if logs == nil {
		logs = io.Discard
	}
	cfg := SenderConfig{Applications: a, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	s, err := NewSender(cfg)
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

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event":{"id":"e1","type":"user.deactivate","userId":"u1"}}`)
	ts, sig := Sign([]byte(testSecret), now, body)
	if ts != "1700000000" || !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("headers %q %q", ts, sig)
	}
	tol := 5 * time.Minute
	if err := Verify([]byte(testSecret), ts, sig, body, now.Add(4*time.Minute), tol); err != nil {
		t.Fatalf("valid delivery refused: %v", err)
	}
	tampered := bytes.Replace(body, []byte("u1"), []byte("u2"), 1)
	cases := []struct {
		name            string
		secret, ts, sig string
		body            []byte
		now             time.Time
		want            error
	}{
		{"tampered body", testSecret, ts, sig, tampered, now, ErrBadSignature},
		{"one extra byte", testSecret, ts, sig, append(append([]byte(nil), body...), ' '), now, ErrBadSignature},
		// The timestamp is inside the MAC: moving it forward to pass the
		// window check breaks the signature.
		{"timestamp moved", testSecret, "1700000600", sig, body, now.Add(10 * time.Minute), ErrBadSignature},
		{"other secret", "another-secret-of-enough-length", ts, sig, body, now, ErrBadSignature},
		{"stale (replayed later)", testSecret, ts, sig, body, now.Add(6 * time.Minute), ErrStale},
		{"from the future", testSecret, ts, sig, body, now.Add(-6 * time.Minute), ErrStale},
		{"no signature", testSecret, ts, "", body, now, ErrMalformed},
		{"no timestamp", testSecret, "", sig, body, now, ErrMalformed},
		{"bad timestamp", testSecret, "12a", sig, body, now, ErrMalformed},
		{"wrong scheme", testSecret, ts, "sha1=" + sig[7:], body, now, ErrMalformed},
		{"short mac", testSecret, ts, sig[:40], body, now, ErrMalformed},
		{"non-hex mac", testSecret, ts, "sha256=" + strings.Repeat("z", 64), body, now, ErrMalformed},
	}
	for _, c := range cases {
		if err := Verify([]byte(c.secret), c.ts, c.sig, c.body, c.now, tol); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// post sends a hand-made delivery to h.
func post(h http.Handler, body []byte, ts, sig string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/webhooks/gatehouse", bytes.NewReader(body))
	if ts != "" {
		req.Header.Set(HeaderTimestamp, ts)
	}
	if sig != "" {
		req.Header.Set(HeaderSignature, sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestReceiverStatusesTamperAndReplay(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := now
	var calls []Event
	fail := false
	rc, err := NewReceiver(ReceiverConfig{Secret: []byte(testSecret), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return clock },
		Handle: func(_ context.Context, e Event) error {
			if fail {
				return errors.New("store down")
			}
			calls = append(calls, e)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := Marshal(Event{ID: "evt-1", Type: EventRefreshTokenRevoke, UserID: "user-1", RefreshTokenIDs: []string{"fam-1"}})
	ts, sig := Sign([]byte(testSecret), now, body)

	if rec := post(rc, body, ts, sig); rec.Code != 200 || len(calls) != 1 || calls[0].UserID != "user-1" || calls[0].RefreshTokenIDs[0] != "fam-1" {
		t.Fatalf("valid delivery: %d, calls %+v", rec.Code, calls)
	}
	// Replay of the same signed request within the window: accepted as a
	// repeat, not handled again.
	if rec := post(rc, body, ts, sig); rec.Code != 200 || len(calls) != 1 {
		t.Fatalf("replay: %d, %d calls", rec.Code, len(calls))
	}
	// Replay after the window: refused.
	clock = now.Add(6 * time.Minute)
	if rec := post(rc, body, ts, sig); rec.Code != 401 || len(calls) != 1 {
		t.Fatalf("stale replay: %d, %d calls", rec.Code, len(calls))
	}
	clock = now
	tampered := bytes.Replace(body, []byte("user-1"), []byte("user-2"), 1)
	if rec := post(rc, tampered, ts, sig); rec.Code != 401 || len(calls) != 1 {
		t.Fatalf("tampered: %d, %d calls", rec.Code, len(calls))
	}
	if rec := post(rc, body, "", ""); rec.Code != 400 {
		t.Fatalf("unsigned: %d", rec.Code)
	}
	// Signed but not an event.
	junk := []byte(`{"event":{}}`)
	jts, jsig := Sign([]byte(testSecret), now, junk)
	if rec := post(rc, junk, jts, jsig); rec.Code != 400 {
		t.Fatalf("signed junk: %d", rec.Code)
	}
	big := bytes.Repeat([]byte("x"), DefaultMaxBodyBytes+1)
	bts, bsig := Sign([]byte(testSecret), now, big)
	if rec := post(rc, big, bts, bsig); rec.Code != 413 {
		t.Fatalf("big body: %d", rec.Code)
	}
	req := httptest.NewRequest(http.MethodGet, "/webhooks/gatehouse", nil)
	rec := httptest.NewRecorder()
	rc.ServeHTTP(rec, req)
	if rec.Code != 405 {
		t.Fatalf("GET: %d", rec.Code)
	}
	// A failing handler answers 500 and does not mark the event handled,
	// so the sender's retry runs it.
	body2, _ := Marshal(Event{ID: "evt-2", Type: EventUserDeactivate, User: &EventUser{ID: "user-3"}})
	ts2, sig2 := Sign([]byte(testSecret), now, body2)
	fail = true
	if rec := post(rc, body2, ts2, sig2); rec.Code != 500 {
		t.Fatalf("failing handler: %d", rec.Code)
	}
	fail = false
	if rec := post(rc, body2, ts2, sig2); rec.Code != 200 || len(calls) != 2 || calls[1].UserID != "user-3" {
		t.Fatalf("retry after failure: %d, calls %+v", rec.Code, calls)
	}
	if _, err := NewReceiver(ReceiverConfig{Secret: []byte("short"), Handle: func(context.Context, Event) error { return nil }}); err == nil {
		t.Fatal("short secret accepted")
	}
}

// The sender signs with the application's secret, sends FusionAuth-shaped
// JSON, routes by application, and never logs the secret or the signature.
func TestSenderRoutesAndSigns(t *testing.T) {
	r1, r2 := newRecv(t, testSecret), newRecv(t, "second-app-secret-0123456789")
	a := &apps{list: []*store.Application{
		app("app-1", testSecret, r1.srv.URL+"/hook?token=query-marker"),
		app("app-2", "second-app-secret-0123456789", r2.srv.URL+"/hook"),
		app("app-3", "", r2.srv.URL+"/unsigned"), // no secret: never sent
	}}
	logs := &syncBuf{}
	s := newTestSender(t, a, logs, nil)

	s.Publish(context.Background(), idp.Event{Type: idp.EventRefreshTokenRevoke, UserID: "u1", ApplicationID: "app-1",
		RefreshTokenIDs: []string{"fam-9"}, Reason: "reuse", CreateInstant: 1234})
	e := r1.wait(t)
	if e.Type != EventRefreshTokenRevoke || e.UserID != "u1" || e.ApplicationID != "app-1" || e.Reason != "reuse" ||
		e.User == nil || e.User.ID != "u1" || e.RefreshToken == nil || e.RefreshToken.ID != "fam-9" || e.ID == "" || e.CreateInstant != 1234 {
		t.Fatalf("event %+v", e)
	}
	// Every application when the event has none.
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserPasswordUpdate, UserID: "u2"})
	e1, e2 := r1.wait(t), r2.wait(t)
	if e1.ID != e2.ID || e1.UserID != "u2" || e2.Type != EventUserPasswordUpdate {
		t.Fatalf("broadcast: %+v / %+v", e1, e2)
	}
	// Unknown application: nothing sent, nothing blocks.
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u3", ApplicationID: "nope"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r2.hits.Load(); n != 1 {
		t.Fatalf("app-2 got %d requests, want 1 (no request for app-1's event, none unsigned)", n)
	}
	if st := s.Stats(); st.Delivered != 3 || st.Failed != 0 {
		t.Fatalf("stats %+v", st)
	}
	out := logs.String()
	for _, secret := range []string{testSecret, "second-app-secret", "sha256=", "query-marker"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "no webhook secret") {
		t.Fatalf("missing-secret warning not logged:\n%s", out)
	}
}

func TestSenderRetriesWithBackoff(t *testing.T) {
	r := newRecv(t, testSecret)
	r.failN.Store(3)
	a := &apps{list: []*store.Application{app("app-1", testSecret, r.srv.URL)}}
	s := newTestSender(t, a, nil, nil)
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserDeactivate, UserID: "u1", ApplicationID: "app-1"})
	if e := r.wait(t); e.UserID != "u1" {
		t.Fatalf("event %+v", e)
	}
	if n := r.hits.Load(); n != 4 {
		t.Fatalf("%d requests, want 3 failures + 1 success", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Delivered != 1 || st.Attempts != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSenderStopsOnRefusalAndAfterMaxAttempts(t *testing.T) {
	refuse, down := newRecv(t, testSecret), newRecv(t, testSecret)
	refuse.status.Store(http.StatusUnauthorized)
	down.status.Store(http.StatusBadGateway)
	a := &apps{list: []*store.Application{app("a", testSecret, refuse.srv.URL), app("b", testSecret, down.srv.URL)}}
	s := newTestSender(t, a, nil, func(c *SenderConfig) { c.MaxAttempts = 3 })
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u1"})
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Failed < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if refuse.hits.Load() != 1 || down.hits.Load() != 3 || s.Stats().Failed != 2 {
		t.Fatalf("refused %d (want 1), down %d (want 3), stats %+v", refuse.hits.Load(), down.hits.Load(), s.Stats())
	}
}

// Publish never blocks, even when the queue and the pending deliveries are
// full behind a receiver that does not answer: it drops instead.
func TestPublishNeverBlocks(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)
	a := &apps{list: []*store.Application{app("a", testSecret, slow.URL)}}
	s := newTestSender(t, a, nil, func(c *SenderConfig) { c.QueueSize = 2; c.MaxPending = 2; c.Workers = 1 })
	start := time.Now()
	for i := 0; i < 200; i++ {
		s.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u"})
	}
	if st := s.Stats(); st.Dropped == 0 {
		t.Fatalf("nothing dropped with a blocked receiver and tiny queues: %+v", st)
	}
	// Generous bound: 200 non-blocking calls; a blocking Publish would hang
	// on the first full queue for the receiver's lifetime.
	if time.Since(start) > 5*time.Second {
		t.Fatal("Publish blocked")
	}
}

// Close drains: a delivery waiting for its next attempt is attempted at
// once; when the deadline passes first, Close reports the abandoned ones.
func TestCloseDrainsWithDeadline(t *testing.T) {
	r := newRecv(t, testSecret)
	r.failN.Store(1)
	a := &apps{list: []*store.Application{app("a", testSecret, r.srv.URL)}}
	s := newTestSender(t, a, nil, func(c *SenderConfig) { c.InitialBackoff = time.Hour; c.MaxBackoff = time.Hour })
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u1"})
	for r.hits.Load() < 1 {
		time.Sleep(2 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if st := s.Stats(); st.Delivered != 1 {
		t.Fatalf("hour-long backoff not cut short by Close: %+v", st)
	}
	// Published after Close: dropped.
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u1"})
	if s.Stats().Dropped != 1 {
		t.Fatal("event after Close not dropped")
	}

	down := newRecv(t, testSecret)
	down.status.Store(http.StatusServiceUnavailable)
	a2 := &apps{list: []*store.Application{app("a", testSecret, down.srv.URL)}}
	s2 := newTestSender(t, a2, nil, func(c *SenderConfig) { c.InitialBackoff = time.Hour; c.MaxBackoff = time.Hour })
	s2.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u1"})
	for down.hits.Load() < 1 {
		time.Sleep(2 * time.Millisecond)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if err := s2.Close(ctx2); err == nil || !strings.Contains(err.Error(), "1 deliveries abandoned") {
		t.Fatalf("close past deadline: %v", err)
	}
}

// The body is FusionAuth's {"event":{…}} shape.
func TestPayloadShape(t *testing.T) {
	b, err := Marshal(FromIdP("id-1", idp.Event{Type: idp.EventRefreshTokenRevoke, UserID: "u", ApplicationID: "a", RefreshTokenIDs: []string{"f1", "f2"}, CreateInstant: 5}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	ev := m["event"]
	if ev["type"] != "jwt.refresh-token.revoke" || ev["id"] != "id-1" || ev["userId"] != "u" || ev["applicationId"] != "a" ||
		ev["createInstant"] != float64(5) || ev["refreshToken"] != nil || len(ev["refreshTokenIds"].([]any)) != 2 {
		t.Fatalf("payload %s", b)
	}
}

// An application store that cannot be read drops the event with a log
// line after a few tries; it does not wedge the dispatcher.
func TestUnreadableStoreDropsEvent(t *testing.T) {
	r := newRecv(t, testSecret)
	a := &apps{list: []*store.Application{app("a", testSecret, r.srv.URL)}}
	a.fail.Store(true)
	logs := &syncBuf{}
	s := newTestSender(t, a, logs, nil)
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u1"})
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Dropped < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.Stats().Dropped != 1 || !strings.Contains(logs.String(), "cannot read applications") {
		t.Fatalf("stats %+v, logs:\n%s", s.Stats(), logs.String())
	}
	a.fail.Store(false)
	s.Publish(context.Background(), idp.Event{Type: idp.EventUserDelete, UserID: "u2"})
	if e := r.wait(t); e.UserID != "u2" {
		t.Fatalf("dispatcher wedged: %+v", e)
	}
}
