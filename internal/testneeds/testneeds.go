// Package testneeds holds the project's one rule for a test that lacks
// something outside Go it needs (a database server, redis-server,
// Chromium): it skips, saying what is missing, except under GATEHOUSE_CI=1,
// where nothing may skip and it fails instead.
package testneeds

import (
	"os"
	"testing"
)

// EnvCI is the environment variable that, set to 1, forbids skipping.
const EnvCI = "GATEHOUSE_CI"

// Missing ends the test because what reason describes is missing: a skip,
// or a failure when GATEHOUSE_CI=1.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvCI) == "1" {
		t.Fatalf("%s; %s=1 forbids skipping", reason, EnvCI)
	}
	t.Skip(reason)
}
