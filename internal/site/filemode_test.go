//go:build unix

package site

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/fstest"
)

// AUD-12: an app's database (carts, posts, webhook replay ids) and its
// -wal and -shm files are created 0600, not 0644, under the usual umask.
func TestAUD12_AppDatabaseFilesAre0600(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "app.db")
	db, err := OpenDB(context.Background(), path, fstest.MapFS{"m/0001_t.sql": {Data: []byte(`CREATE TABLE t (x INTEGER)`)}}, "m")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO t VALUES (1)`); err != nil { // a first write
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
}
