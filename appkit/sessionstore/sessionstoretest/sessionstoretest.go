// Package sessionstoretest is the conformance suite every
// sessionstore.Store backend runs (memory, SQLite, Redis and
// PostgreSQL), so that package appkit behaves the same whatever store it is
// given.
//
// It owns the behavioural contract of sessionstore.Store as far as it can be
// observed through the interface, plus two small interfaces (Counter and
// Collector) that let the suite check that expired sessions are physically
// removed and not only hidden (APP-LIFE-2). It does not own backend-specific
// checks (background collectors, connection pools, memory use): each backend
// tests those itself.
//
// The suite uses real time with short lifetimes (about 100–200 ms) and polls
// with a generous deadline; no assertion depends on how fast the machine is.
package sessionstoretest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// Counter is implemented by every backend so the suite can see what is
// physically stored.
type Counter interface {
	// CountAll returns how many session records are stored, including
	// expired ones the store has not collected yet. Refresh-coordination
	// records are not counted.
	CountAll(ctx context.Context) (int, error)
}

// Collector is implemented by every backend; its background collector calls
// the same code.
type Collector interface {
	// DeleteExpired physically removes every session whose ExpiresAt is at
	// or before now, together with the per-user index entries pointing at
	// them and every refresh claim and result whose lifetime ended at or
	// before now. It returns how many sessions it removed.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// pollDeadline bounds every wait for something to expire. It is far longer
// than any lifetime the suite uses, so only a broken store reaches it.
const pollDeadline = 10 * time.Second

// Run runs the conformance suite against the stores newStore returns.
//
// newStore is called once per subtest and must return a new, empty store
// that shares no records with stores returned earlier (a fresh file, schema
// or key prefix). The suite closes every store it gets; newStore registers
// t.Cleanup for anything else it created. Backends with a background
// collector may run it at any interval: the suite does not depend on it.
func Run(t *testing.T, newStore func(t *testing.T) sessionstore.Store) {
	t.Helper()
	open := func(t *testing.T) sessionstore.Store {
		t.Helper()
		s := newStore(t)
		if s == nil {
			t.Fatal("newStore returned nil")
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s sessionstore.Store)
	}{
		{"PutGetRoundTrip", testPutGetRoundTrip},
		{"GetMissing", testGetMissing},
		{"Expiry", testExpiry},
		{"TouchSlides", testTouchSlides},
		{"PutReplaces", testPutReplaces},
		{"Delete", testDelete},
		{"ListByUser", testListByUser},
		{"DeleteByUser", testDeleteByUser},
		{"CopySafety", testCopySafety},
		{"InvalidInput", testInvalidInput},
		{"Concurrent", testConcurrent},
		{"RefreshClaimOnce", testRefreshClaimOnce},
		{"RefreshClaimExpires", testRefreshClaimExpires},
		{"RefreshResult", testRefreshResult},
		{"AUD18_RefreshClaimLease", testAUD18RefreshClaimLease},
		{"AUD18_DeadOwnersClaimLapses", testAUD18DeadOwnersClaimLapses},
		{"ExpiredRemoved", testExpiredRemoved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is a time with sub-millisecond digits, so that backends storing
// milliseconds are exercised; truncation must stay under a millisecond.
func base() time.Time {
	return time.Now().Truncate(time.Millisecond).Add(123456 * time.Nanosecond)
}

// newSession returns a session with every field set, live for an hour.
func newSession(key, user string, now time.Time) *sessionstore.Session {
	return &sessionstore.Session{
		Key:               key,
		UserID:            user,
		Claims:            json.RawMessage(`{"sub":"` + user + `","aud":"store","roles":["user"],"email":"a@example.com"}`),
		AccessToken:       "eyJhbGciOiJFUzI1NiJ9.payload-" + key + ".signature",
		AccessTokenExpiry: now.Add(5 * time.Minute),
		RefreshTokenID:    "rtid-" + key,
		AuthTime:          now.Add(-2 * time.Hour),
		CreatedAt:         now.Add(-time.Minute),
		LastSeen:          now,
		ExpiresAt:         now.Add(time.Hour),
		AbsoluteExpiry:    now.Add(8 * time.Hour),
		IP:                "192.0.2.10",
		UserAgent:         "Mozilla/5.0 (X11; Linux x86_64) conformance",
	}
}

func sameTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	d := a.Sub(b)
	return d > -time.Millisecond && d < time.Millisecond
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == 0 && len(b) == 0
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

// diff describes how got differs from want (times to the millisecond,
// claims as JSON values), or returns "".
func diff(got, want *sessionstore.Session) string {
	if got == nil {
		return "got nil session"
	}
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !sameTime(g, w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v (±1ms)", name, g, w))
		}
	}
	str("Key", got.Key, want.Key)
	str("UserID", got.UserID, want.UserID)
	if !sameJSON(got.Claims, want.Claims) {
		d = append(d, fmt.Sprintf("Claims = %s, want %s", got.Claims, want.Claims))
	}
	str("AccessToken", got.AccessToken, want.AccessToken)
	tm("AccessTokenExpiry", got.AccessTokenExpiry, want.AccessTokenExpiry)
	str("RefreshTokenID", got.RefreshTokenID, want.RefreshTokenID)
	tm("AuthTime", got.AuthTime, want.AuthTime)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("LastSeen", got.LastSeen, want.LastSeen)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	tm("AbsoluteExpiry", got.AbsoluteExpiry, want.AbsoluteExpiry)
	str("IP", got.IP, want.IP)
	str("UserAgent", got.UserAgent, want.UserAgent)
	if len(d) == 0 {
		return ""
	}
	return fmt.Sprint(d)
}

func put(t *testing.T, s sessionstore.Store, ss ...*sessionstore.Session) {
	t.Helper()
	for _, x := range ss {
		if err := s.Put(t.Context(), x); err != nil {
			t.Fatalf("Put(%q): %v", x.Key, err)
		}
	}
}

func mustGet(t *testing.T, s sessionstore.Store, want *sessionstore.Session) {
	t.Helper()
	got, err := s.Get(t.Context(), want.Key)
	if err != nil {
		t.Fatalf("Get(%q): %v", want.Key, err)
	}
	if d := diff(got, want); d != "" {
		t.Errorf("Get(%q): %s", want.Key, d)
	}
}

func mustBeGone(t *testing.T, s sessionstore.Store, key string) {
	t.Helper()
	got, err := s.Get(t.Context(), key)
	switch {
	case err == nil && got != nil:
		t.Errorf("Get(%q) = session of %q expiring %v; want ErrNotFound", key, got.UserID, got.ExpiresAt)
	case !errors.Is(err, sessionstore.ErrNotFound):
		t.Errorf("Get(%q) = %v, %v; want ErrNotFound", key, got, err)
	}
}

func keysOf(ss []*sessionstore.Session) []string {
	out := make([]string, len(ss))
	for i, x := range ss {
		if x == nil {
			out[i] = "<nil>"
			continue
		}
		out[i] = x.Key
	}
	return out
}

func listKeys(t *testing.T, s sessionstore.Store, user string) []string {
	t.Helper()
	l, err := s.ListByUser(t.Context(), user)
	if err != nil {
		t.Fatalf("ListByUser(%q): %v", user, err)
	}
	return keysOf(l)
}

// waitFor polls cond until it is true or pollDeadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(pollDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after %v: %s", pollDeadline, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testPutGetRoundTrip(t *testing.T, s sessionstore.Store) {
	now := base()
	full := newSession("k-full", "user-1", now)
	put(t, s, full)
	mustGet(t, s, full)

	// Optional fields left empty must come back empty: zero times stay
	// zero (not 1970), no claims stay absent.
	sparse := &sessionstore.Session{
		Key:       "k-sparse",
		UserID:    "user-2",
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(time.Hour),
	}
	put(t, s, sparse)
	mustGet(t, s, sparse)

	// Keys are opaque: hex and base64url SHA-256 digests, and odd bytes.
	for _, key := range []string{
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg",
		"key with spaces/and:colons'\"",
	} {
		x := newSession(key, "user-3", now)
		put(t, s, x)
		mustGet(t, s, x)
	}
}

func testGetMissing(t *testing.T, s sessionstore.Store) {
	mustBeGone(t, s, "no-such-key")
	mustBeGone(t, s, "")
	put(t, s, newSession("present", "user-1", base()))
	mustBeGone(t, s, "Present") // keys are case-sensitive
	mustBeGone(t, s, "presen")
}

// testExpiry covers APP-LIFE-1/APP-LIFE-2 at the store level: once
// ExpiresAt has passed, the session is invisible everywhere and cannot be
// revived by Touch.
func testExpiry(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	now := base()
	live := newSession("live", "u", now)
	past := newSession("past", "u", now)
	past.ExpiresAt = now.Add(-time.Second)
	put(t, s, live, past)

	mustBeGone(t, s, "past")
	mustGet(t, s, live)
	if got := listKeys(t, s, "u"); !reflect.DeepEqual(got, []string{"live"}) {
		t.Errorf("ListByUser = %v, want [live]", got)
	}
	err := s.Touch(ctx, "past", time.Now(), time.Now().Add(time.Hour))
	if !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Touch(expired) = %v, want ErrNotFound", err)
	}
	mustBeGone(t, s, "past") // Touch did not revive it
	err = s.Touch(ctx, "never-existed", time.Now(), time.Now().Add(time.Hour))
	if !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Touch(missing) = %v, want ErrNotFound", err)
	}

	// A session that expires while stored disappears on its own.
	soon := newSession("soon", "u", time.Now())
	soon.ExpiresAt = time.Now().Add(150 * time.Millisecond)
	put(t, s, soon)
	waitFor(t, "session with 150ms lifetime hidden by Get", func() bool {
		_, err := s.Get(ctx, "soon")
		if err != nil && !errors.Is(err, sessionstore.ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		return err != nil
	})
	if got := listKeys(t, s, "u"); !reflect.DeepEqual(got, []string{"live"}) {
		t.Errorf("ListByUser after expiry = %v, want [live]", got)
	}
	err = s.Touch(ctx, "soon", time.Now(), time.Now().Add(time.Hour))
	if !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Touch(expired) = %v, want ErrNotFound", err)
	}
	mustGet(t, s, live)
}

