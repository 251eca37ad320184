package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
)

// writeKEK writes a new key-encryption key file and returns its path.
func writeKEK(t *testing.T) string {
	t.Helper()
	_, text, err := idp.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(path, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func openDB(t *testing.T, db string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func listSigningKeys(t *testing.T, db string) []*store.SigningKey {
	t.Helper()
	st := openDB(t, db)
	keys, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return keys
}

// AUD-14 / issue 10: admin commands build the admin core only, never an
// idp.Server: on a fresh database they create no signing key, so the first
// `gatehouse idp --alg RS256` afterwards signs with RS256 (it used to keep
// the ES256 key `user list` had created).
func TestAUD14_AdminCommandsCreateNoSigningKey(t *testing.T) {
	db := filepath.Join(t.TempDir(), "idp.db")
	_, err := runCLI(t, db, "user", "list")
	if err != nil {
		t.Fatalf("user list: %v", err)
	}
	if keys := listSigningKeys(t, db); len(keys) != 0 {
		t.Fatalf("user list on a fresh database created %d signing key(s)", len(keys))
	}
	out, err := runCLI(t, db, "application", "create", "--name", "Store")
	if err != nil {
		t.Fatalf("application create: %v", err)
	}
	var app map[string]string
	if err := json.Unmarshal([]byte(out), &app); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"user", "create", "--email", "ann@example.com", "--password", "ann's long passphrase", "--app", app["id"]},
		{"user", "password", "--email", "ann@example.com", "--password", "ann's newer passphrase"},
		{"user", "deactivate", "--email", "ann@example.com"},
		{"apikey", "create", "--description", "ci"},
		{"apikey", "list"},
		{"application", "list"},
	} {
		if _, err := runCLI(t, db, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if keys := listSigningKeys(t, db); len(keys) != 0 {
		t.Fatalf("admin commands created %d signing key(s)", len(keys))
	}

	// The identity server configured for RS256 (as `gatehouse idp --alg
	// RS256` configures it) then signs with RS256.
	st := openDB(t, db)
	var ifl idpFlags
	ifl.alg = idp.AlgRS256
	cfg := ifl.config(st, "http://idp.test", slog.New(slog.DiscardHandler))
	kek, err := idp.LoadKEKFile(writeKEK(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.KEKs = []*idp.KEK{kek}
	srv, err := idp.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var jwks struct {
		Keys []struct {
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &jwks); err != nil {
		t.Fatal(err)
	}
	if len(jwks.Keys) != 1 || jwks.Keys[0].Alg != idp.AlgRS256 {
		t.Fatalf("published keys %+v, want one RS256 key", jwks.Keys)
	}
}

// AUD-12: `gatehouse idp` refuses to start without a key-encryption key,
// and with an unreadable one.
func TestAUD12_IdPCommandRequiresKEK(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the command must fail before it would serve
	dir := t.TempDir()
	for _, c := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{}, "--kek-file"},
		{map[string]string{"GATEHOUSE_KEK_FILE": filepath.Join(dir, "missing")}, "no such file"},
		{map[string]string{"GATEHOUSE_KEK_FILE": filepath.Join(dir, "db")}, "base64"},
	} {
		c.vars["GATEHOUSE_DB"] = filepath.Join(dir, "idp.db")
		c.vars["GATEHOUSE_ADDR"] = "127.0.0.1:0"
		_ = os.WriteFile(filepath.Join(dir, "db"), []byte("not a key"), 0o600)
		var out strings.Builder
		env := &cliEnv{stdout: &out, stderr: &out, getenv: func(k string) string { return c.vars[k] }}
		if err := run(ctx, env, []string{"idp"}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("idp with %v: %v, want an error mentioning %q", c.vars, err, c.want)
		}
	}
}

// AUD-12: `gatehouse key rewrap` rotates the key-encryption key: after it,
// the keys open with the new KEK only, and `key rotate` with the old one
// is refused.
func TestAUD12_KeyRewrapCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "idp.db")
	oldKEK, newKEK := writeKEK(t), writeKEK(t)
	if _, err := runCLI(t, db, "key", "rotate", "--kek-file", oldKEK); err != nil {
		t.Fatalf("key rotate: %v", err)
	}
	if _, err := runCLI(t, db, "key", "rotate"); err == nil || !strings.Contains(err.Error(), "--kek-file") {
		t.Fatalf("key rotate without a KEK: %v", err)
	}
	if _, err := runCLI(t, db, "key", "rewrap", "--kek-file", newKEK); err == nil {
		t.Fatal("rewrap without the old KEK succeeded")
	}
	out, err := runCLI(t, db, "key", "rewrap", "--old-kek-file", oldKEK, "--kek-file", newKEK)
	if err != nil {
		t.Fatalf("key rewrap: %v", err)
	}
	var res struct {
		Rewrapped int `json:"rewrapped"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Rewrapped != 1 {
		t.Fatalf("key rewrap output %q (%v), want 1 key rewrapped", out, err)
	}
	if _, err := runCLI(t, db, "key", "rotate", "--kek-file", oldKEK); err == nil {
		t.Fatal("the old KEK still opens the keys after rewrap")
	}
	if _, err := runCLI(t, db, "key", "rotate", "--kek-file", newKEK, "--alg", "EdDSA"); err != nil {
		t.Fatalf("key rotate with the new KEK: %v", err)
	}
	if keys := listSigningKeys(t, db); len(keys) != 2 {
		t.Fatalf("%d keys, want 2", len(keys))
	}
}
