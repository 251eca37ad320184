package appkit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// SessionView is one of the user's sessions as a "my sessions" page shows
// it (S8).
type SessionView struct {
	// ID identifies the session in end-session requests. It is derived
	// from the store key, which is itself a hash: it is no credential.
	ID        string
	Current   bool // the session of this request
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
	AuthTime  time.Time
	IP        string
	UserAgent string
	// Device is a short description derived from the user agent.
	Device string
}

// SessionsPageSize is how many sessions the sessions page lists at once
// (AUD-17): a user with thousands of sessions gets a small page, the count
// of the rest, links to the other pages and the sign-out-all actions.
const SessionsPageSize = 50

// SessionsPage is the data the sessions template is executed with.
type SessionsPage struct {
	User *UserInfo
	// Sessions is one page (at most SessionsPageSize) of the user's live
	// sessions, most recently seen first.
	Sessions []SessionView
	// Total is how many live sessions the user has; More is how many of
	// them are not on this page.
	Total, More int
	// Page (from 1) of Pages is this page's place.
	Page, Pages int
	// PrevURL and NextURL link to the more and less recently seen pages;
	// empty at either end.
	PrevURL, NextURL string
	// Action is where the page's forms post (Config.SessionsPath), with a
	// field "action" = "end" (plus "session" = ID), "end-others" or
	// "end-all".
	Action string
	// Message reports the last action, e.g. "Signed out 2 other sessions."
	Message string
}

// ErrNoSession is returned by the session-management calls when the
// request has no logged-in user.
var ErrNoSession = errors.New("appkit: no session")