// testTouchSlides: Touch moves LastSeen and ExpiresAt (sliding idle
// timeout, APP-LIFE-1) and nothing else, and the session outlives its
// original expiry.
func testTouchSlides(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	now := base()
	other := newSession("other", "u", now) // seen more recently than short at first
	put(t, s, other)

	// short lives for lifetime; Touch must reach it while it is alive. On
	// a machine slow enough to miss that, retry with a longer lifetime
	// rather than depend on speed.
	var short *sessionstore.Session
	seen := base().Add(time.Second)
	exp := seen.Add(time.Hour)
	for lifetime := 300 * time.Millisecond; ; lifetime *= 4 {
		if lifetime > pollDeadline {
			t.Fatal("Touch never reached a live session")
		}
		short = newSession("short", "u", now.Add(-time.Minute))
		short.LastSeen = now.Add(-time.Minute)
		short.ExpiresAt = time.Now().Add(lifetime)
		put(t, s, short)
		err := s.Touch(ctx, "short", seen, exp)
		if err == nil {
			break
		}
		if !errors.Is(err, sessionstore.ErrNotFound) {
			t.Fatalf("Touch: %v", err)
		}
	}
	want := *short
	want.LastSeen, want.ExpiresAt = seen, exp
	mustGet(t, s, &want)
	// The original expiry passes; the extended session lives on.
	waitFor(t, "original expiry passed", func() bool { return time.Now().After(short.ExpiresAt.Add(50 * time.Millisecond)) })
	mustGet(t, s, &want)
	// Most recently seen first: short now leads.
	if got := listKeys(t, s, "u"); !reflect.DeepEqual(got, []string{"short", "other"}) {
		t.Errorf("ListByUser after Touch = %v, want [short other]", got)
	}
}

