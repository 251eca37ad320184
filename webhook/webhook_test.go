package webhook

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const testSecret = "whsec-test-0123456789abcdef-marker"

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

// The body is FusionAuth's {"event":{…}} shape.
func TestPayloadShape(t *testing.T) {
	b, err := Marshal(Event{ID: "id-1", Type: EventRefreshTokenRevoke, UserID: "u", ApplicationID: "a", RefreshTokenIDs: []string{"f1", "f2"}, CreateInstant: 5}.Normalize())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	ev := m["event"]
	if ev["type"] != "jwt.refresh-token.revoke" || ev["id"] != "id-1" || ev["userId"] != "u" || ev["applicationId"] != "a" ||
		ev["createInstant"] != float64(5) || ev["refreshToken"] != nil || len(ev["refreshTokenIds"].([]any)) != 2 ||
		ev["user"] == nil || ev["user"].(map[string]any)["id"] != "u" {
		t.Fatalf("payload %s", b)
	}
}

// failingSeen is a SeenStore whose database is down.
type failingSeen struct{}

func (failingSeen) MarkSeen(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("db down")
}
func (failingSeen) Forget(context.Context, string) error { return nil }

// AUD-10: the Receiver keeps handled ids in its SeenStore: a new Receiver
// on the same store (an app restart) refuses the replay; a store that
// cannot record the id answers 500 (the sender retries) without handling.
func TestAUD10_ReceiverSeenStoreOutlivesTheReceiver(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	calls := 0
	handle := func(context.Context, Event) error { calls++; return nil }
	seen := NewMemorySeen(0, func() time.Time { return now })
	mk := func(s SeenStore) *Receiver {
		rc, err := NewReceiver(ReceiverConfig{Secret: []byte(testSecret), Handle: handle, Seen: s,
			Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	body, _ := Marshal(Event{ID: "evt-r", Type: EventUserDelete, UserID: "u"})
	ts, sig := Sign([]byte(testSecret), now, body)
	if rec := post(mk(seen), body, ts, sig); rec.Code != 200 || calls != 1 {
		t.Fatalf("first: %d, %d calls", rec.Code, calls)
	}
	if rec := post(mk(seen), body, ts, sig); rec.Code != 200 || calls != 1 || !strings.Contains(rec.Body.String(), "already handled") {
		t.Fatalf("replay to a new receiver: %d, %d calls", rec.Code, calls)
	}
	if rec := post(mk(failingSeen{}), body, ts, sig); rec.Code != 500 || calls != 1 {
		t.Fatalf("seen store down: %d, %d calls", rec.Code, calls)
	}
}

// The in-memory SeenStore keeps at most max ids, oldest out first, and
// drops ids after their until.
func TestMemorySeenBoundAndExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := NewMemorySeen(2, func() time.Time { return now })
	ctx := context.Background()
	mark := func(id string) bool {
		seen, err := m.MarkSeen(ctx, id, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		return seen
	}
	if mark("a") || mark("b") || !mark("b") {
		t.Fatal("first marks")
	}
	if mark("c") { // evicts a, the oldest
		t.Fatal("c seen")
	}
	if !mark("c") || !mark("b") {
		t.Fatal("want b and c kept")
	}
	if mark("a") {
		t.Fatal("want a evicted at the bound of 2")
	}
	now = now.Add(time.Minute)
	if mark("c") {
		t.Fatal("c still seen after its until")
	}
	_ = m.Forget(ctx, "c")
	if mark("c") {
		t.Fatal("c seen after Forget")
	}
}

// Boundaries of Verify (found by mutation testing): the window is
// inclusive at exactly ±tolerance and closed one second past it; a zero
// timestamp is malformed, not merely stale; the length cap is 20
// characters (the MAC covers the timestamp string, so leading zeros do not
// help a forger).
func TestVerifyBoundaries(t *testing.T) {
	tol := 5 * time.Minute
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"event":{"id":"e1","type":"user.deactivate","userId":"u1"}}`)
	sec := []byte(testSecret)
	ts, sig := Sign(sec, now, body)
	signed := func(ts string) string { return signaturePrefix + hex.EncodeToString(mac(sec, ts, body)) }
	cases := []struct {
		name   string
		ts     string
		sig    string
		verify time.Time
		want   error
	}{
		{"exactly +tolerance (delivered 5 min ago)", ts, sig, now.Add(tol), nil},
		{"exactly -tolerance (clock 5 min ahead)", ts, sig, now.Add(-tol), nil},
		{"tolerance + 1 s late", ts, sig, now.Add(tol + time.Second), ErrStale},
		{"tolerance + 1 s early", ts, sig, now.Add(-tol - time.Second), ErrStale},
		{"sec = 0, correctly signed", "0", signed("0"), now, ErrMalformed},
		{"sec = -1, correctly signed", "-1", signed("-1"), now, ErrMalformed},
		{"20-character timestamp", "00000000001700000000", signed("00000000001700000000"), now, nil},
		{"21-character timestamp", "000000000001700000000", signed("000000000001700000000"), now, ErrMalformed},
	}
	for _, c := range cases {
		if err := Verify(sec, c.ts, c.sig, body, c.verify, tol); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
}

// NewReceiver's bounds (found by mutation testing): a 16-byte secret is
// the least accepted, 15 is refused; a body of exactly MaxBodyBytes is
// read, one more byte is 413; an event id of 128 characters is handled,
// 129 is 400; MaxRemembered bounds the default replay cache; no Logger
// means slog.Default, not a nil logger that panics on the first refusal.
func TestReceiverBounds(t *testing.T) {
	handle := func(context.Context, Event) error { return nil }
	if _, err := NewReceiver(ReceiverConfig{Secret: bytes.Repeat([]byte("k"), MinSecretLen-1), Handle: handle}); err == nil {
		t.Fatal("15-byte secret accepted")
	}
	if _, err := NewReceiver(ReceiverConfig{Secret: bytes.Repeat([]byte("k"), MinSecretLen), Handle: handle}); err != nil {
		t.Fatalf("16-byte secret refused: %v", err)
	}

	now := time.Unix(1_700_000_000, 0)
	sec := []byte(testSecret)
	ok, _ := Marshal(Event{ID: "evt-1", Type: EventUserDelete, UserID: "u"})
	limit := int64(len(ok)) + 10
	rc, err := NewReceiver(ReceiverConfig{Secret: sec, Handle: handle, MaxBodyBytes: limit, MaxRemembered: 2,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	exact := append(append([]byte(nil), ok...), bytes.Repeat([]byte(" "), 10)...)
	ts, sig := Sign(sec, now, exact)
	if rec := post(rc, exact, ts, sig); rec.Code != 200 {
		t.Fatalf("body of exactly MaxBodyBytes: %d", rec.Code)
	}
	over := append(exact, ' ')
	ts, sig = Sign(sec, now, over)
	if rec := post(rc, over, ts, sig); rec.Code != 413 {
		t.Fatalf("body of MaxBodyBytes+1: %d", rec.Code)
	}
	if m, ok := rc.cfg.Seen.(*MemorySeen); !ok || m.max != 2 {
		t.Fatalf("default Seen does not honour MaxRemembered=2: %#v", rc.cfg.Seen)
	}

	rc, err = NewReceiver(ReceiverConfig{Secret: sec, Handle: handle,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]int{128: 200, 129: 400} {
		b, _ := Marshal(Event{ID: strings.Repeat("i", n), Type: EventUserDelete, UserID: "u"})
		ts, sig := Sign(sec, now, b)
		if rec := post(rc, b, ts, sig); rec.Code != want {
			t.Errorf("event id of %d characters: %d, want %d", n, rec.Code, want)
		}
	}

	// No Logger: a refused delivery is logged to slog.Default, not a panic.
	rc, err = NewReceiver(ReceiverConfig{Secret: sec, Handle: handle})
	if err != nil {
		t.Fatal(err)
	}
	if rec := post(rc, ok, "", ""); rec.Code != 400 {
		t.Fatalf("unsigned, default logger: %d", rec.Code)
	}
}

// AUD-10: NewMemorySeen(0, …) means the default bound, not "remember one
// id": a replay of the first of two deliveries is still refused.
func TestAUD10_MemorySeenZeroMaxIsTheDefault(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := NewMemorySeen(0, func() time.Time { return now })
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		if seen, _ := m.MarkSeen(ctx, id, now.Add(time.Minute)); seen {
			t.Fatalf("%s seen at first mark", id)
		}
	}
	if seen, _ := m.MarkSeen(ctx, "a", now.Add(time.Minute)); !seen {
		t.Fatal("replay of a accepted: max 0 did not default")
	}
}
