package appkit_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idpclient"
	"github.com/gatehouse-auth/gatehouse/password"
)

// A complete app: a start page for everyone, a cart behind login, the login
// form, logout and a "my sessions" page, against the identity server at
// IDP_URL. A real program ends with
//
//	log.Fatal(http.ListenAndServeTLS(":8443", "cert.pem", "key.pem", mux))
//
// where this example serves two requests of a browser without cookies.
func Example() {
	client, err := idpclient.New(idpclient.Config{
		BaseURL:       cmp.Or(os.Getenv("IDP_URL"), "https://idp.example.com"),
		ClientID:      cmp.Or(os.Getenv("STORE_CLIENT_ID"), "store"),
		ClientSecret:  os.Getenv("STORE_CLIENT_SECRET"),
		RefreshMethod: idpclient.RefreshOAuth2, // or idpclient.RefreshJWT (FusionAuth's /api/jwt/refresh)
	})
	if err != nil {
		log.Fatal(err)
	}
	// Sessions in memory; sqlitestore, redisstore and pgstore keep them
	// across restarts and share them between processes.
	sessions := memstore.New(memstore.Config{})
	defer sessions.Close()
	// The refresh-cookie key: 32 random bytes, hex (openssl rand -hex 32).
	// Keep it: with a new key everybody signs in again at their next refresh.
	sealKey, err := hex.DecodeString(os.Getenv("STORE_SEAL_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	if len(sealKey) == 0 { // none given: a key for this run only
		sealKey = make([]byte, 32)
		rand.Read(sealKey)
	}
	kit, err := appkit.New(appkit.Config{
		IdP: client, Store: sessions, SealKey: sealKey,
		CookieName: "store", HomePath: "/shopping-cart",
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/login", kit.LoginHandler())          // GET renders your form, POST logs in
	mux.Handle("/logout", kit.LogoutHandler())        // POST: session, IdP token, cookies: gone
	mux.Handle("/sessions", kit.SessionsHandler(nil)) // "my sessions": end one, others, all
	mux.Handle("GET /shopping-cart", kit.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "cart of %s", appkit.User(r.Context()).Email)
	})))
	mux.Handle("GET /{$}", kit.OptionalLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := appkit.User(r.Context()); u != nil {
			fmt.Fprintf(w, "hello %s", u.Email)
			return
		}
		fmt.Fprint(w, `<a href="/login">sign in</a>`)
	})))

	for _, path := range []string{"/", "/shopping-cart"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "https://store.example.com"+path, nil))
		fmt.Printf("GET %s: %d %s\n", path, w.Code, cmp.Or(w.Header().Get("Location"), w.Body.String()))
	}
	// Output:
	// GET /: 200 <a href="/login">sign in</a>
	// GET /shopping-cart: 303 /login?next=%2Fshopping-cart
}

