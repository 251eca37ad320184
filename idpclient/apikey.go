package idpclient

import "maps"

// APIKeyPermissions returns the API-key permissions this client's calls
// need, in FusionAuth's permissions.endpoints shape (endpoint -> methods),
// and nothing more (AUD-13):
//   - /api/jwt/refresh DELETE: RevokeUser (?userId=) and
//     RevokeRefreshTokenID (/{id});
//   - /api/user GET: GetUser (/{id}) and UserByChangePasswordID
//     (?changePasswordId=);
//   - /api/user/registration POST: Register;
//   - /api/user/verify-email PUT: ResendVerification;
//   - /api/user/forgot-password POST: ForgotPassword;
//   - /api/user/change-password POST: ChangePassword (ResetPassword sends
//     no key: the reset id is its credential);
//   - /api/user/change-email POST: ChangeEmail;
//   - the second factor's enrolment calls (twofactor.go) and the passkey
//     calls (webauthn.go).
//
// VerifyEmail sends no key either, and every OAuth call authenticates with
// the client's own id and secret. Give an app's Config.APIKey exactly
// these permissions: such a key can create accounts and read them, and
// change a password or an address only with the current password or a
// mailed id, but cannot update, delete or list users or touch any other
// application.
func APIKeyPermissions() map[string][]string {
	p := map[string][]string{
		"/api/jwt/refresh":          {"DELETE"},
		"/api/user":                 {"GET"},
		"/api/user/registration":    {"POST"},
		"/api/user/verify-email":    {"PUT"},
		"/api/user/forgot-password": {"POST"},
		"/api/user/change-password": {"POST"},
		"/api/user/change-email":    {"POST"},
	}
	maps.Copy(p, twoFactorPermissions())
	maps.Copy(p, passkeyPermissions())
	return p
}
