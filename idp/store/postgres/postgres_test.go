package postgres_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/postgres"
	"github.com/gatehouse-auth/gatehouse/idp/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
)

// open returns a store in a fresh schema of its own.
func open(t *testing.T) *postgres.Store {
	t.Helper()
	url := pgtest.NewSchema(t)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.AdminURL(t) // skip (or fail under CI) once, not per subtest
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}
