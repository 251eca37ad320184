package appkit_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/appkit"
	"github.com/gatehouse-auth/gatehouse/internal/softpasskey"
)

// The account world's application has the base URL https://store.example,
// so its relying party is store.example with that origin (compat §17).
const passkeyOrigin = "https://store.example"

func newPasskeyApp(t *testing.T, w *world, key, origin string) *app {
	return newApp(t, w, appOpt{apiKeyValue: key, kitMod: func(c *appkit.Config) { c.PublicOrigin = origin }})
}

// postJSON posts v as JSON with extra headers.
func (b *browser) postJSON(path string, v any, extra http.Header) *response {
	b.a.t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		b.a.t.Fatal(err)
	}
	return b.raw(path, "application/json", body, extra)
}

func (b *browser) raw(path, ctype string, body []byte, extra http.Header) *response {
	b.a.t.Helper()
	return b.send(http.MethodPost, path, ctype, bytes.NewReader(body), extra)
}

// addPasskey registers a passkey for the signed-in browser b through the
// account endpoints and returns the authenticator.
func addPasskey(t *testing.T, b *browser, name string) *softpasskey.Authenticator {
	t.Helper()
	r := b.postJSON("/account/passkeys/options", map[string]string{"name": name}, nil)
	if r.status != 200 || !strings.Contains(r.body, `"challenge"`) {
		t.Fatalf("registration options: %d %s", r.status, r.body)
	}
	k := softpasskey.New(passkeyOrigin)
	cred, err := k.Register([]byte(r.body))
	if err != nil {
		t.Fatal(err)
	}
	r = b.postJSON("/account/passkeys", map[string]json.RawMessage{"credential": cred}, nil)
	if r.status != 200 || !strings.Contains(r.body, `"redirect":"/account?done=passkey-added"`) {
		t.Fatalf("registration: %d %s", r.status, r.body)
	}
	return k
}

// passkeyLogin runs a discoverable passkey login in b with k.
func passkeyLogin(t *testing.T, b *browser, k *softpasskey.Authenticator, next string) *response {
	t.Helper()
	r := b.postJSON("/login/passkey/options", struct{}{}, nil)
	if r.status != 200 || !strings.Contains(r.body, `"challenge"`) || strings.Contains(r.body, "allowCredentials") {
		t.Fatalf("login options: %d %s", r.status, r.body)
	}
	as, err := k.Assert([]byte(r.body))
	if err != nil {
		t.Fatal(err)
	}
	return b.postJSON("/login/passkey", map[string]any{"credential": json.RawMessage(as), "next": next}, nil)
}

