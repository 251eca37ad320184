package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// The account flows of issue 11 (compat §18): sign-up mails, email
// verification, forgotten and changed passwords, email change. What is
// shared by several of them lives here; each flow has its own file.

// maxLoginIDLength bounds loginId and email inputs (an email is at most
// 254 characters; anything longer is no account).
const maxLoginIDLength = 320

// errRateLimited answers 429: the client IP's bucket is empty (ACC-4).
var errRateLimited = errors.New("idp: rate limited")

// accountRoutes registers the account endpoints (API-key permissions name
// them like every other /api route, AUD-13).
func (s *Server) accountRoutes(h func(pattern, route string, f http.HandlerFunc)) {
	k, opt := s.requireAPIKey, s.optionalAPIKey
	// The ids are the credential here; FusionAuth's clients call these two
	// without a key. A key that is sent must be valid and allowed.
	h("POST /api/user/verify-email", "user_verify_email", opt(s.handleVerifyEmail))
	h("POST /api/user/change-password/{changePasswordId}", "user_change_password", opt(s.handleChangePasswordByID))
	// With a changePasswordId in the body it is the reset (no key needed);
	// with a loginId it needs a key (handleChangePassword checks).
	h("POST /api/user/change-password", "user_change_password", opt(s.handleChangePassword))
	h("PUT /api/user/verify-email", "user_verify_email_resend", k(s.handleResendVerification))
	h("POST /api/user/forgot-password", "user_forgot_password", k(s.handleForgotPassword))
	h("POST /api/user/change-email", "user_change_email", k(s.handleChangeEmail))
}

// optionalAPIKey serves requests without an Authorization header as they
// are; a request with one is checked like requireAPIKey (a wrong or
// out-of-scope key is 401, never ignored).
func (s *Server) optionalAPIKey(next http.HandlerFunc) http.HandlerFunc {
	keyed := s.requireAPIKey(next)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			next(w, r)
			return
		}
		keyed(w, r)
	}
}

// writeAccountError maps a flow's error to the API: a validation error is
// 400 fieldErrors, ErrNotFound 404, errRateLimited 429 with a general
// error, anything else 500 (logged).
func (s *Server) writeAccountError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		writeAPIErrors(w, fieldError(ve.Field, ve.Kind, ve.Message))
	case errors.Is(err, store.ErrNotFound):
		writeEmpty(w, http.StatusNotFound)
	case errors.Is(err, errRateLimited):
		writeJSON(w, http.StatusTooManyRequests, new(apiErrors).general("[TooManyRequests]", "Too many requests from this address. Try again later."))
	default:
		s.log.Error("account request failed", "path", r.URL.Path, "err", err)
		writeEmpty(w, http.StatusInternalServerError)
	}
}

// writeUnverified answers a second-factor or passkey enrolment for a user
// whose address is not verified (ACC-13, a Gatehouse difference): 400 with
// the general error [EmailNotVerified].
func writeUnverified(w http.ResponseWriter) {
	writeAPIErrors(w, new(apiErrors).general("[EmailNotVerified]", "Confirm the email address before adding a second factor or a passkey."))
}

// loginIDParam normalises a loginId or email input; overlong values are
// refused with a field error.
func loginIDParam(field, v string) (string, error) {
	v = strings.TrimSpace(param(v))
	if v == "" {
		return "", invalid(field, "blank", field+" is required.")
	}
	if len(v) > maxLoginIDLength {
		return "", invalid(field, "tooLong", field+" is too long.")
	}
	return v, nil
}

// mailAllowed takes one token from the client IP's mail bucket (ACC-4):
// every request that may send a link mail pays one, whatever the account,
// so an empty bucket (429) says nothing about any account.
func (s *Server) mailAllowed(ip string) error {
	if !s.mailLimit.allowed(ip) {
		return errRateLimited
	}
	s.mailLimit.fail(ip)
	return nil
}

// currentPasswordUser is what change-password and change-email share
// after their own fields' checks: the current password is required (400
// [blank]currentPassword) and one too long to be anyone's is not worth a
// hash (400 [invalid]currentPassword), then the request's application and
// checkCurrentPassword (ACC-7). ok false means the error is answered.
func (s *Server) currentPasswordUser(w http.ResponseWriter, r *http.Request, login, current, appID string) (*store.User, *store.Application, bool) {
	switch {
	case current == "":
		s.writeAccountError(w, r, invalid("currentPassword", "blank", "currentPassword is required."))
		return nil, nil, false
	case len(current) > maxPasswordInput:
		s.writeAccountError(w, r, invalid("currentPassword", "invalid", "The current password is not correct."))
		return nil, nil, false
	}
	ctx := r.Context()
	app, err := s.requestApp(ctx, "applicationId", param(appID))
	if err != nil {
		s.writeAccountError(w, r, err)
		return nil, nil, false
	}
	u, err := s.checkCurrentPassword(ctx, login, current, clientIP(r, true))
	if err != nil {
		s.writeAccountError(w, r, err)
		return nil, nil, false
	}
	return u, app, true
}

