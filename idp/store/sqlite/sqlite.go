// Package sqlite is the embedded, default storage backend of the Gatehouse
// identity server: store.Store on one SQLite file through the pure-Go
// modernc.org/sqlite driver (no cgo).
//
// It owns the schema (embedded, numbered migrations applied at Open), the
// connection pools and the mapping of SQLite errors onto store's sentinel
// errors. It does not own policy (expiry, lockout, grace periods: package
// idp) nor the periodic collection of expired tokens (package idp calls
// DeleteExpiredRefreshTokens).
//
// Concurrency design: SQLite allows one writer at a time. Instead of letting
// many pooled connections contend for the write lock (busy-handler sleeps,
// long tail latencies), every write goes through a writer pool of exactly
// one connection, so writers queue in Go, in order, and each write
// transaction starts with BEGIN IMMEDIATE. Reads use a separate pool of
// several read-only connections, which WAL lets run alongside the writer.
// busy_timeout still matters when several processes open the same file.
//
// Checkpoints (copying the WAL back into the database file, with its
// fsyncs) run on a connection of their own in a background goroutine, not
// inside a write transaction: SQLite's automatic checkpoint runs in the
// commit that crosses 1,000 WAL pages, and every write queued behind the
// one writer connection waited for it, which set the refresh grants' p99.
// The writer still checkpoints by itself if the WAL ever reaches
// writerAutoCheckpoint pages.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/internal/sqlitefile"
)

// Store is store.Store on a SQLite file. It is safe for concurrent use.
type Store struct {
	r   *sql.DB // read-only pool, several connections
	w   *sql.DB // writer pool, exactly one connection
	cp  *sql.DB // checkpoint connection, used by checkpointer only
	log *slog.Logger
	st  stmts

	stopOnce   sync.Once
	stop, done chan struct{} // stop the checkpointer, closed when it ends; nil until it starts
}

const (
	// checkpointEvery is how often the checkpointer runs a PASSIVE
	// checkpoint: at 3,000 refreshes/s the WAL grows by a few thousand
	// pages in that time, a few ms of copying.
	checkpointEvery = 100 * time.Millisecond
	// writerAutoCheckpoint is the WAL size in pages at which the writer
	// checkpoints inside its own commit, as SQLite does at 1,000 by
	// default: only a fallback, should the checkpointer fall behind.
	writerAutoCheckpoint = 10000
)

var _ store.Store = (*Store)(nil)

// stmts are the statements on the hot paths (every refresh, every login),
// prepared once instead of on every call.
type stmts struct {
	// on the read pool
	getUser, getUserByLogin, getApplication, getRegistration, getRTByHash, getRotation *sql.Stmt
	// on the writer pool
	rotUpdate, rotExists, rotInsert, touch, createRT, recordLogin, resetFailures *sql.Stmt
}

// busyTimeout bounds how long a connection waits for another process's
// lock before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Config configures a Store. Path is required; the zero value of every
// other field means its documented default (design §7).
type Config struct {
	// Path is the database file, created if missing. In-memory databases
	// are refused, because the read and write pools must see the same
	// database.
	Path string
	// Logger receives the migrations' logs. Default: discard.
	Logger *slog.Logger
}

// Open opens (creating if needed) the database file at cfg.Path, applies
// any pending migrations in one transaction, and prepares the hot
// statements.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	path, logger := cfg.Path, cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case path == "", path == ":memory:", strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlite store: %q: need a plain file path", path)
	case strings.ContainsRune(path, '?'):
		// The driver splits its DSN at the first '?'.
		return nil, fmt.Errorf("sqlite store: %q: path must not contain '?'", path)
	}

	// Created 0600 first: the file holds password hashes and signing keys,
	// and SQLite gives -wal and -shm the same mode (AUD-12).
	if err := sqlitefile.Create(path); err != nil {
		return nil, fmt.Errorf("sqlite store: %w", err)
	}

	common := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
	// journal_size_limit truncates the WAL after checkpoints, so a burst of
	// writes does not leave a huge file behind.
	wdsn := path + "?" + common +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=journal_size_limit(67108864)&_txlock=immediate" +
		fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", writerAutoCheckpoint)
	rdsn := path + "?" + common + "&_pragma=query_only(1)"
	cpdsn := path + "?" + common + "&_pragma=synchronous(NORMAL)&_pragma=journal_size_limit(67108864)"

	s := &Store{log: logger}
	var err error
	if s.w, err = sql.Open("sqlite", wdsn); err != nil {
		return nil, fmt.Errorf("sqlite store: open writer: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	fail := func(err error) (*Store, error) {
		s.closeAll()
		return nil, err
	}
	if err := s.checkWriter(ctx); err != nil {
		return fail(err)
	}
	if err := migrateDB(ctx, s.w, logger); err != nil {
		return fail(fmt.Errorf("sqlite store: %s: %w", path, err))
	}

	if s.r, err = sql.Open("sqlite", rdsn); err != nil {
		return fail(fmt.Errorf("sqlite store: open readers: %w", err))
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)
	if err := s.r.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("sqlite store: open readers: %w", err))
	}
	if err := s.prepare(ctx); err != nil {
		return fail(err)
	}
	if s.cp, err = sql.Open("sqlite", cpdsn); err != nil {
		return fail(fmt.Errorf("sqlite store: open checkpoint connection: %w", err))
	}
	s.cp.SetMaxOpenConns(1)
	s.cp.SetMaxIdleConns(1)
	s.cp.SetConnMaxLifetime(0)
	s.cp.SetConnMaxIdleTime(0)
	if err := s.cp.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("sqlite store: open checkpoint connection: %w", err))
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go s.checkpointer()
	logger.Debug("sqlite store opened", "path", path, "readers", readers)
	return s, nil
}