// cookieShape is a Set-Cookie without its value.
func cookieShape(c *http.Cookie) string {
	return strings.Join([]string{c.Name, c.Path, c.Domain, boolStr(c.Secure), boolStr(c.HttpOnly),
		strings.TrimSpace((&http.Cookie{Name: "x", SameSite: c.SameSite}).String()), boolStr(c.MaxAge > 0)}, "|")
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func shapes(m map[string]*http.Cookie) []string {
	var out []string
	for _, c := range m {
		out = append(out, cookieShape(c))
	}
	sort.Strings(out)
	return out
}

// TestAPPPK1_PasskeyLoginIsAPasswordLogin: a passkey registered on the
// account page signs a fresh browser in with exactly the cookies of a
// password login (session, sealed refresh, device), a session the app's
// pages accept, a refresh that works, the earlier session of the browser
// destroyed (APP-SID-2), and the safe next (an unsafe one goes home).
func TestAPPPK1_PasskeyLoginIsAPasswordLogin(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newPasskeyApp(t, w, key, passkeyOrigin)

	owner := a.browser()
	pw := owner.login("/account")
	if r := owner.get("/account"); r.status != 200 || !strings.Contains(r.body, "No passkeys yet") {
		t.Fatalf("account page: %d %s", r.status, r.body)
	}
	k := addPasskey(t, owner, "Laptop")
	if r := owner.get("/account"); !strings.Contains(r.body, "Laptop") || strings.Contains(r.body, "No passkeys yet") {
		t.Fatalf("account page does not list the passkey: %s", r.body)
	}

	b := a.browser()
	b.login("/") // an earlier session of this browser, which must die
	oldSid := b.sid()
	r := passkeyLogin(t, b, k, "/shopping-cart")
	if r.status != 200 || strings.TrimSpace(r.body) != `{"redirect":"/shopping-cart"}` {
		t.Fatalf("passkey login: %d %s", r.status, r.body)
	}
	if got, want := shapes(r.cookies), shapes(pw.cookies); strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("passkey login cookies\n %v\nwant (password login)\n %v", got, want)
	}
	if b.sid() == "" || b.sid() == oldSid || b.rt() == "" {
		t.Fatal("no new session and refresh cookie")
	}
	if r := b.get("/shopping-cart"); r.status != 200 || !strings.Contains(r.body, w.email) {
		t.Fatalf("cart after passkey login: %d %s", r.status, r.body)
	}
	old := a.browser()
	old.cookies[a.kit.SessionCookieName()] = oldSid
	if r := old.get("/shopping-cart"); r.status != http.StatusSeeOther {
		t.Fatalf("the browser's earlier session still works: %d", r.status)
	}
	// Silent refresh after a passkey login: the same machinery.
	for _, s := range a.sessions() {
		if s.UserID == w.userID {
			a.expire(s.Key)
		}
	}
	if r := b.get("/shopping-cart"); r.status != 200 {
		t.Fatalf("refresh after passkey login: %d", r.status)
	}

	// An unsafe next lands home.
	r = passkeyLogin(t, a.browser(), k, "//evil.example/")
	if r.status != 200 || strings.TrimSpace(r.body) != `{"redirect":"/shopping-cart"}` {
		t.Fatalf("unsafe next: %d %s", r.status, r.body)
	}
}

// TestAPPPK2_PasskeyEndpointsCrossOriginRefused: every passkey endpoint
// refuses a cross-origin POST (403, nothing called) and takes JSON only
// (a form, which a cross-site page can send without a preflight: 415).
func TestAPPPK2_PasskeyEndpointsCrossOriginRefused(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newPasskeyApp(t, w, key, passkeyOrigin)
	b := a.browser()
	b.login("/")
	k := addPasskey(t, b, "Laptop")
	cross := http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}
	for _, p := range []string{"/login/passkey/options", "/login/passkey", "/account/passkeys/options", "/account/passkeys"} {
		if r := b.postJSON(p, map[string]any{}, cross); r.status != http.StatusForbidden {
			t.Errorf("cross-origin POST %s: %d, want 403", p, r.status)
		}
		if r := b.raw(p, "application/x-www-form-urlencoded", []byte("credential=x"), nil); r.status != http.StatusUnsupportedMediaType {
			t.Errorf("form POST %s: %d, want 415", p, r.status)
		}
	}
	for _, p := range []string{"/account/passkeys/rename", "/account/passkeys/remove"} {
		if r := b.do(http.MethodPost, p, url.Values{"id": {"x"}, "name": {"y"}}, cross); r.status != http.StatusForbidden {
			t.Errorf("cross-origin POST %s: %d, want 403", p, r.status)
		}
	}
	// A cross-site login attempt with a real assertion signs nobody in.
	fresh := a.browser()
	opts := fresh.postJSON("/login/passkey/options", struct{}{}, nil)
	as, err := k.Assert([]byte(opts.body))
	if err != nil {
		t.Fatal(err)
	}
	r := fresh.postJSON("/login/passkey", map[string]any{"credential": json.RawMessage(as)}, cross)
	if r.status != http.StatusForbidden || fresh.sid() != "" {
		t.Fatalf("cross-origin passkey login: %d, cookies %v", r.status, fresh.cookies)
	}
}

