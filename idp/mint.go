package idp

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Token responses shared by the grants: minting the access token (and the
// id_token) for a login or a refresh.

// tokenResponse is the /oauth2/token success body (compat §1).
type tokenResponse struct {
	AccessToken    string `json:"access_token"`
	ExpiresIn      int64  `json:"expires_in"`
	IDToken        string `json:"id_token,omitempty"`
	RefreshToken   string `json:"refresh_token,omitempty"`
	RefreshTokenID string `json:"refresh_token_id,omitempty"`
	Scope          string `json:"scope,omitempty"`
	TokenType      string `json:"token_type"`
	UserID         string `json:"userId"`
	// DeviceToken is Gatehouse's extension to the password grant (not
	// FusionAuth): a token binding this browser to the user, to be sent
	// back as the device_token form parameter of later password grants
	// (see LockoutPolicy).
	DeviceToken string `json:"device_token,omitempty"`
}

// loginTokens answers a successful password login: the access token,
// bound by sid to the login's refresh-token family when there is one
// (checkPassword stored it with the login record).
// amr says how the user authenticated (RFC 8176: pwd, or pwd otp mfa).
func (s *Server) loginTokens(ctx context.Context, user *store.User, app *store.Application, scopes []string, fam *loginFamily, amr []string) (*tokenResponse, *oauthError) {
	p := tokenParams{user: user, app: app, scopes: scopes, authType: "PASSWORD", authTime: s.now(),
		grants: []string{"password"}, ttl: s.policy(app).accessTTL, amr: amr}
	if fam != nil {
		p.authTime, p.sid = fam.family.AuthTime, fam.family.ID
	}
	resp, e := s.mint(ctx, p)
	if e != nil {
		return nil, e
	}
	if fam != nil {
		resp.RefreshToken, resp.RefreshTokenID = fam.token, fam.family.ID
	}
	return resp, nil
}

// mint signs the access token (and the id_token when openid was granted)
// for p and wraps them in a token response. The user's registration for
// the application decides the applicationId and roles claims.
func (s *Server) mint(ctx context.Context, p tokenParams) (*tokenResponse, *oauthError) {
	reg, err := s.store.GetRegistration(ctx, p.user.ID, p.app.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, errServer()
	}
	p.reg = reg
	at, exp, err := s.signAccessToken(ctx, p)
	if err != nil {
		s.log.Error("sign access token", "err", err)
		return nil, errServer()
	}
	resp := &tokenResponse{AccessToken: at, ExpiresIn: int64(exp.Sub(s.now()).Seconds()), TokenType: "Bearer",
		UserID: p.user.ID, Scope: strings.Join(p.scopes, " ")}
	if slices.Contains(p.scopes, "openid") {
		if resp.IDToken, err = s.signIDToken(p, exp); err != nil {
			return nil, errServer()
		}
	}
	return resp, nil
}
