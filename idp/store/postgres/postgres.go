// Package postgres is the PostgreSQL backend of the IdP store
// (store.Store), for running any number of IdP processes on one database.
//
// It owns the schema (embedded, versioned migrations applied at Open under
// an advisory lock, so several processes can start at once) and the SQL for
// every store operation. Operations the store contract calls atomic are
// single statements or single transactions whose correctness rests on
// PostgreSQL row locks, never on an in-process lock: RotateRefreshToken is a
// conditional UPDATE (WHERE id AND token_hash) in one transaction with the
// insert of the rotation record, and RecordLoginFailure is one upsert.
//
// It does not own policy (expiry, grace periods, lockout thresholds): that is
// package idp's. It does not schedule collection either: the IdP calls
// DeleteExpiredRefreshTokens, which walks the expires_at index in batches.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the pg_advisory_xact_lock key that serialises schema
// migrations between processes (an arbitrary constant: "gatehous" in ASCII).
const migrationLockID int64 = 0x6761746568617573

// collectBatch bounds how many rows one collection statement deletes, so a
// large backlog never becomes one huge transaction.
const collectBatch = 5000

// Store is the PostgreSQL IdP store. It is safe for concurrent use, from
// any number of goroutines and processes.
type Store struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
}

var _ store.Store = (*Store)(nil)

// Config configures a Store. Exactly one of URL and Pool is required; the
// zero value of every other field means its documented default (design §7).
type Config struct {
	// URL is the database, a postgres:// URL or key=value DSN accepted by
	// pgx. Pool settings ride on it, e.g. ?pool_max_conns=16 (pgx's
	// default is max(4, CPUs) connections per process).
	URL string
	// Pool is an existing pool to use instead of URL (Close closes it).
	Pool *pgxpool.Pool
	// Logger receives the migrations' logs. Default: discard.
	Logger *slog.Logger
}

// Open connects to the database (cfg.URL) or uses cfg.Pool, applies
// pending migrations and returns the store.
func Open(ctx context.Context, c Config) (*Store, error) {
	if (c.URL == "") == (c.Pool == nil) {
		return nil, errors.New("postgres: set exactly one of Config.URL and Config.Pool")
	}
	logger := c.Logger
	if c.Pool != nil {
		return newStore(ctx, c.Pool, logger)
	}
	cfg, err := pgxpool.ParseConfig(c.URL)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("postgres: invalid database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s, err := newStore(ctx, pool, logger)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// newStore wraps pool (which Close will close), applying pending
// migrations first. A nil logger discards logs.
func newStore(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, logger: logger}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies the pending migrations in one transaction holding a
// transaction-level advisory lock: a second process starting at the same
// moment waits for the first, then finds nothing left to do. PostgreSQL DDL
// is transactional, so a failed migration leaves the schema unchanged. The
// version lives in gatehouse_schema_migrations, as it always has.
func (s *Store) migrate(ctx context.Context) error {
	db := stdlib.OpenDBFromPool(s.pool) // closing it leaves the pool open
	defer db.Close()
	if err := migrate.Run(ctx, db, migrate.Config{FS: migrationFiles, Dir: "migrations",
		Table: "gatehouse_schema_migrations", Dialect: migrate.Postgres(migrationLockID), Logger: s.logger}); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// wrap adds op as context and maps PostgreSQL errors onto the store's:
// no rows -> ErrNotFound, unique violation (SQLSTATE 23505) -> ErrDuplicate,
// foreign-key violation (23503: the user or application referred to does
// not exist) -> ErrNotFound.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("postgres: %s: %w (%s)", op, store.ErrDuplicate, pgErr.ConstraintName)
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return fmt.Errorf("postgres: %s: %w (%s)", op, store.ErrNotFound, pgErr.ConstraintName)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// notFound is the error for an update or delete that matched no row.
func notFound(op string) error {
	return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
}

// ts turns a Go time into a timestamptz argument; the zero time is NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// zt scans a nullable timestamptz into a time.Time (NULL -> zero time).
// Use as (*zt)(&field).
type zt time.Time

// ScanTimestamptz implements pgtype.TimestamptzScanner.
func (z *zt) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		*z = zt{}
		return nil
	}
	*z = zt(v.Time)
	return nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
