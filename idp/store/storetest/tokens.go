package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-auth/gatehouse/idp/store"
)

func testRTRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	rt := &store.RefreshToken{
		ID: uuid.NewString(), UserID: u.ID, ApplicationID: a.ID,
		TokenHash: digest("the token"),
		Scopes:    []string{"offline_access", "openid", "email"},
		CreatedAt: at(0), StartAt: at(10), ExpiresAt: at(30 * 86400), AuthTime: at(-5),
		AMR:        []string{"pwd", "otp", "mfa"},
		Grants:     []string{"password", "refresh_token"},
		DeviceName: "Firefox on Linux", DeviceType: "BROWSER", DeviceDescription: "Mozilla/5.0 (X11; Linux x86_64)",
		LastUsedAt: at(11), LastUsedIP: "2001:db8::1",
		Generation: 3,
	}
	noErr(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))

	got, err := s.GetRefreshTokenByHash(ctx, digest("the token"))
	noErr(t, "GetRefreshTokenByHash", err)
	same(t, "GetRefreshTokenByHash", rt, got)
	got, err = s.GetRefreshToken(ctx, rt.ID)
	noErr(t, "GetRefreshToken", err)
	same(t, "GetRefreshToken", rt, got)

	// Minimal family: zero times and no slices come back zero and empty.
	bare := &store.RefreshToken{ID: uuid.NewString(), UserID: u.ID, ApplicationID: a.ID, TokenHash: digest("minimal")}
	noErr(t, "CreateRefreshToken(minimal)", s.CreateRefreshToken(ctx, bare))
	got, err = s.GetRefreshToken(ctx, bare.ID)
	noErr(t, "GetRefreshToken(minimal)", err)
	same(t, "GetRefreshToken(minimal)", bare, got)

	_, err = s.GetRefreshTokenByHash(ctx, digest("another token"))
	wantErr(t, "GetRefreshTokenByHash(unknown)", err, store.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, uuid.NewString())
	wantErr(t, "GetRefreshToken(unknown)", err, store.ErrNotFound)
	_, err = s.GetRotation(ctx, digest("the token"))
	wantErr(t, "GetRotation(live token)", err, store.ErrNotFound)
}

// testRTAMR: a family's AMR (the login's authentication methods) comes
// back from every read, survives rotation and touch (only a login sets
// it), is written by RecordLogin's Family too, and no methods (nil, or
// empty) read back nil on every backend.
func testRTAMR(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	wantAMR := func(what string, want, got []string) {
		t.Helper()
		if want == nil {
			if got != nil {
				t.Errorf("%s: AMR = %#v, want nil", what, got)
			}
			return
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: AMR = %#v, want %#v", what, got, want)
		}
	}
	readAll := func(what string, rt *store.RefreshToken, want []string) {
		t.Helper()
		got, err := s.GetRefreshTokenByHash(ctx, rt.TokenHash)
		noErr(t, what+": GetRefreshTokenByHash", err)
		wantAMR(what+": GetRefreshTokenByHash", want, got.AMR)
		got, err = s.GetRefreshToken(ctx, rt.ID)
		noErr(t, what+": GetRefreshToken", err)
		wantAMR(what+": GetRefreshToken", want, got.AMR)
		list, err := s.ListRefreshTokens(ctx, u.ID)
		noErr(t, what+": ListRefreshTokens", err)
		found := false
		for _, l := range list {
			if l.ID == rt.ID {
				found = true
				wantAMR(what+": ListRefreshTokens", want, l.AMR)
			}
		}
		if !found {
			t.Errorf("%s: ListRefreshTokens lacks the family", what)
		}
	}

	mfa := newToken(u, a)
	mfa.AMR = []string{"hwk", "user", "mfa"}
	createToken(t, s, mfa)
	readAll("created", mfa, []string{"hwk", "user", "mfa"})
	rotate(t, s, mfa, at(100))
	readAll("rotated", mfa, []string{"hwk", "user", "mfa"})
	noErr(t, "TouchRefreshToken", s.TouchRefreshToken(ctx, mfa.ID, at(200), at(4000), at(200), []string{"refresh_token"}, "192.0.2.1"))
	readAll("touched", mfa, []string{"hwk", "user", "mfa"})

	none := createToken(t, s, newToken(u, a)) // AMR nil: a family from before amr was stored
	readAll("nil", none, nil)
	empty := newToken(u, a)
	empty.AMR = []string{}
	createToken(t, s, empty)
	readAll("empty", empty, nil)

	fam := newToken(u, a)
	fam.AMR = []string{"pwd", "otp", "mfa"}
	_, err := s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(10), OldHash: u.PasswordHash, Family: fam})
	noErr(t, "RecordLogin(family with AMR)", err)
	readAll("RecordLogin family", fam, []string{"pwd", "otp", "mfa"})
	bare := newToken(u, a)
	_, err = s.RecordLogin(ctx, store.LoginRecord{UserID: u.ID, At: at(20), OldHash: u.PasswordHash, Family: bare})
	noErr(t, "RecordLogin(family without AMR)", err)
	readAll("RecordLogin family without AMR", bare, nil)
}

