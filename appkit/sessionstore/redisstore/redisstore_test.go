package redisstore_test

import (
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore/redistest"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sessionstoretest"
)

// newStore returns a store on the test Redis under a fresh prefix.
func newStore(t *testing.T, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	c := redistest.Client(t)
	return redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(redistest.Prefix(t))}, opts...)...)
}

func TestConformance(t *testing.T) {
	redistest.URL(t) // skip (or fail under CI) once, not per subtest
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store { return newStore(t) })
}
