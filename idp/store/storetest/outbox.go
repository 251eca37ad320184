package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// The transactional outbox (AUD-8): messages commit with the deletion
// they announce, claims are exclusive, and leases end.

func newMsg(appID string, created time.Time) *store.OutboxMessage {
	return &store.OutboxMessage{ID: uuid.NewString(), ApplicationID: appID, Payload: []byte(`{"event":{"id":"x"}}`), CreatedAt: created}
}

// notifyInto returns a Notify that records the family ids it is called
// with, checks they belong to userID, and returns msgs.
func notifyInto(t *testing.T, userID string, got *[]string, msgs ...*store.OutboxMessage) store.Notify {
	return func(deleted []store.DeletedFamily) ([]*store.OutboxMessage, error) {
		for _, f := range deleted {
			if f.UserID != userID {
				t.Errorf("deleted family %s: user %q, want %q", f.ID, f.UserID, userID)
			}
			*got = append(*got, f.ID)
		}
		return msgs, nil
	}
}

func claimAll(t *testing.T, s store.Store, now time.Time) []*store.OutboxMessage {
	t.Helper()
	msgs, err := s.ClaimOutbox(t.Context(), now, time.Minute, 1000)
	noErr(t, "ClaimOutbox", err)
	return msgs
}

func testOutboxRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	m1, m2 := newMsg("app-1", at(0)), newMsg("", at(1))
	m2.Payload = []byte{0, 1, 2, 0xff}
	noErr(t, "EnqueueOutbox", s.EnqueueOutbox(ctx, []*store.OutboxMessage{m2, m1}))
	wantErr(t, "EnqueueOutbox duplicate", s.EnqueueOutbox(ctx, []*store.OutboxMessage{newMsg("", at(2)), m1}), store.ErrDuplicate)
	countIs := func(step string, want int) {
		t.Helper()
		if n, err := s.CountOutbox(ctx); err != nil || n != want {
			t.Fatalf("CountOutbox %s = %d, %v; want %d", step, n, err, want)
		}
	}
	countIs("after enqueue", 2)
	got := claimAll(t, s, at(10))
	countIs("after claim (leased messages still wait)", 2)
	if len(got) != 2 || got[0].ID != m1.ID || got[1].ID != m2.ID {
		t.Fatalf("claim: got %d messages (want m1, m2 oldest first)", len(got))
	}
	if got[0].Claim == "" || got[0].Attempts != 0 || len(got[0].Done) != 0 {
		t.Fatalf("claimed message: claim %q attempts %d done %v", got[0].Claim, got[0].Attempts, got[0].Done)
	}
	same(t, "payload", m2.Payload, got[1].Payload)
	same(t, "applicationId", "app-1", got[0].ApplicationID)
	if !got[0].CreatedAt.Equal(m1.CreatedAt) {
		t.Fatalf("createdAt %v, want %v", got[0].CreatedAt, m1.CreatedAt)
	}
	// Leased: not claimable again inside the lease.
	if again := claimAll(t, s, at(20)); len(again) != 0 {
		t.Fatalf("claimed %d leased messages", len(again))
	}
	// Release with progress: available at the given time, with attempts
	// and done kept.
	r := got[0]
	r.Attempts, r.Done = 1, []string{"t1"}
	noErr(t, "ReleaseOutbox", s.ReleaseOutbox(ctx, r, at(30)))
	if early := claimAll(t, s, at(29)); len(early) != 0 {
		t.Fatalf("released message claimed before its time")
	}
	back := claimAll(t, s, at(30))
	if len(back) != 1 || back[0].ID != m1.ID || back[0].Attempts != 1 || len(back[0].Done) != 1 || back[0].Done[0] != "t1" {
		t.Fatalf("after release: %+v", back)
	}
	if back[0].Claim == r.Claim {
		t.Fatal("a new claim reused the old claim token")
	}
	// Complete deletes; a second complete finds nothing.
	noErr(t, "CompleteOutbox", s.CompleteOutbox(ctx, back[0].ID, back[0].Claim))
	countIs("after complete", 1)
	wantErr(t, "CompleteOutbox twice", s.CompleteOutbox(ctx, back[0].ID, back[0].Claim), store.ErrNotFound)
	wantErr(t, "ReleaseOutbox gone", s.ReleaseOutbox(ctx, back[0], at(40)), store.ErrNotFound)
	if n, err := s.ClaimOutbox(ctx, at(3600), time.Minute, 0); err != nil || len(n) != 0 {
		t.Fatalf("limit 0: %d, %v", len(n), err)
	}
}

// A lease that ends gives the message back; the first claimer's claim is
// then stale and can neither complete nor release it.
func testOutboxLeaseExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := newMsg("", at(0))
	noErr(t, "EnqueueOutbox", s.EnqueueOutbox(ctx, []*store.OutboxMessage{m}))
	first, err := s.ClaimOutbox(ctx, at(1), 30*time.Second, 10)
	noErr(t, "ClaimOutbox", err)
	if len(first) != 1 {
		t.Fatalf("first claim: %d", len(first))
	}
	if got := claimAll(t, s, at(30)); len(got) != 0 {
		t.Fatal("claimed inside the lease")
	}
	second := claimAll(t, s, at(31)) // lease ended at 1+30
	if len(second) != 1 || second[0].ID != m.ID || second[0].Claim == first[0].Claim {
		t.Fatalf("after lease expiry: %+v", second)
	}
	wantErr(t, "stale CompleteOutbox", s.CompleteOutbox(ctx, m.ID, first[0].Claim), store.ErrConflict)
	wantErr(t, "stale ReleaseOutbox", s.ReleaseOutbox(ctx, first[0], at(32)), store.ErrConflict)
	noErr(t, "CompleteOutbox", s.CompleteOutbox(ctx, m.ID, second[0].Claim))
}

