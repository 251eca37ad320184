package idp

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Refresh-token policies (FusionAuth names).
const (
	PolicyFixed                = "Fixed"
	PolicySlidingWindow        = "SlidingWindow"
	PolicySlidingWindowMaximum = "SlidingWindowWithMaximumLifetime"
	PolicyOneTimeUse           = "OneTimeUse"
	PolicyReusable             = "Reusable"
)

// appPolicy is an application's effective token settings, defaults applied.
type appPolicy struct {
	accessTTL   time.Duration
	refreshTTL  time.Duration
	expiration  string
	maxLifetime time.Duration
	oneTimeUse  bool
	grace       time.Duration
}

func (s *Server) policy(app *store.Application) appPolicy {
	c := app.Config
	p := appPolicy{
		accessTTL:   s.cfg.AccessTokenTTL,
		refreshTTL:  s.cfg.RefreshTokenTTL,
		expiration:  PolicyFixed,
		maxLifetime: s.cfg.RefreshTokenTTL,
		oneTimeUse:  c.RefreshTokenUsagePolicy != PolicyReusable,
		grace:       s.cfg.GracePeriod,
	}
	if c.AccessTokenTTLSeconds > 0 {
		p.accessTTL = time.Duration(c.AccessTokenTTLSeconds) * time.Second
	}
	if c.RefreshTokenTTLMinutes > 0 {
		p.refreshTTL = time.Duration(c.RefreshTokenTTLMinutes) * time.Minute
	}
	if c.RefreshTokenExpirationPolicy != "" {
		p.expiration = c.RefreshTokenExpirationPolicy
	}
	if c.RefreshTokenMaxLifetimeMinutes > 0 {
		p.maxLifetime = time.Duration(c.RefreshTokenMaxLifetimeMinutes) * time.Minute
	} else {
		p.maxLifetime = p.refreshTTL
	}
	if c.GracePeriodSeconds != nil {
		p.grace = time.Duration(*c.GracePeriodSeconds) * time.Second
	}
	return p
}

// expiry computes a family's expiry for a window starting at start
// (compat §5: startInstant + TTL, capped by insertInstant + maximum for the
// SlidingWindowWithMaximumLifetime policy).
func (p appPolicy) expiry(created, start time.Time) time.Time {
	exp := start.Add(p.refreshTTL)
	if p.expiration == PolicySlidingWindowMaximum {
		if max := created.Add(p.maxLifetime); max.Before(exp) {
			exp = max
		}
	}
	return exp
}

// newLoginFamily returns a new refresh token and its family for a password
// login of userID at app, at now. The family is not stored: RecordLogin
// writes it with the login record.
func (s *Server) newLoginFamily(userID string, app *store.Application, scopes []string, now time.Time, dev deviceInfo, ip string) (string, *store.RefreshToken) {
	tok, hash := newRefreshToken()
	return tok, &store.RefreshToken{
		ID: uuid.NewString(), UserID: userID, ApplicationID: app.ID, TokenHash: hash,
		Scopes: scopes, CreatedAt: now, StartAt: now, ExpiresAt: s.policy(app).expiry(now, now),
		AuthTime: now, Grants: []string{"password"},
		DeviceName: dev.Name, DeviceType: dev.Type, DeviceDescription: dev.Description,
		LastUsedAt: now, LastUsedIP: ip,
	}
}

// deviceInfo is FusionAuth's metaData.device.
type deviceInfo struct{ Name, Type, Description string }

// errRefreshInvalid: the token is unknown, expired, revoked, reused, or not
// usable by this client. Endpoints map it to their own error shape.
var errRefreshInvalid = errors.New("refresh token invalid")

// refreshed is the outcome of a successful refresh.
type refreshed struct {
	token  string // refresh token to hand back (new, successor, or same)
	family *store.RefreshToken
	user   *store.User
	app    *store.Application
	pol    appPolicy
}