func testRTDuplicates(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, a, rt := userAppToken(t, s)
	sameID := newToken(u, a)
	sameID.ID = rt.ID
	wantErr(t, "CreateRefreshToken(same id)", s.CreateRefreshToken(ctx, sameID), store.ErrDuplicate)
	sameHash := newToken(u, a)
	sameHash.TokenHash = rt.TokenHash
	wantErr(t, "CreateRefreshToken(same hash)", s.CreateRefreshToken(ctx, sameHash), store.ErrDuplicate)
	list, err := s.ListRefreshTokens(ctx, u.ID)
	noErr(t, "ListRefreshTokens", err)
	wantIDs(t, "ListRefreshTokens", []string{rt.ID}, ids(list))
}

func testRTUnknownRefs(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	rt := newToken(u, a)
	rt.UserID = uuid.NewString()
	wantErr(t, "CreateRefreshToken(unknown user)", s.CreateRefreshToken(ctx, rt), store.ErrNotFound)
	rt = newToken(u, a)
	rt.ApplicationID = uuid.NewString()
	wantErr(t, "CreateRefreshToken(unknown app)", s.CreateRefreshToken(ctx, rt), store.ErrNotFound)
}

func testRTList(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	b := createApp(t, s, newApp())
	byTime := map[int]string{}
	for i, off := range []int{20, 40, 10, 30} {
		app := a
		if i%2 == 1 {
			app = b
		}
		rt := newToken(u, app)
		rt.CreatedAt = at(off)
		createToken(t, s, rt)
		byTime[off] = rt.ID
	}
	createToken(t, s, newToken(createUser(t, s, newUser()), a)) // someone else's

	got, err := s.ListRefreshTokens(ctx, u.ID)
	noErr(t, "ListRefreshTokens", err)
	wantIDs(t, "ListRefreshTokens", []string{byTime[40], byTime[30], byTime[20], byTime[10]}, ids(got))
	none, err := s.ListRefreshTokens(ctx, uuid.NewString())
	noErr(t, "ListRefreshTokens(unknown user)", err)
	if len(none) != 0 {
		t.Errorf("ListRefreshTokens(unknown user): %d results", len(none))
	}
}

