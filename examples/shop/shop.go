// Package shop is the Store example app: a small shop with a seeded
// product catalog and a shopping cart per user, signed in through the
// Gatehouse login architecture (scenarios S1-S5, S7-S11 of docs/design.md).
// The package is named shop, not store, because "store" already means the
// IdP's storage (idp/store) and the session stores (appkit/sessionstore);
// the app itself is still called the Store.
//
//	GET  /                                  catalog (anyone)
//	GET  /login, POST /login                sign-in form (app kit)
//	POST /logout                            sign out (app kit)
//	GET  /shopping-cart                     the user's cart
//	POST /shopping-cart/items               add: productId, quantity (default 1);
//	                                        303 back to the product in the catalog
//	POST /shopping-cart/items/{id}          set quantity (0 removes)
//	POST /shopping-cart/items/{id}/remove   remove the line
//	GET  /sessions, POST /sessions          "my sessions" (app kit)
//	/signup, /forgot-password, /reset-password, /verify-email, /account
//	                                        account pages (app kit); an
//	                                        unconfirmed address may browse
//	                                        and fill the cart
//	POST /webhooks/gatehouse                revocation events from the IdP
//	GET  /healthz, /readyz
//
// The cart is keyed by the IdP user id in the app's own SQLite database,
// so it outlives sessions: a refresh, a new login or a restart finds it
// again. It owns the catalog, the cart and their pages; sessions, cookies
// and the IdP are package appkit's, the shared frame package site's.
package shop

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

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/internal/site"
)

//go:embed templates/*.html
var templates embed.FS

// Config configures the Store; see site.Config for the fields.
type Config = site.Config

// Cookie name prefix and the page a login lands on.
const (
	CookieName = "store"
	HomePath   = "/shopping-cart"
	// MaxQuantity bounds one cart line.
	MaxQuantity = 99
)

// App is the Store. It is an http.Handler; Close it when done.
type App struct {
	*site.Site
	db  *sql.DB
	now func() time.Time
}

// New opens the Store's database (seeding the catalog on first use) and
// its session store, and builds its routes.
func New(ctx context.Context, cfg Config) (*App, error) {
	pages, _ := fs.Sub(templates, "templates")
	a := &App{now: cfg.Now}
	if a.now == nil {
		a.now = time.Now
	}
	s, db, err := site.NewWithDB(ctx, cfg, site.Spec{
		Name: "Gatehouse Store", CookieName: CookieName, HomePath: HomePath,
		Accent: "#0f766e", AccentSoft: "#99f6e4",
		Nav:   []site.Link{{Path: "/", Label: "Catalog"}, {Path: "/shopping-cart", Label: "Cart"}},
		Pages: pages,
		Funcs: map[string]any{"money": money, "initial": initial},
		// "Cart (3)" in the header of every page.
		Counts: func(ctx context.Context, userID string) (map[string]int, error) {
			c, err := a.Cart(ctx, userID)
			if err != nil {
				return nil, err
			}
			return map[string]int{HomePath: c.Count}, nil
		},
	}, migrationFiles, "migrations", seed)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	a.db = db
	a.Site = s
	k := s.Kit
	s.Mux.Handle("GET /{$}", k.OptionalLogin(http.HandlerFunc(a.home)))
	s.Mux.Handle("GET /shopping-cart", k.RequireLogin(http.HandlerFunc(a.cart)))
	s.Mux.Handle("POST /shopping-cart/items", k.RequireLogin(http.HandlerFunc(a.addItem)))
	s.Mux.Handle("POST /shopping-cart/items/{id}", k.RequireLogin(http.HandlerFunc(a.setItem)))
	s.Mux.Handle("POST /shopping-cart/items/{id}/remove", k.RequireLogin(http.HandlerFunc(a.removeItem)))
	return a, nil
}

// Close closes the database and the session store.
func (a *App) Close() error {
	return errors.Join(a.Site.Close(), a.db.Close())
}

type homeData struct {
	Products []Product
	Count    int   // items in the user's cart
	Added    int64 // the product just added (?added=), 0 for none
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ps, err := a.Products(ctx)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d := homeData{Products: ps}
	if id, ok := parseID(r.URL.Query().Get("added")); ok {
		d.Added = id
	}
	if u := appkit.User(ctx); u != nil {
		c, err := a.Cart(ctx, u.ID)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		d.Count = c.Count
	}
	a.Render(w, r, http.StatusOK, "home", &site.Page{Data: d})
}

func (a *App) cart(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := a.Cart(ctx, appkit.User(ctx).ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := &site.Page{Data: c}
	if id, err := strconv.ParseInt(r.URL.Query().Get("added"), 10, 64); err == nil {
		if pr, err := a.Product(ctx, id); err == nil {
			p.Notice = "Added " + pr.Name + " to your cart."
		}
	}
	a.Render(w, r, http.StatusOK, "cart", p)
}

func (a *App) addItem(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	id, ok := parseID(r.PostForm.Get("productId"))
	if !ok {
		a.Error(w, r, http.StatusBadRequest, "Choose a product to add.")
		return
	}
	q := 1
	if v := strings.TrimSpace(r.PostForm.Get("quantity")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxQuantity {
			a.Error(w, r, http.StatusBadRequest, fmt.Sprintf("The quantity must be a whole number from 1 to %d.", MaxQuantity))
			return
		}
		q = n
	}
	ctx := r.Context()
	if err := a.AddToCart(ctx, appkit.User(ctx).ID, id, q); err != nil {
		if errors.Is(err, ErrNoProduct) {
			a.Error(w, r, http.StatusNotFound, "That product does not exist.")
			return
		}
		a.fail(w, r, err)
		return
	}
	// Back to the product in the catalog, which says it was added; the
	// header's cart count shows the new total.
	ids := strconv.FormatInt(id, 10)
	http.Redirect(w, r, "/?added="+ids+"#product-"+ids, http.StatusSeeOther)
}

func (a *App) setItem(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		a.Error(w, r, http.StatusNotFound, "That product does not exist.")
		return
	}
	if !a.parseForm(w, r) {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get("quantity")))
	if err != nil || n < 0 || n > MaxQuantity {
		a.Error(w, r, http.StatusBadRequest, fmt.Sprintf("The quantity must be a whole number from 0 to %d.", MaxQuantity))
		return
	}
	ctx := r.Context()
	if err := a.SetQuantity(ctx, appkit.User(ctx).ID, id, n); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/shopping-cart", http.StatusSeeOther)
}

func (a *App) removeItem(w http.ResponseWriter, r *http.Request) {
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		a.Error(w, r, http.StatusNotFound, "That product does not exist.")
		return
	}
	ctx := r.Context()
	if err := a.SetQuantity(ctx, appkit.User(ctx).ID, id, 0); err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/shopping-cart", http.StatusSeeOther)
}

// parseForm reads a small form body; false means a 400 was written.
func (a *App) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		a.Error(w, r, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	return true
}

// fail logs a data error and answers 503: the database is the only thing
// that fails here, and nothing was changed.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	a.Log.Error("store: database", "path", r.URL.Path, "err", err)
	a.Error(w, r, http.StatusServiceUnavailable, "The shop is having trouble right now. Please try again in a moment.")
}

func parseID(s string) (int64, bool) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return id, err == nil && id > 0
}

// money formats cents as "$12.50".
func money(cents int64) string {
	return fmt.Sprintf("$%d.%02d", cents/100, cents%100)
}

// initial is the first letter of a name, for the product swatch.
func initial(s string) string {
	for _, r := range s {
		return string(r)
	}
	return "?"
}
