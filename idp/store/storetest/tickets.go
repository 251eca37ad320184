package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

// newTicket returns a live ticket (created at(0), expiring at(900)) of u.
func newTicket(u *store.User, kind string) *store.Ticket {
	return &store.Ticket{
		Hash:      digest("ticket-" + uuid.NewString()),
		Kind:      kind,
		UserID:    u.ID,
		CreatedAt: at(0),
		ExpiresAt: at(900),
	}
}

func createTicket(t *testing.T, s store.Store, tk *store.Ticket) *store.Ticket {
	t.Helper()
	if err := s.CreateTicket(t.Context(), tk); err != nil {
		t.Fatalf("CreateTicket(%s): %v", tk.Kind, err)
	}
	return tk
}

// testTicketRoundTrip: every field comes back, Data absent stays absent
// and present Data compares by meaning; GetTicket does not use it up.
func testTicketRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	full := &store.Ticket{
		Hash:          digest("full"),
		Kind:          store.TicketEmailChange,
		UserID:        u.ID,
		ApplicationID: a.ID,
		Data:          json.RawMessage(`{"email": "new@example.com", "n": [1, 2.5]}`),
		Attempts:      2,
		CreatedAt:     at(-60),
		ExpiresAt:     at(86400),
	}
	bare := &store.Ticket{Hash: digest("bare"), Kind: store.TicketPasswordReset, UserID: u.ID,
		CreatedAt: at(0), ExpiresAt: at(900)}
	for _, tk := range []*store.Ticket{full, bare} {
		createTicket(t, s, tk)
		for range 2 { // a Get twice: it does not use the ticket up
			got, err := s.GetTicket(ctx, tk.Kind, tk.Hash, at(1))
			noErr(t, "GetTicket("+tk.Kind+")", err)
			same(t, "GetTicket("+tk.Kind+")", tk, got)
		}
	}
	got, err := s.GetTicket(ctx, bare.Kind, bare.Hash, at(1))
	noErr(t, "GetTicket(bare)", err)
	if got.Data != nil {
		t.Errorf("GetTicket(bare).Data = %q, want nil", got.Data)
	}
	_, err = s.GetTicket(ctx, store.TicketPasswordReset, digest("unknown"), at(1))
	wantErr(t, "GetTicket(unknown)", err, store.ErrNotFound)
}

// testTicketDuplicate: a hash is unique across kinds and users; a ticket
// of an unknown user is refused.
func testTicketDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	v := createUser(t, s, newUser())
	tk := createTicket(t, s, newTicket(u, store.TicketVerifyEmail))
	dup := *tk
	wantErr(t, "CreateTicket(same hash)", s.CreateTicket(ctx, &dup), store.ErrDuplicate)
	other := newTicket(v, store.TicketTrust)
	other.Hash = tk.Hash
	wantErr(t, "CreateTicket(same hash, other kind and user)", s.CreateTicket(ctx, other), store.ErrDuplicate)
	ghost := newTicket(&store.User{ID: uuid.NewString()}, store.TicketVerifyEmail)
	wantErr(t, "CreateTicket(unknown user)", s.CreateTicket(ctx, ghost), store.ErrNotFound)
}

// testTicketKindNamespace: a ticket is found only under its own kind, so
// a verification id can never be spent as a reset id.
func testTicketKindNamespace(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	tk := createTicket(t, s, newTicket(u, store.TicketVerifyEmail))
	_, err := s.GetTicket(ctx, store.TicketPasswordReset, tk.Hash, at(1))
	wantErr(t, "GetTicket(other kind)", err, store.ErrNotFound)
	_, err = s.TakeTicket(ctx, store.TicketPasswordReset, tk.Hash, at(1))
	wantErr(t, "TakeTicket(other kind)", err, store.ErrNotFound)
	_, err = s.FailTicket(ctx, store.TicketPasswordReset, tk.Hash, at(1), 5)
	wantErr(t, "FailTicket(other kind)", err, store.ErrNotFound)
	got, err := s.GetTicket(ctx, store.TicketVerifyEmail, tk.Hash, at(1))
	noErr(t, "GetTicket(own kind, after other kinds' attempts)", err)
	same(t, "GetTicket(own kind)", tk, got)
}

