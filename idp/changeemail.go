package idp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// handleChangeEmail is POST /api/user/change-email (API key; a Gatehouse
// addition, compat §18): {"loginId","currentPassword","email",
// "applicationId"} → 200 {}. The current password is checked as for a
// password change (ACC-7). Nothing changes here (ACC-9): an email-change
// ticket (24 h) holds the new address and its link goes to the NEW
// address; the change happens when that link is used (POST
// /api/user/verify-email). A new address that is taken answers the same
// 200 and changes nothing (no enumeration, ACC-1); its owner is told that
// someone tried to use it.
func (s *Server) handleChangeEmail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		LoginID         string `json:"loginId"`
		CurrentPassword string `json:"currentPassword"`
		Email           string `json:"email"`
		ApplicationID   string `json:"applicationId"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	login, err := loginIDParam("loginId", req.LoginID)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	email := strings.ToLower(strings.TrimSpace(param(req.Email)))
	switch {
	case email == "":
		s.writeAccountError(w, r, invalid("email", "blank", "email is required."))
		return
	case validateEmail("email", email) != nil:
		s.writeAccountError(w, r, invalid("email", "invalid", "The email address is invalid."))
		return
	}
	u, app, proved := s.currentPasswordUser(w, r, login, req.CurrentPassword, req.ApplicationID)
	if !proved {
		return
	}
	if email == u.Email {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	owner, err := s.store.GetUserByLogin(ctx, email)
	switch {
	case err == nil:
		// ACC-1: the same answer as a free address; the owner hears of it.
		if owner.ID != u.ID && s.canLink(ctx, app, mail.TemplateSignupExisting, owner.ID) {
			s.sendMail(ctx, accountMail{to: owner.Email, template: mail.TemplateSignupExisting, app: app, userID: owner.ID})
		}
		writeJSON(w, http.StatusOK, struct{}{})
		return
	case !errors.Is(err, store.ErrNotFound):
		s.writeAccountError(w, r, err)
		return
	}
	if !s.canLink(ctx, app, mail.TemplateEmailChangeVerify, u.ID) {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	ok, err := s.mailBudget(ctx, u.ID, store.TicketEmailChange)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	if ok {
		appID := ""
		if app != nil {
			appID = app.ID
		}
		id, err := s.issueTicket(ctx, store.TicketEmailChange, u.ID, appID, emailChangeTicketTTL, email)
		if err != nil {
			s.writeAccountError(w, r, err)
			return
		}
		s.sendMail(ctx, accountMail{to: email, template: mail.TemplateEmailChangeVerify, app: app, userID: u.ID,
			page: "verify-email", id: id, data: mail.Data{Email: u.Email, NewEmail: email, ValidFor: validForVerification}})
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
