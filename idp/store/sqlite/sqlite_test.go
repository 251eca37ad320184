package sqlite

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/storetest"
	"github.com/gatehouse-auth/gatehouse/internal/migrate"
)

// openAt opens the store at path and closes it when the test ends.
func openAt(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), Config{Path: path})
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func openTemp(tb testing.TB) *Store {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "idp.db"))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// seed creates a user, an application and one refresh-token family.
func seed(tb testing.TB, s store.Store) (*store.User, *store.Application, *store.RefreshToken) {
	tb.Helper()
	ctx := tb.Context()
	now := time.Now()
	u := &store.User{ID: uuid.NewString(), Email: "u-" + uuid.NewString()[:8] + "@example.com", CreatedAt: now}
	a := &store.Application{ID: uuid.NewString(), Name: "app", Active: true, CreatedAt: now}
	rt := &store.RefreshToken{ID: uuid.NewString(), UserID: u.ID, ApplicationID: a.ID,
		TokenHash: digest(uuid.NewString()), CreatedAt: now, StartAt: now, ExpiresAt: now.Add(time.Hour)}
	for _, err := range []error{s.CreateUser(ctx, u), s.CreateApplication(ctx, a), s.CreateRefreshToken(ctx, rt)} {
		if err != nil {
			tb.Fatalf("seed: %v", err)
		}
	}
	return u, a, rt
}

func schemaVersions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), `SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatalf("read schema_version: %v", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// TestReopen: data persists across Close/Open and reopening applies no
// migration twice.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	s1, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	u, _, rt := seed(t, s1)
	first := schemaVersions(t, s1)
	all, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(all) || first[len(first)-1] != len(all) {
		t.Fatalf("schema_version after first open = %v, want 1..%d", first, len(all))
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		s2, err := Open(t.Context(), Config{Path: path})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if got := schemaVersions(t, s2); fmt.Sprint(got) != fmt.Sprint(first) {
			t.Errorf("schema_version after reopen = %v, want %v", got, first)
		}
		if _, err := s2.GetUser(t.Context(), u.ID); err != nil {
			t.Errorf("user after reopen: %v", err)
		}
		got, err := s2.GetRefreshTokenByHash(t.Context(), rt.TokenHash)
		if err != nil || got.ID != rt.ID {
			t.Errorf("refresh token after reopen: %v, %v", got, err)
		}
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// oldMigrate writes a database the way the store's own runner did before
// internal/migrate: the schema_version table with its DDL of then, and
// migrations 1..upTo each recorded with a row.
func oldMigrate(t *testing.T, path string, upTo int) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	all, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{`CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`}
	for _, m := range all[:upTo] {
		stmts = append(stmts, m.SQL, fmt.Sprintf(`INSERT INTO schema_version (version, applied_at) VALUES (%d, 1)`, m.Version))
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("old migrate: %v", err)
		}
	}
}

// TestUpgradeFromOldRunner: a file written by the store's runner before
// internal/migrate opens without re-applying a migration (each would fail:
// the files create tables without IF NOT EXISTS), and one a migration
// behind gets exactly the missing ones.
func TestUpgradeFromOldRunner(t *testing.T) {
	all, err := migrate.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, len(all))
	for i := range all {
		want[i] = i + 1
	}
	for _, upTo := range []int{len(all), len(all) - 1, 1} {
		t.Run(fmt.Sprint("at version ", upTo), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "idp.db")
			oldMigrate(t, path, upTo)
			s := openAt(t, path)
			if got := schemaVersions(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("schema_version = %v, want %v", got, want)
			}
			var oldRows int
			if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_version WHERE applied_at = 1`).Scan(&oldRows); err != nil || oldRows != upTo {
				t.Errorf("rows of the old runner kept: %d, %v; want %d", oldRows, err, upTo)
			}
			seed(t, s) // the schema works
		})
	}
}

// TestNewerSchemaRefused: a database migrated by a newer build is not used
// by an older one.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	s := openAt(t, path)
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_version (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), Config{Path: path})
	if err == nil {
		s2.Close()
		t.Fatal("Open of a database at schema version 999 succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file::memory:?cache=shared", "/tmp/x.db?mode=ro"} {
		if s, err := Open(t.Context(), Config{Path: p}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", p)
		}
	}
}

