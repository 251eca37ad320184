package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const rtCols = `id, user_id, application_id, token_hash, scopes, created_at, start_at, expires_at, auth_time,
	grants, device_name, device_type, device_description, last_used_at, last_used_ip, generation, amr`

const (
	qCreateRefreshToken = `INSERT INTO refresh_tokens (` + rtCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qGetRefreshTokenByHash = `SELECT ` + rtCols + ` FROM refresh_tokens WHERE token_hash = ?`
	qGetRefreshToken       = `SELECT ` + rtCols + ` FROM refresh_tokens WHERE id = ?`
	qListRefreshTokens     = `SELECT ` + rtCols + ` FROM refresh_tokens WHERE user_id = ?
	ORDER BY created_at DESC, rowid DESC`

	// The compare-and-swap: matches only while the family's live hash is
	// still the one the caller read.
	qRotateUpdate = `UPDATE refresh_tokens SET token_hash = ?, start_at = ?, expires_at = ?, grants = ?,
	last_used_at = ?, last_used_ip = ?, generation = generation + 1
	WHERE id = ? AND token_hash = ?`
	qRefreshTokenExists = `SELECT 1 FROM refresh_tokens WHERE id = ?`
	qRotateInsert       = `INSERT INTO refresh_token_rotations (token_hash, family_id, rotated_at, successor)
	VALUES (?, ?, ?, ?)`
	qTouch = `UPDATE refresh_tokens SET start_at = ?, expires_at = ?, last_used_at = ?, grants = ?, last_used_ip = ?
	WHERE id = ?`
	qGetRotation = `SELECT token_hash, family_id, rotated_at, successor FROM refresh_token_rotations
	WHERE token_hash = ?`

	// Collection works in batches so that the single writer connection is
	// never held for long: rotations queued behind it wait one batch, not
	// one whole sweep. ExpiresAt 0 (the zero time) never expires.
	qDeleteExpiredBatch = `DELETE FROM refresh_tokens WHERE rowid IN (
	SELECT rowid FROM refresh_tokens WHERE expires_at BETWEEN 1 AND ? LIMIT ?)`
	qClearSuccessorsBatch = `UPDATE refresh_token_rotations SET successor = NULL WHERE token_hash IN (
	SELECT token_hash FROM refresh_token_rotations WHERE successor IS NOT NULL AND rotated_at < ? LIMIT ?)`
	collectBatch = 500
)

func scanRT(sc scanner) (*store.RefreshToken, error) {
	var t store.RefreshToken
	var scopes, grants string
	var amr sql.NullString // NULL on families written before migration 0007
	var created, start, expires, authTime, lastUsed int64
	if err := sc.Scan(&t.ID, &t.UserID, &t.ApplicationID, &t.TokenHash, &scopes, &created, &start, &expires,
		&authTime, &grants, &t.DeviceName, &t.DeviceType, &t.DeviceDescription, &lastUsed, &t.LastUsedIP,
		&t.Generation, &amr); err != nil {
		return nil, err
	}
	var err error
	if t.Scopes, err = fromStrs("scopes", scopes); err != nil {
		return nil, err
	}
	if t.Grants, err = fromStrs("grants", grants); err != nil {
		return nil, err
	}
	if amr.Valid {
		if t.AMR, err = fromStrs("amr", amr.String); err != nil {
			return nil, err
		}
	}
	t.CreatedAt, t.StartAt, t.ExpiresAt = fromMS(created), fromMS(start), fromMS(expires)
	t.AuthTime, t.LastUsedAt = fromMS(authTime), fromMS(lastUsed)
	return &t, nil
}

// CreateRefreshToken inserts a new family. ErrDuplicate on a taken id or
// hash; ErrNotFound if the user or application does not exist.
func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	if _, err := s.st.createRT.ExecContext(ctx, rtArgs(t)...); err != nil {
		return wrap("create refresh token", err)
	}
	return nil
}

// rtArgs are qCreateRefreshToken's arguments for t.
func rtArgs(t *store.RefreshToken) []any {
	return []any{t.ID, t.UserID, t.ApplicationID, t.TokenHash, strs(t.Scopes),
		ms(t.CreatedAt), ms(t.StartAt), ms(t.ExpiresAt), ms(t.AuthTime), strs(t.Grants), t.DeviceName,
		t.DeviceType, t.DeviceDescription, ms(t.LastUsedAt), t.LastUsedIP, t.Generation, nullStrs(t.AMR)}
}

// GetRefreshTokenByHash returns the family whose live token hashes to hash.
func (s *Store) GetRefreshTokenByHash(ctx context.Context, hash []byte) (*store.RefreshToken, error) {
	t, err := scanRT(s.st.getRTByHash.QueryRowContext(ctx, hash))
	if err != nil {
		return nil, wrap("get refresh token by hash", err)
	}
	return t, nil
}

// GetRefreshToken returns a family by id.
func (s *Store) GetRefreshToken(ctx context.Context, id string) (*store.RefreshToken, error) {
	t, err := scanRT(s.r.QueryRowContext(ctx, qGetRefreshToken, id))
	if err != nil {
		return nil, wrap("get refresh token", err)
	}
	return t, nil
}

// ListRefreshTokens returns the user's families, newest first.
func (s *Store) ListRefreshTokens(ctx context.Context, userID string) ([]*store.RefreshToken, error) {
	rows, err := s.r.QueryContext(ctx, qListRefreshTokens, userID)
	if err != nil {
		return nil, wrap("list refresh tokens", err)
	}
	return collect(rows, "list refresh tokens", scanRT)
}

