package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
	"github.com/gatehouse-auth/gatehouse/webhook"
)

// revokeAllByAPI is DELETE /api/jwt/refresh?userId= with the demo's API key.
func revokeAllByAPI(t *testing.T, e *env, userID string) {
	t.Helper()
	if st := e.adminAPI(t, http.MethodDelete, "/api/jwt/refresh?userId="+userID, ""); st != http.StatusOK {
		t.Fatalf("DELETE /api/jwt/refresh: %d", st)
	}
}

// AUD-8 (IDP-REV-1): a user with thousands of refresh-token families (a
// body of ~80 KB if listed in one event, over the apps' 64 KiB limit) is
// revoked: every app still learns it and ends the user's sessions.
func TestAUD8_LargeRevocationReachesEveryApp(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, id := e.user(0)
	b.login(e.info.Store, alice, "/shopping-cart")
	b.login(e.info.Forums, alice, "/posts")
	now := e.clock.Now()
	for _, app := range []string{e.info.Applications.Store.ID, e.info.Applications.Forums.ID} {
		for range 1000 {
			fid := uuid.NewString()
			h := sha256.Sum256([]byte(fid))
			if err := e.d.IdPStore.CreateRefreshToken(e.ctx, &store.RefreshToken{ID: fid, UserID: id, ApplicationID: app,
				TokenHash: h[:], CreatedAt: now, StartAt: now, ExpiresAt: now.Add(time.Hour), AuthTime: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	revokeAllByAPI(t, e, id)
	if !within(propagation-time.Since(start), func() bool { return len(e.storeSessions(id)) == 0 && len(e.forumSessions(id)) == 0 }) {
		t.Fatalf("after %v: %d store and %d forum sessions of a user with 2,001 families still live",
			propagation, len(e.storeSessions(id)), len(e.forumSessions(id)))
	}
	expectLogin(t, "store", b.get(e.store("/shopping-cart")), "/shopping-cart")
	if st := e.d.Webhooks.Stats(); st.GaveUp != 0 {
		t.Fatalf("deliveries given up: %+v", st)
	}
}

// AUD-8: a revocation committed while no sender delivers (the IdP went
// down right after it) is delivered when the IdP comes back: the event
// waits in the IdP's outbox, on disk, not in a process's memory.
func TestAUD8_PendingRevocationSurvivesIdPRestart(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, id := e.user(0)
	b.login(e.info.Store, alice, "/shopping-cart")
	b.login(e.info.Forums, alice, "/posts")
	// The sender is gone (as in a crash right after the commit): nothing
	// will deliver in this life.
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if err := e.d.Webhooks.Close(ctx); err != nil {
		t.Fatal(err)
	}
	revokeAllByAPI(t, e, id)
	time.Sleep(200 * time.Millisecond)
	if len(e.storeSessions(id)) != 1 || len(e.forumSessions(id)) != 1 {
		t.Fatal("setup: the revocation was delivered without a sender")
	}
	e.restart()
	if !within(5*time.Second, func() bool { return len(e.storeSessions(id)) == 0 && len(e.forumSessions(id)) == 0 }) {
		t.Fatalf("after restart: %d store and %d forum sessions still live", len(e.storeSessions(id)), len(e.forumSessions(id)))
	}
	expectLogin(t, "forums", b.get(e.forums("/posts")), "/posts")
}

// AUD-10: an attacker who captured a genuine delivery replays it after the
// app restarted, within the timestamp window, to sign the user out again:
// the app remembers the event id in its database and ignores the replay.
func TestAUD10_WebhookReplayAfterAppRestartIgnored(t *testing.T) {
	e := newEnv(t)
	b := e.browser("alice-laptop")
	alice, id := e.user(0)
	b.login(e.info.Store, alice, "/shopping-cart")

	// The captured delivery: a genuine, signed event the Store handled.
	body, _ := webhook.Marshal(webhook.Event{ID: uuid.NewString(), Type: webhook.EventUserDeactivate, UserID: id}.Normalize())
	ts, sig := webhook.Sign([]byte(e.d.StoreConfig.WebhookSecret), e.clock.Now(), body)
	deliver := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.store("/webhooks/gatehouse"), bytes.NewReader(body))
		req.Header.Set(webhook.HeaderTimestamp, ts)
		req.Header.Set(webhook.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := deliver(); code != http.StatusOK || len(e.storeSessions(id)) != 0 {
		t.Fatalf("genuine delivery: %d, %d sessions", code, len(e.storeSessions(id)))
	}

	e.restart()
	e.clock.Advance(time.Minute) // still inside the 5-minute window
	b.login(e.info.Store, alice, "/shopping-cart")
	code, msg := deliver()
	if code != http.StatusOK || len(e.storeSessions(id)) != 1 {
		t.Fatalf("replay after restart: %d %s; %d sessions (the replay signed the user out)", code, msg, len(e.storeSessions(id)))
	}
	if r := b.get(e.store("/shopping-cart")); r.Status != http.StatusOK {
		t.Fatalf("cart after the replay: %d", r.Status)
	}
}

// AUD-8: revoking every refresh token of one application (DELETE
// /api/jwt/refresh?applicationId=) ends every user's sessions in that app,
// and only in that app: the IdP announces it per user.
func TestAUD8_ApplicationWideRevocationEndsEveryUsersSessions(t *testing.T) {
	e := newEnv(t)
	alice, aliceID := e.user(0)
	bob, bobID := e.user(1)
	ba, bb := e.browser("alice"), e.browser("bob")
	ba.login(e.info.Store, alice, "/shopping-cart")
	ba.login(e.info.Forums, alice, "/posts")
	bb.login(e.info.Store, bob, "/shopping-cart")
	if st := e.adminAPI(t, http.MethodDelete, "/api/jwt/refresh?applicationId="+e.info.Applications.Store.ID, ""); st != http.StatusOK {
		t.Fatalf("DELETE /api/jwt/refresh?applicationId=: %d", st)
	}
	if !within(propagation, func() bool { return len(e.storeSessions(aliceID)) == 0 && len(e.storeSessions(bobID)) == 0 }) {
		t.Fatalf("store sessions still live: alice %d, bob %d", len(e.storeSessions(aliceID)), len(e.storeSessions(bobID)))
	}
	if len(e.forumSessions(aliceID)) != 1 {
		t.Fatal("the store's revocation ended a forum session")
	}
}
