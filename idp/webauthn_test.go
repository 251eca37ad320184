package idp_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/internal/softpasskey"
)

// Passkeys (issue 12): WA-1 … WA-8 in docs/security.md. A software
// authenticator (internal/softpasskey) plays the browser.

const (
	waOrigin = "https://shop.example"
	waRPID   = "shop.example"
)

type waFixture struct {
	*fixture
	key       *softpasskey.Authenticator
	passkeyID string
}

// newWAFixture: an application whose relying party is shop.example, and
// its user with one registered passkey.
func newWAFixture(t *testing.T) *waFixture {
	t.Helper()
	f := newFixture(t, idptest.AppOptions{WebAuthnRelyingPartyID: waRPID, WebAuthnOrigins: []string{waOrigin}})
	w := &waFixture{fixture: f, key: softpasskey.New(waOrigin)}
	w.passkeyID = w.mustRegister(w.key, f.userID)
	return w
}

func (w *waFixture) registerStart(userID string) []byte {
	w.t.Helper()
	r := w.api(http.MethodPost, "/api/webauthn/register/start",
		fmt.Sprintf(`{"userId":%q,"applicationId":%q,"name":"Laptop","workflow":"bootstrap"}`, userID, w.clientID))
	if r.status != http.StatusOK {
		w.t.Fatalf("register start: %d %s", r.status, r.body)
	}
	return r.body
}

func (w *waFixture) registerComplete(userID string, cred []byte, origin string) *response {
	w.t.Helper()
	return w.api(http.MethodPost, "/api/webauthn/register/complete",
		fmt.Sprintf(`{"userId":%q,"credential":%s,"origin":%q,"rpId":%q}`, userID, cred, origin, waRPID))
}

// mustRegister registers k for userID and returns the passkey's id.
func (w *waFixture) mustRegister(k *softpasskey.Authenticator, userID string) string {
	w.t.Helper()
	cred, err := k.Register(w.registerStart(userID))
	if err != nil {
		w.t.Fatal(err)
	}
	r := w.registerComplete(userID, cred, waOrigin)
	if r.status != http.StatusOK {
		w.t.Fatalf("register complete: %d %s", r.status, r.body)
	}
	var body struct {
		Credential struct {
			ID, CredentialID, Name, UserID, RelyingPartyID, AttestationType string
			Algorithm                                                       int
		}
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		w.t.Fatal(err)
	}
	c := body.Credential
	if c.ID == "" || c.CredentialID != base64.RawURLEncoding.EncodeToString(k.CredentialID) || c.Name != "Laptop" ||
		c.UserID != userID || c.RelyingPartyID != waRPID || c.AttestationType != "none" || c.Algorithm != -7 {
		w.t.Fatalf("register complete answered %s", r.body)
	}
	return c.ID
}

// start begins a login (loginID "" = discoverable) and returns the body.
func (w *waFixture) start(loginID string) []byte {
	w.t.Helper()
	r := w.api(http.MethodPost, "/api/webauthn/start", fmt.Sprintf(`{"loginId":%q,"applicationId":%q}`, loginID, w.clientID))
	if r.status != http.StatusOK {
		w.t.Fatalf("webauthn start: %d %s", r.status, r.body)
	}
	return r.body
}

// loginWith posts an assertion to /api/webauthn/login, without an API key
// (FusionAuth's clients call it anonymously).
func (w *waFixture) loginWith(cred []byte, origin string) *response {
	w.t.Helper()
	req := jsonReq(w.t, http.MethodPost, w.idp.URL+"/api/webauthn/login",
		fmt.Sprintf(`{"credential":%s,"origin":%q,"rpId":%q,"applicationId":%q}`, cred, origin, waRPID, w.clientID))
	return w.do(req)
}

// assert signs a fresh login's challenge with k.
func (w *waFixture) assert(k *softpasskey.Authenticator, loginID string) []byte {
	w.t.Helper()
	cred, err := k.Assert(w.start(loginID))
	if err != nil {
		w.t.Fatal(err)
	}
	return cred
}

