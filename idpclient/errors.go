package idpclient

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Failure kinds. Every error returned by a Client call is an *Error whose
// Kind is one of these, so callers decide with errors.Is.
var (
	// ErrInvalidCredentials: the password grant was refused for the
	// credentials (400 invalid_grant, e.g. invalid_user_credentials). Unknown
	// user and wrong password are not told apart (APP-LOGIN-4).
	ErrInvalidCredentials = errors.New("credentials rejected")
	// ErrLocked: the account may not log in right now (invalid_grant with
	// error_reason login_prevented or user_locked). The Gatehouse IdP sends
	// only user_locked, and only to the right password of a deactivated
	// account; an account in its brute-force delay answers like a wrong
	// password (ErrInvalidCredentials).
	ErrLocked = errors.New("account locked")
	// ErrRefreshTokenDead: a refresh was refused with a 4xx status (400
	// invalid_grant, 401, 404 from /api/jwt/refresh ...): the refresh token
	// will never work again and the user must log in.
	ErrRefreshTokenDead = errors.New("refresh token rejected")
	// ErrUnavailable: the IdP could not be reached or answered 5xx, a
	// redirect, or a malformed success; retrying later may work. Nobody
	// should be logged out because of it.
	ErrUnavailable = errors.New("identity server unavailable")
	// ErrThrottled: the IdP answered 429 (or 408). Treated like
	// ErrUnavailable for refreshes; a login form can say "try again later".
	ErrThrottled = errors.New("identity server throttled the request")
	// ErrInvalidToken: an access token failed verification (signature,
	// algorithm, key, iss, aud, exp, iat).
	ErrInvalidToken = errors.New("access token invalid")
	// ErrRejected: any other refusal (invalid_client, unauthorized_client,
	// change_password_required, two_factor_required, a bad API key, ...).
	// Usually a configuration problem of the app, not of the user.
	ErrRejected = errors.New("request rejected by identity server")
	// ErrNoAPIKey: the call needs Config.APIKey, which is empty.
	ErrNoAPIKey = errors.New("no API key configured")
	// ErrNotFound: an account call named something the IdP does not know
	// (404): an unknown user or email, or a verification or reset id that
	// is unknown, expired or already used.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: a 400 whose field errors include a code starting
	// "[duplicate]" (an email address already taken). Error.Fields lists
	// every code.
	ErrDuplicate = errors.New("already exists")
	// ErrInvalidInput: any other 400 with field errors, e.g. a password the
	// policy refuses ("[tooShort]user.password",
	// "[breachedCommonPassword]password"). Error.Fields lists the codes.
	ErrInvalidInput = errors.New("invalid input")
)

// Error is the error type of every Client call.
type Error struct {
	// Op names the call: "password grant", "refresh", "revoke", ...
	Op string
	// Kind is one of the Err* variables of this package.
	Kind error
	// StatusCode is the HTTP status the IdP answered, 0 if none.
	StatusCode int
	// Code and Reason are the OAuth error and FusionAuth error_reason (or
	// the first field-error code of an /api error), when the IdP sent them.
	// They are safe to log; the IdP's error_description is deliberately not
	// kept, so it cannot be echoed to a browser (APP-LOGIN-4).
	Code, Reason string
	// Fields are all the field-error codes of an /api answer, sorted
	// ("[tooShort]user.password", "[duplicate]user.email", ...): FusionAuth
	// codes, safe to log and to map to form messages.
	Fields []string
	// Err is the underlying cause, if any.
	Err error
}

// Error describes the failure without any token or password.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("idpclient: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.Error())
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (status %d", e.StatusCode)
		if e.Code != "" {
			fmt.Fprintf(&b, ", %s", e.Code)
		}
		if e.Reason != "" {
			fmt.Fprintf(&b, "/%s", e.Reason)
		}
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// statusKind classifies a non-2xx status of a call that is not a password
// grant or refresh: 5xx and 3xx are unavailability, 408/429 throttling, any
// other 4xx a refusal.
func statusKind(status int) error {
	switch {
	case status == 408 || status == 429:
		return ErrThrottled
	case status >= 400 && status < 500:
		return ErrRejected
	default:
		return ErrUnavailable
	}
}

// apiKind classifies a non-2xx answer of an account call (/api/user/...)
// by its status and field-error codes.
func apiKind(status int, fields []string) error {
	switch {
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusBadRequest && len(fields) > 0:
		for _, f := range fields {
			if strings.HasPrefix(f, "[duplicate]") {
				return ErrDuplicate
			}
		}
		return ErrInvalidInput
	default:
		return statusKind(status)
	}
}

// passwordKind classifies a failed password grant.
func passwordKind(status int, code, reason string) error {
	switch {
	case status >= 500 || status < 400:
		return ErrUnavailable
	case status == 408 || status == 429:
		return ErrThrottled
	case code == "invalid_grant" && (reason == "login_prevented" || reason == "user_locked"):
		return ErrLocked
	case code == "invalid_grant":
		return ErrInvalidCredentials
	default:
		return ErrRejected
	}
}

// refreshKind classifies a failed refresh: any 4xx except 408/429 means the
// token is dead (Gatehouse decision 1 in spec/fusionauth-api.md).
func refreshKind(status int) error {
	switch {
	case status == 408 || status == 429:
		return ErrThrottled
	case status >= 400 && status < 500:
		return ErrRefreshTokenDead
	default:
		return ErrUnavailable
	}
}
