package appkit

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// result is what resolving a request's cookies led to.
type result uint8

const (
	resAnonymous   result = iota // no usable cookie
	resOK                        // live or freshly refreshed session
	resDead                      // refresh refused: cookies cleared
	resUnavailable               // IdP or store unreachable: nothing cleared
)

// RequireLogin serves next only to a logged-in user (scenarios S3-S5):
//   - a live session: its expiry slides (written only when it moves by
//     more than TouchInterval) and next is served;
//   - no live session but a refresh cookie: the refresh token is redeemed
//     (one IdP call however many requests carry it, S11), a new session is
//     created and next is served in the same response with the new cookies;
//   - the refresh is refused (any 4xx): both cookies are cleared and the
//     browser is sent (303) to the login page with next set to this page;
//   - the IdP or the store is unreachable: the 503 page, nothing cleared;
//   - no cookies: 303 to the login page.
//
// Unsafe methods must pass the cross-origin check (APP-LOGIN-1); every
// response carries the security headers and, when served to a user,
// Cache-Control: no-store (APP-CK-5).
func (k *Kit) RequireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.guard(w, r) {
			return
		}
		st, res := k.resolve(w, r)
		switch res {
		case resOK:
			k.noStore(w.Header())
			next.ServeHTTP(w, r.WithContext(withState(r.Context(), st)))
		case resUnavailable:
			k.noStore(w.Header())
			k.unavailable.ServeHTTP(w, r)
		default:
			k.redirectToLogin(w, r)
		}
	})
}

// OptionalLogin serves next to everybody, with the user attached to the
// context when there is one (User, Session). It refreshes like
// RequireLogin, but a dead refresh cookie (cleared) or an unreachable IdP
// (nothing cleared) just means an anonymous page.
func (k *Kit) OptionalLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.guard(w, r) {
			return
		}
		st, res := k.resolve(w, r)
		if res == resOK {
			k.noStore(w.Header())
			r = r.WithContext(withState(r.Context(), st))
		}
		next.ServeHTTP(w, r)
	})
}

