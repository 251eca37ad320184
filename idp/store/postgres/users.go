package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const userColumns = `id, email, username, first_name, last_name, full_name, password_hash,
	active, verified, data, password_change_required, password_updated_at, expiry,
	last_login_at, created_at, locked_until, tokens_revoked_before, multi_factor`

func scanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	var mf []byte
	err := row.Scan(&u.ID, &u.Email, &u.Username, &u.FirstName, &u.LastName, &u.FullName, &u.PasswordHash,
		&u.Active, &u.Verified, &u.Data, &u.PasswordChangeRequired, (*zt)(&u.PasswordUpdatedAt), (*zt)(&u.Expiry),
		(*zt)(&u.LastLoginAt), (*zt)(&u.CreatedAt), (*zt)(&u.LockedUntil), (*zt)(&u.TokensRevokedBefore), &mf)
	if err != nil {
		return nil, err
	}
	if mf != nil {
		u.MultiFactor = mf
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
	// A nil json.RawMessage would be sent as the JSON literal null (it is
	// a json.Marshaler); a nil []byte is SQL NULL.
	var mf []byte
	if u.MultiFactor != nil {
		mf = []byte(u.MultiFactor)
	}
	return []any{u.ID, strings.ToLower(u.Email), u.Username, u.FirstName, u.LastName, u.FullName, u.PasswordHash,
		u.Active, u.Verified, data, u.PasswordChangeRequired, ts(u.PasswordUpdatedAt), ts(u.Expiry),
		ts(u.LastLoginAt), ts(u.CreatedAt), ts(u.LockedUntil), ts(u.TokensRevokedBefore), mf}
}

// CreateUser inserts u; ErrDuplicate if its id, email or username is taken.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`, userArgs(u)...)
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

// UpdateUser runs fn on the row read with SELECT ... FOR UPDATE and writes
// its result in the same transaction: concurrent updates of the user (on
// any IdP process) wait for the row lock, so none is lost.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(old store.User) (store.User, error)) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap("update user: begin", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	old, err := scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return wrap("update user", err)
	}
	u, err := fn(*old)
	if err != nil {
		return fmt.Errorf("postgres: update user: %w", err)
	}
	u.ID = id
	tag, err := tx.Exec(ctx, `UPDATE users SET (`+userColumns+`)
		= ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		WHERE id = $1`, userArgs(&u)...)
	if err != nil {
		return wrap("update user", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("update user")
	}
	return wrap("update user: commit", tx.Commit(ctx))
}

// RecordLogin is one transaction: the conditional update of the user row
// (still active, hash unchanged; the row lock orders it against a
// concurrent deactivation), the counter resets and the login's new
// refresh-token family.
func (s *Store) RecordLogin(ctx context.Context, p store.LoginRecord) (*store.User, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, wrap("record login: begin", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	u, err := scanUser(tx.QueryRow(ctx, `UPDATE users SET last_login_at = $1,
			password_hash = CASE WHEN $2 <> '' THEN $2 ELSE password_hash END
		WHERE id = $3 AND active AND password_hash = $4
		RETURNING `+userColumns, p.At, p.NewHash, p.UserID, p.OldHash))
	if errors.Is(err, pgx.ErrNoRows) {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, p.UserID).Scan(&one); err != nil {
			return nil, wrap("record login", err)
		}
		return nil, fmt.Errorf("postgres: record login: user changed: %w", store.ErrConflict)
	}
	if err != nil {
		return nil, wrap("record login", err)
	}
	if p.ResetAccount {
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE user_id = $1 AND device_id = ''`, p.UserID); err != nil {
			return nil, wrap("record login: reset failures", err)
		}
	}
	if p.DeviceID != "" {
		if _, err := tx.Exec(ctx, `DELETE FROM login_failures WHERE user_id = $1 AND device_id = $2`, p.UserID, p.DeviceID); err != nil {
			return nil, wrap("record login: reset device failures", err)
		}
	}
	if p.Family != nil {
		if _, err := tx.Exec(ctx, qCreateRefreshToken, rtArgs(p.Family)...); err != nil {
			return nil, wrap("record login: create refresh token", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, wrap("record login: commit", err)
	}
	return u, nil
}

// DeleteUser removes the user; the foreign keys cascade to its
// registrations, failure counters, refresh-token families and their
// rotation records.
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

// GetLoginFailures returns one counter, zero when there is none.
func (s *Store) GetLoginFailures(ctx context.Context, userID, deviceID string) (store.LoginFailures, error) {
	var f store.LoginFailures
	err := s.pool.QueryRow(ctx, `SELECT count, last_failure_at FROM login_failures WHERE user_id = $1 AND device_id = $2`,
		userID, deviceID).Scan(&f.Count, &f.LastFailureAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.LoginFailures{}, nil
	}
	return f, wrap("get login failures", err)
}

// RecordLoginFailure counts one failure in a single upsert, so concurrent
// failures on several IdP processes are all counted (the row lock
// serialises them).
func (s *Store) RecordLoginFailure(ctx context.Context, userID, deviceID string, now time.Time) (store.LoginFailures, error) {
	var f store.LoginFailures
	err := s.pool.QueryRow(ctx, `INSERT INTO login_failures (user_id, device_id, count, last_failure_at) VALUES ($1, $2, 1, $3)
		ON CONFLICT (user_id, device_id) DO UPDATE SET count = login_failures.count + 1, last_failure_at = $3
		RETURNING count, last_failure_at`, userID, deviceID, now).Scan(&f.Count, &f.LastFailureAt)
	return f, wrap("record login failure", err)
}

// ResetLoginFailures clears the account's and every device's counter.
func (s *Store) ResetLoginFailures(ctx context.Context, userID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE user_id = $1`, userID)
	return wrap("reset login failures", err)
}
