package idpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
)

// The second factor (FusionAuth's Two Factor API; the Gatehouse IdP's
// compat §16): when a user has an authenticator app, the password grant
// fails with ErrTwoFactorRequired, whose *TwoFactorRequired carries the
// twoFactorId; TwoFactorLogin completes the login with a code.

// Failure kinds of the second factor (see Error).
var (
	// ErrTwoFactorRequired: the password was right but the user has a
	// second factor. errors.As(err, &tf) with tf *TwoFactorRequired gives
	// the twoFactorId for TwoFactorLogin and the methods.
	ErrTwoFactorRequired = errors.New("second factor required")
	// ErrInvalidCode: the code was wrong, already used, or sent while too
	// many wrong codes have the user waiting (421). Ask for another code;
	// after five wrong codes the twoFactorId is gone (ErrTwoFactorExpired).
	ErrInvalidCode = errors.New("second-factor code rejected")
	// ErrTwoFactorExpired: the twoFactorId is unknown, expired (five
	// minutes), already used or used up by wrong codes (404): the user
	// must sign in with the password again.
	ErrTwoFactorExpired = errors.New("second-factor login expired")
)

// TwoFactorRequired is the cause of an ErrTwoFactorRequired *Error.
type TwoFactorRequired struct {
	// TwoFactorID is a secret for TwoFactorLogin: keep it on the server
	// (never in a page), for at most five minutes.
	TwoFactorID string
	Methods     []TwoFactorMethod
}

// Error describes the requirement without the twoFactorId.
func (t *TwoFactorRequired) Error() string {
	return fmt.Sprintf("second factor required (%d methods)", len(t.Methods))
}

// TwoFactorMethod is one of the user's second factors (FusionAuth's
// TwoFactorMethod); Method is "authenticator".
type TwoFactorMethod struct {
	ID     string `json:"id"`
	Method string `json:"method"`
}

// PasswordLoginOptions are the optional inputs of PasswordLoginWith.
type PasswordLoginOptions struct {
	// DeviceToken is the browser's device token from an earlier login
	// (see PasswordLoginDevice).
	DeviceToken string
	// TwoFactorTrustID is the browser's twoFactorTrustId from an earlier
	// TwoFactorLogin with trust: for this user and application it skips
	// the second step (Gatehouse's twoFactorTrustId form parameter).
	TwoFactorTrustID string
}

// twoFactorError recognises the password grant's two_factor_required
// answer in an error of golang.org/x/oauth2; nil for any other error.
func twoFactorError(op string, err error) *Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return nil
	}
	var body struct {
		Error       string            `json:"error"`
		TwoFactorID string            `json:"two_factor_id"`
		Methods     []TwoFactorMethod `json:"two_factor_methods"`
	}
	if json.Unmarshal(re.Body, &body) != nil || body.Error != "two_factor_required" {
		return nil
	}
	if body.TwoFactorID == "" {
		return &Error{Op: op, Kind: ErrUnavailable, StatusCode: re.Response.StatusCode, Code: body.Error,
			Err: errors.New("two_factor_required without a two_factor_id")}
	}
	return &Error{Op: op, Kind: ErrTwoFactorRequired, StatusCode: re.Response.StatusCode, Code: body.Error,
		Err: &TwoFactorRequired{TwoFactorID: body.TwoFactorID, Methods: body.Methods}}
}

// twoFactorKind classifies a non-2xx answer of a Two Factor API call.
func twoFactorKind(status int) error {
	switch status {
	case 421:
		return ErrInvalidCode
	case http.StatusConflict, http.StatusGone: // locked, expired user
		return ErrLocked
	}
	return statusKind(status)
}

