package pgstore

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/internal/migrate"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
)

func openT(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestCollectorRuns (APP-LIFE-2): the background collector deletes expired
// sessions and refresh records by itself, and leaves live ones.
func TestCollectorRuns(t *testing.T) {
	s := openT(t, Config{URL: pgtest.NewSchema(t), CleanupInterval: 20 * time.Millisecond})
	ctx := t.Context()
	now := time.Now()
	for i, exp := range []time.Duration{-time.Hour, -time.Second, 150 * time.Millisecond, time.Hour} {
		x := &sessionstore.Session{Key: "k" + string(rune('0'+i)), UserID: "u", ExpiresAt: now.Add(exp)}
		if err := s.Put(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ClaimRefresh(ctx, "claim", "owner", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := s.CountAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var refresh int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM gatehouse_refresh`).Scan(&refresh); err != nil {
			t.Fatal(err)
		}
		if n == 1 && refresh == 0 {
			break
		}
		if n < 1 {
			t.Fatalf("collector deleted a live session (%d left)", n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %d sessions and %d refresh records stored, want 1 and 0", n, refresh)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.Get(ctx, "k3"); err != nil {
		t.Errorf("live session after collection: %v", err)
	}
}

// TestConcurrentOpen: several app processes starting at once on an empty
// database all come up (the advisory lock serialises the migration).
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 5)
	start := make(chan struct{})
	for i := range errs {
		wg.Go(func() {
			<-start
			s, err := Open(context.Background(), Config{URL: url, DisableCleanup: true})
			if err == nil {
				err = s.Put(context.Background(), &sessionstore.Session{Key: "k", UserID: "u", ExpiresAt: time.Now().Add(time.Hour)})
				s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open #%d: %v", i, err)
		}
	}
}

// TestUpgradeFromOldRunner: a database at version 1 written by the store's
// runner before internal/migrate (same table, same DDL) gets migration 2
// only (re-applying 1 would fail: CREATE TABLE without IF NOT EXISTS), and
// its claims then carry an owner (AUD-18).
func TestUpgradeFromOldRunner(t *testing.T) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	url := pgtest.NewSchema(t)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []string{`CREATE TABLE gatehouse_sessionstore_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`,
		ms[0].SQL,
		`INSERT INTO gatehouse_sessionstore_migrations (version, name) VALUES (1, '0001_init.sql')`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	s := openT(t, Config{URL: url, DisableCleanup: true})
	if ok, err := s.ClaimRefresh(t.Context(), "k", "A", time.Minute); err != nil || !ok {
		t.Fatalf("ClaimRefresh = %v, %v", ok, err)
	}
	var versions string
	if err := conn.QueryRow(t.Context(), `SELECT string_agg(version::text, ',' ORDER BY version) FROM gatehouse_sessionstore_migrations`).Scan(&versions); err != nil || versions != "1,2" {
		t.Errorf("versions = %q, %v; want 1,2", versions, err)
	}
}

// TestQueriesUseIndexes: with 50,000 sessions of 5,000 users, 1% expired,
// the collector, ListByUser and Get walk indexes, never the table.
func TestQueriesUseIndexes(t *testing.T) {
	s := openT(t, Config{URL: pgtest.NewSchema(t), DisableCleanup: true})
	ctx := t.Context()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO gatehouse_sessions (key, user_id, access_token, expires_at)
			SELECT md5(i::text), 'user-' || (i % 5000), repeat('x', 600), $1::timestamptz + i * interval '1 second'
			FROM generate_series(1, 50000) i`,
		`INSERT INTO gatehouse_refresh (key, expires_at)
			SELECT md5(i::text), $1::timestamptz + i * interval '1 second' FROM generate_series(1, 50000) i`,
		`ANALYZE gatehouse_sessions`,
		`ANALYZE gatehouse_refresh`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, base)
		}
		if _, err := s.pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	cutoff := base.Add(500 * time.Second)
	for _, c := range []struct {
		name, query, index string
		args               []any
	}{
		{"collect sessions", selectExpiredSessionsSQL, "gatehouse_sessions_expires", []any{cutoff, collectBatch}},
		{"collect refresh records", selectExpiredRefreshSQL, "gatehouse_refresh_expires", []any{cutoff, collectBatch}},
		{"list by user", `SELECT ` + sessionColumns + ` FROM gatehouse_sessions WHERE user_id = $1 AND expires_at > $2
			ORDER BY last_seen DESC NULLS LAST, key`, "gatehouse_sessions_user", []any{"user-7", base}},
		{"get", `SELECT ` + sessionColumns + ` FROM gatehouse_sessions WHERE key = $1 AND expires_at > $2`,
			"gatehouse_sessions_pkey", []any{"abc", base}},
	} {
		rows, err := s.pool.Query(ctx, "EXPLAIN "+c.query, c.args...)
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", c.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		p := strings.Join(lines, "\n")
		if strings.Contains(p, "Seq Scan") || !strings.Contains(p, c.index) {
			t.Errorf("%s: plan does not walk %s:\n%s", c.name, c.index, p)
		}
	}
	n, err := s.DeleteExpired(ctx, cutoff)
	if err != nil || n != 500 {
		t.Errorf("DeleteExpired = %d, %v; want 500", n, err)
	}
}
