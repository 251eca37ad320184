//go:build unix

// Package sqlitefiletest holds the file-mode check every SQLite database
// of the project passes (AUD-12): the database and its -wal and -shm
// files are 0600 under the usual umask.
package sqlitefiletest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// UsualUmask sets the process umask to 022, under which a default
// os.Create gives 0644, and restores the old one when the test ends. The
// umask is process-wide: tests calling it must not run in parallel.
func UsualUmask(t testing.TB) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
}

// CheckModes fails t for each of the database at path, its -wal and its
// -shm file that is missing or not 0600. Write to the database first:
// SQLite creates the -wal and -shm files on the first write.
func CheckModes(t testing.TB, path string) {
	t.Helper()
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
