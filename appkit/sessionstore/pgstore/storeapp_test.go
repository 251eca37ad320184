package pgstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/pgstore"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
	"github.com/gatehouse-auth/gatehouse/internal/storeproctest"
)

// storeAppChild serves the Store example app with its sessions in the
// PostgreSQL database the parent test names in the environment.
func storeAppChild() error {
	return storeproctest.ServeChild(func(ctx context.Context) (sessionstore.Store, error) {
		return pgstore.Open(ctx, pgstore.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL")})
	})
}

// TestTwoStoreProcessesOnPostgres (S11 across app processes, issue 6): two
// Store app processes share one PostgreSQL for sessions; see
// storeproctest.Run for every step asserted.
func TestTwoStoreProcessesOnPostgres(t *testing.T) {
	dbURL := pgtest.NewSchema(t)
	s, err := pgstore.Open(t.Context(), pgstore.Config{URL: dbURL}) // migrate before the apps start
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	storeproctest.Run(t, []string{"GATEHOUSE_CHILD_URL=" + dbURL}, s)
}
