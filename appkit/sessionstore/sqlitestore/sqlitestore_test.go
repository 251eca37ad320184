package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sessionstoretest"
	"github.com/gatehouse-auth/gatehouse/internal/migrate"
)

var (
	_ sessionstoretest.Counter   = (*Store)(nil)
	_ sessionstoretest.Collector = (*Store)(nil)
)

func open(t testing.TB, path string, cfg ...Config) *Store {
	t.Helper()
	var c Config
	if len(cfg) > 0 {
		c = cfg[0]
	}
	c.Path = path
	s, err := Open(context.Background(), c)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store {
		// The collector never runs during a subtest: the suite calls
		// DeleteExpired itself.
		return open(t, filepath.Join(t.TempDir(), "sessions.db"), Config{CleanupInterval: time.Hour})
	})
}

// TestConformanceBusyCollector runs the suite with the collector sweeping
// every few milliseconds, so its deletes race with every operation.
func TestConformanceBusyCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("second conformance run skipped in -short mode")
	}
	sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store {
		return open(t, filepath.Join(t.TempDir(), "sessions.db"), Config{CleanupInterval: 5 * time.Millisecond})
	})
}

func session(key, user string, now time.Time, life time.Duration) *sessionstore.Session {
	return &sessionstore.Session{
		Key: key, UserID: user, AccessToken: "tok-" + key,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(life),
	}
}

