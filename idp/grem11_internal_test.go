package idp

import (
	"testing"
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
