package idp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Client authentication for the OAuth endpoints (compat §0, §1; IDP-CLI-1,
// IDP-CLI-3).

// clientAuth authenticates the client with the per-peer bucket for failed
// client authentications (IDP-CLI-3): each failure takes a token from the
// TCP peer's bucket, and with the bucket empty a failure answers 429
// instead of invalid_client. The bucket never refuses a client that
// authenticates, so secret guesses from an address an app shares cannot
// stop that app's refreshes or logins (AUD-4); password failures are kept
// in another bucket (pwLimit) and never reach this one. Client secrets are
// 256-bit random, so the bucket's job is to bound the noise and flag the
// source (metric, log), not to make guessing hopeless.
func (s *Server) clientAuth(r *http.Request) (*store.Application, bool, *oauthError) {
	peer := clientIP(r, false)
	app, secretOK, e := s.authenticateClient(r)
	if e == nil {
		return app, secretOK, nil
	}
	// A missing secret is not a guess (introspection allows it).
	if e.Code == "invalid_client" && e.Reason != "client_authentication_missing" {
		if !s.clientLimit.allowed(peer) {
			s.log.Warn("client authentication throttled", "ip", peer)
			return nil, false, &oauthError{Status: http.StatusTooManyRequests, Code: "too_many_requests"}
		}
		s.clientLimit.fail(peer)
	}
	return nil, false, e
}

// authenticateClient implements compat §1's client authentication: HTTP
// Basic and/or form credentials, checked against the application. secretOK
// reports whether the client proved its secret in this request (false for
// a NotRequired application that sent none).
func (s *Server) authenticateClient(r *http.Request) (app *store.Application, secretOK bool, _ *oauthError) {
	id := param(r.PostForm.Get("client_id"))
	secret := param(r.PostForm.Get("client_secret"))
	basic := false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, val, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, false, errInvalidClient("invalid_client_authentication_scheme", "The Authorization header must use the Basic scheme.")
		}
		basic = true
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(val))
		bad := errInvalidClient("invalid_client_authentication", "The client could not be authenticated.")
		bad.basic = true
		if err != nil {
			return nil, false, bad
		}
		bid, bsecret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, false, bad
		}
		if id != "" && id != bid {
			e := errInvalidClient("client_id_mismatch", "The client_id in the body does not match the Authorization header.")
			e.basic = true
			return nil, false, e
		}
		id, secret = bid, bsecret
	}
	fail := func(e *oauthError) (*store.Application, bool, *oauthError) { e.basic = basic; return nil, false, e }
	if id == "" {
		return nil, false, errInvalidRequest("missing_client_id", "The client_id parameter is required.")
	}
	if _, err := uuid.Parse(id); err != nil {
		return fail(errInvalidClient("invalid_client_id", "The client_id is invalid."))
	}
	app, err := s.store.GetApplication(r.Context(), id)
	if err != nil || !app.Active {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, false, errServer()
		}
		return fail(errInvalidClient("invalid_client_id", "The client_id is invalid."))
	}
	policy := app.Config.ClientAuthenticationPolicy
	if secret == "" {
		if policy == "NotRequired" {
			return app, false, nil
		}
		return fail(errInvalidClient("client_authentication_missing", "Client authentication is required."))
	}
	sum := sha256.Sum256([]byte(secret))
	if len(app.ClientSecretHash) == 0 || subtle.ConstantTimeCompare(sum[:], app.ClientSecretHash) != 1 {
		return fail(errInvalidClient("invalid_client_authentication", "The client could not be authenticated."))
	}
	return app, true, nil
}
