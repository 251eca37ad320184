package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// TestAUD13_APIKeyCreateEndpointFlag: `gatehouse apikey create --endpoint
// /api/user:GET,POST --endpoint /api/jwt/refresh:DELETE` stores a scoped key
// (no --endpoint: a super key), lists its permissions, and refuses an
// endpoint no route answers.
func TestAUD13_APIKeyCreateEndpointFlag(t *testing.T) {
	db := filepath.Join(t.TempDir(), "idp.db")
	out, err := runCLI(t, db, "apikey", "create", "--description", "store app",
		"--endpoint", "/api/jwt/refresh:DELETE", "--endpoint", "/api/user:get,POST")
	if err != nil {
		t.Fatalf("apikey create: %v", err)
	}
	var got struct {
		ID          string
		Key         string
		Permissions struct{ Endpoints map[string][]string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Key == "" {
		t.Fatalf("output %q (%v)", out, err)
	}
	want := map[string]string{"/api/jwt/refresh": "DELETE", "/api/user": "GET,POST"}
	for ep, ms := range want {
		if strings.Join(got.Permissions.Endpoints[ep], ",") != ms {
			t.Errorf("endpoint %s = %v, want %s", ep, got.Permissions.Endpoints[ep], ms)
		}
	}
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := st.ListAPIKeys(context.Background())
	st.Close()
	if err != nil || len(keys) != 1 || len(keys[0].Permissions.Endpoints) != 2 {
		t.Fatalf("stored keys %+v (%v)", keys, err)
	}
	if out, _ = runCLI(t, db, "apikey", "list"); !strings.Contains(out, "/api/jwt/refresh:DELETE /api/user:GET,POST") {
		t.Errorf("apikey list: %q", out)
	}
	for _, bad := range []string{"/api/nope:GET", "/api/user", "/api/user:BREW", "/api/jwt/refresh:PUT"} {
		if _, err := runCLI(t, db, "apikey", "create", "--endpoint", bad); err == nil {
			t.Errorf("--endpoint %s accepted", bad)
		}
	}
	if out, err = runCLI(t, db, "apikey", "create", "--description", "operator"); err != nil || !strings.Contains(out, `"key"`) {
		t.Fatalf("super key: %q %v", out, err)
	}
	if out, _ = runCLI(t, db, "apikey", "list"); !strings.Contains(out, "super key") {
		t.Errorf("apikey list: %q", out)
	}
}

// TestAUD13_APIKeyCreateForApp: `gatehouse apikey create --app` stores a
// key limited to exactly idpclient.APIKeyPermissions(), the calls of an app
// built on the kit (not a super key).
func TestAUD13_APIKeyCreateForApp(t *testing.T) {
	db := filepath.Join(t.TempDir(), "idp.db")
	out, err := runCLI(t, db, "apikey", "create", "--description", "store", "--app")
	if err != nil {
		t.Fatalf("apikey create --app: %v", err)
	}
	var got struct {
		Permissions struct{ Endpoints map[string][]string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q (%v)", out, err)
	}
	want := idpclient.APIKeyPermissions()
	if len(want) == 0 || len(got.Permissions.Endpoints) != len(want) {
		t.Fatalf("permissions %v, want %v", got.Permissions.Endpoints, want)
	}
	for ep, ms := range want {
		g := append([]string(nil), got.Permissions.Endpoints[ep]...)
		w := append([]string(nil), ms...)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("endpoint %s = %v, want %v", ep, g, w)
		}
	}
}