// testRTRotate covers one successful compare-and-swap (IDP-RT-4): the old
// string is retired with a rotation record, the new one is live, and the
// family carries its identity forward.
func testRTRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, rt := userAppToken(t, s)
	before := *rt
	p := store.RotateParams{
		FamilyID:  rt.ID,
		OldHash:   rt.TokenHash,
		NewHash:   digest("second token"),
		Successor: []byte("sealed second token"),
		Now:       at(120),
		StartAt:   at(119),
		ExpiresAt: at(7200),
		Grants:    []string{"password", "refresh_token"},
		IP:        "192.0.2.44",
	}
	noErr(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, p))

	want := before
	want.TokenHash = p.NewHash
	want.StartAt, want.ExpiresAt = p.StartAt, p.ExpiresAt
	want.Grants = p.Grants
	want.LastUsedAt, want.LastUsedIP = p.Now, p.IP
	want.Generation = before.Generation + 1

	_, err := s.GetRefreshTokenByHash(ctx, p.OldHash)
	wantErr(t, "GetRefreshTokenByHash(old)", err, store.ErrNotFound)
	got, err := s.GetRefreshTokenByHash(ctx, p.NewHash)
	noErr(t, "GetRefreshTokenByHash(new)", err)
	same(t, "family by new hash", &want, got)
	got, err = s.GetRefreshToken(ctx, rt.ID)
	noErr(t, "GetRefreshToken", err)
	same(t, "family by id", &want, got)

	rot, err := s.GetRotation(ctx, p.OldHash)
	noErr(t, "GetRotation(old)", err)
	same(t, "rotation record", &store.Rotation{TokenHash: p.OldHash, FamilyID: rt.ID, RotatedAt: p.Now, Successor: p.Successor}, rot)
	_, err = s.GetRotation(ctx, p.NewHash)
	wantErr(t, "GetRotation(live)", err, store.ErrNotFound)
}

func testRTRotateChain(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, rt := userAppToken(t, s)
	first := rt.TokenHash
	p1 := rotate(t, s, rt, at(60))
	p2 := rotate(t, s, rt, at(120))

	got, err := s.GetRefreshToken(ctx, rt.ID)
	noErr(t, "GetRefreshToken", err)
	if got.Generation != 2 || !bytes.Equal(got.TokenHash, p2.NewHash) {
		t.Errorf("after two rotations: generation %d, hash %x; want 2, %x", got.Generation, got.TokenHash, p2.NewHash)
	}
	for i, p := range []store.RotateParams{p1, p2} {
		rot, err := s.GetRotation(ctx, p.OldHash)
		noErr(t, fmt.Sprintf("GetRotation(#%d)", i+1), err)
		same(t, fmt.Sprintf("rotation #%d", i+1), &store.Rotation{TokenHash: p.OldHash, FamilyID: rt.ID, RotatedAt: p.Now, Successor: p.Successor}, rot)
	}
	// Presenting the first (retired) string for rotation loses the CAS.
	err = s.RotateRefreshToken(ctx, store.RotateParams{FamilyID: rt.ID, OldHash: first, NewHash: digest("fork"), Now: at(130)})
	wantErr(t, "RotateRefreshToken(retired hash)", err, store.ErrConflict)
}

func testRTRotateStale(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, rt := userAppToken(t, s)
	stale := rt.TokenHash
	rotate(t, s, rt, at(60))
	before, err := s.GetRefreshToken(ctx, rt.ID)
	noErr(t, "GetRefreshToken", err)

	for name, old := range map[string][]byte{"retired hash": stale, "never-seen hash": digest("forged")} {
		p := store.RotateParams{
			FamilyID: rt.ID, OldHash: old, NewHash: digest("loser " + name), Successor: []byte("x"),
			Now: at(90), StartAt: at(90), ExpiresAt: at(9999), Grants: []string{"refresh_token"}, IP: "203.0.113.9",
		}
		wantErr(t, "RotateRefreshToken("+name+")", s.RotateRefreshToken(ctx, p), store.ErrConflict)

		// Nothing changed: same family, no trace of the losing hash.
		after, err := s.GetRefreshToken(ctx, rt.ID)
		noErr(t, "GetRefreshToken", err)
		same(t, "family after conflict ("+name+")", before, after)
		_, err = s.GetRefreshTokenByHash(ctx, p.NewHash)
		wantErr(t, "GetRefreshTokenByHash(loser's new hash)", err, store.ErrNotFound)
		_, err = s.GetRotation(ctx, p.NewHash)
		wantErr(t, "GetRotation(loser's new hash)", err, store.ErrNotFound)
	}
	// The genuine rotation record of the stale hash is untouched.
	rot, err := s.GetRotation(ctx, stale)
	noErr(t, "GetRotation(stale)", err)
	if !rot.RotatedAt.Equal(at(60)) {
		t.Errorf("rotation record of the stale hash changed: RotatedAt %v", rot.RotatedAt)
	}
	_, err = s.GetRotation(ctx, digest("forged"))
	wantErr(t, "GetRotation(forged)", err, store.ErrNotFound)
}

func testRTRotateMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, rt := userAppToken(t, s)
	p := store.RotateParams{FamilyID: uuid.NewString(), OldHash: rt.TokenHash, NewHash: digest("new"), Now: at(1)}
	wantErr(t, "RotateRefreshToken(unknown family)", s.RotateRefreshToken(ctx, p), store.ErrNotFound)

	noErr(t, "DeleteRefreshToken", s.DeleteRefreshToken(ctx, rt.ID, nil))
	p.FamilyID = rt.ID
	wantErr(t, "RotateRefreshToken(deleted family)", s.RotateRefreshToken(ctx, p), store.ErrNotFound)
	_, err := s.GetRotation(ctx, rt.TokenHash)
	wantErr(t, "GetRotation after failed rotation", err, store.ErrNotFound)
}

// testRTRotateConcurrent is IDP-RT-5: 20 requests redeem the same token at
// once; the compare-and-swap lets exactly one through and the family ends
// with exactly one live string.
func testRTRotateConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, rt := userAppToken(t, s)
	const n = 20
	params := make([]store.RotateParams, n)
	for i := range params {
		params[i] = store.RotateParams{
			FamilyID: rt.ID, OldHash: rt.TokenHash,
			NewHash:   digest(fmt.Sprintf("candidate %d", i)),
			Successor: fmt.Appendf(nil, "sealed candidate %d", i),
			Now:       at(100), StartAt: at(100), ExpiresAt: at(4000),
			Grants: []string{"password", "refresh_token"}, IP: fmt.Sprintf("192.0.2.%d", i+1),
		}
	}
	errs := concurrently(n, func(i int) error { return s.RotateRefreshToken(ctx, params[i]) })

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("rotations #%d and #%d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("rotation #%d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no rotation succeeded; errors: %v", errs)
	}

	live := 0
	for i, p := range params {
		got, err := s.GetRefreshTokenByHash(ctx, p.NewHash)
		switch {
		case err == nil:
			live++
			if i != winner {
				t.Errorf("loser #%d's hash is live", i)
			}
			if got.Generation != 1 || got.LastUsedIP != params[winner].IP {
				t.Errorf("family after race: generation %d, IP %q; want 1, %q", got.Generation, got.LastUsedIP, params[winner].IP)
			}
		case !errors.Is(err, store.ErrNotFound):
			t.Errorf("GetRefreshTokenByHash(candidate %d): %v", i, err)
		}
	}
	if live != 1 {
		t.Errorf("%d live hashes after the race, want exactly 1", live)
	}
	_, err := s.GetRefreshTokenByHash(ctx, rt.TokenHash)
	wantErr(t, "GetRefreshTokenByHash(original)", err, store.ErrNotFound)
	rot, err := s.GetRotation(ctx, rt.TokenHash)
	noErr(t, "GetRotation(original)", err)
	if !bytes.Equal(rot.Successor, params[winner].Successor) {
		t.Errorf("rotation successor %q, want the winner's %q", rot.Successor, params[winner].Successor)
	}
}