// checkCurrentPassword proves a signed-in user's current password for
// change-password and change-email (ACC-7, APP-LIFE-4). It is a login
// attempt for the brute-force policy (AUD-1 machinery): the client IP's
// password bucket (429 when empty), the account's delay and hard stop
// (refused attempts cost a dummy hash and answer like a wrong password),
// and a wrong password counts against both: the login's own matchPassword.
// An unknown loginId, a wrong password, a locked and a deactivated account
// all answer 400 [invalid]currentPassword.
func (s *Server) checkCurrentPassword(ctx context.Context, login, pw, ip string) (*store.User, error) {
	v, _, e := s.matchPassword(ctx, loginAttempt{login: login, pw: pw, ip: ip}, s.now())
	switch {
	case e == nil && v.user.Active:
		return v.user, nil
	case e == nil || e.Status == http.StatusBadRequest:
		return nil, invalid("currentPassword", "invalid", "The current password is not correct.")
	case e.Status == http.StatusTooManyRequests:
		return nil, errRateLimited
	default:
		return nil, fmt.Errorf("current password: %w", e)
	}
}

// newPasswordHash applies the password policy (with the user's context
// words) to a new password and hashes it. Field errors are "password".
func (s *Server) newPasswordHash(ctx context.Context, u *store.User, pw string, app *store.Application) (string, error) {
	appIDs := []string{}
	if app != nil {
		appIDs = append(appIDs, app.ID)
	}
	if regs, err := s.store.ListRegistrations(ctx, u.ID); err == nil {
		for _, r := range regs {
			appIDs = append(appIDs, r.ApplicationID)
		}
	}
	return s.admin.hashPassword(ctx, pw, s.admin.passwordContext(ctx, u.Email, u.Username, appIDs...))
}

// passwordChange is what a reset or a change of password writes (compat §18).
type passwordChange struct {
	user    *store.User
	hash    string
	app     *store.Application // for the notice's AppName; may be nil
	reset   bool               // a reset also marks the address verified
	oldHash string             // change: the hash the current password was checked against
}

// applyPasswordChange writes a new password and its consequences (ACC-5, ACC-6):
// TokensRevokedBefore = now (every access token), the failure counters
// reset (a lock clears), the user's reset and trust tickets deleted, every
// refresh token of every application deleted through the revocation path
// (the event reaches every app's webhook), a reset marks the address
// verified, and the password-changed notice is mailed.
func (s *Server) applyPasswordChange(ctx context.Context, c passwordChange) error {
	now := s.now()
	err := s.store.UpdateUser(ctx, c.user.ID, func(u store.User) (store.User, error) {
		// A change checked the current password against one hash; a
		// change that landed since then wins (AUD-6).
		if c.oldHash != "" && u.PasswordHash != c.oldHash {
			return u, store.ErrConflict
		}
		u.PasswordHash, u.PasswordUpdatedAt, u.PasswordChangeRequired = c.hash, now, false
		if now.After(u.TokensRevokedBefore) {
			u.TokensRevokedBefore = now
		}
		if c.reset {
			if !u.Verified {
				// ACC-13: factors added before the address was proven may
				// be a squatter's (an account made with someone else's
				// address, then armed with the squatter's authenticator or
				// passkey); the owner proving the address by this reset
				// gets an account only the owner can open.
				u.MultiFactor = nil
			}
			u.Verified = true
		}
		return u, nil
	})
	if errors.Is(err, store.ErrConflict) {
		return invalid("currentPassword", "invalid", "The current password is not correct.")
	}
	if err != nil {
		return fmt.Errorf("update password: %w", err)
	}
	if err := s.store.ResetLoginFailures(ctx, c.user.ID); err != nil {
		return fmt.Errorf("clear lock: %w", err)
	}
	if _, err := s.store.DeleteTickets(ctx, c.user.ID, store.TicketPasswordReset, store.TicketTrust); err != nil {
		return fmt.Errorf("delete tickets: %w", err)
	}
	reason := "password_changed"
	if c.reset {
		reason = "password_reset"
	}
	if _, err := s.revokeUserAs(ctx, c.user.ID, "", Event{Type: webhook.EventUserPasswordUpdate, UserID: c.user.ID, Reason: reason}); err != nil {
		return err
	}
	s.log.Info("password changed", "event", reason, "userId", c.user.ID)
	if c.user.Email != "" {
		s.sendMail(ctx, accountMail{to: c.user.Email, template: mail.TemplatePasswordChanged, app: c.app, userID: c.user.ID})
	}
	return nil
}

// ticketApp returns the application a ticket was issued for, or nil.
func (s *Server) ticketApp(ctx context.Context, t *store.Ticket) *store.Application {
	if t.ApplicationID == "" {
		return nil
	}
	app, err := s.store.GetApplication(ctx, t.ApplicationID)
	if err != nil {
		return nil
	}
	return app
}
