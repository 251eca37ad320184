// Package forums is the Forums example app: discussion threads and posts
// for signed-in members. It is a second, separate OAuth client of the same
// identity server, with its own cookies, database and sign-in: being
// signed in to the Store does not sign you in here (scenario S6).
//
//	GET  /                        start page (anyone)
//	GET  /login, POST /login      sign-in form (app kit)
//	POST /logout                  sign out (app kit)
//	GET  /posts                   threads, with a form for a new one
//	POST /posts                   new thread: title, body
//	GET  /posts/{id}              a thread and its replies
//	POST /posts/{id}/replies      reply: body
//	GET  /sessions, POST /sessions "my sessions" (app kit)
//	/signup, /forgot-password, /reset-password, /verify-email, /account
//	                              account pages (app kit); members with an
//	                              unconfirmed address read but do not post
//	POST /webhooks/gatehouse      revocation events from the IdP
//	GET  /healthz, /readyz
//
// It owns threads, posts and their pages; sessions, cookies and the IdP
// are package appkit's, the shared frame package site's.
package forums

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/internal/site"
)

//go:embed templates/*.html
var templates embed.FS

// Config configures the Forums; see site.Config for the fields.
type Config = site.Config

// Cookie name prefix, landing page and input bounds.
const (
	CookieName   = "forums"
	HomePath     = "/posts"
	MaxTitleLen  = 120   // characters
	MaxBodyLen   = 10000 // characters
	maxFormBytes = 64 << 10
)

// App is the Forums. It is an http.Handler; Close it when done.
type App struct {
	*site.Site
	db  *sql.DB
	now func() time.Time
}

