package site

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// TestPasskeyPagesAndScript: with PublicOrigin the site serves the kit's
// passkey script under the CSP (a same-origin file, nosniff), the login
// page offers passkeys only through hidden controls and that script (no
// inline code), and the account page lists passkeys with POST forms for
// rename and remove. Without PublicOrigin nothing of it appears.
func TestPasskeyPagesAndScript(t *testing.T) {
	ms := memstore.New(memstore.Config{})
	t.Cleanup(func() { ms.Close() })
	s, err := New(context.Background(), Config{
		IdPURL: "http://127.0.0.1:1", ClientID: clientID, ClientSecret: "secret", PublicOrigin: "http://localhost:8081",
		DBPath: filepath.Join(t.TempDir(), "app.db"), Sessions: ms, SealKey: bytes.Repeat([]byte("k"), 32),
		DevMode: true, Logger: slog.New(slog.DiscardHandler),
	}, Spec{Name: "Test App", CookieName: "test", HomePath: "/home", Accent: "#123456", AccentSoft: "#abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	get := func(s *Site, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)
		r.RemoteAddr = "127.0.0.1:1234"
		s.ServeHTTP(w, r)
		return w
	}
	js := get(s, "/static/passkey.js")
	if js.Code != 200 || !strings.HasPrefix(js.Header().Get("Content-Type"), "text/javascript") ||
		!bytes.Equal(js.Body.Bytes(), appkit.PasskeyScript()) {
		t.Fatalf("script: %d %q", js.Code, js.Header().Get("Content-Type"))
	}
	if csp := js.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	login := get(s, "/login").Body.String()
	for _, want := range []string{`autocomplete="username webauthn"`, `id="passkey-login"`, `data-origin="http://localhost:8081"`,
		`data-options="/login/passkey/options"`, `<script src="/static/passkey.js" defer></script>`, "hidden>"} {
		if !strings.Contains(login, want) {
			t.Errorf("login page: no %q", want)
		}
	}
	if n := strings.Count(login, "<script"); n != 1 || strings.Contains(login, "onclick") {
		t.Errorf("login page: %d scripts", n)
	}

	user := &appkit.UserInfo{ID: "u1", Email: "ann@example.com"}
	var buf bytes.Buffer
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if err := s.pages["account"].Execute(&buf, &appkit.AccountPage{User: user, Email: user.Email, Passkeys: &appkit.PasskeySection{
		PasskeyForm:  appkit.PasskeyForm{Origin: "http://localhost:8081", Script: "/static/passkey.js", OptionsAction: "/account/passkeys/options", Action: "/account/passkeys"},
		List:         []idpclient.Passkey{{ID: "pk-1", Name: "Laptop", CreatedAt: now, LastUsedAt: now.Add(time.Hour)}},
		RenameAction: "/account/passkeys/rename", RemoveAction: "/account/passkeys/remove"}}); err != nil {
		t.Fatal(err)
	}
	acc := buf.String()
	for _, want := range []string{"Laptop", "2026-12-01 10:00 UTC", "2026-12-01 11:00 UTC", `action="/account/passkeys/rename"`,
		`action="/account/passkeys/remove"`, `name="id" value="pk-1"`, `id="passkey-register"`, "Add a passkey"} {
		if !strings.Contains(acc, want) {
			t.Errorf("account page: no %q", want)
		}
	}

	plain, _ := newSite(t)
	if body := get(plain, "/login").Body.String(); strings.Contains(body, "passkey") || strings.Contains(body, "<script") {
		t.Error("login page without PublicOrigin offers passkeys")
	}
	if w := get(plain, "/static/passkey.js"); w.Code != http.StatusNotFound {
		t.Errorf("script without PublicOrigin: %d", w.Code)
	}
}