func testPutReplaces(t *testing.T, s sessionstore.Store) {
	now := base()
	a := newSession("k", "user-a", now)
	put(t, s, a)
	b := newSession("k", "user-b", now.Add(time.Second))
	b.Claims = json.RawMessage(`{"sub":"user-b","n":2}`)
	b.AccessToken = "second-token"
	b.AccessTokenExpiry = time.Time{}
	b.RefreshTokenID = "rt-2"
	b.IP = "2001:db8::1"
	b.UserAgent = "curl/8"
	b.ExpiresAt = now.Add(2 * time.Hour)
	put(t, s, b)
	mustGet(t, s, b)

	// The user index follows the replacement.
	if got := listKeys(t, s, "user-a"); len(got) != 0 {
		t.Errorf("ListByUser(old user) = %v, want []", got)
	}
	if got := listKeys(t, s, "user-b"); !reflect.DeepEqual(got, []string{"k"}) {
		t.Errorf("ListByUser(new user) = %v, want [k]", got)
	}
	n, err := s.DeleteByUser(t.Context(), "user-a")
	if err != nil || n != 0 {
		t.Errorf("DeleteByUser(old user) = %d, %v; want 0, nil", n, err)
	}
	mustGet(t, s, b)

	// Replacing an expired session revives the key with the new content.
	c := newSession("dead", "user-c", now)
	c.ExpiresAt = now.Add(-time.Minute)
	put(t, s, c)
	c2 := newSession("dead", "user-c", now)
	put(t, s, c2)
	mustGet(t, s, c2)
}

func testDelete(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	now := base()
	a, b := newSession("a", "u", now), newSession("b", "u", now.Add(-time.Second))
	put(t, s, a, b)
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustBeGone(t, s, "a")
	mustGet(t, s, b)
	if got := listKeys(t, s, "u"); !reflect.DeepEqual(got, []string{"b"}) {
		t.Errorf("ListByUser = %v, want [b]", got)
	}
	if err := s.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete(already deleted) = %v, want nil", err)
	}
	if err := s.Delete(ctx, "never-existed"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if err := s.Touch(ctx, "a", now, now.Add(time.Hour)); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Touch(deleted) = %v, want ErrNotFound", err)
	}
	// A deleted key can be used again.
	put(t, s, a)
	mustGet(t, s, a)
}

