package idp

import (
	"context"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Device tokens (OWASP's "device cookie", AUD-1). After a successful
// password login the token response carries device_token, a JWT signed
// with the IdP's signing key: typ gh-device+jwt, sub the user, aud the
// application, jti a device id that stays the same across the token's
// renewals. The app keeps it in a long-lived cookie of its own per browser
// and sends it back as the device_token form parameter of the next
// password grant. For that user, a valid token lets the browser through
// the account's delay and hard stop, with failures counted against the
// device only. Anything that is not a valid token of this IdP for this
// application (forged, expired, signed by a key no longer published, for
// another user) is ignored, as if none had been sent.
const (
	deviceTokenType   = "gh-device+jwt"
	maxDeviceTokenLen = 4096
)

// deviceClaims are a device token's claims: Subject is the user, ID the
// device.
type deviceClaims struct {
	baseClaims
}

// signDeviceToken issues a device token for userID's browser deviceID at
// application appID.
func (s *Server) signDeviceToken(userID, appID, deviceID string) (string, error) {
	k := s.keys.current()
	if k == nil {
		return "", errors.New("no active signing key")
	}
	now := s.now()
	c := deviceClaims{baseClaims{
		Issuer: s.cfg.Issuer, Subject: userID, Audience: appID, ID: deviceID,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.Lockout.DeviceTokenTTL)),
	}}
	t := jwt.NewWithClaims(k.method, c)
	t.Header["kid"] = k.rec.ID
	t.Header["typ"] = deviceTokenType
	signed, err := t.SignedString(k.signer)
	if err != nil {
		return "", fmt.Errorf("sign device token: %w", err)
	}
	return signed, nil
}

// parseDeviceToken returns the claims of a valid device token for appID,
// or nil for an absent or invalid one.
func (s *Server) parseDeviceToken(ctx context.Context, raw, appID string) *deviceClaims {
	if raw == "" || len(raw) > maxDeviceTokenLen {
		return nil
	}
	var c deviceClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); typ != deviceTokenType {
			return nil, errors.New("not a device token")
		}
		return s.verificationKey(ctx, t)
	}, s.ownTokenOptions(jwt.WithAudience(appID))...)
	if err != nil || c.Subject == "" || c.ID == "" || len(c.ID) > 64 {
		return nil
	}
	return &c
}