// TestPools checks the pool design the performance relies on: one writer
// connection with foreign keys and WAL; read connections that cannot write.
func TestPools(t *testing.T) {
	s := openTemp(t)
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool max open = %d, want 1", got)
	}
	if got := s.r.Stats().MaxOpenConnections; got < 2 {
		t.Errorf("reader pool max open = %d, want several", got)
	}
	var sync int
	if err := s.w.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 1 {
		t.Errorf("writer synchronous = %d (%v), want 1 (NORMAL)", sync, err)
	}
	var fk int
	if err := s.r.QueryRowContext(t.Context(), `PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("reader foreign_keys = %d (%v), want 1", fk, err)
	}
	_, err := s.r.ExecContext(t.Context(), `DELETE FROM users`)
	if err == nil {
		t.Error("a write through the read pool succeeded, want query_only to refuse it")
	}
}

// TestQueryPlans: the lookups on the refresh and login paths and the
// collector's statements use indexes, never a full scan.
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	for _, c := range []struct {
		name  string
		query string
		args  []any
	}{
		{"GetRefreshTokenByHash", qGetRefreshTokenByHash, []any{[]byte{1}}},
		{"GetRotation", qGetRotation, []any{[]byte{1}}},
		{"GetUserByLogin", qGetUserByLogin, []any{"a@b", "a@b"}},
		{"ListRefreshTokens", qListRefreshTokens, []any{"u"}},
		{"RotateUpdate", qRotateUpdate, []any{[]byte{1}, 0, 0, "[]", 0, "", "id", []byte{2}}},
		{"DeleteExpiredBatch", qDeleteExpiredBatch, []any{1, 10}},
		{"ClearSuccessorsBatch", qClearSuccessorsBatch, []any{1, 10}},
		{"DeleteByApplication", `DELETE FROM refresh_tokens WHERE application_id = ?`, []any{"a"}},
		{"TakeTicket", qTakeTicket, []any{[]byte{1}, "k", 0}},
		{"CountTickets", qCountTickets, []any{"u", "k", 0}},
		{"DeleteTicketsOfKinds", `DELETE FROM tickets WHERE user_id = ? AND kind IN (?, ?)`, []any{"u", "a", "b"}},
		{"DeleteExpiredTickets", qDeleteExpiredTickets, []any{1}},
	} {
		rows, err := s.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+c.query, c.args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			// "SCAN t" without USING is a full table scan.
			if strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, " USING ") {
				t.Errorf("%s: full scan in plan %q", c.name, plan)
			}
		}
		if len(plan) == 0 {
			t.Errorf("%s: empty plan", c.name)
		}
	}
}

// TestTwoStoresOneFile: two Stores on one file stand for two IdP processes.
// The rotation CAS must hold across them too (IDP-RT-5), relying on
// BEGIN IMMEDIATE and busy_timeout rather than the in-process single writer.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	a, b := openAt(t, path), openAt(t, path)
	_, _, rt := seed(t, a)
	const n = 20
	var wins, conflicts atomic.Int32
	errs := make(chan error, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			err := s.RotateRefreshToken(t.Context(), store.RotateParams{
				FamilyID: rt.ID, OldHash: rt.TokenHash, NewHash: digest(fmt.Sprint("next", i)), Now: time.Now(),
			})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				errs <- err
			}
		}()
	}
	close(start)
	for range n {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Errorf("rotation: unexpected error %v", err)
	}
	if wins.Load() != 1 || conflicts.Load() != n-1 {
		t.Errorf("wins %d, conflicts %d; want 1 and %d", wins.Load(), conflicts.Load(), n-1)
	}
	// Each store sees the other's write.
	fa, err := a.GetRefreshToken(t.Context(), rt.ID)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.GetRefreshToken(t.Context(), rt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(fa.TokenHash) != string(fb.TokenHash) || fa.Generation != 1 {
		t.Errorf("stores disagree or wrong generation: %x/%d vs %x/%d", fa.TokenHash, fa.Generation, fb.TokenHash, fb.Generation)
	}
}

// TestCollectInBatches: more expired families than one batch are all
// removed and counted.
func TestCollectInBatches(t *testing.T) {
	s := openTemp(t)
	u, a, _ := seed(t, s)
	now := time.Now()
	const n = collectBatch*2 + 7
	// Insert directly in one transaction: the API path would take longer
	// than the test is worth.
	tx, err := s.w.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := tx.ExecContext(t.Context(), qCreateRefreshToken, uuid.NewString(), u.ID, a.ID,
			digest(fmt.Sprint("bulk", i)), "[]", ms(now), ms(now), ms(now.Add(-time.Minute)), ms(now), "[]",
			"", "", "", 0, "", 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteExpiredRefreshTokens(t.Context(), now, now)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("removed %d, want %d", got, n)
	}
	var left int
	if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM refresh_tokens`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 1 { // the seeded live family
		t.Errorf("%d families left, want 1", left)
	}
}

// TestZeroExpiryNeverCollected documents the backend's reading of a zero
// ExpiresAt: no expiry.
func TestZeroExpiryNeverCollected(t *testing.T) {
	s := openTemp(t)
	_, _, rt := seed(t, s)
	if err := s.TouchRefreshToken(t.Context(), rt.ID, time.Time{}, time.Time{}, time.Now(), nil, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteExpiredRefreshTokens(t.Context(), time.Now(), time.Now()); err != nil || n != 0 {
		t.Errorf("collected %d (%v), want 0", n, err)
	}
}