// RotateRefreshToken is the compare-and-swap of IDP-RT-5, in one
// BEGIN IMMEDIATE transaction on the writer connection: update the family
// where its hash is still p.OldHash, then record the retired hash. Either
// both happen or neither.
func (s *Store) RotateRefreshToken(ctx context.Context, p store.RotateParams) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("rotate refresh token: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	res, err := tx.StmtContext(ctx, s.st.rotUpdate).ExecContext(ctx, p.NewHash, ms(p.StartAt), ms(p.ExpiresAt),
		strs(p.Grants), ms(p.Now), p.IP, p.FamilyID, p.OldHash)
	if err != nil {
		return wrap("rotate refresh token", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap("rotate refresh token", err)
	}
	if n == 0 {
		var one int
		err := tx.StmtContext(ctx, s.st.rotExists).QueryRowContext(ctx, p.FamilyID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite store: rotate refresh token: family %s: %w", p.FamilyID, store.ErrNotFound)
		case err != nil:
			return wrap("rotate refresh token", err)
		}
		return fmt.Errorf("sqlite store: rotate refresh token: family %s: %w", p.FamilyID, store.ErrConflict)
	}
	if _, err := tx.StmtContext(ctx, s.st.rotInsert).ExecContext(ctx, p.OldHash, p.FamilyID, ms(p.Now),
		nilIfEmpty(p.Successor)); err != nil {
		return wrap("rotate refresh token: record rotation", err)
	}
	if err := tx.Commit(); err != nil {
		return wrap("rotate refresh token: commit", err)
	}
	return nil
}

// TouchRefreshToken records a use without rotating.
func (s *Store) TouchRefreshToken(ctx context.Context, id string, startAt, expiresAt, now time.Time, grants []string, ip string) error {
	res, err := s.st.touch.ExecContext(ctx, ms(startAt), ms(expiresAt), ms(now), strs(grants), ip, id)
	if err != nil {
		return wrap("touch refresh token", err)
	}
	return mustAffect("touch refresh token", res)
}

// GetRotation returns the rotation record of a retired token hash.
func (s *Store) GetRotation(ctx context.Context, hash []byte) (*store.Rotation, error) {
	var r store.Rotation
	var rotated int64
	var successor []byte
	err := s.st.getRotation.QueryRowContext(ctx, hash).Scan(&r.TokenHash, &r.FamilyID, &rotated, &successor)
	if err != nil {
		return nil, wrap("get rotation", err)
	}
	r.RotatedAt = fromMS(rotated)
	if len(successor) > 0 {
		r.Successor = successor
	}
	return &r, nil
}

// DeleteRefreshToken removes one family; its rotations go by cascade, and
// notify's messages enter the outbox in the same transaction.
func (s *Store) DeleteRefreshToken(ctx context.Context, id string, notify store.Notify) error {
	if notify == nil {
		res, err := s.w.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE id = ?`, id)
		if err != nil {
			return wrap("delete refresh token", err)
		}
		return mustAffect("delete refresh token", res)
	}
	_, err := s.deleteNotify(ctx, "delete refresh token", `DELETE FROM refresh_tokens WHERE id = ? RETURNING id, user_id`, notify, true, id)
	return err
}

// DeleteRefreshTokensByUser removes the user's families (only those of
// applicationID when it is not empty) and returns their ids; notify's
// messages enter the outbox in the same transaction.
func (s *Store) DeleteRefreshTokensByUser(ctx context.Context, userID, applicationID string, notify store.Notify) ([]string, error) {
	if applicationID == "" {
		return s.deleteNotify(ctx, "delete refresh tokens by user",
			`DELETE FROM refresh_tokens WHERE user_id = ? RETURNING id, user_id`, notify, false, userID)
	}
	return s.deleteNotify(ctx, "delete refresh tokens by user",
		`DELETE FROM refresh_tokens WHERE user_id = ? AND application_id = ? RETURNING id, user_id`, notify, false, userID, applicationID)
}

// DeleteRefreshTokensByApplication removes every family of the application
// and returns their ids; notify's messages enter the outbox in the same
// transaction.
func (s *Store) DeleteRefreshTokensByApplication(ctx context.Context, applicationID string, notify store.Notify) ([]string, error) {
	return s.deleteNotify(ctx, "delete refresh tokens by application",
		`DELETE FROM refresh_tokens WHERE application_id = ? RETURNING id, user_id`, notify, false, applicationID)
}

// DeleteExpiredRefreshTokens removes families with 0 < ExpiresAt <= now
// (through the expires_at index) and clears the successors of rotations
// older than successorCutoff (through the partial index of rotations that
// still hold one), in batches.
func (s *Store) DeleteExpiredRefreshTokens(ctx context.Context, now, successorCutoff time.Time) (int, error) {
	removed, err := s.batched(ctx, qDeleteExpiredBatch, ms(now))
	if err != nil {
		return int(removed), wrap("delete expired refresh tokens", err)
	}
	cleared, err := s.batched(ctx, qClearSuccessorsBatch, ms(successorCutoff))
	if err != nil {
		return int(removed), wrap("clear rotation successors", err)
	}
	if removed > 0 || cleared > 0 {
		s.log.Debug("sqlite store: collected refresh tokens", "families_removed", removed, "successors_cleared", cleared)
	}
	return int(removed), nil
}

// batched runs a batch statement (taking a bound and a LIMIT) until a batch
// affects fewer rows than the limit, and returns the total affected.
func (s *Store) batched(ctx context.Context, q string, bound int64) (int64, error) {
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, q, bound, collectBatch)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < collectBatch {
			return total, nil
		}
	}
}

// nilIfEmpty binds an empty byte slice as NULL.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
