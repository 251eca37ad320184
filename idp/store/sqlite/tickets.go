package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

const ticketCols = `hash, kind, user_id, application_id, data, attempts, created_at, expires_at`

// ticketSelect reads ticketCols; a ticket without a user (user_id NULL)
// reads as UserID "".
const ticketSelect = `hash, kind, COALESCE(user_id, ''), application_id, data, attempts, created_at, expires_at`

const (
	qTakeTicket = `DELETE FROM tickets
		WHERE hash = ? AND kind = ? AND expires_at > ? RETURNING ` + ticketSelect
	qCountTickets         = `SELECT count(*) FROM tickets WHERE user_id = ? AND kind = ? AND created_at >= ?`
	qDeleteExpiredTickets = `DELETE FROM tickets WHERE expires_at <= ?`
)

func scanTicket(sc scanner) (*store.Ticket, error) {
	var t store.Ticket
	var data []byte
	var created, expires int64
	if err := sc.Scan(&t.Hash, &t.Kind, &t.UserID, &t.ApplicationID, &data, &t.Attempts, &created, &expires); err != nil {
		return nil, err
	}
	if data != nil {
		t.Data = data
	}
	t.CreatedAt, t.ExpiresAt = fromMS(created), fromMS(expires)
	return &t, nil
}

// CreateTicket inserts t; ErrDuplicate if its hash exists, ErrNotFound if
// its user does not.
func (s *Store) CreateTicket(ctx context.Context, t *store.Ticket) error {
	if _, err := s.w.ExecContext(ctx, `INSERT INTO tickets (`+ticketCols+`) VALUES (?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?)`,
		t.Hash, t.Kind, t.UserID, t.ApplicationID, nullText(t.Data), t.Attempts, ms(t.CreatedAt), ms(t.ExpiresAt)); err != nil {
		return wrap("create ticket", err)
	}
	return nil
}

// GetTicket returns the live ticket of that kind and hash.
func (s *Store) GetTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*store.Ticket, error) {
	t, err := scanTicket(s.r.QueryRowContext(ctx, `SELECT `+ticketSelect+` FROM tickets
		WHERE hash = ? AND kind = ? AND expires_at > ?`, hash, kind, ms(now)))
	if err != nil {
		return nil, wrap("get ticket", err)
	}
	return t, nil
}

// TakeTicket deletes and returns the live ticket in one DELETE …
// RETURNING on the single writer connection: of concurrent takers only
// the first finds the row.
func (s *Store) TakeTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*store.Ticket, error) {
	t, err := scanTicket(s.w.QueryRowContext(ctx, qTakeTicket, hash, kind, ms(now)))
	if err != nil {
		return nil, wrap("take ticket", err)
	}
	return t, nil
}

// FailTicket counts one failed use in a write transaction: the increment,
// and the delete when the count reaches maxAttempts, commit together.
func (s *Store) FailTicket(ctx context.Context, kind string, hash []byte, now time.Time, maxAttempts int) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, wrap("fail ticket: begin", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var n int
	if err := tx.QueryRowContext(ctx, `UPDATE tickets SET attempts = attempts + 1
		WHERE hash = ? AND kind = ? AND expires_at > ? RETURNING attempts`, hash, kind, ms(now)).Scan(&n); err != nil {
		return 0, wrap("fail ticket", err)
	}
	if n >= maxAttempts {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tickets WHERE hash = ?`, hash); err != nil {
			return 0, wrap("fail ticket: delete", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, wrap("fail ticket: commit", err)
	}
	return n, nil
}

// DeleteTickets removes the user's tickets of the kinds (all when none).
func (s *Store) DeleteTickets(ctx context.Context, userID string, kinds ...string) (int, error) {
	q := `DELETE FROM tickets WHERE user_id = ?`
	args := []any{userID}
	if len(kinds) > 0 {
		q += ` AND kind IN (?` + strings.Repeat(", ?", len(kinds)-1) + `)`
		for _, k := range kinds {
			args = append(args, k)
		}
	}
	res, err := s.w.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, wrap("delete tickets", err)
	}
	return affected("delete tickets", res)
}

// CountTickets counts the user's tickets of the kind created at or after
// since, live or not.
func (s *Store) CountTickets(ctx context.Context, userID, kind string, since time.Time) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, qCountTickets, userID, kind, ms(since)).Scan(&n); err != nil {
		return 0, wrap("count tickets", err)
	}
	return n, nil
}

// DeleteExpiredTickets removes the tickets with ExpiresAt <= now.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, qDeleteExpiredTickets, ms(now))
	if err != nil {
		return 0, wrap("delete expired tickets", err)
	}
	return affected("delete expired tickets", res)
}

// affected returns how many rows a write changed.
func affected(op string, res sql.Result) (int, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}
