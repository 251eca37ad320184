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
	"strings"

	"golang.org/x/oauth2"
)

// Tokens is the verified outcome of a password grant or a refresh.
type Tokens struct {
	// AccessToken is the raw JWT; Claims are its verified claims.
	AccessToken string
	Claims      *Claims
	// RefreshToken is the (possibly rotated) refresh token; empty if the
	// IdP issued none. RefreshTokenID is the IdP's id for it, if sent.
	RefreshToken   string
	RefreshTokenID string
	// DeviceToken is the Gatehouse IdP's device token for this browser
	// (device_token in the password grant's answer; empty from a server
	// that sends none). Keep it per browser and pass it to the next
	// PasswordLoginDevice: it lets that browser sign in while strangers
	// have the account in its brute-force delay.
	DeviceToken string
}

// PasswordLogin runs the password grant for username (an email or
// username) and password, forwarding clientIP (the browser's address) in
// X-Forwarded-For, and verifies the returned access token.
//
// Failures: ErrInvalidCredentials, ErrLocked, ErrThrottled, ErrUnavailable,
// ErrInvalidToken (the IdP answered but its token does not verify),
// ErrRejected. The password is used only for this request.
func (c *Client) PasswordLogin(ctx context.Context, username, password, clientIP string) (*Tokens, error) {
	return c.PasswordLoginDevice(ctx, username, password, clientIP, "")
}

// PasswordLoginDevice is PasswordLogin that also presents the browser's
// device token from an earlier login (Gatehouse's device_token form
// parameter, not FusionAuth's; empty sends none) and returns the renewed
// one in Tokens.DeviceToken.
func (c *Client) PasswordLoginDevice(ctx context.Context, username, password, clientIP, deviceToken string) (*Tokens, error) {
	return c.PasswordLoginWith(ctx, username, password, clientIP, PasswordLoginOptions{DeviceToken: deviceToken})
}

// PasswordLoginWith is PasswordLogin with the browser's device token and
// twoFactorTrustId (see PasswordLoginOptions). For a user with a second
// factor and no valid trust id it fails with ErrTwoFactorRequired (see
// TwoFactorLogin).
func (c *Client) PasswordLoginWith(ctx context.Context, username, password, clientIP string, opts PasswordLoginOptions) (*Tokens, error) {
	const op = "password grant"
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hc := c.httpClient(normalizeIP(clientIP))
	extra := url.Values{}
	if opts.DeviceToken != "" {
		extra.Set("device_token", opts.DeviceToken)
	}
	if opts.TwoFactorTrustID != "" {
		extra.Set("twoFactorTrustId", opts.TwoFactorTrustID)
	}
	if len(extra) > 0 {
		hc.Transport = &extraForm{base: hc.Transport, add: extra}
	}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
	tok, err := c.oauth.PasswordCredentialsToken(ctx, username, password)
	if err != nil {
		if e := twoFactorError(op, err); e != nil {
			return nil, e
		}
		return nil, c.oauthError(op, err, passwordKind)
	}
	t, err := c.finish(ctx, op, tok.AccessToken, tok.RefreshToken, extraString(tok, "refresh_token_id"))
	if t != nil {
		t.DeviceToken = extraString(tok, "device_token")
	}
	return t, err
}

// extraForm appends parameters to a form-encoded request body: the oauth2
// package's password grant takes no extra parameters.
type extraForm struct {
	base http.RoundTripper
	add  url.Values
}

// RoundTrip sends a copy of r with the parameters appended.
func (e *extraForm) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil {
		return e.base.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(body) > 0 {
		body = append(body, '&')
	}
	body = append(body, e.add.Encode()...)
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return e.base.RoundTrip(r2)
}

