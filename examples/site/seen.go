package site

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/webhook"
)

// siteMigrations are the frame's own tables in the app's database. They
// are versioned in site_schema_version, apart from the app's migrations
// (PRAGMA user_version), so neither numbering disturbs the other.
var siteMigrations = []string{
	// 1: webhook event ids handled, kept until their timestamp window has
	// passed, so a replay is refused after a restart too (AUD-10).
	`CREATE TABLE webhook_seen (
		id    TEXT    PRIMARY KEY,
		until INTEGER NOT NULL -- unix milliseconds
	) STRICT;
	CREATE INDEX webhook_seen_until ON webhook_seen (until);`,
}

// migrateSite brings the frame's tables to len(siteMigrations), in one
// IMMEDIATE transaction (two processes starting at once apply each step
// once).
func migrateSite(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("site migrate: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS site_schema_version (version INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("site migrate: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM site_schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("site migrate: read version: %w", err)
	}
	if v > len(siteMigrations) {
		return fmt.Errorf("site migrate: database version %d is newer than this program (%d)", v, len(siteMigrations))
	}
	for ; v < len(siteMigrations); v++ {
		if _, err := tx.ExecContext(ctx, siteMigrations[v]); err != nil {
			return fmt.Errorf("site migrate: step %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO site_schema_version (version) VALUES (?)`, v+1); err != nil {
			return fmt.Errorf("site migrate: record step %d: %w", v+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("site migrate: commit: %w", err)
	}
	return nil
}

// SeenDB is the webhook receiver's webhook.SeenStore in the app's own
// SQLite database: the ids of handled events survive a restart, so a
// captured delivery replayed after one is still refused (AUD-10). Ids are
// pruned once their timestamp window has passed (a replay that old fails
// the signature's timestamp check anyway).
type SeenDB struct {
	db  *sql.DB
	now func() time.Time
}

var _ webhook.SeenStore = (*SeenDB)(nil)

// NewSeenDB creates the table if needed and returns the store; now is the
// clock pruning uses (default time.Now).
func NewSeenDB(ctx context.Context, db *sql.DB, now func() time.Time) (*SeenDB, error) {
	if now == nil {
		now = time.Now
	}
	if err := migrateSite(ctx, db); err != nil {
		return nil, err
	}
	return &SeenDB{db: db, now: now}, nil
}

// MarkSeen prunes expired ids and records id, in one transaction; the
// primary key makes concurrent calls with one id agree on who was first.
func (s *SeenDB) MarkSeen(ctx context.Context, id string, until time.Time) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("mark webhook event seen: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_seen WHERE until <= ?`, s.now().UnixMilli()); err != nil {
		return false, fmt.Errorf("prune webhook event ids: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO webhook_seen (id, until) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, until.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("mark webhook event seen: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark webhook event seen: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("mark webhook event seen: %w", err)
	}
	return n == 0, nil
}

// Forget removes id, so the retry of an event whose handler failed runs.
func (s *SeenDB) Forget(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM webhook_seen WHERE id = ?`, id); err != nil {
		return fmt.Errorf("forget webhook event id: %w", err)
	}
	return nil
}
