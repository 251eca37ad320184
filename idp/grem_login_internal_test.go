package idp

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/password"
)

// cancellingHasher cancels the request (the browser went away) while its
// password is being checked, so the check ends with the context's error.
type cancellingHasher struct {
	*password.Hasher
	cancel context.CancelFunc
}

func (h *cancellingHasher) Verify(ctx context.Context, encoded, pw string) (bool, bool, error) {
	h.cancel()
	return h.Hasher.Verify(ctx, encoded, pw)
}

// AUD-1, IDP-BF-3: a login whose request is cancelled during the password
// check checked no guess, so it counts against nothing: not the account's
// consecutive failures, not the address's password bucket (burst 1 here,
// so one counted failure would throttle the address).
func TestAUD1_CancelledLoginCountsNothing(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "idp.db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &cancellingHasher{Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1})}
	srv, err := New(ctx, Config{Store: st, Issuer: "http://idp.test", Hasher: h,
		Logger: slog.New(slog.DiscardHandler), Throttle: ThrottlePolicy{Burst: 1, Every: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := srv.Admin().CreateApplication(ctx, ApplicationSpec{Name: "Store"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.Admin().CreateUser(ctx, UserSpec{Email: "ann@example.com", Password: "plum tractor whispers at dawn"})
	if err != nil {
		t.Fatal(err)
	}
	const ip = "198.51.100.9"
	for _, pw := range []string{"a wrong password of some length", "plum tractor whispers at dawn"} {
		rctx, cancel := context.WithCancel(ctx)
		h.cancel = cancel
		_, _, _, e := srv.checkPassword(rctx, loginAttempt{login: u.Email, pw: pw, ip: ip, app: app})
		cancel()
		if e == nil || e.Status != http.StatusInternalServerError {
			t.Errorf("cancelled login: %+v, want a server error (nobody reads it)", e)
		}
	}
	if !srv.pwLimit.allowed(ip) {
		t.Error("a cancelled login took a token from the address's password bucket")
	}
	if f, err := st.GetLoginFailures(ctx, u.ID, ""); err != nil || f.Count != 0 {
		t.Errorf("account failures after cancelled logins: %+v %v", f, err)
	}
}
