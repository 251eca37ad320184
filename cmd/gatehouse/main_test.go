package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs one command in-process against a database file.
func runCLI(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	return runCLIEnv(t, map[string]string{"GATEHOUSE_DB": db}, args...)
}

// runCLIEnv runs one command in-process with the given environment.
func runCLIEnv(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }}
	err := run(context.Background(), env, args)
	return out.String(), err
}

// The admin commands work on the IdP database: application, user,
// registration, API key and key rotation, and they refuse bad input.
func TestAdminCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "idp.db")
	out, err := runCLI(t, db, "application", "create", "--name", "Store", "--roles", "buyer")
	if err != nil {
		t.Fatalf("application create: %v", err)
	}
	var app map[string]string
	if err := json.Unmarshal([]byte(out), &app); err != nil || app["id"] == "" || len(app["secret"]) < 43 {
		t.Fatalf("application create output %q", out)
	}
	if _, err = runCLI(t, db, "user", "create", "--email", "ann@example.com", "--password", "ann's long passphrase", "--app", app["id"], "--roles", "buyer"); err != nil {
		t.Fatalf("user create: %v", err)
	}
	if _, err := runCLI(t, db, "user", "create", "--email", "bo@example.com", "--password", "short"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("short password accepted: %v", err)
	}
	if out, _ = runCLI(t, db, "user", "list"); !strings.Contains(out, "ann@example.com") {
		t.Fatalf("user list: %q", out)
	}
	if out, _ = runCLI(t, db, "application", "list"); !strings.Contains(out, "Store") {
		t.Fatalf("application list: %q", out)
	}
	if out, err = runCLI(t, db, "apikey", "create", "--description", "ci"); err != nil || !strings.Contains(out, `"key"`) {
		t.Fatalf("apikey create: %q %v", out, err)
	}
	if out, err = runCLI(t, db, "key", "rotate", "--alg", "EdDSA", "--kek-file", writeKEK(t)); err != nil || !strings.Contains(out, "kid") {
		t.Fatalf("key rotate: %q %v", out, err)
	}
	if _, err := runCLI(t, db, "user", "password", "--email", "ann@example.com", "--password", "a new long passphrase"); err != nil {
		t.Fatalf("user password: %v", err)
	}
	if _, err := runCLI(t, db, "nonsense"); err == nil {
		t.Fatal("unknown command accepted")
	}
	if _, err := runCLI(t, db, "user", "explode"); err == nil {
		t.Fatal("unknown subcommand accepted")
	}
}

// application create --base-url stores the app's public base URL (the
// account mails' links) and refuses one that is not https or loopback http.
func TestApplicationCreateBaseURL(t *testing.T) {
	db := filepath.Join(t.TempDir(), "idp.db")
	out, err := runCLI(t, db, "application", "create", "--name", "Shop", "--base-url", "https://shop.example.com")
	if err != nil {
		t.Fatalf("application create --base-url: %v", err)
	}
	var app map[string]string
	if err := json.Unmarshal([]byte(out), &app); err != nil || app["id"] == "" {
		t.Fatalf("application create output %q", out)
	}
	st := openDB(t, db)
	a, err := st.GetApplication(context.Background(), app["id"])
	if err != nil {
		t.Fatal(err)
	}
	if a.Config.BaseURL != "https://shop.example.com" || len(a.Config.EnabledGrants) == 0 {
		t.Fatalf("stored config %+v, want the base URL and the default grants", a.Config)
	}
	if _, err := runCLI(t, db, "application", "create", "--name", "Bad", "--base-url", "http://shop.example.com"); err == nil {
		t.Fatal("plain-http base URL off loopback accepted")
	}
}