// Concurrent claimers never get the same message (PostgreSQL: FOR UPDATE
// SKIP LOCKED; SQLite: the single writer).
func testOutboxClaimExclusive(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 200
	var msgs []*store.OutboxMessage
	for i := range n {
		msgs = append(msgs, newMsg("", at(0).Add(time.Duration(i)*time.Millisecond)))
	}
	noErr(t, "EnqueueOutbox", s.EnqueueOutbox(ctx, msgs))
	var mu sync.Mutex
	seen := map[string]int{}
	errs := concurrently(8, func(int) error {
		for {
			got, err := s.ClaimOutbox(ctx, at(10), time.Minute, 7)
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			mu.Lock()
			for _, m := range got {
				seen[m.ID]++
			}
			mu.Unlock()
		}
	})
	for _, err := range errs {
		noErr(t, "concurrent ClaimOutbox", err)
	}
	if len(seen) != n {
		t.Fatalf("claimed %d distinct messages, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Fatalf("message %s claimed %d times", id, c)
		}
	}
}

// The deletion methods enqueue notify's messages in their transaction: the
// messages exist exactly when the families are gone, notify sees the ids
// deleted, and a notify error rolls the deletion back.
func testOutboxAtomicWithDeletion(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, a, rt := userAppToken(t, s)
	rt2 := createToken(t, s, newToken(u, a))
	rt3 := createToken(t, s, newToken(u, a))

	boom := errors.New("boom")
	failing := func([]store.DeletedFamily) ([]*store.OutboxMessage, error) { return nil, boom }
	if _, err := s.DeleteRefreshTokensByUser(ctx, u.ID, "", failing); !errors.Is(err, boom) {
		t.Fatalf("DeleteRefreshTokensByUser with failing notify: %v, want boom", err)
	}
	if err := s.DeleteRefreshToken(ctx, rt.ID, failing); !errors.Is(err, boom) {
		t.Fatalf("DeleteRefreshToken with failing notify: %v, want boom", err)
	}
	if _, err := s.DeleteRefreshTokensByApplication(ctx, a.ID, failing); !errors.Is(err, boom) {
		t.Fatalf("DeleteRefreshTokensByApplication with failing notify: %v, want boom", err)
	}
	list, err := s.ListRefreshTokens(ctx, u.ID)
	noErr(t, "ListRefreshTokens", err)
	if len(list) != 3 {
		t.Fatalf("a failing notify left %d of 3 families", len(list))
	}
	// A duplicate message id fails the insert: the deletion rolls back too.
	dup := newMsg("", at(0))
	noErr(t, "EnqueueOutbox", s.EnqueueOutbox(ctx, []*store.OutboxMessage{dup}))
	if err := s.DeleteRefreshToken(ctx, rt.ID, notifyInto(t, u.ID, new([]string), dup)); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("DeleteRefreshToken with a duplicate message: %v, want ErrDuplicate", err)
	}
	if _, err := s.GetRefreshToken(ctx, rt.ID); err != nil {
		t.Fatalf("family deleted although its message failed: %v", err)
	}
	m0 := claimAll(t, s, at(1))
	noErr(t, "CompleteOutbox", s.CompleteOutbox(ctx, m0[0].ID, m0[0].Claim))

	var ids []string
	one := newMsg(a.ID, at(1))
	noErr(t, "DeleteRefreshToken", s.DeleteRefreshToken(ctx, rt.ID, notifyInto(t, u.ID, &ids, one)))
	wantIDs(t, "notify ids (one)", []string{rt.ID}, ids)
	// A missing family: ErrNotFound and no notify.
	ids = nil
	wantErr(t, "DeleteRefreshToken missing", s.DeleteRefreshToken(ctx, rt.ID, notifyInto(t, u.ID, &ids, newMsg("", at(1)))), store.ErrNotFound)
	if len(ids) != 0 {
		t.Fatal("notify called for a family that was not there")
	}
	ids = nil
	two, three := newMsg("", at(2)), newMsg("", at(3))
	gone, err := s.DeleteRefreshTokensByUser(ctx, u.ID, a.ID, notifyInto(t, u.ID, &ids, two, three))
	noErr(t, "DeleteRefreshTokensByUser", err)
	wantIDs(t, "deleted", sorted([]string{rt2.ID, rt3.ID}), sorted(gone))
	wantIDs(t, "notify ids (user)", sorted([]string{rt2.ID, rt3.ID}), sorted(ids))
	// Nothing left to delete: notify still runs, with no ids.
	ids = []string{"sentinel"}
	four := newMsg("", at(4))
	_, err = s.DeleteRefreshTokensByApplication(ctx, a.ID, notifyInto(t, u.ID, &ids, four))
	noErr(t, "DeleteRefreshTokensByApplication", err)
	wantIDs(t, "notify ids (none)", []string{"sentinel"}, ids)

	got := claimAll(t, s, at(10))
	var gotIDs []string
	for _, m := range got {
		gotIDs = append(gotIDs, m.ID)
	}
	wantIDs(t, "outbox", []string{one.ID, two.ID, three.ID, four.ID}, gotIDs)
}