// The same kind of app, run end to end: a real Gatehouse IdP on loopback,
// an app in development mode (plain http on loopback), and a browser-like
// client with a cookie jar.
func Example_endToEnd() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "appkit-example")
	defer os.RemoveAll(dir)

	// The identity server, with one app and one user.
	idpStore, _ := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "idp.db"), Logger: slog.New(slog.DiscardHandler)})
	defer idpStore.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	idpURL := "http://" + ln.Addr().String()
	server, err := idp.New(ctx, idp.Config{Store: idpStore, Issuer: idpURL, Logger: slog.New(slog.DiscardHandler),
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
	if err != nil {
		log.Fatal(err)
	}
	idpSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: server.Handler()}}
	idpSrv.Start()
	defer idpSrv.Close()
	app, secret, _ := server.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "store", Config: store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true}})
	user, _ := server.Admin().CreateUser(ctx, idp.UserSpec{Email: "ann@example.com", Password: "a long enough passphrase", Verified: true})
	_, _ = server.Admin().Register(ctx, user.ID, app.ID, nil)

	// The app.
	client, _ := idpclient.New(idpclient.Config{BaseURL: idpURL, ClientID: app.ID, ClientSecret: secret})
	sessions := memstore.New(memstore.Config{})
	defer sessions.Close()
	kit, err := appkit.New(appkit.Config{IdP: client, Store: sessions, SealKey: []byte("0123456789abcdef0123456789abcdef"),
		CookieName: "store", DevMode: true, HomePath: "/shopping-cart", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/login", kit.LoginHandler())
	mux.Handle("/logout", kit.LogoutHandler())
	mux.Handle("GET /shopping-cart", kit.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "cart of %s", appkit.User(r.Context()).Email)
	})))
	appSrv := httptest.NewServer(mux)
	defer appSrv.Close()

	// A browser.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	show := func(resp *http.Response, err error) {
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		line := fmt.Sprint(resp.StatusCode)
		if loc := resp.Header.Get("Location"); loc != "" {
			line += " -> " + loc
		}
		if _, alert, ok := strings.Cut(string(body), `<p role="alert">`); ok { // the login form's error slot
			line += ": " + alert[:strings.Index(alert, "<")]
		} else if len(body) > 0 && !strings.HasPrefix(string(body), "<") {
			line += ": " + string(body)
		}
		fmt.Println(line)
	}
	show(browser.Get(appSrv.URL + "/shopping-cart"))
	show(browser.PostForm(appSrv.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {"wrong password, sorry"}}))
	show(browser.PostForm(appSrv.URL+"/login", url.Values{"email": {"ann@example.com"}, "password": {"a long enough passphrase"}, "next": {"/shopping-cart"}}))
	show(browser.Get(appSrv.URL + "/shopping-cart"))
	show(browser.PostForm(appSrv.URL+"/logout", nil))
	show(browser.Get(appSrv.URL + "/shopping-cart"))
	// Output:
	// 303 -> /login?next=%2Fshopping-cart
	// 401: Invalid email or password.
	// 303 -> /shopping-cart
	// 200: cart of ann@example.com
	// 303 -> /shopping-cart
	// 303 -> /login?next=%2Fshopping-cart
}

