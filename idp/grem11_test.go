package idp_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/mail"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/internal/softpasskey"
)

// Tests that kill mutants gremlins found alive in the issue 11 and 12 code
// (docs/security.md §5).

// ACC-8: a new password's context words name every application the user
// is registered to, not only the one the request names, and a reset id
// issued without an application works.
func TestACC8_ContextNamesEveryApplicationOfTheUser(t *testing.T) {
	a := newAccFixture(t)
	forums, _, err := a.idp.Server.Admin().CreateApplication(t.Context(), idp.ApplicationSpec{Name: "Marigold Forums",
		Config: store.ApplicationConfig{BaseURL: "https://forums.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.idp.Server.Admin().Register(t.Context(), a.userID, forums.ID, nil); err != nil {
		t.Fatal(err)
	}
	id := a.resetID(a.email) // for the shop
	wantFieldCode(t, "reset with another app's name", a.reset(id, "marigold forums forever and ever"), "password", "[contextSpecific]password")
	wantFieldCode(t, "change with another app's name", a.changePassword(a.email, testPassword, "marigold forums forever and ever"),
		"password", "[contextSpecific]password")

	r := a.call("POST", "/api/user/forgot-password", `{"loginId":`+jsonStr(a.email)+`,"sendForgotPasswordEmail":false}`)
	wantStatus(t, "forgot-password without an application", r, http.StatusOK)
	id, _ = r.json(t)["changePasswordId"].(string)
	wantFieldCode(t, "reset without an application, registered app's name", a.reset(id, "the pinewood shop forever"), "password", "[contextSpecific]password")
	wantStatus(t, "reset without an application", a.reset(id, newPW), http.StatusOK)
}

// ACC-5: the password-changed notice of a reset names the application the
// reset id was issued for (the user knows where the change came from).
func TestACC5_ResetNoticeNamesTheApplication(t *testing.T) {
	a := newAccFixture(t)
	id := a.resetID(a.email)
	wantStatus(t, "reset", a.reset(id, newPW), http.StatusOK)
	if m := a.oneMail(mail.TemplatePasswordChanged, a.email); m.Data.AppName != "Pinewood Shop" {
		t.Fatalf("password-changed notice names %q, want Pinewood Shop", m.Data.AppName)
	}
}

// ACC-12: a loginId of 320 characters (the bound) is looked up (an unknown
// one is 404); one more is refused as too long.
func TestACC12_LoginIDLengthBound(t *testing.T) {
	a := newAccFixture(t)
	at := "@example.com"
	long := strings.Repeat("a", 320-len(at)) + at
	wantStatus(t, "320 characters", a.forgot(long, false), http.StatusNotFound)
	wantFieldCode(t, "321 characters", a.forgot("a"+long, false), "loginId", "[tooLong]loginId")
}

// WA-8 (the application names its passkeys): a registration's name and
// displayName are at most 100 characters, and the displayName is what the
// authenticator shows for the user.
func TestWA8_RegistrationNamesBounded(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{WebAuthnRelyingPartyID: "shop.example", WebAuthnOrigins: []string{"https://shop.example"}})
	start := func(name, display string) *response {
		return f.api(http.MethodPost, "/api/webauthn/register/start",
			fmt.Sprintf(`{"userId":%q,"applicationId":%q,"name":%q,"displayName":%q}`, f.userID, f.clientID, name, display))
	}
	hundred := strings.Repeat("é", 100)
	r := start(hundred, "Alice at work")
	wantStatus(t, "100 characters", r, http.StatusOK)
	var opts struct {
		Options struct {
			User struct {
				DisplayName string `json:"displayName"`
			} `json:"user"`
		} `json:"options"`
	}
	if err := json.Unmarshal(r.body, &opts); err != nil || opts.Options.User.DisplayName != "Alice at work" {
		t.Fatalf("options %s: want the user's displayName Alice at work", r.body)
	}
	wantStatus(t, "displayName of 100 characters", start("Laptop", hundred), http.StatusOK)
	wantFieldCode(t, "name of 101 characters", start(hundred+"x", ""), "name", "[tooLong]name")
	wantFieldCode(t, "displayName of 101 characters", start("Laptop", hundred+"x"), "displayName", "[tooLong]displayName")
}

// WA-8 (the passkeys are the application's to manage, within bounds): a
// user has at most 20 passkeys; past that a registration neither starts
// nor completes (also one started before the twentieth was added).
func TestWA8_PasskeyLimit(t *testing.T) {
	w := newWAFixture(t) // one passkey
	for range 18 {
		w.mustRegister(softpasskey.New(waOrigin), w.userID)
	}
	k19, k20 := softpasskey.New(waOrigin), softpasskey.New(waOrigin)
	c19, err := k19.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	c20, err := k20.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "the 20th passkey", w.registerComplete(w.userID, c19, waOrigin), http.StatusOK)
	r := w.registerComplete(w.userID, c20, waOrigin)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[TooManyPasskeys]") {
		t.Fatalf("21st passkey completed: %d %s", r.status, r.body)
	}
	r = w.api(http.MethodPost, "/api/webauthn/register/start", fmt.Sprintf(`{"userId":%q,"applicationId":%q}`, w.userID, w.clientID))
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[TooManyPasskeys]") {
		t.Fatalf("21st passkey started: %d %s", r.status, r.body)
	}
}