func testListByUser(t *testing.T, s sessionstore.Store) {
	now := base()
	var want []*sessionstore.Session
	for i, off := range []time.Duration{3, 1, 4, 2} { // put out of order
		x := newSession(fmt.Sprintf("a%d", i), "alice", now)
		x.LastSeen = now.Add(-off * time.Minute)
		x.IP = fmt.Sprintf("192.0.2.%d", i)
		want = append(want, x)
	}
	expired := newSession("a-expired", "alice", now)
	expired.LastSeen = now // most recent, but dead
	expired.ExpiresAt = now.Add(-time.Second)
	bob := newSession("b0", "bob", now)
	put(t, s, want...)
	put(t, s, expired, bob)

	sort.Slice(want, func(i, j int) bool { return want[i].LastSeen.After(want[j].LastSeen) })
	got, err := s.ListByUser(t.Context(), "alice")
	if err != nil {
		t.Fatalf("ListByUser: %v", err)
	}
	if !reflect.DeepEqual(keysOf(got), keysOf(want)) {
		t.Fatalf("ListByUser(alice) = %v, want %v (live only, most recently seen first)", keysOf(got), keysOf(want))
	}
	for i := range got {
		if d := diff(got[i], want[i]); d != "" {
			t.Errorf("ListByUser(alice)[%d]: %s", i, d)
		}
	}
	if got := listKeys(t, s, "bob"); !reflect.DeepEqual(got, []string{"b0"}) {
		t.Errorf("ListByUser(bob) = %v, want [b0]", got)
	}
	if got := listKeys(t, s, "nobody"); len(got) != 0 {
		t.Errorf("ListByUser(nobody) = %v, want []", got)
	}
	if got := listKeys(t, s, "ALICE"); len(got) != 0 {
		t.Errorf("ListByUser(ALICE) = %v, want [] (user ids are case-sensitive)", got)
	}
}

// testDeleteByUser covers "sign out everywhere" (APP-OUT-2) at the store
// level.
func testDeleteByUser(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	now := base()
	a1, a2 := newSession("a1", "alice", now), newSession("a2", "alice", now)
	aDead := newSession("a-dead", "alice", now)
	aDead.ExpiresAt = now.Add(-time.Second)
	b1 := newSession("b1", "bob", now)
	put(t, s, a1, a2, aDead, b1)

	n, err := s.DeleteByUser(ctx, "alice")
	if err != nil {
		t.Fatalf("DeleteByUser: %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteByUser(alice) = %d, want 2 (live sessions only)", n)
	}
	mustBeGone(t, s, "a1")
	mustBeGone(t, s, "a2")
	mustBeGone(t, s, "a-dead")
	mustGet(t, s, b1)
	if got := listKeys(t, s, "alice"); len(got) != 0 {
		t.Errorf("ListByUser(alice) = %v, want []", got)
	}
	if got := listKeys(t, s, "bob"); !reflect.DeepEqual(got, []string{"b1"}) {
		t.Errorf("ListByUser(bob) = %v, want [b1]", got)
	}
	if c, ok := s.(Counter); ok {
		// The expired one is removed too, not only the live ones.
		if got, err := c.CountAll(ctx); err != nil || got != 1 {
			t.Errorf("CountAll after DeleteByUser = %d, %v; want 1 (bob's)", got, err)
		}
	}
	if n, err := s.DeleteByUser(ctx, "alice"); err != nil || n != 0 {
		t.Errorf("second DeleteByUser = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.DeleteByUser(ctx, "nobody"); err != nil || n != 0 {
		t.Errorf("DeleteByUser(nobody) = %d, %v; want 0, nil", n, err)
	}
}

// testCopySafety: the store keeps its own copy. Changing the session passed
// to Put, or the one Get returned, does not change what is stored.
func testCopySafety(t *testing.T, s sessionstore.Store) {
	now := base()
	in := newSession("k", "u", now)
	want := *in
	want.Claims = append(json.RawMessage(nil), in.Claims...)
	put(t, s, in)
	in.UserID = "mallory"
	in.ExpiresAt = now.Add(-time.Hour)
	in.AccessToken = "changed"
	in.Claims[2] = 'X' // callers may reuse their buffers after Put
	mustGet(t, s, &want)

	got, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got.UserID = "mallory"
	got.ExpiresAt = now.Add(-time.Hour)
	got.LastSeen = now.Add(time.Hour)
	mustGet(t, s, &want)

	l, err := s.ListByUser(t.Context(), "u")
	if err != nil || len(l) != 1 {
		t.Fatalf("ListByUser = %v, %v", keysOf(l), err)
	}
	l[0].ExpiresAt = now.Add(-time.Hour)
	mustGet(t, s, &want)
}

func testInvalidInput(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	if err := s.Put(ctx, nil); err == nil {
		t.Error("Put(nil) = nil, want an error")
	}
	if err := s.Put(ctx, &sessionstore.Session{UserID: "u", ExpiresAt: time.Now().Add(time.Hour)}); err == nil {
		t.Error("Put(empty key) = nil, want an error")
	}
	if ok, err := s.ClaimRefresh(ctx, "rk", "owner-1", 0); err == nil || ok {
		t.Errorf("ClaimRefresh(ttl 0) = %v, %v; want false and an error", ok, err)
	}
	if ok, err := s.ClaimRefresh(ctx, "", "owner-2", time.Minute); err == nil || ok {
		t.Errorf("ClaimRefresh(empty key) = %v, %v; want false and an error", ok, err)
	}
	if ok, err := s.ClaimRefresh(ctx, "rk", "", time.Minute); err == nil || ok {
		t.Errorf("ClaimRefresh(empty owner) = %v, %v; want false and an error", ok, err)
	}
	if err := s.SetRefreshResult(ctx, "rk", []byte("x"), -time.Second); err == nil {
		t.Error("SetRefreshResult(negative ttl) = nil, want an error")
	}
	if err := s.SetRefreshResult(ctx, "", []byte("x"), time.Minute); err == nil {
		t.Error("SetRefreshResult(empty key) = nil, want an error")
	}
	// Nothing was stored by the rejected calls.
	if ok, err := s.ClaimRefresh(ctx, "rk", "owner-3", time.Minute); err != nil || !ok {
		t.Errorf("ClaimRefresh after rejected calls = %v, %v; want true", ok, err)
	}
	if _, err := s.GetRefreshResult(ctx, "rk"); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("GetRefreshResult after rejected Set = %v, want ErrNotFound", err)
	}
	if c, ok := s.(Counter); ok {
		if n, err := c.CountAll(ctx); err != nil || n != 0 {
			t.Errorf("CountAll after rejected Puts = %d, %v; want 0", n, err)
		}
	}
}

