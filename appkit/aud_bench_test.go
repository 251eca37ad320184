package appkit_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/fakeclock"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// BenchmarkAUD9Revalidation measures what the once-per-access-token
// re-validation (AUD-9) costs: a page behind RequireLogin served from a
// live session ("live", the common case) against the same page when the
// access token has just expired, so the request also refreshes at a real
// in-process IdP (loopback HTTP, SQLite) and gets a new session
// ("revalidate"). Both run in one process and one run; ns/op includes the
// IdP's own work. BENCHMARKS.md turns them into a cost per request.
// Run: go test ./appkit -run '^$' -bench AUD9 -benchtime 3s -count 3
func BenchmarkAUD9Revalidation(b *testing.B) {
	const accessTTL = 15 * time.Minute // the IdP's default --access-ttl
	i := idptest.Start(b)
	clientID, secret := i.CreateApp(b, idptest.AppOptions{Name: "store", AccessTTL: accessTTL})
	i.CreateUser(b, "bench@example.com", testPassword, clientID)
	ic, err := idpclient.New(idpclient.Config{BaseURL: i.URL, ClientID: clientID, ClientSecret: secret})
	if err != nil {
		b.Fatal(err)
	}
	clk := fakeclock.New(time.Now())
	st := memstore.New(memstore.Config{Now: clk.Now})
	b.Cleanup(func() { _ = st.Close() })
	kit, err := appkit.New(appkit.Config{IdP: ic, Store: st, SealKey: bytes.Repeat([]byte("k"), 32),
		DevMode: true, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
		// The clock jumps an access-token lifetime per request.
		ReauthAfter: 100 * 365 * 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	page := kit.RequireLogin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "cart of "+appkit.User(r.Context()).Email)
	}))

	cookies := map[string]string{}
	do := func(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
		req.RemoteAddr = "127.0.0.1:40000"
		for n, v := range cookies {
			req.AddCookie(&http.Cookie{Name: n, Value: v})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		for _, c := range w.Result().Cookies() {
			cookies[c.Name] = c.Value
		}
		return w
	}
	form := url.Values{"email": {"bench@example.com"}, "password": {testPassword}}
	lreq := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	lreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if w := do(kit.LoginHandler(), lreq); w.Code != http.StatusSeeOther {
		b.Fatalf("login: %d %s", w.Code, w.Body)
	}
	get := func(b *testing.B, wantCookie bool) {
		w := do(page, httptest.NewRequest(http.MethodGet, "/shopping-cart", nil))
		if w.Code != 200 || (len(w.Result().Cookies()) > 0) != wantCookie {
			b.Fatalf("status %d, cookies %v (want new cookies: %v)", w.Code, w.Result().Cookies(), wantCookie)
		}
	}
	b.Run("live", func(b *testing.B) {
		get(b, false)
		b.ReportAllocs()
		for b.Loop() {
			get(b, false)
		}
	})
	b.Run("revalidate", func(b *testing.B) {
		calls := i.RefreshCalls()
		b.ReportAllocs()
		for b.Loop() {
			clk.Advance(accessTTL + time.Second)
			get(b, true)
		}
		if n := i.RefreshCalls() - calls; n < int64(b.N) {
			b.Fatalf("%d refreshes for %d requests", n, b.N)
		}
	})
}