func testRTTouch(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, _, rt := userAppToken(t, s)
	rotate(t, s, rt, at(30)) // generation 1, so "unchanged" is not just zero
	before, err := s.GetRefreshToken(ctx, rt.ID)
	noErr(t, "GetRefreshToken", err)

	grants := []string{"password", "refresh_token", "refresh_token"}
	noErr(t, "TouchRefreshToken", s.TouchRefreshToken(ctx, rt.ID, at(500), at(9000), at(501), grants, "2001:db8::2"))

	want := *before
	want.StartAt, want.ExpiresAt, want.LastUsedAt = at(500), at(9000), at(501)
	want.Grants, want.LastUsedIP = grants, "2001:db8::2"
	got, err := s.GetRefreshTokenByHash(ctx, before.TokenHash)
	noErr(t, "GetRefreshTokenByHash (same hash after touch)", err)
	same(t, "after TouchRefreshToken", &want, got)

	wantErr(t, "TouchRefreshToken(unknown)", s.TouchRefreshToken(ctx, uuid.NewString(), at(1), at(2), at(1), nil, ""), store.ErrNotFound)
}

func testRTDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, a, rt := userAppToken(t, s)
	keep := createToken(t, s, newToken(u, a))
	old := rt.TokenHash
	rotate(t, s, rt, at(10))

	noErr(t, "DeleteRefreshToken", s.DeleteRefreshToken(ctx, rt.ID, nil))
	_, err := s.GetRefreshToken(ctx, rt.ID)
	wantErr(t, "GetRefreshToken(deleted)", err, store.ErrNotFound)
	_, err = s.GetRefreshTokenByHash(ctx, rt.TokenHash)
	wantErr(t, "GetRefreshTokenByHash(deleted)", err, store.ErrNotFound)
	_, err = s.GetRotation(ctx, old)
	wantErr(t, "GetRotation(deleted family)", err, store.ErrNotFound)
	wantErr(t, "DeleteRefreshToken(again)", s.DeleteRefreshToken(ctx, rt.ID, nil), store.ErrNotFound)

	_, err = s.GetRefreshToken(ctx, keep.ID)
	noErr(t, "GetRefreshToken(kept)", err)
}

func testRTDeleteByUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	other := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	b := createApp(t, s, newApp())
	ua1 := createToken(t, s, newToken(u, a))
	ua2 := createToken(t, s, newToken(u, a))
	ub := createToken(t, s, newToken(u, b))
	oa := createToken(t, s, newToken(other, a))
	old := ua1.TokenHash
	rotate(t, s, ua1, at(10))

	// With an application: only that app's families of that user.
	got, err := s.DeleteRefreshTokensByUser(ctx, u.ID, a.ID, nil)
	noErr(t, "DeleteRefreshTokensByUser(user, app)", err)
	wantIDs(t, "removed (user, app)", sorted([]string{ua1.ID, ua2.ID}), sorted(got))
	_, err = s.GetRotation(ctx, old)
	wantErr(t, "GetRotation(removed family)", err, store.ErrNotFound)
	list, err := s.ListRefreshTokens(ctx, u.ID)
	noErr(t, "ListRefreshTokens", err)
	wantIDs(t, "left for user", []string{ub.ID}, ids(list))

	// Without: all of them.
	ua3 := createToken(t, s, newToken(u, a))
	got, err = s.DeleteRefreshTokensByUser(ctx, u.ID, "", nil)
	noErr(t, "DeleteRefreshTokensByUser(user)", err)
	wantIDs(t, "removed (user)", sorted([]string{ub.ID, ua3.ID}), sorted(got))
	list, err = s.ListRefreshTokens(ctx, u.ID)
	noErr(t, "ListRefreshTokens", err)
	wantIDs(t, "left for user", nil, ids(list))

	got, err = s.DeleteRefreshTokensByUser(ctx, u.ID, "", nil)
	noErr(t, "DeleteRefreshTokensByUser(nothing left)", err)
	if len(got) != 0 {
		t.Errorf("second delete removed %v", got)
	}
	_, err = s.GetRefreshToken(ctx, oa.ID)
	noErr(t, "other user's family", err)
}

