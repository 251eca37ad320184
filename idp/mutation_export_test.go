package idp

import "github.com/golang-jwt/jwt/v5"

// SignAccessClaims signs claims with s's current signing key as an access
// token (typ at+jwt, the key's kid), as signAccessToken does. Tests use it
// to present tokens the IdP verifies but would never mint, e.g. one whose
// sid names another user's family.
func SignAccessClaims(s *Server, claims jwt.MapClaims) (string, error) {
	k := s.keys.current()
	t := jwt.NewWithClaims(k.method, claims)
	t.Header["kid"] = k.rec.ID
	t.Header["typ"] = "at+jwt"
	return t.SignedString(k.signer)
}