func (w *waFixture) mustLogin(k *softpasskey.Authenticator, loginID string) loginResponse {
	w.t.Helper()
	r := w.loginWith(w.assert(k, loginID), waOrigin)
	if r.status != http.StatusOK {
		w.t.Fatalf("passkey login: %d %s", r.status, r.body)
	}
	var lr loginResponse
	if err := json.Unmarshal(r.body, &lr); err != nil {
		w.t.Fatal(err)
	}
	return lr
}

// wantCredentialRefused requires the 400 of an assertion or attestation
// that did not verify.
func wantCredentialRefused(t *testing.T, what string, r *response, field string) {
	t.Helper()
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), `"code":"[invalid]`+field+`"`) {
		t.Fatalf("%s: %d %s, want 400 [invalid]%s", what, r.status, r.body, field)
	}
}

// passkeys lists the user's passkeys.
func (w *waFixture) passkeys(userID string) []map[string]any {
	w.t.Helper()
	r := w.api(http.MethodGet, "/api/webauthn?userId="+userID, "")
	if r.status != http.StatusOK {
		w.t.Fatalf("list: %d %s", r.status, r.body)
	}
	var body struct{ Credentials []map[string]any }
	if err := json.Unmarshal(r.body, &body); err != nil {
		w.t.Fatal(err)
	}
	return body.Credentials
}

// TestWA6_PasskeyLoginIssuesTokensLikeALogin: a passkey signs in with no
// password, discoverable or by loginId, answers what the second step of a
// password login answers (tokens, refresh-token family, device token),
// says amr hwk/swk user mfa, and skips the authenticator step of a user
// with TOTP.
func TestWA6_PasskeyLoginIssuesTokensLikeALogin(t *testing.T) {
	w := newWAFixture(t)
	lr := w.mustLogin(w.key, "") // discoverable: the user handle names the user
	if lr.User.ID != w.userID || lr.Token == "" || lr.RefreshToken == "" || lr.RefreshTokenID == "" || lr.DeviceToken == "" {
		t.Fatalf("passkey login answered %+v", lr)
	}
	c := claims(t, lr.Token)
	if c["sub"] != w.userID || c["aud"] != w.clientID || c["sid"] != lr.RefreshTokenID {
		t.Fatalf("access token claims %v", c)
	}
	if fmt.Sprint(c["amr"]) != "[hwk user mfa]" {
		t.Fatalf("amr = %v, want [hwk user mfa]", c["amr"])
	}
	w.mustRefresh(lr.RefreshToken) // the session after it is a login's

	// By loginId: the options list the user's passkeys.
	opts := w.start(w.email)
	if !strings.Contains(string(opts), base64.RawURLEncoding.EncodeToString(w.key.CredentialID)) ||
		!strings.Contains(string(opts), `"userVerification":"required"`) {
		t.Fatalf("start by loginId answered %s", opts)
	}
	if lr := w.mustLogin(w.key, w.email); lr.User.ID != w.userID {
		t.Fatalf("login by loginId signed in %s", lr.User.ID)
	}

	// A synced passkey (backup eligible) says swk.
	synced := softpasskey.New(waOrigin)
	synced.Flags |= softpasskey.FlagBE | softpasskey.FlagBS
	w.mustRegister(synced, w.userID)
	if c := claims(t, w.mustLogin(synced, "").Token); fmt.Sprint(c["amr"]) != "[swk user mfa]" {
		t.Fatalf("synced passkey amr = %v", c["amr"])
	}

	// A user with an authenticator app: the password grant asks for the
	// code, a passkey signs in without it.
	r := w.api(http.MethodGet, "/api/two-factor/secret", "")
	var sec struct{ SecretBase32Encoded string }
	if err := json.Unmarshal(r.body, &sec); err != nil {
		t.Fatal(err)
	}
	if r := w.api(http.MethodPost, "/api/user/two-factor/"+w.userID, fmt.Sprintf(`{"method":"authenticator","secretBase32Encoded":%q,"code":%q}`,
		sec.SecretBase32Encoded, totpCode(t, sec.SecretBase32Encoded, w.clock.Now()))); r.status != http.StatusOK {
		t.Fatalf("enable TOTP: %d %s", r.status, r.body)
	}
	if r, _ := w.login(); !strings.Contains(string(r.body), "two_factor_required") {
		t.Fatalf("password grant of a TOTP user answered %d %s", r.status, r.body)
	}
	if lr := w.mustLogin(w.key, ""); lr.User.ID != w.userID || lr.RefreshToken == "" {
		t.Fatalf("passkey login of a TOTP user answered %+v", lr)
	}
}

