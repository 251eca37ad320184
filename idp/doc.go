// Package idp is Gatehouse's identity server: the HTTP layer that speaks
// FusionAuth's wire protocol (and the RFCs where FusionAuth is silent) for
// the endpoints a password-grant login with server-side sessions needs:
//
//	POST /oauth2/token            password and refresh_token grants (RFC 6749)
//	POST /oauth2/revoke           RFC 7009 (Gatehouse extra)
//	POST /oauth2/introspect       RFC 7662
//	GET|POST /oauth2/userinfo     OIDC userinfo
//	GET  /.well-known/openid-configuration, /.well-known/jwks.json
//	POST|GET|DELETE /api/jwt/refresh, GET /api/jwt/validate, GET /api/jwt/public-key
//	POST /api/logout
//	/api/user, /api/user/registration, /api/application   admin API (API key)
//	/healthz, /readyz, /metrics
//
// It owns policy: client authentication, grant checks, password checks with
// lockout and per-IP throttling, refresh-token rotation with reuse detection
// and a grace period, access-token signing with keys kept in the store, and
// revocation events. It does not own persistence (package store and its
// backends), password hashing (package password) or anything app-side
// (package appkit).
//
// Choices where the spec leaves one (see also the README):
//   - Refresh tokens are one-time-use by default; presenting the just-rotated
//     token again within the grace period (default 10 s) answers the same
//     successor, which is kept sealed with a key derived from the rotated
//     token itself, so only its holder can open it. Later reuse deletes the
//     whole family (RFC 9700 §4.14.2).
//   - refresh_token_id / refreshTokenId is the family id: stable across
//     rotations, as FusionAuth keeps one id for a one-time-use token.
//   - /api/jwt/refresh answers 404 with an empty body for a dead refresh
//     token (the source article's behaviour).
//   - Access tokens carry typ "at+jwt" (RFC 9068) and live 15 minutes
//     unless the application says otherwise (IDP-TOK-4).
package idp
