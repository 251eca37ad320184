package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Email verification (compat §18). A verificationId is single
// use and lives 24 hours (ACC-10). The same id space completes an email
// change (ACC-9): an email-change ticket's link also points at the app's
// verify-email page.

// handleVerifyEmail is POST /api/user/verify-email {"verificationId"}:
// 200 {} when the id was live (the user is verified, or the email change
// it holds is made); 404 for anything else.
func (s *Server) handleVerifyEmail(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VerificationID string `json:"verificationId"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	id := param(req.VerificationID)
	if id == "" {
		s.writeAccountError(w, r, invalid("verificationId", "blank", "verificationId is required."))
		return
	}
	if err := s.verifyEmail(r.Context(), id); err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// verifyEmail uses up a verification or email-change ticket.
func (s *Server) verifyEmail(ctx context.Context, id string) error {
	hash := ticketSecretHash(id)
	if hash == nil {
		return store.ErrNotFound
	}
	now := s.now()
	t, err := s.store.TakeTicket(ctx, store.TicketVerifyEmail, hash, now)
	if err == nil {
		return s.markVerified(ctx, t)
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("verify email: %w", err)
	}
	t, err = s.store.TakeTicket(ctx, store.TicketEmailChange, hash, now)
	if err != nil {
		return err
	}
	return s.completeEmailChange(ctx, t)
}

// markVerified verifies the user's address, if it is still the one the
// ticket was issued for (a ticket for an address since changed verifies
// nothing: 404).
func (s *Server) markVerified(ctx context.Context, t *store.Ticket) error {
	want := ticketEmail(t)
	err := s.store.UpdateUser(ctx, t.UserID, func(u store.User) (store.User, error) {
		if want != "" && u.Email != want {
			return u, store.ErrNotFound
		}
		u.Verified = true
		return u, nil
	})
	if err != nil {
		return err
	}
	if _, err := s.store.DeleteTickets(ctx, t.UserID, store.TicketVerifyEmail); err != nil {
		s.log.Warn("delete used verification tickets", "userId", t.UserID, "err", err)
	}
	s.log.Info("email verified", "event", "email_verified", "userId", t.UserID)
	return nil
}

// completeEmailChange switches the user to the ticket's new address, now
// verified, and tells the old address (ACC-9). An address taken since
// the request answers 404 and changes nothing.
func (s *Server) completeEmailChange(ctx context.Context, t *store.Ticket) error {
	newEmail := ticketEmail(t)
	if newEmail == "" {
		return store.ErrNotFound
	}
	var old string
	err := s.store.UpdateUser(ctx, t.UserID, func(u store.User) (store.User, error) {
		old = u.Email
		u.Email, u.Verified = newEmail, true
		return u, nil
	})
	if errors.Is(err, store.ErrDuplicate) {
		s.log.Info("email change not made: the address was taken meanwhile", "userId", t.UserID)
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	// Links sent to the old address, and other pending changes, are void.
	if _, err := s.store.DeleteTickets(ctx, t.UserID, store.TicketVerifyEmail, store.TicketEmailChange); err != nil {
		s.log.Warn("delete email tickets", "userId", t.UserID, "err", err)
	}
	s.log.Info("email changed", "event", "email_changed", "userId", t.UserID)
	if old != "" && old != newEmail {
		s.sendMail(ctx, accountMail{to: old, template: mail.TemplateEmailChanged, app: s.ticketApp(ctx, t), userID: t.UserID,
			data: mail.Data{Email: old, NewEmail: newEmail}})
	}
	return nil
}

// handleResendVerification is PUT /api/user/verify-email?email=&applicationId=&sendVerifyEmail=
// (API key): 200 {} and a new verification mail (or, with
// sendVerifyEmail=false, 200 {"verificationId"} and no mail); 404 for an
// unknown email; 429 when the client IP's mail bucket is empty (ACC-4).
// An address already verified, or one past mailsPerWindow verification
// mails (ACC-3), answers 200 and nothing is sent.
func (s *Server) handleResendVerification(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	email, err := loginIDParam("email", q.Get("email"))
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	app, err := s.requestApp(ctx, "applicationId", param(q.Get("applicationId")))
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	send := param(q.Get("sendVerifyEmail")) != "false"
	if send {
		if err := s.mailAllowed(clientIP(r, true)); err != nil {
			s.writeAccountError(w, r, err)
			return
		}
	}
	u, err := s.store.GetUserByLogin(ctx, email)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	if u.Email == "" {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	if !send {
		id, err := s.issueVerification(ctx, u, app)
		if err != nil {
			s.writeAccountError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"verificationId": id})
		return
	}
	if !u.Verified {
		if err := s.sendVerification(ctx, u, app); err != nil {
			s.writeAccountError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// issueVerification creates a verification ticket for the user's current
// address.
func (s *Server) issueVerification(ctx context.Context, u *store.User, app *store.Application) (string, error) {
	appID := ""
	if app != nil {
		appID = app.ID
	}
	return s.issueTicket(ctx, store.TicketVerifyEmail, u.ID, appID, verifyTicketTTL, u.Email)
}

// sendVerification mails a verification link to an unverified user,
// within the per-account limit (ACC-3); without a Mailer or the app's
// BaseURL it logs a warning and issues nothing.
func (s *Server) sendVerification(ctx context.Context, u *store.User, app *store.Application) error {
	if u.Email == "" || !s.canLink(ctx, app, mail.TemplateVerifyEmail, u.ID) {
		return nil
	}
	ok, err := s.mailBudget(ctx, u.ID, store.TicketVerifyEmail)
	if err != nil {
		return err
	}
	if !ok {
		s.log.Info("verification mail not sent: per-account limit", "event", "verify_mail_limited", "userId", u.ID)
		return nil
	}
	id, err := s.issueVerification(ctx, u, app)
	if err != nil {
		return err
	}
	s.sendMail(ctx, accountMail{to: u.Email, template: mail.TemplateVerifyEmail, app: app, userID: u.ID,
		page: "verify-email", id: id, data: mail.Data{ValidFor: validForVerification}})
	return nil
}

// signupMails sends the mails of a sign-up (compat §18): the verification link
// to a new unverified user, or, when the address is taken, the
// signup-existing notice to its owner (ACC-1; the API still answers
// [duplicate]user.email, which the app turns into the same page as a new
// account). Failures are logged: the sign-up's answer does not depend on
// its mail.
func (s *Server) signupMails(ctx context.Context, appID string, created *store.User, takenEmail string) {
	app, err := s.store.GetApplication(ctx, appID)
	if err != nil {
		return
	}
	if created != nil {
		if !created.Verified {
			if err := s.sendVerification(ctx, created, app); err != nil {
				s.log.Warn("verification mail", "userId", created.ID, "err", err)
			}
		}
		return
	}
	owner, err := s.store.GetUserByLogin(ctx, takenEmail)
	if err != nil || owner.Email == "" {
		return
	}
	if s.canLink(ctx, app, mail.TemplateSignupExisting, owner.ID) {
		s.sendMail(ctx, accountMail{to: owner.Email, template: mail.TemplateSignupExisting, app: app, userID: owner.ID})
	}
}
