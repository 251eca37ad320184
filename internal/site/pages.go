package site

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/gatehouse-auth/gatehouse/appkit"
)

// Count is the number Spec.Counts gives for the navigation path, as
// text, or "" when there is none (no user, no Counts, no entry).
func (c chrome) Count(path string) string {
	n, ok := c.Counts[path]
	if !ok {
		return ""
	}
	return strconv.Itoa(n)
}

// viewer is the signed-in user a login page is shown to, or nil: the
// login template says who is signed in before offering to sign in as
// someone else.
func viewer(v any) *appkit.UserInfo {
	if p, ok := v.(*loginView); ok {
		return p.user
	}
	return nil
}

// loginHandler is the kit's login, except that a signed-in browser
// asking for the form gets it with a line saying who is signed in (the
// kit's form does not know). Only GET and HEAD look the session up:
// a POST is the kit's own.
func (s *Site) loginHandler() http.Handler {
	kit := s.Kit.LoginHandler()
	form := s.Kit.OptionalLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := appkit.User(r.Context())
		if u == nil {
			kit.ServeHTTP(w, r)
			return
		}
		s.execute(w, http.StatusOK, "login", &loginView{
			LoginPage: &appkit.LoginPage{Action: "/login", Next: appkit.SafeNext(r.URL.Query().Get("next"), ""),
				Passkey: s.Kit.PasskeyLoginForm()},
			user: u, ctx: r.Context(),
		})
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			form.ServeHTTP(w, r)
			return
		}
		kit.ServeHTTP(w, r)
	})
}

// sessionsHandler is the kit's sessions page, with a confirmation step in
// front of "sign out everywhere": a POST of action=end-all without
// confirm=yes only shows what it would do, with Confirm and Cancel. The
// form is read here first (the kit's own read then finds it parsed); a
// body that cannot be read goes on to the kit, which refuses it.
func (s *Site) sessionsHandler() http.Handler {
	kit := s.Kit.SessionsHandler(s.pages["sessions"])
	ask := s.Kit.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Render(w, r, http.StatusOK, "signout-everywhere", &Page{})
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
			if err := r.ParseForm(); err == nil && r.PostForm.Get("action") == "end-all" && r.PostForm.Get("confirm") != "yes" {
				ask.ServeHTTP(w, r)
				return
			}
		}
		kit.ServeHTTP(w, r)
	})
}

// execute runs the page template name on data into a buffer (a template
// error is a clean 500) and writes it with status.
func (s *Site) execute(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, data); err != nil {
		s.Log.Error("render page", "name", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