// The account pages: sign-up, forgotten password, the reset and
// verification links the IdP mails ({app}/reset-password?id=,
// {app}/verify-email?id=) and the signed-in user's account page, mounted
// in one call. They call the IdP's user API with the app's API key, which
// needs exactly idpclient.APIKeyPermissions(). Each page has a built-in
// template; Config.SignupTemplate and friends replace them.
func ExampleKit_AccountRoutes() {
	client, err := idpclient.New(idpclient.Config{
		BaseURL: "https://idp.example.com", ClientID: "store", ClientSecret: os.Getenv("STORE_CLIENT_SECRET"),
		APIKey: os.Getenv("STORE_API_KEY"), // scoped to idpclient.APIKeyPermissions()
	})
	if err != nil {
		log.Fatal(err)
	}
	sessions := memstore.New(memstore.Config{})
	defer sessions.Close()
	kit, err := appkit.New(appkit.Config{IdP: client, Store: sessions, SealKey: make([]byte, 32), CookieName: "store"})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/login", kit.LoginHandler())
	kit.AccountRoutes(mux) // /signup, /forgot-password, /reset-password, /verify-email, /account[/password|/email|/verify-email]

	for _, path := range []string{"/signup", "/forgot-password", "/verify-email?id=abc", "/account"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", "https://store.example.com"+path, nil))
		title := w.Body.String()
		if _, t, ok := strings.Cut(title, "<title>"); ok {
			title, _, _ = strings.Cut(t, "</title>")
		}
		fmt.Printf("GET %s: %d %s\n", path, w.Code, cmp.Or(w.Header().Get("Location"), title))
	}
	// A sign-up posted from another site never reaches the IdP.
	req := httptest.NewRequest("POST", "https://store.example.com/signup", strings.NewReader("email=a%40example.com&password=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	fmt.Println("cross-site POST /signup:", w.Code)
	// Output:
	// GET /signup: 200 Create an account
	// GET /forgot-password: 200 Forgot your password?
	// GET /verify-email?id=abc: 200 Confirm your email address
	// GET /account: 303 /login?next=%2Faccount
	// cross-site POST /signup: 403
}

// exampleOutbox keeps the IdP's mails for Example_accounts (a real
// deployment sends them over SMTP; the demo has a Mailbox page).
type exampleOutbox struct{ links []string }

func (o *exampleOutbox) Send(_ context.Context, m mail.Message) error {
	o.links = append(o.links, m.Data.Link)
	return nil
}

// The account pages end to end: a real Gatehouse IdP that mails links
// under the app's base URL, an app that mounts AccountRoutes with a key
// scoped to idpclient.APIKeyPermissions(), and a browser that signs up,
// follows the verification link (GET shows a button, POST confirms) and
// changes its password.
func Example_accounts() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "appkit-accounts")
	defer os.RemoveAll(dir)
	idpStore, _ := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "idp.db"), Logger: slog.New(slog.DiscardHandler)})
	defer idpStore.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	idpURL := "http://" + ln.Addr().String()
	outbox := &exampleOutbox{}
	server, err := idp.New(ctx, idp.Config{Store: idpStore, Issuer: idpURL, Logger: slog.New(slog.DiscardHandler), Mailer: outbox,
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
	if err != nil {
		log.Fatal(err)
	}
	idpSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: server.Handler()}}
	idpSrv.Start()
	defer idpSrv.Close()

	appLn, _ := net.Listen("tcp", "127.0.0.1:0")
	appURL := "http://" + appLn.Addr().String()
	app, secret, err := server.Admin().CreateApplication(ctx, idp.ApplicationSpec{Name: "store", Config: store.ApplicationConfig{
		EnabledGrants: []string{"password", "refresh_token"}, GenerateRefreshTokens: true, AllowTokenRefresh: true,
		BaseURL: appURL}}) // mail links point here
	if err != nil {
		log.Fatal(err)
	}
	key, _, _ := server.Admin().CreateScopedAPIKey(ctx, "store", store.APIKeyPermissions{Endpoints: idpclient.APIKeyPermissions()})

	client, _ := idpclient.New(idpclient.Config{BaseURL: idpURL, ClientID: app.ID, ClientSecret: secret, APIKey: key})
	sessions := memstore.New(memstore.Config{})
	defer sessions.Close()
	kit, _ := appkit.New(appkit.Config{IdP: client, Store: sessions, SealKey: []byte("0123456789abcdef0123456789abcdef"),
		CookieName: "store", DevMode: true, Logger: slog.New(slog.DiscardHandler)})
	mux := http.NewServeMux()
	mux.Handle("/login", kit.LoginHandler())
	kit.AccountRoutes(mux)
	appSrv := &httptest.Server{Listener: appLn, Config: &http.Server{Handler: mux}}
	appSrv.Start()
	defer appSrv.Close()

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	show := func(what string) func(*http.Response, error) {
		return func(resp *http.Response, err error) {
			if err != nil {
				log.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			line := fmt.Sprintf("%s: %d", what, resp.StatusCode)
			if loc := resp.Header.Get("Location"); loc != "" {
				line += " -> " + loc
			}
			for _, marker := range []string{`<p role="status">`, `<p role="alert">`, `<p id="password-error">`, `<p id="pw-current-error">`} {
				if _, msg, ok := strings.Cut(string(body), marker); ok {
					line += ": " + msg[:strings.Index(msg, "<")]
				}
			}
			fmt.Println(line)
		}
	}
	const email = "dana@example.com"
	show("weak password")(browser.PostForm(appURL+"/signup", url.Values{"email": {email}, "password": {"password123"}}))
	show("sign up")(browser.PostForm(appURL+"/signup", url.Values{"email": {email}, "password": {"velvet compass autumn ferry"}}))
	link, _ := url.Parse(outbox.links[0])
	show("open the mailed link")(browser.Get(link.String()))
	show("confirm")(browser.PostForm(appURL+"/verify-email", url.Values{"id": {link.Query().Get("id")}}))
	show("wrong current password")(browser.PostForm(appURL+"/account/password",
		url.Values{"current_password": {"not my password"}, "password": {"harbour lantern quiet thistle"}}))
	show("change password")(browser.PostForm(appURL+"/account/password",
		url.Values{"current_password": {"velvet compass autumn ferry"}, "password": {"harbour lantern quiet thistle"}}))
	// Output:
	// weak password: 400: Use at least 15 characters. A few unrelated words make a good password.
	// sign up: 200: Check your email: we sent a message to dana@example.com. Follow its link to confirm the address.
	// open the mailed link: 200
	// confirm: 200: Your email address is confirmed.
	// wrong current password: 403: That is not your current password.
	// change password: 303 -> /account?done=password
}
