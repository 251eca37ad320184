package demo

import (
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"

	idpstore "github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idpclient"
)

// TestAUD13_OldSuperAppKeyIsNarrowedAtStart: a demo directory from before
// API-key permissions holds app keys that are super keys; the next start
// narrows them to what the apps call (idpclient.APIKeyPermissions) and keeps the
// key strings the apps hold. The operator's key stays a super key.
func TestAUD13_OldSuperAppKeyIsNarrowedAtStart(t *testing.T) {
	dir := t.TempDir()
	d := startTest(t, dir)
	storeKey, adminKey := d.StoreConfig.APIKey, d.Info.APIKey
	stop(t, d)

	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "idp.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	k, err := st.GetAPIKeyByHash(ctx, sha(storeKey))
	if err != nil || len(k.Permissions.Endpoints) == 0 {
		t.Fatalf("store key after a fresh start: %+v %v", k, err)
	}
	// Make it what an older demo stored: a super key.
	if err := st.DeleteAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	k.Permissions = idpstore.APIKeyPermissions{}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	st.Close()

	d = startTest(t, dir)
	defer stop(t, d)
	if d.StoreConfig.APIKey != storeKey {
		t.Fatal("the store's key changed")
	}
	k, err = d.IdPStore.GetAPIKeyByHash(ctx, sha(storeKey))
	if err != nil || !reflect.DeepEqual(k.Permissions.Endpoints, idpclient.APIKeyPermissions()) {
		t.Fatalf("store key after restart: %+v %v", k, err)
	}
	if a, err := d.IdPStore.GetAPIKeyByHash(ctx, sha(adminKey)); err != nil || len(a.Permissions.Endpoints) != 0 {
		t.Fatalf("operator key: %+v %v", a, err)
	}
}
