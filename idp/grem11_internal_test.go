package idp

import (
	"slices"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// Tests that kill mutants gremlins found alive in the issue 11 and 12 code
// (docs/security.md §5).

// MFA-4: a user who has used up every recovery code keeps the
// authenticator (and a user with passkeys only keeps them): the stored
// state is dropped only when nothing is left.
func TestMFA4_UsedUpRecoveryCodesKeepTheAuthenticator(t *testing.T) {
	for name, m := range map[string]multiFactor{
		"authenticator only": {Authenticator: &authenticatorMethod{ID: "a", Method: methodAuthenticator, Secret: []byte("0123456789abcdef")}},
		"passkeys only":      {Passkeys: []passkey{{ID: "p", CredentialID: "cred"}}},
		"recovery only":      {RecoveryCodes: []string{"h"}},
	} {
		raw, err := m.encode()
		if err != nil || raw == nil {
			t.Fatalf("%s: encode = %q, %v: the state was dropped", name, raw, err)
		}
		back, err := parseMultiFactor(raw)
		if err != nil {
			t.Fatal(err)
		}
		if back.enabled() != (m.Authenticator != nil) || len(back.Passkeys) != len(m.Passkeys) || len(back.RecoveryCodes) != len(m.RecoveryCodes) {
			t.Fatalf("%s: round trip lost state: %+v", name, back)
		}
	}
	if raw, err := (multiFactor{Failures: 3, LastStep: 7}).encode(); raw != nil || err != nil {
		t.Fatalf("empty state encodes to %q, %v; want nil", raw, err)
	}
}

// WA-2: without explicit WebAuthn settings the relying party comes from
// the application's BaseURL: its host (never an IP address) and its
// scheme://host origin, and only for an http(s) URL with a host.
func TestWA2_RelyingPartyDefaultsFromBaseURL(t *testing.T) {
	cases := []struct {
		c       store.ApplicationConfig
		rpID    string
		origins []string
		ok      bool
	}{
		{store.ApplicationConfig{BaseURL: "https://Shop.Example.com/app"}, "shop.example.com", []string{"https://shop.example.com"}, true},
		{store.ApplicationConfig{BaseURL: "http://localhost:8080"}, "localhost", []string{"http://localhost:8080"}, true},
		{store.ApplicationConfig{BaseURL: "https://127.0.0.1:8443"}, "", []string{"https://127.0.0.1:8443"}, false},
		{store.ApplicationConfig{BaseURL: "ftp://shop.example.com"}, "", nil, false},
		{store.ApplicationConfig{BaseURL: "https:///nohost"}, "", nil, false},
		{store.ApplicationConfig{}, "", nil, false},
		{store.ApplicationConfig{WebAuthnRelyingPartyID: "example.com"}, "example.com", nil, false},
		{store.ApplicationConfig{BaseURL: "https://shop.example.com", WebAuthnRelyingPartyID: "example.com",
			WebAuthnOrigins: []string{"https://login.example.com"}}, "example.com", []string{"https://login.example.com"}, true},
	}
	for _, tc := range cases {
		rpID, origins, ok := appRelyingParty(tc.c)
		if rpID != tc.rpID || !slices.Equal(origins, tc.origins) || ok != tc.ok {
			t.Errorf("%+v: got %q %q %v, want %q %q %v", tc.c, rpID, origins, ok, tc.rpID, tc.origins, tc.ok)
		}
	}
}

// What the authenticator shows for a new passkey: the email (else the
// username) and the full name (else that name).
func TestWebAuthnUserNames(t *testing.T) {
	for _, tc := range []struct {
		u             store.User
		name, display string
	}{
		{store.User{ID: "u", Email: "a@example.com", Username: "al", FullName: "Alice"}, "a@example.com", "Alice"},
		{store.User{ID: "u", Username: "al"}, "al", "al"},
	} {
		wu, err := newWebAuthnUser(&tc.u)
		if err != nil {
			t.Fatal(err)
		}
		if wu.WebAuthnName() != tc.name || wu.WebAuthnDisplayName() != tc.display {
			t.Errorf("%+v: %q %q, want %q %q", tc.u, wu.WebAuthnName(), wu.WebAuthnDisplayName(), tc.name, tc.display)
		}
	}
}
