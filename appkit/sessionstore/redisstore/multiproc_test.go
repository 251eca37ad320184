package redisstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/storeproctest"
)

// The multi-process tests re-run this test binary as child processes
// (GATEHOUSE_TEST_CHILD names the role), each with its own Redis client,
// so what they share is only the Redis server, as separate app processes
// would.
func TestMain(m *testing.M) {
	if role := os.Getenv("GATEHOUSE_TEST_CHILD"); role != "" {
		if err := runChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// claimResult is what a claim child reports: wins per key.
type claimResult struct {
	Wins   map[string]int `json:"wins"`
	Errors []string       `json:"errors"`
}

func runChild(role string) error {
	switch role {
	case storeproctest.ChildRole:
		return storeAppChild()
	case "claim":
		s, err := redisstore.Open(context.Background(), redisstore.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL"), Prefix: os.Getenv("GATEHOUSE_CHILD_PREFIX")})
		if err != nil {
			return err
		}
		defer s.Close()
		keys, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_KEYS"))
		workers, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_WORKERS"))
		return claimChild(s, keys, workers)
	}
	return fmt.Errorf("unknown role %q", role)
}

// claimChild waits for "go" on stdin, then has workers goroutines each try
// to claim every key, and prints the wins as JSON.
func claimChild(s *redisstore.Store, keys, workers int) error {
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	res := claimResult{Wins: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprint(os.Getpid(), "-", w) // each worker stands for a process
		wg.Go(func() {
			for k := range keys {
				key := fmt.Sprintf("rt-%d", k)
				ok, err := s.ClaimRefresh(context.Background(), key, owner, time.Minute)
				mu.Lock()
				if err != nil {
					res.Errors = append(res.Errors, err.Error())
				}
				if ok {
					res.Wins[key]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(res)
}

// child is a running child process of this test binary.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startChild starts the test binary in role with env and waits for its
// "ready" line.
func startChild(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "GATEHOUSE_TEST_CHILD="+role), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := &child{cmd: cmd, in: in, out: bufio.NewReader(out)}
	line, err := c.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child %s did not get ready: %q, %v", role, line, err)
	}
	return c
}

// TestClaimRefreshAcrossProcesses (S11, APP-REF-4): two app processes, each
// with 8 goroutines, race to claim the same 50 refresh tokens on one
// Redis; every token is claimed exactly once in total.
func TestClaimRefreshAcrossProcesses(t *testing.T) {
	url := redistest.URL(t)
	prefix := redistest.Prefix(t)
	const keys, workers = 50, 8
	env := []string{"GATEHOUSE_CHILD_URL=" + url, "GATEHOUSE_CHILD_PREFIX=" + prefix,
		"GATEHOUSE_CHILD_KEYS=" + strconv.Itoa(keys), "GATEHOUSE_CHILD_WORKERS=" + strconv.Itoa(workers)}
	a, b := startChild(t, "claim", env...), startChild(t, "claim", env...)
	for _, c := range []*child{a, b} {
		if _, err := io.WriteString(c.in, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	total := map[string]int{}
	for i, c := range []*child{a, b} {
		var r claimResult
		if err := json.NewDecoder(c.out).Decode(&r); err != nil {
			t.Fatalf("child %d result: %v", i, err)
		}
		for _, e := range r.Errors {
			t.Errorf("child %d: ClaimRefresh: %s", i, e)
		}
		for k, n := range r.Wins {
			total[k] += n
		}
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
	for k := range keys {
		key := fmt.Sprintf("rt-%d", k)
		if total[key] != 1 {
			t.Errorf("%s claimed %d times across two processes, want exactly 1", key, total[key])
		}
	}
}
