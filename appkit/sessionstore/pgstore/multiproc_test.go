package pgstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
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
		storeproctest.ClaimRole: func() error {
			return storeproctest.ClaimChild(func(ctx context.Context) (sessionstore.Store, error) {
				return pgstore.Open(ctx, pgstore.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL"), DisableCleanup: true})
			})
		},
		storeproctest.ChildRole: storeAppChild,
	})
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
	storeproctest.ClaimRace(t, 50, 8, "GATEHOUSE_CHILD_URL="+url)
}