// TestWA1_ChallengeIsSingleUseAndExpires: a challenge completes one
// ceremony of its kind, for its user and application, within five
// minutes; anything else is 404.
func TestWA1_ChallengeIsSingleUseAndExpires(t *testing.T) {
	w := newWAFixture(t)
	cred := w.assert(w.key, "")
	if r := w.loginWith(cred, waOrigin); r.status != http.StatusOK {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	if r := w.loginWith(cred, waOrigin); r.status != http.StatusNotFound {
		t.Fatalf("WA-1: a replayed assertion answered %d %s, want 404", r.status, r.body)
	}
	// A challenge the IdP never handed out.
	forged, err := w.key.Assert([]byte(`{"options":{"challenge":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + `","rpId":"` + waRPID + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := w.loginWith(forged, waOrigin); r.status != http.StatusNotFound {
		t.Fatalf("WA-1: an unknown challenge answered %d %s, want 404", r.status, r.body)
	}
	// Expired: five minutes.
	cred = w.assert(w.key, "")
	w.clock.Advance(5*time.Minute + time.Second)
	if r := w.loginWith(cred, waOrigin); r.status != http.StatusNotFound {
		t.Fatalf("WA-1: an expired challenge answered %d %s, want 404", r.status, r.body)
	}
	// A registration's challenge does not sign in.
	var regOpts struct{ Options struct{ Challenge string } }
	if err := json.Unmarshal(w.registerStart(w.userID), &regOpts); err != nil {
		t.Fatal(err)
	}
	regCred, err := w.key.Assert([]byte(`{"challenge":"` + regOpts.Options.Challenge + `","rpId":"` + waRPID + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := w.loginWith(regCred, waOrigin); r.status != http.StatusNotFound {
		t.Fatalf("WA-1: a registration challenge signed in: %d %s", r.status, r.body)
	}
	// Registration: once, and for its user only.
	k := softpasskey.New(waOrigin)
	reg, err := k.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	other := w.idp.CreateUser(t, "bob@example.com", testPassword, w.clientID)
	if r := w.registerComplete(other, reg, waOrigin); r.status != http.StatusNotFound {
		t.Fatalf("WA-1: another user's registration ceremony answered %d %s", r.status, r.body)
	}
	reg, err = k.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	if r := w.registerComplete(w.userID, reg, waOrigin); r.status != http.StatusOK {
		t.Fatalf("registration: %d %s", r.status, r.body)
	}
	if r := w.registerComplete(w.userID, reg, waOrigin); r.status != http.StatusNotFound {
		t.Fatalf("WA-1: a replayed registration answered %d %s, want 404", r.status, r.body)
	}
}

// TestWA2_OriginAndRPIDMustBeTheApplications: the request's origin must be
// one of the application's, the client data's origin the request's, the
// rpId the application's, and the authenticator data's rpIdHash its hash.
func TestWA2_OriginAndRPIDMustBeTheApplications(t *testing.T) {
	w := newWAFixture(t)
	// A phishing page: its own origin in the client data and the request.
	w.key.Origin = "https://shop-example.evil"
	r := w.loginWith(w.assert(w.key, ""), "https://shop-example.evil")
	wantCredentialRefused(t, "WA-2: a foreign origin", r, "origin")
	// The request names the application's origin, the client data another.
	wantCredentialRefused(t, "WA-2: client data of another origin", w.loginWith(w.assert(w.key, ""), waOrigin), "credential")
	w.key.Origin = waOrigin
	// rpId of another relying party in the request.
	req := jsonReq(t, http.MethodPost, w.idp.URL+"/api/webauthn/login",
		fmt.Sprintf(`{"credential":%s,"origin":%q,"rpId":"evil.example","applicationId":%q}`, w.assert(w.key, ""), waOrigin, w.clientID))
	wantCredentialRefused(t, "WA-2: another rpId", w.do(req), "rpId")
	// Authenticator data made for another relying party.
	opts := strings.Replace(string(w.start("")), `"rpId":"`+waRPID+`"`, `"rpId":"evil.example"`, 1)
	cred, err := w.key.Assert([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	wantCredentialRefused(t, "WA-2: rpIdHash of another relying party", w.loginWith(cred, waOrigin), "credential")
	// Registration at a foreign origin.
	k := softpasskey.New("https://shop-example.evil")
	reg, err := k.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	wantCredentialRefused(t, "WA-2: registration at a foreign origin", w.registerComplete(w.userID, reg, "https://shop-example.evil"), "origin")
	// And the right origin still works.
	w.mustLogin(w.key, "")

	// The admin API takes only https origins (http on loopback) at or
	// under the relying party id.
	for _, tc := range []struct {
		rpID, origins string
		ok            bool
	}{
		{"shop.example", `["https://shop.example","https://www.shop.example:8443"]`, true},
		{"localhost", `["http://localhost:8080"]`, true},
		{"shop.example", `["http://shop.example"]`, false},
		{"shop.example", `["https://other.example"]`, false},
		{"shop.example", `["https://shop.example/login"]`, false},
		{"https://shop.example", `["https://shop.example"]`, false},
		{"127.0.0.1", `["http://127.0.0.1:8080"]`, false},
	} {
		r := w.api(http.MethodPost, "/api/application", fmt.Sprintf(
			`{"application":{"name":"rp %s","roles":[{"name":"user"}],"webAuthnRelyingPartyId":%q,"webAuthnOrigins":%s}}`, tc.rpID, tc.rpID, tc.origins))
		if (r.status == http.StatusOK) != tc.ok {
			t.Errorf("WA-2: application with rpId %s origins %s: %d %s", tc.rpID, tc.origins, r.status, r.body)
		}
	}
}

// TestWA3_SignatureAndUserVerification: the assertion's signature must be
// the passkey's over authenticatorData || SHA-256(clientDataJSON), and
// user verification is required at registration and login.
func TestWA3_SignatureAndUserVerification(t *testing.T) {
	w := newWAFixture(t)
	as, err := w.key.Assertion(w.start(""))
	if err != nil {
		t.Fatal(err)
	}
	as.Signature = w.key.Sign(as.AuthenticatorData, []byte(`{"type":"webauthn.get","challenge":"other"}`))
	wantCredentialRefused(t, "WA-3: signature over other data", w.loginWith(as.JSON(), waOrigin), "credential")

	as, err = w.key.Assertion(w.start(""))
	if err != nil {
		t.Fatal(err)
	}
	as.Signature = softpasskey.New(waOrigin).Sign(as.AuthenticatorData, as.ClientDataJSON)
	wantCredentialRefused(t, "WA-3: another key's signature", w.loginWith(as.JSON(), waOrigin), "credential")

	w.key.Flags = softpasskey.FlagUP // present, not verified
	wantCredentialRefused(t, "WA-3: no user verification", w.loginWith(w.assert(w.key, ""), waOrigin), "credential")
	k := softpasskey.New(waOrigin)
	k.Flags = softpasskey.FlagUP
	reg, err := k.Register(w.registerStart(w.userID))
	if err != nil {
		t.Fatal(err)
	}
	wantCredentialRefused(t, "WA-3: registration without user verification", w.registerComplete(w.userID, reg, waOrigin), "credential")
	w.key.Flags = softpasskey.FlagUP | softpasskey.FlagUV
	w.mustLogin(w.key, "")
}

// TestWA4_CredentialMustBeTheUsers: the credential must be one of the
// passkeys of the user the user handle (or the loginId) names.
func TestWA4_CredentialMustBeTheUsers(t *testing.T) {
	w := newWAFixture(t)
	// An unknown credential claiming the user.
	stranger := softpasskey.New(waOrigin)
	stranger.UserHandle = []byte(w.userID)
	wantCredentialRefused(t, "WA-4: unknown credential", w.loginWith(w.assert(stranger, ""), waOrigin), "credential")

	// Mallory has her own passkey.
	mallory := w.idp.CreateUser(t, "mallory@example.com", testPassword, w.clientID)
	mk := softpasskey.New(waOrigin)
	w.mustRegister(mk, mallory)
	// Her credential with the victim's user handle.
	mk.UserHandle = []byte(w.userID)
	wantCredentialRefused(t, "WA-4: own credential, victim's user handle", w.loginWith(w.assert(mk, ""), waOrigin), "credential")
	// The victim's credential id with her own user handle, signed by her.
	as, err := mk.Assertion(w.start(""))
	if err != nil {
		t.Fatal(err)
	}
	as.CredentialID, as.UserHandle = w.key.CredentialID, []byte(mallory)
	wantCredentialRefused(t, "WA-4: victim's credential id, own user handle", w.loginWith(as.JSON(), waOrigin), "credential")
	// Her credential at a login started for the victim's loginId.
	mk.UserHandle = []byte(mallory)
	wantCredentialRefused(t, "WA-4: own passkey at the victim's loginId", w.loginWith(w.assert(mk, w.email), waOrigin), "credential")
	// A user handle that names nobody, or is no user id at all.
	for _, h := range []string{"00000000-0000-4000-8000-000000000000", "not a user id"} {
		stranger.UserHandle = []byte(h)
		wantCredentialRefused(t, "WA-4: user handle "+h, w.loginWith(w.assert(stranger, ""), waOrigin), "credential")
	}
	// Each signs in as themselves.
	if lr := w.mustLogin(mk, ""); lr.User.ID != mallory {
		t.Fatalf("mallory signed in as %s", lr.User.ID)
	}
	if lr := w.mustLogin(w.key, ""); lr.User.ID != w.userID {
		t.Fatalf("the user signed in as %s", lr.User.ID)
	}
}

// TestWA5_CounterGoingBackwardsIsRefusedAndFlagged: a signature counter
// that does not advance marks the passkey as cloned; it is refused then
// and afterwards. An authenticator without a counter (always 0) is fine.
func TestWA5_CounterGoingBackwardsIsRefusedAndFlagged(t *testing.T) {
	w := newWAFixture(t)
	w.mustLogin(w.key, "")
	w.mustLogin(w.key, "") // counter 2
	w.key.FixedCounter, w.key.Counter = true, 1
	wantCredentialRefused(t, "WA-5: counter went backwards", w.loginWith(w.assert(w.key, ""), waOrigin), "credential")
	pk := w.passkeys(w.userID)
	if len(pk) != 1 || pk[0]["cloneWarning"] != true || pk[0]["signCount"] != float64(2) {
		t.Fatalf("WA-5: passkey after a clone: %v", pk)
	}
	w.key.Counter = 50
	wantCredentialRefused(t, "WA-5: a flagged passkey", w.loginWith(w.assert(w.key, ""), waOrigin), "credential")

	zero := softpasskey.New(waOrigin)
	zero.FixedCounter = true
	g := newWAFixture(t)
	g.mustRegister(zero, g.userID)
	for range 3 {
		g.mustLogin(zero, "")
	}
}

// TestWA7_DeactivatedUserCannotSignIn: a verified passkey of a deactivated
// user signs nobody in and changes nothing.
func TestWA7_DeactivatedUserCannotSignIn(t *testing.T) {
	w := newWAFixture(t)
	w.mustLogin(w.key, "")
	setChange := func(v bool) {
		if err := w.idp.Store.UpdateUser(t.Context(), w.userID, func(u store.User) (store.User, error) {
			u.PasswordChangeRequired = v
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setChange(true)
	if r := w.loginWith(w.assert(w.key, ""), waOrigin); r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[ChangePasswordRequired]") {
		t.Fatalf("WA-7: password-change-required user's passkey answered %d %s", r.status, r.body)
	}
	setChange(false)
	if r := w.api(http.MethodPatch, "/api/user/"+w.userID, `{"user":{"active":false}}`); r.status != http.StatusOK {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	if r := w.loginWith(w.assert(w.key, ""), waOrigin); r.status != http.StatusConflict {
		t.Fatalf("WA-7: deactivated user's passkey answered %d %s, want 409", r.status, r.body)
	}
	if pk := w.passkeys(w.userID); pk[0]["signCount"] != float64(1) {
		t.Fatalf("WA-7: a refused login advanced the counter: %v", pk[0])
	}
}

// TestWA8_RemovedPasskeyCannotSignIn: list, read, rename and remove; a
// removed passkey signs nobody in.
func TestWA8_RemovedPasskeyCannotSignIn(t *testing.T) {
	w := newWAFixture(t)
	if pk := w.passkeys(w.userID); len(pk) != 1 || pk[0]["id"] != w.passkeyID || pk[0]["name"] != "Laptop" {
		t.Fatalf("list: %v", pk)
	}
	if r := w.api(http.MethodPatch, "/api/webauthn/"+w.passkeyID+"?userId="+w.userID, `{"name":"Work laptop"}`); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), `"name":"Work laptop"`) {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	if r := w.api(http.MethodGet, "/api/webauthn/"+w.passkeyID, ""); r.status != http.StatusOK || !strings.Contains(string(r.body), `"name":"Work laptop"`) {
		t.Fatalf("get without userId: %d %s", r.status, r.body)
	}
	// A name of spaces is blank; spaces around a name are dropped.
	if r := w.api(http.MethodPatch, "/api/webauthn/"+w.passkeyID+"?userId="+w.userID, `{"name":"   "}`); r.status != http.StatusBadRequest ||
		!strings.Contains(string(r.body), "[blank]name") {
		t.Fatalf("rename to spaces: %d %s", r.status, r.body)
	}
	if r := w.api(http.MethodPatch, "/api/webauthn/"+w.passkeyID+"?userId="+w.userID, `{"name":"  Work laptop  "}`); r.status != http.StatusOK ||
		!strings.Contains(string(r.body), `"name":"Work laptop"`) {
		t.Fatalf("rename with spaces around: %d %s", r.status, r.body)
	}
	cred := w.assert(w.key, "") // a ceremony begun before the removal
	if r := w.api(http.MethodDelete, "/api/webauthn/"+w.passkeyID, ""); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if pk := w.passkeys(w.userID); len(pk) != 0 {
		t.Fatalf("list after delete: %v", pk)
	}
	wantCredentialRefused(t, "WA-8: removed passkey", w.loginWith(cred, waOrigin), "credential")
	wantCredentialRefused(t, "WA-8: removed passkey, new ceremony", w.loginWith(w.assert(w.key, ""), waOrigin), "credential")
	for _, m := range []string{http.MethodDelete, http.MethodGet} {
		if r := w.api(m, "/api/webauthn/"+w.passkeyID, ""); r.status != http.StatusNotFound {
			t.Fatalf("%s of a removed passkey: %d", m, r.status)
		}
	}
	if r := w.api(http.MethodGet, "/api/webauthn/not-a-uuid", ""); r.status != http.StatusNotFound {
		t.Fatalf("malformed id: %d", r.status)
	}
}

// startFrom posts a ceremony start to path with the API key, as an app
// forwarding its browser's address ip.
func (w *waFixture) startFrom(ip, path, body string) *response {
	w.t.Helper()
	req := jsonReq(w.t, http.MethodPost, w.idp.URL+path, body)
	req.Header.Set("Authorization", w.idp.APIKey)
	req.Header.Set("X-Forwarded-For", ip)
	return w.do(req)
}

// liveChallenges counts the user's stored WebAuthn challenges.
func (w *waFixture) liveChallenges(userID string) int {
	w.t.Helper()
	n, err := w.idp.Store.CountTickets(w.t.Context(), userID, store.TicketWebAuthn, time.Time{})
	if err != nil {
		w.t.Fatal(err)
	}
	return n
}

// wantThrottled requires FusionAuth's 429 of a ceremony start.
func wantThrottled(t *testing.T, what string, r *response) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), `"generalErrors"`) ||
		!strings.Contains(string(r.body), `[TooManyRequests]`) || r.header.Get("Retry-After") == "" {
		t.Fatalf("%s: %d %q (Retry-After %q), want 429 [TooManyRequests]", what, r.status, r.body, r.header.Get("Retry-After"))
	}
}

// TestWA9_CeremonyStartsAreThrottled: every ceremony start stores a
// challenge, so the starts (login and registration) take tokens from the
// end-user IP's bucket (the app's X-Forwarded-For): past the burst they
// answer 429 and store nothing, while another IP still starts; the bucket
// refills. A registration start also stops at 10 live challenges of its
// user, whatever the IP.
func TestWA9_CeremonyStartsAreThrottled(t *testing.T) {
	f := newFixture(t, idptest.AppOptions{WebAuthnRelyingPartyID: waRPID, WebAuthnOrigins: []string{waOrigin}},
		idp.Config{Throttle: idp.ThrottlePolicy{CeremonyBurst: 3, CeremonyEvery: time.Hour}})
	w := &waFixture{fixture: f}
	login := fmt.Sprintf(`{"loginId":%q,"applicationId":%q}`, f.email, f.clientID)
	register := fmt.Sprintf(`{"userId":%q,"applicationId":%q}`, f.userID, f.clientID)
	const a, b = "198.51.100.7", "203.0.113.9"

	for i, s := range [][2]string{{"/api/webauthn/start", login}, {"/api/webauthn/register/start", register}, {"/api/webauthn/start", login}} {
		if r := w.startFrom(a, s[0], s[1]); r.status != http.StatusOK {
			t.Fatalf("start %d from one IP: %d %s", i+1, r.status, r.body)
		}
	}
	stored := w.liveChallenges(f.userID)
	wantThrottled(t, "login start past the burst", w.startFrom(a, "/api/webauthn/start", login))
	wantThrottled(t, "discoverable start past the burst", w.startFrom(a, "/api/webauthn/start",
		fmt.Sprintf(`{"applicationId":%q}`, f.clientID)))
	wantThrottled(t, "registration start past the burst", w.startFrom(a, "/api/webauthn/register/start", register))
	if n := w.liveChallenges(f.userID); n != stored {
		t.Fatalf("throttled starts stored challenges: %d, want %d", n, stored)
	}
	if r := w.startFrom(b, "/api/webauthn/start", login); r.status != http.StatusOK {
		t.Fatalf("another IP: %d %s", r.status, r.body)
	}
	f.clock.Advance(time.Hour)
	if r := w.startFrom(a, "/api/webauthn/start", login); r.status != http.StatusOK {
		t.Fatalf("after the refill: %d %s", r.status, r.body)
	}

	// The per-user cap: a fresh five minutes, each start from its own IP.
	f.clock.Advance(10 * time.Minute)
	for i := range 10 {
		if r := w.startFrom(fmt.Sprintf("192.0.2.%d", i+1), "/api/webauthn/register/start", register); r.status != http.StatusOK {
			t.Fatalf("registration start %d: %d %s", i+1, r.status, r.body)
		}
	}
	wantThrottled(t, "11th live registration of one user", w.startFrom("192.0.2.99", "/api/webauthn/register/start", register))
	other := f.idp.CreateUser(t, "bob@example.com", testPassword, f.clientID)
	if r := w.startFrom("192.0.2.99", "/api/webauthn/register/start",
		fmt.Sprintf(`{"userId":%q,"applicationId":%q}`, other, f.clientID)); r.status != http.StatusOK {
		t.Fatalf("another user: %d %s", r.status, r.body)
	}
	f.clock.Advance(5*time.Minute + time.Second)
	if r := w.startFrom("192.0.2.100", "/api/webauthn/register/start", register); r.status != http.StatusOK {
		t.Fatalf("after the challenges expired: %d %s", r.status, r.body)
	}
}
