package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const userCols = `id, email, username, first_name, last_name, full_name, password_hash, active, verified,
	data, password_change_required, password_updated_at, expiry, last_login_at, created_at, locked_until,
	tokens_revoked_before`

const (
	qGetUser = `SELECT ` + userCols + ` FROM users WHERE id = ?`
	// Each OR branch repeats its partial index's condition so the planner
	// can use users_email and users_username; an e-mail match wins over a
	// username match.
	qGetUserByLogin = `SELECT ` + userCols + ` FROM users
	WHERE (email = ?1 AND email <> '') OR (username = ?2 AND username <> '')
	ORDER BY email = ?1 DESC LIMIT 1`
	qInsertUser = `INSERT INTO users (` + userCols + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qUpdateUser = `UPDATE users SET email = ?, username = ?, first_name = ?, last_name = ?, full_name = ?,
	password_hash = ?, active = ?, verified = ?, data = ?, password_change_required = ?,
	password_updated_at = ?, expiry = ?, last_login_at = ?, created_at = ?, locked_until = ?,
	tokens_revoked_before = ?
	WHERE id = ?`
	qListUsers = `SELECT ` + userCols + ` FROM users ORDER BY created_at, rowid LIMIT ?`
	// A failure at or after window_start+window starts a new window at 1.
	// All SET expressions see the old row, so both CASEs test the same thing.
	qRecordLoginFailure = `INSERT INTO login_failures (user_id, window_start, count) VALUES (?1, ?2, 1)
	ON CONFLICT (user_id) DO UPDATE SET
		count = CASE WHEN ?2 >= window_start + ?3 THEN 1 ELSE count + 1 END,
		window_start = CASE WHEN ?2 >= window_start + ?3 THEN ?2 ELSE window_start END
	RETURNING count`
)

// normEmail is how e-mails are stored and looked up: lower-cased with
// Unicode case mapping, which SQLite's built-in lower() does not do.
func normEmail(e string) string { return strings.ToLower(e) }

func scanUser(sc scanner) (*store.User, error) {
	var u store.User
	var data []byte
	var pwUpdated, expiry, lastLogin, created, locked, revoked int64
	if err := sc.Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.FullName,
		&u.PasswordHash, &u.Active, &u.Verified, &data, &u.PasswordChangeRequired,
		&pwUpdated, &expiry, &lastLogin, &created, &locked, &revoked); err != nil {
		return nil, err
	}
	if data != nil {
		u.Data = data
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
		ms(u.TokensRevokedBefore)}
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
	u, err := scanUser(s.st.getUser.QueryRowContext(hot(ctx), id))
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
	u, err := scanUser(s.st.getUserByLogin.QueryRowContext(hot(ctx), normEmail(login), login))
	if err != nil {
		return nil, wrap("get user by login", err)
	}
	return u, nil
}

// UpdateUser replaces every field of the stored user with u's.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	args := append(userArgs(u), u.ID)
	res, err := s.w.ExecContext(ctx, qUpdateUser, args...)
	if err != nil {
		return wrap("update user", err)
	}
	return mustAffect("update user", res)
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

// RecordLoginFailure counts one failure in a single upsert statement, which
// the single writer connection serialises.
func (s *Store) RecordLoginFailure(ctx context.Context, userID string, now time.Time, window time.Duration) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, qRecordLoginFailure, userID, ms(now), window.Milliseconds()).Scan(&n)
	if err != nil {
		return 0, wrap("record login failure", err)
	}
	return n, nil
}

// ResetLoginFailures clears the user's failure count.
func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM login_failures WHERE user_id = ?`, userID); err != nil {
		return wrap("reset login failures", err)
	}
	return nil
}
