package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// The writer connection leaves checkpoints to the background checkpointer
// (its own automatic checkpoint only at writerAutoCheckpoint pages, not
// SQLite's 1,000), and the checkpointer's connection can copy the whole
// WAL into the database file while the store is in use.
func TestCheckpointsLeaveTheWriter(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "idp.db")})
	if err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.w.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != writerAutoCheckpoint {
		t.Errorf("writer's wal_autocheckpoint = %d pages, want %d", pages, writerAutoCheckpoint)
	}
	for i := range 200 {
		u := &store.User{ID: fmt.Sprintf("u%03d", i), Email: fmt.Sprintf("u%03d@example.com", i), Active: true}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	frames, backfilled, err := s.checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if frames != backfilled {
		t.Errorf("checkpoint copied %d of %d WAL frames", backfilled, frames)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("checkpointer still running after Close")
	}
	_ = s.Close() // a second Close must not panic (stop is closed once)
}
