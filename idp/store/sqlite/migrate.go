package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"log/slog"

	"github.com/gatehouse-auth/gatehouse/internal/migrate"
)

// migrationFS holds the schema as numbered files, NNNN_name.sql, applied in
// order. A released file is never edited; a change is a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateDB applies every pending migration in one write transaction on the
// writer pool, whose transactions begin IMMEDIATE: two processes opening a
// new file at once cannot both apply version 1. The version lives in the
// schema_version table, as it always has. A database newer than this
// binary is refused.
func migrateDB(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	return migrate.Run(ctx, db, migrate.Config{FS: migrationFS, Dir: "migrations",
		Table: "schema_version", Dialect: migrate.SQLite(), Logger: log})
}
