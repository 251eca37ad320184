package appkit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/sqlitestore"
)

// The benchmarks measure a page behind RequireLogin with a live session
// against the same page on plain net/http (issue 3's performance goal).
// Run: go test ./appkit -run '^$' -bench . -benchtime 2s

var page = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, "<html><body>cart</body></html>")
})

// benchSession stores a live session and returns its cookie header.
func benchSession(b *testing.B, k *Kit) string {
	id, key, err := newSessionID()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	err = k.store.Put(context.Background(), &sessionstore.Session{
		Key: key, UserID: "user-1", Claims: []byte(`{"sub":"user-1","email":"a@example.com"}`),
		AccessToken: "x", AuthTime: now, CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(30 * time.Minute), AbsoluteExpiry: now.Add(12 * time.Hour),
	})
	if err != nil {
		b.Fatal(err)
	}
	return k.sidName + "=" + id
}

func benchStores(b *testing.B) map[string]func() sessionstore.Store {
	return map[string]func() sessionstore.Store{
		"memory": func() sessionstore.Store { return memstore.New(memstore.Config{}) },
		"sqlite": func() sessionstore.Store {
			st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(b.TempDir(), "s.db")})
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
}

// serveLoop measures h serving a signed-in GET /shopping-cart from
// loopback with cookie; every answer must be 200.
func serveLoop(b *testing.B, h http.Handler, cookie string) {
	b.Helper()
	r := httptest.NewRequest("GET", "/shopping-cart", nil)
	r.Header.Set("Cookie", cookie)
	r.RemoteAddr = "127.0.0.1:40000"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkMiddleware: in-process ServeHTTP, no network: the kit's own
// cost per request.
func BenchmarkMiddleware(b *testing.B) {
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		r := httptest.NewRequest("GET", "/shopping-cart", nil)
		for b.Loop() {
			page.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
	for name, open := range benchStores(b) {
		b.Run("requirelogin-"+name, func(b *testing.B) {
			st := open()
			defer st.Close()
			k := benchKit(b, st)
			h := k.RequireLogin(page)
			serveLoop(b, h, benchSession(b, k))
		})
	}
}

// BenchmarkHTTP: real HTTP/1.1 over loopback with keep-alive, parallel
// clients, as BENCHMARKS.md compares.
func BenchmarkHTTP(b *testing.B) {
	run := func(b *testing.B, h http.Handler, cookie string) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 64}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req, _ := http.NewRequest("GET", srv.URL+"/shopping-cart", nil)
			if cookie != "" {
				req.Header.Set("Cookie", cookie)
			}
			for pb.Next() {
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	b.Run("plain", func(b *testing.B) { run(b, page, "") })
	for name, open := range benchStores(b) {
		b.Run("requirelogin-"+name, func(b *testing.B) {
			st := open()
			defer st.Close()
			k := benchKit(b, st)
			run(b, k.RequireLogin(page), benchSession(b, k))
		})
	}
}

func benchKit(b *testing.B, st sessionstore.Store) *Kit {
	k, err := New(Config{IdP: benchIdP(b), Store: st, SealKey: make([]byte, 32), DevMode: true,
		Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	return k
}
