package storeproctest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
)

// ClaimRole is the childproc role of a claim-race child (ClaimChild).
const ClaimRole = "claim"

// claimResult is what a claim child reports: wins per key.
type claimResult struct {
	Wins   map[string]int `json:"wins"`
	Errors []string       `json:"errors"`
}

// ClaimChild is a claim-race child: it opens its own connection to the
// shared store with open, waits for the release, then has its workers
// goroutines each try to claim every key, and prints the wins as JSON.
// The key and worker counts come from the environment ClaimRace sets.
func ClaimChild(open func(context.Context) (sessionstore.Store, error)) error {
	ctx := context.Background()
	s, err := open(ctx)
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

// ClaimRace (S11, APP-REF-4) starts two ClaimRole children with env (what
// their store's open needs), releases them together so that workers
// goroutines in each race to claim the same keys refresh tokens, and
// checks that every token was claimed exactly once in total.
func ClaimRace(t *testing.T, keys, workers int, env ...string) {
	t.Helper()
	env = append(env, "GATEHOUSE_CHILD_KEYS="+strconv.Itoa(keys), "GATEHOUSE_CHILD_WORKERS="+strconv.Itoa(workers))
	cs := []*childproc.Child{childproc.Start(t, ClaimRole, env...), childproc.Start(t, ClaimRole, env...)}
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
