package redisstore_test

import (
	"net"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sessionstoretest"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
)

// newStore returns a store on the test Redis under a fresh prefix.
func newStore(t *testing.T) *redisstore.Store {
	t.Helper()
	return mustOpen(t, redisstore.Config{Client: redistest.Client(t), Prefix: redistest.Prefix(t)})
}

// mustOpen opens a store on cfg, closed when the test ends.
func mustOpen(t testing.TB, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	redistest.URL(t) // skip (or fail under CI) once, not per subtest
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store { return newStore(t) })
}

// Open takes exactly one of URL and Client, and checks the connection with
// the caller's ctx (design §7: ctx first where I/O happens), so a dead
// address fails at startup rather than at the first request.
func TestOpenConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "redis://" + ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for name, cfg := range map[string]redisstore.Config{
		"neither":      {},
		"both":         {URL: dead, Client: c},
		"bad url":      {URL: "http://x"},
		"dead address": {URL: dead},
	} {
		if s, err := redisstore.Open(t.Context(), cfg); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}
