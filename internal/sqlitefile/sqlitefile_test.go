//go:build unix

package sqlitefile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// AUD-12: the file is 0600 whatever the umask, and an existing file is
// neither truncated nor re-moded.
func TestAUD12_CreateIs0600WhateverTheUmask(t *testing.T) {
	dir := t.TempDir()
	for i, mask := range []int{0, 0o022, 0o277} {
		old := syscall.Umask(mask)
		path := filepath.Join(dir, "db"+string(rune('a'+i)))
		err := Create(path)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != Mode {
			t.Errorf("umask %03o: mode %v, want %v", mask, fi.Mode().Perm(), Mode)
		}
	}
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Create(existing); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "data" {
		t.Fatal("an existing database file was truncated")
	}
}
