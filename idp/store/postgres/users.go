package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const userColumns = `id, email, username, first_name, last_name, full_name, password_hash,
	active, verified, data, password_change_required, password_updated_at, expiry,
	last_login_at, created_at, locked_until, tokens_revoked_before`

func scanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.FullName, &u.PasswordHash,
		&u.Active, &u.Verified, &u.Data, &u.PasswordChangeRequired, (*zt)(&u.PasswordUpdatedAt), (*zt)(&u.Expiry),
		(*zt)(&u.LastLoginAt), (*zt)(&u.CreatedAt), (*zt)(&u.LockedUntil), (*zt)(&u.TokensRevokedBefore))
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// userArgs lists u's fields in userColumns order; the email is stored
// lower-cased so lookups and the unique index are case-insensitive.
func userArgs(u *store.User) []any {
	var data []byte
	if u.Data != nil {
		data = []byte(u.Data)
	}
	return []any{u.ID, strings.ToLower(u.Email), u.Username, u.FirstName, u.LastName, u.FullName, u.PasswordHash,
		u.Active, u.Verified, data, u.PasswordChangeRequired, ts(u.PasswordUpdatedAt), ts(u.Expiry),
		ts(u.LastLoginAt), ts(u.CreatedAt), ts(u.LockedUntil), ts(u.TokensRevokedBefore)}
}

// CreateUser inserts u; ErrDuplicate if its id, email or username is taken.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`, userArgs(u)...)
	return wrap("create user", err)
}

// GetUser returns the user by id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, wrap("get user", err)
}

// GetUserByLogin returns the user whose email (case-insensitive) or
// username equals login; an email match wins over a username match.
func (s *Store) GetUserByLogin(ctx context.Context, login string) (*store.User, error) {
	if login == "" {
		return nil, notFound("get user by login")
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users
		WHERE email = $1 OR username = $2
		ORDER BY (email = $1) DESC LIMIT 1`, strings.ToLower(login), login))
	return u, wrap("get user by login", err)
}

// UpdateUser replaces every stored field of the user keyed by u.ID.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	tag, err := s.pool.Exec(ctx, `UPDATE users SET (`+userColumns+`)
		= ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		WHERE id = $1`, userArgs(u)...)
	if err != nil {
		return wrap("update user", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("update user")
	}
	return nil
}

// DeleteUser removes the user; the foreign keys cascade to its
// registrations, refresh-token families and their rotation records, and the
// failure counter lives in the user's row.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
	if err != nil {
		return wrap("delete user", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("delete user")
	}
	return nil
}

// ListUsers returns users oldest first, at most limit (<= 0: all).
func (s *Store) ListUsers(ctx context.Context, limit int) ([]*store.User, error) {
	q := `SELECT ` + userColumns + ` FROM users ORDER BY created_at NULLS FIRST, seq`
	args := []any{}
	if limit > 0 {
		q += ` LIMIT $1`
		args = append(args, limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap("list users", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.User, error) { return scanUser(r) })
	return users, wrap("list users", err)
}

// RecordLoginFailure counts one failure in a single UPDATE of the user's
// row, so concurrent failures on several IdP processes are all counted (the
// row lock serialises them). A failure at or after
// failure_window_start+window starts a new window at 1.
func (s *Store) RecordLoginFailure(ctx context.Context, userID string, now time.Time, window time.Duration) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `UPDATE users SET
			failure_count = CASE WHEN failure_window_start IS NULL
					OR $2 >= failure_window_start + $3::bigint * interval '1 microsecond'
				THEN 1 ELSE failure_count + 1 END,
			failure_window_start = CASE WHEN failure_window_start IS NULL
					OR $2 >= failure_window_start + $3::bigint * interval '1 microsecond'
				THEN $2 ELSE failure_window_start END
		WHERE id = $1
		RETURNING failure_count`, userID, now, window.Microseconds()).Scan(&n)
	return n, wrap("record login failure", err)
}

// ResetLoginFailures clears the user's failure count.
func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE users SET failure_count = 0, failure_window_start = NULL WHERE id = $1`, userID)
	return wrap("reset login failures", err)
}
