package idp

import (
	"encoding/json"
	"net/http"
)

// oauthError is the OAuth error body of compat §0/§3, with its HTTP status.
type oauthError struct {
	Status      int    `json:"-"`
	Code        string `json:"error"`
	Reason      string `json:"error_reason,omitempty"`
	Description string `json:"error_description,omitempty"`
	// TwoFactorID and TwoFactorMethods come with two_factor_required
	// (FusionAuth's OAuthError members, compat §16).
	TwoFactorID      string                `json:"two_factor_id,omitempty"`
	TwoFactorMethods []twoFactorMethodJSON `json:"two_factor_methods,omitempty"`
	basic            bool                  // a Basic header was sent: add WWW-Authenticate
}

func (e *oauthError) Error() string { return e.Code + "/" + e.Reason }

func oauthErr(status int, code, reason, desc string) *oauthError {
	return &oauthError{Status: status, Code: code, Reason: reason, Description: desc}
}

// Frequently used OAuth errors. They are constructors, not shared values,
// because a caller may mark one with basic.
func errInvalidRequest(reason, desc string) *oauthError {
	return oauthErr(http.StatusBadRequest, "invalid_request", reason, desc)
}

func errInvalidClient(reason, desc string) *oauthError {
	return oauthErr(http.StatusUnauthorized, "invalid_client", reason, desc)
}

func errInvalidGrant(reason, desc string) *oauthError {
	return oauthErr(http.StatusBadRequest, "invalid_grant", reason, desc)
}

func errInvalidCredentials() *oauthError {
	return errInvalidGrant("invalid_user_credentials", "The user credentials are invalid.")
}

func errRefreshNotFound() *oauthError {
	return errInvalidGrant("refresh_token_not_found", "The refresh_token is invalid.")
}

func errServer() *oauthError {
	return oauthErr(http.StatusInternalServerError, "server_error", "unknown", "An internal error occurred.")
}

// writeOAuthError writes e with the no-store headers every token-endpoint
// outcome carries (IDP-TOK-5).
func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.basic && e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
	}
	writeJSON(w, e.Status, e)
}

// writeJSON writes v as JSON with the headers every API answer carries.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeEmpty answers status with an empty body (FusionAuth's 401/404 shape).
func writeEmpty(w http.ResponseWriter, status int) {
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// apiErrors is FusionAuth's Errors body for /api/* 400 answers.
type apiErrors struct {
	FieldErrors   map[string][]apiError `json:"fieldErrors,omitempty"`
	GeneralErrors []apiError            `json:"generalErrors,omitempty"`
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiErrors) field(name, kind, msg string) *apiErrors {
	if e.FieldErrors == nil {
		e.FieldErrors = map[string][]apiError{}
	}
	e.FieldErrors[name] = append(e.FieldErrors[name], apiError{Code: "[" + kind + "]" + name, Message: msg})
	return e
}

func (e *apiErrors) general(code, msg string) *apiErrors {
	e.GeneralErrors = append(e.GeneralErrors, apiError{Code: code, Message: msg})
	return e
}

func (e *apiErrors) empty() bool { return len(e.FieldErrors) == 0 && len(e.GeneralErrors) == 0 }

func fieldError(name, kind, msg string) *apiErrors { return new(apiErrors).field(name, kind, msg) }

func writeAPIErrors(w http.ResponseWriter, e *apiErrors) { writeJSON(w, http.StatusBadRequest, e) }
