package idp

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// The refresh_token grant at the token endpoint (compat §2). Rotation,
// reuse detection and the checks that run before it live in refresh.go.

func (s *Server) refreshGrant(r *http.Request, app *store.Application, secretOK bool) (*tokenResponse, *oauthError) {
	ctx := r.Context()
	s.refreshCount.Add(1)
	s.metrics.refreshCalls.Inc()
	f := r.PostForm
	tok := param(f.Get("refresh_token"))
	if tok == "" {
		return nil, errInvalidRequest("missing_refresh_token", "The refresh_token parameter is required.")
	}
	var asked []string
	if req := param(f.Get("scope")); req != "" {
		var e *oauthError
		if asked, e = parseScopes(req); e != nil {
			return nil, e
		}
	}
	// The scope is checked against the family before the rotation, so a
	// refused request leaves the token usable (AUD-5).
	var scopes []string
	var refused *oauthError
	ip := clientIP(r, secretOK)
	res, err := s.redeem(ctx, tok, app, ip, func(res *refreshed) error {
		scopes = res.family.Scopes
		if asked == nil {
			return nil
		}
		for _, sc := range asked { // IDP-TOK-6: may narrow, never widen
			if !slices.Contains(scopes, sc) {
				refused = oauthErr(http.StatusBadRequest, "invalid_scope", "", "The scope "+sc+" was not granted.")
				return errRefreshRefused
			}
		}
		scopes = asked
		return nil
	})
	if errors.Is(err, errRefreshRefused) {
		return nil, refused
	}
	if errors.Is(err, errRefreshInvalid) {
		return nil, errRefreshNotFound()
	}
	if err != nil {
		s.log.Error("refresh", "err", err)
		return nil, errServer()
	}
	return s.refreshResponse(ctx, res, scopes)
}

// refreshResponse mints the access token for a successful refresh. Its
// amr is the login's, stored with the family like auth_time (none for a
// family stored before amr was).
func (s *Server) refreshResponse(ctx context.Context, res *refreshed, scopes []string) (*tokenResponse, *oauthError) {
	resp, e := s.mint(ctx, tokenParams{user: res.user, app: res.app, scopes: scopes, authType: "REFRESH_TOKEN",
		authTime: res.family.AuthTime, sid: res.family.ID, grants: res.family.Grants, ttl: res.pol.accessTTL,
		amr: res.family.AMR})
	if e != nil {
		return nil, e
	}
	resp.RefreshToken, resp.RefreshTokenID = res.token, res.family.ID
	return resp, nil
}
