package redisstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
)

func testSession(key, user string, now time.Time) *sessionstore.Session {
	return &sessionstore.Session{
		Key: key, UserID: user,
		Claims:      json.RawMessage(`{"sub":"` + user + `"}`),
		AccessToken: "token-" + key, RefreshTokenID: "rt-" + key,
		CreatedAt: now, LastSeen: now, AuthTime: now,
		ExpiresAt: now.Add(time.Hour), AbsoluteExpiry: now.Add(8 * time.Hour),
		IP: "192.0.2.1", UserAgent: "test",
	}
}

// TestRestartKeepsSessions: with persistence on, sessions, user indexes,
// expiries and refresh claims survive a Redis restart — after a crash
// (kill -9) with the append-only file, and after a clean shutdown with RDB
// snapshots.
func TestRestartKeepsSessions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		crash bool
	}{
		{"AOFCrash", []string{"--appendonly", "yes", "--appendfsync", "always", "--save", ""}, true},
		{"RDBShutdown", []string{"--appendonly", "no", "--save", "3600 1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.StartServer(t, t.TempDir(), tc.args...)
			o, err := redis.ParseURL(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(o)
			defer c.Close()
			s := mustOpen(t, redisstore.Config{Client: c})
			ctx := t.Context()

			now := time.Now()
			var want []*sessionstore.Session
			for i := range 12 {
				x := testSession(fmt.Sprintf("key-%d", i), fmt.Sprintf("user-%d", i%3), now)
				x.LastSeen = now.Add(-time.Duration(i) * time.Second)
				want = append(want, x)
				if err := s.Put(ctx, x); err != nil {
					t.Fatalf("Put: %v", err)
				}
			}
			if ok, err := s.ClaimRefresh(ctx, "claimed", "before", time.Hour); err != nil || !ok {
				t.Fatalf("ClaimRefresh = %v, %v", ok, err)
			}
			if err := s.SetRefreshResult(ctx, "result", []byte("sealed"), time.Hour); err != nil {
				t.Fatal(err)
			}

			if tc.crash {
				srv.Kill()
			} else {
				srv.Shutdown()
			}
			srv.Start()

			for _, x := range want {
				got, err := s.Get(ctx, x.Key)
				if err != nil {
					t.Fatalf("Get(%s) after restart: %v", x.Key, err)
				}
				if got.UserID != x.UserID || got.AccessToken != x.AccessToken || !got.ExpiresAt.Equal(x.ExpiresAt) {
					t.Errorf("Get(%s) after restart = %+v, want %+v", x.Key, got, x)
				}
				ttl, err := c.PTTL(ctx, redisstore.DefaultPrefix+"s:"+x.Key).Result()
				if err != nil || ttl <= 0 || ttl > time.Hour {
					t.Errorf("PTTL(%s) after restart = %v, %v; want the session's remaining hour", x.Key, ttl, err)
				}
			}
			for u := range 3 {
				l, err := s.ListByUser(ctx, fmt.Sprintf("user-%d", u))
				if err != nil || len(l) != 4 {
					t.Errorf("ListByUser(user-%d) after restart = %d sessions, %v; want 4", u, len(l), err)
				}
			}
			if ok, err := s.ClaimRefresh(ctx, "claimed", "after", time.Minute); err != nil || ok {
				t.Errorf("ClaimRefresh of a claim made before the restart = %v, %v; want false", ok, err)
			}
			if r, err := s.GetRefreshResult(ctx, "result"); err != nil || string(r) != "sealed" {
				t.Errorf("GetRefreshResult after restart = %q, %v", r, err)
			}
		})
	}
}

// TestUserIndexCannotLeak: the per-user index never holds a member past its
// session's expiry once it is written or read, its own TTL is its latest
// member's expiry (so it disappears with its last session even if nobody
// touches it again), and it follows Touch both ways.
func TestUserIndexCannotLeak(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t)
	s := mustOpen(t, redisstore.Config{Client: c, Prefix: prefix})
	ctx := t.Context()
	idx := prefix + "u:alice"
	expireTime := func() time.Time {
		t.Helper()
		d, err := c.PExpireTime(ctx, idx).Result()
		if err != nil {
			t.Fatalf("PEXPIRETIME: %v", err)
		}
		if d < 0 {
			return time.Time{}
		}
		return time.UnixMilli(int64(d / time.Millisecond))
	}
	sameMs := func(a, b time.Time) bool { d := a.Sub(b); return d > -2*time.Millisecond && d < 2*time.Millisecond }

	now := time.Now()
	short := testSession("short", "alice", now)
	short.ExpiresAt = now.Add(300 * time.Millisecond)
	long := testSession("long", "alice", now)
	long.ExpiresAt = now.Add(time.Hour)
	for _, x := range []*sessionstore.Session{short, long} {
		if err := s.Put(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if got := expireTime(); !sameMs(got, long.ExpiresAt) {
		t.Errorf("index expires at %v, want its latest member's expiry %v", got, long.ExpiresAt)
	}

	// Shortening the latest session shortens the index.
	shorter := now.Add(30 * time.Minute)
	if err := s.Touch(ctx, "long", now, shorter); err != nil {
		t.Fatal(err)
	}
	if got := expireTime(); !sameMs(got, shorter) {
		t.Errorf("after Touch to +30m the index expires at %v, want %v", got, shorter)
	}

	// Once "short" has expired, the next write trims it from the index.
	for time.Now().Before(short.ExpiresAt.Add(20 * time.Millisecond)) {
		time.Sleep(20 * time.Millisecond)
	}
	other := testSession("other", "alice", time.Now())
	if err := s.Put(ctx, other); err != nil {
		t.Fatal(err)
	}
	members, err := c.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 || members[0] != "long" && members[1] != "long" {
		t.Errorf("index members after a write = %v, want long and other (short trimmed)", members)
	}

	// Sessions that expire with nobody writing or reading: the index goes
	// with the last of them, by its own TTL.
	bob := prefix + "u:bob"
	b := testSession("bob-1", "bob", time.Now())
	b.ExpiresAt = time.Now().Add(200 * time.Millisecond)
	if err := s.Put(ctx, b); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := c.Exists(ctx, bob).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's index still exists 10s after his only session expired")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Deleting the last session removes the index at once.
	for _, k := range []string{"long", "other"} {
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Exists(ctx, idx).Result(); err != nil || n != 0 {
		t.Errorf("alice's index after deleting her sessions: exists=%d, %v", n, err)
	}
}

// TestCorruptValueIsAnError: a value that is not a session (another
// program wrote the key) is reported, not decoded into garbage.
func TestCorruptValueIsAnError(t *testing.T) {
	c := redistest.Client(t)
	prefix := redistest.Prefix(t)
	s := mustOpen(t, redisstore.Config{Client: c, Prefix: prefix})
	if err := c.Set(t.Context(), prefix+"s:bad", "not a session", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(t.Context(), "bad")
	if err == nil || errors.Is(err, sessionstore.ErrNotFound) {
		t.Errorf("Get(corrupt) = %v, want a decode error", err)
	}
}