// TwoFactorLogin completes a login that answered ErrTwoFactorRequired:
// POST /api/two-factor/login with the twoFactorId and a code from the
// authenticator or a recovery code. With trust, the IdP also answers a
// twoFactorTrustId (valid 30 days for this user and application) to keep
// in the browser and pass as PasswordLoginOptions.TwoFactorTrustID. The
// tokens are those a password login would have answered (refresh token,
// device token), verified.
//
// Failures: ErrInvalidCode (try another code), ErrTwoFactorExpired (sign
// in again), ErrLocked, ErrThrottled, ErrUnavailable, ErrInvalidToken,
// ErrRejected.
func (c *Client) TwoFactorLogin(ctx context.Context, twoFactorID, code string, trust bool, clientIP string) (*Tokens, string, error) {
	const op = "two-factor login"
	if twoFactorID == "" || code == "" {
		return nil, "", &Error{Op: op, Kind: ErrInvalidCode, Err: errors.New("empty twoFactorId or code")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var resp struct {
		Token            string `json:"token"`
		RefreshToken     string `json:"refreshToken"`
		RefreshTokenID   string `json:"refreshTokenId"`
		TwoFactorTrustID string `json:"twoFactorTrustId"`
		DeviceToken      string `json:"deviceToken"`
	}
	ip := normalizeIP(clientIP)
	status, err := c.twoFactorCall(ctx, op, http.MethodPost, "/api/two-factor/login", false, ip, map[string]any{
		"twoFactorId": twoFactorID, "code": code, "applicationId": c.cfg.ClientID, "trustComputer": trust, "ipAddress": ip,
	}, &resp)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && status == http.StatusNotFound {
			e.Kind = ErrTwoFactorExpired
		}
		return nil, "", err
	}
	if resp.Token == "" {
		return nil, "", &Error{Op: op, Kind: ErrUnavailable, StatusCode: status, Err: errors.New("response has no token")}
	}
	t, err := c.finish(ctx, op, resp.Token, resp.RefreshToken, resp.RefreshTokenID)
	if t != nil {
		t.DeviceToken = resp.DeviceToken
	}
	return t, resp.TwoFactorTrustID, err
}

// GenerateTwoFactorSecret asks the IdP for a new authenticator secret
// (GET /api/two-factor/secret); secretBase32 is the form authenticator
// apps take (the otpauth:// URI's secret). Nothing is stored until
// EnableTwoFactor. It needs Config.APIKey.
func (c *Client) GenerateTwoFactorSecret(ctx context.Context) (secretBase32 string, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var resp struct {
		SecretBase32Encoded string `json:"secretBase32Encoded"`
	}
	if _, err := c.twoFactorCall(ctx, "two-factor secret", http.MethodGet, "/api/two-factor/secret", true, "", nil, &resp); err != nil {
		return "", err
	}
	if resp.SecretBase32Encoded == "" {
		return "", &Error{Op: "two-factor secret", Kind: ErrUnavailable, Err: errors.New("response has no secret")}
	}
	return resp.SecretBase32Encoded, nil
}

// EnableTwoFactor turns the authenticator on for the user with the secret
// from GenerateTwoFactorSecret and a current code the user's app shows
// for it (POST /api/user/two-factor/{userId}). It answers the ten
// recovery codes, which the IdP never shows again. Failures:
// ErrInvalidCode, ErrRejected (e.g. Code "[duplicate]method": already
// enabled), ErrUnavailable. It needs Config.APIKey.
func (c *Client) EnableTwoFactor(ctx context.Context, userID, secretBase32, code string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var resp struct {
		RecoveryCodes []string `json:"recoveryCodes"`
	}
	_, err := c.twoFactorCall(ctx, "enable two-factor", http.MethodPost, "/api/user/two-factor/"+url.PathEscape(userID), true, "",
		map[string]any{"method": "authenticator", "secretBase32Encoded": secretBase32, "code": code, "applicationId": c.cfg.ClientID}, &resp)
	if err != nil {
		return nil, err
	}
	return resp.RecoveryCodes, nil
}

// DisableTwoFactor turns the user's second factor off with a current
// authenticator code or a recovery code (DELETE
// /api/user/two-factor/{userId}); methodID may be empty. Failures:
// ErrInvalidCode, ErrRejected, ErrUnavailable. It needs Config.APIKey.
func (c *Client) DisableTwoFactor(ctx context.Context, userID, methodID, code string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	q := url.Values{"code": {code}}
	if methodID != "" {
		q.Set("methodId", methodID)
	}
	_, err := c.twoFactorCall(ctx, "disable two-factor", http.MethodDelete,
		"/api/user/two-factor/"+url.PathEscape(userID)+"?"+q.Encode(), true, "", nil, nil)
	return err
}

// RegenerateRecoveryCodes replaces the user's recovery codes with ten new
// ones (POST /api/user/two-factor/recovery-code/{userId}) and answers
// them; the IdP never shows them again. It needs Config.APIKey.
func (c *Client) RegenerateRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var resp struct {
		RecoveryCodes []string `json:"recoveryCodes"`
	}
	if _, err := c.twoFactorCall(ctx, "regenerate recovery codes", http.MethodPost,
		"/api/user/two-factor/recovery-code/"+url.PathEscape(userID), true, "", nil, &resp); err != nil {
		return nil, err
	}
	return resp.RecoveryCodes, nil
}

