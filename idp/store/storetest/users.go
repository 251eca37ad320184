package storetest

import (
	"encoding/json"
	"errors"
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
	noErr(t, "UpdateUser", putUser(t, s, &upd))

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
	noErr(t, "UpdateUser(clear)", putUser(t, s, &upd))
	got, err = s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	if len(got.Data) != 0 || !got.LockedUntil.IsZero() || !got.Expiry.IsZero() {
		t.Errorf("after clearing: Data %q, LockedUntil %v, Expiry %v; want absent, zero, zero", got.Data, got.LockedUntil, got.Expiry)
	}

	missing := newUser()
	wantErr(t, "UpdateUser(unknown)", putUser(t, s, missing), store.ErrNotFound)
}

func testUserUpdateTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := createUser(t, s, newUser())
	b := createUser(t, s, newUser())

	upd := *b
	upd.Email = strings.ToUpper(a.Email)
	wantErr(t, "UpdateUser(taken email)", putUser(t, s, &upd), store.ErrDuplicate)
	upd = *b
	upd.Username = a.Username
	wantErr(t, "UpdateUser(taken username)", putUser(t, s, &upd), store.ErrDuplicate)

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
	_, err := s.RecordLoginFailure(ctx, u.ID, "", at(0))
	noErr(t, "RecordLoginFailure", err)
	_, err = s.RecordLoginFailure(ctx, u.ID, "device-1", at(0))
	noErr(t, "RecordLoginFailure(device)", err)

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
	for _, dev := range []string{"", "device-1"} {
		f, err := s.GetLoginFailures(ctx, u.ID, dev)
		noErr(t, "GetLoginFailures(re-created user)", err)
		if f.Count != 0 {
			t.Errorf("failure count %q of re-created user = %d, want 0 (counter survived DeleteUser)", dev, f.Count)
		}
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

// putUser writes every field of u through UpdateUser.
func putUser(t *testing.T, s store.Store, u *store.User) error {
	t.Helper()
	return s.UpdateUser(t.Context(), u.ID, func(store.User) (store.User, error) { return *u, nil })
}

// testUserUpdateFnAbort: an error from fn writes nothing and comes back.
func testUserUpdateFnAbort(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	boom := errors.New("refused by fn")
	err := s.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
		old.FirstName = "changed"
		return old, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("UpdateUser(fn fails) = %v, want fn's error", err)
	}
	got, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	same(t, "user after aborted update", u, got)
}

// testUserUpdateConcurrent: UpdateUser is a read-modify-write in one
// transaction, so concurrent updaters of one user lose nothing (AUD-6).
func testUserUpdateConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	const n = 10
	errs := concurrently(n, func(i int) error {
		return s.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
			old.FirstName += "x"
			return old, nil
		})
	})
	for i, err := range errs {
		noErr(t, fmt.Sprintf("UpdateUser #%d", i), err)
	}
	got, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	if want := u.FirstName + strings.Repeat("x", n); got.FirstName != want {
		t.Errorf("after %d concurrent appends FirstName = %q, want %q (an update was lost)", n, got.FirstName, want)
	}
}

// testLoginRaceDeactivation interleaves a login (read the user, verify the
// password, record the login) with a deactivation landing between the read
// and the write: the deactivation wins, the login's write is refused with
// ErrConflict and changes nothing (AUD-6).
func testLoginRaceDeactivation(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser()
	u.Active = true
	createUser(t, s, u)
	read, err := s.GetUser(ctx, u.ID) // the login's read
	noErr(t, "GetUser", err)
	_, err = s.RecordLoginFailure(ctx, u.ID, "", at(1))
	noErr(t, "RecordLoginFailure", err)

	// The deactivation lands while the login hashes.
	noErr(t, "UpdateUser(deactivate)", s.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
		old.Active, old.TokensRevokedBefore = false, at(5)
		return old, nil
	}))

	_, err = s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(10), OldHash: read.PasswordHash,
		NewHash: "$argon2id$v=19$m=19456,t=2,p=1$cmVoYXNocmVoYXNo$cmVoYXNoZWRoYXNo", ResetAccount: true})
	wantErr(t, "RecordLogin after deactivation", err, store.ErrConflict)
	got, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	if got.Active || !got.TokensRevokedBefore.Equal(at(5)) {
		t.Errorf("deactivation undone by the login: active %v, revoked before %v", got.Active, got.TokensRevokedBefore)
	}
	if !got.LastLoginAt.Equal(u.LastLoginAt) || got.PasswordHash != u.PasswordHash {
		t.Errorf("refused login still wrote: last login %v, hash %q", got.LastLoginAt, got.PasswordHash)
	}
	f, err := s.GetLoginFailures(ctx, u.ID, "")
	noErr(t, "GetLoginFailures", err)
	if f.Count != 1 {
		t.Errorf("refused login reset the failure counter to %d", f.Count)
	}

	// The same with a password change in between: the old password's login
	// must not write (and must not put its rehash over the new password).
	v := newUser()
	v.Active = true
	createUser(t, s, v)
	readV, err := s.GetUser(ctx, v.ID)
	noErr(t, "GetUser", err)
	newHash := "$argon2id$v=19$m=19456,t=2,p=1$bmV3bmV3bmV3bmV3$bmV3cGFzc3dvcmQ"
	noErr(t, "UpdateUser(new password)", s.UpdateUser(ctx, v.ID, func(old store.User) (store.User, error) {
		old.PasswordHash = newHash
		return old, nil
	}))
	_, err = s.RecordLogin(ctx, store.LoginRecord{UserID: v.ID, At: at(10), OldHash: readV.PasswordHash, NewHash: "$rehash-of-old"})
	wantErr(t, "RecordLogin after password change", err, store.ErrConflict)
	gotV, err := s.GetUser(ctx, v.ID)
	noErr(t, "GetUser", err)
	if gotV.PasswordHash != newHash {
		t.Errorf("password change undone by the login's rehash: hash %q", gotV.PasswordHash)
	}

	_, err = s.RecordLogin(ctx, store.LoginRecord{UserID: uuid.NewString(), At: at(10), OldHash: "x"})
	wantErr(t, "RecordLogin(unknown)", err, store.ErrNotFound)
}

