package webhook

import (
	"encoding/json"
	"fmt"
)

// Event types, FusionAuth's names where FusionAuth has one. The identity
// server emits these; receivers switch on them.
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
)

// MaxIDsPerEvent bounds the refresh-token ids one event lists. A
// revocation of more families is sent as several events (each with its own
// id), so a body stays near 20 KB, well under DefaultMaxBodyBytes, whatever
// the number of families (AUD-8).
const MaxIDsPerEvent = 500

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
	// refreshTokenId, the access token's sid) that ended. Empty on a
	// revocation means every family of the user (in ApplicationID, or
	// everywhere) ended.
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

// Normalize fills the FusionAuth-shaped duplicates (User, RefreshToken)
// from UserID and RefreshTokenIDs, as a sender does before encoding.
func (e Event) Normalize() Event {
	e.User, e.RefreshToken = nil, nil
	if e.UserID != "" {
		e.User = &EventUser{ID: e.UserID}
	}
	if len(e.RefreshTokenIDs) == 1 {
		e.RefreshToken = &EventRefreshToken{ID: e.RefreshTokenIDs[0], UserID: e.UserID, ApplicationID: e.ApplicationID}
	}
	return e
}

// Marshal encodes e as a delivery body.
func Marshal(e Event) ([]byte, error) {
	b, err := json.Marshal(Payload{Event: e})
	if err != nil {
		return nil, fmt.Errorf("webhook: encode event: %w", err)
	}
	return b, nil
}

// Unmarshal decodes a delivery body.
func Unmarshal(body []byte) (Event, error) {
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, fmt.Errorf("webhook: decode event: %w", err)
	}
	return p.Event, nil
}
