package webhook

import (
	"encoding/json"
	"fmt"

	"github.com/gatehouse-auth/gatehouse/idp"
)

// Event names, re-exported from package idp so receivers need not import
// the identity server.
const (
	EventRefreshTokenRevoke = idp.EventRefreshTokenRevoke
	EventUserDeactivate     = idp.EventUserDeactivate
	EventUserDelete         = idp.EventUserDelete
	EventUserPasswordUpdate = idp.EventUserPasswordUpdate
)

// Event is one revocation notice as it travels in a delivery's body.
// Field names follow FusionAuth's event objects; RefreshTokenIDs and
// Reason are Gatehouse additions.
type Event struct {
	// ID identifies the event; it is the same in every retry and for every
	// target.
	ID   string `json:"id"`
	Type string `json:"type"`
	// CreateInstant is when the IdP emitted the event, epoch milliseconds.
	CreateInstant int64 `json:"createInstant"`
	// ApplicationID is empty when the event concerns every application.
	ApplicationID string `json:"applicationId,omitempty"`
	UserID        string `json:"userId,omitempty"`
	// User repeats UserID in FusionAuth's {"user":{"id":…}} form.
	User *EventUser `json:"user,omitempty"`
	// RefreshToken is set when exactly one refresh-token family ended
	// (FusionAuth's single-token form).
	RefreshToken *EventRefreshToken `json:"refreshToken,omitempty"`
	// RefreshTokenIDs are the refresh-token families (FusionAuth
	// refreshTokenId, the access token's sid) that ended.
	RefreshTokenIDs []string `json:"refreshTokenIds,omitempty"`
	// Reason says why: logout, reuse, admin, api, password_changed, …
	Reason string `json:"reason,omitempty"`
}

// EventUser is the user an event is about.
type EventUser struct {
	ID string `json:"id"`
}

// EventRefreshToken is the one refresh-token family an event is about.
type EventRefreshToken struct {
	ID            string `json:"id"`
	UserID        string `json:"userId,omitempty"`
	ApplicationID string `json:"applicationId,omitempty"`
}

// Payload is the delivery body: {"event":{…}}.
type Payload struct {
	Event Event `json:"event"`
}

// FromIdP converts an IdP event to its wire form under the given id.
func FromIdP(id string, e idp.Event) Event {
	out := Event{
		ID: id, Type: e.Type, CreateInstant: e.CreateInstant, ApplicationID: e.ApplicationID,
		UserID: e.UserID, RefreshTokenIDs: e.RefreshTokenIDs, Reason: e.Reason,
	}
	if e.UserID != "" {
		out.User = &EventUser{ID: e.UserID}
	}
	if len(e.RefreshTokenIDs) == 1 {
		out.RefreshToken = &EventRefreshToken{ID: e.RefreshTokenIDs[0], UserID: e.UserID, ApplicationID: e.ApplicationID}
	}
	return out
}

// Marshal encodes e as a delivery body.
func Marshal(e Event) ([]byte, error) {
	b, err := json.Marshal(Payload{Event: e})
	if err != nil {
		return nil, fmt.Errorf("webhook: encode event: %w", err)
	}
	return b, nil
}
