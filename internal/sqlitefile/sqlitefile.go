// Package sqlitefile creates SQLite database files readable by their owner
// only (AUD-12). SQLite creates a missing database file 0644 minus the
// umask and gives its -wal and -shm files the database file's mode, so
// creating the database file 0600 before the driver opens it makes all
// three 0600 whatever the umask.
package sqlitefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Mode is the permission of every SQLite file the project creates.
const Mode fs.FileMode = 0o600

// Create creates path as an empty file with Mode when it does not exist.
// An existing file is left as it is (an operator may have chosen its mode).
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, Mode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	// Chmod: the umask may have cleared bits of Mode (e.g. umask 0200).
	err = f.Chmod(Mode)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return nil
}
