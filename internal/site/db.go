package site

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/gatehouse-auth/gatehouse/internal/migrate"
	"github.com/gatehouse-auth/gatehouse/internal/sqlitefile"
)

// OpenDB opens (creating if needed) an app's SQLite database at path in
// WAL mode with foreign keys on, and applies the app's migrations missing
// from it: the files dir/NNNN_name.sql of fsys (see internal/migrate),
// versioned in PRAGMA user_version, in one IMMEDIATE transaction. The
// directory is created 0700.
func OpenDB(ctx context.Context, path string, fsys fs.FS, dir string) (*sql.DB, error) {
	db, err := openFile(path)
	if err != nil {
		return nil, err
	}
	if err := migrate.Run(ctx, db, migrate.Config{FS: fsys, Dir: dir,
		Table: migrate.UserVersion, Dialect: migrate.SQLite()}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// openFile opens the SQLite file at path with the pragmas every app
// database uses, without touching its schema.
func openFile(path string) (*sql.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open database: %q is not a plain file path", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	// Created 0600 first; SQLite gives -wal and -shm the same mode (AUD-12).
	if err := sqlitefile.Create(path); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(4)
	return db, nil
}