// testTicketExpiryBoundary: live while ExpiresAt > now, dead at
// ExpiresAt == now for every operation, whether or not collected.
func testTicketExpiryBoundary(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	tk := createTicket(t, s, newTicket(u, store.TicketTwoFactor))
	end := tk.ExpiresAt
	_, err := s.GetTicket(ctx, tk.Kind, tk.Hash, end.Add(-time.Millisecond))
	noErr(t, "GetTicket(1ms before expiry)", err)
	_, err = s.GetTicket(ctx, tk.Kind, tk.Hash, end)
	wantErr(t, "GetTicket(at expiry)", err, store.ErrNotFound)
	_, err = s.TakeTicket(ctx, tk.Kind, tk.Hash, end)
	wantErr(t, "TakeTicket(at expiry)", err, store.ErrNotFound)
	_, err = s.FailTicket(ctx, tk.Kind, tk.Hash, end, 5)
	wantErr(t, "FailTicket(at expiry)", err, store.ErrNotFound)
	// None of the refused operations touched it: still live before expiry.
	got, err := s.TakeTicket(ctx, tk.Kind, tk.Hash, end.Add(-time.Millisecond))
	noErr(t, "TakeTicket(1ms before expiry)", err)
	same(t, "TakeTicket(1ms before expiry)", tk, got)
}

// testTicketTakeOnce: a ticket is single use.
func testTicketTakeOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	tk := newTicket(u, store.TicketPasswordReset)
	tk.Data = json.RawMessage(`{"k":"v"}`)
	createTicket(t, s, tk)
	got, err := s.TakeTicket(ctx, tk.Kind, tk.Hash, at(1))
	noErr(t, "TakeTicket", err)
	same(t, "TakeTicket", tk, got)
	_, err = s.TakeTicket(ctx, tk.Kind, tk.Hash, at(1))
	wantErr(t, "TakeTicket(again)", err, store.ErrNotFound)
	_, err = s.GetTicket(ctx, tk.Kind, tk.Hash, at(1))
	wantErr(t, "GetTicket(taken)", err, store.ErrNotFound)
}

// testTicketTakeConcurrent: of concurrent takers exactly one gets the
// ticket, the others ErrNotFound.
func testTicketTakeConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	tk := createTicket(t, s, newTicket(u, store.TicketPasswordReset))
	const n = 16
	errs := concurrently(n, func(int) error {
		_, err := s.TakeTicket(ctx, tk.Kind, tk.Hash, at(1))
		return err
	})
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("taker %d: %v, want nil or ErrNotFound", i, err)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent takers got the ticket, want exactly 1", wins, n)
	}
}

// testTicketFail: each failure is counted and visible; the one that
// reaches maxAttempts deletes the ticket; concurrent failures are all
// counted.
func testTicketFail(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	tk := createTicket(t, s, newTicket(u, store.TicketTwoFactor))
	for want := 1; want <= 4; want++ {
		n, err := s.FailTicket(ctx, tk.Kind, tk.Hash, at(1), 5)
		noErr(t, "FailTicket", err)
		if n != want {
			t.Errorf("FailTicket #%d: got count %d", want, n)
		}
		got, err := s.GetTicket(ctx, tk.Kind, tk.Hash, at(1))
		noErr(t, "GetTicket(after failure)", err)
		if got.Attempts != want {
			t.Errorf("Attempts after failure #%d: got %d", want, got.Attempts)
		}
	}
	n, err := s.FailTicket(ctx, tk.Kind, tk.Hash, at(1), 5)
	noErr(t, "FailTicket(5th)", err)
	if n != 5 {
		t.Errorf("FailTicket #5: got count %d, want 5", n)
	}
	_, err = s.GetTicket(ctx, tk.Kind, tk.Hash, at(1))
	wantErr(t, "GetTicket(after max failures)", err, store.ErrNotFound)
	_, err = s.FailTicket(ctx, tk.Kind, tk.Hash, at(1), 5)
	wantErr(t, "FailTicket(deleted)", err, store.ErrNotFound)
	_, err = s.FailTicket(ctx, tk.Kind, digest("unknown"), at(1), 5)
	wantErr(t, "FailTicket(unknown)", err, store.ErrNotFound)

	// 16 concurrent failures against a limit of 5: exactly five are
	// counted (1..5), the rest find no live ticket.
	c := createTicket(t, s, newTicket(u, store.TicketTwoFactor))
	counts := make([]int, 16)
	errs := concurrently(len(counts), func(i int) error {
		var err error
		counts[i], err = s.FailTicket(ctx, c.Kind, c.Hash, at(1), 5)
		return err
	})
	seen := map[int]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			if seen[counts[i]] {
				t.Errorf("count %d returned twice", counts[i])
			}
			seen[counts[i]] = true
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("concurrent FailTicket %d: %v", i, err)
		}
	}
	if len(seen) != 5 || !seen[1] || !seen[5] {
		t.Errorf("concurrent FailTicket counts %v, want exactly 1..5", seen)
	}
	_, err = s.GetTicket(ctx, c.Kind, c.Hash, at(1))
	wantErr(t, "GetTicket(after concurrent failures)", err, store.ErrNotFound)
}

