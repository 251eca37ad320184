package idp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Account tickets (compat §18): the ids the IdP hands out by mail or to an
// app for one step of an account flow. Each is 32 random bytes, base64url
// (43 characters); only its SHA-256 is stored (ACC-2).

// Ticket lifetimes and the per-account mail limit.
const (
	resetTicketTTL       = 15 * time.Minute // ACC-2
	verifyTicketTTL      = 24 * time.Hour   // ACC-10
	emailChangeTicketTTL = 24 * time.Hour   // ACC-9
	mailWindow           = 15 * time.Minute // ACC-3: per-account window
	mailsPerWindow       = 3                // ACC-3: link mails per account and kind per window
	validForReset        = "15 minutes"
	validForVerification = "24 hours"
)

// ticketData is the Data of verification and email-change tickets: the
// address the ticket was issued for (the new one of an email change).
type ticketData struct {
	Email string `json:"email"`
}

// newTicketSecret returns a new ticket id (verificationId,
// changePasswordId, twoFactorId, twoFactorTrustId): 32 random bytes,
// base64url without padding (43 characters, the refresh tokens' shape),
// and its SHA-256, the only form stored.
func newTicketSecret() (string, []byte) { return newRefreshToken() }

// ticketSecretHash returns the stored hash of a presented ticket id, or
// nil when it cannot be one of ours (it then never reaches the store).
func ticketSecretHash(id string) []byte {
	if !wellFormedRefreshToken(id) {
		return nil
	}
	return hashToken(id)
}

// issueTicket creates a ticket of kind for the user and returns its id
// (the only copy of the secret).
func (s *core) issueTicket(ctx context.Context, kind, userID, appID string, ttl time.Duration, email string) (string, error) {
	id, hash := newTicketSecret()
	now := s.now()
	t := &store.Ticket{Hash: hash, Kind: kind, UserID: userID, ApplicationID: appID, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if email != "" {
		t.Data, _ = json.Marshal(ticketData{Email: email})
	}
	if err := s.store.CreateTicket(ctx, t); err != nil {
		return "", fmt.Errorf("create %s ticket: %w", kind, err)
	}
	return id, nil
}

// ticketEmail returns the address a ticket was issued for ("" if none).
func ticketEmail(t *store.Ticket) string {
	var d ticketData
	if len(t.Data) > 0 {
		_ = json.Unmarshal(t.Data, &d)
	}
	return d.Email
}

// mailBudget reports whether the user may be sent another link mail of
// kind: fewer than mailsPerWindow tickets of that kind created in the last
// mailWindow (ACC-3). Beyond it the flow answers as usual and sends nothing.
func (s *core) mailBudget(ctx context.Context, userID, kind string) (bool, error) {
	n, err := s.store.CountTickets(ctx, userID, kind, s.now().Add(-mailWindow))
	if err != nil {
		return false, fmt.Errorf("count %s tickets: %w", kind, err)
	}
	return n < mailsPerWindow, nil
}

// requestApp resolves an optional applicationId of a request: "" is no
// application; anything else must name one (400 [invalid]applicationId).
func (s *core) requestApp(ctx context.Context, field, id string) (*store.Application, error) {
	if id == "" {
		return nil, nil
	}
	if _, err := uuid.Parse(id); err != nil {
		return nil, invalid(field, "invalid", "No application exists with that id.")
	}
	app, err := s.store.GetApplication(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, invalid(field, "invalid", "No application exists with that id.")
	}
	if err != nil {
		return nil, fmt.Errorf("application: %w", err)
	}
	return app, nil
}

// accountMail is one mail of an account flow.
type accountMail struct {
	to       string
	template string
	app      *store.Application // may be nil
	userID   string
	// page and id make the link {BaseURL}/{page}?id={id}; empty page: a
	// notice without a link.
	page, id string
	data     mail.Data
}

// canLink reports whether a link mail can be sent for app: a Mailer is
// configured and the application has a BaseURL. Otherwise it logs a
// warning (without any id) and the flow goes on through the API alone.
func (s *Server) canLink(ctx context.Context, app *store.Application, template, userID string) bool {
	switch {
	case s.cfg.Mailer == nil:
		s.log.LogAttrs(ctx, slog.LevelWarn, "mail not sent: no mailer configured", slog.String("template", template), slog.String("userId", userID))
		return false
	case app == nil || app.Config.BaseURL == "":
		appID := ""
		if app != nil {
			appID = app.ID
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "mail not sent: the application has no baseURL for its links", slog.String("template", template),
			slog.String("userId", userID), slog.String("applicationId", appID))
		return false
	}
	return true
}

// sendMail hands m to the Mailer. A mail that cannot be queued is logged
// and never fails the request that caused it.
func (s *Server) sendMail(ctx context.Context, m accountMail) {
	if s.cfg.Mailer == nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "mail not sent: no mailer configured", slog.String("template", m.template), slog.String("userId", m.userID))
		return
	}
	d := m.data
	d.Email = cmp.Or(d.Email, m.to)
	if m.app != nil {
		d.AppName = m.app.Name
	}
	if m.page != "" {
		if m.app == nil || m.app.Config.BaseURL == "" {
			s.log.LogAttrs(ctx, slog.LevelWarn, "mail not sent: no baseURL for its link", slog.String("template", m.template), slog.String("userId", m.userID))
			return
		}
		d.Link = strings.TrimRight(m.app.Config.BaseURL, "/") + "/" + m.page + "?id=" + url.QueryEscape(m.id)
	}
	if err := s.cfg.Mailer.Send(ctx, mail.Message{To: m.to, Template: m.template, Data: d}); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "mail not queued", slog.String("template", m.template), slog.String("userId", m.userID), slog.String("err", err.Error()))
	}
}