// errRefreshRefused: the endpoint's own check (scope, policy, TTL) refused
// the request. The token was not rotated; the check holds the response.
var errRefreshRefused = errors.New("refresh refused by the endpoint's checks")

// refreshCheck is an endpoint's validation of a loaded family (requested
// scope, application policy, TTL). It runs before anything is written, so
// a refused request leaves the token exactly as it was (AUD-5). It may
// adjust r (scopes, access-token TTL). A non-nil error is returned by
// redeem as is.
type refreshCheck func(r *refreshed) error

// redeem validates a presented refresh token and rotates it according to
// the application's policy. app is the authenticated client (token
// endpoint) or nil (/api/jwt/refresh, which accepts any application's token
// when that application allows it).
//
// Every check — client binding, application and user state, expiry and the
// endpoint's check — runs on the loaded family before the rotation (or the
// touch of a Reusable token): a refused request changes nothing, so the
// holder's next honest use is not mistaken for reuse (AUD-5).
//
// Rotation is one compare-and-swap in the store. When two requests present
// the same token at once, one wins; the loser finds the rotation record and,
// inside the grace period, answers the same successor, so the family never
// forks. A retired token presented after the grace period is reuse: the
// whole family is deleted (RFC 9700 §4.14.2, IDP-RT-4).
func (s *Server) redeem(ctx context.Context, tok string, app *store.Application, ip string, check refreshCheck) (*refreshed, error) {
	if !wellFormedRefreshToken(tok) {
		return nil, errRefreshInvalid
	}
	hash := hashToken(tok)
	fam, err := s.store.GetRefreshTokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return s.redeemRetired(ctx, tok, hash, app, check)
	}
	if err != nil {
		return nil, fmt.Errorf("look up refresh token: %w", err)
	}
	r, err := s.loadRefresh(ctx, fam, app)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(r.pol.expiry(fam.CreatedAt, fam.StartAt)) {
		return nil, errRefreshInvalid
	}
	if check != nil {
		if err := check(r); err != nil {
			return nil, err
		}
	}
	start := fam.StartAt
	if r.pol.expiration != PolicyFixed {
		start = now
	}
	exp := r.pol.expiry(fam.CreatedAt, start)
	grants := appendGrant(fam.Grants, "refresh_token")
	if !r.pol.oneTimeUse {
		if err := s.store.TouchRefreshToken(ctx, fam.ID, start, exp, now, grants, ip); err != nil {
			return nil, fmt.Errorf("touch refresh token: %w", err)
		}
		fam.StartAt, fam.ExpiresAt, fam.Grants = start, exp, grants
		r.token = tok
		return r, nil
	}
	next, nextHash := newRefreshToken()
	sealed, err := sealSuccessor(tok, next)
	if err != nil {
		return nil, err
	}
	err = s.store.RotateRefreshToken(ctx, store.RotateParams{
		FamilyID: fam.ID, OldHash: hash, NewHash: nextHash, Successor: sealed,
		Now: now, StartAt: start, ExpiresAt: exp, Grants: grants, IP: ip,
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		// A concurrent request rotated this token first: answer its
		// successor, as an honest retry would get.
		s.metrics.rotationRaces.Inc()
		return s.redeemRetired(ctx, tok, hash, app, check)
	case errors.Is(err, store.ErrNotFound):
		return nil, errRefreshInvalid
	case err != nil:
		return nil, fmt.Errorf("rotate refresh token: %w", err)
	}
	fam.TokenHash, fam.StartAt, fam.ExpiresAt, fam.Grants = nextHash, start, exp, grants
	fam.Generation++
	r.token = next
	return r, nil
}

