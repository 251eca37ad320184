package postgres

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const rtColumns = `id, user_id, application_id, token_hash, scopes, created_at, start_at, expires_at,
	auth_time, grants, device_name, device_type, device_description, last_used_at, last_used_ip, generation, amr`

func scanRT(row pgx.Row) (*store.RefreshToken, error) {
	var t store.RefreshToken
	err := row.Scan(&t.ID, &t.UserID, &t.ApplicationID, &t.TokenHash, &t.Scopes,
		(*zt)(&t.CreatedAt), (*zt)(&t.StartAt), (*zt)(&t.ExpiresAt), (*zt)(&t.AuthTime), &t.Grants,
		&t.DeviceName, &t.DeviceType, &t.DeviceDescription, (*zt)(&t.LastUsedAt), &t.LastUsedIP, &t.Generation, &t.AMR)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateRefreshToken inserts a new family; ErrDuplicate on id or hash,
// ErrNotFound if the user or application does not exist.
func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	_, err := s.pool.Exec(ctx, qCreateRefreshToken, rtArgs(t)...)
	return wrap("create refresh token", err)
}

// qCreateRefreshToken inserts a family; rtArgs are its arguments.
const qCreateRefreshToken = `INSERT INTO refresh_tokens (` + rtColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

func rtArgs(t *store.RefreshToken) []any {
	return []any{t.ID, t.UserID, t.ApplicationID, t.TokenHash, t.Scopes,
		ts(t.CreatedAt), ts(t.StartAt), ts(t.ExpiresAt), ts(t.AuthTime), t.Grants,
		t.DeviceName, t.DeviceType, t.DeviceDescription, ts(t.LastUsedAt), t.LastUsedIP, t.Generation, nullStrs(t.AMR)}
}

// nullStrs binds no elements as NULL, so an empty amr reads back nil as
// on sqlite (pgx would store a non-nil empty slice as '{}').
func nullStrs(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	return v
}

// GetRefreshTokenByHash returns the family whose current token hashes to
// hash, or ErrNotFound.
func (s *Store) GetRefreshTokenByHash(ctx context.Context, hash []byte) (*store.RefreshToken, error) {
	t, err := scanRT(s.pool.QueryRow(ctx, `SELECT `+rtColumns+` FROM refresh_tokens WHERE token_hash = $1`, hash))
	return t, wrap("get refresh token by hash", err)
}

// GetRefreshToken returns the family by id, or ErrNotFound.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (*store.RefreshToken, error) {
	t, err := scanRT(s.pool.QueryRow(ctx, `SELECT `+rtColumns+` FROM refresh_tokens WHERE id = $1`, id))
	return t, wrap("get refresh token", err)
}

// ListRefreshTokens returns the user's families, newest first.
func (s *Store) ListRefreshTokens(ctx context.Context, userID string) ([]*store.RefreshToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+rtColumns+` FROM refresh_tokens WHERE user_id = $1
		ORDER BY created_at DESC NULLS LAST, seq DESC`, userID)
	if err != nil {
		return nil, wrap("list refresh tokens", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.RefreshToken, error) { return scanRT(r) })
	return ts, wrap("list refresh tokens", err)
}

// RotateRefreshToken is a compare-and-swap in one transaction. The UPDATE
// matches only while token_hash still equals OldHash; a concurrent rotation
// in another process holds the row lock until it commits, after which
// PostgreSQL re-checks the WHERE clause against the new row and this UPDATE
// matches nothing (ErrConflict). The rotation record is inserted in the
// same transaction, so a crash leaves either the old state or the new one.
func (s *Store) RotateRefreshToken(ctx context.Context, p store.RotateParams) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE refresh_tokens SET
				token_hash = $3, start_at = $4, expires_at = $5, grants = $6,
				last_used_at = $7, last_used_ip = $8, generation = generation + 1
			WHERE id = $1 AND token_hash = $2`,
			p.FamilyID, p.OldHash, p.NewHash, ts(p.StartAt), ts(p.ExpiresAt), p.Grants, ts(p.Now), p.IP)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM refresh_tokens WHERE id = $1`, p.FamilyID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return pgx.ErrNoRows // family gone: ErrNotFound
			}
			if err != nil {
				return err
			}
			return errConflict
		}
		_, err = tx.Exec(ctx, `INSERT INTO rotations (token_hash, family_id, rotated_at, successor)
			VALUES ($1, $2, $3, $4)`, p.OldHash, p.FamilyID, p.Now, p.Successor)
		return err
	})
	if errors.Is(err, errConflict) {
		return wrap("rotate refresh token", store.ErrConflict)
	}
	return wrap("rotate refresh token", err)
}

// errConflict aborts the rotation transaction when the compare failed.
var errConflict = errors.New("compare-and-swap lost")

