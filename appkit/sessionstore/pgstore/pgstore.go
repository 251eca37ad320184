// Package pgstore is the PostgreSQL backend of sessionstore.Store, for
// running any number of app processes on one database.
//
// It owns its schema (embedded migrations applied under an advisory lock,
// so several processes can start at once), the SQL of every operation and a
// background collector that deletes expired sessions and refresh records in
// batches through the expires_at indexes. Refresh claims are one
// INSERT … ON CONFLICT … DO UPDATE … WHERE expired statement, so exactly one
// process wins however many race.
//
// It does not own policy (timeouts, when to extend): package appkit decides.
// Sessions are hidden as soon as ExpiresAt passes (every read filters on
// it); the collector only reclaims the space.
package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockID is the pg_advisory_xact_lock key serialising this
// package's migrations between processes ("ghsessns" in ASCII; distinct
// from the IdP store's, so both can share a database).
const migrationLockID int64 = 0x6768736573736e73

// DefaultCleanupInterval is how often the collector runs when
// Config.CleanupInterval is zero.
const DefaultCleanupInterval = time.Minute

// collectBatch bounds the rows one collection statement deletes, so a
// backlog never becomes one long transaction.
const collectBatch = 5000

// Store is the PostgreSQL session store. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownPool  bool
	now      func() time.Time
	logger   *slog.Logger
	interval time.Duration

	stop      context.CancelFunc
	done      sync.WaitGroup
	closeOnce sync.Once
}

var _ sessionstore.Store = (*Store)(nil)

// Config configures a Store. Exactly one of URL and Pool is required; the
// zero value of every other field means its documented default (design §7).
type Config struct {
	// URL is the database, a postgres:// URL or DSN accepted by pgx (pool
	// settings such as ?pool_max_conns=16 ride on it). Open creates the
	// pool and Close closes it.
	URL string
	// Pool is an existing pool to use instead of URL; Close leaves it open.
	Pool *pgxpool.Pool
	// CleanupInterval is how often the background collector deletes
	// expired rows. Default DefaultCleanupInterval.
	CleanupInterval time.Duration
	// DisableCleanup runs no collector (DeleteExpired can still be
	// called); CleanupInterval must then be zero.
	DisableCleanup bool
	// Now is the store's clock. Default time.Now.
	Now func() time.Time
	// Logger receives the collector's and the migrations' logs. Default:
	// discard.
	Logger *slog.Logger
}

// Open connects to the database (cfg.URL) or uses cfg.Pool, applies
// pending migrations and starts the collector. Close releases what Open
// created.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if (cfg.URL == "") == (cfg.Pool == nil) {
		return nil, errors.New("pgstore: set exactly one of Config.URL and Config.Pool")
	}
	if cfg.CleanupInterval < 0 {
		return nil, errors.New("pgstore: Config.CleanupInterval must not be negative (zero means the default)")
	}
	if cfg.DisableCleanup && cfg.CleanupInterval != 0 {
		return nil, errors.New("pgstore: Config.CleanupInterval and DisableCleanup are both set")
	}
	if cfg.Pool != nil {
		return newStore(ctx, cfg.Pool, cfg)
	}
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("pgstore: invalid database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	s, err := newStore(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// newStore applies cfg's defaults and the pending migrations on pool and
// starts the collector.
func newStore(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	s := &Store{
		pool:     pool,
		now:      cfg.Now,
		logger:   cfg.Logger,
		interval: cfg.CleanupInterval,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.DisableCleanup:
		s.interval = 0
	case s.interval == 0:
		s.interval = DefaultCleanupInterval
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	if s.interval > 0 {
		s.done.Add(1)
		go s.collect(cctx)
	}
	return s, nil
}

// Close stops the collector and closes the pool if Open created it. Calls
// after the first do nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		s.done.Wait()
		if s.ownPool {
			s.pool.Close()
		}
	})
	return nil
}

// Ping reports whether the database answers (for readiness checks).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: ping: %w", err)
	}
	return nil
}

// collect runs DeleteExpired every interval until ctx ends.
func (s *Store) collect(ctx context.Context) {
	defer s.done.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.DeleteExpired(ctx, s.now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Warn("session collector failed", "err", err)
		case n > 0:
			s.logger.Debug("collected expired sessions", "count", n)
		}
	}
}