// testConcurrent runs 50 goroutines on distinct and shared keys. Run it
// with -race. Each shared-key write is internally consistent (token, IP and
// refresh id carry the same number), so a torn write would show.
func testConcurrent(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	const (
		workers = 50
		rounds  = 15
		shared  = 5
	)
	notFoundOK := func(err error) bool { return err == nil || errors.Is(err, sessionstore.ErrNotFound) }
	var wg sync.WaitGroup
	errc := make(chan error, workers*rounds*8)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := fmt.Sprintf("own-%d", w)
			user := fmt.Sprintf("user-%d", w)
			for r := range rounds {
				now := time.Now()
				x := newSession(own, user, now)
				x.AccessToken = fmt.Sprintf("tok-%d-%d", w, r)
				if err := s.Put(ctx, x); err != nil {
					errc <- fmt.Errorf("Put(%s): %w", own, err)
					return
				}
				got, err := s.Get(ctx, own)
				if err != nil {
					errc <- fmt.Errorf("Get(%s): %w", own, err)
					return
				}
				if got.AccessToken != x.AccessToken || got.UserID != user {
					errc <- fmt.Errorf("Get(%s) = %s/%s, want %s/%s", own, got.UserID, got.AccessToken, user, x.AccessToken)
				}
				if err := s.Touch(ctx, own, now, now.Add(time.Hour)); err != nil {
					errc <- fmt.Errorf("Touch(%s): %w", own, err)
				}
				if l, err := s.ListByUser(ctx, user); err != nil || len(l) != 1 || l[0].Key != own {
					errc <- fmt.Errorf("ListByUser(%s) = %v, %v; want [%s]", user, keysOf(l), err, own)
				}

				// Shared keys: any interleaving is allowed, but every
				// answer must be whole and every error ErrNotFound.
				sk := fmt.Sprintf("shared-%d", (w+r)%shared)
				n := w*1000 + r
				y := newSession(sk, "shared-user", now)
				y.AccessToken, y.IP, y.RefreshTokenID = fmt.Sprint("t", n), fmt.Sprint("i", n), fmt.Sprint("r", n)
				switch r % 4 {
				case 0:
					if err := s.Put(ctx, y); err != nil {
						errc <- fmt.Errorf("Put(%s): %w", sk, err)
					}
				case 1:
					if err := s.Touch(ctx, sk, now, now.Add(time.Hour)); !notFoundOK(err) {
						errc <- fmt.Errorf("Touch(%s): %w", sk, err)
					}
				case 2:
					if err := s.Delete(ctx, sk); err != nil {
						errc <- fmt.Errorf("Delete(%s): %w", sk, err)
					}
				case 3:
					if l, err := s.ListByUser(ctx, "shared-user"); err != nil || len(l) > shared {
						errc <- fmt.Errorf("ListByUser(shared-user) = %d sessions, %v", len(l), err)
					}
				}
				got, err = s.Get(ctx, sk)
				if !notFoundOK(err) {
					errc <- fmt.Errorf("Get(%s): %w", sk, err)
				} else if err == nil {
					n := strings.TrimPrefix(got.IP, "i")
					if got.Key != sk || got.UserID != "shared-user" ||
						got.AccessToken != "t"+n || got.RefreshTokenID != "r"+n {
						errc <- fmt.Errorf("Get(%s) returned a torn session: %+v", sk, got)
					}
				}
			}
			if err := s.Delete(ctx, own); err != nil {
				errc <- fmt.Errorf("Delete(%s): %w", own, err)
			}
			if _, err := s.Get(ctx, own); !errors.Is(err, sessionstore.ErrNotFound) {
				errc <- fmt.Errorf("Get(%s) after Delete = %v, want ErrNotFound", own, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}

	// The user index agrees with the sessions once the dust settles.
	l, err := s.ListByUser(ctx, "shared-user")
	if err != nil {
		t.Fatalf("ListByUser: %v", err)
	}
	listed := map[string]bool{}
	for _, x := range l {
		listed[x.Key] = true
	}
	for i := range shared {
		sk := fmt.Sprintf("shared-%d", i)
		_, err := s.Get(ctx, sk)
		if !notFoundOK(err) {
			t.Fatalf("Get(%s): %v", sk, err)
		}
		if (err == nil) != listed[sk] {
			t.Errorf("%s: Get found it = %v but ListByUser listed it = %v", sk, err == nil, listed[sk])
		}
	}
	if n, err := s.DeleteByUser(ctx, "shared-user"); err != nil || n != len(l) {
		t.Errorf("DeleteByUser(shared-user) = %d, %v; want %d", n, err, len(l))
	}
	if c, ok := s.(Counter); ok {
		if n, err := c.CountAll(ctx); err != nil || n != 0 {
			t.Errorf("CountAll at the end = %d, %v; want 0", n, err)
		}
	}
}

// testRefreshClaimOnce: among concurrent claimants of one refresh token,
// exactly one wins (S11, APP-REF-4).
func testRefreshClaimOnce(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	const callers = 20
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		errs  []error
		start = make(chan struct{})
	)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := s.ClaimRefresh(ctx, "rt-hash-1", fmt.Sprint("process-", i), time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				wins++
			}
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("ClaimRefresh: %v", err)
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent ClaimRefresh calls won, want exactly 1", wins, callers)
	}
	if ok, err := s.ClaimRefresh(ctx, "rt-hash-1", "owner-4", time.Minute); err != nil || ok {
		t.Errorf("later ClaimRefresh = %v, %v; want false while the claim lives", ok, err)
	}
	// Claims are per key.
	if ok, err := s.ClaimRefresh(ctx, "rt-hash-2", "owner-5", time.Minute); err != nil || !ok {
		t.Errorf("ClaimRefresh(other key) = %v, %v; want true", ok, err)
	}
}

