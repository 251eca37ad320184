package idp

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/password"
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

// ACC-7, AUD-1: a change of password or email whose request is cancelled
// while the current password is checked checked no guess: it answers an
// error (nobody reads it) that is not "wrong password", and counts
// against neither the account nor the address.
func TestACC7_CancelledCurrentPasswordCheckCountsNothing(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "idp.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &cancellingHasher{Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})}
	srv, err := New(ctx, Config{Store: st, Issuer: "http://idp.test", Hasher: h,
		Logger: slog.New(slog.DiscardHandler), Throttle: ThrottlePolicy{Burst: 1, Every: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.Admin().CreateUser(ctx, UserSpec{Email: "ann@example.com", Password: "plum tractor whispers at dawn"})
	if err != nil {
		t.Fatal(err)
	}
	const ip = "198.51.100.9"
	for _, pw := range []string{"a wrong password of some length", "plum tractor whispers at dawn"} {
		rctx, cancel := context.WithCancel(ctx)
		h.cancel = cancel
		got, err := srv.checkCurrentPassword(rctx, u.Email, pw, ip)
		cancel()
		var ve *ValidationError
		if got != nil || err == nil || errors.As(err, &ve) {
			t.Errorf("cancelled check of %q: %v, %v; want a plain error", pw, got, err)
		}
	}
	if !srv.pwLimit.allowed(ip) {
		t.Error("a cancelled check took a token from the address's password bucket")
	}
	if f, err := st.GetLoginFailures(ctx, u.ID, ""); err != nil || f.Count != 0 {
		t.Errorf("account failures after cancelled checks: %+v %v", f, err)
	}
}

// WA-2: an origin is https, or http on loopback only (localhost or a
// loopback address), scheme://host[:port] in lower case.
func TestWA2_OriginsAreHTTPSOrLoopback(t *testing.T) {
	for o, wantHost := range map[string]string{
		"https://shop.example.com":      "shop.example.com",
		"https://shop.example.com:8443": "shop.example.com",
		"http://localhost:3000":         "localhost",
		"http://127.0.0.1:8080":         "127.0.0.1",
		"http://[::1]:8080":             "::1",
		"http://shop.example.com":       "",
		"http://10.0.0.1":               "",
		"ftp://shop.example.com":        "",
		"https://shop.example.com/path": "",
		"https://Shop.example.com":      "",
		"https://user@shop.example.com": "",
		"https://shop.example.com?":     "",
	} {
		host, problem := webAuthnOrigin(o)
		if host != wantHost || (problem == "") != (wantHost != "") {
			t.Errorf("%s: host %q problem %q, want host %q", o, host, problem, wantHost)
		}
	}
}

// The relying party's display name is the application's name, else its id.
func TestRelyingPartyDisplayName(t *testing.T) {
	for name, want := range map[string]string{"Pinewood Shop": "Pinewood Shop", "": "shop.example.com"} {
		rp, err := relyingParty(&store.Application{Name: name}, "shop.example.com", []string{"https://shop.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if rp.Config.RPDisplayName != want {
			t.Errorf("name %q: display %q, want %q", name, rp.Config.RPDisplayName, want)
		}
	}
}

// ACC-12: only 43 base64url characters can be an account ticket id;
// anything else never reaches the store.
func TestACC12_TicketIDShape(t *testing.T) {
	good := randomSecret()
	if ticketSecretHash(good) == nil {
		t.Fatalf("%q refused", good)
	}
	for _, bad := range []string{good[:42], good + "A", "!" + good[1:], good[:42] + "=", good[:20] + " " + good[21:], ""} {
		if ticketSecretHash(bad) != nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// MFA-4: ten recovery codes of 16 base32 characters (80 bits), shown as
// XXXX-XXXX-XXXX-XXXX, stored as the digests of their normalised form.
func TestMFA4_RecoveryCodesShapeAndDigests(t *testing.T) {
	shape := regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`)
	codes, hashes := newRecoveryCodes("user-1")
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("%d codes, %d digests", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Errorf("code %q: wrong shape or repeated", c)
		}
		seen[c] = true
		if hashes[i] != recoveryCodeHash("user-1", strings.ReplaceAll(c, "-", "")) || hashes[i] == recoveryCodeHash("user-2", strings.ReplaceAll(c, "-", "")) {
			t.Errorf("digest of %q is not bound to the code and its user", c)
		}
	}
}

// The passkey as the API shows it: FusionAuth's defaults for what was not
// recorded, the AAGUID as a UUID, the last use when there was one.
func TestPasskeyJSONDefaults(t *testing.T) {
	created := time.Unix(1000, 0)
	p := passkey{ID: "p", CredentialID: "c", CreatedAt: created}
	j := p.toJSON("u")
	if j.AttestationType != "none" || j.Transports == nil || len(j.Transports) != 0 || j.AAGUID != "" || j.LastUseInstant != created.UnixMilli() {
		t.Errorf("defaults: %+v", j)
	}
	p.AttestationType, p.Transports, p.LastUsedAt = "self", []string{"internal"}, created.Add(time.Hour)
	p.AAGUID = []byte{0xea, 0x9b, 0x8d, 0x66, 0x4d, 0x01, 0x1d, 0x21, 0x3c, 0xe4, 0xb6, 0xb4, 0x8c, 0xb5, 0x75, 0xd4}
	j = p.toJSON("u")
	if j.AttestationType != "self" || len(j.Transports) != 1 || j.AAGUID != "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4" ||
		j.LastUseInstant != created.Add(time.Hour).UnixMilli() {
		t.Errorf("recorded values: %+v", j)
	}
}

// MFA-8: an authenticator secret has at least 128 bits (RFC 4226 R6), in
// base32 (as apps show it: case, spaces and padding ignored) or base64.
func TestMFA8_SecretOfAtLeast128Bits(t *testing.T) {
	b16, b15 := []byte("0123456789abcdef"), []byte("0123456789abcde")
	for _, tc := range []struct {
		b64, b32 string
		want     []byte
	}{
		{"", base32NoPad.EncodeToString(b16), b16},
		{"", strings.ToLower(base32NoPad.EncodeToString(b16)[:8]) + " " + base32NoPad.EncodeToString(b16)[8:] + "===", b16},
		{"", base32NoPad.EncodeToString(b15), nil},
		{base64.StdEncoding.EncodeToString(b16), "", b16},
		{base64.RawStdEncoding.EncodeToString(b16), "", b16},
		{base64.StdEncoding.EncodeToString(b15), "", nil},
		{"", "", nil},
	} {
		got, errs := decodeSecret(tc.b64, tc.b32)
		if string(got) != string(tc.want) || (errs == nil) != (tc.want != nil) {
			t.Errorf("decodeSecret(%q, %q) = %q, %v; want %q", tc.b64, tc.b32, got, errs, tc.want)
		}
	}
}

// The second step's refusals map to FusionAuth's statuses: 500 for a
// server error, 409 a locked user, 410 an expired one, else 404.
func TestTwoFactorStatus(t *testing.T) {
	for _, tc := range []struct {
		e    oauthError
		want int
	}{
		{oauthError{Status: 500, Reason: "user_locked"}, 500},
		{oauthError{Status: 503}, 500},
		{oauthError{Status: 499}, 404},
		{oauthError{Status: 400, Reason: "user_locked"}, 409},
		{oauthError{Status: 400, Reason: "user_expired"}, 410},
		{oauthError{Status: 400, Reason: "bad_password"}, 404},
	} {
		if got := twoFactorStatus(&tc.e); got != tc.want {
			t.Errorf("%+v: %d, want %d", tc.e, got, tc.want)
		}
	}
}