// TestAPPPK3_WrongOriginRefused: an assertion the browser made at another
// origin (a phishing page's) is refused with the generic message and sets
// no cookie; so is every login of a kit whose PublicOrigin is not one of
// the application's origins. The IdP decides (WA-2); the kit names only
// its configured origin, never one from the request.
func TestAPPPK3_WrongOriginRefused(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newPasskeyApp(t, w, key, passkeyOrigin)
	b := a.browser()
	b.login("/")
	k := addPasskey(t, b, "Laptop")

	phished := a.browser()
	opts := phished.postJSON("/login/passkey/options", struct{}{}, nil)
	k.Origin = "https://store-example.evil"
	as, err := k.Assert([]byte(opts.body))
	if err != nil {
		t.Fatal(err)
	}
	r := phished.postJSON("/login/passkey", map[string]any{"credential": json.RawMessage(as)},
		http.Header{"Origin": {"https://store-example.evil"}, "Sec-Fetch-Site": {"same-origin"}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, appkit.MsgPasskeyFailed) || len(r.cookies) != 0 {
		t.Fatalf("assertion of another origin: %d %s %v", r.status, r.body, r.cookies)
	}
	k.Origin = passkeyOrigin

	wrong := newPasskeyApp(t, w, key, "https://other.example")
	r = passkeyLogin(t, wrong.browser(), k, "")
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, appkit.MsgPasskeyFailed) || len(r.cookies) != 0 {
		t.Fatalf("kit with a foreign PublicOrigin: %d %s", r.status, r.body)
	}
	// The right origin still works (the refusals above used nothing up).
	if r := passkeyLogin(t, a.browser(), k, ""); r.status != 200 {
		t.Fatalf("passkey login: %d %s", r.status, r.body)
	}
}

// TestAPPPK4_RenameRemoveAndRemovedPasskeyFailsCleanly: rename and remove
// are POST forms of the signed-in user's own passkeys (another user's id
// is 404 and changes nothing); a removed passkey's login answers 400 with
// the generic message and sets no cookie; bad names re-render the page.
func TestAPPPK4_RenameRemoveAndRemovedPasskeyFailsCleanly(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newPasskeyApp(t, w, key, passkeyOrigin)
	b := a.browser()
	b.login("/")
	k := addPasskey(t, b, "Laptop")
	pks, err := a.idp.ListPasskeys(t.Context(), w.userID)
	if err != nil || len(pks) != 1 {
		t.Fatalf("passkeys: %v %v", pks, err)
	}
	id := pks[0].ID

	if r := b.post("/account/passkeys/rename", url.Values{"id": {id}, "name": {"Work phone"}}); r.status != http.StatusSeeOther ||
		r.location() != "/account?done=passkey-renamed" {
		t.Fatalf("rename: %d %s", r.status, r.location())
	}
	if r := b.get("/account?done=passkey-renamed"); !strings.Contains(r.body, "Work phone") || !strings.Contains(r.body, "renamed") ||
		strings.Contains(r.body, "cannot be listed") {
		t.Fatalf("renamed passkey not shown: %s", r.body)
	}
	if r := b.post("/account/passkeys/rename", url.Values{"id": {id}, "name": {strings.Repeat("x", 101)}}); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, appkit.MsgPasskeyName) {
		t.Fatalf("long name: %d", r.status)
	}
	// 100 characters is the limit, counted in characters, not bytes.
	if r := b.post("/account/passkeys/rename", url.Values{"id": {id}, "name": {strings.Repeat("é", 100)}}); r.status != http.StatusSeeOther {
		t.Fatalf("name of 100 characters: %d", r.status)
	}

	// Another user cannot rename or remove it.
	otherEmail := "other@example.com"
	w.idp.CreateUser(t, otherEmail, testPassword, w.clientID)
	other := a.browser()
	if r := other.post("/login", url.Values{"email": {otherEmail}, "password": {testPassword}}); r.status != http.StatusSeeOther {
		t.Fatalf("other login: %d", r.status)
	}
	if r := other.post("/account/passkeys/remove", url.Values{"id": {id}}); r.status != http.StatusNotFound ||
		!strings.Contains(r.body, appkit.MsgPasskeyGone) {
		t.Fatalf("another user's remove: %d", r.status)
	}
	if r := other.post("/account/passkeys/rename", url.Values{"id": {id}, "name": {"mine"}}); r.status != http.StatusNotFound {
		t.Fatalf("another user's rename: %d", r.status)
	}
	if r := passkeyLogin(t, a.browser(), k, ""); r.status != 200 {
		t.Fatalf("passkey login after the other user's attempts: %d %s", r.status, r.body)
	}

	if r := b.post("/account/passkeys/remove", url.Values{"id": {id}}); r.status != http.StatusSeeOther ||
		r.location() != "/account?done=passkey-removed" {
		t.Fatalf("remove: %d %s", r.status, r.location())
	}
	if r := b.get("/account"); !strings.Contains(r.body, "No passkeys yet") {
		t.Fatal("removed passkey still listed")
	}
	fresh := a.browser()
	r := passkeyLogin(t, fresh, k, "")
	if r.status != http.StatusBadRequest || strings.TrimSpace(r.body) != `{"error":"`+appkit.MsgPasskeyFailed+`"}` || len(r.cookies) != 0 {
		t.Fatalf("removed passkey: %d %s %v", r.status, r.body, r.cookies)
	}
	if r := b.post("/account/passkeys/remove", url.Values{"id": {id}}); r.status != http.StatusNotFound {
		t.Fatalf("second remove: %d", r.status)
	}
}

