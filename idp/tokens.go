package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// baseClaims are the registered claims. aud is a single string, as
// FusionAuth writes it (golang-jwt's RegisteredClaims would write an array).
type baseClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// The jwt.Claims interface, for signing and validation.
func (c baseClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c baseClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c baseClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c baseClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c baseClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c baseClaims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings{c.Audience}, nil }

// AccessClaims are the claims of a Gatehouse access token (compat §11).
type AccessClaims struct {
	baseClaims
	ApplicationID      string   `json:"applicationId,omitempty"`
	AuthenticationType string   `json:"authenticationType,omitempty"`
	AuthTime           int64    `json:"auth_time,omitempty"`
	Email              string   `json:"email,omitempty"`
	EmailVerified      bool     `json:"email_verified"`
	PreferredUsername  string   `json:"preferred_username,omitempty"`
	Roles              []string `json:"roles,omitempty"`
	Scope              string   `json:"scope,omitempty"`
	SID                string   `json:"sid,omitempty"`
	// AMR (RFC 8176) says how the user authenticated: ["pwd"], or
	// ["pwd","otp","mfa"] after a second factor (compat §16).
	AMR []string `json:"amr,omitempty"`
}

// tokenParams is what minting an access token needs.
type tokenParams struct {
	user     *store.User
	app      *store.Application
	reg      *store.Registration // nil when the user is not registered
	scopes   []string
	authType string // PASSWORD or REFRESH_TOKEN
	authTime time.Time
	sid      string
	grants   []string // header gty
	ttl      time.Duration
	amr      []string // login tokens only (compat §16)
}

// signAccessToken mints and signs an access token; it returns the token
// and its expiry.
func (s *Server) signAccessToken(ctx context.Context, p tokenParams) (string, time.Time, error) {
	s.keys.maybeReload(ctx)
	k := s.keys.current()
	if k == nil {
		return "", time.Time{}, errors.New("no active signing key")
	}
	now := s.now()
	exp := now.Add(p.ttl).Truncate(time.Second)
	c := AccessClaims{
		baseClaims: baseClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   p.user.ID,
			Audience:  p.app.ID,
			ExpiresAt: jwt.NewNumericDate(exp),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        timedJTI(now),
		},
		AuthenticationType: p.authType,
		AuthTime:           p.authTime.Unix(),
		Email:              p.user.Email,
		EmailVerified:      p.user.Verified,
		PreferredUsername:  p.user.Username,
		Scope:              strings.Join(p.scopes, " "),
		SID:                p.sid,
		AMR:                p.amr,
	}
	if p.reg != nil {
		c.ApplicationID = p.app.ID
		c.Roles = p.reg.Roles
	}
	t := jwt.NewWithClaims(k.method, c)
	t.Header["kid"] = k.rec.ID
	t.Header["typ"] = "at+jwt" // RFC 9068 (IDP-TOK-3)
	if len(p.grants) > 0 {
		t.Header["gty"] = p.grants
	}
	signed, err := t.SignedString(k.signer)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, exp, nil
}

// idClaims are the claims of an OpenID Connect id_token.
type idClaims struct {
	baseClaims
	AuthTime          int64    `json:"auth_time,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     bool     `json:"email_verified"`
	GivenName         string   `json:"given_name,omitempty"`
	FamilyName        string   `json:"family_name,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	SID               string   `json:"sid,omitempty"`
	AMR               []string `json:"amr,omitempty"`
}

func (s *Server) signIDToken(p tokenParams, exp time.Time) (string, error) {
	k := s.keys.current()
	if k == nil {
		return "", errors.New("no active signing key")
	}
	now := s.now()
	c := idClaims{
		baseClaims: baseClaims{
			Issuer: s.cfg.Issuer, Subject: p.user.ID, Audience: p.app.ID,
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		},
		AuthTime: p.authTime.Unix(), Email: p.user.Email, EmailVerified: p.user.Verified,
		GivenName: p.user.FirstName, FamilyName: p.user.LastName, Name: p.user.FullName,
		PreferredUsername: p.user.Username, SID: p.sid, AMR: p.amr,
	}
	t := jwt.NewWithClaims(k.method, c)
	t.Header["kid"] = k.rec.ID
	return t.SignedString(k.signer)
}

// errTokenExpired distinguishes an expired token from an invalid one.
var errTokenExpired = errors.New("token expired")

// errTokenRevoked: the token verifies but was revoked: its family is gone,
// its user is deactivated, or the user's tokens were revoked at or after
// its issue.
var errTokenRevoked = errors.New("token revoked")

// accessTokenType reports whether a JWT typ header names an access token
// (RFC 9068 §2.1: "at+jwt", or the full media type). An id_token carries
// typ JWT and must never pass where an access token is expected (AUD-11).
func accessTokenType(typ any) bool {
	s, _ := typ.(string)
	s = strings.ToLower(s)
	return s == "at+jwt" || s == "application/at+jwt"
}

