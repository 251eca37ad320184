// Package pgtest gives tests a throwaway PostgreSQL database of their own on
// the server named by GATEHOUSE_TEST_POSTGRES (a superuser postgres:// URL;
// scripts/testenv.sh starts such a server and sets it).
//
// It owns only test plumbing: the skip-or-fail rule for a missing server
// (skip with a message, except under GATEHOUSE_CI=1 where a missing server is
// a failure) and creating/dropping databases. It knows no schema.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/testneeds"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming the test server.
const EnvURL = "GATEHOUSE_TEST_POSTGRES"

// AdminURL returns the test server's URL. Without one it skips the test,
// or fails it when GATEHOUSE_CI=1.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		testneeds.Missing(t, EnvURL+" is not set: the PostgreSQL tests need a server (run scripts/test.sh, or source scripts/testenv.sh)")
	}
	return u
}

// NewSchema creates an empty schema with a random name in the admin URL's
// database and returns a URL whose connections use it (search_path), so
// unqualified table names land there. Cheaper than NewDatabase (no database
// copy), for suites that open many stores. Dropped, with everything in it,
// when the test ends.
func NewSchema(t testing.TB) string {
	t.Helper()
	u, name := create(t, `CREATE SCHEMA %s`, `DROP SCHEMA IF EXISTS %s CASCADE`)
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// NewDatabase creates an empty database with a random name and returns a
// URL for it (the admin URL with the database replaced). The database is
// dropped, with any connections still open to it, when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	u, name := create(t, `CREATE DATABASE %s`, `DROP DATABASE IF EXISTS %s WITH (FORCE)`)
	u.Path = "/" + name
	return u.String()
}

// create runs createSQL (a format with one %s) with a fresh random name
// on the test server, and dropSQL with that name when the test ends. It
// returns the server's URL and the name.
func create(t testing.TB, createSQL, dropSQL string) (*url.URL, string) {
	t.Helper()
	admin := AdminURL(t)
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL", EnvURL)
	}
	name := randomName()
	if err := exec(admin, fmt.Sprintf(createSQL, name)); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := exec(admin, fmt.Sprintf(dropSQL, name)); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return u, name
}

// randomName returns a fresh lower-case identifier.
func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "gatehouse_test_" + hex.EncodeToString(b[:])
}

// exec runs one statement on its own connection to url (cleanups run after
// the test's context is cancelled, so this uses a context of its own).
func exec(url, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
