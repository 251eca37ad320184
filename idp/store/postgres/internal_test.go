package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/internal/migrate"
	"github.com/gatehouse-auth/gatehouse/internal/pgtest"
)

// TestConcurrentOpenMigratesOnce: several IdP processes starting at the
// same moment on an empty database all come up, and each migration is
// applied exactly once (the advisory lock serialises them).
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := Open(context.Background(), Config{URL: url})
			if err == nil {
				err = s.Ping(context.Background())
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
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var count, max int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), max(version) FROM gatehouse_schema_migrations`).Scan(&count, &max); err != nil {
		t.Fatal(err)
	}
	if count != len(ms) || max != ms[len(ms)-1].Version {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d up to %d", count, max, len(ms), ms[len(ms)-1].Version)
	}
}

// TestUpgradeFromOldRunner: a database migrated by the store's runner
// before internal/migrate (same table, same DDL) gets only the migrations
// it lacks; re-applying one would fail (the files create tables without IF
// NOT EXISTS).
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
	if _, err := conn.Exec(t.Context(), `CREATE TABLE gatehouse_schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:len(ms)-1] {
		if _, err := conn.Exec(t.Context(), m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := conn.Exec(t.Context(), `INSERT INTO gatehouse_schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		s, err := Open(t.Context(), Config{URL: url})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		s.Close()
	}
	var count, max int
	var last string
	if err := conn.QueryRow(t.Context(), `SELECT count(*), max(version), max(name) FROM gatehouse_schema_migrations`).Scan(&count, &max, &last); err != nil {
		t.Fatal(err)
	}
	if want := ms[len(ms)-1]; count != len(ms) || max != want.Version || last != want.Name {
		t.Errorf("gatehouse_schema_migrations: %d rows up to %d (%s), want %d up to %d (%s)", count, max, last, len(ms), want.Version, want.Name)
	}
}

// TestNewerSchemaRefused: a binary older than the database's schema refuses
// to run on it rather than misread it.
func TestNewerSchemaRefused(t *testing.T) {
	url := pgtest.NewSchema(t)
	s, err := Open(t.Context(), Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO gatehouse_schema_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), Config{URL: url}); err == nil {
		s.Close()
		t.Error("Open succeeded on a database with a newer schema")
	}
}

// plan returns the EXPLAIN text of query with args.
func plan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	return strings.Join(lines, "\n")
}

// TestCollectionUsesIndexes: with a realistic table (50,000 families with
// spread expiries, 1% expired; 50,000 rotations, 1% holding a successor
// past the cutoff), the collection queries walk their indexes instead of
// scanning the tables.
func TestCollectionUsesIndexes(t *testing.T) {
	s, err := Open(t.Context(), Config{URL: pgtest.NewSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO users (id, created_at) VALUES ('u', now())`,
		`INSERT INTO applications (id, created_at) VALUES ('a', now())`,
		`INSERT INTO refresh_tokens (id, user_id, application_id, token_hash, created_at, expires_at)
			SELECT 'f' || i, 'u', 'a', sha256(('t' || i)::bytea), $1::timestamptz, $1::timestamptz + i * interval '1 second'
			FROM generate_series(1, 50000) i`,
		`INSERT INTO rotations (token_hash, family_id, rotated_at, successor)
			SELECT sha256(('r' || i)::bytea), 'f' || i, $1::timestamptz + i * interval '1 second',
				CASE WHEN i % 100 = 0 THEN 'sealed'::bytea END
			FROM generate_series(1, 50000) i`,
		`ANALYZE refresh_tokens`,
		`ANALYZE rotations`,
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
	for name, p := range map[string]string{
		"expired families":   plan(t, s, selectExpiredSQL, cutoff, collectBatch),
		"pending successors": plan(t, s, selectPendingSuccessorsSQL, base.Add(40000*time.Second), collectBatch),
	} {
		if strings.Contains(p, "Seq Scan") || !strings.Contains(p, "Index") {
			t.Errorf("%s: plan scans the table:\n%s", name, p)
		}
	}
	p := plan(t, s, selectExpiredSQL, cutoff, collectBatch)
	if !strings.Contains(p, "refresh_tokens_expires") {
		t.Errorf("expired families: plan does not use refresh_tokens_expires:\n%s", p)
	}
	p = plan(t, s, selectPendingSuccessorsSQL, base.Add(40000*time.Second), collectBatch)
	if !strings.Contains(p, "rotations_successor_pending") {
		t.Errorf("pending successors: plan does not use rotations_successor_pending:\n%s", p)
	}
	n, err := s.DeleteExpiredRefreshTokens(ctx, cutoff, base.Add(40000*time.Second))
	if err != nil || n != 500 {
		t.Errorf("DeleteExpiredRefreshTokens = %d, %v; want 500", n, err)
	}
}
