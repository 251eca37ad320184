package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	u := &store.User{
		ID:                     uuid.NewString(),
		Email:                  "Ada.Lovelace@Example.COM",
		Username:               "ada",
		FirstName:              "Ada",
		LastName:               "Lovelace",
		FullName:               "Ada King, Countess of Lovelace",
		PasswordHash:           "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNo",
		Active:                 true,
		Verified:               true,
		Data:                   json.RawMessage(`{"b": [1, 2.5, {"c": null}], "a": "ü \"quoted\"", "t": true}`),
		PasswordChangeRequired: true,
		// Every time field distinct, with milliseconds, one in another zone.
		PasswordUpdatedAt:   at(-86400),
		Expiry:              at(400 * 86400).In(zone),
		LastLoginAt:         at(-60),
		CreatedAt:           at(-2 * 86400),
		LockedUntil:         at(900),
		TokensRevokedBefore: at(-30),
	}
	noErr(t, "CreateUser", s.CreateUser(ctx, u))

	want := *u
	want.Email = "ada.lovelace@example.com" // stored lower-cased
	got, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	same(t, "GetUser", &want, got)
}

func testUserZeroValues(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Only an id and a username: every time is zero, Data is absent.
	u := &store.User{ID: uuid.NewString(), Username: "minimal"}
	noErr(t, "CreateUser", s.CreateUser(ctx, u))
	got, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	same(t, "GetUser", u, got)
	for name, tm := range map[string]time.Time{
		"PasswordUpdatedAt": got.PasswordUpdatedAt, "Expiry": got.Expiry, "LastLoginAt": got.LastLoginAt,
		"CreatedAt": got.CreatedAt, "LockedUntil": got.LockedUntil, "TokensRevokedBefore": got.TokensRevokedBefore,
	} {
		if !tm.IsZero() {
			t.Errorf("%s: got %v, want the zero time", name, tm)
		}
	}
	if len(got.Data) != 0 {
		t.Errorf("Data: got %q, want absent", got.Data)
	}
}

func testUserGetMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	createUser(t, s, newUser())
	_, err := s.GetUser(ctx, uuid.NewString())
	wantErr(t, "GetUser(unknown)", err, store.ErrNotFound)
	_, err = s.GetUserByLogin(ctx, "nobody@example.com")
	wantErr(t, "GetUserByLogin(unknown)", err, store.ErrNotFound)
	_, err = s.GetUserByLogin(ctx, "")
	wantErr(t, "GetUserByLogin(empty)", err, store.ErrNotFound)
}

func testUserByLogin(t *testing.T, s store.Store) {
	ctx := t.Context()
	ascii := newUser()
	ascii.Email, ascii.Username = "Mixed.Case@Example.com", "mixed"
	createUser(t, s, ascii)
	// SQL lower() folds ASCII only in some engines; the contract is
	// Unicode-aware case folding.
	uni := newUser()
	uni.Email, uni.Username = "Jürgen.Ölmann@Example.de", ""
	createUser(t, s, uni)
	noEmail := newUser()
	noEmail.Email, noEmail.Username = "", "kiosk-7"
	createUser(t, s, noEmail)

	for _, c := range []struct {
		login string
		want  *store.User
	}{
		{"mixed.case@example.com", ascii},
		{"MIXED.CASE@EXAMPLE.COM", ascii},
		{"Mixed.Case@Example.com", ascii},
		{"mixed", ascii},
		{"jürgen.ölmann@example.de", uni},
		{"JÜRGEN.ÖLMANN@EXAMPLE.DE", uni},
		{"kiosk-7", noEmail},
	} {
		got, err := s.GetUserByLogin(ctx, c.login)
		if err != nil {
			t.Errorf("GetUserByLogin(%q): %v", c.login, err)
			continue
		}
		if got.ID != c.want.ID {
			t.Errorf("GetUserByLogin(%q) = user %s, want %s", c.login, got.ID, c.want.ID)
		}
	}
}

func testUserDuplicates(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())

	sameID := newUser()
	sameID.ID = u.ID
	wantErr(t, "CreateUser(same id)", s.CreateUser(ctx, sameID), store.ErrDuplicate)

	sameEmail := newUser()
	sameEmail.Email = strings.ToUpper(u.Email)
	wantErr(t, "CreateUser(same email, other case)", s.CreateUser(ctx, sameEmail), store.ErrDuplicate)

	sameUsername := newUser()
	sameUsername.Username = u.Username
	wantErr(t, "CreateUser(same username)", s.CreateUser(ctx, sameUsername), store.ErrDuplicate)

	// The failed inserts left nothing behind.
	list, err := s.ListUsers(ctx, 0)
	noErr(t, "ListUsers", err)
	wantIDs(t, "ListUsers", []string{u.ID}, ids(list))
}

func testUserEmptyNotUnique(t *testing.T, s store.Store) {
	a, b := newUser(), newUser()
	a.Email, b.Email = "", ""
	createUser(t, s, a)
	createUser(t, s, b)
	c, d := newUser(), newUser()
	c.Username, d.Username = "", ""
	createUser(t, s, c)
	createUser(t, s, d)
}

func testUserUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())

	upd := *u
	upd.Email = "New.Address@Example.org"
	upd.Username = "renamed"
	upd.FirstName, upd.LastName, upd.FullName = "Grace", "Hopper", "Grace Brewster Hopper"
	upd.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$bmV3aGFzaG5ld2hhc2g"
	upd.Active, upd.Verified, upd.PasswordChangeRequired = false, true, true
	upd.Data = json.RawMessage(`{"plan":"pro"}`)
	upd.PasswordUpdatedAt, upd.Expiry, upd.LastLoginAt = at(10), at(20), at(30)
	upd.LockedUntil, upd.TokensRevokedBefore = at(40), at(50)
	noErr(t, "UpdateUser", s.UpdateUser(ctx, &upd))

	want := upd
	want.Email = "new.address@example.org"
	got, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	same(t, "after UpdateUser", &want, got)

	// The old login no longer finds the user; the new one does.
	_, err = s.GetUserByLogin(ctx, u.Email)
	wantErr(t, "GetUserByLogin(old email)", err, store.ErrNotFound)
	got, err = s.GetUserByLogin(ctx, "NEW.address@example.org")
	noErr(t, "GetUserByLogin(new email)", err)
	if got.ID != u.ID {
		t.Errorf("GetUserByLogin(new email) = %s, want %s", got.ID, u.ID)
	}

	// Clearing fields works too (Data absent, times zero).
	upd.Data, upd.LockedUntil, upd.Expiry = nil, time.Time{}, time.Time{}
	noErr(t, "UpdateUser(clear)", s.UpdateUser(ctx, &upd))
	got, err = s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	if len(got.Data) != 0 || !got.LockedUntil.IsZero() || !got.Expiry.IsZero() {
		t.Errorf("after clearing: Data %q, LockedUntil %v, Expiry %v; want absent, zero, zero", got.Data, got.LockedUntil, got.Expiry)
	}

	missing := newUser()
	wantErr(t, "UpdateUser(unknown)", s.UpdateUser(ctx, missing), store.ErrNotFound)
}

func testUserUpdateTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createUser(t, s, newUser())
	b := createUser(t, s, newUser())

	upd := *b
	upd.Email = strings.ToUpper(a.Email)
	wantErr(t, "UpdateUser(taken email)", s.UpdateUser(ctx, &upd), store.ErrDuplicate)
	upd = *b
	upd.Username = a.Username
	wantErr(t, "UpdateUser(taken username)", s.UpdateUser(ctx, &upd), store.ErrDuplicate)

	got, err := s.GetUser(ctx, b.ID)
	noErr(t, "GetUser", err)
	same(t, "user after failed updates", b, got)
}

func testUserDeleteCascades(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, a, rt := userAppToken(t, s)
	old := rt.TokenHash
	rotate(t, s, rt, at(60))
	createReg(t, s, u, a, at(0))
	_, err := s.RecordLoginFailure(ctx, u.ID, at(0), time.Hour)
	noErr(t, "RecordLoginFailure", err)

	// Another user's records must survive.
	other := createUser(t, s, newUser())
	otherRT := createToken(t, s, newToken(other, a))
	createReg(t, s, other, a, at(0))

	noErr(t, "DeleteUser", s.DeleteUser(ctx, u.ID))

	_, err = s.GetUser(ctx, u.ID)
	wantErr(t, "GetUser(deleted)", err, store.ErrNotFound)
	_, err = s.GetUserByLogin(ctx, u.Email)
	wantErr(t, "GetUserByLogin(deleted)", err, store.ErrNotFound)
	_, err = s.GetRegistration(ctx, u.ID, a.ID)
	wantErr(t, "GetRegistration(deleted user)", err, store.ErrNotFound)
	regs, err := s.ListRegistrations(ctx, u.ID)
	noErr(t, "ListRegistrations", err)
	if len(regs) != 0 {
		t.Errorf("ListRegistrations(deleted user): %d left", len(regs))
	}
	_, err = s.GetRefreshToken(ctx, rt.ID)
	wantErr(t, "GetRefreshToken(deleted user)", err, store.ErrNotFound)
	_, err = s.GetRefreshTokenByHash(ctx, rt.TokenHash)
	wantErr(t, "GetRefreshTokenByHash(deleted user)", err, store.ErrNotFound)
	_, err = s.GetRotation(ctx, old)
	wantErr(t, "GetRotation(deleted user)", err, store.ErrNotFound)
	toks, err := s.ListRefreshTokens(ctx, u.ID)
	noErr(t, "ListRefreshTokens", err)
	if len(toks) != 0 {
		t.Errorf("ListRefreshTokens(deleted user): %d left", len(toks))
	}

	// Failure counters went too: the same id re-created starts at 1.
	again := newUser()
	again.ID = u.ID
	createUser(t, s, again)
	n, err := s.RecordLoginFailure(ctx, u.ID, at(1), time.Hour)
	noErr(t, "RecordLoginFailure(re-created user)", err)
	if n != 1 {
		t.Errorf("failure count of re-created user = %d, want 1 (counter survived DeleteUser)", n)
	}

	_, err = s.GetRefreshToken(ctx, otherRT.ID)
	noErr(t, "other user's token", err)
	_, err = s.GetRegistration(ctx, other.ID, a.ID)
	noErr(t, "other user's registration", err)

	wantErr(t, "DeleteUser(unknown)", s.DeleteUser(ctx, uuid.NewString()), store.ErrNotFound)
}