// timedJTI returns a jti that is a UUIDv7 carrying now to the millisecond.
// iat has whole seconds only; the jti tells a token issued just before a
// revocation from one issued just after it in the same second (AUD-7).
func timedJTI(now time.Time) string {
	u := uuid.New() // random (v4); the time and the version are set below
	ms := uint64(now.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 | u[6]&0x0f
	return u.String()
}

// issuedAt is when a token was issued: to the millisecond (timed) when its
// jti says so (timedJTI), else to the second of its iat.
func issuedAt(c *AccessClaims) (at time.Time, timed bool) {
	iat := c.IssuedAt.Time.Truncate(time.Second)
	if u, err := uuid.Parse(c.ID); err == nil && u.Version() == 7 {
		var ms int64
		for i := 0; i < 6; i++ {
			ms = ms<<8 | int64(u[i])
		}
		// Trust the jti only when it agrees with the signed iat.
		if t := time.UnixMilli(ms); t.Truncate(time.Second).Equal(iat) {
			return t, true
		}
	}
	return iat, false
}

// revokedAt reports whether a token issued at issued (known to the
// millisecond, or to the second for tokens without a timed jti) is revoked
// by a user's TokensRevokedBefore. Both are compared at the token's
// precision, and a tie counts as revoked: a token issued in the same
// millisecond (same second, for an untimed jti) as the revocation may
// predate it, so it dies; a token issued in a later one survives (AUD-7).
func revokedAt(issued, revokedBefore time.Time, timed bool) bool {
	if revokedBefore.IsZero() {
		return false
	}
	prec := time.Millisecond
	if !timed {
		prec = time.Second
	}
	return !issued.Truncate(prec).After(revokedBefore.Truncate(prec))
}

// verificationKey is the key a JWT this server signed is verified with:
// the published key named by its kid only (IDP-TOK-2: jku, x5u and jwk
// headers are ignored; an unknown kid reloads the keys once, for a key
// another process added), and only if the token's algorithm is that key's.
func (s *Server) verificationKey(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	k := s.keys.byKID(kid)
	if k == nil {
		s.keys.maybeReload(ctx)
		if k = s.keys.byKID(kid); k == nil {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
	}
	if t.Method.Alg() != k.method.Alg() {
		return nil, errors.New("algorithm does not match key")
	}
	return k.signer.Public(), nil
}

// ownTokenOptions are the checks every JWT this server signed must pass,
// plus extra: an allowlisted asymmetric algorithm (IDP-TOK-1), this
// issuer, an expiry, an issued-at not in the future, on the server's clock.
func (s *Server) ownTokenOptions(extra ...jwt.ParserOption) []jwt.ParserOption {
	return append([]jwt.ParserOption{
		jwt.WithValidMethods([]string{AlgES256, AlgRS256, AlgEdDSA}),
		jwt.WithIssuer(s.cfg.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.now),
	}, extra...)
}

// verifyAccessToken checks a JWT issued by this server: signature by a
// published key chosen by kid only (IDP-TOK-2: jku, x5u and jwk headers are
// ignored), an allowlisted asymmetric algorithm (IDP-TOK-1), typ at+jwt
// (AUD-11: an id_token is not an access token), issuer, expiry, and that it
// was not revoked: its refresh-token family (sid) still exists, and the
// user is active and has not revoked tokens issued at or before it
// (IDP-REV-2, AUD-7).
func (s *Server) verifyAccessToken(ctx context.Context, raw string) (*AccessClaims, error) {
	var c AccessClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if !accessTokenType(t.Header["typ"]) {
			return nil, errors.New("not an access token (typ is not at+jwt)")
		}
		return s.verificationKey(ctx, t)
	}, s.ownTokenOptions()...)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, errTokenExpired
		}
		return nil, err
	}
	if c.IssuedAt == nil {
		return nil, errors.New("token has no iat")
	}
	if c.SID != "" {
		// One primary-key lookup: a revoked family (logout, revoke, reuse,
		// password change…) takes its access tokens with it.
		fam, err := s.store.GetRefreshToken(ctx, c.SID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errTokenRevoked
		}
		if err != nil {
			return nil, fmt.Errorf("token family: %w", err)
		}
		if fam.UserID != c.Subject || fam.ApplicationID != c.Audience {
			return nil, errTokenRevoked
		}
	}
	u, err := s.store.GetUser(ctx, c.Subject)
	if err != nil {
		return nil, fmt.Errorf("token user: %w", err)
	}
	issued, timed := issuedAt(&c)
	if !u.Active || revokedAt(issued, u.TokensRevokedBefore, timed) {
		return nil, errTokenRevoked
	}
	return &c, nil
}

// Refresh-token strings are 32 random bytes, base64url without padding
// (IDP-RT-1). Only their SHA-256 is stored (IDP-RT-2).
const refreshTokenLen = 43

func newRefreshToken() (string, []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// wellFormedRefreshToken rejects anything that cannot be one of ours before
// it reaches the store.
func wellFormedRefreshToken(tok string) bool {
	if len(tok) != refreshTokenLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// revokeAccessBefore makes the IdP refuse every access token of the user
// issued at or before at, with or without a sid (AUD-7, IDP-REV-2). It
// never moves the instant back. An unknown user has nothing to revoke. It
// writes only TokensRevokedBefore, inside the store's updater transaction,
// so it cannot undo a concurrent change to the user (AUD-6).
func (s *core) revokeAccessBefore(ctx context.Context, userID string, at time.Time) error {
	err := s.store.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		if at.After(u.TokensRevokedBefore) {
			u.TokensRevokedBefore = at
		}
		return u, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("revoke access tokens: %w", err)
	}
	return nil
}
