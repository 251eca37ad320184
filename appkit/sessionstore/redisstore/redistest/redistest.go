// Package redistest gives tests a Redis client and a key prefix of their own
// on the server named by GATEHOUSE_TEST_REDIS (a redis:// URL;
// scripts/testenv.sh starts such a server and sets it).
//
// It owns only test plumbing: the skip-or-fail rule for a missing server
// (skip with a message, except under GATEHOUSE_CI=1 where a missing server is
// a failure) and removing a test's keys afterwards.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL is the environment variable naming the test server.
const EnvURL = "GATEHOUSE_TEST_REDIS"

// URL returns the test server's URL. Without one it skips the test, or
// fails it when GATEHOUSE_CI=1.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("GATEHOUSE_CI") == "1" {
			t.Fatalf("%s is not set and GATEHOUSE_CI=1: Redis tests must run (scripts/test.sh starts a server)", EnvURL)
		}
		t.Skipf("%s not set: skipping Redis test (run scripts/test.sh, or source scripts/testenv.sh)", EnvURL)
	}
	return u
}

// Client returns a client for the test server, closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a fresh key prefix; every key under it is deleted when the
// test ends, so tests sharing one server do not see each other's keys.
func Prefix(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := "test:" + hex.EncodeToString(b[:]) + ":"
	c := Client(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("redistest: scan %s*: %v", p, err)
			return
		}
		if len(keys) > 0 {
			if err := c.Unlink(ctx, keys...).Err(); err != nil {
				t.Errorf("redistest: unlink: %v", err)
			}
		}
	})
	return p
}