// Protect applies the kit's cross-origin (CSRF) check and security headers
// to a state-changing handler that does not sit behind RequireLogin or
// OptionalLogin (which already check).
func (k *Kit) Protect(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k.guard(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// guard runs the checks every kit entry point shares; false means a
// response was written.
func (k *Kit) guard(w http.ResponseWriter, r *http.Request) bool {
	if k.cfg.DevMode && !isLoopbackPeer(r) {
		http.Error(w, "development mode serves loopback clients only", http.StatusForbidden)
		return false
	}
	k.securityHeaders(w.Header())
	if err := k.cop.Check(r); err != nil {
		k.log.Info("appkit: cross-origin request refused", "method", r.Method, "path", r.URL.Path, "ip", k.clientIP(r))
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return false
	}
	return true
}

// resolve finds the request's session, refreshing when needed. It may set
// or clear cookies on w.
func (k *Kit) resolve(w http.ResponseWriter, r *http.Request) (*reqState, result) {
	ctx := r.Context()
	sidVal := cookieValue(r, k.sidName)
	var oldKey string
	// live is a session that is still alive but whose access token has
	// expired: it is re-validated at the IdP below (AUD-9).
	var live *sessionstore.Session
	if sidVal != "" {
		if key, ok := keyForCookie(sidVal); ok {
			oldKey = key
			s, err := k.store.Get(ctx, key)
			switch {
			case err == nil:
				now := k.now()
				if !now.Before(s.AbsoluteExpiry) {
					_ = k.store.Delete(ctx, key) // APP-LIFE-2: remove, not only hide
					break
				}
				if s.AccessTokenExpiry.IsZero() || now.Before(s.AccessTokenExpiry) {
					k.touch(ctx, s, now)
					return &reqState{sess: s, users: k.users}, resOK
				}
				// AUD-9 (APP-REF-1): once per access-token lifetime the
				// session is re-validated by a refresh, so a revocation
				// reaches it within the access-token TTL even when every
				// webhook is lost. Without a refresh cookie it cannot be,
				// so it is not served (a stolen session cookie alone must
				// not outlive a revocation).
				live = s
			case errors.Is(err, sessionstore.ErrNotFound):
			default:
				k.log.Error("appkit: session store get failed", "err", err)
				return nil, resUnavailable
			}
		}
	}
	rtVal := cookieValue(r, k.rtName)
	if rtVal == "" {
		if sidVal != "" {
			k.clearCookie(w, k.sidName, http.SameSiteLaxMode)
		}
		return nil, resAnonymous
	}
	rc, err := k.openRefresh(rtVal)
	if err != nil {
		// Forged, from another key, or past RefreshCookieMaxAge.
		k.clearCookies(w)
		return nil, resDead
	}
	out := k.refresh(r, rc)
	// spent is the newest refresh cookie value that supersedes the one the
	// browser sent, so a later failure still hands it over.
	spent := out.sealed
	var sess *sessionstore.Session
	if out.kind == outOK {
		s, err := k.outcomeSession(ctx, out)
		switch {
		case err == nil:
			sess = s
		case errors.Is(err, sessionstore.ErrNotFound):
			// AUD-18: the stored result names a session that is gone
			// (it idled out while the app was down, or was ended). The
			// browser's token is spent, the result's successor is now
			// its grant: present that to the IdP, which decides (an
			// ended session's grant was revoked there).
			if out.next.token == "" {
				k.clearCookies(w)
				return nil, resDead
			}
			out = k.refresh(r, out.next)
			if out.sealed != "" {
				spent = out.sealed
			}
			if out.kind == outOK {
				if sess, err = k.outcomeSession(ctx, out); err != nil {
					out = &refreshOutcome{kind: outUnavailable}
				}
			}
		default:
			k.log.Error("appkit: session store get failed", "err", err)
			return nil, resUnavailable
		}
	}
	switch out.kind {
	case outOK:
		if oldKey != "" && oldKey != out.key {
			_ = k.store.Delete(ctx, oldKey) // APP-SID-2: the earlier id dies
		}
		k.setSessionCookie(w, out.sid)
		k.setRefreshCookie(w, out.sealed)
		return &reqState{sess: sess, users: k.users}, resOK
	case outDead:
		if oldKey != "" {
			_ = k.store.Delete(ctx, oldKey)
		}
		k.clearCookies(w)
		return nil, resDead
	default:
		if spent != "" {
			// The IdP rotated the token but the result was unusable: keep
			// the new token, the old one is spent.
			k.setRefreshCookie(w, spent)
		}
		if live != nil {
			// The IdP cannot be asked: an outage logs nobody out, the
			// session is re-validated at the next request instead.
			k.log.Warn("appkit: access token expired and the identity server is unavailable; serving the session", "user", live.UserID)
			return &reqState{sess: live, users: k.users}, resOK
		}
		return nil, resUnavailable
	}
}

// touch slides the session's expiry, writing only when the expiry moves
// by more than TouchInterval, so most requests cost one store read.
func (k *Kit) touch(ctx context.Context, s *sessionstore.Session, now time.Time) {
	exp := now.Add(k.cfg.IdleTimeout)
	if exp.After(s.AbsoluteExpiry) {
		exp = s.AbsoluteExpiry
	}
	if exp.Sub(s.ExpiresAt) <= k.cfg.TouchInterval {
		return
	}
	if err := k.store.Touch(ctx, s.Key, now, exp); err != nil {
		if !errors.Is(err, sessionstore.ErrNotFound) {
			k.log.Warn("appkit: session touch failed", "err", err)
		}
		return
	}
	s.LastSeen, s.ExpiresAt = now, exp
}

// redirectToLogin answers 303 to the login page, with next set to this
// page for GET and HEAD requests.
func (k *Kit) redirectToLogin(w http.ResponseWriter, r *http.Request) {
	target := k.cfg.LoginPath
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if next := r.URL.RequestURI(); next != k.cfg.LoginPath && SafeNext(next, "") != "" {
			target += "?next=" + url.QueryEscape(next)
		}
	}
	k.noStore(w.Header())
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// outcomeSession is the session a successful refresh produced: made by
// this request, or read back from the store when another request or
// process refreshed first.
func (k *Kit) outcomeSession(ctx context.Context, out *refreshOutcome) (*sessionstore.Session, error) {
	if out.sess != nil {
		return out.sess, nil
	}
	return k.store.Get(ctx, out.key)
}

// createSession stores a brand-new session for tok (APP-SID-2: a new id at
// every login and refresh) and returns its id.
func (k *Kit) createSession(ctx context.Context, r *http.Request, tok *idpclient.Tokens, authTime time.Time) (string, *sessionstore.Session, error) {
	id, key, err := newSessionID()
	if err != nil {
		return "", nil, err
	}
	now := k.now()
	abs := now.Add(k.cfg.AbsoluteLifetime)
	if reauth := authTime.Add(k.cfg.ReauthAfter); reauth.Before(abs) {
		abs = reauth
	}
	exp := now.Add(k.cfg.IdleTimeout)
	if abs.Before(exp) {
		exp = abs
	}
	rtID := tok.RefreshTokenID
	if rtID == "" {
		rtID = tok.Claims.SID
	}
	// The re-validation deadline (AUD-9) is the token's lifetime counted
	// on the kit's clock from now, so a clock skew between app and IdP
	// neither skips re-validations nor makes every request refresh.
	ate := tok.Claims.ExpiresAt
	if life := ate.Sub(tok.Claims.IssuedAt); !ate.IsZero() && !tok.Claims.IssuedAt.IsZero() && life > 0 {
		ate = now.Add(life)
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	s := &sessionstore.Session{
		Key:               key,
		UserID:            tok.Claims.Subject,
		Claims:            tok.Claims.Raw,
		AccessToken:       tok.AccessToken,
		AccessTokenExpiry: ate,
		RefreshTokenID:    rtID,
		AuthTime:          authTime,
		CreatedAt:         now,
		LastSeen:          now,
		ExpiresAt:         exp,
		AbsoluteExpiry:    abs,
		IP:                k.clientIP(r),
		UserAgent:         ua,
	}
	if err := k.store.Put(ctx, s); err != nil {
		return "", nil, err
	}
	return id, s, nil
}
