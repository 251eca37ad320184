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

// NewWithDB builds an app that keeps its own data in cfg.DBPath: it opens
// the database (OpenDB with fsys and dir), runs seed on it (seed fills an
// empty database and leaves a used one alone), then builds the Site with
// spec, whose Ready defaults to pinging that database. On any error the
// database is closed again; otherwise the caller owns it.
func NewWithDB(ctx context.Context, cfg Config, spec Spec, fsys fs.FS, dir string,
	seed func(context.Context, *sql.DB) error) (*Site, *sql.DB, error) {
	db, err := OpenDB(ctx, cfg.DBPath, fsys, dir)
	if err != nil {
		return nil, nil, err
	}
	if err := seed(ctx, db); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("seed: %w", err)
	}
	if spec.Ready == nil {
		spec.Ready = db.PingContext
	}
	s, err := New(ctx, cfg, spec)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return s, db, nil
}