// WA-1: a registration ceremony completes only at the application that
// began it: naming another application answers 404 and takes the
// challenge; naming its own (or none) registers.
func TestWA1_RegistrationCeremonyIsItsApplications(t *testing.T) {
	w := newWAFixture(t)
	otherID, _ := w.idp.CreateApp(t, idptest.AppOptions{WebAuthnRelyingPartyID: waRPID, WebAuthnOrigins: []string{waOrigin}})
	complete := func(cred []byte, appID string) *response {
		return w.api(http.MethodPost, "/api/webauthn/register/complete",
			fmt.Sprintf(`{"userId":%q,"credential":%s,"origin":%q,"rpId":%q,"applicationId":%q}`, w.userID, cred, waOrigin, waRPID, appID))
	}
	k := softpasskey.New(waOrigin)
	cred, err := k.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "another application's ceremony", complete(cred, otherID), http.StatusNotFound)
	wantStatus(t, "the same challenge again", complete(cred, w.clientID), http.StatusNotFound)
	cred, err = k.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "its own application", complete(cred, w.clientID), http.StatusOK)
}

// WA-4 (one record per credential): registering a passkey the user already
// has, also the first one, is refused as a duplicate.
func TestWA4_SamePasskeyRegisteredOnce(t *testing.T) {
	w := newWAFixture(t) // w.key is the user's first passkey
	second := softpasskey.New(waOrigin)
	w.mustRegister(second, w.userID)
	for name, k := range map[string]*softpasskey.Authenticator{"first": w.key, "second": second} {
		cred, err := k.Register(w.registerStart(w.userID))
		if err != nil {
			t.Fatal(err)
		}
		wantFieldCode(t, "the "+name+" passkey again", w.registerComplete(w.userID, cred, waOrigin), "credential", "[duplicate]credential")
	}
}

// WA-4 (no enumeration at the start): a loginId whose user has no passkey
// starts a discoverable login, as an unknown loginId does: no
// allowCredentials, and the user's name is nowhere in the answer.
func TestWA4_StartWithoutPasskeysIsDiscoverable(t *testing.T) {
	w := newWAFixture(t)
	bob := w.idp.CreateUser(t, "bob@example.com", testPassword, w.clientID)
	for _, login := range []string{"bob@example.com", "nobody@example.com"} {
		body := w.start(login)
		if strings.Contains(string(body), "allowCredentials") || strings.Contains(string(body), bob) || strings.Contains(string(body), "bob") {
			t.Errorf("start for %s: %s", login, body)
		}
	}
	if body := w.start(w.email); !strings.Contains(string(body), "allowCredentials") {
		t.Errorf("start for the user with a passkey lists none: %s", body)
	}
}

// WA-1: a login ceremony completes only at the application that began it:
// naming another application answers 404 and uses the challenge up.
func TestWA1_LoginCeremonyIsItsApplications(t *testing.T) {
	w := newWAFixture(t)
	otherID, _ := w.idp.CreateApp(t, idptest.AppOptions{WebAuthnRelyingPartyID: waRPID, WebAuthnOrigins: []string{waOrigin}})
	login := func(cred []byte, appID string) *response {
		return w.do(jsonReq(t, http.MethodPost, w.idp.URL+"/api/webauthn/login",
			fmt.Sprintf(`{"credential":%s,"origin":%q,"rpId":%q,"applicationId":%q}`, cred, waOrigin, waRPID, appID)))
	}
	cred := w.assert(w.key, w.email)
	wantStatus(t, "another application's ceremony", login(cred, otherID), http.StatusNotFound)
	wantStatus(t, "the same challenge again", login(cred, w.clientID), http.StatusNotFound)
	wantStatus(t, "its own application", login(w.assert(w.key, w.email), w.clientID), http.StatusOK)
}

// WA-6: a passkey login's tokenExpirationInstant is its access token's
// expiry, as for the second step of a password login.
func TestWA6_TokenExpirationInstantIsTheTokens(t *testing.T) {
	w := newWAFixture(t)
	r := w.loginWith(w.assert(w.key, ""), waOrigin)
	wantStatus(t, "passkey login", r, http.StatusOK)
	var lr struct {
		Token                  string `json:"token"`
		TokenExpirationInstant int64  `json:"tokenExpirationInstant"`
	}
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	exp, _ := claims(t, lr.Token)["exp"].(float64)
	if d := lr.TokenExpirationInstant - int64(exp)*1000; d < -1000 || d > 1000 || exp == 0 {
		t.Fatalf("tokenExpirationInstant %d, token exp %v", lr.TokenExpirationInstant, exp)
	}
}

