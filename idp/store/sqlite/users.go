package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const userCols = `id, email, username, first_name, last_name, full_name, password_hash, active, verified,
	data, password_change_required, password_updated_at, expiry, last_login_at, created_at, locked_until,
	tokens_revoked_before, multi_factor`

const (
	qGetUser = `SELECT ` + userCols + ` FROM users WHERE id = ?`
	// Each OR branch repeats its partial index's condition so the planner
	// can use users_email and users_username; an e-mail match wins over a
	// username match.
	qGetUserByLogin = `SELECT ` + userCols + ` FROM users
	WHERE (email = ?1 AND email <> '') OR (username = ?2 AND username <> '')
	ORDER BY email = ?1 DESC LIMIT 1`
	qInsertUser = `INSERT INTO users (` + userCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qUpdateUser = `UPDATE users SET email = ?, username = ?, first_name = ?, last_name = ?, full_name = ?,
	password_hash = ?, active = ?, verified = ?, data = ?, password_change_required = ?,
	password_updated_at = ?, expiry = ?, last_login_at = ?, created_at = ?, locked_until = ?,
	tokens_revoked_before = ?, multi_factor = ?
	WHERE id = ?`
	qListUsers = `SELECT ` + userCols + ` FROM users ORDER BY created_at, rowid LIMIT ?`
	// RecordLogin's conditional write: a concurrent deactivation or
	// password change (active or password_hash no longer as read) wins.
	qRecordLogin = `UPDATE users SET last_login_at = ?1,
		password_hash = CASE WHEN ?2 <> '' THEN ?2 ELSE password_hash END
	WHERE id = ?3 AND active = 1 AND password_hash = ?4
	RETURNING ` + userCols
	qRecordLoginFailure = `INSERT INTO login_failures (user_id, device_id, count, last_failure_at) VALUES (?1, ?2, 1, ?3)
	ON CONFLICT (user_id, device_id) DO UPDATE SET count = count + 1, last_failure_at = ?3
	RETURNING count, last_failure_at`
	qResetFailures = `DELETE FROM login_failures WHERE user_id = ? AND device_id = ?`
)

// normEmail is how e-mails are stored and looked up: lower-cased with
// Unicode case mapping, which SQLite's built-in lower() does not do.
func normEmail(e string) string { return strings.ToLower(e) }

func scanUser(sc scanner) (*store.User, error) {
	var u store.User
	var data, mf []byte
	var pwUpdated, expiry, lastLogin, created, locked, revoked int64
	if err := sc.Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.FullName,
		&u.PasswordHash, &u.Active, &u.Verified, &data, &u.PasswordChangeRequired,
		&pwUpdated, &expiry, &lastLogin, &created, &locked, &revoked, &mf); err != nil {
		return nil, err
	}
	if data != nil {
		u.Data = data
	}
	if mf != nil {
		u.MultiFactor = mf
	}
	u.PasswordUpdatedAt, u.Expiry, u.LastLoginAt = fromMS(pwUpdated), fromMS(expiry), fromMS(lastLogin)
	u.CreatedAt, u.LockedUntil, u.TokensRevokedBefore = fromMS(created), fromMS(locked), fromMS(revoked)
	return &u, nil
}

// userArgs are the values of every column but id, in userCols order.
func userArgs(u *store.User) []any {
	return []any{normEmail(u.Email), u.Username, u.FirstName, u.LastName, u.FullName,
		u.PasswordHash, u.Active, u.Verified, nullText(u.Data), u.PasswordChangeRequired,
		ms(u.PasswordUpdatedAt), ms(u.Expiry), ms(u.LastLoginAt), ms(u.CreatedAt), ms(u.LockedUntil),
		ms(u.TokensRevokedBefore), nullText(u.MultiFactor)}
}

// CreateUser inserts u, storing its e-mail lower-cased.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	args := append([]any{u.ID}, userArgs(u)...)
	if _, err := s.w.ExecContext(ctx, qInsertUser, args...); err != nil {
		return wrap("create user", err)
	}
	return nil
}

// GetUser returns the user by id, or store.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.st.getUser.QueryRowContext(ctx, id))
	if err != nil {
		return nil, wrap("get user", err)
	}
	return u, nil
}