// testLoginThenDeactivation: the other order. The login's write lands
// first; the deactivation runs on the fresh row, so the login time stays
// and the user ends deactivated.
func testLoginThenDeactivation(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser()
	u.Active = true
	createUser(t, s, u)
	for _, dev := range []string{"", "dev-a", "dev-b"} {
		_, err := s.RecordLoginFailure(ctx, u.ID, dev, at(1))
		noErr(t, "RecordLoginFailure", err)
	}
	rehash := "$argon2id$v=19$m=19456,t=2,p=1$cmVoYXNocmVoYXNo$cmVoYXNoZWRoYXNo"
	got, err := s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(10), OldHash: u.PasswordHash, NewHash: rehash,
		ResetAccount: true, DeviceID: "dev-a"})
	noErr(t, "RecordLogin", err)
	if !got.LastLoginAt.Equal(at(10)) || got.PasswordHash != rehash || !got.Active {
		t.Errorf("RecordLogin returned last login %v, hash %q, active %v", got.LastLoginAt, got.PasswordHash, got.Active)
	}
	for dev, want := range map[string]int{"": 0, "dev-a": 0, "dev-b": 1} {
		f, err := s.GetLoginFailures(ctx, u.ID, dev)
		noErr(t, "GetLoginFailures", err)
		if f.Count != want {
			t.Errorf("after RecordLogin, counter %q = %d, want %d", dev, f.Count, want)
		}
	}
	noErr(t, "UpdateUser(deactivate)", s.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
		old.Active = false
		return old, nil
	}))
	final, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	if final.Active || !final.LastLoginAt.Equal(at(10)) || final.PasswordHash != rehash {
		t.Errorf("final row: active %v, last login %v, hash %q", final.Active, final.LastLoginAt, final.PasswordHash)
	}
}

// testLoginRaceConcurrent runs logins and one deactivation at the same
// time, many rounds: whatever the order, the user ends deactivated.
func testLoginRaceConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 10 {
		u := newUser()
		u.Active = true
		createUser(t, s, u)
		errs := concurrently(5, func(i int) error {
			if i == 0 {
				return s.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
					old.Active = false
					return old, nil
				})
			}
			_, err := s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(i), OldHash: u.PasswordHash, ResetAccount: true})
			if errors.Is(err, store.ErrConflict) {
				return nil
			}
			return err
		})
		for i, err := range errs {
			noErr(t, fmt.Sprintf("round %d #%d", round, i), err)
		}
		got, err := s.GetUser(ctx, u.ID)
		noErr(t, "GetUser", err)
		if got.Active {
			t.Fatalf("round %d: a login undid the deactivation", round)
		}
	}
}

