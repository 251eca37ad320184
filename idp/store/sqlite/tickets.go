package sqlite

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// errTicketsTODO marks the ticket operations not written yet (issue 11).
var errTicketsTODO = errors.New("sqlite: tickets not implemented yet")

// CreateTicket implements store.TicketStore.
func (s *Store) CreateTicket(ctx context.Context, t *store.Ticket) error { return errTicketsTODO }

// GetTicket implements store.TicketStore.
func (s *Store) GetTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*store.Ticket, error) {
	return nil, errTicketsTODO
}

// TakeTicket implements store.TicketStore.
func (s *Store) TakeTicket(ctx context.Context, kind string, hash []byte, now time.Time) (*store.Ticket, error) {
	return nil, errTicketsTODO
}

// FailTicket implements store.TicketStore.
func (s *Store) FailTicket(ctx context.Context, kind string, hash []byte, now time.Time, maxAttempts int) (int, error) {
	return 0, errTicketsTODO
}

// DeleteTickets implements store.TicketStore.
func (s *Store) DeleteTickets(ctx context.Context, userID string, kinds ...string) (int, error) {
	return 0, errTicketsTODO
}

// CountTickets implements store.TicketStore.
func (s *Store) CountTickets(ctx context.Context, userID, kind string, since time.Time) (int, error) {
	return 0, errTicketsTODO
}

// DeleteExpiredTickets implements store.TicketStore.
func (s *Store) DeleteExpiredTickets(ctx context.Context, now time.Time) (int, error) {
	return 0, errTicketsTODO
}
