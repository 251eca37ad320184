package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
)

// TestAUD1_UserUnlockCommand: `gatehouse user unlock --email` clears an
// account's hard stop (and its device counters) without touching anything
// else; an unknown user is an error.
func TestAUD1_UserUnlockCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "idp.db")
	if _, err := runCLI(t, db, "user", "create", "--email", "ann@example.com", "--password", "ann's long passphrase"); err != nil {
		t.Fatalf("user create: %v", err)
	}
	ctx := context.Background()
	withStore := func(f func(st *sqlite.Store, userID string)) {
		t.Helper()
		st, err := sqlite.Open(ctx, sqlite.Config{Path: db, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.GetUserByLogin(ctx, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		f(st, u.ID)
	}
	withStore(func(st *sqlite.Store, id string) {
		for range 100 {
			if _, err := st.RecordLoginFailure(ctx, id, "", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.RecordLoginFailure(ctx, id, "some-device", time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := runCLI(t, db, "user", "unlock", "--email", "ann@example.com"); err != nil {
		t.Fatalf("user unlock: %v", err)
	}
	withStore(func(st *sqlite.Store, id string) {
		for _, dev := range []string{"", "some-device"} {
			f, err := st.GetLoginFailures(ctx, id, dev)
			if err != nil || f.Count != 0 {
				t.Fatalf("counter %q after unlock: %+v %v", dev, f, err)
			}
		}
	})
	if _, err := runCLI(t, db, "user", "unlock", "--email", "nobody@example.com"); err == nil {
		t.Fatal("unlock of an unknown user succeeded")
	}
}
