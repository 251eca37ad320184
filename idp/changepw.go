package idp

import (
	"net/http"
)

// handleChangePassword is POST /api/user/change-password (compat §18). With a changePasswordId in the body (FusionAuth 1.32.2+) it is the
// reset of compat §18 and needs no API key. Otherwise it needs a key and
// {"loginId","currentPassword","password","applicationId"}: the current
// password is checked like a login (ACC-7: lockout and per-IP throttle,
// 429 when the IP's bucket is empty; wrong → 400 [invalid]currentPassword),
// the new one against the policy (400 "password"), and the change's
// effects are those of applyPasswordChange (ACC-5: every refresh token of
// every app revoked, trust and reset tickets deleted, notice mailed).
func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req struct {
		ChangePasswordID string `json:"changePasswordId"`
		LoginID          string `json:"loginId"`
		CurrentPassword  string `json:"currentPassword"`
		Password         string `json:"password"`
		ApplicationID    string `json:"applicationId"`
	}
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.badJSON(w)
		return
	}
	if id := param(req.ChangePasswordID); id != "" && param(req.LoginID) == "" {
		s.resetPassword(w, r, id, req.Password)
		return
	}
	if callerAPIKey(ctx) == nil {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	login, err := loginIDParam("loginId", req.LoginID)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	switch {
	case req.CurrentPassword == "":
		s.writeAccountError(w, r, invalid("currentPassword", "blank", "currentPassword is required."))
		return
	case req.Password == "":
		s.writeAccountError(w, r, invalid("password", "blank", "A password is required."))
		return
	case len(req.CurrentPassword) > maxPasswordInput:
		// Too long to be anyone's password: not worth a hash.
		s.writeAccountError(w, r, invalid("currentPassword", "invalid", "The current password is not correct."))
		return
	}
	app, err := s.requestApp(ctx, "applicationId", param(req.ApplicationID))
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	u, err := s.checkCurrentPassword(ctx, login, req.CurrentPassword, clientIP(r, true))
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	hash, err := s.newPasswordHash(ctx, u, req.Password, app)
	if err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	if err := s.applyPasswordChange(ctx, passwordChange{user: u, hash: hash, app: app, oldHash: u.PasswordHash}); err != nil {
		s.writeAccountError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// maxPasswordInput bounds a current password that is worth checking; the
// hasher's own maximum for new passwords is far below it.
const maxPasswordInput = 4096
