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
	// A blank current password is named before a blank new one.
	if req.Password == "" && req.CurrentPassword != "" {
		s.writeAccountError(w, r, invalid("password", "blank", "A password is required."))
		return
	}
	u, app, ok := s.currentPasswordUser(w, r, login, req.CurrentPassword, req.ApplicationID)
	if !ok {
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