// checkWriter makes sure the pragmas the design depends on took effect:
// without foreign keys the cascades (DeleteUser, DeleteApplication,
// family deletes) silently leave orphans behind.
func (s *Store) checkWriter(ctx context.Context) error {
	var fk int
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("sqlite store: open writer: %w", err)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite store: open writer: %w", err)
	}
	if fk != 1 || !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite store: writer connection has foreign_keys=%d journal_mode=%s, want 1 and wal", fk, mode)
	}
	return nil
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		db   *sql.DB
		dst  **sql.Stmt
		text string
	}{
		{s.r, &s.st.getUser, qGetUser},
		{s.r, &s.st.getUserByLogin, qGetUserByLogin},
		{s.r, &s.st.getApplication, qGetApplication},
		{s.r, &s.st.getRegistration, qGetRegistration},
		{s.r, &s.st.getRTByHash, qGetRefreshTokenByHash},
		{s.r, &s.st.getRotation, qGetRotation},
		{s.w, &s.st.rotUpdate, qRotateUpdate},
		{s.w, &s.st.rotExists, qRefreshTokenExists},
		{s.w, &s.st.rotInsert, qRotateInsert},
		{s.w, &s.st.touch, qTouch},
		{s.w, &s.st.createRT, qCreateRefreshToken},
		{s.w, &s.st.recordLogin, qRecordLogin},
		{s.w, &s.st.resetFailures, qResetFailures},
	} {
		st, err := p.db.PrepareContext(ctx, p.text)
		if err != nil {
			return fmt.Errorf("sqlite store: prepare %q: %w", firstLine(p.text), err)
		}
		*p.dst = st
	}
	return nil
}

// Ping reports whether both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite store: ping readers: %w", err)
	}
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite store: ping writer: %w", err)
	}
	return nil
}

// checkpointer runs a PASSIVE checkpoint every checkpointEvery until
// Close. PASSIVE copies what it can without waiting for the writer or the
// readers, so it never holds up a request.
func (s *Store) checkpointer() {
	defer close(s.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, _, err := s.checkpoint(context.Background()); err != nil {
				s.log.Warn("sqlite store: checkpoint", "err", err)
			}
		}
	}
}

// checkpoint runs one PASSIVE checkpoint and returns the WAL's size in
// frames and how many of them are now in the database file.
func (s *Store) checkpoint(ctx context.Context) (walFrames, backfilled int, err error) {
	var busy int
	if err := s.cp.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walFrames, &backfilled); err != nil {
		return 0, 0, fmt.Errorf("wal_checkpoint: %w", err)
	}
	return walFrames, backfilled, nil
}

// Close stops the checkpointer and closes the pools. Callers must not use
// the Store afterwards.
func (s *Store) Close() error {
	if s.done != nil {
		s.stopOnce.Do(func() { close(s.stop) })
		<-s.done
	}
	if s.w != nil {
		// SQLite recommends this before closing a long-lived connection:
		// it refreshes the planner's statistics where they are stale.
		if _, err := s.w.Exec("PRAGMA optimize"); err != nil {
			s.log.Warn("sqlite store: optimize on close", "err", err)
		}
	}
	return s.closeAll()
}

func (s *Store) closeAll() error {
	var errs []error
	for _, st := range []*sql.Stmt{
		s.st.getUser, s.st.getUserByLogin, s.st.getApplication, s.st.getRegistration, s.st.getRTByHash, s.st.getRotation,
		s.st.rotUpdate, s.st.rotExists, s.st.rotInsert, s.st.touch, s.st.createRT, s.st.recordLogin, s.st.resetFailures,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.cp != nil {
		errs = append(errs, s.cp.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite store: close: %w", err)
	}
	return nil
}

// mapErr turns SQLite constraint violations into store's sentinel errors,
// keeping the original for the message.
func mapErr(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w (%w)", store.ErrDuplicate, err)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		// The referenced user or application does not exist.
		return fmt.Errorf("%w: referenced record (%w)", store.ErrNotFound, err)
	}
	return err
}

// wrap adds the operation to an error, mapping constraint violations and
// sql.ErrNoRows to store's sentinels.
func wrap(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite store: %s: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("sqlite store: %s: %w", op, mapErr(err))
}

// mustAffect returns ErrNotFound when a write matched no row.
func mustAffect(op string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite store: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite store: %s: %w", op, store.ErrNotFound)
	}
	return nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// ms encodes a time as unix milliseconds, the zero time as 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS decodes ms: 0 is the zero time, anything else a UTC instant.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// strs encodes a string slice as JSON text; nil and empty both become "[]".
func strs(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

// fromStrs decodes strs's output; an empty array becomes nil.
func fromStrs(col, text string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", col, err)
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

// nullStrs is strs for a nullable column: no elements bind as NULL.
func nullStrs(v []string) any {
	if len(v) == 0 {
		return nil
	}
	return strs(v)
}

// nullText binds absent JSON as NULL and present JSON as TEXT (the columns
// are STRICT TEXT, which refuses BLOB binds).
func nullText(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		return q[:i]
	}
	return q
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, op string, scan func(scanner) (*T, error)) ([]*T, error) {
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}
