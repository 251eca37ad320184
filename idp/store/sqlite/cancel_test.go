package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// TestCancelledRequestChangesNothing: the store's statements follow the
// caller's context (issue 10 removed the detached "hot" path, which
// BenchmarkCancel showed was not worth it), so a refresh whose client went
// away neither rotates the family nor records a login.
func TestCancelledRequestChangesNothing(t *testing.T) {
	s := openTemp(t)
	u, _, rt := seed(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if _, err := s.GetRefreshTokenByHash(ctx, rt.TokenHash); !errors.Is(err, context.Canceled) {
		t.Errorf("GetRefreshTokenByHash with a cancelled context: err = %v, want context.Canceled", err)
	}
	now := time.Now()
	err := s.RotateRefreshToken(ctx, store.RotateParams{
		FamilyID: rt.ID, OldHash: rt.TokenHash, NewHash: digest("next"),
		Now: now, StartAt: now, ExpiresAt: now.Add(time.Hour),
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RotateRefreshToken with a cancelled context: err = %v, want context.Canceled", err)
	}
	if got, err := s.GetRefreshTokenByHash(context.Background(), rt.TokenHash); err != nil || got.ID != rt.ID {
		t.Errorf("family after a cancelled rotation: %v, %v; want it under its old hash", got, err)
	}
	if _, err := s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: now}); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordLogin with a cancelled context: err = %v, want context.Canceled", err)
	}
}
