package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"

	"github.com/gatehouse-auth/gatehouse/internal/migrate"
)

func files(sqls ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for i, s := range sqls {
		m[fmt.Sprintf("m/%04d_step.sql", i+1)] = &fstest.MapFile{Data: []byte(s)}
	}
	return m
}

// openDB opens a fresh SQLite file the way the stores do: one connection,
// transactions begin IMMEDIATE.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func sqliteConfig(fsys fstest.MapFS, table string) migrate.Config {
	return migrate.Config{FS: fsys, Dir: "m", Table: table, Dialect: migrate.SQLite()}
}

func tables(t *testing.T, db *sql.DB) string {
	t.Helper()
	var s sql.NullString
	if err := db.QueryRow(`SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name)`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s.String
}

func TestLoad(t *testing.T) {
	ms, err := migrate.Load(fstest.MapFS{
		"m/0002_b.sql":   {Data: []byte("B")},
		"m/0001_a.sql":   {Data: []byte("A")},
		"m/README.md":    {Data: []byte("not a migration")},
		"m/0010_x.sql.g": {Data: []byte("not a migration")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (migrate.Migration{Version: 1, Name: "0001_a.sql", SQL: "A"}) || ms[1].Version != 2 {
		t.Errorf("Load = %+v", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"repeat":    {"m/0001_a.sql": {}, "m/0001_b.sql": {}, "m/0002_c.sql": {}},
		"not one":   {"m/0002_b.sql": {}},
		"no number": {"m/init.sql": {}},
		"sign":      {"m/+1_a.sql": {}},
		"zero":      {"m/0000_a.sql": {}, "m/0001_b.sql": {}},
		"empty":     {"other/0001_a.sql": {}},
	} {
		if ms, err := migrate.Load(fsys, "m"); err == nil {
			t.Errorf("%s: Load = %+v, want an error", name, ms)
		}
	}
}

// TestRunAppliesOnce: pending migrations are applied in order and
// recorded; a second run applies nothing.
func TestRunAppliesOnce(t *testing.T) {
	db := openDB(t)
	fsys := files(`CREATE TABLE a (x INTEGER)`, `CREATE TABLE b (y INTEGER)`)
	c := sqliteConfig(fsys, "schema_version")
	for range 2 {
		if err := migrate.Run(t.Context(), db, c); err != nil {
			t.Fatal(err)
		}
	}
	if got := tables(t, db); got != "a,b,schema_version" {
		t.Errorf("tables = %s", got)
	}
	var n, max int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_version WHERE applied_at > 0`).Scan(&n, &max); err != nil || n != 2 || max != 2 {
		t.Errorf("schema_version: %d rows up to %d, %v; want 2 up to 2", n, max, err)
	}
	// One more file: only it is applied.
	fsys["m/0003_step.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE c (z INTEGER)`)}
	if err := migrate.Run(t.Context(), db, c); err != nil {
		t.Fatal(err)
	}
	if got := tables(t, db); got != "a,b,c,schema_version" {
		t.Errorf("tables = %s", got)
	}
}

// TestRunIsOneTransaction: a failing migration leaves the database as it
// was, the earlier migrations of the same run and their records included.
func TestRunIsOneTransaction(t *testing.T) {
	for _, table := range []string{"v", migrate.UserVersion} {
		db := openDB(t)
		err := migrate.Run(t.Context(), db, sqliteConfig(files(`CREATE TABLE a (x INTEGER)`, `CREATE TABLE nonsense (`), table))
		if err == nil || !strings.Contains(err.Error(), "0002_step.sql") {
			t.Errorf("%s: Run = %v, want an error naming 0002_step.sql", table, err)
		}
		if got := tables(t, db); got != "" {
			t.Errorf("%s: tables after a failed run = %q, want none", table, got)
		}
		var v int
		if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 0 {
			t.Errorf("%s: user_version = %d, %v", table, v, err)
		}
	}
}

// TestRunRefusesNewerSchema: a database recorded at a version above the
// newest file is left alone.
func TestRunRefusesNewerSchema(t *testing.T) {
	for _, table := range []string{"v", migrate.UserVersion} {
		db := openDB(t)
		three := files(`CREATE TABLE a (x INTEGER)`, `CREATE TABLE b (x INTEGER)`, `CREATE TABLE c (x INTEGER)`)
		if err := migrate.Run(t.Context(), db, sqliteConfig(three, table)); err != nil {
			t.Fatal(err)
		}
		err := migrate.Run(t.Context(), db, sqliteConfig(files(`CREATE TABLE a (x INTEGER)`), table))
		if !errors.Is(err, migrate.ErrNewerSchema) || !strings.Contains(err.Error(), "3") {
			t.Errorf("%s: Run with an older set = %v, want ErrNewerSchema naming version 3", table, err)
		}
	}
}

// TestRunUserVersion: the version lives in PRAGMA user_version, and no
// table is created for it.
func TestRunUserVersion(t *testing.T) {
	db := openDB(t)
	if _, err := db.Exec(`CREATE TABLE a (x INTEGER); PRAGMA user_version = 1`); err != nil {
		t.Fatal(err) // as written by an earlier build
	}
	if err := migrate.Run(t.Context(), db, sqliteConfig(files(`CREATE TABLE a (x INTEGER)`, `CREATE TABLE b (y INTEGER)`), migrate.UserVersion)); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 2 {
		t.Errorf("user_version = %d, %v; want 2", v, err)
	}
	if got := tables(t, db); got != "a,b" {
		t.Errorf("tables = %s", got)
	}
}

// TestRunKeepsOldVersionTableLayout: a version table an earlier build
// created with other columns (the example site's had only version) is
// recorded into as it is.
func TestRunKeepsOldVersionTableLayout(t *testing.T) {
	db := openDB(t)
	if _, err := db.Exec(`CREATE TABLE a (x INTEGER);
		CREATE TABLE site_schema_version (version INTEGER NOT NULL) STRICT;
		INSERT INTO site_schema_version (version) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := migrate.Run(t.Context(), db, sqliteConfig(files(`CREATE TABLE a (x INTEGER)`, `CREATE TABLE b (y INTEGER)`), "site_schema_version")); err != nil {
		t.Fatal(err)
	}
	var versions string
	if err := db.QueryRow(`SELECT group_concat(version, ',') FROM site_schema_version`).Scan(&versions); err != nil || versions != "1,2" {
		t.Errorf("versions = %q, %v; want 1,2", versions, err)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	db := openDB(t)
	fsys := files(`CREATE TABLE a (x INTEGER)`)
	for name, c := range map[string]migrate.Config{
		"table not an identifier":     sqliteConfig(fsys, "v; DROP TABLE a"),
		"no table":                    sqliteConfig(fsys, ""),
		"user_version outside SQLite": {FS: fsys, Dir: "m", Table: migrate.UserVersion, Dialect: migrate.Postgres(1)},
		"missing directory":           {FS: fsys, Dir: "nope", Table: "v", Dialect: migrate.SQLite()},
	} {
		if err := migrate.Run(context.Background(), db, c); err == nil {
			t.Errorf("%s: Run succeeded", name)
		}
	}
	if got := tables(t, db); got != "" {
		t.Errorf("tables = %q, want none", got)
	}
}
