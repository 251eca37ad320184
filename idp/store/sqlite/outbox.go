package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// enqueue inserts outbox messages in tx.
func enqueue(ctx context.Context, tx *sql.Tx, msgs []*store.OutboxMessage) error {
	for _, m := range msgs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_outbox (id, application_id, payload, created_at)
			VALUES (?, ?, ?, ?)`, m.ID, m.ApplicationID, m.Payload, ms(m.CreatedAt)); err != nil {
			return err
		}
	}
	return nil
}

// inTx runs fn in one write transaction (BEGIN IMMEDIATE on the writer).
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// EnqueueOutbox inserts messages, available at once.
func (s *Store) EnqueueOutbox(ctx context.Context, msgs []*store.OutboxMessage) error {
	if err := s.inTx(ctx, func(tx *sql.Tx) error { return enqueue(ctx, tx, msgs) }); err != nil {
		return wrap("enqueue outbox", err)
	}
	return nil
}

// ClaimOutbox leases up to limit available messages. SQLite has one
// writer, so the single UPDATE … RETURNING is the whole claim: no two
// claims can interleave. The lease is available_at moved to now+lease.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*store.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	// Senders poll: look on the read pool first, so an empty outbox never
	// takes the write lock from the refresh path.
	var one int
	switch err := s.r.QueryRowContext(ctx, `SELECT 1 FROM webhook_outbox WHERE available_at <= ? LIMIT 1`, ms(now)).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, wrap("claim outbox", err)
	}
	claim := rand.Text()
	rows, err := s.w.QueryContext(ctx, `UPDATE webhook_outbox SET available_at = ?, claim = ?
		WHERE id IN (SELECT id FROM webhook_outbox WHERE available_at <= ?
			ORDER BY available_at, created_at LIMIT ?)
		RETURNING id, application_id, payload, created_at, attempts, done, claim`,
		ms(now.Add(lease)), claim, ms(now), limit)
	if err != nil {
		return nil, wrap("claim outbox", err)
	}
	msgs, err := collect(rows, "claim outbox", func(sc scanner) (*store.OutboxMessage, error) {
		var m store.OutboxMessage
		var created int64
		var done string
		if err := sc.Scan(&m.ID, &m.ApplicationID, &m.Payload, &created, &m.Attempts, &done, &m.Claim); err != nil {
			return nil, err
		}
		m.CreatedAt = fromMS(created)
		var err error
		m.Done, err = fromStrs("done", done)
		return &m, err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order guarantee.
	sortByCreated(msgs)
	return msgs, nil
}

func sortByCreated(msgs []*store.OutboxMessage) {
	for i := 1; i < len(msgs); i++ {
		for j := i; j > 0 && msgs[j].CreatedAt.Before(msgs[j-1].CreatedAt); j-- {
			msgs[j], msgs[j-1] = msgs[j-1], msgs[j]
		}
	}
}

// CountOutbox counts the messages waiting, claiming none.
func (s *Store) CountOutbox(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM webhook_outbox`).Scan(&n); err != nil {
		return 0, wrap("count outbox", err)
	}
	return n, nil
}

// CompleteOutbox deletes a message still held by claim.
func (s *Store) CompleteOutbox(ctx context.Context, id, claim string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE id = ? AND claim = ?`, id, claim)
	if err != nil {
		return wrap("complete outbox", err)
	}
	return s.claimHeld(ctx, "complete outbox", id, res)
}

// ReleaseOutbox ends m's claim and makes it available again at at.
func (s *Store) ReleaseOutbox(ctx context.Context, m *store.OutboxMessage, at time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE webhook_outbox SET claim = '', attempts = ?, done = ?, available_at = ?
		WHERE id = ? AND claim = ?`, m.Attempts, strs(m.Done), ms(at), m.ID, m.Claim)
	if err != nil {
		return wrap("release outbox", err)
	}
	return s.claimHeld(ctx, "release outbox", m.ID, res)
}

// claimHeld maps a write that matched no row to ErrNotFound (the message
// is gone) or ErrConflict (another sender holds it).
func (s *Store) claimHeld(ctx context.Context, op, id string, res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n > 0 {
		return nil
	}
	var one int
	if err := s.w.QueryRowContext(ctx, `SELECT 1 FROM webhook_outbox WHERE id = ?`, id).Scan(&one); err != nil {
		return wrap(op, err)
	}
	return fmt.Errorf("sqlite store: %s: %w", op, store.ErrConflict)
}

// deleteNotify deletes the families q selects (q ends in RETURNING id,
// user_id)
// and enqueues notify's messages in the same transaction. With once, an
// empty deletion calls no notify and answers ErrNotFound.
func (s *Store) deleteNotify(ctx context.Context, op, q string, notify store.Notify, once bool, args ...any) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		got, err := collect(rows, op, func(sc scanner) (*store.DeletedFamily, error) {
			var f store.DeletedFamily
			return &f, sc.Scan(&f.ID, &f.UserID)
		})
		if err != nil {
			return err
		}
		ids = make([]string, len(got))
		deleted := make([]store.DeletedFamily, len(got))
		for i, f := range got {
			ids[i], deleted[i] = f.ID, *f
		}
		if once && len(ids) == 0 {
			return sql.ErrNoRows
		}
		if notify == nil {
			return nil
		}
		msgs, err := notify(deleted)
		if err != nil {
			return fmt.Errorf("build outbox messages: %w", err)
		}
		return enqueue(ctx, tx, msgs)
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return ids, nil
}
