package idp

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// looksLikeJWT: three dot-separated parts.
func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 }

// handleRevoke is RFC 7009 token revocation (IDP-REV-1). Revoking a refresh
// token ends its whole family (IDP-REV-2). Unknown tokens answer 200; a
// token of another client is refused and stays valid.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if e := s.parseForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	app, _, e := s.clientAuth(r)
	if e != nil {
		if e.Status == http.StatusTooManyRequests {
			s.tooMany(w)
			return
		}
		writeOAuthError(w, e)
		return
	}
	tok := param(r.PostForm.Get("token"))
	if tok == "" {
		writeOAuthError(w, errInvalidRequest("missing_token", "The token parameter is required."))
		return
	}
	hint := param(r.PostForm.Get("token_type_hint"))
	if hint == "access_token" || (hint == "" && looksLikeJWT(tok)) {
		// Access tokens are short-lived JWTs and cannot be recalled one by
		// one (RFC 7009 §2.2.1 lets a server decline).
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unsupported_token_type", "", "Only refresh tokens can be revoked."))
		return
	}
	if hint != "" && hint != "refresh_token" {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unsupported_token_type", "", "Unsupported token_type_hint."))
		return
	}
	fam, err := s.familyOf(r, tok)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			writeOAuthError(w, errServer())
			return
		}
		writeEmpty(w, http.StatusOK) // RFC 7009 §2.2: unknown tokens are not an error
		return
	}
	if fam.ApplicationID != app.ID {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unauthorized_client", "", "The token was not issued to this client."))
		return
	}
	s.revokeFamily(w, r, fam, "revoke")
}

// handleIntrospect is RFC 7662 (compat §7).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if e := s.parseForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	if r.Header.Get("Authorization") == "" && param(r.PostForm.Get("client_id")) == "" {
		writeOAuthError(w, errInvalidRequest("missing_client_id", "The client_id parameter is required."))
		return
	}
	app, _, e := s.clientAuth(r)
	if e != nil && e.Status == http.StatusTooManyRequests {
		s.tooMany(w)
		return
	}
	if e != nil {
		// Introspection allows a client without a secret (compat §7:
		// client_secret optional, checked if sent).
		if e.Reason != "client_authentication_missing" {
			writeOAuthError(w, e)
			return
		}
		app, _ = s.store.GetApplication(r.Context(), param(r.PostForm.Get("client_id")))
		if app == nil {
			writeOAuthError(w, e)
			return
		}
	}
	tok := param(r.PostForm.Get("token"))
	if tok == "" {
		writeOAuthError(w, errInvalidRequest("missing_token", "The token parameter is required."))
		return
	}
	inactive := map[string]any{"active": false}
	switch hint := param(r.PostForm.Get("token_type_hint")); hint {
	case "refresh_token":
		if looksLikeJWT(tok) {
			writeOAuthError(w, errInvalidRequest("token_type_hint_mismatch", "The token is not a refresh token."))
			return
		}
		fam, err := s.store.GetRefreshTokenByHash(r.Context(), hashToken(tok))
		if err != nil || !wellFormedRefreshToken(tok) || fam.ApplicationID != app.ID || !s.now().Before(fam.ExpiresAt) {
			writeJSON(w, http.StatusOK, inactive)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"active": true, "exp": fam.ExpiresAt.Unix()})
		return
	case "", "access_token", "id_token":
		if hint != "" && !looksLikeJWT(tok) {
			writeOAuthError(w, errInvalidRequest("token_type_hint_mismatch", "The token is not a JWT."))
			return
		}
	default:
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unsupported_token_type", "", "Unsupported token_type_hint."))
		return
	}
	c, err := s.verifyAccessToken(r.Context(), tok)
	if err != nil || c.Audience != app.ID {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	out := map[string]any{"active": true}
	if err := remarshal(c, &out); err != nil {
		writeOAuthError(w, errServer())
		return
	}
	out["active"] = true
	writeJSON(w, http.StatusOK, out)
}

// handleUserinfo is OIDC userinfo (compat §8), with FusionAuth's
// Compatibility claims: the user record plus applicationId and roles.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		writeOAuthError(w, oauthErr(http.StatusUnauthorized, "invalid_request", "missing_access_token", "An access token is required."))
		return
	}
	c, err := s.verifyAccessToken(r.Context(), tok)
	if err != nil {
		reason := "access_token_invalid"
		if errors.Is(err, errTokenExpired) {
			reason = "access_token_expired"
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeOAuthError(w, oauthErr(http.StatusUnauthorized, "invalid_token", reason, "The access token is invalid or expired."))
		return
	}
	u, err := s.store.GetUser(r.Context(), c.Subject)
	if err != nil {
		writeOAuthError(w, oauthErr(http.StatusUnauthorized, "invalid_token", "access_token_invalid", "The access token is invalid."))
		return
	}
	out := map[string]any{"sub": u.ID, "email": u.Email, "email_verified": u.Verified}
	for k, v := range map[string]string{"given_name": u.FirstName, "family_name": u.LastName, "name": u.FullName, "preferred_username": u.Username} {
		if v != "" {
			out[k] = v
		}
	}
	if c.ApplicationID != "" {
		out["applicationId"], out["roles"] = c.ApplicationID, c.Roles
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimRight(s.cfg.Issuer, "/")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/oauth2/authorize",
		"token_endpoint":                        base + "/oauth2/token",
		"userinfo_endpoint":                     base + "/oauth2/userinfo",
		"jwks_uri":                              base + "/.well-known/jwks.json",
		"end_session_endpoint":                  base + "/oauth2/logout",
		"revocation_endpoint":                   base + "/oauth2/revoke",
		"introspection_endpoint":                base + "/oauth2/introspect",
		"grant_types_supported":                 []string{"password", "refresh_token"},
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"scopes_supported":                      knownScopes,
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{AlgES256, AlgRS256, AlgEdDSA},
		"userinfo_signing_alg_values_supported": []string{AlgES256, AlgRS256, AlgEdDSA},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"claims_supported": []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified",
			"given_name", "family_name", "name", "preferred_username", "roles", "applicationId", "sid", "amr"},
		"frontchannel_logout_supported": false,
		"backchannel_logout_supported":  false,
	})
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	s.keys.maybeReload(r.Context())
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Type", "application/json")
	_ = jsonEncode(w, s.keys.jwks())
}
