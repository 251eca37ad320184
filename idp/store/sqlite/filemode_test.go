//go:build unix

package sqlite

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// AUD-12: the IdP database holds password hashes and sealed signing keys;
// it and its -wal and -shm files are created 0600, not 0644, under the
// usual umask 022.
func TestAUD12_DatabaseFilesAre0600(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "idp.db")
	s := openAt(t, path)
	seed(t, s) // a first write: the WAL and shared-memory files exist now
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
