//go:build unix

package demo

import (
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/sqlitefile/sqlitefiletest"

	"github.com/gatehouse-auth/gatehouse/idp"
)

// AUD-12: the demo creates its key-encryption key (DIR/kek, 0600) on the
// first start and reuses it on the next; the signing keys in idp.db are
// sealed with it; every database file in DIR, with its -wal and -shm, is
// 0600 under the usual umask 022.
func TestAUD12_DemoKEKAndFileModes(t *testing.T) {
	sqlitefiletest.UsualUmask(t)
	dir := t.TempDir()
	d := startTest(t, dir)
	kekPath := filepath.Join(dir, KEKFile)
	first, err := os.ReadFile(kekPath)
	if err != nil {
		t.Fatalf("the demo created no KEK file: %v", err)
	}
	var dbFiles []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		name := e.Name()
		if strings.Contains(name, ".db") {
			dbFiles = append(dbFiles, name)
		}
		if (strings.Contains(name, ".db") || name == KEKFile) && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	for _, want := range []string{"idp.db", "idp.db-wal", "idp.db-shm", "store.db", "store.db-wal", "forums.db"} {
		if !strings.Contains(" "+strings.Join(dbFiles, " ")+" ", " "+want+" ") {
			t.Errorf("%s missing from %v: the mode check did not see it", want, dbFiles)
		}
	}
	keys, err := d.IdPStore.ListSigningKeys(context.Background())
	if err != nil || len(keys) == 0 {
		t.Fatalf("signing keys: %d, %v", len(keys), err)
	}
	if _, err := x509.ParsePKCS8PrivateKey(keys[0].PrivateKey); err == nil {
		t.Fatal("the demo stores its signing key in plaintext")
	}
	stop(t, d)

	d = startTest(t, dir)
	defer stop(t, d)
	again, err := os.ReadFile(kekPath)
	if err != nil || string(again) != string(first) {
		t.Fatalf("the KEK file changed on restart (%v)", err)
	}
	kek, err := idp.LoadKEKFile(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(keys[0].PrivateKey), kek.ID()) {
		t.Fatal("the signing key is not sealed with DIR/kek")
	}
}
