package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/softpasskey"
)

// TestPasskeysAtLocalhost: the demo's applications have the relying party
// "localhost" with the apps' localhost origins (an IP address cannot be
// one), the apps answer at http://localhost:PORT, a passkey registered
// there signs in there (and, the relying party being shared, at the
// other app), and a restart keeps the settings.
func TestPasskeysAtLocalhost(t *testing.T) {
	dir := t.TempDir()
	d := startTest(t, dir)
	stop(t, d)
	d = startTest(t, dir) // the update path of ensure
	defer stop(t, d)
	ctx := context.Background()
	origin := PasskeyOrigin(d.Info.Store)
	if !strings.HasPrefix(origin, "http://localhost:") || strings.TrimPrefix(origin, "http://localhost:") != strings.Split(d.Info.Store, ":")[2] {
		t.Fatalf("origin %q for %q", origin, d.Info.Store)
	}
	app, err := d.IdPStore.GetApplication(ctx, d.Info.Applications.Store.ID)
	if err != nil || app.Config.WebAuthnRelyingPartyID != "localhost" || len(app.Config.WebAuthnOrigins) != 1 || app.Config.WebAuthnOrigins[0] != origin {
		t.Fatalf("store application's relying party: %+v %v", app, err)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u := d.Info.Users[0]
	resp, err := c.PostForm(origin+"/login", url.Values{"email": {u.Email}, "password": {u.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 303 {
		t.Fatalf("password login at localhost: %d", resp.StatusCode)
	}
	post := func(path string, v any) (int, []byte) {
		body, _ := json.Marshal(v)
		req, _ := http.NewRequest("POST", origin+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	st, opts := post("/account/passkeys/options", map[string]string{"name": "Laptop"})
	if st != 200 {
		t.Fatalf("registration options: %d %s", st, opts)
	}
	k := softpasskey.New(origin)
	cred, err := k.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	if st, b := post("/account/passkeys", map[string]json.RawMessage{"credential": cred}); st != 200 {
		t.Fatalf("registration: %d %s", st, b)
	}
	jar2, _ := cookiejar.New(nil)
	c.Jar = jar2
	st, opts = post("/login/passkey/options", struct{}{})
	if st != 200 {
		t.Fatalf("login options: %d %s", st, opts)
	}
	as, err := k.Assert(opts)
	if err != nil {
		t.Fatal(err)
	}
	if st, b := post("/login/passkey", map[string]json.RawMessage{"credential": as}); st != 200 || !strings.Contains(string(b), `"redirect"`) {
		t.Fatalf("passkey login: %d %s", st, b)
	}
	lu, _ := url.Parse(origin)
	if len(jar2.Cookies(lu)) == 0 {
		t.Fatal("no cookies after the passkey login")
	}

	// Both demo apps share the relying-party id "localhost" (the only
	// host name the IdP takes over plain http), so the browser offers
	// the Store's passkey at the Forums too, and it signs the same user
	// in there (README: Passkeys). With real host names each app is its
	// own relying party.
	origin = PasskeyOrigin(d.Info.Forums)
	k.Origin = origin
	st, opts = post("/login/passkey/options", struct{}{})
	if st != 200 {
		t.Fatalf("forums login options: %d %s", st, opts)
	}
	if as, err = k.Assert(opts); err != nil {
		t.Fatal(err)
	}
	if st, b := post("/login/passkey", map[string]json.RawMessage{"credential": as}); st != 200 {
		t.Fatalf("the Store's passkey at the Forums: %d %s", st, b)
	}
}
