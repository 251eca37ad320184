//go:build unix

package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/sqlitefile/sqlitefiletest"
)

// AUD-12: the IdP database holds password hashes and sealed signing keys;
// it and its -wal and -shm files are created 0600, not 0644, under the
// usual umask 022.
func TestAUD12_DatabaseFilesAre0600(t *testing.T) {
	sqlitefiletest.UsualUmask(t)
	path := filepath.Join(t.TempDir(), "idp.db")
	s := openAt(t, path)
	seed(t, s) // a first write: the WAL and shared-memory files exist now
	sqlitefiletest.CheckModes(t, path)
}