// migrate applies pending migrations in one transaction holding an
// advisory lock, so concurrent starts apply each migration once. The
// version lives in gatehouse_sessionstore_migrations, as it always has.
func (s *Store) migrate(ctx context.Context) error {
	db := stdlib.OpenDBFromPool(s.pool) // closing it leaves the pool open
	defer db.Close()
	if err := migrate.Run(ctx, db, migrate.Config{FS: migrationFiles, Dir: "migrations",
		Table: "gatehouse_sessionstore_migrations", Dialect: migrate.Postgres(migrationLockID), Logger: s.logger}); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}

// ts turns a Go time into a timestamptz argument; the zero time is NULL.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// zt scans a nullable timestamptz into a time.Time (NULL -> zero time).
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

const sessionColumns = `key, user_id, claims, access_token, access_token_expiry, refresh_token_id,
	auth_time, created_at, last_seen, expires_at, absolute_expiry, ip, user_agent`

func scanSession(row pgx.Row) (*sessionstore.Session, error) {
	var s sessionstore.Session
	var claims []byte
	err := row.Scan(&s.Key, &s.UserID, &claims, &s.AccessToken, (*zt)(&s.AccessTokenExpiry), &s.RefreshTokenID,
		(*zt)(&s.AuthTime), (*zt)(&s.CreatedAt), (*zt)(&s.LastSeen), (*zt)(&s.ExpiresAt), (*zt)(&s.AbsoluteExpiry),
		&s.IP, &s.UserAgent)
	if err != nil {
		return nil, err
	}
	if claims != nil {
		s.Claims = claims
	}
	return &s, nil
}

// Put creates or replaces the session under s.Key (one upsert).
func (s *Store) Put(ctx context.Context, sess *sessionstore.Session) error {
	if sess == nil {
		return errors.New("pgstore: put: nil session")
	}
	if sess.Key == "" {
		return errors.New("pgstore: put: empty key")
	}
	var claims []byte
	if sess.Claims != nil {
		claims = []byte(sess.Claims)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO gatehouse_sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (key) DO UPDATE SET
			user_id = EXCLUDED.user_id, claims = EXCLUDED.claims, access_token = EXCLUDED.access_token,
			access_token_expiry = EXCLUDED.access_token_expiry, refresh_token_id = EXCLUDED.refresh_token_id,
			auth_time = EXCLUDED.auth_time, created_at = EXCLUDED.created_at, last_seen = EXCLUDED.last_seen,
			expires_at = EXCLUDED.expires_at, absolute_expiry = EXCLUDED.absolute_expiry,
			ip = EXCLUDED.ip, user_agent = EXCLUDED.user_agent`,
		sess.Key, sess.UserID, claims, sess.AccessToken, ts(sess.AccessTokenExpiry), sess.RefreshTokenID,
		ts(sess.AuthTime), ts(sess.CreatedAt), ts(sess.LastSeen), sess.ExpiresAt, ts(sess.AbsoluteExpiry),
		sess.IP, sess.UserAgent)
	if err != nil {
		return fmt.Errorf("pgstore: put: %w", err)
	}
	return nil
}

// Get returns the live session under key, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (*sessionstore.Session, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM gatehouse_sessions
		WHERE key = $1 AND expires_at > $2`, key, s.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: get: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: get: %w", err)
	}
	return sess, nil
}

// Touch sets LastSeen and ExpiresAt of a live session.
func (s *Store) Touch(ctx context.Context, key string, lastSeen, expiresAt time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE gatehouse_sessions SET last_seen = $2, expires_at = $3
		WHERE key = $1 AND expires_at > $4`, key, ts(lastSeen), expiresAt, s.now())
	if err != nil {
		return fmt.Errorf("pgstore: touch: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("pgstore: touch: %w", sessionstore.ErrNotFound)
	}
	return nil
}

// Delete removes the session.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM gatehouse_sessions WHERE key = $1`, key); err != nil {
		return fmt.Errorf("pgstore: delete: %w", err)
	}
	return nil
}