// Refresh redeems refreshToken by the configured RefreshMethod and verifies
// the new access token. The returned RefreshToken is the one to keep: the
// rotated token, or the presented one if the IdP did not rotate it.
//
// Failures: ErrRefreshTokenDead (any 4xx but 408/429: log the user out),
// ErrUnavailable or ErrThrottled (keep everything, try later), and
// ErrInvalidToken, in which case Tokens is also returned, carrying the new
// refresh token so the caller can keep it (the old one may be rotated away).
func (c *Client) Refresh(ctx context.Context, refreshToken, clientIP string) (*Tokens, error) {
	const op = "refresh"
	if refreshToken == "" {
		return nil, &Error{Op: op, Kind: ErrRefreshTokenDead, Err: errors.New("empty refresh token")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hc := c.httpClient(normalizeIP(clientIP))
	var access, rt, rtID string
	switch c.cfg.RefreshMethod {
	case RefreshJWT:
		var err error
		access, rt, rtID, err = c.jwtRefresh(ctx, hc, refreshToken)
		if err != nil {
			return nil, err
		}
	default:
		ctx := context.WithValue(ctx, oauth2.HTTPClient, hc)
		tok, err := c.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
		if err != nil {
			return nil, c.oauthError(op, err, func(status int, _, _ string) error { return refreshKind(status) })
		}
		access, rt, rtID = tok.AccessToken, tok.RefreshToken, extraString(tok, "refresh_token_id")
	}
	if rt == "" {
		rt = refreshToken // Reusable tokens need not be echoed (compat §2)
	}
	return c.finish(ctx, op, access, rt, rtID)
}

// finish verifies the access token of a token response.
func (c *Client) finish(ctx context.Context, op, access, rt, rtID string) (*Tokens, error) {
	t := &Tokens{AccessToken: access, RefreshToken: rt, RefreshTokenID: rtID}
	claims, err := c.Verify(ctx, access)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Op = op + ": " + e.Op
		}
		if errors.Is(err, ErrInvalidToken) {
			return &Tokens{RefreshToken: rt, RefreshTokenID: rtID}, err
		}
		return nil, err
	}
	t.Claims = claims
	return t, nil
}