func testRefreshClaimExpires(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	const ttl = 200 * time.Millisecond
	start := time.Now()
	ok, err := s.ClaimRefresh(ctx, "rt", "owner-6", ttl)
	if err != nil || !ok {
		t.Fatalf("first ClaimRefresh = %v, %v; want true", ok, err)
	}
	waitFor(t, "a new claim succeeds after the claim ttl", func() bool {
		ok, err := s.ClaimRefresh(ctx, "rt", "owner-7", time.Minute)
		if err != nil {
			t.Fatalf("ClaimRefresh: %v", err)
		}
		// Half the ttl of slack allows for millisecond storage and wall
		// clock steps; a claim granted earlier is a broken lock.
		if ok && time.Since(start) < ttl/2 {
			t.Fatalf("second claim granted after %v, before the %v claim expired", time.Since(start), ttl)
		}
		return ok
	})
	if ok, err := s.ClaimRefresh(ctx, "rt", "owner-8", time.Minute); err != nil || ok {
		t.Errorf("ClaimRefresh right after re-claim = %v, %v; want false", ok, err)
	}
}

// testRefreshResult covers the hand-over of a refresh outcome between
// processes (S11). A stored result also keeps the token claimed while it
// lives: the refresh token it came from has been used, so nobody may
// present it again; later callers read the result instead.
func testRefreshResult(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	if _, err := s.GetRefreshResult(ctx, "r1"); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("GetRefreshResult(missing) = %v, want ErrNotFound", err)
	}
	if ok, err := s.ClaimRefresh(ctx, "r1", "owner-9", time.Minute); err != nil || !ok {
		t.Fatalf("ClaimRefresh = %v, %v", ok, err)
	}
	result := []byte("sealed\x00result\xffbytes")
	in := append([]byte(nil), result...)
	if err := s.SetRefreshResult(ctx, "r1", in, time.Minute); err != nil {
		t.Fatalf("SetRefreshResult: %v", err)
	}
	in[0] = 'X' // callers may reuse their buffer
	got, err := s.GetRefreshResult(ctx, "r1")
	if err != nil || !bytes.Equal(got, result) {
		t.Fatalf("GetRefreshResult = %q, %v; want %q", got, err, result)
	}
	got[0] = 'Y'
	if again, err := s.GetRefreshResult(ctx, "r1"); err != nil || !bytes.Equal(again, result) {
		t.Errorf("GetRefreshResult after caller changed its copy = %q, %v; want %q", again, err, result)
	}
	// Overwrite.
	if err := s.SetRefreshResult(ctx, "r1", []byte("second"), time.Minute); err != nil {
		t.Fatalf("SetRefreshResult: %v", err)
	}
	if got, err := s.GetRefreshResult(ctx, "r1"); err != nil || string(got) != "second" {
		t.Errorf("GetRefreshResult after overwrite = %q, %v; want \"second\"", got, err)
	}

	// A live result keeps the token claimed, even without (or after) a
	// claim of its own.
	if err := s.SetRefreshResult(ctx, "r2", []byte("r2"), time.Minute); err != nil {
		t.Fatalf("SetRefreshResult: %v", err)
	}
	if ok, err := s.ClaimRefresh(ctx, "r2", "owner-10", time.Minute); err != nil || ok {
		t.Errorf("ClaimRefresh while a result lives = %v, %v; want false", ok, err)
	}
	if _, err := s.GetRefreshResult(ctx, "r-other"); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("GetRefreshResult(other key) = %v, want ErrNotFound", err)
	}

	// Results expire.
	if err := s.SetRefreshResult(ctx, "r3", []byte("short"), 150*time.Millisecond); err != nil {
		t.Fatalf("SetRefreshResult: %v", err)
	}
	waitFor(t, "refresh result with 150ms ttl gone", func() bool {
		_, err := s.GetRefreshResult(ctx, "r3")
		if err != nil && !errors.Is(err, sessionstore.ErrNotFound) {
			t.Fatalf("GetRefreshResult: %v", err)
		}
		return err != nil
	})
	if ok, err := s.ClaimRefresh(ctx, "r3", "owner-11", time.Minute); err != nil || !ok {
		t.Errorf("ClaimRefresh after the result expired = %v, %v; want true", ok, err)
	}
}

