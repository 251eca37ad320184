// Package migrate is the one schema-migration runner of the module: every
// SQL store (the IdP's SQLite and PostgreSQL stores, the session stores
// sqlitestore and pgstore, the example apps' databases) applies its
// migrations through Run.
//
// A migration set is a directory of files named NNNN_name.sql, numbered 1,
// 2, 3, … without gaps or repeats, usually embedded in the binary. Run
// applies the ones a database lacks, in order, in one transaction, and
// records each in a version table the caller names, or in SQLite's PRAGMA
// user_version (UserVersion). Each store keeps the version table and
// numbering it had before this package existed, so a database written by
// an earlier build is recognised and not migrated twice. A database whose
// version is above the newest file (written by a newer build) is refused.
//
// A released migration file is never edited: a change is a new file.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UserVersion, as Config.Table, keeps the version in SQLite's PRAGMA
// user_version instead of a table (the session store's and the example
// apps' numbering).
const UserVersion = "PRAGMA user_version"

// ErrNewerSchema is returned by Run for a database whose schema version is
// above the newest migration this build has.
var ErrNewerSchema = errors.New("database schema is newer than this build")

// Migration is one schema step.
type Migration struct {
	Version int    // the file name's number
	Name    string // the file name, e.g. 0002_lockout.sql
	SQL     string
}

// Load reads the files dir/*.sql of fsys, each named NNNN_name.sql, and
// returns them in order, checking they are numbered 1, 2, 3, … without
// gaps or repeats.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("list migrations in %s: %w", dir, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	ms := make([]Migration, 0, len(names))
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || strings.Trim(num, "0123456789") != "" {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		text, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(text)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d (numbers run 1, 2, 3, … without gaps or repeats)", m.Name, i+1)
		}
	}
	return ms, nil
}

// Dialect is what differs between the databases Run supports. Use SQLite
// or Postgres.
type Dialect struct {
	// Lock, when set, runs first in the migration transaction and must
	// hold until the transaction ends, so that processes starting at once
	// apply each migration once.
	Lock func(ctx context.Context, tx *sql.Tx) error
	// Placeholder returns the n-th (from 1) bind parameter.
	Placeholder func(n int) string
	// VersionTable is the DDL creating a missing version table (%s: its
	// name).
	VersionTable string
	// Time converts the time a migration was applied to the version
	// table's applied_at type.
	Time func(time.Time) any
	// UserVersion says the database has SQLite's PRAGMA user_version.
	UserVersion bool
}

// SQLite is the dialect of modernc.org/sqlite. It takes no lock of its own:
// the caller's pool must begin transactions IMMEDIATE (_txlock=immediate),
// which takes SQLite's single write lock before the version is read.
func SQLite() Dialect {
	return Dialect{
		Placeholder: func(int) string { return "?" },
		VersionTable: `CREATE TABLE IF NOT EXISTS %s (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL -- unix milliseconds
		) STRICT`,
		Time:        func(t time.Time) any { return t.UnixMilli() },
		UserVersion: true,
	}
}

// Postgres is the dialect of PostgreSQL (through database/sql, e.g. pgx's
// stdlib.OpenDBFromPool). lockKey is the pg_advisory_xact_lock key taken
// for the transaction; each migration set sharing a database needs its own.
func Postgres(lockKey int64) Dialect {
	return Dialect{
		Lock: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey)
			return err
		},
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		VersionTable: `CREATE TABLE IF NOT EXISTS %s (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`,
		Time: func(t time.Time) any { return t },
	}
}

// Config is one migration set and where its version lives.
type Config struct {
	// FS and Dir hold the migration files (see Load).
	FS  fs.FS
	Dir string
	// Table names the version table (created if missing), or is
	// UserVersion.
	Table   string
	Dialect Dialect
	// Logger gets one line per migration applied; nil discards.
	Logger *slog.Logger
	// Now is the clock of applied_at; nil means time.Now.
	Now func() time.Time
}