// TestTwoInstances opens two Stores on one file, as two app processes
// would, and checks that they share sessions and refresh coordination (S11).
func TestTwoInstances(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	a := open(t, path, Config{CleanupInterval: time.Hour})
	defer a.Close()
	b := open(t, path, Config{CleanupInterval: 10 * time.Millisecond})
	defer b.Close()
	now := time.Now()

	if err := a.Put(ctx, session("k1", "alice", now, time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "k1")
	if err != nil || got.UserID != "alice" {
		t.Fatalf("B.Get after A.Put = %+v, %v", got, err)
	}
	seen := now.Add(time.Minute).Truncate(time.Millisecond)
	if err := b.Touch(ctx, "k1", seen, seen.Add(time.Hour)); err != nil {
		t.Fatalf("B.Touch: %v", err)
	}
	if got, err := a.Get(ctx, "k1"); err != nil || !got.LastSeen.Equal(seen) {
		t.Fatalf("A.Get after B.Touch = %+v, %v; want LastSeen %v", got, err, seen)
	}

	// 20 claimants, half through each instance: exactly one wins.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	start := make(chan struct{})
	for i := range 20 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ok, err := st.ClaimRefresh(ctx, "rt", fmt.Sprint("process-", i), time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d claims won across two instances, want 1", wins)
	}
	if err := a.SetRefreshResult(ctx, "rt", []byte("sealed"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if r, err := b.GetRefreshResult(ctx, "rt"); err != nil || string(r) != "sealed" {
		t.Fatalf("B.GetRefreshResult = %q, %v", r, err)
	}

	// B's collector removes what A stored once it expires.
	if err := a.Put(ctx, session("k2", "alice", time.Now(), 50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := a.CountAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("A counts %d sessions, want 1 after B's collector ran", n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if n, err := b.DeleteByUser(ctx, "alice"); err != nil || n != 1 {
		t.Fatalf("B.DeleteByUser = %d, %v; want 1", n, err)
	}
	if _, err := a.Get(ctx, "k1"); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("A.Get after B.DeleteByUser = %v, want ErrNotFound", err)
	}
}

// TestConcurrentWritersTwoInstances makes two instances write to one file
// at once: the busy timeout, not an error, must absorb the lock contention.
func TestConcurrentWritersTwoInstances(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	stores := []*Store{open(t, path, Config{DisableCleanup: true}), open(t, path, Config{DisableCleanup: true})}
	for _, s := range stores {
		defer s.Close()
	}
	var wg sync.WaitGroup
	for w := range 8 {
		s := stores[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				key := fmt.Sprintf("w%d-%d", w, i)
				if err := s.Put(ctx, session(key, fmt.Sprint("u", w), time.Now(), time.Hour)); err != nil {
					t.Error(err)
					return
				}
				if err := s.Touch(ctx, key, time.Now(), time.Now().Add(time.Hour)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, err := stores[0].CountAll(ctx); err != nil || n != 8*40 {
		t.Fatalf("CountAll = %d, %v; want %d", n, err, 8*40)
	}
}

// TestCollector checks that the background collector physically deletes
// expired sessions and ended refresh records (APP-LIFE-2), and that Close
// stops it.
func TestCollector(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := open(t, path, Config{CleanupInterval: 10 * time.Millisecond})
	now := time.Now()
	for i := range 1200 { // more than two collector batches
		life := -time.Second
		if i%100 == 0 {
			life = time.Hour
		}
		if err := s.Put(ctx, session(fmt.Sprint("k", i), fmt.Sprint("u", i%7), now, life)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ClaimRefresh(ctx, "c", "owner", time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRefreshResult(ctx, "r", []byte("x"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		var n int
		if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for count("sessions") != 12 || count("refresh_claims") != 0 || count("refresh_results") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("collector left sessions=%d (want 12) claims=%d results=%d (want 0)",
				count("sessions"), count("refresh_claims"), count("refresh_results"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("collector still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get(ctx, "k0"); err == nil || errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("Get after Close = %v, want a closed-database error", err)
	}
}

// TestQueryPlans checks that the hot statements use indexes, not scans.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sessions.db"), Config{DisableCleanup: true})
	defer s.Close()
	for _, tc := range []struct {
		name, query, want string
	}{
		{"Get", `SELECT ` + sessionCols + ` FROM sessions WHERE key = ? AND expires_at > ?`, "USING INDEX sqlite_autoindex_sessions_1 (key=?)"},
		{"ListByUser", `SELECT ` + sessionCols + ` FROM sessions WHERE user_id = ? AND expires_at > ? ORDER BY last_seen DESC, key`, "USING INDEX sessions_user_id (user_id=?)"},
		{"Collect", `SELECT rowid FROM sessions WHERE expires_at <= ? LIMIT 500`, "USING COVERING INDEX sessions_expires_at (expires_at<?)"},
		{"Touch", `UPDATE sessions SET last_seen = ?, expires_at = ? WHERE key = ? AND expires_at > ?`, "USING INDEX sqlite_autoindex_sessions_1 (key=?)"},
	} {
		rows, err := s.wdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query, "k", 1, 2, 3)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
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
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, tc.want) {
			t.Errorf("%s plan = %q, want it to contain %q", tc.name, joined, tc.want)
		}
		if strings.Contains(joined, "SCAN sessions") {
			t.Errorf("%s plan scans the table: %q", tc.name, joined)
		}
	}
}

// TestConnectionSetup checks the pragmas the package documents.
func TestConnectionSetup(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "sessions.db"), Config{DisableCleanup: true, BusyTimeout: 1234 * time.Millisecond})
	defer s.Close()
	pragma := func(db *sql.DB, name string) string {
		var v string
		if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, tc := range []struct {
		db         *sql.DB
		name, want string
	}{
		{s.wdb, "journal_mode", "wal"},
		{s.wdb, "synchronous", "1"}, // NORMAL
		{s.wdb, "busy_timeout", "1234"},
		{s.wdb, "journal_size_limit", fmt.Sprint(walSizeLimit)},
		{s.rdb, "busy_timeout", "1234"},
		{s.rdb, "query_only", "1"},
		{s.wdb, "user_version", fmt.Sprint(len(migrations(t)))},
	} {
		if got := pragma(tc.db, tc.name); got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.name, got, tc.want)
		}
	}
	if s.wdb.Stats().MaxOpenConnections != 1 {
		t.Errorf("writer pool allows %d connections, want 1", s.wdb.Stats().MaxOpenConnections)
	}
	if _, err := s.rdb.ExecContext(ctx, "DELETE FROM sessions"); err == nil {
		t.Error("a read-pool connection accepted a write")
	}
}

func TestReopenKeepsSessions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := open(t, path)
	want := session("k", "u", time.Now(), time.Hour)
	if err := s.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	got, err := s.Get(ctx, "k")
	if err != nil || got.AccessToken != want.AccessToken {
		t.Fatalf("Get after reopen = %+v, %v", got, err)
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, path := range []string{
		"", ":memory:", "file:x.db", filepath.Join(dir, "a.db?mode=ro"),
		filepath.Join(dir, "no-such-dir", "a.db"),
	} {
		if s, err := Open(ctx, Config{Path: path}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
	// A file from a newer schema is refused, not modified.
	newer := filepath.Join(dir, "newer.db")
	s := open(t, newer)
	if _, err := s.wdb.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, Config{Path: newer}); err == nil {
		s.Close()
		t.Error("Open of a newer schema succeeded, want an error")
	}
}

// BenchmarkGet measures parallel Gets of existing sessions (10,000 stored).
func BenchmarkGet(b *testing.B) {
	s, keys := benchStore(b)
	benchGets(b, keys, func(key string) error { _, err := s.Get(context.Background(), key); return err })
}

// BenchmarkGetCancel weighs Get's detached context against the request's
// cancellable one, in the same run (BENCHMARKS.md, "Speed tricks"):
// impl=trick is Get as shipped (detached), impl=plain the same statement
// and scan on the request's cancellable context, which starts the driver's
// interrupt watcher and database/sql's close watcher for every query.
//
//	go test ./appkit/sessionstore/sqlitestore -run '^$' -bench GetCancel -count 6 | benchstat -col /impl -
func BenchmarkGetCancel(b *testing.B) {
	s, keys := benchStore(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.Run("impl=plain", func(b *testing.B) {
		benchGets(b, keys, func(key string) error {
			_, err := scanSession(s.get.QueryRowContext(ctx, key, s.nowMS()))
			return err
		})
	})
	b.Run("impl=trick", func(b *testing.B) {
		benchGets(b, keys, func(key string) error { _, err := s.Get(ctx, key); return err })
	})
}

// benchStore opens a store holding 10,000 live sessions and returns their
// keys.
func benchStore(b *testing.B) (*Store, []string) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "bench.db"), Config{DisableCleanup: true})
	b.Cleanup(func() { s.Close() })
	const n = 10000
	keys := make([]string, n)
	now := time.Now()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		keys[i] = fmt.Sprintf("%064x", i)
		x := session(keys[i], fmt.Sprint("user-", i/3), now, time.Hour)
		x.AccessToken = strings.Repeat("t", 600)
		x.Claims = []byte(`{"sub":"` + x.UserID + `","aud":"store","roles":["customer"]}`)
		if _, err := tx.Stmt(s.put).ExecContext(ctx, x.Key, x.UserID, []byte(x.Claims), x.AccessToken, nil,
			"", nil, ms(x.CreatedAt), ms(x.LastSeen), x.ExpiresAt.UnixMilli(), nil, "", ""); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	// Steady state: the rows are in the database file, not only the WAL.
	if _, err := s.wdb.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	return s, keys
}

// benchGets runs get in parallel over random existing keys.
func benchGets(b *testing.B, keys []string, get func(key string) error) {
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(keys))
		for pb.Next() {
			if err := get(keys[i]); err != nil {
				b.Error(err)
				return
			}
			i = (i + 1) % len(keys)
		}
	})
}

func migrations(t testing.TB) []migrate.Migration {
	t.Helper()
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// writeOld writes a file as a build at schema version v did: the schema of
// then and PRAGMA user_version = v, plus stmts. Migration 1 is that
// version's schema.sql, byte for byte; version 2 builds ran the same SQL as
// 0001 and 0002.
func writeOld(t *testing.T, path string, v int, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var qs []string
	for _, m := range migrations(t)[:v] {
		qs = append(qs, m.SQL)
	}
	qs = append(qs, stmts...)
	qs = append(qs, fmt.Sprintf(`PRAGMA user_version = %d`, v))
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateV1AddsClaimOwner: a file written by schema version 1 (refresh
// claims without an owner) opens, gains the owner column and coordinates
// refreshes by owner (AUD-18).
func TestMigrateV1AddsClaimOwner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	writeOld(t, path, 1, `INSERT INTO refresh_claims (key, expires_at) VALUES ('old', 1)`)
	s, err := Open(ctx, Config{Path: path, DisableCleanup: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		key, owner string
		want       bool
	}{{"old", "A", true}, {"old", "B", false}, {"old", "A", true}, {"new", "B", true}} {
		if ok, err := s.ClaimRefresh(ctx, c.key, c.owner, time.Minute); err != nil || ok != c.want {
			t.Errorf("ClaimRefresh(%s, %s) = %v, %v; want %v", c.key, c.owner, ok, err, c.want)
		}
	}
	var v int
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != len(migrations(t)) {
		t.Errorf("user_version = %d, %v; want %d", v, err, len(migrations(t)))
	}
}

// TestOpenCurrentFile: a file at the newest version, written by the build
// before internal/migrate, opens without a migration re-applied (the
// ALTER of 0002 would fail on a second run) and keeps its sessions; a file
// of a newer build is refused.
func TestOpenCurrentFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	writeOld(t, path, len(migrations(t)), `INSERT INTO sessions (key, user_id, expires_at) VALUES ('k', 'u', 32503680000000)`)
	s, err := Open(ctx, Config{Path: path, DisableCleanup: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "k"); err != nil || got.UserID != "u" {
		t.Errorf("Get = %v, %v", got, err)
	}
	if _, err := s.wdb.ExecContext(ctx, `PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, Config{Path: path, DisableCleanup: true}); !errors.Is(err, migrate.ErrNewerSchema) {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open of a version 99 file = %v, want ErrNewerSchema", err)
	}
}

// Zero means the default and DisableCleanup is the one way to run no
// collector (design §7): a negative value, or an interval beside
// DisableCleanup, is refused.
func TestOpenRefusesAmbiguousConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	for name, cfg := range map[string]Config{
		"no path":             {},
		"negative interval":   {Path: path, CleanupInterval: -1},
		"interval and off":    {Path: path, CleanupInterval: time.Second, DisableCleanup: true},
		"negative busy":       {Path: path, BusyTimeout: -time.Second},
		"negative read conns": {Path: path, ReadConns: -1},
	} {
		if s, err := Open(context.Background(), cfg); err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// TestGetCancelledStartsNoQuery: Get runs its query detached from ctx (a
// speed trick, see Get), so a request the client already cancelled must
// be refused before the query rather than hold a read connection.
func TestGetCancelledStartsNoQuery(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "s.db"), Config{DisableCleanup: true})
	defer s.Close()
	now := time.Now()
	x := session(fmt.Sprintf("%064x", 1), "user-1", now, time.Hour)
	if err := s.Put(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(ctx, x.Key); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.Get(context.Background(), x.Key); err != nil {
		t.Fatalf("Get: %v", err)
	}
}
