package redisstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/redisstore"
	"github.com/gatehouse-auth/gatehouse/internal/redistest"
	"github.com/gatehouse-auth/gatehouse/internal/storeproctest"
)

// storeAppChild serves the Store example app with its sessions in the
// Redis (and key prefix) the parent test names in the environment.
func storeAppChild() error {
	return storeproctest.ServeChild(func(ctx context.Context) (sessionstore.Store, error) {
		return redisstore.Open(ctx, redisstore.Config{URL: os.Getenv("GATEHOUSE_CHILD_URL"), Prefix: os.Getenv("GATEHOUSE_CHILD_PREFIX")})
	})
}

// TestTwoStoreProcessesOnRedis (S11 across app processes, issue 6): two
// Store app processes share one Redis for sessions; see storeproctest.Run
// for every step asserted.
func TestTwoStoreProcessesOnRedis(t *testing.T) {
	redisURL := redistest.URL(t)
	prefix := redistest.Prefix(t)
	env := []string{"GATEHOUSE_CHILD_URL=" + redisURL, "GATEHOUSE_CHILD_PREFIX=" + prefix}
	storeproctest.Run(t, env, mustOpen(t, redisstore.Config{Client: redistest.Client(t), Prefix: prefix}))
}
