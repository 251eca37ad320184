// Package exampletest is the setup the example apps' tests (examples/shop,
// examples/forums) share: a test configuration and an app signed in to
// against a real IdP. The request checks live in package sitetest, which
// cannot import site (site's own tests use it).
package exampletest

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/internal/site"
	"github.com/gatehouse-auth/gatehouse/internal/sitetest"
)

// Config is an app configuration for tests: the IdP at idpURL with the
// client clientID/clientSecret, the app database at dbPath, an in-memory
// session store (closed when the test ends), a fixed seal key, dev mode
// and a discarding logger.
func Config(t testing.TB, idpURL, clientID, clientSecret, dbPath string) site.Config {
	t.Helper()
	ms := memstore.New(memstore.Config{})
	t.Cleanup(func() { ms.Close() })
	return site.Config{IdPURL: idpURL, ClientID: clientID, ClientSecret: clientSecret,
		DBPath: dbPath, Sessions: ms, SealKey: bytes.Repeat([]byte("k"), 32), DevMode: true,
		Logger: slog.New(slog.DiscardHandler)}
}

// App is what an example app's New returns.
type App interface {
	http.Handler
	Close() error
}

// SignedIn starts an IdP with an application called name and the user
// email/password, opens the app with newApp (its webhook receiver keyed
// with hookSecret; closed when the test ends) and signs the user in
// through the app's login form. It returns the app and the signed-in
// browser's cookies.
func SignedIn[A App](t testing.TB, name, email, password, hookSecret string,
	newApp func(context.Context, site.Config) (A, error)) (A, []*http.Cookie) {
	t.Helper()
	i := idptest.Start(t)
	id, secret := i.CreateApp(t, idptest.AppOptions{Name: name})
	i.CreateUser(t, email, password, id)
	cfg := Config(t, i.URL, id, secret, filepath.Join(t.TempDir(), "app.db"))
	cfg.WebhookSecret = hookSecret
	a, err := newApp(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, sitetest.Login(t, a, email, password)
}

// Open opens an app with newApp on the database at dbPath, configured by
// Config with an IdP address nothing listens on: for tests of the app's
// own data, which never sign in. The test closes the app.
func Open[A App](t testing.TB, newApp func(context.Context, site.Config) (A, error), dbPath string) A {
	t.Helper()
	a, err := newApp(context.Background(), Config(t, "http://127.0.0.1:1", "c", "s", dbPath))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