// redeemRetired handles a token string that is no longer current. Inside
// the grace period an honest retry gets the successor if check accepts it;
// outside it is reuse whatever the request asked for.
func (s *Server) redeemRetired(ctx context.Context, tok string, hash []byte, app *store.Application, check refreshCheck) (*refreshed, error) {
	rot, err := s.store.GetRotation(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errRefreshInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("look up rotation: %w", err)
	}
	fam, err := s.store.GetRefreshToken(ctx, rot.FamilyID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errRefreshInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("look up family: %w", err)
	}
	r, err := s.loadRefresh(ctx, fam, app)
	if err != nil {
		return nil, err
	}
	if s.now().Sub(rot.RotatedAt) <= r.pol.grace && len(rot.Successor) > 0 {
		if next, err := openSuccessor(tok, rot.Successor); err == nil {
			if check != nil {
				if err := check(r); err != nil {
					return nil, err
				}
			}
			r.token = next
			return r, nil
		}
	}
	// Reuse outside the grace period: the token was stolen or replayed.
	// Revoke the whole family (IDP-RT-4) and tell the apps (S10).
	// The event is enqueued with the deletion (AUD-8); ErrNotFound means a
	// concurrent reuse already revoked and announced it.
	if err := s.endFamily(ctx, fam, "reuse"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("revoke family on reuse: %w", err)
	}
	// The thief may hold access tokens of this user without a sid (or of
	// the family); the IdP's validation refuses them from now on (AUD-7).
	// A failure here must not turn the refusal into a 500: the family is
	// gone already; the sid check still refuses its access tokens.
	if err := s.revokeAccessBefore(ctx, fam.UserID, s.now()); err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "revoke access tokens on reuse",
			slog.String("userId", fam.UserID), slog.String("err", err.Error()))
	}
	s.metrics.reuseDetected.Inc()
	s.log.LogAttrs(ctx, slog.LevelWarn, "refresh token reuse detected; family revoked",
		slog.String("event", "refresh_token_reuse"), slog.String("refreshTokenId", fam.ID),
		slog.String("userId", fam.UserID), slog.String("applicationId", fam.ApplicationID))
	return nil, errRefreshInvalid
}

// loadRefresh loads the user and application of a family and checks that
// the presenting client may use it (IDP-RT-3), that the application is
// active and that the user is active and not expired. It writes nothing.
func (s *Server) loadRefresh(ctx context.Context, fam *store.RefreshToken, app *store.Application) (*refreshed, error) {
	if app != nil && fam.ApplicationID != app.ID {
		return nil, errRefreshInvalid
	}
	if app == nil {
		a, err := s.store.GetApplication(ctx, fam.ApplicationID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, errRefreshInvalid
			}
			return nil, fmt.Errorf("look up application: %w", err)
		}
		app = a
	}
	if !app.Active { // the token endpoint refuses such a client; /api/jwt/refresh must too
		return nil, errRefreshInvalid
	}
	u, err := s.store.GetUser(ctx, fam.UserID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, errRefreshInvalid
		}
		return nil, fmt.Errorf("look up user: %w", err)
	}
	if !u.Active || (!u.Expiry.IsZero() && !s.now().Before(u.Expiry)) {
		return nil, errRefreshInvalid
	}
	return &refreshed{family: fam, user: u, app: app, pol: s.policy(app)}, nil
}

func appendGrant(grants []string, g string) []string {
	if len(grants) > 0 && grants[len(grants)-1] == g {
		return grants
	}
	return append(slices.Clip(grants), g)
}

// sealSuccessor encrypts the successor token with a key derived from the
// token it replaces: only someone presenting the old token (an honest
// retry) can open it, and a store dump reveals nothing usable.
func sealSuccessor(old, next string) ([]byte, error) {
	aead, err := successorAEAD(old)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(next)+aead.Overhead())
	_, _ = rand.Read(nonce)
	return aead.Seal(nonce, nonce, []byte(next), nil), nil
}

func openSuccessor(old string, sealed []byte) (string, error) {
	aead, err := successorAEAD(old)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed successor too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return "", fmt.Errorf("open successor: %w", err)
	}
	return string(pt), nil
}

func successorAEAD(old string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(old), nil, "gatehouse refresh successor v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
