// Package redistest gives tests a Redis client and a key prefix of their own
// on the server named by GATEHOUSE_TEST_REDIS (a redis:// URL;
// scripts/testenv.sh starts such a server and sets it).
//
// It owns only test plumbing: the skip-or-fail rule for a missing server
// (skip with a message, except under GATEHOUSE_CI=1 where a missing server is
// a failure), removing a test's keys afterwards, and private redis-server
// processes for tests that crash or restart Redis (StartServer).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testneeds"

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
		testneeds.Missing(t, EnvURL+" is not set: the Redis tests need a server (run scripts/test.sh, or source scripts/testenv.sh)")
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

// Server is a redis-server process a test started itself, in a directory
// of its own, for tests that stop, crash or restart Redis.
type Server struct {
	// URL is redis://127.0.0.1:port/0.
	URL  string
	Port int
	Dir  string

	t    testing.TB
	args []string
	cmd  *exec.Cmd
}

// StartServer starts redis-server on a free loopback port with its data in
// dir (persistence settings and other options in args, e.g.
// "--appendonly", "yes"). Without redis-server on PATH it skips the test,
// or fails it when GATEHOUSE_CI=1. The server is killed when the test ends.
func StartServer(t testing.TB, dir string, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testneeds.Missing(t, "redis-server is not on PATH (apt-get install redis-server, or run scripts/test.sh)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), Port: port, Dir: dir, t: t, args: args}
	t.Cleanup(func() { s.Kill() })
	s.Start()
	return s
}

// Start (re)starts the server with the same port, directory and options,
// and waits until it answers PING (and has loaded its data).
func (s *Server) Start() {
	s.t.Helper()
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(s.Port), "--dir", s.Dir,
		"--daemonize", "no", "--logfile", filepath.Join(s.Dir, "redis.log")}, s.args...)
	s.cmd = exec.Command("redis-server", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	o, _ := redis.ParseURL(s.URL)
	o.MaxRetries = -1
	c := redis.NewClient(o)
	defer c.Close()
	addr := fmt.Sprintf("127.0.0.1:%d", s.Port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Dial first so the client does not log every refused connection;
		// then PING, which fails while Redis is still loading its data.
		err := func() error {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			return c.Ping(ctx).Err()
		}()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
			s.t.Fatalf("redistest: redis-server on port %d not ready: %v\n%s", s.Port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL (a crash: no final save) and waits
// for it to exit. Killing a stopped server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Shutdown stops the server gracefully (SHUTDOWN, which saves when
// persistence is configured) and waits for it to exit.
func (s *Server) Shutdown() {
	s.t.Helper()
	o, _ := redis.ParseURL(s.URL)
	o.MaxRetries = -1 // a retry after SHUTDOWN would dial a stopped server
	c := redis.NewClient(o)
	defer c.Close()
	// SHUTDOWN closes the connection, so its "error" is expected.
	_ = c.Shutdown(context.Background()).Err()
	if s.cmd != nil {
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}
