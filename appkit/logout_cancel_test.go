package appkit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore"
	"github.com/gatehouse-auth/gatehouse/appkit/sessionstore/memstore"
)

// ctxStore refuses calls on a cancelled context, as the SQL and Redis
// stores do.
type ctxStore struct{ sessionstore.Store }

func (s ctxStore) Get(ctx context.Context, key string) (*sessionstore.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.Get(ctx, key)
}

func (s ctxStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}

// APP-OUT-1: a logout whose request the browser has already given up on
// (context cancelled) still deletes the server session: otherwise a copied
// session cookie would outlive the user's "sign out".
func TestAPP_OUT_1_LogoutFinishesWhenTheRequestIsCancelled(t *testing.T) {
	mem := memstore.New(memstore.Config{})
	t.Cleanup(func() { _ = mem.Close() })
	st := ctxStore{mem}
	k := unitKit(t, func(c *Config) { c.Store = st })
	id, key, err := newSessionID()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := mem.Put(context.Background(), &sessionstore.Session{Key: key, UserID: "u1", CreatedAt: now, LastSeen: now,
		ExpiresAt: now.Add(time.Hour), AbsoluteExpiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/logout", nil)
	r.AddCookie(&http.Cookie{Name: k.SessionCookieName(), Value: id})
	w := httptest.NewRecorder()
	k.LogoutHandler().ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("logout: %d", w.Code)
	}
	if _, err := mem.Get(context.Background(), key); !errors.Is(err, sessionstore.ErrNotFound) {
		t.Fatalf("session after a cancelled logout: %v, want ErrNotFound", err)
	}
}
