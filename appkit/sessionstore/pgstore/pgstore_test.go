package pgstore_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/pgstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sessionstoretest"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
)

// open returns a store in a fresh schema of its own, closed when the test
// ends (Close may be called more than once).
func open(t *testing.T) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(t.Context(), pgstore.Config{URL: pgtest.NewSchema(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.AdminURL(t) // skip (or fail under CI) once, not per subtest
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store { return open(t) })
}