// testTicketDeleteByKinds: DeleteTickets removes only the user's tickets
// of the kinds given, every kind when none is given, and counts them.
func testTicketDeleteByKinds(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	v := createUser(t, s, newUser())
	reset1 := createTicket(t, s, newTicket(u, store.TicketPasswordReset))
	reset2 := createTicket(t, s, newTicket(u, store.TicketPasswordReset))
	trust := createTicket(t, s, newTicket(u, store.TicketTrust))
	verify := createTicket(t, s, newTicket(u, store.TicketVerifyEmail))
	change := createTicket(t, s, newTicket(u, store.TicketEmailChange))
	others := createTicket(t, s, newTicket(v, store.TicketPasswordReset))
	live := func(tk *store.Ticket) bool {
		_, err := s.GetTicket(ctx, tk.Kind, tk.Hash, at(1))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetTicket: %v", err)
		}
		return err == nil
	}

	n, err := s.DeleteTickets(ctx, u.ID, store.TicketPasswordReset, store.TicketTrust)
	noErr(t, "DeleteTickets(reset, trust)", err)
	if n != 3 {
		t.Errorf("DeleteTickets(reset, trust): removed %d, want 3", n)
	}
	for _, tk := range []*store.Ticket{reset1, reset2, trust} {
		if live(tk) {
			t.Errorf("%s ticket survived DeleteTickets of its kind", tk.Kind)
		}
	}
	for _, tk := range []*store.Ticket{verify, change, others} {
		if !live(tk) {
			t.Errorf("%s ticket (user %s) removed by DeleteTickets of other kinds or user", tk.Kind, tk.UserID)
		}
	}
	n, err = s.DeleteTickets(ctx, u.ID, store.TicketTwoFactor)
	noErr(t, "DeleteTickets(none of that kind)", err)
	if n != 0 {
		t.Errorf("DeleteTickets(none of that kind): removed %d, want 0", n)
	}

	n, err = s.DeleteTickets(ctx, u.ID)
	noErr(t, "DeleteTickets(all kinds)", err)
	if n != 2 {
		t.Errorf("DeleteTickets(all kinds): removed %d, want 2", n)
	}
	if live(verify) || live(change) {
		t.Errorf("a ticket survived DeleteTickets with no kinds")
	}
	if !live(others) {
		t.Errorf("another user's ticket removed by DeleteTickets")
	}
}

// testTicketCount: CountTickets counts the user's tickets of the kind
// created at or after since, expired ones included until collected.
func testTicketCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	v := createUser(t, s, newUser())
	for _, sec := range []int{-3600, -60, 0, 30} {
		tk := newTicket(u, store.TicketPasswordReset)
		tk.CreatedAt, tk.ExpiresAt = at(sec), at(sec+1) // all expired by at(60)
		createTicket(t, s, tk)
	}
	createTicket(t, s, newTicket(u, store.TicketVerifyEmail))   // other kind
	createTicket(t, s, newTicket(v, store.TicketPasswordReset)) // other user
	for _, c := range []struct {
		since time.Time
		want  int
	}{
		{at(-7200), 4},
		{at(-60), 3}, // created exactly at since counts
		{at(-59), 2},
		{at(30), 1},
		{at(31), 0},
	} {
		n, err := s.CountTickets(ctx, u.ID, store.TicketPasswordReset, c.since)
		noErr(t, "CountTickets", err)
		if n != c.want {
			t.Errorf("CountTickets(since %v): got %d, want %d", c.since.Sub(at(0)), n, c.want)
		}
	}
	n, err := s.CountTickets(ctx, uuid.NewString(), store.TicketPasswordReset, at(-7200))
	noErr(t, "CountTickets(unknown user)", err)
	if n != 0 {
		t.Errorf("CountTickets(unknown user): got %d, want 0", n)
	}
}