// TwoFactorStatus is a user's second factor as an account page shows it.
type TwoFactorStatus struct {
	// Methods are the enabled methods (none: no second factor).
	Methods []TwoFactorMethod
	// RecoveryCodesLeft is how many unused recovery codes remain.
	RecoveryCodesLeft int
}

// TwoFactorStatus reads the user's methods (GET /api/user/{userId}: the
// account calls' GET /api/user permission) and, when there are any, how
// many recovery codes are left (GET
// /api/user/two-factor/recovery-code/{userId}). It needs Config.APIKey.
func (c *Client) TwoFactorStatus(ctx context.Context, userID string) (*TwoFactorStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var u struct {
		User struct {
			TwoFactor struct {
				Methods []TwoFactorMethod `json:"methods"`
			} `json:"twoFactor"`
		} `json:"user"`
	}
	if _, err := c.twoFactorCall(ctx, "two-factor status", http.MethodGet, "/api/user/"+url.PathEscape(userID), true, "", nil, &u); err != nil {
		return nil, err
	}
	st := &TwoFactorStatus{Methods: u.User.TwoFactor.Methods}
	if len(st.Methods) == 0 {
		return st, nil
	}
	var rc struct {
		RemainingCount int `json:"remainingCount"`
	}
	if _, err := c.twoFactorCall(ctx, "two-factor status", http.MethodGet,
		"/api/user/two-factor/recovery-code/"+url.PathEscape(userID), true, "", nil, &rc); err != nil {
		return nil, err
	}
	st.RecoveryCodesLeft = rc.RemainingCount
	return st, nil
}

// twoFactorCall sends one JSON call to path (with the API key when
// apiKey, X-Forwarded-For ip when not empty) and decodes a 200 answer
// into out (may be nil). Any other status is an *Error of twoFactorKind;
// the status is returned as well.
func (c *Client) twoFactorCall(ctx context.Context, op, method, path string, apiKey bool, ip string, in, out any) (int, error) {
	return c.jsonCall(ctx, op, method, path, apiKey, ip, in, out, func(status int, resp []byte) error {
		return &Error{Op: op, Kind: twoFactorKind(status), StatusCode: status, Code: apiErrorCode(resp)}
	})
}

// twoFactorPermissions are the API-key permissions of the enrolment calls
// (APIKeyPermissions); TwoFactorLogin needs none.
func twoFactorPermissions() map[string][]string {
	return map[string][]string{
		"/api/two-factor/secret":             {"GET"},
		"/api/user/two-factor":               {"DELETE", "POST"},
		"/api/user/two-factor/recovery-code": {"GET", "POST"},
	}
}

// DisableTwoFactorWithPassword turns the user's second factor off with
// the user's current password instead of a code (Gatehouse's
// currentPassword member of DELETE /api/user/two-factor/{userId}, sent in
// the JSON body; not FusionAuth's). The IdP checks it like a login from
// clientIP: a wrong one counts as a failed login. Failures:
// ErrInvalidCredentials (wrong password), ErrThrottled, ErrRejected /
// ErrInvalidInput (no second factor), ErrUnavailable. It needs
// Config.APIKey.
func (c *Client) DisableTwoFactorWithPassword(ctx context.Context, userID, currentPassword, clientIP string) error {
	body := struct {
		CurrentPassword string `json:"currentPassword"`
	}{currentPassword}
	return currentPasswordChecked(c.api(ctx, "disable two-factor", http.MethodDelete,
		"/api/user/two-factor/"+url.PathEscape(userID), true, clientIP, body, nil))
}
