package idp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// setVerified flips the user's verified flag in the store (an account made
// by sign-up that never confirmed its address).
func setVerified(t *testing.T, st store.Store, userID string, v bool) {
	t.Helper()
	if err := st.UpdateUser(context.Background(), userID, func(u store.User) (store.User, error) {
		u.Verified = v
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// ACC-13 (account pre-hijacking): an address nobody has proven cannot be
// armed with a second factor or a passkey, so a squatter who signs up with
// someone else's address cannot keep a way in once the owner resets the
// password.
func TestACC13_UnverifiedAccountsCannotEnrol(t *testing.T) {
	f := newWAFixture(t)
	setVerified(t, f.idp.Store, f.userID, false)
	r := f.api(http.MethodGet, "/api/two-factor/secret", "")
	var sec struct{ SecretBase32Encoded string }
	if err := json.Unmarshal(r.body, &sec); err != nil {
		t.Fatal(err)
	}
	r = f.api(http.MethodPost, "/api/user/two-factor/"+f.userID,
		fmt.Sprintf(`{"method":"authenticator","secretBase32Encoded":%q,"code":%q}`, sec.SecretBase32Encoded, totpCode(t, sec.SecretBase32Encoded, f.clock.Now())))
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[EmailNotVerified]") {
		t.Errorf("enable two-factor for an unverified user: %d %s, want 400 [EmailNotVerified]", r.status, r.body)
	}
	start := `{"userId":"` + f.userID + `","applicationId":"` + f.clientID + `","name":"Squatter"}`
	r = f.api(http.MethodPost, "/api/webauthn/register/start", start)
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "[EmailNotVerified]") {
		t.Errorf("passkey registration start for an unverified user: %d %s, want 400 [EmailNotVerified]", r.status, r.body)
	}
	setVerified(t, f.idp.Store, f.userID, true)
	if r = f.api(http.MethodPost, "/api/webauthn/register/start", start); r.status != http.StatusOK {
		t.Errorf("passkey registration start once verified: %d %s", r.status, r.body)
	}
}

// ACC-13: a reset that proves an address nobody had proven drops the second
// factors set up before it (a squatter's authenticator or passkeys); a
// verified owner's reset keeps them.
func TestACC13_ResetOfUnprovenAddressDropsFactors(t *testing.T) {
	reset := func(f *mfaFixture) {
		t.Helper()
		r := f.api(http.MethodPost, "/api/user/forgot-password", `{"loginId":"`+f.email+`","applicationId":"`+f.clientID+
			`","sendForgotPasswordEmail":false}`)
		id, _ := r.json(t)["changePasswordId"].(string)
		if r.status != http.StatusOK || id == "" {
			t.Fatalf("forgot-password: %d %s", r.status, r.body)
		}
		req, _ := http.NewRequest(http.MethodPost, f.idp.URL+"/api/user/change-password/"+url.PathEscape(id),
			strings.NewReader(`{"password":"`+testPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if r := f.do(req); r.status != http.StatusOK {
			t.Fatalf("reset: %d %s", r.status, r.body)
		}
	}

	squatted := newMFAFixture(t)
	setVerified(t, squatted.idp.Store, squatted.userID, false)
	reset(squatted)
	if r, _ := squatted.login(); r.status != http.StatusOK {
		t.Errorf("password login after the owner's reset: %d %s, want tokens (the squatter's authenticator is gone)", r.status, r.body)
	}
	if u, err := squatted.idp.Store.GetUser(context.Background(), squatted.userID); err != nil || u.MultiFactor != nil || !u.Verified {
		t.Errorf("after the reset: %+v (%v), want verified without second factors", u, err)
	}

	owned := newMFAFixture(t)
	reset(owned)
	owned.mustTwoFactorRequired()
}