// testTicketDeleteExpired: ExpiresAt <= now goes, the rest stays.
func testTicketDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	var tks []*store.Ticket
	for _, sec := range []int{-10, 0, 1} {
		tk := newTicket(u, store.TicketTrust)
		tk.ExpiresAt = at(sec)
		tks = append(tks, createTicket(t, s, tk))
	}
	n, err := s.DeleteExpiredTickets(ctx, at(0))
	noErr(t, "DeleteExpiredTickets", err)
	if n != 2 {
		t.Errorf("DeleteExpiredTickets: removed %d, want 2", n)
	}
	// Counting ignores liveness, so it shows what is still stored.
	c, err := s.CountTickets(ctx, u.ID, store.TicketTrust, at(-7200))
	noErr(t, "CountTickets", err)
	if c != 1 {
		t.Errorf("after DeleteExpiredTickets: %d stored, want 1", c)
	}
	got, err := s.GetTicket(ctx, store.TicketTrust, tks[2].Hash, at(0))
	noErr(t, "GetTicket(survivor)", err)
	same(t, "survivor", tks[2], got)
	n, err = s.DeleteExpiredTickets(ctx, at(0))
	noErr(t, "DeleteExpiredTickets(again)", err)
	if n != 0 {
		t.Errorf("DeleteExpiredTickets(again): removed %d, want 0", n)
	}
}

// testTicketDeletedWithUser: DeleteUser removes the user's tickets.
func testTicketDeletedWithUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	v := createUser(t, s, newUser())
	tk := createTicket(t, s, newTicket(u, store.TicketPasswordReset))
	keep := createTicket(t, s, newTicket(v, store.TicketPasswordReset))
	noErr(t, "DeleteUser", s.DeleteUser(ctx, u.ID))
	n, err := s.CountTickets(ctx, u.ID, store.TicketPasswordReset, at(-7200))
	noErr(t, "CountTickets(deleted user)", err)
	if n != 0 {
		t.Errorf("deleted user still has %d tickets", n)
	}
	_, err = s.GetTicket(ctx, tk.Kind, tk.Hash, at(1))
	wantErr(t, "GetTicket(deleted user's)", err, store.ErrNotFound)
	// The hash is free again (the row is gone, not hidden).
	recreated := newTicket(v, store.TicketPasswordReset)
	recreated.Hash = tk.Hash
	noErr(t, "CreateTicket(freed hash)", s.CreateTicket(ctx, recreated))
	_, err = s.GetTicket(ctx, keep.Kind, keep.Hash, at(1))
	noErr(t, "GetTicket(other user's)", err)
}

// testTicketWithoutUser: a ticket may name no user (a passkey login's
// challenge before the assertion names one); it round-trips with UserID
// "", is taken once, and another user's DeleteTickets leaves it alone.
func testTicketWithoutUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	tk := &store.Ticket{Hash: digest("no-user-" + uuid.NewString()), Kind: store.TicketWebAuthn, ApplicationID: a.ID,
		Data: json.RawMessage(`{"challenge":"x"}`), CreatedAt: at(0), ExpiresAt: at(300)}
	createTicket(t, s, tk)
	got, err := s.GetTicket(ctx, tk.Kind, tk.Hash, at(1))
	noErr(t, "GetTicket(no user)", err)
	same(t, "GetTicket(no user)", tk, got)
	if _, err := s.DeleteTickets(ctx, u.ID); err != nil {
		t.Fatalf("DeleteTickets: %v", err)
	}
	got, err = s.TakeTicket(ctx, tk.Kind, tk.Hash, at(1))
	noErr(t, "TakeTicket(no user)", err)
	same(t, "TakeTicket(no user)", tk, got)
	if _, err := s.TakeTicket(ctx, tk.Kind, tk.Hash, at(1)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second TakeTicket(no user): %v, want ErrNotFound", err)
	}
}
