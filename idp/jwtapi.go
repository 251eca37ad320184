package idp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// jwtRefreshRequest is the POST /api/jwt/refresh body (compat §4). Unknown
// members (the Go client's noJWT, metaData, eventInfo…) are ignored.
type jwtRefreshRequest struct {
	RefreshToken        string `json:"refreshToken"`
	Token               string `json:"token"`
	TimeToLiveInSeconds int64  `json:"timeToLiveInSeconds"`
}

type jwtRefreshResponse struct {
	RefreshToken   string `json:"refreshToken"`
	RefreshTokenID string `json:"refreshTokenId"`
	Token          string `json:"token"`
}

// decodeJSON reads a bounded JSON body. An empty body decodes to the zero
// value (the refresh token may come from a cookie).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	err := json.NewDecoder(r.Body).Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (s *Server) handleJWTRefresh(w http.ResponseWriter, r *http.Request) {
	s.refreshCount.Add(1)
	s.metrics.refreshCalls.Inc()
	var req jwtRefreshRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		writeAPIErrors(w, new(apiErrors).general("[invalid]body", "The request body is not valid JSON."))
		return
	}
	tok := param(req.RefreshToken)
	if c, err := r.Cookie("refresh_token"); err == nil && !absent(c.Value) {
		tok = c.Value // the cookie wins (compat §4)
	}
	if tok == "" {
		writeAPIErrors(w, fieldError("refreshToken", "missing", "You must specify a refresh token."))
		return
	}
	if req.TimeToLiveInSeconds < 0 {
		writeAPIErrors(w, fieldError("timeToLiveInSeconds", "invalid", "timeToLiveInSeconds must be positive."))
		return
	}
	// The application policy and the TTL are checked before the rotation,
	// so a refused request leaves the token usable (AUD-5).
	var refused *apiErrors
	res, err := s.redeem(r.Context(), tok, nil, clientIP(r, false), func(res *refreshed) error {
		if !res.app.Config.AllowTokenRefresh {
			refused = fieldError("refreshToken", "disabled", "Token refresh is not enabled for this application.")
			return errRefreshRefused
		}
		if ttl := time.Duration(req.TimeToLiveInSeconds) * time.Second; ttl > 0 {
			if ttl > res.pol.accessTTL {
				refused = fieldError("timeToLiveInSeconds", "invalid", "timeToLiveInSeconds exceeds the configured lifetime.")
				return errRefreshRefused
			}
			res.pol.accessTTL = ttl
		}
		return nil
	})
	if errors.Is(err, errRefreshRefused) {
		s.metrics.grants.WithLabelValues("jwt_refresh", "refused").Inc()
		writeAPIErrors(w, refused)
		return
	}
	if errors.Is(err, errRefreshInvalid) {
		s.metrics.grants.WithLabelValues("jwt_refresh", "not_found").Inc()
		writeEmpty(w, http.StatusNotFound) // Gatehouse decision 1: dead token → 404
		return
	}
	if err != nil {
		s.log.Error("jwt refresh", "err", err)
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	resp, e := s.refreshResponse(r.Context(), res, res.family.Scopes)
	if e != nil {
		writeEmpty(w, e.Status)
		return
	}
	s.metrics.grants.WithLabelValues("jwt_refresh", "ok").Inc()
	secure := r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: "access_token", Value: resp.AccessToken, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: "refresh_token", Value: resp.RefreshToken, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(time.Until(res.family.ExpiresAt).Seconds())})
	writeJSON(w, http.StatusOK, jwtRefreshResponse{RefreshToken: resp.RefreshToken, RefreshTokenID: resp.RefreshTokenID, Token: resp.AccessToken})
}

// refreshTokenJSON is FusionAuth's RefreshToken object (compat §6).
type refreshTokenJSON struct {
	ID            string `json:"id"`
	ApplicationID string `json:"applicationId"`
	UserID        string `json:"userId"`
	InsertInstant int64  `json:"insertInstant"`
	StartInstant  int64  `json:"startInstant"`
	MetaData      struct {
		Device struct {
			Name                string `json:"name,omitempty"`
			Type                string `json:"type,omitempty"`
			Description         string `json:"description,omitempty"`
			LastAccessedAddress string `json:"lastAccessedAddress,omitempty"`
			LastAccessedInstant int64  `json:"lastAccessedInstant,omitempty"`
		} `json:"device"`
		Scopes []string `json:"scopes,omitempty"`
	} `json:"metaData"`
}