// ListByUser returns the user's live sessions, most recently seen first.
func (s *Store) ListByUser(ctx context.Context, userID string) ([]*sessionstore.Session, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM gatehouse_sessions
		WHERE user_id = $1 AND expires_at > $2
		ORDER BY last_seen DESC NULLS LAST, key`, userID, s.now())
	if err != nil {
		return nil, fmt.Errorf("pgstore: list by user: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*sessionstore.Session, error) { return scanSession(r) })
	if err != nil {
		return nil, fmt.Errorf("pgstore: list by user: %w", err)
	}
	return out, nil
}

// DeleteByUser removes every session of the user, expired ones included,
// and returns how many were live.
func (s *Store) DeleteByUser(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `WITH d AS (DELETE FROM gatehouse_sessions WHERE user_id = $1 RETURNING expires_at)
		SELECT count(*) FILTER (WHERE expires_at > $2) FROM d`, userID, s.now()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("pgstore: delete by user: %w", err)
	}
	return n, nil
}

// ClaimRefresh inserts a claim for owner, takes over a record whose
// lifetime has ended, or renews owner's own live claim (not a result), in
// one statement. Concurrent claimants of one key serialise on the key's
// unique index: the first inserts, the others see its live row in the
// conflict check and get no row back.
func (s *Store) ClaimRefresh(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if key == "" {
		return false, errors.New("pgstore: claim refresh: empty key")
	}
	if owner == "" {
		return false, errors.New("pgstore: claim refresh: empty owner")
	}
	if ttl <= 0 {
		return false, fmt.Errorf("pgstore: claim refresh: ttl %v is not positive", ttl)
	}
	now := s.now()
	var ok bool
	err := s.pool.QueryRow(ctx, `INSERT INTO gatehouse_refresh AS r (key, has_result, result, expires_at, owner)
		VALUES ($1, false, NULL, $2, $4)
		ON CONFLICT (key) DO UPDATE SET has_result = false, result = NULL, expires_at = EXCLUDED.expires_at,
				owner = EXCLUDED.owner
			WHERE r.expires_at <= $3 OR (NOT r.has_result AND r.owner = EXCLUDED.owner)
		RETURNING true`, key, now.Add(ttl), now, owner).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pgstore: claim refresh: %w", err)
	}
	return ok, nil
}

// SetRefreshResult stores result under key for ttl, replacing a claim or
// an earlier result.
func (s *Store) SetRefreshResult(ctx context.Context, key string, result []byte, ttl time.Duration) error {
	if key == "" {
		return errors.New("pgstore: set refresh result: empty key")
	}
	if ttl <= 0 {
		return fmt.Errorf("pgstore: set refresh result: ttl %v is not positive", ttl)
	}
	if result == nil {
		result = []byte{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO gatehouse_refresh (key, has_result, result, expires_at)
		VALUES ($1, true, $2, $3)
		ON CONFLICT (key) DO UPDATE SET has_result = true, result = EXCLUDED.result, expires_at = EXCLUDED.expires_at,
			owner = ''`,
		key, result, s.now().Add(ttl))
	if err != nil {
		return fmt.Errorf("pgstore: set refresh result: %w", err)
	}
	return nil
}

// GetRefreshResult returns the live result under key, or ErrNotFound (also
// while the token is only claimed).
func (s *Store) GetRefreshResult(ctx context.Context, key string) ([]byte, error) {
	var res []byte
	err := s.pool.QueryRow(ctx, `SELECT result FROM gatehouse_refresh
		WHERE key = $1 AND has_result AND expires_at > $2`, key, s.now()).Scan(&res)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("pgstore: get refresh result: %w", sessionstore.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pgstore: get refresh result: %w", err)
	}
	if res == nil {
		res = []byte{}
	}
	return res, nil
}

// CountAll returns how many session rows are stored, expired ones not yet
// collected included. It counts the table: for tests and tools.
func (s *Store) CountAll(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM gatehouse_sessions`).Scan(&n); err != nil {
		return 0, fmt.Errorf("pgstore: count: %w", err)
	}
	return n, nil
}

// selectExpiredSessionsSQL picks one batch ($2 rows) of sessions expired
// at $1 through gatehouse_sessions_expires; rows locked by another
// collector or writer are skipped, not waited for.
const selectExpiredSessionsSQL = `SELECT key FROM gatehouse_sessions WHERE expires_at <= $1
	ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`

// selectExpiredRefreshSQL does the same for refresh records.
const selectExpiredRefreshSQL = `SELECT key FROM gatehouse_refresh WHERE expires_at <= $1
	ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`

// DeleteExpired deletes sessions with ExpiresAt <= now and refresh records
// whose lifetime ended by now, in batches walking the expires_at indexes
// (rows another process is deleting are skipped, not waited for). It
// returns how many sessions it deleted.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM gatehouse_sessions WHERE key IN (`+selectExpiredSessionsSQL+`)`, now, collectBatch)
		if err != nil {
			return total, fmt.Errorf("pgstore: delete expired sessions: %w", err)
		}
		total += int(tag.RowsAffected())
		if tag.RowsAffected() < collectBatch {
			break
		}
	}
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM gatehouse_refresh WHERE key IN (`+selectExpiredRefreshSQL+`)`, now, collectBatch)
		if err != nil {
			return total, fmt.Errorf("pgstore: delete expired refresh records: %w", err)
		}
		if tag.RowsAffected() < collectBatch {
			break
		}
	}
	return total, nil
}