// GetUserByLogin returns the user whose e-mail (case-insensitively) or
// username equals login; an e-mail match wins.
func (s *Store) GetUserByLogin(ctx context.Context, login string) (*store.User, error) {
	if login == "" {
		return nil, fmt.Errorf("sqlite store: get user by login: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.st.getUserByLogin.QueryRowContext(ctx, normEmail(login), login))
	if err != nil {
		return nil, wrap("get user by login", err)
	}
	return u, nil
}

// UpdateUser runs fn on the stored row and writes its result inside one
// BEGIN IMMEDIATE transaction on the single writer connection, so no other
// write to the user can land between the read and the write.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(old store.User) (store.User, error)) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return wrap("update user: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	old, err := scanUser(tx.QueryRowContext(ctx, qGetUser, id))
	if err != nil {
		return wrap("update user", err)
	}
	u, err := fn(*old)
	if err != nil {
		return fmt.Errorf("sqlite store: update user: %w", err)
	}
	u.ID = id
	res, err := tx.ExecContext(ctx, qUpdateUser, append(userArgs(&u), id)...)
	if err != nil {
		return wrap("update user", err)
	}
	if err := mustAffect("update user", res); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrap("update user: commit", err)
	}
	return nil
}

// RecordLogin writes a successful login in one transaction on the writer
// connection, with prepared statements: the conditional update, the
// counter resets and the login's new refresh-token family (store.Store).
func (s *Store) RecordLogin(ctx context.Context, p store.LoginRecord) (*store.User, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, wrap("record login: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	u, err := scanUser(tx.StmtContext(ctx, s.st.recordLogin).QueryRowContext(ctx, ms(p.At), p.NewHash, p.UserID, p.OldHash))
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE id = ?`, p.UserID).Scan(&one); err != nil {
			return nil, wrap("record login", err)
		}
		return nil, fmt.Errorf("sqlite store: record login: user changed: %w", store.ErrConflict)
	}
	if err != nil {
		return nil, wrap("record login", err)
	}
	if p.ResetAccount {
		if _, err := tx.StmtContext(ctx, s.st.resetFailures).ExecContext(ctx, p.UserID, ""); err != nil {
			return nil, wrap("record login: reset failures", err)
		}
	}
	if p.DeviceID != "" {
		if _, err := tx.StmtContext(ctx, s.st.resetFailures).ExecContext(ctx, p.UserID, p.DeviceID); err != nil {
			return nil, wrap("record login: reset device failures", err)
		}
	}
	if p.Family != nil {
		if _, err := tx.StmtContext(ctx, s.st.createRT).ExecContext(ctx, rtArgs(p.Family)...); err != nil {
			return nil, wrap("record login: create refresh token", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("record login: commit", err)
	}
	return u, nil
}

// DeleteUser removes the user; foreign keys cascade to its registrations,
// failure counters, refresh-token families and their rotations.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return wrap("delete user", err)
	}
	return mustAffect("delete user", res)
}

// ListUsers returns users oldest first, at most limit (<= 0: all).
func (s *Store) ListUsers(ctx context.Context, limit int) ([]*store.User, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.r.QueryContext(ctx, qListUsers, limit)
	if err != nil {
		return nil, wrap("list users", err)
	}
	return collect(rows, "list users", scanUser)
}

// GetLoginFailures returns one counter, zero when there is none.
func (s *Store) GetLoginFailures(ctx context.Context, userID, deviceID string) (store.LoginFailures, error) {
	var f store.LoginFailures
	var last int64
	err := s.r.QueryRowContext(ctx, `SELECT count, last_failure_at FROM login_failures WHERE user_id = ? AND device_id = ?`,
		userID, deviceID).Scan(&f.Count, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return store.LoginFailures{}, nil
	}
	if err != nil {
		return f, wrap("get login failures", err)
	}
	f.LastFailureAt = fromMS(last)
	return f, nil
}

// RecordLoginFailure counts one failure in a single upsert statement, which
// the single writer connection serialises.
func (s *Store) RecordLoginFailure(ctx context.Context, userID, deviceID string, now time.Time) (store.LoginFailures, error) {
	var f store.LoginFailures
	var last int64
	if err := s.w.QueryRowContext(ctx, qRecordLoginFailure, userID, deviceID, ms(now)).Scan(&f.Count, &last); err != nil {
		return f, wrap("record login failure", err)
	}
	f.LastFailureAt = fromMS(last)
	return f, nil
}

// ResetLoginFailures clears the account's and every device's counter.
func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE user_id = ?`, userID); err != nil {
		return wrap("reset login failures", err)
	}
	return nil
}
