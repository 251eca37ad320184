package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-auth/gatehouse/internal/redistest"
)

// usedMemory returns Redis's used_memory.
func usedMemory(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatalf("INFO memory: %v", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("used_memory %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}

// TestMemoryPerSession measures Redis memory per stored session, index
// included, for sessions as appkit stores them (claims plus a ~780-byte
// ES256 access token), each of a different user, the worst case for the
// per-user index. Issue 6's goal is at most 1.5 KB per session.
func TestMemoryPerSession(t *testing.T) {
	// A server of its own, so no other test's keys move used_memory.
	srv := redistest.StartServer(t, t.TempDir(), "--save", "", "--appendonly", "no")
	o, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	s, err := Open(t.Context(), Config{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const n = 10000
	before := usedMemory(t, c)
	for i := range n {
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		sess := realisticSession(hex.EncodeToString(h[:]))
		sess.UserID = fmt.Sprintf("00000000-0000-0001-0000-%012d", i)
		if err := s.Put(ctx, sess); err != nil {
			t.Fatalf("Put: %v", err)
		}
	}
	after := usedMemory(t, c)
	per := float64(after-before) / n
	t.Logf("Redis used_memory: %.0f B per session (%d sessions, one user each, index included)", per, n)
	if per > 1536 {
		t.Errorf("%.0f B per session, goal is at most 1536 B", per)
	}
}