func testUserList(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Insert out of creation order: the list follows CreatedAt, not
	// insertion order.
	offsets := []int{30, 10, 50, 20, 40}
	byTime := map[int]string{}
	for _, off := range offsets {
		u := newUser()
		u.CreatedAt = at(off)
		createUser(t, s, u)
		byTime[off] = u.ID
	}
	var want []string
	for _, off := range slices.Sorted(slices.Values(offsets)) {
		want = append(want, byTime[off])
	}

	for _, limit := range []int{0, -1, 3, 5, 10} {
		got, err := s.ListUsers(ctx, limit)
		noErr(t, "ListUsers", err)
		w := want
		if limit > 0 && limit < len(w) {
			w = w[:limit]
		}
		wantIDs(t, fmt.Sprintf("ListUsers(limit %d)", limit), w, ids(got))
	}
}

func testLoginFailureWindow(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	const window = 10 * time.Minute
	for _, step := range []struct {
		sec  int
		want int
	}{
		{0, 1}, {1, 2}, {60, 3}, {599, 4}, // within the window started at 0
		{601, 1},            // window over: a new one starts at 601
		{602, 2}, {1100, 3}, // counted in the window started at 601
		{601 + 3600, 1}, // long after: new window again
	} {
		n, err := s.RecordLoginFailure(ctx, u.ID, at(step.sec), window)
		noErr(t, "RecordLoginFailure", err)
		if n != step.want {
			t.Errorf("failure at +%ds: count %d, want %d", step.sec, n, step.want)
		}
	}
}

func testLoginFailureReset(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	for i := range 3 {
		_, err := s.RecordLoginFailure(ctx, u.ID, at(i), time.Hour)
		noErr(t, "RecordLoginFailure", err)
	}
	noErr(t, "ResetLoginFailures", s.ResetLoginFailures(ctx, u.ID))
	n, err := s.RecordLoginFailure(ctx, u.ID, at(4), time.Hour)
	noErr(t, "RecordLoginFailure", err)
	if n != 1 {
		t.Errorf("count after reset = %d, want 1", n)
	}
	// Resetting a user without failures is not an error.
	other := createUser(t, s, newUser())
	noErr(t, "ResetLoginFailures(no failures)", s.ResetLoginFailures(ctx, other.ID))
}

func testLoginFailurePerUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createUser(t, s, newUser())
	b := createUser(t, s, newUser())
	for i := range 5 {
		_, err := s.RecordLoginFailure(ctx, a.ID, at(i), time.Hour)
		noErr(t, "RecordLoginFailure(a)", err)
	}
	n, err := s.RecordLoginFailure(ctx, b.ID, at(5), time.Hour)
	noErr(t, "RecordLoginFailure(b)", err)
	if n != 1 {
		t.Errorf("b's count = %d, want 1 (counters must be per user)", n)
	}
	noErr(t, "ResetLoginFailures(b)", s.ResetLoginFailures(ctx, b.ID))
	n, err = s.RecordLoginFailure(ctx, a.ID, at(6), time.Hour)
	noErr(t, "RecordLoginFailure(a)", err)
	if n != 6 {
		t.Errorf("a's count after resetting b = %d, want 6", n)
	}
}

// testLoginFailureConcurrent: RecordLoginFailure is atomic, so 20
// simultaneous failures count exactly 20 and each caller sees a distinct
// count (IDP-BF-1 relies on it across IdP processes).
func testLoginFailureConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	const n = 20
	counts := make([]int, n)
	errs := concurrently(n, func(i int) error {
		c, err := s.RecordLoginFailure(ctx, u.ID, at(0), time.Hour)
		counts[i] = c
		return err
	})
	for i, err := range errs {
		noErr(t, fmt.Sprintf("RecordLoginFailure #%d", i), err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("concurrent counts = %v, want each of 1..%d exactly once", counts, n)
		}
	}
	c, err := s.RecordLoginFailure(ctx, u.ID, at(1), time.Hour)
	noErr(t, "RecordLoginFailure", err)
	if c != n+1 {
		t.Errorf("count after %d concurrent failures = %d, want %d", n, c, n+1)
	}
}

func testLoginFailureUnknownUser(t *testing.T, s store.Store) {
	_, err := s.RecordLoginFailure(t.Context(), uuid.NewString(), at(0), time.Hour)
	wantErr(t, "RecordLoginFailure(unknown user)", err, store.ErrNotFound)
}