func toRefreshTokenJSON(t *store.RefreshToken) refreshTokenJSON {
	var j refreshTokenJSON
	j.ID, j.ApplicationID, j.UserID = t.ID, t.ApplicationID, t.UserID
	j.InsertInstant, j.StartInstant = t.CreatedAt.UnixMilli(), t.StartAt.UnixMilli()
	d := &j.MetaData.Device
	d.Name, d.Type, d.Description = t.DeviceName, t.DeviceType, t.DeviceDescription
	d.LastAccessedAddress, d.LastAccessedInstant = t.LastUsedIP, t.LastUsedAt.UnixMilli()
	j.MetaData.Scopes = t.Scopes
	return j
}

func (s *Server) handleListRefreshTokens(w http.ResponseWriter, r *http.Request) {
	uid := param(r.URL.Query().Get("userId"))
	if _, err := uuid.Parse(uid); err != nil {
		writeAPIErrors(w, fieldError("userId", "invalid", "userId must be a UUID."))
		return
	}
	toks, err := s.store.ListRefreshTokens(r.Context(), uid)
	if err != nil {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	now := s.now()
	out := []refreshTokenJSON{}
	for _, t := range toks {
		if now.Before(t.ExpiresAt) && len(out) < 1000 {
			out = append(out, toRefreshTokenJSON(t))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"refreshTokens": out})
}

func (s *Server) handleGetRefreshToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	t, err := s.store.GetRefreshToken(r.Context(), id)
	if err != nil || !s.now().Before(t.ExpiresAt) {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"refreshToken": toRefreshTokenJSON(t)})
}

// handleDeleteRefreshTokens is DELETE /api/jwt/refresh with userId,
// applicationId and/or token (compat §6).
func (s *Server) handleDeleteRefreshTokens(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	uid, aid, tok := param(q.Get("userId")), param(q.Get("applicationId")), param(q.Get("token"))
	if tok == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		// r.ParseForm reads no body for DELETE (only POST, PUT, PATCH):
		// parse it here.
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		if err == nil {
			if v, err := url.ParseQuery(string(b)); err == nil {
				tok = param(v.Get("token"))
			}
		}
	}
	switch {
	case tok != "":
		fam, err := s.familyOf(r, tok)
		if err != nil {
			writeEmpty(w, http.StatusNotFound)
			return
		}
		s.revokeFamily(w, r, fam, "api")
	case uid != "" || aid != "":
		errs := new(apiErrors)
		if uid != "" {
			if _, err := uuid.Parse(uid); err != nil {
				errs.field("userId", "invalid", "userId must be a UUID.")
			} else if _, err := s.store.GetUser(ctx, uid); err != nil {
				errs.field("userId", "invalid", "No user exists with that userId.")
			}
		}
		if aid != "" {
			if _, err := uuid.Parse(aid); err != nil {
				errs.field("applicationId", "invalid", "applicationId must be a UUID.")
			} else if _, err := s.store.GetApplication(ctx, aid); err != nil {
				errs.field("applicationId", "invalid", "No application exists with that applicationId.")
			}
		}
		if !errs.empty() {
			writeAPIErrors(w, errs)
			return
		}
		var err error
		if uid != "" && aid == "" {
			// "Revoke all" ends the user's access tokens too, also those
			// without a sid (AUD-7).
			if err := s.revokeAccessBefore(ctx, uid, s.now()); err != nil {
				s.log.Error("revoke all", "userId", uid, "err", err)
				writeEmpty(w, http.StatusInternalServerError)
				return
			}
			// ... and every trusted browser (MFA-7).
			if err := s.forgetTrustedBrowsers(ctx, uid); err != nil {
				s.log.Error("revoke all", "userId", uid, "err", err)
				writeEmpty(w, http.StatusInternalServerError)
				return
			}
		}
		if uid != "" {
			_, err = s.revokeUser(ctx, uid, aid, "api")
		} else {
			an := s.announce(Event{Type: webhook.EventRefreshTokenRevoke, ApplicationID: aid, Reason: "api"})
			_, err = s.store.DeleteRefreshTokensByApplication(ctx, aid, func(deleted []store.DeletedFamily) ([]*store.OutboxMessage, error) {
				if len(deleted) == 0 {
					return nil, nil // nothing ended: nothing to tell
				}
				return an.notify(deleted)
			})
			if err == nil {
				an.publish(ctx)
			}
		}
		if err != nil {
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		writeEmpty(w, http.StatusOK)
	default:
		writeAPIErrors(w, new(apiErrors).general("[invalid]", "You must specify a userId, applicationId, or token."))
	}
}

func (s *Server) handleDeleteRefreshTokenByID(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	fam, err := s.store.GetRefreshToken(r.Context(), id)
	if err != nil {
		writeEmpty(w, http.StatusNotFound)
		return
	}
	s.revokeFamily(w, r, fam, "api")
}

