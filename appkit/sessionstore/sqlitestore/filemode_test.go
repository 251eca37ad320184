//go:build unix

package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/sqlitefile/sqlitefiletest"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
)

// AUD-12: the session database holds access tokens; it and its -wal and
// -shm files are created 0600, not 0644, under the usual umask 022.
func TestAUD12_DatabaseFilesAre0600(t *testing.T) {
	sqlitefiletest.UsualUmask(t)
	path := filepath.Join(t.TempDir(), "sessions.db")
	s := open(t, path, Config{CleanupInterval: time.Hour})
	defer s.Close()
	now := time.Now()
	sess := &sessionstore.Session{Key: "k", UserID: "u", CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(time.Hour), AbsoluteExpiry: now.Add(time.Hour)}
	if err := s.Put(context.Background(), sess); err != nil { // a first write
		t.Fatal(err)
	}
	sqlitefiletest.CheckModes(t, path)
}
