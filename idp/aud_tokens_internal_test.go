package idp

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// TestAUD7_RevokedAtTies pins the comparison of an access token's issue
// time with a user's TokensRevokedBefore at its edges: a tie (same
// millisecond for a timed jti, same second otherwise) may predate the
// revocation, so it is revoked; one unit later survives (AUD-7, IDP-REV-2).
func TestAUD7_RevokedAtTies(t *testing.T) {
	rev := time.Date(2026, 1, 2, 3, 4, 5, 500_400_000, time.UTC) // x.5004
	for _, tc := range []struct {
		name    string
		issued  time.Time
		timed   bool
		revoked bool
	}{
		{"timed, a millisecond before", rev.Add(-time.Millisecond), true, true},
		{"timed, same millisecond", rev.Truncate(time.Millisecond), true, true},
		{"timed, next millisecond", rev.Truncate(time.Millisecond).Add(time.Millisecond), true, false},
		{"untimed, same second", rev.Truncate(time.Second), false, true},
		{"untimed, next second", rev.Truncate(time.Second).Add(time.Second), false, false},
		{"untimed, second before", rev.Truncate(time.Second).Add(-time.Second), false, true},
	} {
		if got := revokedAt(tc.issued, rev, tc.timed); got != tc.revoked {
			t.Errorf("%s: revoked = %v, want %v", tc.name, got, tc.revoked)
		}
	}
	if revokedAt(rev, time.Time{}, true) {
		t.Error("a user who never revoked revokes nothing")
	}
}

// TestAUD7_TimedJTI: the jti carries the issue instant to the millisecond,
// and is trusted only when it agrees with the signed iat.
func TestAUD7_TimedJTI(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	jti := timedJTI(now)
	u, err := uuid.Parse(jti)
	if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
		t.Fatalf("jti %q: version %d variant %v err %v", jti, u.Version(), u.Variant(), err)
	}
	if timedJTI(now) == jti {
		t.Fatal("two jtis of the same instant are equal")
	}
	c := &AccessClaims{baseClaims: baseClaims{ID: jti, IssuedAt: jwt.NewNumericDate(now)}}
	if at, timed := issuedAt(c); !timed || !at.Equal(now.Truncate(time.Millisecond)) {
		t.Fatalf("issuedAt = %v %v, want %v timed", at, timed, now.Truncate(time.Millisecond))
	}
	c.IssuedAt = jwt.NewNumericDate(now.Add(time.Second)) // disagrees: fall back to iat
	if at, timed := issuedAt(c); timed || !at.Equal(now.Add(time.Second).Truncate(time.Second)) {
		t.Fatalf("inconsistent jti: issuedAt = %v %v", at, timed)
	}
	c.ID = uuid.NewString() // a v4 jti (tokens minted before timed jtis)
	if _, timed := issuedAt(c); timed {
		t.Fatal("a random jti is not a time")
	}
}