// familyOf finds the family of a token string, current or retired.
func (s *Server) familyOf(r *http.Request, tok string) (*store.RefreshToken, error) {
	if !wellFormedRefreshToken(tok) {
		return nil, store.ErrNotFound
	}
	h := hashToken(tok)
	fam, err := s.store.GetRefreshTokenByHash(r.Context(), h)
	if errors.Is(err, store.ErrNotFound) {
		rot, rerr := s.store.GetRotation(r.Context(), h)
		if rerr != nil {
			return nil, rerr
		}
		return s.store.GetRefreshToken(r.Context(), rot.FamilyID)
	}
	return fam, err
}

func (s *Server) revokeFamily(w http.ResponseWriter, r *http.Request, fam *store.RefreshToken, reason string) {
	if err := s.endFamily(r.Context(), fam, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
		writeEmpty(w, http.StatusInternalServerError)
		return
	}
	writeEmpty(w, http.StatusOK)
}

// bearer returns the access token from Authorization: Bearer or the
// access_token cookie.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if c, err := r.Cookie("access_token"); err == nil {
		return c.Value
	}
	return ""
}

// handleValidate is GET /api/jwt/validate: 200 {"jwt":claims} or 401
// with an empty body (compat §10).
func (s *Server) handleValidate(w http.ResponseWriter, r *http.Request) {
	tok := bearer(r)
	if tok == "" {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	c, err := s.verifyAccessToken(r.Context(), tok)
	if err != nil {
		writeEmpty(w, http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jwt": c})
}

// handlePublicKey is GET /api/jwt/public-key (compat §9).
func (s *Server) handlePublicKey(w http.ResponseWriter, r *http.Request) {
	s.keys.maybeReload(r.Context())
	q := r.URL.Query()
	if kid := param(q.Get("kid")); kid != "" {
		k := s.keys.byKID(kid)
		if k == nil {
			writeEmpty(w, http.StatusNotFound)
			return
		}
		p, err := publicPEM(k)
		if err != nil {
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"publicKey": p})
		return
	}
	if aid := param(q.Get("applicationId")); aid != "" {
		if _, err := uuid.Parse(aid); err != nil {
			writeEmpty(w, http.StatusNotFound)
			return
		}
		if _, err := s.store.GetApplication(r.Context(), aid); err != nil {
			writeEmpty(w, http.StatusNotFound)
			return
		}
		k := s.keys.current()
		p, err := publicPEM(k)
		if err != nil {
			writeEmpty(w, http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"publicKey": p})
		return
	}
	out := map[string]string{}
	for _, k := range s.keys.publishedKeys() {
		if p, err := publicPEM(k); err == nil {
			out[k.rec.ID] = p
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"publicKeys": out})
}

// handleLogout is POST /api/logout: revoke the refresh token given by
// query, JSON or cookie (all the owner's with global=true); always 200.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Global       bool   `json:"global"`
		RefreshToken string `json:"refreshToken"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = s.decodeJSON(w, r, &body)
	}
	q := r.URL.Query()
	tok := param(body.RefreshToken)
	if v := param(q.Get("refreshToken")); v != "" {
		tok = v
	}
	if c, err := r.Cookie("refresh_token"); err == nil && !absent(c.Value) {
		tok = c.Value
	}
	global := body.Global || q.Get("global") == "true"
	if tok != "" {
		if fam, err := s.familyOf(r, tok); err == nil {
			if global {
				// Everywhere means every access token too (AUD-7).
				if err := s.revokeAccessBefore(r.Context(), fam.UserID, s.now()); err != nil {
					s.log.Error("global logout", "userId", fam.UserID, "err", err)
				}
				if err := s.forgetTrustedBrowsers(r.Context(), fam.UserID); err != nil { // MFA-7
					s.log.Error("global logout", "userId", fam.UserID, "err", err)
				}
				_, _ = s.revokeUser(r.Context(), fam.UserID, "", "logout_global")
			} else {
				_ = s.endFamily(r.Context(), fam, "logout")
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: "access_token", Path: "/", MaxAge: -1, HttpOnly: true})
	http.SetCookie(w, &http.Cookie{Name: "refresh_token", Path: "/", MaxAge: -1, HttpOnly: true})
	writeEmpty(w, http.StatusOK)
}

// requireAPIKey guards /api/* admin routes: Authorization carries the raw
// key (compat §0); a missing or unknown key, or a key whose permissions do
// not name this route's endpoint and method (AUD-13, see apikeys.go), is
// 401 with an empty body, as in FusionAuth.
func (s *Server) requireAPIKey(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Authorization")
		if key == "" || len(key) > 512 {
			writeEmpty(w, http.StatusUnauthorized)
			return
		}
		sum := sha256.Sum256([]byte(key))
		k, err := s.store.GetAPIKeyByHash(r.Context(), sum[:])
		if err != nil || !apiKeyAllows(k, r) {
			writeEmpty(w, http.StatusUnauthorized)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), apiKeyCtxKey{}, k)))
	}
}