func testLoginFailureConsecutive(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	// No window: failures hours and days apart keep counting.
	for i, sec := range []int{0, 1, 60, 3600, 86400, 30 * 86400} {
		f, err := s.RecordLoginFailure(ctx, u.ID, "", at(sec))
		noErr(t, "RecordLoginFailure", err)
		if f.Count != i+1 || !f.LastFailureAt.Equal(at(sec)) {
			t.Errorf("failure at +%ds: %d at %v, want %d at %v", sec, f.Count, f.LastFailureAt, i+1, at(sec))
		}
	}
	f, err := s.GetLoginFailures(ctx, u.ID, "")
	noErr(t, "GetLoginFailures", err)
	if f.Count != 6 || !f.LastFailureAt.Equal(at(30*86400)) {
		t.Errorf("GetLoginFailures = %+v, want 6 at +30d", f)
	}
	none, err := s.GetLoginFailures(ctx, u.ID, "other-device")
	noErr(t, "GetLoginFailures(no failures)", err)
	if none != (store.LoginFailures{}) {
		t.Errorf("GetLoginFailures(no failures) = %+v, want zero", none)
	}
}

func testLoginFailureReset(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	for i := range 3 {
		_, err := s.RecordLoginFailure(ctx, u.ID, "", at(i))
		noErr(t, "RecordLoginFailure", err)
		_, err = s.RecordLoginFailure(ctx, u.ID, "dev", at(i))
		noErr(t, "RecordLoginFailure(device)", err)
	}
	noErr(t, "ResetLoginFailures", s.ResetLoginFailures(ctx, u.ID))
	for _, dev := range []string{"", "dev"} {
		f, err := s.RecordLoginFailure(ctx, u.ID, dev, at(4))
		noErr(t, "RecordLoginFailure", err)
		if f.Count != 1 {
			t.Errorf("count %q after reset = %d, want 1", dev, f.Count)
		}
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
		_, err := s.RecordLoginFailure(ctx, a.ID, "", at(i))
		noErr(t, "RecordLoginFailure(a)", err)
	}
	f, err := s.RecordLoginFailure(ctx, b.ID, "", at(5))
	noErr(t, "RecordLoginFailure(b)", err)
	if f.Count != 1 {
		t.Errorf("b's count = %d, want 1 (counters must be per user)", f.Count)
	}
	// A device's counter is separate from the account's.
	f, err = s.RecordLoginFailure(ctx, a.ID, "dev", at(5))
	noErr(t, "RecordLoginFailure(a, device)", err)
	if f.Count != 1 {
		t.Errorf("a's device count = %d, want 1 (device counters are separate)", f.Count)
	}
	noErr(t, "ResetLoginFailures(b)", s.ResetLoginFailures(ctx, b.ID))
	f, err = s.RecordLoginFailure(ctx, a.ID, "", at(6))
	noErr(t, "RecordLoginFailure(a)", err)
	if f.Count != 6 {
		t.Errorf("a's count after resetting b = %d, want 6", f.Count)
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
		f, err := s.RecordLoginFailure(ctx, u.ID, "", at(0))
		counts[i] = f.Count
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
	f, err := s.RecordLoginFailure(ctx, u.ID, "", at(1))
	noErr(t, "RecordLoginFailure", err)
	if f.Count != n+1 {
		t.Errorf("count after %d concurrent failures = %d, want %d", n, f.Count, n+1)
	}
}

func testLoginFailureUnknownUser(t *testing.T, s store.Store) {
	_, err := s.RecordLoginFailure(t.Context(), uuid.NewString(), "", at(0))
	wantErr(t, "RecordLoginFailure(unknown user)", err, store.ErrNotFound)
}

// testLoginWithFamily: RecordLogin writes the login's new refresh-token
// family in the same transaction as the login record (one write per
// login), so the family exists exactly when the login was recorded: a
// refused login (ErrConflict) leaves no family, and a family that cannot
// be inserted (ErrDuplicate) leaves no login record.
func testLoginWithFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	_, err := s.RecordLoginFailure(ctx, u.ID, "", at(1))
	noErr(t, "RecordLoginFailure", err)

	fam := newToken(u, a)
	fam.DeviceName, fam.LastUsedAt, fam.LastUsedIP = "Firefox", at(10), "192.0.2.7"
	got, err := s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(10), OldHash: u.PasswordHash,
		ResetAccount: true, Family: fam})
	noErr(t, "RecordLogin(with family)", err)
	if !got.LastLoginAt.Equal(at(10)) {
		t.Errorf("LastLoginAt = %v, want %v", got.LastLoginAt, at(10))
	}
	stored, err := s.GetRefreshTokenByHash(ctx, fam.TokenHash)
	noErr(t, "GetRefreshTokenByHash(login family)", err)
	same(t, "login family", fam, stored)
	f, err := s.GetLoginFailures(ctx, u.ID, "")
	noErr(t, "GetLoginFailures", err)
	if f.Count != 0 {
		t.Errorf("failure counter %d after the login, want 0", f.Count)
	}

	// A family that cannot be inserted undoes the login record.
	dup := newToken(u, a)
	dup.ID = fam.ID
	_, err = s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(20), OldHash: u.PasswordHash, Family: dup})
	wantErr(t, "RecordLogin(duplicate family id)", err, store.ErrDuplicate)
	cur, err := s.GetUser(ctx, u.ID)
	noErr(t, "GetUser", err)
	if !cur.LastLoginAt.Equal(at(10)) {
		t.Errorf("failed RecordLogin still wrote LastLoginAt %v, want %v", cur.LastLoginAt, at(10))
	}
	wantErr(t, "GetRefreshTokenByHash(duplicate's hash)", func() error {
		_, err := s.GetRefreshTokenByHash(ctx, dup.TokenHash)
		return err
	}(), store.ErrNotFound)

	// A refused login writes no family.
	noErr(t, "UpdateUser(deactivate)", s.UpdateUser(ctx, u.ID, func(old store.User) (store.User, error) {
		old.Active = false
		return old, nil
	}))
	lost := newToken(u, a)
	_, err = s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(30), OldHash: u.PasswordHash, Family: lost})
	wantErr(t, "RecordLogin after deactivation", err, store.ErrConflict)
	_, err = s.GetRefreshToken(ctx, lost.ID)
	wantErr(t, "GetRefreshToken(refused login's family)", err, store.ErrNotFound)
}