func testRTDeleteByApp(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	v := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	b := createApp(t, s, newApp())
	ua := createToken(t, s, newToken(u, a))
	va := createToken(t, s, newToken(v, a))
	ub := createToken(t, s, newToken(u, b))
	old := va.TokenHash
	rotate(t, s, va, at(10))

	got, err := s.DeleteRefreshTokensByApplication(ctx, a.ID, nil)
	noErr(t, "DeleteRefreshTokensByApplication", err)
	wantIDs(t, "removed", sorted([]string{ua.ID, va.ID}), sorted(got))
	_, err = s.GetRotation(ctx, old)
	wantErr(t, "GetRotation(removed family)", err, store.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, ub.ID)
	noErr(t, "other app's family", err)
	// The application itself stays.
	_, err = s.GetApplication(ctx, a.ID)
	noErr(t, "GetApplication", err)
}

func testRTDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := createUser(t, s, newUser())
	a := createApp(t, s, newApp())
	now, cutoff := at(1000), at(900)
	family := func(expires time.Time) *store.RefreshToken {
		rt := newToken(u, a)
		rt.ExpiresAt = expires
		return createToken(t, s, rt)
	}
	expired := family(at(500))
	boundary := family(now) // ExpiresAt <= now is expired
	live := family(at(1001))

	// The expired family has a rotation record, which must go with it.
	// rotate() moves ExpiresAt to Now+1h, so set it back with a touch.
	expiredOld := rotate(t, s, expired, at(400)).OldHash
	noErr(t, "TouchRefreshToken", s.TouchRefreshToken(ctx, expired.ID, at(400), at(500), at(400), nil, ""))

	// Rotations of the live family: one older than the cutoff, one newer.
	liveOld := rotate(t, s, live, at(800))
	liveNew := rotate(t, s, live, at(950))

	n, err := s.DeleteExpiredRefreshTokens(ctx, now, cutoff)
	noErr(t, "DeleteExpiredRefreshTokens", err)
	if n != 2 {
		t.Errorf("DeleteExpiredRefreshTokens removed %d families, want 2", n)
	}
	_, err = s.GetRefreshToken(ctx, expired.ID)
	wantErr(t, "GetRefreshToken(expired)", err, store.ErrNotFound)
	_, err = s.GetRefreshToken(ctx, boundary.ID)
	wantErr(t, "GetRefreshToken(expires exactly now)", err, store.ErrNotFound)
	_, err = s.GetRotation(ctx, expiredOld)
	wantErr(t, "GetRotation(expired family)", err, store.ErrNotFound)

	got, err := s.GetRefreshToken(ctx, live.ID)
	noErr(t, "GetRefreshToken(live)", err)
	if !bytes.Equal(got.TokenHash, live.TokenHash) {
		t.Errorf("live family's hash changed")
	}
	old, err := s.GetRotation(ctx, liveOld.OldHash)
	noErr(t, "GetRotation(older than cutoff)", err)
	same(t, "rotation older than cutoff (successor cleared)",
		&store.Rotation{TokenHash: liveOld.OldHash, FamilyID: live.ID, RotatedAt: liveOld.Now}, old)
	recent, err := s.GetRotation(ctx, liveNew.OldHash)
	noErr(t, "GetRotation(newer than cutoff)", err)
	same(t, "rotation newer than cutoff (successor kept)",
		&store.Rotation{TokenHash: liveNew.OldHash, FamilyID: live.ID, RotatedAt: liveNew.Now, Successor: liveNew.Successor}, recent)

	n, err = s.DeleteExpiredRefreshTokens(ctx, now, cutoff)
	noErr(t, "DeleteExpiredRefreshTokens(again)", err)
	if n != 0 {
		t.Errorf("second collection removed %d families, want 0", n)
	}
}
