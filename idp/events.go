package idp

import (
	"context"
	"log/slog"
)

// Event names, FusionAuth's where FusionAuth has one.
const (
	// EventRefreshTokenRevoke: one or more refresh-token families ended
	// (logout, reuse detected, admin, "sign out everywhere").
	EventRefreshTokenRevoke = "jwt.refresh-token.revoke"
	// EventUserDeactivate: the user can no longer log in.
	EventUserDeactivate = "user.deactivate"
	// EventUserDelete: the user was deleted.
	EventUserDelete = "user.delete"
	// EventUserPasswordUpdate: the password changed; the user's grants were
	// revoked.
	EventUserPasswordUpdate = "user.password.update"
	// EventUserLoginFailed is not sent to apps; it exists for logs/metrics.
)

// Event tells apps that a user's tokens or account changed, so they can end
// that user's sessions (scenario S10).
type Event struct {
	Type            string   `json:"type"`
	UserID          string   `json:"userId"`
	ApplicationID   string   `json:"applicationId,omitempty"` // empty: every application
	RefreshTokenIDs []string `json:"refreshTokenIds,omitempty"`
	Reason          string   `json:"reason,omitempty"`
	CreateInstant   int64    `json:"createInstant"` // epoch ms
}

// EventSink receives revocation events. Publish must not block for long:
// a sink that delivers over the network queues and retries on its own.
type EventSink interface {
	Publish(ctx context.Context, e Event)
}

// emit stamps and publishes an event and logs it.
func (s *core) emit(ctx context.Context, e Event) {
	e.CreateInstant = s.now().UnixMilli()
	s.log.LogAttrs(ctx, slog.LevelInfo, "event", slog.String("type", e.Type),
		slog.String("userId", e.UserID), slog.String("applicationId", e.ApplicationID), slog.String("reason", e.Reason))
	if s.events != nil {
		s.events.Publish(ctx, e)
	}
}