// MFA-6: the second step's tokenExpirationInstant is its access token's
// expiry.
func TestMFA6_TokenExpirationInstantIsTheTokens(t *testing.T) {
	f := newMFAFixture(t)
	_, tf := f.mustTwoFactorRequired()
	r := f.twoFactorLogin(tf.id, f.code(), false)
	wantStatus(t, "second step", r, http.StatusOK)
	var lr struct {
		Token                  string `json:"token"`
		TokenExpirationInstant int64  `json:"tokenExpirationInstant"`
	}
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatal(err)
	}
	exp, _ := claims(t, lr.Token)["exp"].(float64)
	if d := lr.TokenExpirationInstant - int64(exp)*1000; d < -1000 || d > 1000 || exp == 0 {
		t.Fatalf("tokenExpirationInstant %d, token exp %v", lr.TokenExpirationInstant, exp)
	}
}

// MFA-2: a six-character code that is not six digits is a wrong code (421,
// counted), never a step of the authenticator, at the second step and
// when disabling.
func TestMFA2_MalformedCodesAreWrongCodes(t *testing.T) {
	f := newMFAFixture(t)
	_, tf := f.mustTwoFactorRequired()
	for _, code := range []string{"abcdef", "12345x", "1234.6", "+12345"} {
		if r := f.twoFactorLogin(tf.id, code, false); r.status != 421 {
			t.Fatalf("code %q: %d %s, want 421", code, r.status, r.body)
		}
	}
	if r := f.api(http.MethodDelete, "/api/user/two-factor/"+f.userID+"?code=abcdef", ""); r.status != 421 {
		t.Fatalf("disable with code abcdef: %d %s, want 421", r.status, r.body)
	}
	if r := f.twoFactorLogin(tf.id, "zzzzzz", false); r.status != 421 {
		t.Fatalf("fifth malformed code: %d %s, want 421", r.status, r.body)
	}
	if r := f.twoFactorLogin(tf.id, f.code(), false); r.status != http.StatusNotFound {
		t.Fatalf("after five wrong codes the twoFactorId answered %d, want 404 (MFA-2)", r.status)
	}
}

// WA-8: a passkey id that names no passkey reads, renames and removes
// nothing (404), whoever has passkeys; by userId or without.
func TestWA8_UnknownPasskeyIDTouchesNothing(t *testing.T) {
	w := newWAFixture(t)
	w.mustRegister(softpasskey.New(waOrigin), w.userID) // two passkeys
	const unknown = "00000000-0000-4000-8000-000000000001"
	list := func() string {
		r := w.api(http.MethodGet, "/api/webauthn?userId="+w.userID, "")
		wantStatus(t, "list", r, http.StatusOK)
		return string(r.body)
	}
	before := list()
	for _, q := range []string{"", "?userId=" + w.userID} {
		wantStatus(t, "get "+q, w.api(http.MethodGet, "/api/webauthn/"+unknown+q, ""), http.StatusNotFound)
		wantStatus(t, "rename "+q, w.api(http.MethodPatch, "/api/webauthn/"+unknown+q, `{"name":"Renamed"}`), http.StatusNotFound)
		wantStatus(t, "delete "+q, w.api(http.MethodDelete, "/api/webauthn/"+unknown+q, ""), http.StatusNotFound)
	}
	// A rename names its user in the query or the body; another user's
	// id finds none of their passkeys. Names are 1 to 100 characters.
	bob := w.idp.CreateUser(t, "bob@example.com", testPassword, w.clientID)
	wantStatus(t, "rename naming another user in the body", w.api(http.MethodPatch, "/api/webauthn/"+w.passkeyID,
		fmt.Sprintf(`{"name":"Renamed","userId":%q}`, bob)), http.StatusNotFound)
	wantFieldCode(t, "blank name", w.api(http.MethodPatch, "/api/webauthn/"+w.passkeyID, `{"name":""}`), "name", "[blank]name")
	wantFieldCode(t, "101 characters", w.api(http.MethodPatch, "/api/webauthn/"+w.passkeyID,
		`{"name":"`+strings.Repeat("x", 101)+`"}`), "name", "[tooLong]name")
	if after := list(); after != before {
		t.Fatalf("passkeys changed:\n%s\n%s", before, after)
	}
	wantStatus(t, "100 characters", w.api(http.MethodPatch, "/api/webauthn/"+w.passkeyID,
		fmt.Sprintf(`{"name":%q,"userId":%q}`, strings.Repeat("x", 100), w.userID)), http.StatusOK)
	// The start names the user's passkeys by userId as by loginId.
	r := w.api(http.MethodPost, "/api/webauthn/start", fmt.Sprintf(`{"userId":%q,"applicationId":%q}`, w.userID, w.clientID))
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "allowCredentials") {
		t.Fatalf("start by userId: %d %s", r.status, r.body)
	}
}
