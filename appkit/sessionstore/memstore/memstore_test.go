package memstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sessionstoretest"
)

var (
	_ sessionstoretest.Counter   = (*Store)(nil)
	_ sessionstoretest.Collector = (*Store)(nil)
)

func TestConformance(t *testing.T) {
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store {
		// A janitor that never runs during the test: DeleteExpired is
		// exercised directly by the suite.
		return New(Config{CleanupInterval: time.Hour})
	})
}

// TestConformanceBusyJanitor runs the suite again with a janitor sweeping
// every few milliseconds, so its removals race with every operation.
func TestConformanceBusyJanitor(t *testing.T) {
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store {
		s := New(Config{CleanupInterval: 2 * time.Millisecond})
		t.Cleanup(func() { checkInvariants(t, s) })
		return s
	})
}

// fakeClock is a hand-moved clock for deterministic expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func session(key, user string, expires time.Time) *sessionstore.Session {
	return &sessionstore.Session{Key: key, UserID: user, LastSeen: expires.Add(-time.Hour), ExpiresAt: expires}
}

// checkInvariants verifies that the per-user lists and the shard maps hold
// exactly the same entries.
func checkInvariants(t *testing.T, s *Store) {
	t.Helper()
	inMaps := map[*entry]bool{}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		for k, e := range sh.m {
			if k != e.key() {
				t.Errorf("map key %q holds entry with key %q", k, e.key())
			}
			if s.shardOf(k) != sh {
				t.Errorf("key %q in the wrong shard", k)
			}
			inMaps[e] = true
		}
		sh.mu.RUnlock()
	}
	listed := 0
	for i := range s.users {
		u := &s.users[i]
		u.mu.RLock()
		for user, head := range u.heads {
			if head == nil || head.prev != nil {
				t.Errorf("user %q: bad list head", user)
				continue
			}
			for e := head; e != nil; e = e.next {
				listed++
				if e.userID() != user {
					t.Errorf("user %q's list holds an entry of %q", user, e.userID())
				}
				if !inMaps[e] {
					t.Errorf("user %q's list holds %q, which is not stored", user, e.key())
				}
				if e.next != nil && e.next.prev != e {
					t.Errorf("user %q: broken back link", user)
				}
			}
		}
		u.mu.RUnlock()
	}
	if listed != len(inMaps) {
		t.Errorf("%d entries listed by user, %d stored", listed, len(inMaps))
	}
}

// TestExpiryWithClock checks the exact boundary (APP-LIFE-1): a session is
// live strictly before ExpiresAt and dead at it.
func TestExpiryWithClock(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(Config{Now: clk.Now, DisableCleanup: true})
	defer s.Close()
	exp := clk.Now().Add(30 * time.Minute)
	if err := s.Put(ctx, session("k", "u", exp)); err != nil {
		t.Fatal(err)
	}
	clk.Add(30*time.Minute - time.Nanosecond)
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Fatalf("Get 1ns before expiry: %v", err)
	}
	clk.Add(time.Nanosecond)
	if _, err := s.Get(ctx, "k"); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("Get at expiry = %v, want ErrNotFound", err)
	}
	if err := s.Touch(ctx, "k", clk.Now(), clk.Now().Add(time.Hour)); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("Touch at expiry = %v, want ErrNotFound", err)
	}
	if n, _ := s.CountAll(ctx); n != 1 {
		t.Fatalf("CountAll = %d, want 1 (hidden, not yet collected)", n)
	}
	if n, _ := s.DeleteExpired(ctx, clk.Now()); n != 1 {
		t.Fatalf("DeleteExpired = %d, want 1", n)
	}
	checkInvariants(t, s)
	for i := range s.users {
		if len(s.users[i].heads) != 0 {
			t.Error("user index still holds the collected session")
		}
	}
}

