package pgstore_test

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

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/pgstore"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/storeproctest"
)

// The multi-process test re-runs this test binary as child processes
// (GATEHOUSE_TEST_CHILD names the role), each with its own pool, so what
// they share is only the database, as separate app processes would.
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

type claimResult struct {
	Wins   map[string]int `json:"wins"`
	Errors []string       `json:"errors"`
}

func runChild(role string) error {
	if role == storeproctest.ChildRole {
		return storeAppChild()
	}
	if role != "claim" {
		return fmt.Errorf("unknown role %q", role)
	}
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL"), DisableCleanup: true})
	if err != nil {
		return err
	}
	defer s.Close()
	keys, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_KEYS"))
	workers, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_WORKERS"))
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
				ok, err := s.ClaimRefresh(ctx, key, owner, time.Minute)
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

// TestClaimRefreshAcrossProcesses (S11, APP-REF-4): two app processes, 8
// goroutines each, race to claim the same 50 refresh tokens on one
// PostgreSQL; every token is claimed exactly once in total.
func TestClaimRefreshAcrossProcesses(t *testing.T) {
	url := pgtest.NewSchema(t)
	s, err := pgstore.Open(t.Context(), pgstore.Config{URL: url, DisableCleanup: true}) // migrate before the race
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	const keys, workers = 50, 8
	type child struct {
		cmd *exec.Cmd
		in  io.WriteCloser
		out *bufio.Reader
	}
	var cs []child
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_CHILD=claim", "GATEHOUSE_CHILD_URL="+url,
			"GATEHOUSE_CHILD_KEYS="+strconv.Itoa(keys), "GATEHOUSE_CHILD_WORKERS="+strconv.Itoa(workers))
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
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		cs = append(cs, child{cmd, in, bufio.NewReader(out)})
	}
	for i, c := range cs {
		if line, err := c.out.ReadString('\n'); err != nil || line != "ready\n" {
			t.Fatalf("child %d did not get ready: %q, %v", i, line, err)
		}
	}
	for _, c := range cs {
		if _, err := io.WriteString(c.in, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	total := map[string]int{}
	for i, c := range cs {
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
