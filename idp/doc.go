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
//	PUT /api/user/unlock/{userId}  clear a brute-force delay or hard stop (Gatehouse)
//	/healthz, /readyz, /metrics
//
// It owns policy: client authentication, grant checks, password checks with
// a consecutive-failure delay, device tokens and per-IP throttling,
// refresh-token rotation with reuse detection and a grace period, access-token signing with keys kept in the store, and
// revocation events. It does not own persistence (package store and its
// backends), password hashing (package password) or anything app-side
// (package appkit).
//
// Where things are (one file per flow, as in ory/fosite): token.go is the
// token endpoint's dispatch; clientauth.go authenticates clients;
// password_grant.go and refresh_grant.go are the two grants, refresh.go the
// rotation and reuse detection they share with /api/jwt/refresh (jwtapi.go);
// mint.go signs the responses (keys.go, kek.go hold the keys); device.go is
// the device tokens; throttle.go the failure budgets; oauth.go revocation,
// introspection, userinfo and discovery; admin.go the admin core (usable
// without a Server) behind adminapi.go, apikeys.go and validate.go;
// events.go turns revocations into outbox messages.
//
// Configuration (design §7): a Server is configured by one Config struct
// passed to New(ctx, cfg), an Admin by AdminConfig. The zero value of every
// field means its documented default, declared once as a Default… constant
// (DefaultAccessTokenTTL, DefaultRefreshTokenTTL, DefaultGracePeriod, …) or
// by the policies' withDefaults, and the gatehouse CLI's flags read them
// from there; "none" is a separate field (DisableGracePeriod,
// LockoutPolicy.Disabled, ThrottlePolicy.Disabled), never a negative value,
// which New refuses. An application's gracePeriodInSeconds (a *int on the
// wire: absent = the server's default, 0 = none) is converted to the
// server's duration in one place, Server.policy.
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
//
// Failed logins (issue 9, AUD-1..AUD-4; see LockoutPolicy and the README):
//   - Failed logins never revoke tokens or end sessions. Each account has a
//     consecutive-failure counter (store.LoginFailures) that only a
//     successful login, an admin unlock (Admin.UnlockUser, PUT
//     /api/user/unlock/{userId}, `gatehouse user unlock`) or a new password
//     resets. After FreeFailures (5) the account accepts one attempt per
//     delay (30 s doubling to 15 min); at HardStop (100) none until unlocked.
//   - An attempt refused by the delay or the stop is not checked against
//     the real hash, costs a dummy verification and is not counted. Unknown
//     email, wrong password, delayed, stopped and deactivated accounts all
//     answer invalid_user_credentials for one hash; only the right password
//     learns user_locked, user_expired or change_password_required.
//   - Device tokens (OWASP device cookie): a successful password login
//     answers device_token (extension), a JWT signed with the current key,
//     typ gh-device+jwt, sub user, aud application, jti device id. Sent back
//     as the device_token form parameter, a valid one for that user bypasses
//     the delay, the stop and the per-IP limit; its failures count on the
//     device's own counter and after DeviceFailures (5) it stops bypassing.
//     A device's success resets only the device counter, so the owner signing
//     in gives strangers no new guesses. Invalid tokens are ignored.
//   - The password grant needs the client secret in the request (not just a
//     secret on file); only then is X-Forwarded-For trusted. Admin refuses
//     enabling the password grant with clientAuthenticationPolicy NotRequired.
//   - Two throttles: password failures per end-user IP, checked after client
//     authentication; client-authentication failures per TCP peer, which
//     never refuse a client that authenticates. Refreshes use neither.
//     WebAuthn ceremony starts (each stores a challenge) have a bucket of
//     their own per end-user IP, paid by every start (WA-9).
//   - A login writes only what it owns, conditionally (store.RecordLogin:
//     still active, hash unchanged), so a concurrent deactivation or
//     password change wins; admin paths use store.UpdateUser's
//     read-modify-write transaction (AUD-6).
package idp