func TestRefreshWithClock(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	s := New(Config{Now: clk.Now, DisableCleanup: true})
	defer s.Close()
	claim := func(owner string) bool {
		ok, err := s.ClaimRefresh(ctx, "rt", owner, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("a") || claim("b") {
		t.Fatal("want first claim true, another owner's false")
	}
	clk.Add(10 * time.Second)
	if !claim("b") {
		t.Fatal("claim at its ttl should succeed again")
	}
	if err := s.SetRefreshResult(ctx, "rt", nil, time.Minute); err != nil {
		t.Fatal(err)
	}
	if r, err := s.GetRefreshResult(ctx, "rt"); err != nil || len(r) != 0 {
		t.Fatalf("empty result = %q, %v; want empty, nil", r, err)
	}
	clk.Add(30 * time.Second) // claim over, result alive
	if claim("a") || claim("b") {
		t.Fatal("claim while a result lives should fail")
	}
	clk.Add(30 * time.Second)
	if _, err := s.GetRefreshResult(ctx, "rt"); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("result at its ttl = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteExpired(ctx, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if len(s.refresh) != 0 {
		t.Fatalf("%d refresh records left after DeleteExpired", len(s.refresh))
	}
}

// TestJanitor checks that the background janitor physically removes expired
// sessions, their user-index links and dead refresh records (APP-LIFE-2),
// and that Close stops it.
func TestJanitor(t *testing.T) {
	ctx := context.Background()
	s := New(Config{CleanupInterval: 10 * time.Millisecond})
	now := time.Now()
	for i := range 100 {
		exp := now.Add(-time.Second)
		if i%10 == 0 {
			exp = now.Add(time.Hour)
		}
		if err := s.Put(ctx, session(fmt.Sprint("k", i), fmt.Sprint("u", i%7), exp)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ClaimRefresh(ctx, "rt", "owner", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := s.CountAll(ctx)
		s.refreshMu.Lock()
		r := len(s.refresh)
		s.refreshMu.Unlock()
		if n == 10 && r == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("janitor left %d sessions (want 10) and %d refresh records (want 0)", n, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkInvariants(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("janitor still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestIndexUnderChurn hammers one small key space from many goroutines with
// every mutating operation, then checks that maps and user lists agree.
func TestIndexUnderChurn(t *testing.T) {
	ctx := context.Background()
	s := New(Config{CleanupInterval: time.Millisecond})
	defer s.Close()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 3000 {
				key := fmt.Sprint("k", r.IntN(40))
				user := fmt.Sprint("u", r.IntN(5))
				now := time.Now()
				var err error
				switch r.IntN(7) {
				case 0, 1:
					exp := now.Add(time.Duration(r.IntN(4)-1) * time.Millisecond)
					err = s.Put(ctx, session(key, user, exp))
				case 2:
					err = s.Touch(ctx, key, now, now.Add(time.Hour))
				case 3:
					err = s.Delete(ctx, key)
				case 4:
					_, err = s.DeleteByUser(ctx, user)
				case 5:
					_, err = s.ListByUser(ctx, user)
				case 6:
					_, err = s.Get(ctx, key)
				}
				if err != nil && !errors.Is(err, sessionstore.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	checkInvariants(t, s)
}

// sizedSession is the session of the memory goal: a ~600-byte access
// token plus ~450 bytes of claims. With inToken the token's payload is the
// claims, as in every session appkit stores (idpclient hands over the
// verified token's payload); without it the token's payload is filler, so
// the store keeps the claims apart.
func sizedSession(i int, now time.Time, inToken bool) *sessionstore.Session {
	key := fmt.Sprintf("%064x", i)
	user := fmt.Sprintf("%08x-1111-2222-3333-%012x", i/3, i/3)
	claims := fmt.Sprintf(`{"aud":"85a03867-dccf-4882-adde-1a79aeec50df","exp":%d,"iat":%d,"iss":"http://127.0.0.1:9011","sub":%q,"jti":"%08x-aaaa-bbbb-cccc-%012x","authenticationType":"PASSWORD","email":"user%d@example.com","email_verified":true,"applicationId":"85a03867-dccf-4882-adde-1a79aeec50df","roles":["customer"],"auth_time":%d,"tid":"d7d09513-a3f5-401c-9685-34ab6c552453"}`,
		now.Unix()+300, now.Unix(), user, i, i, i, now.Unix())
	payload := strings.Repeat("x", 600-64-87)
	if inToken {
		payload = base64.RawURLEncoding.EncodeToString([]byte(claims))
	}
	token := "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjEyMzQ1Njc4OTAifQ." +
		payload + "." + strings.Repeat("s", 86)
	return &sessionstore.Session{
		Key: key, UserID: user, Claims: json.RawMessage(claims),
		AccessToken: token, AccessTokenExpiry: now.Add(5 * time.Minute),
		RefreshTokenID: fmt.Sprintf("%08x-dddd-eeee-ffff-%012x", i, i),
		AuthTime:       now, CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(30 * time.Minute), AbsoluteExpiry: now.Add(8 * time.Hour),
		IP:        "203.0.113.77",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	}
}

// claimsCases are the two forms of sizedSession.
var claimsCases = []struct {
	name    string
	inToken bool
}{{"claims=in-token", true}, {"claims=separate", false}}

// BenchmarkGet measures parallel Gets of existing sessions (10,000 stored).
func BenchmarkGet(b *testing.B) {
	for _, c := range claimsCases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			s := New(Config{})
			defer s.Close()
			now := time.Now()
			const n = 10000
			keys := make([]string, n)
			for i := range n {
				x := sizedSession(i, now, c.inToken)
				keys[i] = x.Key
				if err := s.Put(ctx, x); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(n)
				for pb.Next() {
					if _, err := s.Get(ctx, keys[i]); err != nil {
						b.Error(err)
						return
					}
					i++
					if i == n {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkMemoryPerSession reports the heap bytes one stored session costs
// (the goal is ≤1.5 KB for a ~600-byte token plus claims), counting only
// what the store retains: the caller's inputs are dropped after Put.
func BenchmarkMemoryPerSession(b *testing.B) {
	for _, c := range claimsCases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			const n = 100000
			for range b.N {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				s := New(Config{DisableCleanup: true})
				now := time.Now()
				for i := range n {
					if err := s.Put(ctx, sizedSession(i, now, c.inToken)); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/session")
				runtime.KeepAlive(s)
				s.Close()
			}
		})
	}
}

// TestClaimsFromToken checks the compact form: claims equal to the access
// token's payload are not stored twice but decoded on the way out, any
// other claims (or a token that is not a compact JWS) are kept as given,
// and either way Get hands out a copy the caller may change.
func TestClaimsFromToken(t *testing.T) {
	ctx := context.Background()
	claims := `{"sub":"u1","email":"a@example.com","n":[1,2,3]}`
	enc := base64.RawURLEncoding.EncodeToString([]byte(claims))
	for _, c := range []struct {
		name, token, claims string
		nilClaims           bool
		want                claimsForm
	}{
		{name: "payload", token: "aGVhZA." + enc + ".c2ln", claims: claims, want: claimsInToken},
		{name: "other claims", token: "aGVhZA." + enc + ".c2ln", claims: `{"sub":"u1"}`, want: claimsStored},
		{name: "padded payload", token: "aGVhZA." + enc + "=.c2ln", claims: claims, want: claimsStored},
		{name: "two segments", token: "aGVhZA." + enc, claims: claims, want: claimsStored},
		{name: "four segments", token: "aGVhZA." + enc + ".c2ln.eA", claims: claims, want: claimsStored},
		{name: "opaque token", token: "opaque", claims: claims, want: claimsStored},
		{name: "empty claims, empty payload", token: "aGVhZA..c2ln", claims: "", want: claimsInToken},
		{name: "empty claims", token: "opaque", claims: "", want: claimsStored},
		{name: "nil claims", token: "aGVhZA." + enc + ".c2ln", nilClaims: true, want: claimsNil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := New(Config{DisableCleanup: true})
			defer s.Close()
			in := sizedSession(1, time.Now(), false)
			in.AccessToken = c.token
			in.Claims = json.RawMessage(c.claims)
			if c.nilClaims {
				in.Claims = nil
			}
			if err := s.Put(ctx, in); err != nil {
				t.Fatal(err)
			}
			e := s.shardOf(in.Key).m[in.Key]
			if e.claims != c.want {
				t.Errorf("claims form %d, want %d", e.claims, c.want)
			}
			if want := len(in.Key) + len(in.UserID) + len(in.RefreshTokenID) + len(in.IP) + len(in.UserAgent) +
				len(in.AccessToken); c.want == claimsInToken && len(e.strs) != want {
				t.Errorf("entry holds %d bytes of strings, want %d (no copy of the claims)", len(e.strs), want)
			}
			for range 2 {
				got, err := s.Get(ctx, in.Key)
				if err != nil {
					t.Fatal(err)
				}
				if got.AccessToken != in.AccessToken || string(got.Claims) != string(in.Claims) || (got.Claims == nil) != (in.Claims == nil) {
					t.Fatalf("got token %q claims %q (nil %v), want %q %q (nil %v)",
						got.AccessToken, got.Claims, got.Claims == nil, in.AccessToken, in.Claims, in.Claims == nil)
				}
				if got.Key != in.Key || got.UserID != in.UserID || got.RefreshTokenID != in.RefreshTokenID ||
					got.IP != in.IP || got.UserAgent != in.UserAgent {
					t.Fatalf("strings changed: got %+v", got)
				}
				if len(got.Claims) > 0 {
					got.Claims[0] = 'X' // the next Get must not see this
				}
			}
		})
	}
}

// DisableCleanup is the one way to run no janitor (design §7); a negative
// interval or one beside DisableCleanup is a programming error.
func TestNewRefusesAmbiguousConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"negative":         {CleanupInterval: -1},
		"interval and off": {CleanupInterval: time.Second, DisableCleanup: true},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(cfg).Close()
		}()
	}
	s := New(Config{DisableCleanup: true})
	defer s.Close()
	if s.interval != 0 {
		t.Errorf("DisableCleanup: interval %v", s.interval)
	}
	d := New(Config{})
	defer d.Close()
	if d.interval != DefaultCleanupInterval {
		t.Errorf("zero Config: interval %v, want %v", d.interval, DefaultCleanupInterval)
	}
}
