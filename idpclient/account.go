package idpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
)

// User is an account as the IdP's user API describes it: what an app's
// account pages need, nothing more.
type User struct {
	ID       string
	Email    string
	Verified bool
	Active   bool
}

// userJSON is FusionAuth's user object, the fields User keeps.
type userJSON struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Verified bool   `json:"verified"`
	Active   bool   `json:"active"`
}

func (u *userJSON) user() *User {
	return &User{ID: u.ID, Email: u.Email, Verified: u.Verified, Active: u.Active}
}

// Codes of the field errors the account calls interpret.
const (
	codeInvalidCurrentPassword = "[invalid]currentPassword"
)

// Register creates an account with email and password and registers it
// for this client's application (FusionAuth's POST /api/user/registration
// with the API key; the application id is the client id). The IdP sends
// the verification mail. Needs Config.APIKey.
//
// Failures: ErrDuplicate (the address is taken: the IdP mails its owner;
// a sign-up page must answer exactly as for a new address), ErrInvalidInput
// (Error.Fields: "[tooShort]user.password", "[blank]user.email", ...),
// ErrThrottled, ErrUnavailable, ErrRejected.
func (c *Client) Register(ctx context.Context, email, password, clientIP string) (*User, error) {
	const op = "register"
	type reg struct {
		ApplicationID string `json:"applicationId"`
	}
	type usr struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	body := struct {
		User         usr `json:"user"`
		Registration reg `json:"registration"`
	}{usr{email, password}, reg{c.cfg.ClientID}}
	var out struct {
		User userJSON `json:"user"`
	}
	if err := c.api(ctx, op, http.MethodPost, "/api/user/registration", true, clientIP, body, &out); err != nil {
		return nil, err
	}
	if out.User.ID == "" {
		return nil, &Error{Op: op, Kind: ErrUnavailable, StatusCode: http.StatusOK, Err: errors.New("answer has no user id")}
	}
	return out.User.user(), nil
}

// GetUser reads the account userID (GET /api/user/{id}). Needs
// Config.APIKey. An unknown id is ErrNotFound.
func (c *Client) GetUser(ctx context.Context, userID string) (*User, error) {
	const op = "get user"
	if userID == "" {
		return nil, &Error{Op: op, Kind: ErrNotFound, Err: errors.New("empty user id")}
	}
	return c.getUser(ctx, op, "/api/user/"+url.PathEscape(userID))
}

// UserByChangePasswordID reads the account a password-reset id belongs to
// (GET /api/user?changePasswordId=), without using the id up: a reset
// page checks the link with it and learns the login id it signs in with
// after the reset. Needs Config.APIKey. An unknown, expired or used id is
// ErrNotFound.
func (c *Client) UserByChangePasswordID(ctx context.Context, changePasswordID string) (*User, error) {
	const op = "user by change-password id"
	if changePasswordID == "" {
		return nil, &Error{Op: op, Kind: ErrNotFound, Err: errors.New("empty change-password id")}
	}
	return c.getUser(ctx, op, "/api/user?changePasswordId="+url.QueryEscape(changePasswordID))
}

func (c *Client) getUser(ctx context.Context, op, path string) (*User, error) {
	var out struct {
		User userJSON `json:"user"`
	}
	if err := c.api(ctx, op, http.MethodGet, path, true, "", nil, &out); err != nil {
		return nil, err
	}
	if out.User.ID == "" {
		return nil, &Error{Op: op, Kind: ErrUnavailable, StatusCode: http.StatusOK, Err: errors.New("answer has no user")}
	}
	return out.User.user(), nil
}

