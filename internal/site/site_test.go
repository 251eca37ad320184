package site

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

const (
	clientID   = "11111111-1111-1111-1111-111111111111"
	hookSecret = "site-test-webhook-secret-0123456789"
)

// newSite builds a site on a memory session store. Nothing here calls
// the IdP (the client does not connect until a login or refresh).
func newSite(t *testing.T) (*Site, *memstore.Store) {
	t.Helper()
	ms := memstore.New(memstore.Config{})
	t.Cleanup(func() { ms.Close() })
	return newSiteAt(t, filepath.Join(t.TempDir(), "app.db"), ms, nil), ms
}

// newSiteAt builds a site on the app database at dbPath and the session
// store ms, with the clock now (nil: time.Now).
func newSiteAt(t *testing.T, dbPath string, ms sessionstore.Store, now func() time.Time) *Site {
	t.Helper()
	s, err := New(context.Background(), Config{
		IdPURL: "http://127.0.0.1:1", ClientID: clientID, ClientSecret: "secret",
		DBPath: dbPath, Sessions: ms, SealKey: bytes.Repeat([]byte("k"), 32),
		WebhookSecret: hookSecret, DevMode: true, Logger: slog.New(slog.DiscardHandler), Now: now,
	}, Spec{Name: "Test App", CookieName: "test", HomePath: "/home", Accent: "#123456", AccentSoft: "#abcdef",
		Nav: []Link{{"/", "Home"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, ms sessionstore.Store, key, user, family string) {
	t.Helper()
	now := time.Now()
	if err := ms.Put(context.Background(), &sessionstore.Session{Key: key, UserID: user, RefreshTokenID: family,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiry: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, ms sessionstore.Store, user string) []string {
	t.Helper()
	l, err := ms.ListByUser(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range l {
		out = append(out, s.Key)
	}
	return out
}

// Which sessions each event ends (S10): a revoked family ends its own
// sessions only; account events end all of the user's; events for other
// applications, without a user, or of unknown types end nothing.
func TestHandleEvent(t *testing.T) {
	s, ms := newSite(t)
	ctx := context.Background()
	put(t, ms, "k1", "u1", "f1")
	put(t, ms, "k2", "u1", "f2")
	put(t, ms, "k3", "u2", "f3")

	steps := []struct {
		e        webhook.Event
		u1, u2   int
		scenario string
	}{
		{webhook.Event{Type: webhook.EventRefreshTokenRevoke, UserID: "u1", ApplicationID: "22222222-2222-2222-2222-222222222222", RefreshTokenIDs: []string{"f1"}}, 2, 1, "another application's event"},
		{webhook.Event{Type: "user.registration.create", UserID: "u1"}, 2, 1, "unknown event type"},
		{webhook.Event{Type: webhook.EventRefreshTokenRevoke, ApplicationID: clientID, RefreshTokenIDs: []string{"f1"}}, 2, 1, "no user"},
		{webhook.Event{Type: webhook.EventRefreshTokenRevoke, UserID: "u1", ApplicationID: clientID, RefreshTokenIDs: []string{"f1"}}, 1, 1, "one family (logout on one device)"},
		{webhook.Event{Type: webhook.EventUserPasswordUpdate, UserID: "u1"}, 0, 1, "password change"},
		{webhook.Event{Type: webhook.EventRefreshTokenRevoke, UserID: "u2"}, 0, 0, "revocation without family ids"},
	}
	for _, st := range steps {
		if err := s.handleEvent(ctx, st.e); err != nil {
			t.Fatalf("%s: %v", st.scenario, err)
		}
		if a, b := len(keys(t, ms, "u1")), len(keys(t, ms, "u2")); a != st.u1 || b != st.u2 {
			t.Fatalf("after %s: u1 has %d sessions (want %d), u2 %d (want %d)", st.scenario, a, st.u1, b, st.u2)
		}
	}
	if k := keys(t, ms, "u1"); len(k) != 0 {
		t.Fatalf("left: %v", k)
	}
}

func get(t *testing.T, h http.Handler, method, path string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = "127.0.0.1:5555"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// The frame's own routes: health, stylesheet with the accent, login
// form, 404 page, and the webhook receiver wired to the sessions.
func TestRoutes(t *testing.T) {
	s, ms := newSite(t)
	if r := get(t, s, "GET", "/healthz", nil, nil); r.Code != 200 {
		t.Fatalf("healthz %d", r.Code)
	}
	if r := get(t, s, "GET", "/readyz", nil, nil); r.Code != 200 {
		t.Fatalf("readyz %d", r.Code)
	}
	if r := get(t, s, "GET", "/static/style.css", nil, nil); r.Code != 200 || !strings.Contains(r.Body.String(), "--accent: #123456") {
		t.Fatalf("stylesheet %d", r.Code)
	}
	r := get(t, s, "GET", "/login?next=%2Fhome", nil, nil)
	body := r.Body.String()
	if r.Code != 200 || !strings.Contains(body, "<title>Sign in · Test App</title>") || !strings.Contains(body, `name="next" value="/home"`) ||
		strings.Contains(body, `autocomplete="off"`) || !strings.Contains(body, `<label for="password">`) {
		t.Fatalf("login page %d\n%s", r.Code, body)
	}
	if r := get(t, s, "GET", "/no/such/page", nil, nil); r.Code != 404 || !strings.Contains(r.Body.String(), "There is no page at this address.") {
		t.Fatalf("404 page %d", r.Code)
	}
	if r := get(t, s, "GET", "/sessions", nil, nil); r.Code != 303 {
		t.Fatalf("sessions without login %d", r.Code)
	}

	put(t, ms, "k1", "u1", "f1")
	ev, _ := webhook.Marshal(webhook.Event{ID: "e1", Type: webhook.EventUserDeactivate, UserID: "u1"})
	ts, sig := webhook.Sign([]byte("wrong-secret-wrong-secret"), time.Now(), ev)
	if r := get(t, s, "POST", WebhookPath, bytes.NewReader(ev), map[string]string{webhook.HeaderTimestamp: ts, webhook.HeaderSignature: sig}); r.Code != 401 || len(keys(t, ms, "u1")) != 1 {
		t.Fatalf("forged webhook: %d", r.Code)
	}
	ts, sig = webhook.Sign([]byte(hookSecret), time.Now(), ev)
	if r := get(t, s, "POST", WebhookPath, bytes.NewReader(ev), map[string]string{webhook.HeaderTimestamp: ts, webhook.HeaderSignature: sig}); r.Code != 200 || len(keys(t, ms, "u1")) != 0 {
		t.Fatalf("signed webhook: %d", r.Code)
	}
}

func TestOpenDBMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.db")
	ctx := context.Background()
	one := fstest.MapFS{"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER)")}}
	m := fstest.MapFS{"m/0001_a.sql": one["m/0001_a.sql"], "m/0002_b.sql": {Data: []byte("CREATE TABLE b (y INTEGER)")}}
	db, err := OpenDB(ctx, path, one, "m")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = OpenDB(ctx, path, m, "m")
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
		t.Fatalf("version %d %v", v, err)
	}
	db.Close()
	if _, err := OpenDB(ctx, path, one, "m"); err == nil {
		t.Fatal("opened a database newer than the program")
	}
	if _, err := OpenDB(ctx, "file:x.db?mode=memory", m, "m"); err == nil {
		t.Fatal("accepted a URI")
	}
}

// TestOpenDBFromOldRunner: an app database written before internal/migrate
// (the app's steps in PRAGMA user_version, the frame's in a
// site_schema_version table with only a version column) opens without a
// step re-applied (each would fail: CREATE TABLE without IF NOT EXISTS),
// gets the app's new steps, and keeps its webhook ids.
func TestOpenDBFromOldRunner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	ctx := context.Background()
	old, err := openFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		// The app's step 1, as the old runner applied it.
		`CREATE TABLE a (x INTEGER)`,
		`PRAGMA user_version = 1`,
		// The frame's step 1 and its version table, as the old seen.go
		// wrote them.
		`CREATE TABLE site_schema_version (version INTEGER NOT NULL) STRICT`,
		`CREATE TABLE webhook_seen (
			id    TEXT    PRIMARY KEY,
			until INTEGER NOT NULL -- unix milliseconds
		) STRICT;
		CREATE INDEX webhook_seen_until ON webhook_seen (until);`,
		`INSERT INTO site_schema_version (version) VALUES (1)`,
		`INSERT INTO webhook_seen (id, until) VALUES ('ev1', 32503680000000)`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	app := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER)")},
		"m/0002_b.sql": {Data: []byte("CREATE TABLE b (y INTEGER)")},
	}
	db, err := OpenDB(ctx, path, app, "m")
	if err != nil {
		t.Fatalf("OpenDB: %v", err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != 2 {
		t.Errorf("user_version = %d, %v; want 2", v, err)
	}
	if _, err := db.Exec(`INSERT INTO b (y) VALUES (1)`); err != nil {
		t.Errorf("the new step's table: %v", err)
	}
	seen, err := NewSeenDB(ctx, db, nil)
	if err != nil {
		t.Fatalf("NewSeenDB: %v", err)
	}
	if dup, err := seen.MarkSeen(ctx, "ev1", time.Now().Add(time.Hour)); err != nil || !dup {
		t.Errorf("MarkSeen of an id recorded before the upgrade = %v, %v; want seen", dup, err)
	}
	var versions string
	if err := db.QueryRow(`SELECT group_concat(version, ',') FROM site_schema_version`).Scan(&versions); err != nil || versions != "1" {
		t.Errorf("site_schema_version = %q, %v; want 1", versions, err)
	}
}

// AUD-10: a captured delivery replayed after the app restarts (a new
// Receiver on the same database) is refused: the handled event ids live in
// the app's database, and are pruned once the timestamp window has passed.
func TestAUD10_WebhookReplayAfterRestartRefused(t *testing.T) {
	ms := memstore.New(memstore.Config{})
	t.Cleanup(func() { ms.Close() })
	dbPath := filepath.Join(t.TempDir(), "app.db")
	clock := time.Now()
	now := func() time.Time { return clock }

	s1 := newSiteAt(t, dbPath, ms, now)
	put(t, ms, "k1", "u1", "f1")
	ev, _ := webhook.Marshal(webhook.Event{ID: "captured-1", Type: webhook.EventUserDeactivate, UserID: "u1"})
	ts, sig := webhook.Sign([]byte(hookSecret), clock, ev)
	hdr := map[string]string{webhook.HeaderTimestamp: ts, webhook.HeaderSignature: sig}
	if r := get(t, s1, "POST", WebhookPath, bytes.NewReader(ev), hdr); r.Code != 200 || len(keys(t, ms, "u1")) != 0 {
		t.Fatalf("first delivery: %d, sessions %v", r.Code, keys(t, ms, "u1"))
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart; the user signs in again; the attacker replays the captured
	// request within the timestamp window.
	clock = clock.Add(time.Minute)
	s2 := newSiteAt(t, dbPath, ms, now)
	put(t, ms, "k2", "u1", "f2")
	if r := get(t, s2, "POST", WebhookPath, bytes.NewReader(ev), hdr); r.Code != 200 || !strings.Contains(r.Body.String(), "already handled") {
		t.Fatalf("replay after restart: %d %s", r.Code, r.Body.String())
	}
	if got := keys(t, ms, "u1"); len(got) != 1 {
		t.Fatalf("the replay ended the new session: %v", got)
	}

	// Once the window has passed, the id is pruned (at the next delivery)
	// and the replay fails the timestamp check instead.
	clock = clock.Add(2*webhook.DefaultTolerance + time.Second)
	ev2, _ := webhook.Marshal(webhook.Event{ID: "later-1", Type: webhook.EventUserDelete, UserID: "u9"})
	ts2, sig2 := webhook.Sign([]byte(hookSecret), clock, ev2)
	if r := get(t, s2, "POST", WebhookPath, bytes.NewReader(ev2), map[string]string{webhook.HeaderTimestamp: ts2, webhook.HeaderSignature: sig2}); r.Code != 200 {
		t.Fatalf("later delivery: %d", r.Code)
	}
	var n int
	if err := s2.db.QueryRow(`SELECT count(*) FROM webhook_seen`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("webhook_seen holds %d ids (%v), want only the live one", n, err)
	}
	if r := get(t, s2, "POST", WebhookPath, bytes.NewReader(ev), hdr); r.Code != 401 || len(keys(t, ms, "u1")) != 1 {
		t.Fatalf("stale replay: %d", r.Code)
	}
}
