package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// execer is what enqueue needs: the pool or a transaction.
type execer interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// enqueue inserts outbox messages through q, in q's transaction if it is one.
func enqueue(ctx context.Context, q execer, msgs []*store.OutboxMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, m := range msgs {
		b.Queue(`INSERT INTO webhook_outbox (id, application_id, payload, created_at) VALUES ($1, $2, $3, $4)`,
			m.ID, m.ApplicationID, m.Payload, m.CreatedAt)
	}
	return b2err(q.SendBatch(ctx, b), len(msgs))
}

func b2err(br pgx.BatchResults, n int) error {
	for i := 0; i < n; i++ {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	return br.Close()
}

// EnqueueOutbox inserts messages, available at once.
func (s *Store) EnqueueOutbox(ctx context.Context, msgs []*store.OutboxMessage) error {
	return wrap("enqueue outbox", s.inTx(ctx, func(tx pgx.Tx) error { return enqueue(ctx, tx, msgs) }))
}

// ClaimOutbox leases up to limit available messages. FOR UPDATE SKIP
// LOCKED lets several IdP processes claim at once without waiting for or
// returning each other's rows; the lease is available_at moved to
// now+lease, so a claimer that dies gives its rows back when it ends.
func (s *Store) ClaimOutbox(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*store.OutboxMessage, error) {
	if limit <= 0 {
		return nil, nil
	}
	claim := rand.Text()
	rows, err := s.pool.Query(ctx, `UPDATE webhook_outbox o SET available_at = $2, claim = $3
		FROM (SELECT id FROM webhook_outbox WHERE available_at <= $1
			ORDER BY available_at, created_at LIMIT $4 FOR UPDATE SKIP LOCKED) c
		WHERE o.id = c.id
		RETURNING o.id, o.application_id, o.payload, o.created_at, o.attempts, o.done, o.claim`,
		now, now.Add(lease), claim, limit)
	if err != nil {
		return nil, wrap("claim outbox", err)
	}
	msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*store.OutboxMessage, error) {
		var m store.OutboxMessage
		if err := r.Scan(&m.ID, &m.ApplicationID, &m.Payload, (*zt)(&m.CreatedAt), &m.Attempts, &m.Done, &m.Claim); err != nil {
			return nil, err
		}
		if len(m.Done) == 0 {
			m.Done = nil
		}
		return &m, nil
	})
	if err != nil {
		return nil, wrap("claim outbox", err)
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].CreatedAt.Before(msgs[j].CreatedAt) })
	return msgs, nil
}

// CountOutbox counts the messages waiting, claiming none.
func (s *Store) CountOutbox(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_outbox`).Scan(&n); err != nil {
		return 0, wrap("count outbox", err)
	}
	return n, nil
}

// CompleteOutbox deletes a message still held by claim.
func (s *Store) CompleteOutbox(ctx context.Context, id, claim string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_outbox WHERE id = $1 AND claim = $2`, id, claim)
	if err != nil {
		return wrap("complete outbox", err)
	}
	if tag.RowsAffected() == 0 {
		return s.lostClaim(ctx, "complete outbox", id)
	}
	return nil
}

// ReleaseOutbox ends m's claim and makes it available again at at.
func (s *Store) ReleaseOutbox(ctx context.Context, m *store.OutboxMessage, at time.Time) error {
	done := m.Done
	if done == nil {
		done = []string{}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE webhook_outbox SET claim = '', attempts = $3, done = $4, available_at = $5
		WHERE id = $1 AND claim = $2`, m.ID, m.Claim, m.Attempts, done, at)
	if err != nil {
		return wrap("release outbox", err)
	}
	if tag.RowsAffected() == 0 {
		return s.lostClaim(ctx, "release outbox", m.ID)
	}
	return nil
}

// lostClaim tells a message that is gone from one claimed by someone else.
func (s *Store) lostClaim(ctx context.Context, op, id string) error {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM webhook_outbox WHERE id = $1`, id).Scan(&one)
	if err != nil {
		return wrap(op, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, store.ErrConflict)
}

// deleteNotify runs a family deletion and the enqueueing of notify's
// messages in one transaction.
func (s *Store) deleteNotify(ctx context.Context, op, where string, notify store.Notify, args ...any) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM refresh_tokens WHERE `+where+` RETURNING id, user_id`, args...)
		if err != nil {
			return err
		}
		deleted, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.DeletedFamily])
		if err != nil {
			return err
		}
		sort.Slice(deleted, func(i, j int) bool { return deleted[i].ID < deleted[j].ID })
		ids = make([]string, len(deleted))
		for i, f := range deleted {
			ids[i] = f.ID
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