// testExpiredRemoved: expired sessions are physically removed by the store,
// not only hidden (APP-LIFE-2 "Expired sessions are deleted server-side").
func testExpiredRemoved(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	c, okC := s.(Counter)
	g, okG := s.(Collector)
	if !okC || !okG {
		t.Fatalf("%T must implement sessionstoretest.Counter (%v) and sessionstoretest.Collector (%v)", s, okC, okG)
	}
	now := base()
	for i := range 3 {
		x := newSession(fmt.Sprintf("dead-%d", i), fmt.Sprintf("user-%d", i%2), now)
		x.ExpiresAt = now.Add(-time.Duration(i+1) * time.Second)
		put(t, s, x)
	}
	live := []*sessionstore.Session{newSession("live-0", "user-0", now), newSession("live-1", "user-1", now)}
	put(t, s, live...)
	if ok, err := s.ClaimRefresh(ctx, "claim", "owner-12", time.Hour); err != nil || !ok {
		t.Fatalf("ClaimRefresh = %v, %v", ok, err)
	}
	if err := s.SetRefreshResult(ctx, "result", []byte("r"), time.Hour); err != nil {
		t.Fatal(err)
	}

	before, err := c.CountAll(ctx)
	if err != nil {
		t.Fatalf("CountAll: %v", err)
	}
	// A background collector may already have taken some of the dead ones.
	if before < 2 || before > 5 {
		t.Fatalf("CountAll = %d, want 2..5 (2 live + up to 3 expired)", before)
	}
	n, err := g.DeleteExpired(ctx, time.Now())
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	after, err := c.CountAll(ctx)
	if err != nil {
		t.Fatalf("CountAll: %v", err)
	}
	if after != 2 {
		t.Errorf("CountAll after DeleteExpired = %d, want 2 (the live ones)", after)
	}
	if n < 0 || n > before-after {
		t.Errorf("DeleteExpired = %d, want 0..%d", n, before-after)
	}
	for _, x := range live {
		mustGet(t, s, x)
	}
	if got := listKeys(t, s, "user-0"); !reflect.DeepEqual(got, []string{"live-0"}) {
		t.Errorf("ListByUser(user-0) = %v, want [live-0]", got)
	}
	if _, err := s.GetRefreshResult(ctx, "result"); err != nil {
		t.Errorf("GetRefreshResult of a live result after DeleteExpired: %v", err)
	}
	if ok, err := s.ClaimRefresh(ctx, "claim", "owner-13", time.Hour); err != nil || ok {
		t.Errorf("ClaimRefresh of a live claim after DeleteExpired = %v, %v; want false", ok, err)
	}

	// DeleteExpired honours its now: two hours on, the live ones are due
	// too. No background collector can have taken them, so the count is
	// exact.
	later := time.Now().Add(2 * time.Hour)
	n, err = g.DeleteExpired(ctx, later)
	if err != nil {
		t.Fatalf("DeleteExpired(+2h): %v", err)
	}
	if n != 2 {
		t.Errorf("DeleteExpired(+2h) = %d, want 2", n)
	}
	if got, err := c.CountAll(ctx); err != nil || got != 0 {
		t.Errorf("CountAll after DeleteExpired(+2h) = %d, %v; want 0", got, err)
	}
	for _, x := range live {
		mustBeGone(t, s, x.Key)
	}
	if got := listKeys(t, s, "user-1"); len(got) != 0 {
		t.Errorf("ListByUser(user-1) = %v, want []", got)
	}
	// The refresh records were due as well.
	if _, err := s.GetRefreshResult(ctx, "result"); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("GetRefreshResult after DeleteExpired(+2h) = %v, want ErrNotFound", err)
	}
	if ok, err := s.ClaimRefresh(ctx, "claim", "owner-14", time.Minute); err != nil || !ok {
		t.Errorf("ClaimRefresh after DeleteExpired(+2h) = %v, %v; want true", ok, err)
	}
}

