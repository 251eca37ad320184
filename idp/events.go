package idp

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// Event tells apps that a user's tokens or account changed, so they can end
// that user's sessions (scenario S10). Its Type is one of the webhook
// package's event types.
type Event struct {
	// ID is the event id, as in the outbox and on the wire.
	ID              string   `json:"id"`
	Type            string   `json:"type"`
	UserID          string   `json:"userId"`
	ApplicationID   string   `json:"applicationId,omitempty"` // empty: every application
	RefreshTokenIDs []string `json:"refreshTokenIds,omitempty"`
	Reason          string   `json:"reason,omitempty"`
	CreateInstant   int64    `json:"createInstant"` // epoch ms
}

// Wire returns e in its delivery form.
func (e Event) Wire() webhook.Event {
	return webhook.Event{
		ID: e.ID, Type: e.Type, CreateInstant: e.CreateInstant, ApplicationID: e.ApplicationID,
		UserID: e.UserID, RefreshTokenIDs: e.RefreshTokenIDs, Reason: e.Reason,
	}.Normalize()
}

// EventSink is told about events once they are committed to the store's
// outbox, which is what carries them to the apps (a webhook sender claims
// them from there, also after a restart). For a sender, Publish is a
// wake-up call; for tests, a record. It must not block for long.
type EventSink interface {
	Publish(ctx context.Context, e Event)
}

// announcement turns one revocation into the outbox messages announcing it,
// inside the deletion's transaction (store.Notify), and publishes them to
// the sink after the commit.
type announcement struct {
	s      *core
	tmpl   Event
	events []Event
}

// announce prepares the announcement of an event like tmpl.
func (s *core) announce(tmpl Event) *announcement { return &announcement{s: s, tmpl: tmpl} }

// notify is the store.Notify: one event per webhook.MaxIDsPerEvent ids
// deleted, so no body outgrows a receiver's limit however many families a
// revocation ends (AUD-8); one event without ids when none were. A
// revocation that names no user (every family of an application) is
// announced per user, so an app can end each user's sessions.
func (a *announcement) notify(deleted []store.DeletedFamily) ([]*store.OutboxMessage, error) {
	a.events = a.events[:0]
	now := a.s.now()
	var users []string
	byUser := map[string][]string{}
	for _, f := range deleted {
		u := a.tmpl.UserID
		if u == "" {
			u = f.UserID
		}
		if _, ok := byUser[u]; !ok {
			users = append(users, u)
		}
		byUser[u] = append(byUser[u], f.ID)
	}
	if len(users) == 0 {
		users = []string{a.tmpl.UserID}
	}
	var msgs []*store.OutboxMessage
	for _, u := range users {
		ids := byUser[u]
		for first := true; first || len(ids) > 0; first = false {
			n := min(len(ids), webhook.MaxIDsPerEvent)
			e := a.tmpl
			e.ID = uuid.NewString()
			e.UserID = u
			e.CreateInstant = now.UnixMilli()
			e.RefreshTokenIDs = ids[:n:n]
			ids = ids[n:]
			body, err := webhook.Marshal(e.Wire())
			if err != nil {
				return nil, fmt.Errorf("announce %s: %w", e.Type, err)
			}
			msgs = append(msgs, &store.OutboxMessage{ID: e.ID, ApplicationID: e.ApplicationID, Payload: body, CreatedAt: now})
			a.events = append(a.events, e)
		}
	}
	return msgs, nil
}

// publish logs the committed events and hands them to the sink.
func (a *announcement) publish(ctx context.Context) {
	for _, e := range a.events {
		a.s.log.LogAttrs(ctx, slog.LevelInfo, "event", slog.String("type", e.Type), slog.String("eventId", e.ID),
			slog.String("userId", e.UserID), slog.String("applicationId", e.ApplicationID), slog.String("reason", e.Reason),
			slog.Int("refreshTokenIds", len(e.RefreshTokenIDs)))
		if a.s.events != nil {
			a.s.events.Publish(ctx, e)
		}
	}
}

// endFamily deletes one refresh-token family and enqueues its
// revocation event in the same transaction. ErrNotFound if it is already
// gone (whoever deleted it announced it).
func (s *core) endFamily(ctx context.Context, fam *store.RefreshToken, reason string) error {
	an := s.announce(Event{Type: webhook.EventRefreshTokenRevoke, UserID: fam.UserID, ApplicationID: fam.ApplicationID, Reason: reason})
	if err := s.store.DeleteRefreshToken(ctx, fam.ID, an.notify); err != nil {
		return fmt.Errorf("revoke refresh token family: %w", err)
	}
	an.publish(ctx)
	return nil
}

// revokeUserAs deletes the user's refresh tokens (for one application or
// all) and enqueues the event tmpl, listing the families, in the same
// transaction.
func (s *core) revokeUserAs(ctx context.Context, userID, appID string, tmpl Event) ([]string, error) {
	an := s.announce(tmpl)
	ids, err := s.store.DeleteRefreshTokensByUser(ctx, userID, appID, an.notify)
	if err != nil {
		return nil, fmt.Errorf("revoke user tokens: %w", err)
	}
	an.publish(ctx)
	return ids, nil
}

// revokeUser deletes the user's refresh tokens (for one application or
// all) and enqueues the revocation event with them.
func (s *core) revokeUser(ctx context.Context, userID, appID, reason string) ([]string, error) {
	return s.revokeUserAs(ctx, userID, appID, Event{Type: webhook.EventRefreshTokenRevoke, UserID: userID, ApplicationID: appID, Reason: reason})
}
