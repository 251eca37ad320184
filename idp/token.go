package idp

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The token endpoint, POST /oauth2/token (compat §1, §2): form parsing,
// grant dispatch and the throttled answer. Each grant lives in its own file
// (password_grant.go, refresh_grant.go), client authentication in
// clientauth.go and the minting they share in mint.go.

// Scopes this server understands; anything else is invalid_scope.
var knownScopes = []string{"openid", "offline_access", "email", "profile"}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if e := s.parseForm(w, r); e != nil {
		writeOAuthError(w, e)
		return
	}
	grant := param(r.PostForm.Get("grant_type"))
	switch grant {
	case "":
		writeOAuthError(w, errInvalidRequest("missing_grant_type", "The grant_type parameter is required."))
		return
	case "password", "refresh_token":
	case "authorization_code", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code":
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unauthorized_client", "grant_type_disabled",
			"The grant_type "+grant+" is not enabled for this application."))
		return
	default:
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unsupported_grant_type", "", "Unsupported grant_type."))
		return
	}
	app, secretOK, e := s.clientAuth(r)
	if e != nil {
		s.metrics.grants.WithLabelValues(grant, e.Code).Inc()
		if e.Status == http.StatusTooManyRequests {
			s.tooMany(w)
			return
		}
		writeOAuthError(w, e)
		return
	}
	if !slices.Contains(app.Config.EnabledGrants, grant) {
		writeOAuthError(w, oauthErr(http.StatusBadRequest, "unauthorized_client", "grant_type_disabled",
			"The grant_type "+grant+" is not enabled for this application."))
		return
	}
	var resp *tokenResponse
	if grant == "password" {
		resp, e = s.passwordGrant(r, app, secretOK)
	} else {
		resp, e = s.refreshGrant(r, app, secretOK)
	}
	if e != nil {
		s.metrics.grants.WithLabelValues(grant, e.Code).Inc()
		if e.Status == http.StatusTooManyRequests {
			s.tooMany(w)
			return
		}
		writeOAuthError(w, e)
		return
	}
	s.metrics.grants.WithLabelValues(grant, "ok").Inc()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) tooMany(w http.ResponseWriter) {
	s.metrics.throttled.Inc()
	w.Header().Set("Retry-After", fmt.Sprint(int(s.cfg.Throttle.Every.Seconds())+1))
	writeOAuthError(w, oauthErr(http.StatusTooManyRequests, "invalid_request", "too_many_requests",
		"Too many failed attempts from this address; try again later."))
}

// parseScopes splits and checks a scope parameter.
func parseScopes(raw string) ([]string, *oauthError) {
	var out []string
	for _, sc := range strings.Fields(raw) {
		if !slices.Contains(knownScopes, sc) {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", "unknown_scope", "The scope "+sc+" is not supported.")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}
