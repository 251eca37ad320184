package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const ticketColumns = `hash, kind, user_id, application_id, data, attempts, created_at, expires_at`

// ticketSelect reads ticketColumns; a ticket without a user (user_id
// NULL) reads as UserID "".
const ticketSelect = `hash, kind, COALESCE(user_id, ''), application_id, data, attempts, created_at, expires_at`

func scanTicket(row pgx.Row) (*store.Ticket, error) {
	var t store.Ticket
	var data []byte
	if err := row.Scan(&t.Hash, &t.Kind, &t.UserID, &t.ApplicationID, &data, &t.Attempts,
		(*zt)(&t.CreatedAt), (*zt)(&t.ExpiresAt)); err != nil {
		return nil, err
	}
	if data != nil {
		t.Data = data
	}
	return &t, nil
}

// CreateTicket inserts t; ErrDuplicate if its hash exists, ErrNotFound if
// its user does not.
func (s *Store) CreateTicket(ctx context.Context, t *store.Ticket) error {
	// A nil json.RawMessage would be sent as the JSON literal null (it is
	// a json.Marshaler); a nil []byte is SQL NULL. ExpiresAt is sent as
	// is: the column is NOT NULL and a zero time is simply long expired.
	var data []byte
	if t.Data != nil {
		data = []byte(t.Data)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tickets (`+ticketColumns+`) VALUES ($1, $2, NULLIF($3, ''), $4, $5, $6, $7, $8)`,
		t.Hash, t.Kind, t.UserID, t.ApplicationID, data, t.Attempts, ts(t.CreatedAt), t.ExpiresAt)
	return wrap("create ticket", err)
}

// GetTicket returns the live ticket of that kind and hash.
func (s *Store) GetTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*store.Ticket, error) {
	t, err := scanTicket(s.pool.QueryRow(ctx, `SELECT `+ticketSelect+` FROM tickets
		WHERE hash = $1 AND kind = $2 AND expires_at > $3`, hash, kind, now))
	return t, wrap("get ticket", err)
}

// TakeTicket deletes and returns the live ticket in one DELETE …
// RETURNING: a concurrent taker waits for the row lock, then finds the row
// gone, so exactly one of them gets it (on any IdP process).
func (s *Store) TakeTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*store.Ticket, error) {
	t, err := scanTicket(s.pool.QueryRow(ctx, `DELETE FROM tickets
		WHERE hash = $1 AND kind = $2 AND expires_at > $3 RETURNING `+ticketSelect, hash, kind, now))
	return t, wrap("take ticket", err)
}

// FailTicket counts one failed use in one transaction: the UPDATE holds
// the row lock until the delete at maxAttempts commits with it, so
// concurrent failures are all counted and none outlives the limit.
func (s *Store) FailTicket(ctx context.Context, kind string, hash []byte, now time.Time, maxAttempts int) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `UPDATE tickets SET attempts = attempts + 1
			WHERE hash = $1 AND kind = $2 AND expires_at > $3 RETURNING attempts`, hash, kind, now).Scan(&n); err != nil {
			return err
		}
		if n >= maxAttempts {
			if _, err := tx.Exec(ctx, `DELETE FROM tickets WHERE hash = $1`, hash); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, wrap("fail ticket", err)
	}
	return n, nil
}

// DeleteTickets removes the user's tickets of the kinds (all when none).
func (s *Store) DeleteTickets(ctx context.Context, userID string, kinds ...string) (int, error) {
	q, args := `DELETE FROM tickets WHERE user_id = $1`, []any{userID}
	if len(kinds) > 0 {
		q += ` AND kind = ANY($2)`
		args = append(args, kinds)
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, wrap("delete tickets", err)
	}
	return int(tag.RowsAffected()), nil
}

// CountTickets counts the user's tickets of the kind created at or after
// since, live or not.
func (s *Store) CountTickets(ctx context.Context, userID, kind string, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE user_id = $1 AND kind = $2 AND created_at >= $3`,
		userID, kind, since).Scan(&n)
	if err != nil {
		return 0, wrap("count tickets", err)
	}
	return n, nil
}

// DeleteExpiredTickets removes the tickets with ExpiresAt <= now.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tickets WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, wrap("delete expired tickets", err)
	}
	return int(tag.RowsAffected()), nil
}