// testUserMultiFactor: MultiFactor round-trips through every path that
// reads or writes a user, and nil stays nil (no second factor).
func testUserMultiFactor(t *testing.T, s store.Store) {
	ctx := t.Context()
	mf := json.RawMessage(`{"totp": {"secret": "sealed:abc", "lastStep": 59123456}, "recovery": ["h1", "h2"], "passkeys": []}`)
	wantMF := func(what string, u *store.User, want json.RawMessage) {
		t.Helper()
		if want == nil {
			if u.MultiFactor != nil {
				t.Errorf("%s: MultiFactor = %q, want nil", what, u.MultiFactor)
			}
			return
		}
		same(t, what+": MultiFactor", want, u.MultiFactor)
	}

	with := newUser()
	with.MultiFactor = mf
	createUser(t, s, with)
	without := createUser(t, s, newUser())
	for _, c := range []struct {
		u    *store.User
		want json.RawMessage
	}{{with, mf}, {without, nil}} {
		got, err := s.GetUser(ctx, c.u.ID)
		noErr(t, "GetUser", err)
		wantMF("GetUser", got, c.want)
		got, err = s.GetUserByLogin(ctx, c.u.Email)
		noErr(t, "GetUserByLogin(email)", err)
		wantMF("GetUserByLogin(email)", got, c.want)
		got, err = s.GetUserByLogin(ctx, c.u.Username)
		noErr(t, "GetUserByLogin(username)", err)
		wantMF("GetUserByLogin(username)", got, c.want)
		got, err = s.RecordLogin(ctx, store.LoginRecord{UserID: c.u.ID, At: at(5), OldHash: c.u.PasswordHash})
		noErr(t, "RecordLogin", err)
		wantMF("RecordLogin", got, c.want)
	}
	list, err := s.ListUsers(ctx, 0)
	noErr(t, "ListUsers", err)
	for _, u := range list {
		switch u.ID {
		case with.ID:
			wantMF("ListUsers", u, mf)
		case without.ID:
			wantMF("ListUsers", u, nil)
		}
	}

	// UpdateUser sees the stored document and writes fn's result: set,
	// replaced, and cleared back to nil.
	mf2 := json.RawMessage(`{"totp": {"secret": "sealed:xyz", "lastStep": 59123457}, "recovery": ["h2"]}`)
	for _, c := range []struct {
		id        string
		old, next json.RawMessage
	}{
		{without.ID, nil, mf},
		{with.ID, mf, mf2},
		{with.ID, mf2, nil},
	} {
		noErr(t, "UpdateUser", s.UpdateUser(ctx, c.id, func(old store.User) (store.User, error) {
			wantMF("UpdateUser's old", &old, c.old)
			old.MultiFactor = c.next
			return old, nil
		}))
		got, err := s.GetUser(ctx, c.id)
		noErr(t, "GetUser(after UpdateUser)", err)
		wantMF("GetUser(after UpdateUser)", got, c.next)
	}

	// ImportUsers writes it too.
	imp, impNone := newUser(), newUser()
	imp.MultiFactor = mf
	noErr(t, "ImportUsers", s.ImportUsers(ctx, []*store.User{imp, impNone}, nil))
	got, err := s.GetUser(ctx, imp.ID)
	noErr(t, "GetUser(imported)", err)
	wantMF("GetUser(imported)", got, mf)
	got, err = s.GetUser(ctx, impNone.ID)
	noErr(t, "GetUser(imported, none)", err)
	wantMF("GetUser(imported, none)", got, nil)
}
