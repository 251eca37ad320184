package idp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Forgotten passwords (compat §18): POST
// /api/user/forgot-password mails a changePasswordId (15 minutes, single
// use, ACC-2) in a link to the application's reset page; GET
// /api/user?changePasswordId= shows whose it is; POST
// /api/user/change-password/{changePasswordId} sets the new password.

// handleForgotPassword is POST /api/user/forgot-password (API key):
// {"loginId","applicationId","sendForgotPasswordEmail"} → 200 ({} or, when
// sendForgotPasswordEmail is false, {"changePasswordId"}); 404 for an
// unknown or deactivated user; 429 when the client IP's mail bucket is
// empty (ACC-4). Beyond mailsPerWindow reset mails per account the answer
// is still 200 and nothing is sent (ACC-3).
func (s *Server) handleForgotPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		LoginID                 string `json:"loginId"`
		Email                   string `json:"email"` // FusionAuth's older name
		Username                string `json:"username"`
		ApplicationID           string `json:"applicationId"`
		SendForgotPasswordEmail *bool  `json:"sendForgotPasswordEmail"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	login, err := loginIDParam("loginId", cmp.Or(param(req.LoginID), param(req.Email), param(req.Username)))
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	app, err := s.requestApp(ctx, "applicationId", param(req.ApplicationID))
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	send := req.SendForgotPasswordEmail == nil || *req.SendForgotPasswordEmail
	if send {
		// The API key authenticated the app, so its X-Forwarded-For names
		// the browser (as on the password grant, IDP-BF-3).
		if err := s.mailAllowed(clientIP(r, true)); err != nil {
			s.writeAccountError(w, r, err)
			return
		}
	}
	id, err := s.forgotPassword(ctx, login, app, send)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	if send {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"changePasswordId": id})
}

// forgotPassword issues a reset ticket for the user with that login and,
// when send, mails its link; it returns the id when !send. ErrNotFound for
// an unknown or deactivated user.
func (s *Server) forgotPassword(ctx context.Context, login string, app *store.Application, send bool) (string, error) {
	u, err := s.store.GetUserByLogin(ctx, login)
	if err != nil {
		return "", err
	}
	if !u.Active {
		return "", store.ErrNotFound
	}
	appID := ""
	if app != nil {
		appID = app.ID
	}
	if !send {
		return s.issueTicket(ctx, store.TicketPasswordReset, u.ID, appID, resetTicketTTL, "")
	}
	if u.Email == "" || !s.canLink(ctx, app, mail.TemplatePasswordReset, u.ID) {
		return "", nil
	}
	ok, err := s.mailBudget(ctx, u.ID, store.TicketPasswordReset)
	if err != nil {
		return "", err
	}
	if !ok { // ACC-3: answered as usual, nothing sent
		s.log.Info("reset mail not sent: per-account limit", "event", "reset_mail_limited", "userId", u.ID)
		return "", nil
	}
	id, err := s.issueTicket(ctx, store.TicketPasswordReset, u.ID, appID, resetTicketTTL, "")
	if err != nil {
		return "", err
	}
	s.sendMail(ctx, accountMail{to: u.Email, template: mail.TemplatePasswordReset, app: app, userID: u.ID,
		page: "reset-password", id: id, data: mail.Data{ValidFor: validForReset}})
	return "", nil
}

// resetTicket returns the live reset ticket of id and its user, without
// using it up. ErrNotFound for anything else (malformed, unknown, expired,
// used, or a user since deleted or deactivated).
func (s *Server) resetTicket(ctx context.Context, id string) (*store.Ticket, *store.User, error) {
	hash := ticketSecretHash(id)
	if hash == nil {
		return nil, nil, store.ErrNotFound
	}
	t, err := s.store.GetTicket(ctx, store.TicketPasswordReset, hash, s.now())
	if err != nil {
		return nil, nil, err
	}
	u, err := s.store.GetUser(ctx, t.UserID)
	if err != nil {
		return nil, nil, err
	}
	if !u.Active {
		return nil, nil, store.ErrNotFound
	}
	return t, u, nil
}

// handleChangePasswordByID is POST /api/user/change-password/{changePasswordId}.
func (s *Server) handleChangePasswordByID(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Password string `json:"password"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	s.resetPassword(w, r, r.PathValue("changePasswordId"), req.Password)
}

// resetPassword completes a reset (compat §18): 200 {}; 404 for an id that is
// not live; 400 "password" field errors for a refused password (the id
// stays usable). The id is used up (ACC-2) and the change's effects are
// those of applyPasswordChange with reset set (ACC-5, ACC-6).
func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request, id, pw string) {
	ctx := r.Context()
	t, u, err := s.resetTicket(ctx, id)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	app := s.ticketApp(ctx, t)
	// The policy first: a refused password leaves the id usable.
	hash, err := s.newPasswordHash(ctx, u, pw, app)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	// Single use: of concurrent resets exactly one takes the ticket.
	if _, err := s.store.TakeTicket(ctx, store.TicketPasswordReset, t.Hash, s.now()); err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	if err := s.applyPasswordChange(ctx, passwordChange{user: u, hash: hash, app: app, reset: true}); err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// userByChangePasswordID serves GET /api/user?changePasswordId= (compat §18):
// the user a live reset id belongs to, without using it up.
func (s *Server) userByChangePasswordID(ctx context.Context, id string) (*store.User, error) {
	_, u, err := s.resetTicket(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("change password id: %w", err)
	}
	return u, nil
}