// testAUD18RefreshClaimLease: a claim is a lease of its owner (AUD-18,
// APP-REF-4): the owner renews it while its IdP call runs, nobody else gets
// it meanwhile, and a stored result ends it for everybody, owner included.
func testAUD18RefreshClaimLease(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	const lease = 300 * time.Millisecond
	claim := func(owner string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.ClaimRefresh(ctx, "lease", owner, ttl)
		if err != nil {
			t.Fatalf("ClaimRefresh(%s): %v", owner, err)
		}
		return ok
	}
	if !claim("A", lease) {
		t.Fatal("first claim refused")
	}
	if claim("B", lease) {
		t.Fatal("B got A's live claim")
	}
	// A renews every lease/3 for three leases: B never gets it.
	start := time.Now()
	for time.Since(start) < 3*lease {
		time.Sleep(lease / 3)
		if !claim("A", lease) {
			t.Fatalf("A's renewal refused after %v", time.Since(start))
		}
		if claim("B", lease) {
			t.Fatalf("B got the claim A keeps renewing, after %v", time.Since(start))
		}
	}
	// A result ends the claim for everybody while it lives.
	if err := s.SetRefreshResult(ctx, "lease", []byte("done"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if claim("A", lease) || claim("B", lease) {
		t.Fatal("a claim was granted while a result lives")
	}
}

// testAUD18DeadOwnersClaimLapses: the claim of an owner that stopped
// renewing (its process died in the middle of a refresh) goes to another
// owner one lease after the last renewal, not earlier, so a restarted app
// presents the token inside the IdP's grace period (AUD-18).
func testAUD18DeadOwnersClaimLapses(t *testing.T, s sessionstore.Store) {
	ctx := t.Context()
	const lease = 300 * time.Millisecond
	if ok, err := s.ClaimRefresh(ctx, "dead", "dead-process", time.Minute); err != nil || !ok {
		t.Fatalf("ClaimRefresh = %v, %v", ok, err)
	}
	// Its last renewal shortens the lease to the real one.
	if ok, err := s.ClaimRefresh(ctx, "dead", "dead-process", lease); err != nil || !ok {
		t.Fatalf("renewal = %v, %v", ok, err)
	}
	last := time.Now()
	waitFor(t, "another owner takes over the dead owner's claim", func() bool {
		ok, err := s.ClaimRefresh(ctx, "dead", "restarted-process", time.Minute)
		if err != nil {
			t.Fatalf("ClaimRefresh: %v", err)
		}
		if ok && time.Since(last) < lease/2 {
			t.Fatalf("taken over after %v, before the %v lease lapsed", time.Since(last), lease)
		}
		return ok
	})
	if since := time.Since(last); since > 5*time.Second {
		t.Errorf("takeover after %v, want about the %v lease", since, lease)
	}
	// Now the new owner holds it; the dead one cannot come back.
	if ok, err := s.ClaimRefresh(ctx, "dead", "dead-process", lease); err != nil || ok {
		t.Errorf("old owner's ClaimRefresh after the takeover = %v, %v; want false", ok, err)
	}
}