// jwtRefresh calls FusionAuth's POST /api/jwt/refresh.
func (c *Client) jwtRefresh(ctx context.Context, hc *http.Client, refreshToken string) (access, rt, rtID string, err error) {
	const op = "refresh (/api/jwt/refresh)"
	body, err := json.Marshal(struct {
		RefreshToken string `json:"refreshToken"`
	}{refreshToken})
	if err != nil {
		return "", "", "", &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/jwt/refresh", bytes.NewReader(body))
	if err != nil {
		return "", "", "", &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	status, resp, err := c.send(op, hc, req)
	if err != nil {
		return "", "", "", err
	}
	if status != http.StatusOK {
		code := apiErrorCode(resp)
		return "", "", "", &Error{Op: op, Kind: refreshKind(status), StatusCode: status, Code: code}
	}
	var r struct {
		Token          string `json:"token"`
		RefreshToken   string `json:"refreshToken"`
		RefreshTokenID string `json:"refreshTokenId"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || r.Token == "" {
		if err == nil {
			err = errors.New("response has no token")
		}
		return "", "", "", &Error{Op: op, Kind: ErrUnavailable, StatusCode: status, Err: fmt.Errorf("decode: %w", err)}
	}
	return r.Token, r.RefreshToken, r.RefreshTokenID, nil
}

// Revoke revokes one refresh token by the configured RevokeMethod (RFC
// 7009 POST /oauth2/revoke with client authentication, or FusionAuth's
// POST /api/logout). Revoking an unknown token succeeds (RFC 7009 §2.2).
func (c *Client) Revoke(ctx context.Context, refreshToken string) error {
	if refreshToken == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var req *http.Request
	var err error
	op := "revoke"
	switch c.cfg.RevokeMethod {
	case RevokeLogout:
		op = "revoke (/api/logout)"
		body, _ := json.Marshal(struct {
			RefreshToken string `json:"refreshToken"`
			Global       bool   `json:"global"`
		}{RefreshToken: refreshToken})
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/logout", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	default:
		form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}
		if c.cfg.AuthStyle == oauth2.AuthStyleInParams {
			form.Set("client_id", c.cfg.ClientID)
			if c.cfg.ClientSecret != "" {
				form.Set("client_secret", c.cfg.ClientSecret)
			}
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth2/revoke", strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if c.cfg.AuthStyle == oauth2.AuthStyleInHeader {
				// Same encoding as golang.org/x/oauth2 uses for the token endpoint.
				req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
			}
		}
	}
	if err != nil {
		return &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	status, body, err := c.send(op, c.plain, req)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		code, reason := oauthErrorCode(body)
		return &Error{Op: op, Kind: statusKind(status), StatusCode: status, Code: code, Reason: reason}
	}
	return nil
}

// RevokeUser revokes every refresh token of the user (DELETE
// /api/jwt/refresh?userId=), for "sign out everywhere" (APP-OUT-2). It needs
// Config.APIKey.
func (c *Client) RevokeUser(ctx context.Context, userID string) error {
	if userID == "" {
		return &Error{Op: "revoke user", Kind: ErrRejected, Err: errors.New("empty user id")}
	}
	return c.apiDelete(ctx, "revoke user", c.base+"/api/jwt/refresh?userId="+url.QueryEscape(userID), false)
}

// RevokeRefreshTokenID revokes one refresh token by its id (DELETE
// /api/jwt/refresh/{id}), used when ending another of the user's sessions.
// It needs Config.APIKey. An id the IdP does not know (404) counts as
// revoked.
func (c *Client) RevokeRefreshTokenID(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return c.apiDelete(ctx, "revoke refresh token id", c.base+"/api/jwt/refresh/"+url.PathEscape(id), true)
}

func (c *Client) apiDelete(ctx context.Context, op, u string, notFoundOK bool) error {
	if c.cfg.APIKey == "" {
		return &Error{Op: op, Kind: ErrNoAPIKey}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return &Error{Op: op, Kind: ErrUnavailable, Err: err}
	}
	req.Header.Set("Authorization", c.cfg.APIKey) // raw key, no scheme (compat §0)
	status, body, err := c.send(op, c.plain, req)
	if err != nil {
		return err
	}
	switch {
	case status == http.StatusOK || status == http.StatusNoContent:
		return nil
	case status == http.StatusNotFound && notFoundOK:
		return nil
	}
	return &Error{Op: op, Kind: statusKind(status), StatusCode: status, Code: apiErrorCode(body)}
}

// oauthError converts an error from golang.org/x/oauth2 into an *Error,
// classifying HTTP answers with kind and everything else (network errors,
// timeouts, unparsable success bodies) as ErrUnavailable.
func (c *Client) oauthError(op string, err error, kind func(status int, code, reason string) error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		code, reason := oauthErrorCode(re.Body)
		if code == "" {
			code = re.ErrorCode
		}
		if status >= 200 && status < 300 {
			// "Unorthodox" 200 carrying an error: classify as a 400 would be.
			status = http.StatusBadRequest
		}
		// Drop the cause: RetrieveError's text includes the raw body.
		return &Error{Op: op, Kind: kind(status, code, reason), StatusCode: re.Response.StatusCode, Code: code, Reason: reason}
	}
	return &Error{Op: op, Kind: ErrUnavailable, Err: err}
}

// oauthErrorCode extracts error and error_reason from an OAuth error body.
func oauthErrorCode(body []byte) (code, reason string) {
	var e struct {
		Error       string `json:"error"`
		ErrorReason string `json:"error_reason"`
	}
	if json.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.Error, e.ErrorReason
}

// apiErrorCode extracts the first code of a FusionAuth Errors body.
func apiErrorCode(body []byte) string {
	var e struct {
		FieldErrors   map[string][]struct{ Code string } `json:"fieldErrors"`
		GeneralErrors []struct{ Code string }            `json:"generalErrors"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	for _, fe := range e.FieldErrors {
		if len(fe) > 0 {
			return fe[0].Code
		}
	}
	if len(e.GeneralErrors) > 0 {
		return e.GeneralErrors[0].Code
	}
	return ""
}

func extraString(t *oauth2.Token, key string) string {
	s, _ := t.Extra(key).(string)
	return s
}
