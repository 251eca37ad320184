// Package appkit is the library an app backend imports to get the login
// architecture of docs/design.md right on plain net/http: a native login form
// whose backend calls the identity server with the password grant, a
// server-side session, and a sealed refresh-token cookie that silently
// re-creates an expired session (scenarios S1-S5, S8, S9, S11).
//
// # What it owns
//
//   - Login (LoginHandler): GET renders the app's template (LoginPage, with
//     an error slot); POST calls the IdP (package idpclient), verifies the
//     JWT against the JWKS, creates a new session and answers 303 to a safe
//     next (SafeNext) or Config.HomePath.
//   - Middleware: RequireLogin and OptionalLogin, func(http.Handler)
//     http.Handler; handlers read the user with User(ctx) and the session
//     with Session(ctx).
//   - Refresh: an expired session plus a live refresh cookie becomes a new
//     session in the same response. A live session whose access token has
//     expired is refreshed the same way, so every session is re-validated
//     at the IdP once per access-token lifetime and a revocation reaches it
//     within that time even if every webhook is lost (AUD-9); without the
//     refresh cookie such a session is not served. Concurrent requests
//     carrying the same refresh cookie share one IdP call: singleflight in
//     the process, and a claim plus a sealed result record in the session
//     store across processes (S11). A claim is a lease of its process
//     (RefreshClaimLease, renewed while the IdP call runs), so a process
//     that dies mid-refresh holds the others up for at most one lease and
//     they still present the token inside the IdP's grace period; a stored
//     result whose session has gone is honoured by presenting its new
//     refresh token (AUD-18).
//   - Logout (LogoutHandler), "my sessions" (SessionsHandler, ListSessions,
//     EndSession, EndOtherSessions, EndAllSessions) and EndUserSessions for
//     revocation notices from the IdP.
//   - Account pages (AccountRoutes, or SignupHandler, ForgotPasswordHandler,
//     ResetPasswordHandler, VerifyEmailHandler, AccountHandler and its
//     POST actions): the app's own forms calling the IdP's user API with
//     the app's scoped API key; no answer tells whether an address has an
//     account; link pages change nothing on GET; sign-up, a reset and a
//     password change sign the browser in through the login path; a
//     password or email change needs the current password (APP-LIFE-4).
//   - Second factor (issue 12): a user with an authenticator app gets the
//     second step after the password (SecondStepHandler at
//     SecondStepPath, mounted by AccountRoutes; the IdP's twoFactorId stays
//     in the session store behind a 5-minute "<app>-2fa" cookie), then the
//     same session as a password login; "trust this browser" keeps the
//     IdP's twoFactorTrustId sealed in the "<app>-trust" cookie; the
//     account page sets the authenticator up (QR code as inline SVG),
//     regenerates recovery codes and turns it off with a code
//     (APP-MFA-1 … APP-MFA-6). UserInfo.AMR says how the user signed in.
//   - Cookies: the session cookie holds a 256-bit random id (base64url);
//     the store is keyed by SHA-256 of it, so a store dump yields no
//     cookie. The refresh cookie holds the IdP refresh token sealed with
//     AES-256-GCM under a key derived from Config.SealKey, bound to the
//     cookie name, with its issue time and the original auth_time. Both are
//     HttpOnly, host-only, Path=/, Secure with the __Host- prefix outside
//     development mode; the session cookie is SameSite=Lax and not
//     persistent, the refresh cookie SameSite=Strict by default.
//   - CSRF: every unsafe-method request through the kit passes
//     net/http.CrossOriginProtection (Config.CrossOrigin); apps wrap
//     state-changing handlers that are not behind RequireLogin with
//     Protect.
//   - Headers: nosniff, Referrer-Policy, CSP frame-ancestors 'none' (and
//     HSTS outside development mode) on every kit response; Cache-Control:
//     no-store on every response that sets cookies or serves a user.
//
// It does not own the session storage (package sessionstore and its
// backends), the IdP protocol (package idpclient) or the app's pages.
//
// # Timeouts and lifetimes
//
// Sessions slide on activity (Config.IdleTimeout, default 30 min) up to an
// absolute lifetime (Config.AbsoluteLifetime, default 12 h); refreshes stop
// Config.ReauthAfter (default 30 days) after the password login. To keep
// the middleware cheap, the sliding extension is written to the store only
// when it moves the expiry by more than Config.TouchInterval (default
// min(IdleTimeout/10, 1 min)); a request for a live session is one store
// read, and the access-token claims are decoded only when User is called.
//
// # Configuration
//
// A Kit is configured by one Config struct, passed to New (design §7): the
// zero value of every field means its documented default, declared once as
// a Default… constant (DefaultIdleTimeout, DefaultAbsoluteLifetime, …) that
// the gatehouse CLI's flags read too; a setting that can be turned off has
// its own DisableX field (DisableClearSiteData, DisableSecurityHeaders);
// negative durations are refused. The logger and the clock are Config
// fields. The session stores follow the same rule: memstore.New(Config),
// and sqlitestore, pgstore and redisstore Open(ctx, Config).
//
// # Failure handling
//
// The refresh outcome decides the response: refused by the IdP (any 4xx)
// clears both cookies and redirects to the login page; an IdP or store
// that cannot be reached answers 503 and changes nothing, so nobody is
// logged out by an outage.
//
// # Known limits
//
// Ending another browser's session revokes its refresh token only when the
// idpclient has an API key (without one, a refresh result stored in the
// last RefreshResultTTL can bring that session back through its successor
// token); logout's Clear-Site-Data omits "cookies"
// because browsers apply it to the whole registrable domain (see
// Config.ClearSiteData).
package appkit