// TestAPPPK5_BadInputIsAGenericJSONError: malformed, empty, oversized and
// non-object bodies answer 400 {"error": generic} without reaching the
// IdP; GET is 405; without PublicOrigin nothing is mounted.
func TestAPPPK5_BadInputIsAGenericJSONError(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newPasskeyApp(t, w, key, passkeyOrigin)
	b := a.browser()
	for _, body := range []string{"", "{", `{"credential":"x"}`, `{"credential":[1]}`,
		`{"credential":{"pad":"` + strings.Repeat("a", 70<<10) + `"}}`} {
		r := b.raw("/login/passkey", "application/json", []byte(body), nil)
		if r.status != http.StatusBadRequest || strings.TrimSpace(r.body) != `{"error":"`+appkit.MsgPasskeyFailed+`"}` ||
			r.header.Get("Content-Type") != "application/json" || len(r.cookies) != 0 {
			t.Errorf("body %.40q: %d %s", body, r.status, r.body)
		}
	}
	// Refused before the IdP: it was never asked (the kit logs each IdP refusal).
	if strings.Contains(a.logs.String(), "passkey login refused") {
		t.Error("bad input reached the IdP")
	}
	// An object the IdP refuses: the same generic answer, not the IdP's reason.
	if r := b.raw("/login/passkey", "application/json", []byte(`{"credential":{"id":"x","type":"public-key"}}`), nil); r.status != http.StatusBadRequest ||
		strings.TrimSpace(r.body) != `{"error":"`+appkit.MsgPasskeyFailed+`"}` {
		t.Errorf("credential the IdP refuses: %d %s", r.status, r.body)
	}
	if r := b.get("/login/passkey"); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", r.status)
	}
	if r := b.get("/static/passkey.js"); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(r.body, "parseRequestOptionsFromJSON") {
		t.Errorf("script: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := b.get("/login"); !strings.Contains(r.body, `id="passkey-login"`) || !strings.Contains(r.body, "username webauthn") {
		t.Errorf("login page offers no passkey: %s", r.body)
	}

	plain := newAccountApp(t, w, key)
	if r := plain.browser().raw("/login/passkey", "application/json", []byte(`{}`), nil); r.status != http.StatusNotFound {
		t.Errorf("passkeys without PublicOrigin: %d", r.status)
	}
	if r := plain.browser().get("/login"); strings.Contains(r.body, "passkey") {
		t.Errorf("login page without PublicOrigin mentions passkeys")
	}
}