// ForgotPassword asks the IdP to mail a password-reset link to the account
// with login id email (POST /api/user/forgot-password with
// sendForgotPasswordEmail). Needs Config.APIKey.
//
// Failures: ErrNotFound for an unknown account (a page must answer exactly
// as for a known one), ErrThrottled (too many requests from clientIP),
// ErrUnavailable, ErrRejected.
func (c *Client) ForgotPassword(ctx context.Context, email, clientIP string) error {
	body := struct {
		LoginID                 string `json:"loginId"`
		ApplicationID           string `json:"applicationId"`
		SendForgotPasswordEmail bool   `json:"sendForgotPasswordEmail"`
	}{email, c.cfg.ClientID, true}
	return c.api(ctx, "forgot password", http.MethodPost, "/api/user/forgot-password", true, clientIP, body, nil)
}

// ResetPassword sets a new password with the id of a reset link (POST
// /api/user/change-password/{changePasswordId}, no API key: the id is the
// credential). The IdP uses the id up and ends every session of the user.
//
// Failures: ErrNotFound (unknown, expired or used id), ErrInvalidInput
// (the policy refuses the password; Error.Fields), ErrThrottled,
// ErrUnavailable, ErrRejected.
func (c *Client) ResetPassword(ctx context.Context, changePasswordID, newPassword, clientIP string) error {
	const op = "reset password"
	if changePasswordID == "" {
		return &Error{Op: op, Kind: ErrNotFound, Err: errors.New("empty change-password id")}
	}
	body := struct {
		Password string `json:"password"`
	}{newPassword}
	return c.api(ctx, op, http.MethodPost, "/api/user/change-password/"+url.PathEscape(changePasswordID), false, clientIP, body, nil)
}

// ChangePassword changes the password of the account loginID, proving it
// with the current password (POST /api/user/change-password with
// currentPassword). The IdP revokes every refresh token of the user: sign
// the current browser in again with the new password. Needs Config.APIKey.
//
// Failures: ErrInvalidCredentials (wrong current password; it counts as a
// failed login at the IdP), ErrInvalidInput (the policy refuses the new
// password; Error.Fields), ErrNotFound, ErrThrottled, ErrUnavailable,
// ErrRejected.
func (c *Client) ChangePassword(ctx context.Context, loginID, currentPassword, newPassword, clientIP string) error {
	body := struct {
		LoginID         string `json:"loginId"`
		CurrentPassword string `json:"currentPassword"`
		Password        string `json:"password"`
		ApplicationID   string `json:"applicationId"`
	}{loginID, currentPassword, newPassword, c.cfg.ClientID}
	return currentPasswordChecked(c.api(ctx, "change password", http.MethodPost, "/api/user/change-password", true, clientIP, body, nil))
}

// ChangeEmail asks to move the account loginID to newEmail, proving it with
// the current password (Gatehouse's POST /api/user/change-email): the IdP
// mails a confirmation link to the new address and changes nothing until
// it is followed. A taken address answers like a free one. Needs
// Config.APIKey.
//
// Failures: ErrInvalidCredentials (wrong current password),
// ErrInvalidInput (malformed address; Error.Fields "[invalid]email"),
// ErrNotFound, ErrThrottled, ErrUnavailable, ErrRejected.
func (c *Client) ChangeEmail(ctx context.Context, loginID, currentPassword, newEmail, clientIP string) error {
	body := struct {
		LoginID         string `json:"loginId"`
		CurrentPassword string `json:"currentPassword"`
		Email           string `json:"email"`
		ApplicationID   string `json:"applicationId"`
	}{loginID, currentPassword, newEmail, c.cfg.ClientID}
	return currentPasswordChecked(c.api(ctx, "change email", http.MethodPost, "/api/user/change-email", true, clientIP, body, nil))
}

// currentPasswordChecked turns the IdP's "[invalid]currentPassword" field
// error into ErrInvalidCredentials.
func currentPasswordChecked(err error) error {
	var e *Error
	if errors.As(err, &e) && errors.Is(e.Kind, ErrInvalidInput) && slices.Contains(e.Fields, codeInvalidCurrentPassword) {
		e.Kind = ErrInvalidCredentials
	}
	return err
}

