package webhooksender_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp"
	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/idp/store/sqlite"
	"github.com/gatehouse-auth/gatehouse/idp/webhooksender"
	"github.com/gatehouse-auth/gatehouse/internal/childproc"
	"github.com/gatehouse-auth/gatehouse/password"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// The kill test re-runs this test binary as an IdP process (internal/childproc).
func TestMain(m *testing.M) {
	childproc.Main(m, map[string]func() error{"webhook-idp": idpChild})
}

// idpChild is an IdP process with a sender: it revokes the users named in
// GATEHOUSE_CHILD_USERS (deactivation, then a password change), is ready
// ("revoked"), and runs until it is killed.
func idpChild() error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Config{Path: os.Getenv("GATEHOUSE_CHILD_DB")})
	if err != nil {
		return err
	}
	sender, err := webhooksender.New(webhooksender.Config{Store: st, Workers: 1, Batch: 1,
		PollInterval: 10 * time.Millisecond, Timeout: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	srv, err := idp.New(ctx, idp.Config{Store: st, Issuer: "http://idp.test", Events: sender,
		Hasher: password.NewHasher(password.Params{Memory: 64, Time: 1}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	users := strings.Split(os.Getenv("GATEHOUSE_CHILD_USERS"), ",")
	if err := srv.Admin().SetActive(ctx, users[0], false); err != nil {
		return err
	}
	if err := srv.Admin().SetPassword(ctx, users[1], "another long enough passphrase"); err != nil {
		return err
	}
	childproc.Ready("revoked")
	select {}
}

// AUD-8: an IdP process killed with SIGKILL while a delivery is in flight
// (claimed, posted, not acknowledged) and another is still waiting loses
// neither: the next process on the same database delivers both (the
// claimed one once its lease ends) and every session of both users ends.
func TestAUD8_KilledIdPProcessLosesNoDelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "idp.db")
	ctx := context.Background()
	r := newRecv(t, testSecret, 0)
	inFlight, release := make(chan struct{}, 1), make(chan struct{})
	var first atomic.Bool
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if first.CompareAndSwap(false, true) {
			inFlight <- struct{}{}
			select { // the child dies holding it
			case <-req.Context().Done():
			case <-release:
			}
			return
		}
		r.srv.Config.Handler.ServeHTTP(w, req)
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs before hang.Close

	st := openStore(t, path)
	app := createApp(t, st, testSecret, hang.URL)
	now := time.Now()
	users := []string{uuid.NewString(), uuid.NewString()}
	for n, uid := range users {
		if err := st.CreateUser(ctx, &store.User{ID: uid, Email: fmt.Sprintf("k%d@example.com", n), Active: true, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			id := uuid.NewString()
			h := sha256.Sum256([]byte(id))
			if err := st.CreateRefreshToken(ctx, &store.RefreshToken{ID: id, UserID: uid, ApplicationID: app, TokenHash: h[:],
				CreatedAt: now, StartAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: now}); err != nil {
				t.Fatal(err)
			}
			r.sessions[id] = uid
		}
	}

	child := childproc.Start(t, "webhook-idp", "GATEHOUSE_CHILD_DB="+path, "GATEHOUSE_CHILD_USERS="+strings.Join(users, ","))
	if child.Info != "revoked" {
		t.Fatalf("child: %q", child.Info)
	}
	select {
	case <-inFlight:
	case <-time.After(20 * time.Second):
		t.Fatal("the child never posted the first event")
	}
	child.Kill() // SIGKILL: no Close, no release
	if got := r.hits.Load(); got != 0 {
		t.Fatalf("%d deliveries reached the app before the kill", got)
	}

	// The next process: its clock is past the dead one's lease.
	newSender(t, st, nil, func(c *webhooksender.Config) {
		c.Schedule = func() time.Time { return time.Now().Add(2 * time.Minute) }
	})
	eventually(t, "every session of both users to end", func() bool { return r.live() == 0 })
	eventually(t, "an empty outbox", func() bool { return outboxLen(t, st) == 0 })
	types := map[string]bool{}
	for _, e := range r.Events() {
		types[e.Type] = true
	}
	if !types[webhook.EventUserDeactivate] || !types[webhook.EventUserPasswordUpdate] {
		t.Fatalf("delivered %v", types)
	}
}