// TouchRefreshToken records a use of a Reusable token without rotating.
func (s *Store) TouchRefreshToken(ctx context.Context, id string, startAt, expiresAt, now time.Time, grants []string, ip string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE refresh_tokens SET start_at = $2, expires_at = $3, last_used_at = $4,
		grants = $5, last_used_ip = $6 WHERE id = $1`, id, ts(startAt), ts(expiresAt), ts(now), grants, ip)
	if err != nil {
		return wrap("touch refresh token", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("touch refresh token")
	}
	return nil
}

// GetRotation returns the rotation record of a retired token string.
func (s *Store) GetRotation(ctx context.Context, hash []byte) (*store.Rotation, error) {
	var r store.Rotation
	err := s.pool.QueryRow(ctx, `SELECT token_hash, family_id, rotated_at, successor FROM rotations WHERE token_hash = $1`, hash).
		Scan(&r.TokenHash, &r.FamilyID, (*zt)(&r.RotatedAt), &r.Successor)
	if err != nil {
		return nil, wrap("get rotation", err)
	}
	return &r, nil
}

// DeleteRefreshToken removes one family; its rotation records go with it
// (foreign key cascade), and notify's messages enter the outbox in the
// same transaction.
func (s *Store) DeleteRefreshToken(ctx context.Context, id string, notify store.Notify) error {
	if notify == nil {
		tag, err := s.pool.Exec(ctx, `DELETE FROM refresh_tokens WHERE id = $1`, id)
		if err != nil {
			return wrap("delete refresh token", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("delete refresh token")
		}
		return nil
	}
	// notify runs only when the family was there to delete.
	ids, err := s.deleteNotify(ctx, "delete refresh token", `id = $1`, func(deleted []store.DeletedFamily) ([]*store.OutboxMessage, error) {
		if len(deleted) == 0 {
			return nil, nil
		}
		return notify(deleted)
	}, id)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return notFound("delete refresh token")
	}
	return nil
}

// deleteFamilies deletes the families selected by where (a condition on
// refresh_tokens) and returns their ids, sorted and never nil. Rotation
// records go with them by cascade, in the same statement.
func (s *Store) deleteFamilies(ctx context.Context, op, where string, args ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, `DELETE FROM refresh_tokens WHERE `+where+` RETURNING id`, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(op, err)
	}
	sort.Strings(ids)
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// DeleteRefreshTokensByUser removes the user's families (only the
// application's when applicationID is not empty) and returns their ids.
// notify's messages enter the outbox in the same transaction.
func (s *Store) DeleteRefreshTokensByUser(ctx context.Context, userID, applicationID string, notify store.Notify) ([]string, error) {
	if applicationID == "" {
		return s.deleteNotify(ctx, "delete refresh tokens by user", `user_id = $1`, notify, userID)
	}
	return s.deleteNotify(ctx, "delete refresh tokens by user", `user_id = $1 AND application_id = $2`, notify, userID, applicationID)
}

// DeleteRefreshTokensByApplication removes every family of the application;
// notify's messages enter the outbox in the same transaction.
func (s *Store) DeleteRefreshTokensByApplication(ctx context.Context, applicationID string, notify store.Notify) ([]string, error) {
	return s.deleteNotify(ctx, "delete refresh tokens by application", `application_id = $1`, notify, applicationID)
}

// selectExpiredSQL picks one batch ($2 rows) of families expired at $1,
// walking refresh_tokens_expires; rows another process has locked (a
// rotation in flight, or a concurrent collector) are skipped, not waited for.
const selectExpiredSQL = `SELECT id FROM refresh_tokens WHERE expires_at <= $1
	ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`

// selectPendingSuccessorsSQL picks one batch of rotations older than $1
// that still hold a sealed successor, walking rotations_successor_pending.
const selectPendingSuccessorsSQL = `SELECT token_hash FROM rotations
	WHERE successor IS NOT NULL AND rotated_at < $1
	ORDER BY rotated_at LIMIT $2 FOR UPDATE SKIP LOCKED`

// DeleteExpiredRefreshTokens removes families with ExpiresAt <= now and
// clears the sealed successor of rotations older than successorCutoff.
// Both walk an index (refresh_tokens_expires, rotations_successor_pending)
// in batches of collectBatch rows, each its own short transaction, so a
// backlog never holds locks for long nor scans the table.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now, successorCutoff time.Time) (int, error) {
	total := 0
	for {
		ids, err := s.deleteFamilies(ctx, "delete expired refresh tokens", `id IN (`+selectExpiredSQL+`)`, now, collectBatch)
		if err != nil {
			return total, err
		}
		total += len(ids)
		if len(ids) < collectBatch {
			break
		}
	}
	for {
		tag, err := s.pool.Exec(ctx, `UPDATE rotations SET successor = NULL WHERE token_hash IN (`+
			selectPendingSuccessorsSQL+`)`, successorCutoff, collectBatch)
		if err != nil {
			return total, wrap("clear rotation successors", err)
		}
		if tag.RowsAffected() < collectBatch {
			break
		}
	}
	return total, nil
}
