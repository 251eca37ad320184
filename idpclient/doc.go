// Package idpclient is the app side's client for the identity server: the
// calls an app backend makes on behalf of a browser in the password-grant
// login architecture (see design §2).
//
// It owns:
//   - the resource owner password credentials grant (POST /oauth2/token,
//     grant_type=password) through golang.org/x/oauth2, forwarding the
//     browser's IP in X-Forwarded-For;
//   - refresh, by either the OAuth token endpoint (grant_type=refresh_token)
//     or FusionAuth's POST /api/jwt/refresh (RefreshMethod);
//   - revocation of one refresh token (RFC 7009 POST /oauth2/revoke on a
//     Gatehouse IdP, or FusionAuth's POST /api/logout; see RevokeMethod) and
//     of all of a user's refresh tokens (DELETE /api/jwt/refresh?userId=,
//     which needs an API key);
//   - the account calls an app's own pages make with its scoped API key
//     (FusionAuth's user API: Register, GetUser, UserByChangePasswordID,
//     ForgotPassword, ChangePassword, ResendVerification, and Gatehouse's
//     ChangeEmail) or with a mailed id as the credential (ResetPassword,
//     VerifyEmail); APIKeyPermissions lists exactly what the key needs;
//   - fetching and caching the IdP's JWKS, refetched (rate-limited) when a
//     token names an unknown kid, and verifying access tokens: allowlisted
//     asymmetric algorithms only (ES256, RS256, EdDSA; never none or HS*),
//     keys chosen by kid from the JWKS only (jku, x5u and jwk headers are
//     ignored), iss, aud == client id, exp and iat with at most 60 s skew
//     (IDP-TOK-1, IDP-TOK-2, IDP-TOK-3);
//   - classifying every failure into a few kinds the app can act on
//     (ErrInvalidCredentials, ErrLocked, ErrRefreshTokenDead, ErrUnavailable,
//     ErrThrottled, ErrInvalidToken, ErrRejected, and for the account calls
//     ErrNotFound, ErrDuplicate, ErrInvalidInput with the field-error codes
//     in Error.Fields), tested with errors.Is.
//
// It does not own sessions, cookies or HTTP handlers (package appkit does),
// and it never logs, stores or caches a password or a token.
//
// A Client is configured by one Config struct, passed to New (design §7):
// the zero value of every field means its documented default, declared
// once as a Default… constant (DefaultTimeout, DefaultRefreshMethod, …);
// negative durations are refused; the logger and the clock are Config
// fields.
//
// Every call has a timeout (Config.Timeout). A plain-http IdP URL is refused
// unless its host is a loopback address, because the password and the
// tokens travel on that connection.
package idpclient