// Run brings db's schema up to the newest migration of c: the missing ones
// are applied in order, with their version records, in one transaction, so
// a failure leaves the schema as it was. It returns ErrNewerSchema
// (wrapped) for a database newer than c.
func Run(ctx context.Context, db *sql.DB, c Config) error {
	ms, err := Load(c.FS, c.Dir)
	if err != nil {
		return err
	}
	if c.Table != UserVersion && !isIdent(c.Table) {
		return fmt.Errorf("migrate: version table %q is not a plain identifier", c.Table)
	}
	if c.Table == UserVersion && !c.Dialect.UserVersion {
		return errors.New("migrate: PRAGMA user_version needs SQLite")
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: begin: %w", c.Table, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if c.Dialect.Lock != nil {
		if err := c.Dialect.Lock(ctx, tx); err != nil {
			return fmt.Errorf("migrate %s: lock: %w", c.Table, err)
		}
	}
	v, err := open(ctx, tx, c)
	if err != nil {
		return err
	}
	if v.current > len(ms) {
		return fmt.Errorf("migrate %s: version %d, newest known %d: %w", c.Table, v.current, len(ms), ErrNewerSchema)
	}
	pending := ms[v.current:]
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate %s: apply %s: %w", c.Table, m.Name, err)
		}
		if err := v.record(ctx, tx, m, now()); err != nil {
			return fmt.Errorf("migrate %s: record %s: %w", c.Table, m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", c.Table, err)
	}
	if c.Logger != nil {
		for _, m := range pending {
			c.Logger.InfoContext(ctx, "applied schema migration", "table", c.Table, "migration", m.Name)
		}
	}
	return nil
}

// versions is a migration set's version record, read inside the migration
// transaction.
type versions struct {
	current int
	record  func(ctx context.Context, tx *sql.Tx, m Migration, at time.Time) error
}

// open creates the version table if needed and reads the current version.
func open(ctx context.Context, tx *sql.Tx, c Config) (versions, error) {
	var v versions
	if c.Table == UserVersion {
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v.current); err != nil {
			return v, fmt.Errorf("migrate: read user_version: %w", err)
		}
		v.record = func(ctx context.Context, tx *sql.Tx, m Migration, _ time.Time) error {
			// A PRAGMA takes no bind parameters; the version is an int.
			_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, m.Version))
			return err
		}
		return v, nil
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(c.Dialect.VersionTable, c.Table)); err != nil {
		return v, fmt.Errorf("migrate %s: create version table: %w", c.Table, err)
	}
	if err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT coalesce(max(version), 0) FROM %s`, c.Table)).Scan(&v.current); err != nil {
		return v, fmt.Errorf("migrate %s: read version: %w", c.Table, err)
	}
	// A version table written by an earlier build keeps its layout: the
	// IdP's SQLite one has (version, applied_at), the PostgreSQL ones also
	// name, the example site's only version. Fill the columns it has.
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT * FROM %s WHERE 1 = 0`, c.Table))
	if err != nil {
		return v, fmt.Errorf("migrate %s: read version table columns: %w", c.Table, err)
	}
	cols, err := rows.Columns()
	rows.Close()
	if err != nil {
		return v, fmt.Errorf("migrate %s: read version table columns: %w", c.Table, err)
	}
	v.record = func(ctx context.Context, tx *sql.Tx, m Migration, at time.Time) error {
		var names, params []string
		var args []any
		for _, col := range cols {
			var arg any
			switch col {
			case "version":
				arg = m.Version
			case "name":
				arg = m.Name
			case "applied_at":
				arg = c.Dialect.Time(at)
			default:
				continue // left to its default
			}
			args = append(args, arg)
			names = append(names, col)
			params = append(params, c.Dialect.Placeholder(len(args)))
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s)`,
			c.Table, strings.Join(names, ", "), strings.Join(params, ", ")), args...)
		return err
	}
	return v, nil
}

// isIdent reports whether s is a lower-case SQL identifier, safe to splice
// into a statement.
func isIdent(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == ""
}
