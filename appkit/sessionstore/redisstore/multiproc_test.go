package redisstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/storeproctest"
)

// The multi-process tests re-run this test binary as child processes
// (internal/childproc), each with its own Redis client, so what they share
// is only the Redis server, as separate app processes would.
func TestMain(m *testing.M) {
	childproc.Main(m, map[string]func() error{
		storeproctest.ClaimRole: func() error {
			return storeproctest.ClaimChild(func(ctx context.Context) (sessionstore.Store, error) {
				return redisstore.Open(ctx, redisstore.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL"), Prefix: os.Getenv("GATEHOUSE_CHILD_PREFIX")})
			})
		},
		storeproctest.ChildRole: storeAppChild,
	})
}

// TestClaimRefreshAcrossProcesses (S11, APP-REF-4): two app processes, each
// with 8 goroutines, race to claim the same 50 refresh tokens on one
// Redis; every token is claimed exactly once in total.
func TestClaimRefreshAcrossProcesses(t *testing.T) {
	storeproctest.ClaimRace(t, 50, 8, "GATEHOUSE_CHILD_URL="+redistest.URL(t), "GATEHOUSE_CHILD_PREFIX="+redistest.Prefix(t))
}
