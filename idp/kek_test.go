package idp_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/idptest"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/password"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

func newKEK(t *testing.T) *idp.KEK {
	t.Helper()
	k, _, err := idp.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "idp.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newServer(t *testing.T, st store.Store, keks ...*idp.KEK) (*idp.Server, error) {
	t.Helper()
	return newServerAt(t, "http://idp.test", st, keks...)
}

func newServerAt(t *testing.T, issuer string, st store.Store, keks ...*idp.KEK) (*idp.Server, error) {
	t.Helper()
	return idp.New(context.Background(), idp.Config{Store: st, Issuer: issuer, KEKs: keks,
		Logger: slog.New(slog.DiscardHandler)})
}

func signingKeys(t *testing.T, st store.Store) []*store.SigningKey {
	t.Helper()
	keys, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// validate asks srv's /api/jwt/validate about an access token.
func validate(t *testing.T, srv *idp.Server, access string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/jwt/validate", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec.Code
}

// AUD-12 (IDP-TOK-7): the signing keys in the database are sealed with the
// operator's key-encryption key, so the database (or a copy, or a backup) alone
// cannot sign: its bytes are no PKCS#8 key, and an IdP opened on it without
// the KEK, or with another one, refuses to start.
func TestAUD12_DatabaseCopyAloneCannotSign(t *testing.T) {
	st := openSQLite(t)
	kek := newKEK(t)
	if _, err := newServer(t, st, kek); err != nil {
		t.Fatal(err)
	}
	keys := signingKeys(t, st)
	if len(keys) != 1 {
		t.Fatalf("%d signing keys, want 1", len(keys))
	}
	stored := keys[0].PrivateKey
	if _, err := x509.ParsePKCS8PrivateKey(stored); err == nil {
		t.Fatal("the stored signing key parses as PKCS#8: a database copy signs tokens")
	}
	if !bytes.HasPrefix(stored, []byte("GHKEK\x01")) || !bytes.Contains(stored, []byte(kek.ID())) {
		t.Fatalf("stored key is not in the sealed format (version 1, KEK id %s): %q", kek.ID(), stored[:min(len(stored), 24)])
	}

	_, err := newServer(t, st)
	if err == nil || !strings.Contains(err.Error(), "key-encryption key "+kek.ID()) {
		t.Fatalf("server without the KEK: %v, want a refusal naming KEK %s", err, kek.ID())
	}
	other := newKEK(t)
	if _, err := newServer(t, st, other); err == nil || !strings.Contains(err.Error(), kek.ID()) {
		t.Fatalf("server with another KEK: %v, want a refusal", err)
	}
	if _, err := newServer(t, st, kek); err != nil {
		t.Fatalf("server with the right KEK: %v", err)
	}
}

// AUD-12: a sealed key is bound to its row: moved under another key id (or
// relabelled with another algorithm) it no longer opens.
func TestAUD12_SealedKeyBoundToItsID(t *testing.T) {
	st := openSQLite(t)
	kek := newKEK(t)
	if _, err := newServer(t, st, kek); err != nil {
		t.Fatal(err)
	}
	k := signingKeys(t, st)[0]
	moved := &store.SigningKey{ID: "moved-" + k.ID, Algorithm: k.Algorithm, PrivateKey: k.PrivateKey, CreatedAt: k.CreatedAt.Add(1)}
	if err := st.CreateSigningKey(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	if _, err := newServer(t, st, kek); err == nil || !strings.Contains(err.Error(), "cannot decrypt") {
		t.Fatalf("a sealed key copied under another id opened: %v", err)
	}
}

// AUD-12 migration: plaintext PKCS#8 keys written before keys were sealed
// are sealed with the KEK on the first start that has one; the key itself
// (kid, public key) does not change.
func TestAUD12_PlaintextKeysSealedOnFirstStart(t *testing.T) {
	st := openSQLite(t)
	if _, err := newServer(t, st); err != nil { // an older, KEK-less IdP
		t.Fatal(err)
	}
	before := signingKeys(t, st)[0]
	if _, err := x509.ParsePKCS8PrivateKey(before.PrivateKey); err != nil {
		t.Fatalf("setup: the KEK-less key should be plain PKCS#8: %v", err)
	}
	kek := newKEK(t)
	if _, err := newServer(t, st, kek); err != nil {
		t.Fatal(err)
	}
	after := signingKeys(t, st)
	if len(after) != 1 || after[0].ID != before.ID {
		t.Fatalf("keys after migration: %d, want the same one key %s", len(after), before.ID)
	}
	if _, err := x509.ParsePKCS8PrivateKey(after[0].PrivateKey); err == nil {
		t.Fatal("the plaintext key was not sealed on the first start with a KEK")
	}
	if _, err := newServer(t, st); err == nil {
		t.Fatal("after the migration a KEK-less server still opens the key")
	}
}

// AUD-12: rotating the key-encryption key (RewrapSigningKeys with the new
// KEK first and the old one to open) re-seals the same signing keys, so
// tokens issued before keep verifying at a server that has only the new
// KEK; the old KEK no longer opens anything. A wrong KEK changes nothing.
func TestAUD12_KEKRotationKeepsTokensVerifiable(t *testing.T) {
	ctx := context.Background()
	oldKEK, newK := newKEK(t), newKEK(t)
	f := newFixture(t, idptest.AppOptions{}, idp.Config{KEKs: []*idp.KEK{oldKEK}})
	access, _ := f.mustLogin()
	st := f.idp.Store

	// A KEK that sealed nothing opens nothing and changes nothing.
	before := signingKeys(t, st)
	if _, err := idp.RewrapSigningKeys(ctx, idp.SigningKeysConfig{Store: st, KEKs: []*idp.KEK{newK}}); err == nil {
		t.Fatal("rewrap without the KEK that sealed the keys succeeded")
	}
	if after := signingKeys(t, st); !bytes.Equal(after[0].PrivateKey, before[0].PrivateKey) {
		t.Fatal("a failed rewrap changed the stored key")
	}

	n, err := idp.RewrapSigningKeys(ctx, idp.SigningKeysConfig{Store: st, KEKs: []*idp.KEK{newK, oldKEK}})
	if err != nil || n != 1 {
		t.Fatalf("rewrap: %d keys, %v; want 1", n, err)
	}
	if _, err := newServer(t, st, oldKEK); err == nil || !strings.Contains(err.Error(), newK.ID()) {
		t.Fatalf("the old KEK still opens the keys after rotation: %v", err)
	}
	srv, err := newServerAt(t, f.idp.URL, st, newK)
	if err != nil {
		t.Fatalf("server with the new KEK: %v", err)
	}
	if code := validate(t, srv, access); code != http.StatusOK {
		t.Fatalf("a token issued before the KEK rotation: validate %d, want 200", code)
	}
	if got := signingKeys(t, st); len(got) != 1 || got[0].ID != before[0].ID {
		t.Fatal("the KEK rotation changed the signing keys")
	}
	// Nothing left to re-seal.
	if n, err := idp.RewrapSigningKeys(ctx, idp.SigningKeysConfig{Store: st, KEKs: []*idp.KEK{newK}}); err != nil || n != 0 {
		t.Fatalf("second rewrap: %d, %v; want 0", n, err)
	}
}

// AUD-12: the KEK file format (base64 of 32 bytes) and the demo's
// create-once helper (0600, reused).
func TestAUD12_KEKFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	k1, created, err := idp.LoadOrCreateKEKFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := idp.LoadOrCreateKEKFile(path)
	if err != nil || created || k2.ID() != k1.ID() {
		t.Fatalf("reuse: created=%v id %s vs %s, %v", created, k2.ID(), k1.ID(), err)
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ=", strings.Repeat("A", 60)} {
		if _, err := idp.ParseKEK(bad); err == nil {
			t.Errorf("ParseKEK(%q) accepted", bad)
		}
	}
	text := "  AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	a, err := idp.ParseKEK(text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := idp.ParseKEK("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8") // unpadded
	if err != nil || a.ID() != b.ID() || len(a.ID()) != 16 {
		t.Fatalf("ids %q %q, %v", a.ID(), b.ID(), err)
	}
}

// AUD-14 / issue 10: the admin core stands on a store alone: it creates
// users and applications, and its revocations reach the event sink, with
// no signing key created.
func TestAUD14_AdminWithoutServer(t *testing.T) {
	ctx := context.Background()
	if _, err := idp.NewAdmin(idp.AdminConfig{}); err == nil {
		t.Fatal("NewAdmin without a store accepted")
	}
	st := openSQLite(t)
	events := &sink{}
	adm, err := idp.NewAdmin(idp.AdminConfig{Store: st, Events: events, Logger: slog.New(slog.DiscardHandler),
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := adm.CreateApplication(ctx, idp.ApplicationSpec{Name: "Store"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := adm.CreateUser(ctx, idp.UserSpec{Email: "ann@example.com", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.Register(ctx, u.ID, app.ID, nil); err != nil {
		t.Fatal(err)
	}
	if err := adm.SetPassword(ctx, u.ID, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(events.Types(), ","); !strings.Contains(got, webhook.EventUserPasswordUpdate) {
		t.Fatalf("events %q, want %s", got, webhook.EventUserPasswordUpdate)
	}
	if keys := signingKeys(t, st); len(keys) != 0 {
		t.Fatalf("the admin core created %d signing key(s)", len(keys))
	}
}