// VerifyEmail confirms an address with the id of a verification link
// (POST /api/user/verify-email, no API key: the id is the credential). It
// completes a new account's verification or an email change.
//
// Failures: ErrNotFound (unknown, expired or used id), ErrThrottled,
// ErrUnavailable, ErrRejected.
func (c *Client) VerifyEmail(ctx context.Context, verificationID string) error {
	const op = "verify email"
	if verificationID == "" {
		return &Error{Op: op, Kind: ErrNotFound, Err: errors.New("empty verification id")}
	}
	body := struct {
		VerificationID string `json:"verificationId"`
	}{verificationID}
	return c.api(ctx, op, http.MethodPost, "/api/user/verify-email", false, "", body, nil)
}

// ResendVerification asks the IdP to mail a new verification link to email
// (PUT /api/user/verify-email?email=&applicationId=&sendVerifyEmail=true).
// Needs Config.APIKey. An unknown address is ErrNotFound.
func (c *Client) ResendVerification(ctx context.Context, email string) error {
	q := url.Values{"email": {email}, "applicationId": {c.cfg.ClientID}, "sendVerifyEmail": {"true"}}
	return c.api(ctx, "resend verification", http.MethodPut, "/api/user/verify-email?"+q.Encode(), true, "", nil, nil)
}

// api performs one JSON call of the IdP's /api: body (if not nil) is sent
// as JSON, a 200 answer is decoded into out (if not nil), the API key is
// sent when withKey, and clientIP (if an address) is forwarded. Any other
// answer is an *Error classified by apiKind, with the field-error codes.
func (c *Client) api(ctx context.Context, op, method, path string, withKey bool, clientIP string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	_, err := c.jsonCall(ctx, op, method, path, withKey, clientIP, body, out, func(status int, resp []byte) error {
		fields := apiFieldCodes(resp)
		code := apiErrorCode(resp)
		if len(fields) > 0 {
			code = fields[0]
		}
		return &Error{Op: op, Kind: apiKind(status, fields), StatusCode: status, Code: code, Fields: fields}
	})
	return err
}

// jsonCall is the plumbing of api and twoFactorCall: body (if not nil)
// sent as JSON, the API key when withKey (ErrNoAPIKey without one),
// clientIP (if an address) forwarded, a 200 answer decoded into out (if
// not nil); any other answer is what failed(status, body) makes of it.
// The status is returned as well.
func (c *Client) jsonCall(ctx context.Context, op, method, path string, withKey bool, clientIP string, body, out any,
	failed func(status int, resp []byte) error) (int, error) {
	if withKey && c.cfg.APIKey == "" {
		return 0, &Error{Op: op, Kind: ErrNoAPIKey}
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, &Error{Op: op, Kind: ErrUnavailable, Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if withKey {
		req.Header.Set("Authorization", c.cfg.APIKey) // raw key, no scheme (compat §0)
	}
	hc := c.plain
	if ip := normalizeIP(clientIP); ip != "" {
		hc = c.httpClient(ip)
	}
	status, resp, err := c.send(op, hc, req)
	if err != nil {
		return status, err
	}
	if status != http.StatusOK {
		return status, failed(status, resp)
	}
	if out != nil {
		if err := json.Unmarshal(resp, out); err != nil {
			return status, &Error{Op: op, Kind: ErrUnavailable, StatusCode: status, Err: fmt.Errorf("decode: %w", err)}
		}
	}
	return status, nil
}

// apiFieldCodes returns every field-error code of a FusionAuth Errors
// body, sorted (the body's map order is no order).
func apiFieldCodes(body []byte) []string {
	var e struct {
		FieldErrors map[string][]struct{ Code string } `json:"fieldErrors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return nil
	}
	var out []string
	for _, fe := range e.FieldErrors {
		for _, x := range fe {
			if x.Code != "" {
				out = append(out, x.Code)
			}
		}
	}
	slices.Sort(out)
	return out
}