// New opens the Forums' database (with a welcome thread on first use) and
// its session store, and builds its routes.
func New(ctx context.Context, cfg Config) (*App, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	a := &App{now: now}
	pages, _ := fs.Sub(templates, "templates")
	s, db, err := site.NewWithDB(ctx, cfg, site.Spec{
		Name: "Gatehouse Forums", CookieName: CookieName, HomePath: HomePath,
		Accent: "#6d28d9", AccentSoft: "#ddd6fe",
		Nav:   []site.Link{{Path: "/", Label: "Home"}, {Path: "/posts", Label: "Threads"}},
		Pages: pages,
		Funcs: map[string]any{"when": whenTime, "plural": plural},
	}, migrationFiles, "migrations", func(ctx context.Context, db *sql.DB) error {
		a.db = db
		return a.seed(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("forums: %w", err)
	}
	a.db = db
	a.Site = s
	k := s.Kit
	s.Mux.Handle("GET /{$}", k.OptionalLogin(http.HandlerFunc(a.home)))
	s.Mux.Handle("GET /posts", k.RequireLogin(http.HandlerFunc(a.threads)))
	s.Mux.Handle("POST /posts", k.RequireLogin(http.HandlerFunc(a.newThread)))
	s.Mux.Handle("GET /posts/{id}", k.RequireLogin(http.HandlerFunc(a.thread)))
	s.Mux.Handle("POST /posts/{id}/replies", k.RequireLogin(http.HandlerFunc(a.reply)))
	return a, nil
}

// Close closes the database and the session store.
func (a *App) Close() error {
	return errors.Join(a.Site.Close(), a.db.Close())
}

type homeData struct {
	Stats   Stats
	Threads []Thread
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := a.Stats(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d := homeData{Stats: st}
	if appkit.User(ctx) != nil {
		if d.Threads, err = a.Threads(ctx, 5); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	a.Render(w, r, http.StatusOK, "home", &site.Page{Data: d})
}

// threadsData is the thread list page, with the new-thread form.
type threadsData struct {
	Threads     []Thread
	Title, Body string
	Error       string
}

func (a *App) threads(w http.ResponseWriter, r *http.Request) {
	a.renderThreads(w, r, http.StatusOK, threadsData{})
}

func (a *App) renderThreads(w http.ResponseWriter, r *http.Request, status int, d threadsData) {
	ts, err := a.Threads(r.Context(), 100)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d.Threads = ts
	a.Render(w, r, status, "threads", &site.Page{Data: d})
}

// MsgUnverified is the answer to a post by a member whose email address
// is not confirmed: the Forums let them read but not post (README,
// "Accounts").
const MsgUnverified = "Confirm your email address before posting: follow the link we mailed you, or send a new one from your account page."

// mayPost refuses (403) a post by a member whose address is unconfirmed.
func (a *App) mayPost(w http.ResponseWriter, r *http.Request) bool {
	if u := appkit.User(r.Context()); u == nil || !u.EmailVerified {
		a.Error(w, r, http.StatusForbidden, MsgUnverified)
		return false
	}
	return true
}

func (a *App) newThread(w http.ResponseWriter, r *http.Request) {
	if !a.mayPost(w, r) || !a.parseForm(w, r) {
		return
	}
	title := strings.TrimSpace(r.PostForm.Get("title"))
	body := strings.TrimSpace(r.PostForm.Get("body"))
	if msg := checkText(title, body, true); msg != "" {
		a.renderThreads(w, r, http.StatusBadRequest, threadsData{Title: title, Body: body, Error: msg})
		return
	}
	ctx := r.Context()
	id, err := a.CreateThread(ctx, appkit.User(ctx), title, body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/posts/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// threadData is one thread's page.
type threadData struct {
	Thread Thread
	Posts  []Post
	Body   string
	Error  string
}

func (a *App) thread(w http.ResponseWriter, r *http.Request) {
	a.renderThread(w, r, http.StatusOK, "", "")
}

func (a *App) renderThread(w http.ResponseWriter, r *http.Request, status int, body, msg string) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		a.Error(w, r, http.StatusNotFound, "There is no such thread.")
		return
	}
	t, posts, err := a.Thread(r.Context(), id)
	if errors.Is(err, ErrNoThread) {
		a.Error(w, r, http.StatusNotFound, "There is no such thread.")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.Render(w, r, status, "thread", &site.Page{Data: threadData{Thread: t, Posts: posts, Body: body, Error: msg}})
}

func (a *App) reply(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		a.Error(w, r, http.StatusNotFound, "There is no such thread.")
		return
	}
	if !a.mayPost(w, r) || !a.parseForm(w, r) {
		return
	}
	body := strings.TrimSpace(r.PostForm.Get("body"))
	if msg := checkText("", body, false); msg != "" {
		a.renderThread(w, r, http.StatusBadRequest, body, msg)
		return
	}
	ctx := r.Context()
	pid, err := a.Reply(ctx, appkit.User(ctx), id, body)
	if errors.Is(err, ErrNoThread) {
		a.Error(w, r, http.StatusNotFound, "There is no such thread.")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/posts/%d#post-%d", id, pid), http.StatusSeeOther)
}

// checkText validates a title (when wanted) and a body; "" means fine.
func checkText(title, body string, wantTitle bool) string {
	if wantTitle {
		if title == "" {
			return "Give the thread a title."
		}
		if utf8.RuneCountInString(title) > MaxTitleLen || !utf8.ValidString(title) {
			return fmt.Sprintf("The title can have at most %d characters.", MaxTitleLen)
		}
	}
	if body == "" {
		return "Write something first."
	}
	if utf8.RuneCountInString(body) > MaxBodyLen || !utf8.ValidString(body) {
		return fmt.Sprintf("A post can have at most %d characters.", MaxBodyLen)
	}
	return ""
}

func (a *App) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.Error(w, r, http.StatusRequestEntityTooLarge, "That post is too long.")
			return false
		}
		a.Error(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	return true
}

func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.Log.Error("forums: database", "path", r.URL.Path, "err", err)
	a.Error(w, r, http.StatusServiceUnavailable, "The forums are having trouble right now. Please try again in a moment.")
}

func parseID(s string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return id, err == nil && id > 0
}

func whenTime(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
