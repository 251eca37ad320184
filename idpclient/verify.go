package idpclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// allowedAlgs is the signature allowlist (IDP-TOK-1): asymmetric only;
// none and HS* are never accepted.
func allowedAlgs() []string { return []string{"ES256", "RS256", "EdDSA"} }

// Claims are the verified claims of an access token (compat §11).
type Claims struct {
	Issuer    string
	Subject   string // the user id
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	// AuthTime is the original password login, unchanged by refreshes; zero
	// if the token has no auth_time.
	AuthTime           time.Time
	ID                 string // jti
	Email              string
	EmailVerified      bool
	PreferredUsername  string
	ApplicationID      string
	Roles              []string
	Scope              string
	SID                string // the refresh token (family) id issued with it
	AuthenticationType string
	TenantID           string
	// AMR says how the user signed in (RFC 8176): ["pwd"], or
	// ["pwd","otp","mfa"] after a second factor, or
	// ["hwk"|"swk","user","mfa"] with a passkey. Only a login's tokens
	// carry it (a Gatehouse IdP's; not FusionAuth's): keep it in the
	// session.
	AMR []string
	// Raw is the token's JSON payload as the IdP signed it.
	Raw json.RawMessage
}

// tokenClaims is the decoding target for golang-jwt.
type tokenClaims struct {
	jwt.RegisteredClaims
	AuthTime           *jwt.NumericDate `json:"auth_time,omitempty"`
	Email              string           `json:"email,omitempty"`
	EmailVerified      bool             `json:"email_verified,omitempty"`
	PreferredUsername  string           `json:"preferred_username,omitempty"`
	ApplicationID      string           `json:"applicationId,omitempty"`
	Roles              []string         `json:"roles,omitempty"`
	Scope              string           `json:"scope,omitempty"`
	SID                string           `json:"sid,omitempty"`
	AuthenticationType string           `json:"authenticationType,omitempty"`
	TenantID           string           `json:"tid,omitempty"`
	AMR                []string         `json:"amr,omitempty"`
}

// Verify checks an access token issued by the IdP to this client and
// returns its claims:
//   - the algorithm is ES256, RS256 or EdDSA, and fits the key (IDP-TOK-1);
//   - the header typ is at+jwt (RFC 9068): an id_token is refused (AUD-11);
//   - the key is the JWKS key named by the token's kid; jku, x5u and jwk
//     headers are ignored (IDP-TOK-2);
//   - iss is the IdP's issuer, aud is exactly this client id, exp is in the
//     future and iat not in the future, each with Config.ClockSkew leeway;
//     sub is present (IDP-TOK-3).
//
// Failures are ErrInvalidToken, or ErrUnavailable when the JWKS or the
// discovery document cannot be fetched.
func (c *Client) Verify(ctx context.Context, token string) (*Claims, error) {
	const op = "verify"
	iss, err := c.Issuer(ctx)
	if err != nil {
		return nil, err
	}
	var keyErr error
	p := jwt.NewParser(
		jwt.WithValidMethods(allowedAlgs()),
		jwt.WithIssuer(iss),
		jwt.WithAudience(c.cfg.ClientID),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(c.cfg.ClockSkew),
		jwt.WithTimeFunc(c.now),
	)
	var tc tokenClaims
	_, err = p.ParseWithClaims(token, &tc, func(t *jwt.Token) (any, error) {
		// An id_token (typ JWT) is signed by the same key for the same
		// audience; only an access token may pass (RFC 9068, AUD-11).
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			return nil, fmt.Errorf("typ %q is not an access token (at+jwt)", typ)
		}
		alg := t.Method.Alg()
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		k, err := c.jwks.get(ctx, kid)
		if err != nil {
			keyErr = err
			return nil, err
		}
		if !keyFits(k, alg) {
			return nil, fmt.Errorf("key %q does not fit alg %s", kid, alg)
		}
		return k.key, nil
	})
	if keyErr != nil && errors.Is(keyErr, ErrUnavailable) {
		return nil, keyErr
	}
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrInvalidToken, Err: err}
	}
	if len(tc.Audience) != 1 {
		return nil, &Error{Op: op, Kind: ErrInvalidToken, Err: fmt.Errorf("aud has %d values, want exactly the client id", len(tc.Audience))}
	}
	if tc.Subject == "" || tc.IssuedAt == nil {
		return nil, &Error{Op: op, Kind: ErrInvalidToken, Err: errors.New("token lacks sub or iat")}
	}
	cl := &Claims{
		Issuer:             tc.Issuer,
		Subject:            tc.Subject,
		Audience:           tc.Audience,
		ExpiresAt:          tc.ExpiresAt.Time,
		IssuedAt:           tc.IssuedAt.Time,
		ID:                 tc.ID,
		Email:              tc.Email,
		EmailVerified:      tc.EmailVerified,
		PreferredUsername:  tc.PreferredUsername,
		ApplicationID:      tc.ApplicationID,
		Roles:              tc.Roles,
		Scope:              tc.Scope,
		SID:                tc.SID,
		AuthenticationType: tc.AuthenticationType,
		TenantID:           tc.TenantID,
		AMR:                tc.AMR,
	}
	if tc.AuthTime != nil {
		cl.AuthTime = tc.AuthTime.Time
	}
	// The payload was parsed successfully above, so it is valid base64url.
	if parts := strings.SplitN(token, ".", 3); len(parts) == 3 {
		if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			cl.Raw = raw
		}
	}
	return cl, nil
}
