//go:build unix

package site

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/gatehouse-auth/gatehouse/internal/sqlitefile/sqlitefiletest"
)

// AUD-12: an app's database (carts, posts, webhook replay ids) and its
// -wal and -shm files are created 0600, not 0644, under the usual umask.
func TestAUD12_AppDatabaseFilesAre0600(t *testing.T) {
	sqlitefiletest.UsualUmask(t)
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := OpenDB(context.Background(), path, fstest.MapFS{"m/0001_t.sql": {Data: []byte(`CREATE TABLE t (x INTEGER)`)}}, "m")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO t VALUES (1)`); err != nil { // a first write
		t.Fatal(err)
	}
	sqlitefiletest.CheckModes(t, path)
}
