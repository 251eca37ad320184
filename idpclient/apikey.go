package idpclient

import "maps"

// APIKeyPermissions returns the API-key permissions this client's calls
// need, in FusionAuth's permissions.endpoints shape (endpoint -> methods):
// RevokeUser (DELETE /api/jwt/refresh?userId=) and RevokeRefreshTokenID
// (DELETE /api/jwt/refresh/{id}). Every other call authenticates with the
// client's own id and secret. Give an app's Config.APIKey exactly these
// permissions (AUD-13): such a key cannot create or change users. The
// second factor's enrolment calls (twofactor.go) and the passkey calls
// (webauthn.go) add their endpoints.
func APIKeyPermissions() map[string][]string {
	p := map[string][]string{"/api/jwt/refresh": {"DELETE"}}
	maps.Copy(p, twoFactorPermissions())
	maps.Copy(p, passkeyPermissions())
	return p
}