// TestPublicOriginValidated: PublicOrigin must be an origin, https unless
// DevMode.
func TestPublicOriginValidated(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newPasskeyApp(t, w, key, "https://Store.Example/")
	for _, o := range []string{"http://store.example", "https://store.example/path", "store.example", "https://u@store.example", "https://store.example?q"} {
		cfg := appkit.Config{IdP: a.idp, Store: a.store, SealKey: bytes.Repeat([]byte("k"), 32), PublicOrigin: o}
		if _, err := appkit.New(cfg); err == nil {
			t.Errorf("PublicOrigin %q accepted", o)
		}
	}
	cfg := appkit.Config{IdP: a.idp, Store: a.store, SealKey: bytes.Repeat([]byte("k"), 32),
		PublicOrigin: "http://localhost:8081", DevMode: true}
	if _, err := appkit.New(cfg); err != nil {
		t.Errorf("http origin in DevMode: %v", err)
	}
}

// TestPasskeyLimitSaysSo: past the IdP's limit (20 passkeys a user) the
// registration says why instead of the generic failure.
func TestPasskeyLimitSaysSo(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newPasskeyApp(t, w, key, passkeyOrigin)
	b := a.browser()
	b.login("/")
	for i := 0; i < 20; i++ {
		addPasskey(t, b, "")
	}
	r := b.postJSON("/account/passkeys/options", map[string]string{"name": "one more"}, nil)
	if r.status == http.StatusOK {
		k := softpasskey.New(passkeyOrigin)
		cred, err := k.Register([]byte(r.body))
		if err != nil {
			t.Fatal(err)
		}
		r = b.postJSON("/account/passkeys", map[string]json.RawMessage{"credential": cred}, nil)
	}
	if r.status != http.StatusConflict || !strings.Contains(r.body, appkit.MsgPasskeyTooMany) {
		t.Fatalf("21st passkey: %d %s", r.status, r.body)
	}
}

// TestWA9_PasskeyStartThrottledGives429: the kit forwards the browser's
// address with the ceremony starts, so the IdP's per-IP ceremony bucket
// (WA-9) counts browsers: a browser asking for options in a loop gets the
// IdP's 429 as the kit's generic JSON error (no 500, no cookie), for the
// login and the registration options, while its login page and password
// login keep working and another browser still gets options.
func TestWA9_PasskeyStartThrottledGives429(t *testing.T) {
	w, _, key := newAccountWorld(t)
	a := newApp(t, w, appOpt{apiKeyValue: key, kitMod: func(c *appkit.Config) {
		c.PublicOrigin = passkeyOrigin
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	}})
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	throttled := func(what string, r *response) {
		t.Helper()
		if r.status != http.StatusTooManyRequests || strings.TrimSpace(r.body) != `{"error":"`+appkit.MsgThrottled+`"}` ||
			r.header.Get("Content-Type") != "application/json" || len(r.cookies) != 0 {
			t.Fatalf("%s: %d %s, want 429 with the generic JSON error", what, r.status, r.body)
		}
	}
	const ip = "198.51.100.7"
	b := a.browser()
	var last *response
	for range 100 {
		if last = b.postJSON("/login/passkey/options", struct{}{}, from(ip)); last.status != http.StatusOK {
			break
		}
	}
	throttled("login options in a loop", last)
	if r := b.do(http.MethodGet, "/login", nil, from(ip)); r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) {
		t.Fatalf("login page of the throttled browser: %d", r.status)
	}
	if r := b.do(http.MethodPost, "/login", url.Values{"email": {w.email}, "password": {testPassword}}, from(ip)); r.status != http.StatusSeeOther {
		t.Fatalf("password login of the throttled browser: %d %s", r.status, r.body)
	}
	throttled("registration options from the throttled browser", b.postJSON("/account/passkeys/options", map[string]string{"name": "Laptop"}, from(ip)))
	if r := a.browser().postJSON("/login/passkey/options", struct{}{}, from("203.0.113.9")); r.status != http.StatusOK || !strings.Contains(r.body, `"challenge"`) {
		t.Fatalf("another browser: %d %s", r.status, r.body)
	}
}
