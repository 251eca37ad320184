package site

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/migrate"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// siteMigrations are the frame's own tables in the app's database. They
// are versioned in site_schema_version, apart from the app's migrations
// (PRAGMA user_version), so neither numbering disturbs the other.
//
//go:embed migrations/*.sql
var siteMigrations embed.FS

// migrateSite applies the frame's missing migrations in one IMMEDIATE
// transaction (two processes starting at once apply each step once).
func migrateSite(ctx context.Context, db *sql.DB) error {
	if err := migrate.Run(ctx, db, migrate.Config{FS: siteMigrations, Dir: "migrations",
		Table: "site_schema_version", Dialect: migrate.SQLite()}); err != nil {
		return fmt.Errorf("site: %w", err)
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