// viewID derives the public id of a session from its store key.
func viewID(key string) string {
	sum := sha256.Sum256([]byte("gatehouse appkit v1 session view\x00" + key))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// ListSessions returns the live sessions of the user logged in on ctx
// (which must come from RequireLogin or OptionalLogin), most recently
// seen first. It returns all of them; pages use ListSessionsPage.
func (k *Kit) ListSessions(ctx context.Context) ([]SessionView, error) {
	cur, list, err := k.userSessions(ctx)
	if err != nil {
		return nil, err
	}
	return k.views(cur, list), nil
}

// ListSessionsPage returns page (from 1; clamped to the existing pages)
// of the current user's live sessions, SessionsPageSize a page, most
// recently seen first, with the user's total number of live sessions and
// the page actually returned.
func (k *Kit) ListSessionsPage(ctx context.Context, page int) (views []SessionView, total, got int, err error) {
	cur, list, err := k.userSessions(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	pages := max(1, (len(list)+SessionsPageSize-1)/SessionsPageSize)
	page = min(max(page, 1), pages)
	lo := (page - 1) * SessionsPageSize
	return k.views(cur, list[lo:min(lo+SessionsPageSize, len(list))]), len(list), page, nil
}

// userSessions returns the current session and all the user's live ones.
func (k *Kit) userSessions(ctx context.Context) (*sessionstore.Session, []*sessionstore.Session, error) {
	cur := Session(ctx)
	if cur == nil {
		return nil, nil, ErrNoSession
	}
	list, err := k.store.ListByUser(ctx, cur.UserID)
	if err != nil {
		return nil, nil, fmt.Errorf("appkit: list sessions: %w", err)
	}
	return cur, list, nil
}

func (k *Kit) views(cur *sessionstore.Session, list []*sessionstore.Session) []SessionView {
	out := make([]SessionView, 0, len(list))
	for _, s := range list {
		out = append(out, SessionView{
			ID: viewID(s.Key), Current: s.Key == cur.Key,
			CreatedAt: s.CreatedAt, LastSeen: s.LastSeen, ExpiresAt: s.ExpiresAt, AuthTime: s.AuthTime,
			IP: s.IP, UserAgent: s.UserAgent, Device: deviceOf(s.UserAgent),
		})
	}
	return out
}

// EndSession ends one of the current user's sessions by its SessionView
// ID and revokes that session's refresh token at the IdP by id (needs an
// API key in the idpclient; without one the other browser's refresh cookie
// stays valid at the IdP until it expires, and is logged as a warning).
// Ending the current session this way is refused: use logout.
func (k *Kit) EndSession(ctx context.Context, id string) error {
	cur := Session(ctx)
	if cur == nil {
		return ErrNoSession
	}
	list, err := k.store.ListByUser(ctx, cur.UserID)
	if err != nil {
		return fmt.Errorf("appkit: end session: %w", err)
	}
	for _, s := range list {
		if viewID(s.Key) == id && s.Key != cur.Key {
			return k.endOther(ctx, s)
		}
	}
	return sessionstore.ErrNotFound
}

// EndOtherSessions ends every session of the current user except this one
// (each with its refresh token revoked by id, as EndSession), and returns
// how many it ended.
func (k *Kit) EndOtherSessions(ctx context.Context) (int, error) {
	cur := Session(ctx)
	if cur == nil {
		return 0, ErrNoSession
	}
	list, err := k.store.ListByUser(ctx, cur.UserID)
	if err != nil {
		return 0, fmt.Errorf("appkit: end other sessions: %w", err)
	}
	n := 0
	for _, s := range list {
		if s.Key == cur.Key {
			continue
		}
		if err := k.endOther(ctx, s); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (k *Kit) endOther(ctx context.Context, s *sessionstore.Session) error {
	if err := k.store.Delete(ctx, s.Key); err != nil {
		return fmt.Errorf("appkit: delete session: %w", err)
	}
	// Only a refresh token id that differs from the current session's can
	// be revoked without logging this browser out too.
	cur := Session(ctx)
	switch {
	case s.RefreshTokenID == "" || (cur != nil && s.RefreshTokenID == cur.RefreshTokenID):
	case !k.idp.HasAPIKey():
		k.log.Warn("appkit: ended a session without revoking its refresh token (no IdP API key)", "user", s.UserID)
	default:
		if err := k.idp.RevokeRefreshTokenID(context.WithoutCancel(ctx), s.RefreshTokenID); err != nil {
			k.log.Warn("appkit: revoke refresh token of ended session", "err", err)
		}
	}
	return nil
}

// EndAllSessions signs the current user out everywhere (APP-OUT-2):
// revokes all their refresh tokens at the IdP (needs an API key; without
// one only this browser's token is revoked), deletes all their sessions in
// this app, revokes this browser's refresh token and clears the cookies
// on w. r must come through RequireLogin.
func (k *Kit) EndAllSessions(w http.ResponseWriter, r *http.Request) (int, error) {
	ctx := r.Context()
	cur := Session(ctx)
	if cur == nil {
		return 0, ErrNoSession
	}
	if k.idp.HasAPIKey() {
		if err := k.idp.RevokeUser(context.WithoutCancel(ctx), cur.UserID); err != nil {
			k.log.Warn("appkit: revoke all refresh tokens of user", "user", cur.UserID, "err", err)
		}
	} else {
		k.log.Warn("appkit: sign-out everywhere without an IdP API key revokes only this browser's refresh token", "user", cur.UserID)
	}
	if rc, err := k.openRefresh(cookieValue(r, k.rtName)); err == nil {
		k.revokeBestEffort(ctx, rc.token)
	}
	n, err := k.EndUserSessions(ctx, cur.UserID)
	if err != nil {
		return 0, err
	}
	k.clearCookies(w)
	// The IdP ends the user's twoFactorTrustIds too; this browser forgets
	// its own at once (APP-MFA-3).
	k.clearCookie(w, k.trustName, http.SameSiteLaxMode)
	return n, nil
}

// SessionsHandler serves the "my sessions" page behind RequireLogin: GET
// renders tmpl with a *SessionsPage; POST (cross-origin checked) performs
// the form's action and answers 303 back to SessionsPath, or, for
// "end-all", clears the cookies and answers 303 to LoginPath.
func (k *Kit) SessionsHandler(tmpl *template.Template) http.Handler {
	if tmpl == nil {
		tmpl = DefaultSessionsTemplate()
	}
	return k.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			n, _ := strconv.Atoi(r.URL.Query().Get("page"))
			list, total, n, err := k.ListSessionsPage(ctx, n)
			if err != nil {
				k.log.Error("appkit: list sessions", "err", err)
				k.unavailable.ServeHTTP(w, r)
				return
			}
			msg := ""
			switch r.URL.Query().Get("done") {
			case "end":
				msg = "Signed out that session."
			case "end-others":
				msg = "Signed out all other sessions."
			}
			page := SessionsPage{User: User(ctx), Sessions: list, Action: k.cfg.SessionsPath, Message: msg,
				Total: total, More: total - len(list), Page: n, Pages: max(1, (total+SessionsPageSize-1)/SessionsPageSize)}
			if n > 1 {
				page.PrevURL = k.cfg.SessionsPath + "?page=" + strconv.Itoa(n-1)
			}
			if n < page.Pages {
				page.NextURL = k.cfg.SessionsPath + "?page=" + strconv.Itoa(n+1)
			}
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, &page); err != nil {
				k.log.Error("appkit: sessions template", "err", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(buf.Bytes())
		case http.MethodPost:
			r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			var err error
			action := r.PostForm.Get("action")
			switch action {
			case "end":
				err = k.EndSession(ctx, r.PostForm.Get("session"))
				if errors.Is(err, sessionstore.ErrNotFound) {
					err = nil // already gone: the page reloads without it
				}
			case "end-others":
				_, err = k.EndOtherSessions(ctx)
			case "end-all":
				if _, err = k.EndAllSessions(w, r); err == nil {
					http.Redirect(w, r, k.cfg.LoginPath, http.StatusSeeOther)
					return
				}
			default:
				http.Error(w, "unknown action", http.StatusBadRequest)
				return
			}
			if err != nil {
				k.log.Error("appkit: session action", "action", action, "err", err)
				k.unavailable.ServeHTTP(w, r)
				return
			}
			http.Redirect(w, r, k.cfg.SessionsPath+"?done="+action, http.StatusSeeOther)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	}))
}

// DefaultSessionsTemplate returns the built-in sessions page.
func DefaultSessionsTemplate() *template.Template {
	return template.Must(template.New("sessions").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your sessions</title></head>
<body><main>
<h1>Your sessions</h1>
{{if .Message}}<p role="status">{{.Message}}</p>{{end}}
<table><thead><tr><th>Device</th><th>IP</th><th>Signed in</th><th>Last seen</th><th></th></tr></thead><tbody>
{{range .Sessions}}<tr><td>{{.Device}}</td><td>{{.IP}}</td><td>{{.CreatedAt.Format "2006-01-02 15:04"}}</td><td>{{.LastSeen.Format "2006-01-02 15:04"}}</td>
<td>{{if .Current}}this browser{{else}}<form method="post" action="{{$.Action}}"><input type="hidden" name="action" value="end"><input type="hidden" name="session" value="{{.ID}}"><button>Sign out</button></form>{{end}}</td></tr>
{{end}}</tbody></table>
{{if .More}}<p>Page {{.Page}} of {{.Pages}}: {{.More}} more of your {{.Total}} sessions are not listed.
{{if .PrevURL}}<a href="{{.PrevURL}}">More recent</a>{{end}} {{if .NextURL}}<a href="{{.NextURL}}">Older</a>{{end}}</p>{{end}}
<form method="post" action="{{.Action}}"><input type="hidden" name="action" value="end-others"><button>Sign out all other sessions</button></form>
<form method="post" action="{{.Action}}"><input type="hidden" name="action" value="end-all"><button>Sign out everywhere</button></form>
</main></body></html>
`))
}

// deviceOf summarizes a user agent as "Browser on OS".
func deviceOf(ua string) string {
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go client"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	osName := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			osName = o.name
			break
		}
	}
	if osName == "" {
		return browser
	}
	return browser + " on " + osName
}
