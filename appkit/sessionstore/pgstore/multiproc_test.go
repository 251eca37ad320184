package pgstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/pgstore"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/storeproctest"
)

// The multi-process tests re-run this test binary as child processes
// (internal/childproc), each with its own pool, so what they share is only
// the database, as separate app processes would.
func TestMain(m *testing.M) {
	childproc.Main(m, map[string]func() error{
		"claim":                 claimChild,
		storeproctest.ChildRole: storeAppChild,
	})
}

type claimResult struct {
	Wins   map[string]int `json:"wins"`
	Errors []string       `json:"errors"`
}

// claimChild waits for the release, then has its workers goroutines each
// try to claim every key, and prints the wins as JSON.
func claimChild() error {
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL"), DisableCleanup: true})
	if err != nil {
		return err
	}
	defer s.Close()
	keys, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_KEYS"))
	workers, _ := strconv.Atoi(os.Getenv("GATEHOUSE_CHILD_WORKERS"))
	childproc.Ready("")
	if err := childproc.AwaitRelease(); err != nil {
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
	env := []string{"GATEHOUSE_CHILD_URL=" + url,
		"GATEHOUSE_CHILD_KEYS=" + strconv.Itoa(keys), "GATEHOUSE_CHILD_WORKERS=" + strconv.Itoa(workers)}
	cs := []*childproc.Child{childproc.Start(t, "claim", env...), childproc.Start(t, "claim", env...)}
	for _, c := range cs {
		c.Release()
	}
	total := map[string]int{}
	for i, c := range cs {
		var r claimResult
		if err := c.JSON(&r); err != nil {
			t.Fatalf("child %d result: %v", i, err)
		}
		for _, e := range r.Errors {
			t.Errorf("child %d: ClaimRefresh: %s", i, e)
		}
		for k, n := range r.Wins {
			total[k] += n
		}
		if err := c.Wait(); err != nil {
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
