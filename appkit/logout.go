package appkit

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// LogoutHandler logs out (POST only, cross-origin checked; scenario S9,
// APP-OUT-1): it deletes the server session, revokes the refresh token at
// the IdP, expires both cookies with their original attributes, sends
// Clear-Site-Data, and answers 303 to HomePath. Any other method is 405
// and changes nothing. An IdP that cannot be reached does not stop the
// local logout; the failure is logged.
func (k *Kit) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !k.guard(w, r) {
			return
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// A logout finishes even if the browser gives up waiting: a cancelled
		// request must not leave the session or the refresh token alive.
		k.endBrowserSession(context.WithoutCancel(r.Context()), r)
		k.clearCookies(w)
		if !k.cfg.DisableClearSiteData {
			w.Header().Set("Clear-Site-Data", k.cfg.ClearSiteData)
		}
		k.noStore(w.Header())
		http.Redirect(w, r, k.cfg.HomePath, http.StatusSeeOther)
	})
}

// endBrowserSession deletes the session named by r's cookie and revokes
// the refresh token in r's refresh cookie (or, failing that, the
// session's grant by id when an API key is configured).
func (k *Kit) endBrowserSession(ctx context.Context, r *http.Request) {
	var sess *sessionstore.Session
	if key, ok := keyForCookie(cookieValue(r, k.sidName)); ok {
		if s, err := k.store.Get(ctx, key); err == nil {
			sess = s
		}
		if err := k.store.Delete(ctx, key); err != nil {
			k.log.Error("appkit: delete session at logout", "err", err)
		}
	}
	revoked := false
	if rc, err := k.openRefresh(cookieValue(r, k.rtName)); err == nil {
		k.revokeBestEffort(ctx, rc.token)
		revoked = true
	}
	if !revoked && sess != nil && sess.RefreshTokenID != "" && k.idp.HasAPIKey() {
		if err := k.idp.RevokeRefreshTokenID(context.WithoutCancel(ctx), sess.RefreshTokenID); err != nil {
			k.log.Warn("appkit: refresh token revocation by id failed", "err", err)
		}
	}
	if sess != nil {
		k.log.Info("appkit: logout", "user", sess.UserID, "ip", k.clientIP(r))
	}
}

// EndUserSessions ends every session of userID in this app's store and
// returns how many live ones there were. It does not call the IdP: it is
// what runs when the IdP says the user's tokens were revoked (S10, the
// webhook receiver), and what "sign out everywhere" uses after revoking.
func (k *Kit) EndUserSessions(ctx context.Context, userID string) (int, error) {
	if userID == "" {
		return 0, errors.New("appkit: end user sessions: empty user id")
	}
	n, err := k.store.DeleteByUser(ctx, userID)
	if err != nil {
		return 0, err
	}
	k.log.Info("appkit: ended all sessions of user", "user", userID, "count", n)
	return n, nil
}
